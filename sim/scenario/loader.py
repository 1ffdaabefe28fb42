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

from .scenario import Scenario
from .schema import Parameters

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


_KEY_CHARS = re.compile(r"[A-Za-z0-9_\-.\"' ]+")


def _line_index(text: str) -> dict[str, int]:
    """Map dotted key paths to the line they are written on (best effort, for error messages).

    Linear in the length of the text: each line is split at its first ``]`` or ``=`` (no backtracking regex, so
    a hostile line of thousands of spaces costs microseconds).
    """
    index: dict[str, int] = {}
    table = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            head, close, _ = line.lstrip("[").partition("]")
            if close:
                table = head.replace('"', "").replace("'", "").replace(" ", "")
                index.setdefault(table, lineno)
            continue
        key, eq, _ = line.partition("=")
        if eq and key and _KEY_CHARS.fullmatch(key):
            key = key.replace('"', "").replace("'", "").replace(" ", "")
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
    seen: set[str] = set()
    for e in err.errors(include_url=False):
        loc = [str(p) for p in e["loc"] if not _is_union_tag(str(p))]
        path = ".".join(([prefix] if prefix else []) + loc)
        if path in seen:  # one problem per place: a value failing each member of a union is one mistake
            continue
        seen.add(path)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/scenario.md for the keys)"
        elif "input" in e and e["type"] not in ("missing",) and not isinstance(e["input"], dict) and "(got " not in msg:
            msg = f"{msg} (got {_shown(e['input'])})"
        out.append(Problem(path, msg, _line_for(path, index)))
    return out


#: Members of unions that pydantic puts into error locations ("….normal.mean", "….value.str"); no key is named so.
_UNION_TAGS = frozenset(
    {
        "fixed",
        "uniform",
        "loguniform",
        "normal",
        "lognormal",
        "categorical",
        "factorial",
        "lhs",
        "sobol",
        "str",
        "float",
        "int",
        "bool",
        "constrained-float",
        "constrained-int",
        "list[...]",
    }
)


def _is_union_tag(part: str) -> bool:
    return part in _UNION_TAGS or part.startswith(("function-", "list[", "dict["))


def _shown(value: Any, limit: int = 80) -> str:
    """``repr`` of an offending value, shortened: a 5,000-character string is not worth printing whole."""
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def validate_model[M: BaseModel](cls: type[M], data: Mapping[str, Any], source: str, text: str = "") -> M:
    """Validate ``data`` against ``cls``; raise :class:`ScenarioError` listing every problem with its path."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, _problems(err, _line_index(text))) from None


def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of tables and arrays, counting no deeper than ``limit + 1``."""
    stack = [(obj, 0)]
    deepest = 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            break
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def read_input_text(path: Path) -> str:
    """The text of a regular input file, refusing what is not one (devices, pipes, folders) and what is too large.

    Raises :class:`ScenarioError` naming the file and the problem.
    """
    from ..limits import LimitError, limit

    source = str(path)
    try:
        cap = int(limit("DISCSIM_MAX_INPUT_BYTES"))
    except LimitError as exc:
        raise ScenarioError(source, [Problem("", str(exc))]) from None
    try:
        if not path.exists():
            raise ScenarioError(source, [Problem("", "file not found")])
        if path.is_dir():
            raise ScenarioError(source, [Problem("", "is a directory, expected a TOML file")])
        if not path.is_file():
            raise ScenarioError(
                source, [Problem("", "is not a regular file (a device, pipe or socket); expected a TOML file")]
            )
        size = path.stat().st_size
        if size > cap:
            raise ScenarioError(
                source,
                [
                    Problem(
                        "",
                        f"file is {size} bytes, above the limit of {cap} bytes for an "
                        "input file (raise it with DISCSIM_MAX_INPUT_BYTES)",
                    )
                ],
            )
        with path.open("rb") as fh:
            raw = fh.read(cap + 1)
    except OSError as exc:
        raise ScenarioError(source, [Problem("", f"cannot read file: {exc.strerror or exc}")]) from None
    if len(raw) > cap:
        raise ScenarioError(source, [Problem("", f"file is larger than the limit of {cap} bytes for an input file")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(source, [Problem("", f"not UTF-8 text (byte {exc.start}: {exc.reason})", line)]) from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text, turning every failure (syntax, absurd nesting or numbers) into a :class:`ScenarioError`."""
    from ..limits import MAX_NESTING

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [Problem("", f"not valid TOML: {exc}", getattr(exc, "lineno", None))]) from None
    except RecursionError:
        raise ScenarioError(
            source, [Problem("", f"tables or arrays nested deeper than {MAX_NESTING} levels")]
        ) from None
    except ValueError as exc:  # an integer of thousands of digits
        why = "a number with more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise ScenarioError(source, [Problem("", f"not valid TOML: {why}")]) from None
    if _depth(data, MAX_NESTING) > MAX_NESTING:
        raise ScenarioError(source, [Problem("", f"tables or arrays nested deeper than {MAX_NESTING} levels")])
    return data


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    text = read_input_text(path)
    return parse_toml(text, str(path)), text


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario TOML text."""
    return validate_model(Scenario, parse_toml(text, source), source, text)


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
    if len(ref) > 1000 or "\0" in ref:
        raise ScenarioError(
            str(path),
            [
                Problem(
                    "parameter_set",
                    f"not a usable file path ({len(ref)} characters"
                    f"{', holds a NUL character' if chr(0) in ref else ''})",
                    line,
                )
            ],
        )
    set_path = (Path(ref) if Path(ref).is_absolute() else path.parent / ref).absolute()
    try:
        pset, ptext = _read_toml(set_path)
    except ScenarioError as err:
        raise ScenarioError(
            str(path), [Problem("parameter_set", f"{set_path}: {p.message}", line) for p in err.problems]
        ) from None
    index = _line_index(ptext)
    problems = [
        Problem(k, "a parameter set may only hold parameters.* keys", _line_for(k, index))
        for k in pset
        if k != "parameters"
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
    own = data.get("parameters", {})
    if isinstance(own, Mapping):
        merged["parameters"] = _deep_merge(pset.get("parameters", {}), own)
    # else: the scenario's own "parameters" is not a table; validation reports it with its line
    return merged


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
        )
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
