"""Hypothesis strategies that mutate the shipped scenario, cohort, sweep and parameter-set files.

The shipped TOML files are parsed with ``tomllib``; a strategy replaces, removes, adds or nests values (other types,
NaN/±inf, huge/tiny/denormal numbers, markup, long and path-like strings, unknown keys) and renders the document
back to TOML with :func:`dumps` (a small serializer: it spells non-finite floats ``nan``/``inf``/``-inf``, quotes
every key and escapes every control character). :func:`byte_mutations` then damages the bytes (invalid UTF-8,
NUL, truncation, BOM, UTF-16, hostile lines).

A fuzz case is a :class:`Case`: the files of a small workspace (``scenarios/`` and ``calibration/``, laid out as
in the repository, so ``parameter_set = "../calibration/calibrated.toml"`` and ``base = "default.toml"`` resolve)
and the file to load.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import os
import signal
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILES = {p.name: p for p in sorted((ROOT / "scenarios").glob("*.toml"))}
CALIBRATED = ROOT / "calibration" / "calibrated.toml"
SWEEP_NAMES = sorted(n for n, p in SCENARIO_FILES.items() if "design" in tomllib.loads(p.read_text("utf-8")))
PLAIN_NAMES = sorted(n for n in SCENARIO_FILES if n not in SWEEP_NAMES)
COHORT_NAMES = sorted(n for n in PLAIN_NAMES if "cohort" in tomllib.loads(SCENARIO_FILES[n].read_text("utf-8")))
#: every shipped file by its workspace path (relative), with its parsed document
SHIPPED: dict[str, str] = {f"scenarios/{n}": p.read_text("utf-8") for n, p in SCENARIO_FILES.items()}
SHIPPED["calibration/calibrated.toml"] = CALIBRATED.read_text("utf-8")
DOCS: dict[str, dict[str, Any]] = {k: tomllib.loads(v) for k, v in SHIPPED.items()}


# ---------------------------------------------------------------------------------------------
# a TOML serializer for anything the strategies build
# ---------------------------------------------------------------------------------------------


class Raw(str):
    """A value written to the TOML text as it is (e.g. an integer of 5,000 digits, a hand-made nesting)."""


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04X}" if not 0xD800 <= o <= 0xDFFF else "\\uFFFD")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key(k: Any) -> str:
    return _string(str(k))


def _value(v: Any) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__}")


def dumps(doc: dict[str, Any]) -> str:
    """TOML text of ``doc``: scalars, arrays and inline tables of a table first, then its sub-tables as headers."""
    blocks: list[str] = []

    def emit(table: dict[str, Any], path: list[str]) -> None:
        lines = [f"{_key(k)} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
        subs = [(k, v) for k, v in table.items() if isinstance(v, dict)]
        if path and (lines or not subs):
            lines.insert(0, "[" + ".".join(_key(p) for p in path) + "]")
        if lines:
            blocks.append("\n".join(lines))
        for k, v in subs:
            emit(v, [*path, str(k)])

    emit(doc, [])
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------------------------
# hostile values
# ---------------------------------------------------------------------------------------------

MARKUP = [
    "[/]",
    "[bold red]x",
    "[bold]x[/bold]",
    "[/bold red]",
    "[link=file:///etc]y[/link]",
    "[",
    "x]",
    "[red]",
    ":warning:",
    "\x1b[31mred\x1b[0m",
    "[bold red]x[/]",
    "[[/]]",
]
PATHS = [
    "../x",
    "../../victim",
    "/abs/path",
    "/",
    "..",
    ".",
    "",
    " ",
    "~",
    "/dev/zero",
    "/dev/stdin",
    "/dev/null",
    "/etc",
    "/sys/kernel",
    "runs/../../x",
    "nul\0byte",
    "C:\\x",
    "-rf",
    "../calibration/calibrated.toml",
    "default.toml",
    "sweep_example.toml",
    "cohort_default.toml",
]
SPECIAL_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    -1.0,
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    1e-310,
    2.2250738585072014e-308,
    1e-7,
    1e-9,
    1e300,
    0.5,
    7.0,
    3651.0,
    1e12,
    1e12 + 1,
    2.0**63,
    24.0,
    1 / 60,
    0.1,
]
SPECIAL_INTS = [0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**18, 3651, 1_000_001]

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
floats = st.one_of(
    st.sampled_from(SPECIAL_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),
)
ints = st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(min_value=-(2**70), max_value=2**70))
huge_ints = st.sampled_from([("1", 5000), ("9", 4301), ("-7", 5000), ("1", 400)]).map(
    lambda d: Raw(d[0] + d[0][-1] * d[1])
)
long_paths = st.sampled_from([("a/", 300), ("x", 1500), ("../", 400)]).map(lambda d: d[0] * d[1])
long_strings = st.sampled_from([201, 1001, 5001, 100_000]).map(lambda n: "x" * n)
strings = st.one_of(
    st.sampled_from(MARKUP),
    st.sampled_from(PATHS),
    long_paths,
    texts,
    long_strings,
    st.sampled_from(
        [
            "nan",
            "inf",
            "1.5",
            "365",
            "yes",
            "true",
            "on",
            "0x10",
            "1e-3",
            "NO",
            "sequestration",
            "bulging",
            "lognormal",
            "factorial",
            "lhs",
            "sobol",
        ]
    ),
)
scalars = st.one_of(floats, ints, strings, st.booleans(), huge_ints)
distributions = st.fixed_dictionaries(
    {"dist": st.sampled_from(["fixed", "uniform", "loguniform", "normal", "lognormal", "categorical", "beta", ""])},
    optional={
        "value": scalars,
        "low": floats,
        "high": floats,
        "mean": floats,
        "sd": floats,
        "median": floats,
        "gsd": floats,
        "weights": st.dictionaries(
            st.sampled_from(["bulging", "protrusion", "sequestration", "[/]", ""]), floats, max_size=3
        ),
    },
)


def _nested(depth: int, leaf: Any, kind: str) -> Any:
    v = leaf
    for _ in range(depth):
        v = [v] if kind == "list" else {"a": v}
    return v


def deep_raw(depth: int, kind: str) -> Raw:
    """An inline nesting of ``depth`` levels written directly as text (no recursion in the serializer)."""
    if kind == "list":
        return Raw("[" * depth + "1" + "]" * depth)
    return Raw("{a = " * depth + "1" + "}" * depth)


values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=3), distributions),
    max_leaves=8,
)
nesting = st.one_of(
    st.builds(_nested, st.integers(1, 40), scalars, st.sampled_from(["list", "dict"])),
    st.builds(deep_raw, st.sampled_from([31, 32, 33, 100, 500, 2000]), st.sampled_from(["list", "dict"])),
)
hostile_values = st.one_of(values, nesting)
key_names = st.one_of(
    st.sampled_from(
        [
            "unknown",
            "[/]",
            "[bold red]x",
            "",
            " ",
            "a.b",
            "x" * 300,
            "parameters",
            "cohort",
            "design",
            "base",
            "name",
            "é",
            "\x00",
            "__class__",
        ]
    ),
    texts,
)


# ---------------------------------------------------------------------------------------------
# document mutations
# ---------------------------------------------------------------------------------------------


def paths_of(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indices) to a value below ``doc``, tables and arrays included."""
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        p = (*prefix, k)
        out.append(p)
        out.extend(paths_of(v, p))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    node = doc
    for k in path[:-1]:
        node = node[k]
    return node


