"""Property-based fuzzing of the command line (issue 11), in-process through typer's CliRunner.

After any mutated input: exit status 0 or 2 (never 1, never an uncaught exception or "Traceback"), every value
from the input printed as written (rich markup is never interpreted), and nothing outside the output directory
changes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st
from safety_strategies import (
    DOCS,
    MARKUP,
    PATHS,
    PLAIN_NAMES,
    Case,
    any_cases,
    dumps,
    invoke,
    long_paths,
    paths_of,
    texts,
    tree_digest,
)

N = settings.default.max_examples


@settings(max_examples=2 * N)
@given(case=any_cases())
def test_check_exits_0_or_2_and_writes_nothing(case):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        target = case.write(root)
        before = tree_digest(root)
        r = invoke(["check", target])
        assert r.exit_code in (0, 2), (r.exit_code, r.stderr[-2000:])
        event(f"exit {r.exit_code}")
        if r.exit_code == 2:
            assert r.stderr.startswith("error:") or "\nerror:" in r.stderr, r.stderr[-2000:]
        assert tree_digest(root) == before


def _numeric_leaves(doc) -> list[tuple]:
    out = []
    for p in paths_of(doc):
        node = doc
        for k in p:
            node = node[k]
        if isinstance(node, (int, float)) and not isinstance(node, bool) and "parameter_set" not in p:
            out.append(p)
    return out


def _set(doc, path, value):
    import copy

    doc = copy.deepcopy(doc)
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return doc


markup_text = st.one_of(
    st.sampled_from([m for m in MARKUP if "\x1b" not in m]),
    st.builds(
        lambda a, m, b: a + m + b,
        texts.filter(lambda t: t.isprintable()),
        st.sampled_from(MARKUP[:5]),
        st.sampled_from(["", "x", " [/]"]),
    ),
)


@settings(max_examples=N)
@given(name=st.sampled_from(PLAIN_NAMES), data=st.data(), value=markup_text)
def test_markup_in_a_numeric_value_is_printed_as_written(name, data, value):
    rel = f"scenarios/{name}"
    path = data.draw(st.sampled_from(_numeric_leaves(DOCS[rel])))
    with tempfile.TemporaryDirectory() as d:
        target = Case(rel, {rel: dumps(_set(DOCS[rel], path, value)).encode()}).write(Path(d))
        r = invoke(["check", target])
        assert r.exit_code == 2, r.stdout[-1000:]
        dotted = ".".join(map(str, path))
        assert dotted in r.stderr, r.stderr
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80]
        assert shown in r.stderr, f"{shown} not printed as written:\n{r.stderr}"


@settings(max_examples=N)
@given(name=st.sampled_from(PLAIN_NAMES), key=st.sampled_from(["name", "description"]), value=markup_text)
def test_markup_in_a_name_is_printed_as_written(name, key, value):
    rel = f"scenarios/{name}"
    with tempfile.TemporaryDirectory() as d:
        target = Case(rel, {rel: dumps(_set(DOCS[rel], (key,), value)).encode()}).write(Path(d))
        r = invoke(["check", target])
        assert r.exit_code == 0, r.stderr
        assert f"{key} = {json.dumps(value, ensure_ascii=False)}" in r.stdout, r.stdout[:2000]


# ---------------------------------------------------------------------------------------------
# `run`: nothing outside the output directory changes
# ---------------------------------------------------------------------------------------------

names = st.one_of(
    st.sampled_from(PATHS),
    long_paths,
    st.sampled_from(MARKUP),
    texts,
    st.sampled_from(
        [
            "../victim",
            "../victim/file.txt",
            "/abs/path",
            "",
            "..",
            ".",
            "runs",
            "~",
            "../../",
            "victim",
            "-",
            ".hidden",
            "con",
            "a" * 250,
        ]
    ),
)


@st.composite
def run_cases(draw) -> tuple[Case, bool]:
    """A shipped single-patient scenario with a hostile name and a few hostile top-level/patient values."""
    rel = f"scenarios/{draw(st.sampled_from([n for n in PLAIN_NAMES if 'cohort' not in n]))}"
    doc = _set(DOCS[rel], ("name",), draw(names))
    for _ in range(draw(st.integers(0, 2))):
        key = draw(
            st.sampled_from(
                [
                    "description",
                    "parameter_set",
                    "simulation.seed",
                    "simulation.snapshot_every_days",
                    "patient.herniation_type",
                    "patient.herniation_volume_mm3",
                ]
            )
        )
        value = draw(st.one_of(names, st.sampled_from([0, 1, -1, 1e-310, math.nan, 400.0, "sequestration"])))
        doc = _set(doc, tuple(key.split(".")), value)
    return Case(rel, {rel: dumps(doc).encode()}), draw(st.booleans())


@settings(max_examples=max(4, N // 8))
@given(case_and_out=run_cases())
def test_run_changes_nothing_outside_its_output_directory(case_and_out):
    case, explicit_out = case_and_out
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        target = case.write(root / "ws")
        victim = root / "victim"
        victim.mkdir()
        (victim / "file.txt").write_text("precious\n")
        (victim / "sub").mkdir()
        (victim / "sub" / "data.bin").write_bytes(os.urandom(64))
        work = root / "work"
        (work / "runs").mkdir(parents=True)
        out = work / "runs" / "explicit"
        before = tree_digest(root, exclude=work / "runs")
        cwd = os.getcwd()
        os.chdir(work)
        try:
            args = ["run", target, "--days", "1", "--no-snapshots"] + (["--out", out] if explicit_out else [])
            r = invoke(args, seconds=120)
        finally:
            os.chdir(cwd)
        assert r.exit_code in (0, 2), (r.exit_code, r.stderr[-2000:])
        event(f"exit {r.exit_code}")
        assert tree_digest(root, exclude=work / "runs") == before, "files outside the output directory changed"
        made = [p for p in (work / "runs").iterdir()]
        if r.exit_code == 0:
            assert len(made) == 1, made  # one output folder, directly under runs/
            assert made[0].name not in ("", ".", "..") and not made[0].name.startswith((".", "-"))
        else:
            assert made == [], f"an input refused with exit 2 left {made}"
