"""Field factories that attach provenance to every model parameter.

Every default in the scenario schema is either *sourced* (a published value or a convention of a
published model, cited) or *calibrated* (fitted or hand-set within a stated prior range). The
provenance travels in the JSON schema (``x-source``, ``x-status``, ``x-prior``) so that the docs
page, the calibration code and the manifest can all read it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

__all__ = ["sourced", "calibrated", "setting", "provenance_of"]


def _extra(status: str, unit: str, source: str | None, prior: tuple[float, float] | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"x-status": status, "x-unit": unit}
    if source:
        extra["x-source"] = source
    if prior is not None:
        extra["x-prior"] = list(prior)
    return extra


def sourced(default: Any, *, unit: str, source: str, description: str, **bounds: Any) -> Any:
    """A parameter whose default is taken from a cited source."""
    return Field(
        default,
        description=description,
        json_schema_extra=_extra("sourced", unit, source, None),
        **bounds,
    )


def calibrated(
    default: Any,
    *,
    unit: str,
    prior: tuple[float, float],
    description: str,
    note: str | None = None,
    **bounds: Any,
) -> Any:
    """A parameter with no direct measurement: its default is fitted within ``prior``."""
    return Field(
        default,
        description=description,
        json_schema_extra=_extra("calibrated", unit, note, prior),
        **bounds,
    )


def setting(default: Any, *, unit: str, description: str, **bounds: Any) -> Any:
    """A numerical or run setting (not a biological parameter)."""
    return Field(default, description=description, json_schema_extra=_extra("setting", unit, None, None), **bounds)


def provenance_of(model_cls: type, name: str) -> dict[str, Any]:
    """Return the provenance dict (status, unit, source, prior) of one field of a pydantic model."""
    info = model_cls.model_fields[name]
    extra = info.json_schema_extra or {}
    return {k.removeprefix("x-"): v for k, v in dict(extra).items()}
