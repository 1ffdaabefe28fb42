"""Read scenario files, report every problem at once, and derive variants by dotted-path overrides."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .schema import Parameters, Scenario

__all__ = ["Problem", "ScenarioError", "load_scenario", "parse_scenario", "with_overrides", "validate_model"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file."""

    path: str  # dotted path, e.g. "parameters.pain.tnf_weight"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path or '<top level>'}{where}: {self.message}"


class ScenarioError(ValueError):
    """An input file is missing, unreadable or invalid. ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _line_index(text: str) -> dict[str, int]:
    """Map dotted key paths to the line they are written on (best effort, for error messages)."""
    index: dict[str, int] = {}
    table = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if m := _TABLE.match(raw):
            table = m.group(1).replace('"', "").replace("'", "").replace(" ", "")
            index.setdefault(table, lineno)
            continue
        if m := _KEY.match(raw):
            key = m.group(1).replace('"', "").replace("'", "").replace(" ", "")
            index.setdefault(f"{table}.{key}" if table else key, lineno)
    return index


def _line_for(path: str, index: Mapping[str, int]) -> int | None:
    # the deepest prefix of the path that was written in the file
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        if (hit := index.get(".".join(parts[:n]))) is not None:
            return hit
    return None


def _problems(err: ValidationError, index: Mapping[str, int], prefix: str = "") -> list[Problem]:
    out = []
    for e in err.errors(include_url=False):
        loc = [str(p) for p in e["loc"]]
        path = ".".join(([prefix] if prefix else []) + loc)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/scenario.md for the keys)"
        elif "input" in e and e["type"] not in ("missing",) and not isinstance(e["input"], dict):
            msg = f"{msg} (got {e['input']!r})"
        out.append(Problem(path, msg, _line_for(path, index)))
    return out


def validate_model[M: BaseModel](cls: type[M], data: Mapping[str, Any], source: str, text: str = "") -> M:
    """Validate ``data`` against ``cls``; raise :class:`ScenarioError` listing every problem with its path."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, _problems(err, _line_index(text))) from None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    source = str(path)
    if not path.exists():
        raise ScenarioError(source, [Problem("", "file not found")])
    if path.is_dir():
        raise ScenarioError(source, [Problem("", "is a directory, expected a TOML file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [Problem("", f"cannot read file: {exc}")]) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ScenarioError(source, [Problem("", f"not valid TOML: {exc}", line)]) from None


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [Problem("", f"not valid TOML: {exc}", getattr(exc, "lineno", None))]) from None
    return validate_model(Scenario, data, source, text)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises
    ------
    ScenarioError
        The file is missing, not TOML, or has unknown keys, wrong types or out-of-range values; every
        problem is listed with its dotted path and line.
    """
    path = Path(path)
    data, text = _read_toml(path)
    data = _with_parameter_set(data, path, text)
    return validate_model(Scenario, data, str(path), text)


def _with_parameter_set(data: dict[str, Any], path: Path, text: str) -> dict[str, Any]:
    """Merge the ``parameter_set`` file named by a scenario beneath the scenario's own values."""
    ref = data.get("parameter_set")
    if ref is None:
        return data
    line = _line_index(text).get("parameter_set")
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(str(path), [Problem("parameter_set", f"must be a file path (got {ref!r})", line)])
    set_path = Path(ref) if Path(ref).is_absolute() else path.parent / ref
    try:
        pset, ptext = _read_toml(set_path)
    except ScenarioError as err:
        raise ScenarioError(
            str(path), [Problem("parameter_set", f"{set_path}: {p.message}", line) for p in err.problems]
        ) from None
    index = _line_index(ptext)
    problems = [
        Problem(k, "a parameter set may only hold parameters.* keys", _line_for(k, index)) for k in pset if k != "parameters"
    ]
    if not isinstance(pset.get("parameters", {}), dict):
        problems.append(Problem("parameters", "must be a table", index.get("parameters")))
    else:
        try:
            Parameters.model_validate(pset.get("parameters", {}))
        except ValidationError as err:
            problems += _problems(err, index, prefix="parameters")
    if problems:
        raise ScenarioError(str(set_path), problems)
    merged = copy.deepcopy(data)
    merged["parameters"] = _deep_merge(pset.get("parameters", {}), data.get("parameters", {}))
    return merged


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
    return out


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any], source: str = "overrides") -> Scenario:
    """Return a copy of ``scenario`` with dotted-path values replaced, re-validated.

    ``{"parameters.pain.tnf_weight": 2.0, "patient.herniation_type": "sequestration"}``. Unknown paths are
    errors, like unknown keys in a file.
    """
    data = scenario.model_dump(mode="json")
    problems = []
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                problems.append(Problem(dotted, "unknown parameter path"))
                break
            node = node[part]
        else:
            if parts[-1] not in node:
                problems.append(Problem(dotted, "unknown parameter path"))
            else:
                node[parts[-1]] = copy.deepcopy(value)
    if problems:
        raise ScenarioError(source, problems)
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, _problems(err, {})) from None
