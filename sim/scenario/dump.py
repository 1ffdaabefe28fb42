"""Render a resolved scenario back to TOML (what ``discsim check`` prints; re-loadable as a scenario)."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["to_toml"]


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return "nan"
        return repr(v)
    if isinstance(v, str):
        # JSON's escapes are TOML's; DEL is the one control character JSON leaves raw and TOML refuses
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot render {type(v).__name__} as TOML")


def to_toml(data: dict[str, Any]) -> str:
    """TOML text for nested dicts of scalars and lists (``None`` values are left out: TOML has no null)."""
    blocks: list[str] = []

    def emit(table: dict[str, Any], name: str) -> None:
        lines = [f"{k} = {_scalar(v)}" for k, v in table.items() if v is not None and not isinstance(v, dict)]
        if lines or not name:
            blocks.append("\n".join(([f"[{name}]"] if name else []) + lines))
        for k, v in table.items():
            if isinstance(v, dict):
                emit(v, f"{name}.{k}" if name else k)

    emit(data, "")
    return "\n\n".join(b for b in blocks if b) + "\n"