@st.composite
def mutate_document(draw, doc: dict[str, Any], max_mutations: int = 3) -> dict[str, Any]:
    """``doc`` with 1 to ``max_mutations`` hostile changes."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, max_mutations]))):
        paths = paths_of(doc)
        op = draw(
            st.sampled_from(
                ["perturb", "perturb", "perturb", "replace", "replace", "remove", "add", "nest", "table_to_scalar"]
            )
        )
        if not paths:
            op = "add"
        if op == "add":
            tables = [()] + [p for p in paths if isinstance(_parent(doc, (*p, None)), dict)]
            where = draw(st.sampled_from(tables))
            node = _parent(doc, (*where, None))
            node[draw(key_names)] = draw(hostile_values)
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        if op == "remove":
            del parent[path[-1]]
        elif op == "nest":
            parent[path[-1]] = _nested(
                draw(st.integers(1, 40)), parent[path[-1]], draw(st.sampled_from(["list", "dict"]))
            )
        elif op == "table_to_scalar":
            tables = [p for p in paths if isinstance(_parent(doc, (*p, None)), dict)] or [path]
            path = draw(st.sampled_from(tables))
            _parent(doc, path)[path[-1]] = draw(scalars)
        elif op == "perturb":
            parent[path[-1]] = draw(perturbed(parent[path[-1]]))
        else:
            parent[path[-1]] = draw(hostile_values)
    return doc


def perturbed(value: Any) -> st.SearchStrategy:
    """A value of the same type near ``value`` (often still valid), or a boundary of its type."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(-2, min(2 * abs(value) + 2, 2**70)), st.sampled_from(SPECIAL_INTS))
    if isinstance(value, float) and not math.isfinite(value):
        return st.sampled_from(SPECIAL_FLOATS)
    if isinstance(value, float):
        return st.one_of(
            st.sampled_from([0.5, 0.9, 1.0 + 1e-12, 1.1, 2.0, 10.0, -1.0, 0.0]).map(lambda f: value * f),
            st.floats(0, min(2 * abs(value) + 1, 1e300)),
            st.sampled_from(SPECIAL_FLOATS),
        )
    if isinstance(value, str):
        return st.one_of(st.sampled_from(MARKUP), texts, st.just(value.upper()), st.just(value + "x"))
    if isinstance(value, list):
        return st.one_of(st.just([]), st.just(value[:1]), st.just(value + value[-1:] if value else [1]))
    if isinstance(value, dict):
        return st.one_of(st.just({}), st.just(dict(list(value.items())[:1])))
    return hostile_values


