"""``discsim validate``: the target table on synthetic and real cohort directories; bad inputs exit 2; the table
of target kinds covers the targets file and every kind builds its rows; the calibration commands default to the
library's settings."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from calibration_data import synthetic_cohort, write_cohort_dir
from typer.testing import CliRunner

from sim.calibration.settings import allometric_time_scale
from sim.cli import app

runner = CliRunner()


def test_validate_synthetic_cohort(tmp_path):
    p, t = synthetic_cohort(n=40, days=400)
    d = write_cohort_dir(tmp_path / "coh", p, t)
    res = runner.invoke(app, ["validate", str(d), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(d / "validation.csv")
    md = (d / "validation.md").read_text()
    assert "| target |" in md and "sciatica_trial_leg_vas_itt" in md
    rows = table.set_index("stat_key")
    assert rows.loc["review_association_signs[TNF-a]", "status"] == "reproduced"
    assert rows.loc["review_association_signs[TNFR1]", "status"] == "not simulated"
    assert rows.loc["sciatica_trial_leg_vas_itt[week 52]", "status"] == "not simulated"  # beyond day 400
    assert rows.loc["sciatica_trial_leg_vas_itt[week 0]", "simulated"] == pytest.approx(55.0)
    assert rows.loc["sciatica_trial_leg_vas_exponential_fit[tau]", "simulated"] == pytest.approx(8.0, rel=1e-3)
    assert rows.loc["sciatica_trial_leg_vas_exponential_fit[tau]", "status"] == "inside"
    # rat day 14 (the synthetic peak) maps to human day 14 × 3.9 by quarter-power scaling: a day-14 peak is early
    m2 = rows.loc["rat_puncture_m1_m2_timecourse[M2 peak day]"]
    assert m2["target"] == pytest.approx(14.0 * allometric_time_scale("rat")) and m2["status"] == "outside"
    assert "allometric" in m2["note"]
    assert set(table["status"]) <= {
        "inside",
        "consistent",
        "outside",
        "reproduced",
        "not reproduced",
        "undetermined",
        "not simulated",
    }
    # every calibrate/check target of the file appears
    from sim.calibration.targets import load_targets

    ids = {x.id for x in load_targets() if x.use in ("calibrate", "check")}
    assert ids <= set(table["target_id"])


def test_validate_out_option(tmp_path):
    p, t = synthetic_cohort(n=12, days=100)
    d = write_cohort_dir(tmp_path / "coh", p, t)
    res = runner.invoke(app, ["validate", str(d), "--out", str(tmp_path / "report"), "--bootstrap", "100"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report" / "validation.csv").is_file() and not (d / "validation.csv").exists()


def test_validate_labels_fit_and_check_targets_of_a_declaration(tmp_path):
    from sim.calibration.history import load_config

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "calibration" / "posterior.toml")
    p, t = synthetic_cohort(n=12, days=100)
    d = write_cohort_dir(tmp_path / "coh", p, t)
    decl = root / "calibration" / "posterior.toml"
    res = runner.invoke(app, ["validate", str(d), "--bootstrap", "100", "--declaration", str(decl)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(d / "validation.csv", keep_default_na=False)
    roles = table.groupby("target_id")["role"].first()
    assert set(roles[roles == "fit"].index) == set(cfg.fit)
    assert set(roles[roles == "check"].index) == set(cfg.check)
    assert (roles[~roles.index.isin(cfg.fit + cfg.check)] == "not declared").all()
    # fit rows first, then checks, each counted apart in the report and on the console
    first_check = table.index[table["role"] == "check"].min()
    assert (table.loc[: first_check - 1, "role"] == "fit").all()
    md = (d / "validation.md").read_text()
    assert f"Status counts, fit targets ({(table['role'] == 'fit').sum()} rows)" in md
    assert "Status counts, check targets" in md and md.count("| fit |") == (table["role"] == "fit").sum()
    assert "fit targets (" in res.output and "check targets (" in res.output


def test_validate_refuses_a_bad_declaration_before_writing(tmp_path):
    p, t = synthetic_cohort(n=12, days=100)
    d = write_cohort_dir(tmp_path / "coh", p, t)
    bad = tmp_path / "decl.toml"
    bad.write_text('scenario = "x.toml"\n[targets]\nfit = ["no_such_target"]\n', encoding="utf-8")
    res = runner.invoke(app, ["validate", str(d), "--declaration", str(bad), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 2, res.output
    assert "decl.toml" in res.output and not (tmp_path / "rep").exists() and not (d / "validation.csv").exists()


@pytest.mark.parametrize("case", ["missing", "file", "no_manifest", "not_cohort", "no_column", "bad_json"])
def test_validate_bad_inputs_exit_2(tmp_path, case):
    p, t = synthetic_cohort(n=8, days=30)
    d = tmp_path / "coh"
    if case == "missing":
        pass
    elif case == "file":
        d.write_text("x")
    else:
        write_cohort_dir(d, p, t, kind="run" if case == "not_cohort" else "cohort")
        if case == "no_manifest":
            (d / "manifest.json").unlink()
        elif case == "no_column":
            p.drop(columns="pain_vas_sample").to_parquet(d / "patients.parquet")
        elif case == "bad_json":
            (d / "manifest.json").write_text("{not json")
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 2, res.output
    assert "error" in res.output and "Traceback" not in res.output


def test_validate_real_cohort(tmp_path):
    """A real (tiny) cohort from `discsim cohort` on a coarse grid."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src = (root / "scenarios" / "cohort_default.toml").read_text()
    # the copy lives elsewhere: point its parameter set at the repository's calibrated file
    src = src.replace('"../calibration/calibrated.toml"', f'"{root / "calibration" / "calibrated.toml"}"')
    scen = tmp_path / "coarse.toml"
    scen.write_text(src + "\n[geometry]\ndx_um = 500\n" if "[geometry]" not in src else src)
    out = tmp_path / "coh"
    res = runner.invoke(
        app, ["cohort", str(scen), "--patients", "4", "--days", "20", "--workers", "0", "--out", str(out), "--no-plot"]
    )
    assert res.exit_code == 0, res.output[-500:]
    assert json.loads((out / "manifest.json").read_text())["kind"] == "cohort"
    res = runner.invoke(app, ["validate", str(out), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "validation.csv")
    assert (table["n"] > 0).any()
    # 20-day horizon: no 1-year outcome
    assert (table.loc[table["target_id"] == "regression_prob_extrusion", "status"] == "not simulated").all()


def test_validate_console_table_fits_80_columns(tmp_path):
    """At COLUMNS=80 every line fits, target ids stay whole on lines of their own, and a status is never split."""
    import os
    import subprocess
    import sys

    from rich.cells import cell_len

    p, t = synthetic_cohort(n=40, days=400)
    write_cohort_dir(tmp_path / "coh", p, t)
    res = subprocess.run(
        [sys.executable, "-m", "sim", "validate", "coh", "--bootstrap", "100"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert not too_wide, "\n".join(too_wide)
    table = pd.read_csv(tmp_path / "coh" / "validation.csv")
    stripped = {line.strip() for line in lines}
    assert set(table["target_id"]) <= stripped
    for status in set(table["status"]):
        assert sum(line.rstrip().endswith("  " + status) for line in lines) == int((table["status"] == status).sum())


# -- the table of target kinds (sim.calibration.validate.TARGET_KINDS / KINDS)


def test_every_target_of_the_file_has_a_kind_and_every_kind_is_used():
    from sim.calibration.targets import load_targets
    from sim.calibration.validate import KINDS, TARGET_KINDS

    targets = load_targets()
    compared = [t for t in targets if t.use in ("calibrate", "check")]
    assert [t.id for t in compared if t.id not in TARGET_KINDS] == []
    # priors are parameter ranges, never rows of the table
    assert not {t.id for t in targets if t.use == "prior"} & set(TARGET_KINDS)
    assert set(TARGET_KINDS.values()) <= set(KINDS)
    assert {TARGET_KINDS[t.id] for t in compared} == set(KINDS)  # the shipped file exercises every kind


@pytest.fixture(scope="module")
def long_stats():
    """A synthetic cohort long enough for every visit (entry day 56 + 104 weeks < 800 days)."""
    from sim.calibration.stats import StatsConfig, cohort_from_frames, compute_statistics

    p, t = synthetic_cohort(n=40, days=800)
    # patient 1 (a protrusion) is operated 10 weeks after entry: the flag is set from the next day's row
    t["surgery"] = ((t["patient"] == 1) & (t["day"] > 56 + 70)).astype(float)
    return compute_statistics(cohort_from_frames(p, t), StatsConfig(n_boot=200, fit_n_boot=50))


def test_every_kind_builds_its_rows_from_a_cohort(long_stats):
    from sim.calibration.targets import load_targets
    from sim.calibration.validate import KINDS, NOT_SIMULATED, comparisons, table_targets
    from sim.scenario import Scenario

    targets = load_targets()
    kind_of = {t.id: kind for t, kind in table_targets(targets)}
    rows = comparisons(long_stats, targets, scenario=Scenario())
    by_kind: dict[str, list] = {k: [] for k in KINDS}
    for c in rows:
        by_kind[kind_of[c.target.id]].append(c)
    for kind, cs in by_kind.items():
        assert cs, kind
        if kind == "not_simulated":
            assert {c.status for c in cs} == {"not simulated"}
            assert {c.note for c in cs} == set(NOT_SIMULATED.values())
        else:  # every kind simulates at least one item; associations also have unmodelled factors
            assert any(math.isfinite(c.simulated) for c in cs), kind
            assert all(c.status for c in cs), kind
    # without checks: no check target; the quantitative rows are the same
    no_checks = comparisons(long_stats, targets, include_checks=False)
    assert {c.target.use for c in no_checks} == {"calibrate"}
    assert [c.stat_key for c in no_checks] == [c.stat_key for c in rows if c.target.use != "check"]


def test_ranges_and_n_are_read_from_the_target(long_stats):
    """lower/upper, n and sample_weeks given in the targets file replace the constructed ranges."""
    from dataclasses import replace

    from sim.calibration.targets import TargetSet, load_targets
    from sim.calibration.validate import comparisons

    shipped = load_targets()
    changes = {
        "mouse_puncture_macrophage_peak": {"lower": 5.0, "upper": 12.0},
        "inflammation_prevalence_by_type": {"n": 100},
        "rat_puncture_m1_m2_timecourse": {"extra": {"sample_weeks": [1.0, 2.0, 3.0]}},
        "paracrine_communication_length": {"lower": 110.0},
        "macrophage_load_vs_size_reduction": {"value": -1},
    }
    targets = TargetSet(tuple(replace(t, **changes.get(t.id, {})) for t in shipped), shipped.path)
    rows = {c.stat_key: c for c in comparisons(long_stats, targets, include_checks=True)}
    mouse = rows["mouse_puncture_macrophage_peak"]
    ts = allometric_time_scale("mouse")
    assert (mouse.lo, mouse.hi, mouse.range_basis) == (5.0 * ts, 12.0 * ts, "range in targets file")
    assert mouse.scale == pytest.approx(5.0 * ts)
    ikeda = rows["inflammation_prevalence_by_type[protrusion]"]
    assert ikeda.range_basis == "Wilson 95% CI, n=100"
    rat = rows["rat_puncture_m1_m2_timecourse[M2 peak day]"]
    r = allometric_time_scale("rat")
    assert (rat.lo, rat.hi) == pytest.approx(
        (10.5 * r, 17.5 * r)
    ) and rat.range_basis == "midpoints between sampled weeks 1, 2, 3"
    assert rows["paracrine_communication_length"].lo == 110.0
    sign = rows["macrophage_load_vs_size_reduction"]  # the synthetic ρ is > 0: a negative sign is not reproduced
    assert (sign.lo, sign.hi, sign.range_basis, sign.status) == (-1.0, 0.0, "CI < 0", "not reproduced")


def test_a_target_without_a_kind_is_reported_not_simulated(tmp_path, long_stats):
    from sim.calibration.targets import TARGETS_FILE, load_targets
    from sim.calibration.validate import NO_KIND_NOTE, comparisons, distance_spec

    extra = '\n[[target]]\nid = "new_target"\nvalue = 0.5\nunits = "fraction"\nuse = "calibrate"\nsource = "x"\n'
    path = tmp_path / "targets.toml"
    path.write_text(TARGETS_FILE.read_text(encoding="utf-8") + extra + 'confidence = "read"\n', encoding="utf-8")
    targets = load_targets(path)
    rows = [c for c in comparisons(long_stats, targets) if c.target.id == "new_target"]
    assert [(c.status, c.note, c.value) for c in rows] == [("not simulated", NO_KIND_NOTE, 0.5)]
    assert "new_target" not in set(distance_spec(targets)["target_id"])


def test_calibration_options_show_the_library_defaults_and_import_light():
    """`validate`, `sensitivity` and `calibrate` default to the fields of StatsConfig, SensitivitySettings and
    AbcSettings; reading those defaults does not import scipy or the statistics at start-up."""
    import subprocess
    import sys

    import typer

    from sim.calibration.settings import POINTS, AbcSettings, SensitivitySettings, StatsConfig

    commands = typer.main.get_command(app).commands
    defaults = {name: {p.name: p.default for p in commands[name].params} for name in commands}
    s, sens, abc = StatsConfig(), SensitivitySettings(), AbcSettings()
    v = defaults["validate"]
    assert (v["regression_threshold"], v["resolution_threshold"], v["infiltrate_threshold"]) == (
        s.regression_threshold,
        s.resolution_threshold,
        s.infiltrate_threshold_per_cm2,
    )
    assert (v["rodent_time_scale"], v["bootstrap"], v["seed"]) == (s.rodent_time_scale, s.n_boot, s.seed)
    assert v["entry_day"] is None and s.entry == "sample_day"  # no --entry-day: each patient's sample_day
    assert {k: defaults["sensitivity"][k] for k in ("method", "n", "patients_per_point", "days", "seed")} == {
        "method": sens.method,
        "n": sens.n,
        "patients_per_point": sens.patients_per_point,
        "days": sens.days,
        "seed": sens.seed,
    }
    c = defaults["calibrate"]
    assert (c["populations"], c["particles"], c["patients"], c["days"], c["seed"], c["min_epsilon"]) == (
        abc.populations,
        abc.population_size,
        abc.patients,
        abc.days,
        abc.seed,
        abc.min_epsilon,
    )
    assert (c["common_patients"], c["point"]) == (abc.common_patients, POINTS[0])
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, sim.cli; print(sorted(m for m in sys.modules if m.startswith(('scipy', 'sim.calibration'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "['sim.calibration', 'sim.calibration.settings']"
