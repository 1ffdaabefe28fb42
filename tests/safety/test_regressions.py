"""The corpus of issue 11: every hostile input found so far, one test id each, with the behaviour we want.

Bad input ends in exit status 2 with a message naming the problem (its key path, or the limit), no traceback, no
hang, nothing written; output folders never lose files the program did not write.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_strategies import ROOT, SHIPPED, invoke, time_limit, tree_digest

PSET = 'parameter_set = "../calibration/calibrated.toml"\n'
COHORT = (ROOT / "scenarios" / "cohort_default.toml").read_text("utf-8")


@pytest.fixture
def ws(tmp_path) -> Path:
    """A workspace laid out like the repository: ws/scenarios/*.toml, ws/calibration/calibrated.toml."""
    for rel, text in SHIPPED.items():
        p = tmp_path / "ws" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return tmp_path / "ws"


def _has(text: str, needle) -> bool:
    alternatives = needle if isinstance(needle, tuple) else (needle,)
    return any(a.lower() in text.lower() for a in alternatives)


def assert_refused(result, needles, what=""):
    assert result.exit_code == 2, (
        f"{what}: exit {result.exit_code}, expected 2\nstdout:\n{result.stdout[-1500:]}\n"
        f"stderr:\n{result.stderr[-1500:]}"
    )
    assert "error:" in result.stderr, result.stderr
    for n in needles:
        assert _has(result.stderr, n), f"{what}: the message does not name {n!r}:\n{result.stderr[-3000:]}"


# ---------------------------------------------------------------------------------------------
# files refused by `check` and by the command that would use them, with nothing written
# ---------------------------------------------------------------------------------------------

S, C, W = "scenario", "cohort", "sweep"
DEEP_ARRAY = "x = " + "[" * 500 + "1" + "]" * 500 + "\n"
DEEP_TABLE = "x = " + "{a = " * 500 + "1" + "}" * 500 + "\n"
BIG_INT = "1" * 5000
SWEEP_HEAD = 'name = "s"\nbase = "default.toml"\ndays = 1\n'
FACTORIAL_HUGE = (
    SWEEP_HEAD
    + '[design]\nmethod = "factorial"\n[design.parameters]\n'
    + "".join(
        f'"parameters.pain.{k}" = [{", ".join(str(i / 100) for i in range(225))}]\n'
        for k in ("tnf_weight", "il1b_weight", "il6_weight", "il8_weight")
    )
)  # 225^4 = 2.56e9 points
SWEEP_OK_DESIGN = '[design]\nmethod = "factorial"\n[design.parameters]\n"parameters.pain.tnf_weight" = [1.0, 2.0]\n'


def _cohort_with(line: str, section: str = "[cohort.patient]") -> str:
    """The shipped cohort file with ``line`` replacing the key it sets in ``section``."""
    key = line.split("=", 1)[0].strip()
    out, inside = [], False
    for raw in COHORT.splitlines():
        if raw.startswith("["):
            inside = raw.strip() == section
        if inside and raw.split("=", 1)[0].strip() == key:
            continue
        out.append(raw)
        if raw.strip() == section:
            out.append(line)
    return "\n".join(out) + "\n"


REFUSED = [
    # --- markup in echoed values: printed as written, no MarkupError
    ("markup-value-slash", S, '[patient]\nherniation_volume_mm3 = "[/]"\n', ["patient.herniation_volume_mm3", "'[/]'"]),
    ("markup-value-bold-red", S, '[simulation]\ndays = "[bold red]x"\n', ["simulation.days", "[bold red]x"]),
    ("markup-unknown-key", S, '"[bold red]x[/]" = 1\n', ["[bold red]x[/]", "unknown key"]),
    ("markup-herniation-type", S, '[patient]\nherniation_type = "[/]"\n', ["patient.herniation_type", "[/]"]),
    (
        "markup-parameter-set-path",
        S,
        'parameter_set = "[bold]missing[/].toml"\n',
        ["parameter_set", "[bold]missing[/].toml", "not found"],
    ),
    (
        "markup-sweep-path",
        W,
        SWEEP_HEAD + '[design]\nmethod = "factorial"\n[design.parameters]\n"[/]" = [1, 2]\n',
        ["design.parameters.[/]"],
    ),
    # --- structure and size
    ("parameters-5-beside-parameter-set", S, PSET + "parameters = 5\n", ["parameters (line 2)"]),
    ("parameters-string-beside-parameter-set", S, PSET + 'parameters = "[/]"\n', ["parameters", "[/]"]),
    ("nesting-500-arrays", S, DEEP_ARRAY, ["nested"]),
    ("nesting-500-inline-tables", S, DEEP_TABLE, ["nested"]),
    ("nesting-500-with-parameter-set", S, PSET + DEEP_ARRAY, ["nested"]),
    ("nesting-500-tables-headers", S, "[" + ".".join(["a"] * 500) + "]\nx = 1\n", ["nested"]),
    ("integer-5000-digits", S, f"[simulation]\nseed = {BIG_INT}\n", ["digits"]),
    ("negative-integer-5000-digits", S, f"[simulation]\nseed = -{BIG_INT}\n", ["digits"]),
    ("parameter-set-1500-chars", S, f'parameter_set = "{"a" * 1500}"\n', ["parameter_set"]),
    ("parameter-set-long-path-components", S, f'parameter_set = "{"/".join(["b" * 200] * 30)}"\n', ["parameter_set"]),
    ("parameter-set-dev-zero", S, 'parameter_set = "/dev/zero"\n', ["parameter_set", "regular file"]),
    ("parameter-set-dev-null", S, 'parameter_set = "/dev/null"\n', ["parameter_set", "regular file"]),
    ("parameter-set-a-directory", S, 'parameter_set = "/etc"\n', ["parameter_set", "directory"]),
    ("parameter-set-nul-byte", S, 'parameter_set = "a\\u0000b"\n', ["parameter_set"]),
    ("parameter-set-empty", S, 'parameter_set = ""\n', ["parameter_set"]),
    ("parameter-set-not-a-string", S, "parameter_set = [1]\n", ["parameter_set"]),
    ("parameter-set-is-itself", S, 'parameter_set = "case.toml"\n', ["parameter_set"]),
    ("scenario-invalid-utf8", S, b'name = "\xff\xfe"\n', ["UTF-8"]),
    ("scenario-binary", S, bytes(range(256)) * 4, [("UTF-8", "TOML")]),
    ("scenario-utf16", S, 'name = "x"\n'.encode("utf-16"), [("UTF-8", "TOML")]),
    ("scenario-nul-byte", S, b'name = "x"\n\0\n', [("TOML", "NUL")]),
    # --- NaN / inf / huge values in distributions: `check` must refuse what `cohort` cannot draw
    (
        "cohort-normal-mean-nan",
        C,
        _cohort_with('nerve_sensitivity = { dist = "normal", mean = nan, sd = 0.1 }'),
        ["cohort.patient.nerve_sensitivity"],
    ),
    ("cohort-fixed-nan", C, _cohort_with('il4_pg_ml = { dist = "fixed", value = nan }'), ["cohort.patient.il4_pg_ml"]),
    ("cohort-fixed-inf", C, _cohort_with('il4_pg_ml = { dist = "fixed", value = inf }'), ["cohort.patient.il4_pg_ml"]),
    (
        "cohort-uniform-high-inf",
        C,
        _cohort_with('ifng_pg_ml = { dist = "uniform", low = 0, high = inf }'),
        ["cohort.patient.ifng_pg_ml"],
    ),
    (
        "cohort-lognormal-median-nan",
        C,
        _cohort_with('disc_cell_activity = { dist = "lognormal", median = nan, gsd = 2 }'),
        ["cohort.patient.disc_cell_activity"],
    ),
    (
        "cohort-lognormal-gsd-inf",
        C,
        _cohort_with('disc_cell_activity = { dist = "lognormal", median = 1, gsd = inf }'),
        ["cohort.patient.disc_cell_activity"],
    ),
    (
        "cohort-sample-day-nan",
        C,
        _cohort_with('sample_day = { dist = "normal", mean = nan, sd = 1 }', "[cohort]"),
        ["cohort.sample_day"],
    ),
    (
        "cohort-sample-day-inf",
        C,
        _cohort_with('sample_day = { dist = "fixed", value = inf }', "[cohort]"),
        ["cohort.sample_day"],
    ),
    (
        "cohort-sample-day-uniform-inf",
        C,
        _cohort_with('sample_day = { dist = "uniform", low = 0, high = inf }', "[cohort]"),
        ["cohort.sample_day"],
    ),
    (
        "cohort-weights-inf",
        C,
        _cohort_with('herniation_type = { dist = "categorical", weights = { bulging = inf, protrusion = 1.0 } }'),
        ["cohort.patient.herniation_type"],
    ),
    (
        "cohort-weights-nan",
        C,
        _cohort_with('herniation_type = { dist = "categorical", weights = { bulging = nan } }'),
        ["cohort.patient.herniation_type"],
    ),
    (
        "cohort-weights-markup-label",
        C,
        _cohort_with('herniation_type = { dist = "categorical", weights = { "[/]" = 1 } }'),
        ["cohort.patient.herniation_type", "[/]"],
    ),
    ("cohort-days-half", C, COHORT.replace("[cohort]\n", "[cohort]\ndays = 0.5\n"), ["cohort.days"]),
    # --- time steps and denormals, refused up front
    ("dt-hours-1e-7", S, "[simulation]\ndt_hours = 1e-7\n", ["simulation.dt_hours"]),
    ("dt-hours-denormal", S, "[simulation]\ndt_hours = 5e-324\n", ["simulation.dt_hours"]),
    ("dt-hours-7", S, "[simulation]\ndt_hours = 7\n", ["simulation.dt_hours", "24"]),
    ("dt-hours-nan", S, "[simulation]\ndt_hours = nan\n", ["simulation.dt_hours"]),
    (
        "half-life-denormal",
        S,
        "[parameters.transport.tnf]\nhalf_life_min = 1e-310\n",
        ["parameters.transport.tnf.half_life_min"],
    ),
    ("herniation-volume-denormal", S, "[patient]\nherniation_volume_mm3 = 1e-310\n", ["patient.herniation_volume_mm3"]),
    (
        "diffusion-inf",
        S,
        "[parameters.transport.il10]\ndiffusion_um2_per_s = inf\n",
        ["parameters.transport.il10.diffusion_um2_per_s"],
    ),
    # --- simulated days
    ("days-half", S, "[simulation]\ndays = 0.5\n", ["simulation.days"]),
    ("days-above-3650", S, "[simulation]\ndays = 3651\n", ["simulation.days", "3650"]),
    ("days-inf", S, "[simulation]\ndays = inf\n", ["simulation.days"]),
    # --- strict types: no loose coercion
    ("days-true", S, "[simulation]\ndays = true\n", ["simulation.days"]),
    ("days-string", S, '[simulation]\ndays = "1.5"\n', ["simulation.days"]),
    ("seed-float", S, "[simulation]\nseed = 1.5\n", ["simulation.seed"]),
    ("name-number", S, "name = 5\n", ["name"]),
    (
        "sweep-scramble-yes",
        W,
        SWEEP_HEAD + '[design]\nmethod = "sobol"\nn = 4\nscramble = "yes"\n[design.parameters]\n'
        '"parameters.pain.tnf_weight" = { low = 0.5, high = 2.0 }\n',
        ["design.scramble"],
    ),
    ("sweep-replicates-true", W, SWEEP_HEAD + "replicates = true\n" + SWEEP_OK_DESIGN, ["replicates"]),
    # --- sweep files
    ("sweep-invalid-utf8", W, b'name = "\xff"\nbase = "default.toml"\n', ["UTF-8"]),
    ("sweep-binary", W, b"design\0\x00\xff\xfe" + bytes(range(256)), [("UTF-8", "TOML")]),
    ("sweep-design-5", W, SWEEP_HEAD + "design = 5\n", ["design"]),
    ("sweep-design-string", W, SWEEP_HEAD + 'design = "[/]"\n', ["design"]),
    ("sweep-parameters-5", W, SWEEP_HEAD + '[design]\nmethod = "factorial"\nparameters = 5\n', ["design.parameters"]),
    ("sweep-factorial-2.56e9-points", W, FACTORIAL_HUGE, ["design points", "DISCSIM_MAX_DESIGN_POINTS"]),
    (
        "sweep-lhs-on-integer-seed",
        W,
        SWEEP_HEAD + '[design]\nmethod = "lhs"\nn = 4\n[design.parameters]\n'
        '"simulation.seed" = { low = 0, high = 10 }\n',
        ["design.parameters.simulation.seed"],
    ),
    ("sweep-base-dev-zero", W, 'base = "/dev/zero"\n' + SWEEP_OK_DESIGN, ["base"]),
    ("sweep-base-1500-chars", W, f'base = "{"a" * 1500}"\n' + SWEEP_OK_DESIGN, ["base"]),
    ("sweep-base-itself", W, 'base = "case.toml"\n' + SWEEP_OK_DESIGN, [("base", "case.toml")]),
    ("sweep-nesting-500", W, SWEEP_HEAD + DEEP_ARRAY, ["nested"]),
    ("sweep-integer-5000-digits", W, SWEEP_HEAD + f"seed = {BIG_INT}\n" + SWEEP_OK_DESIGN, ["digits"]),
    ("sweep-days-half", W, SWEEP_HEAD.replace("days = 1", "days = 0.5") + SWEEP_OK_DESIGN, ["days"]),
    (
        "sweep-level-nan",
        W,
        SWEEP_HEAD + '[design]\nmethod = "factorial"\n[design.parameters]\n"parameters.pain.tnf_weight" = [nan]\n',
        ["design.parameters.parameters.pain.tnf_weight"],
    ),
    (
        "sweep-range-inf",
        W,
        SWEEP_HEAD + '[design]\nmethod = "lhs"\nn = 4\n[design.parameters]\n'
        '"parameters.pain.tnf_weight" = { low = 0, high = inf }\n',
        ["design.parameters.parameters.pain.tnf_weight"],
    ),
    (
        "sweep-override-markup",
        W,
        SWEEP_HEAD + '[overrides]\n"[bold red]x" = 1\n' + SWEEP_OK_DESIGN,
        ["overrides.[bold red]x"],
    ),
]


def _command(kind: str, target: Path, out: Path) -> list:
    if kind == S:
        return ["run", target, "--out", out, "--days", "1"]
    if kind == C:
        return ["cohort", target, "--out", out, "--patients", "1", "--days", "1", "-j", "0", "--no-plot"]
    return ["sweep", target, "--out", out, "-j", "0", "--no-plot"]


@pytest.mark.parametrize("kind,content,needles", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_with_exit_2_naming_the_problem_and_nothing_written(ws, kind, content, needles):
    target = ws / "scenarios" / "case.toml"
    target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    out = ws.parent / "out"
    before = tree_digest(ws.parent)
    assert_refused(invoke(["check", target], seconds=20), needles, "check")
    assert_refused(invoke(_command(kind, target, out), seconds=20), needles, kind)
    assert not out.exists(), "a refused input must write nothing"
    assert tree_digest(ws.parent) == before


def test_parameter_set_from_stdin_does_not_block(ws):
    """``parameter_set = "/dev/stdin"``: refused (not a regular file), not read until the user types ^D."""
    target = ws / "scenarios" / "case.toml"
    target.write_text('parameter_set = "/dev/stdin"\n')
    for args in (["check", target], ["check", "/dev/stdin"]):
        p = subprocess.Popen(
            [sys.executable, "-m", "sim", *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stdout, stderr = p.communicate(timeout=60)  # stdin stays open and empty: a read would block
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail(f"discsim {args[0]} blocked reading /dev/stdin")
        finally:
            if p.stdin:
                p.stdin.close()
        assert p.returncode == 2, stderr
        assert "regular file" in stderr and "Traceback" not in stderr


def test_parameter_set_above_the_size_limit(ws):
    big = ws / "calibration" / "big.toml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    target = ws / "scenarios" / "case.toml"
    target.write_text('parameter_set = "../calibration/big.toml"\n')
    assert_refused(invoke(["check", target]), ["parameter_set", "limit"])


@pytest.mark.parametrize(
    "tail", ["", "x", "=", "]", "[", "volume = 1"], ids=["blank", "x", "eq", "close", "open", "key"]
)
def test_a_line_of_4000_spaces_costs_no_time(ws, tail):
    """The line-number lookup of a file with a parameter_set was a backtracking regex (17 s on this line)."""
    target = ws / "scenarios" / "case.toml"
    target.write_text(PSET + "[patient]\n" + " " * 4000 + tail + "\nnerve_sensitivty = 2\n")
    t0 = time.perf_counter()
    r = invoke(["check", target], seconds=20)
    elapsed = time.perf_counter() - t0
    assert r.exit_code == 2
    assert elapsed < 2.0, f"{elapsed:.1f} s for a 4,000-space line (should take milliseconds)"


# ---------------------------------------------------------------------------------------------
# `check` valid implies `cohort` works
# ---------------------------------------------------------------------------------------------

DRAW_EDGE = [
    ("weights-1e308", 'herniation_type = { dist = "categorical", weights = { bulging = 1e308, protrusion = 1e308 } }'),
    (
        "weights-1e300-and-tiny",
        'herniation_type = { dist = "categorical", weights = { bulging = 1e300, sequestration = 5e-324 } }',
    ),
    ("weights-denormal-only", 'herniation_type = { dist = "categorical", weights = { bulging = 5e-324 } }'),
    ("gsd-1e300", 'herniation_volume_mm3 = { dist = "lognormal", median = 400, gsd = 1e300 }'),
    ("gsd-100-median-1e12", 'herniation_volume_mm3 = { dist = "lognormal", median = 1e12, gsd = 100 }'),
    ("normal-sd-1e308", 'nerve_sensitivity = { dist = "normal", mean = 1, sd = 1e308 }'),
    ("normal-mean-1e308", 'nerve_sensitivity = { dist = "normal", mean = 1e308, sd = 1 }'),
    ("uniform-full-float-range", 'ifng_pg_ml = { dist = "uniform", low = -1.7e308, high = 1.7e308 }'),
    ("loguniform-denormal-low", 'il4_pg_ml = { dist = "loguniform", low = 5e-324, high = 10 }'),
    ("lognormal-median-denormal", 'disc_cell_activity = { dist = "lognormal", median = 5e-324, gsd = 100 }'),
]


@pytest.mark.parametrize("line", [d[1] for d in DRAW_EDGE], ids=[d[0] for d in DRAW_EDGE])
def test_check_valid_means_cohort_runs(ws, line):
    target = ws / "scenarios" / "case.toml"
    target.write_text(_cohort_with(line))
    key = line.split("=", 1)[0].strip()
    r = invoke(["check", target])
    assert r.exit_code in (0, 2)
    if r.exit_code == 2:
        assert f"cohort.patient.{key}" in r.stderr, r.stderr
        return
    out = ws.parent / "out"
    r = invoke(["cohort", target, "--out", out, "--patients", "2", "--days", "1", "-j", "0", "--no-plot"], seconds=180)
    assert r.exit_code == 0, f"`check` said valid, `cohort` failed:\n{r.stderr[-3000:]}"


# ---------------------------------------------------------------------------------------------
# command-line values
# ---------------------------------------------------------------------------------------------

BAD_DAYS = ["inf", "-inf", "nan", "1e-9", "0.5", "0", "-1", "3651", "1e308"]


@pytest.mark.parametrize("command", ["run", "cohort"])
@pytest.mark.parametrize("days", BAD_DAYS)
def test_bad_days_option_exits_2(ws, command, days):
    target = ws / "scenarios" / ("default.toml" if command == "run" else "cohort_default.toml")
    out = ws.parent / "out"
    args = [command, target, "--out", out, "--days", days] + (
        ["--patients", "1", "-j", "0"] if command == "cohort" else []
    )
    r = invoke(args)
    assert r.exit_code == 2, (r.exit_code, r.stderr[-2000:])
    assert "days" in r.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# output paths
# ---------------------------------------------------------------------------------------------


def _foreign(dirpath: Path) -> dict[str, str]:
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "thesis.tex").write_text("years of work\n")
    (dirpath / "manifest.json").write_text('{"kind": "run"}')  # some other program's manifest
    (dirpath / "data").mkdir()
    (dirpath / "data" / "x.csv").write_text("1,2\n")
    return tree_digest(dirpath)


def test_run_out_whose_parent_is_a_file(ws):
    afile = ws.parent / "afile"
    afile.write_text("keep\n")
    r = invoke(["run", ws / "scenarios" / "default.toml", "--days", "1", "--out", afile / "out"])
    assert_refused(r, ["afile"])
    assert afile.read_text() == "keep\n"


def test_run_out_is_an_existing_file(ws):
    afile = ws.parent / "afile"
    afile.write_text("keep\n")
    assert_refused(invoke(["run", ws / "scenarios" / "default.toml", "--days", "1", "--out", afile]), ["afile"])
    assert afile.read_text() == "keep\n"


@pytest.mark.parametrize("command", ["run", "cohort", "sweep"])
def test_out_under_sys(ws, command):
    target = (
        ws
        / "scenarios"
        / {"run": "default.toml", "cohort": "cohort_default.toml", "sweep": "sweep_example.toml"}[command]
    )
    out = Path("/sys/discsim-fuzz-out")
    extra = {"run": ["--days", "1"], "cohort": ["--patients", "1", "--days", "1", "-j", "0"], "sweep": ["-j", "0"]}
    assert_refused(invoke([command, target, "--out", out, *extra[command]]), ["/sys/discsim-fuzz-out"])
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing-folder", "sys", "a-directory", "parent-is-file"])
def test_schema_out_refused(tmp_path, where):
    (tmp_path / "afile").write_text("keep\n")
    out = {
        "missing-folder": tmp_path / "missing" / "x.json",
        "sys": Path("/sys/discsim-fuzz.json"),
        "a-directory": tmp_path,
        "parent-is-file": tmp_path / "afile" / "x.json",
    }[where]
    before = tree_digest(tmp_path)
    r = invoke(["schema", "--out", out])
    assert_refused(r, [str(out) if where != "a-directory" else "directory"])
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("command", ["run", "cohort", "sweep"])
def test_a_foreign_non_empty_out_is_refused_and_kept(ws, command):
    out = ws.parent / "thesis"
    before = _foreign(out)
    target = (
        ws
        / "scenarios"
        / {"run": "default.toml", "cohort": "cohort_default.toml", "sweep": "sweep_example.toml"}[command]
    )
    extra = {"run": ["--days", "1"], "cohort": ["--patients", "1", "--days", "1", "-j", "0"], "sweep": ["-j", "0"]}
    assert_refused(invoke([command, target, "--out", out, *extra[command]]), ["--overwrite"])
    assert tree_digest(out) == before, "files of a foreign output folder changed"


def test_overwrite_into_a_foreign_folder_keeps_its_files(ws):
    out = ws.parent / "thesis"
    before = _foreign(out)
    r = invoke(
        ["run", ws / "scenarios" / "default.toml", "--days", "1", "--no-snapshots", "--out", out, "--overwrite"],
        seconds=180,
    )
    assert r.exit_code == 0, r.stderr
    after = tree_digest(out)
    for k, v in before.items():
        if k != "manifest.json":  # the run writes its own manifest.json (documented); every other file survives
            assert after.get(k) == v, f"{k} changed or vanished"


HOSTILE_NAMES = [
    "../victim",
    "../../victim",
    "/abs/path",
    "",
    "..",
    ".",
    "~",
    "-rf",
    "[bold]x[/]",
    "runs/../..",
    "a" * 200,
    "nul\u0000name",
    "é/ü",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:30])
def test_a_hostile_scenario_name_gives_a_safe_slug_under_runs(ws, name):
    import json

    victim = ws.parent / "victim"
    victim.mkdir()
    (victim / "file.txt").write_text("precious\n")
    work = ws.parent / "work"
    work.mkdir()
    target = ws / "scenarios" / "case.toml"
    target.write_text(f"name = {json.dumps(name)}\n" + PSET + "[simulation]\nsnapshot_every_days = 0\n")
    before = tree_digest(ws.parent, exclude=work)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        r = invoke(["run", target, "--days", "1", "--no-snapshots"], seconds=180)
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.stderr
    assert tree_digest(ws.parent, exclude=work) == before, "files outside runs/ changed"
    (made,) = [p for p in work.iterdir()]
    assert made.name == "runs"
    (slug,) = list(made.iterdir())
    assert slug.name not in ("", ".", "..") and not slug.name.startswith((".", "-")) and "/" not in slug.name
    assert (slug / "manifest.json").is_file()
    assert f"wrote runs/{slug.name}/" in r.stdout, r.stdout


@pytest.mark.parametrize("dirname", ["[bold]out[/]", "[bold red]x", "[/]"])
def test_markup_in_the_out_path_is_printed_as_written(ws, dirname):
    out = ws.parent / dirname
    r = invoke(["run", ws / "scenarios" / "default.toml", "--days", "1", "--no-snapshots", "--out", out], seconds=180)
    assert r.exit_code == 0, r.stderr
    assert f"wrote {out}/" in r.stdout, r.stdout


def test_markup_in_a_missing_file_path_is_printed_as_written(tmp_path):
    missing = tmp_path / "[bold red]x[/].toml"
    assert_refused(invoke(["check", missing]), [str(missing), "not found"])


def test_markup_in_the_scenario_name_is_printed_as_written(ws):
    target = ws / "scenarios" / "case.toml"
    target.write_text('name = "[bold red]x[/]"\n' + PSET)
    r = invoke(["check", target])
    assert r.exit_code == 0 and 'name = "[bold red]x[/]"' in r.stdout, r.stdout + r.stderr
    r = invoke(["run", target, "--days", "1", "--no-snapshots", "--out", ws.parent / "o"], seconds=180)
    assert r.exit_code == 0, r.stderr
    assert "[bold red]x[/]" in r.stdout  # the progress description names the scenario as written


# ---------------------------------------------------------------------------------------------
# plot, and check on sweep files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sensitivity_dirs(tmp_path_factory):
    """Small real outputs of `discsim sensitivity` (Morris and Sobol, one parameter, one patient, one day)."""
    base = tmp_path_factory.mktemp("sens")
    dirs = {}
    for method, n in (("morris", 2), ("sobol", 2)):
        out = base / method
        r = invoke(
            [
                "sensitivity",
                ROOT / "scenarios" / "cohort_default.toml",
                "--out",
                out,
                "--method",
                method,
                "--params",
                "parameters.pain.sensitization_per_day",
                "--n",
                n,
                "--patients-per-point",
                "1",
                "--days",
                "1",
            ],
            seconds=300,
        )
        assert r.exit_code == 0, r.stderr
        dirs[method] = out
    return dirs


@pytest.mark.slow
@pytest.mark.parametrize("method", ["morris", "sobol"])
def test_plot_a_sensitivity_output(sensitivity_dirs, method):
    r = invoke(["plot", sensitivity_dirs[method]], seconds=120)
    assert r.exit_code == 0, r.stderr
    assert "wrote" in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["no-indices", "empty-indices-csv", "manifest-only", "manifest-garbage-method"])
def test_plot_a_damaged_sensitivity_output_exits_2(sensitivity_dirs, tmp_path, damage):
    import json

    d = tmp_path / "sens"
    shutil.copytree(sensitivity_dirs["morris"], d)
    if damage == "no-indices":
        for f in d.glob("indices.*"):
            f.unlink()
    elif damage == "empty-indices-csv":
        (d / "indices.parquet").write_bytes(b"")
        (d / "indices.csv").write_text("")
    elif damage == "manifest-only":
        for f in d.iterdir():
            if f.name not in ("manifest.json", ".discsim"):
                shutil.rmtree(f) if f.is_dir() else f.unlink()
    else:
        m = json.loads((d / "manifest.json").read_text())
        m["method"] = "[bold red]x"
        (d / "manifest.json").write_text(json.dumps(m))
    r = invoke(["plot", d], seconds=120)
    assert r.exit_code in (0, 2), r.stderr
    if r.exit_code == 2:
        assert str(d) in r.stderr


def test_check_accepts_sweep_files():
    r = invoke(["check", ROOT / "scenarios" / "sweep_example.toml"])
    assert r.exit_code == 0, r.stderr
    assert "valid sweep" in r.stdout and "8 points" in r.stdout


def test_time_limit_guard_turns_a_hang_into_a_failure():
    """The fuzz suite's own guard: a blocked call ends as :class:`Hang`, not as a stuck CI job."""
    from safety_strategies import Hang

    with pytest.raises(Hang):
        with time_limit(0.2):
            time.sleep(5)