# ---------------------------------------------------------------------------------------------
# byte mutations
# ---------------------------------------------------------------------------------------------


@st.composite
def byte_mutations(draw, text: str) -> bytes:
    """The UTF-8 bytes of ``text``, possibly damaged at the byte level."""
    raw = text.encode("utf-8")
    op = draw(
        st.sampled_from(
            ["none"] * 12
            + ["invalid_utf8", "nul", "truncate", "bom", "utf16", "flip", "binary", "spaces", "crlf", "insert_line"]
        )
    )
    pos = draw(st.integers(0, len(raw)))
    if op == "invalid_utf8":
        raw = (
            raw[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80", b"\xf8\x88"])) + raw[pos:]
        )
    elif op == "nul":
        raw = raw[:pos] + b"\0" + raw[pos:]
    elif op == "truncate":
        raw = raw[:pos]
    elif op == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif op == "utf16":
        raw = text.encode("utf-16")
    elif op == "flip" and raw:
        i = min(pos, len(raw) - 1)
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif op == "binary":
        raw = draw(st.binary(max_size=200))
    elif op == "spaces":
        raw = (
            raw[:pos]
            + b"\n"
            + b" " * 4000
            + draw(st.sampled_from([b"", b"x", b"=", b"]", b"[", b"a = "]))
            + b"\n"
            + raw[pos:]
        )
    elif op == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    elif op == "insert_line":
        line = draw(st.sampled_from([b"[[[[", b"x = [" * 600, b"= 1", b'"[/]" = 1', b"[patient]", b"a = 1\na = 2"]))
        raw = raw[:pos] + b"\n" + line + b"\n" + raw[pos:]
    return raw


# ---------------------------------------------------------------------------------------------
# cases and workspaces
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    """Files of a workspace (relative path → bytes) and the file to load."""

    target: str
    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, root: Path) -> Path:
        for rel, text in SHIPPED.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(self.files.get(rel, text.encode("utf-8")))
        return root / self.target

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        shown = {k: (v if len(v) < 2000 else v[:2000] + b"...") for k, v in self.files.items()}
        return f"Case(target={self.target!r}, files={shown!r})"


@st.composite
def mutated_file(draw, rel: str, max_mutations: int = 3) -> bytes:
    doc = draw(mutate_document(DOCS[rel], max_mutations))
    try:
        text = dumps(doc)
    except RecursionError:  # nesting built by repeated mutations; the raw strategies cover deep text
        text = SHIPPED[rel]
    return draw(byte_mutations(text))


@st.composite
def scenario_cases(draw, names: list[str] | None = None) -> Case:
    """A mutated shipped scenario (and sometimes a mutated calibrated.toml beneath it)."""
    target = f"scenarios/{draw(st.sampled_from(names or PLAIN_NAMES))}"
    files = {target: draw(mutated_file(target))}
    if draw(st.integers(0, 4)) == 0:
        files["calibration/calibrated.toml"] = draw(mutated_file("calibration/calibrated.toml"))
    return Case(target, files)


@st.composite
def sweep_cases(draw) -> Case:
    """A mutated shipped sweep file (and sometimes a mutated base scenario)."""
    target = f"scenarios/{draw(st.sampled_from(SWEEP_NAMES))}"
    files = {target: draw(mutated_file(target))}
    if draw(st.integers(0, 4)) == 0:
        files["scenarios/default.toml"] = draw(mutated_file("scenarios/default.toml", 1))
    return Case(target, files)


@st.composite
def any_cases(draw) -> Case:
    return draw(st.one_of(scenario_cases(), sweep_cases()))


# ---------------------------------------------------------------------------------------------
# guards
# ---------------------------------------------------------------------------------------------


class Hang(BaseException):
    """Raised in the main thread when an example runs longer than its time limit (a BaseException, so that no
    ``except Exception`` in the code under test swallows it)."""


#: extra address space an example may take: a loader that reads /dev/zero or builds a 2.56e9-point design then
#: fails with MemoryError instead of taking a shared machine down
MEMORY_HEADROOM = 4 << 30


def _address_space() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def time_limit(seconds: float, memory: int | None = MEMORY_HEADROOM):
    """Fail (raise :class:`Hang`) instead of blocking when the body runs longer than ``seconds``; fail with
    MemoryError when it takes more than ``memory`` bytes of new address space."""
    import resource

    def on_alarm(signum, frame):
        raise Hang(f"no answer after {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    old_as = resource.getrlimit(resource.RLIMIT_AS)
    used = _address_space()
    if memory is not None and used:
        cap = used + memory
        if old_as[1] == resource.RLIM_INFINITY or cap < old_as[1]:
            resource.setrlimit(resource.RLIMIT_AS, (cap, old_as[1]))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        resource.setrlimit(resource.RLIMIT_AS, old_as)


def tree_digest(root: Path, exclude: Path | None = None) -> dict[str, str]:
    """Relative path → content hash (or ``<dir>`` / link target) of everything under ``root``."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if exclude is not None and (d == exclude or exclude in d.parents):
            dirnames[:] = []
            continue
        for name in dirnames:
            p = d / name
            if exclude is None or p != exclude:
                out[str(p.relative_to(root))] = "<dir>"
        for name in filenames:
            p = d / name
            if p.is_symlink():
                out[str(p.relative_to(root))] = f"-> {os.readlink(p)}"
            else:
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def invoke(args: list, seconds: float = 30.0, **kwargs):
    """Run ``discsim ARGS`` in this process (typer's CliRunner); fail on an uncaught exception, a printed traceback
    or a hang (more than ``seconds``)."""
    from typer.testing import CliRunner

    from sim.cli import app

    with time_limit(seconds):
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True, **kwargs)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"discsim {' '.join(map(str, args))}: uncaught {type(result.exception).__name__}: "
            f"{result.exception}\nstderr:\n{result.stderr[-3000:]}"
        ) from result.exception
    assert "Traceback" not in result.output, result.output[-3000:]
    return result
