"""`discsim cohort --posterior`: each patient under one posterior draw (parameter uncertainty).

Draw choice and application are tested on the library (no simulation); the command end to end on cohorts of 4
patients × 3 days, in this process (`-j 0`) except one run on a worker process.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cohort_helpers import SMALL_COHORT
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort.draw import draw_patient
from sim.cohort.posterior import (
    POSTERIOR_STREAM,
    PosteriorDraws,
    PosteriorError,
    draw_posterior_patient,
    posterior_draw_index,
    posterior_draw_indices,
)
from sim.io.store import read_parquet_metadata
from sim.scenario import load_scenario, parse_scenario
from sim.scenario.schema import Patient

runner = CliRunner()
ROOT_SEED = 123  # SMALL_COHORT's cohort.seed
N = 4
DAYS = 3
SENS = "parameters.pain.sensitization_per_day"
M0M1 = "parameters.polarization.m0_to_m1_per_day"
VOL_GSD = "cohort.patient.herniation_volume_mm3.gsd"
#: every random effect the patients table records
EFFECTS = [*Patient.model_fields, "breach", "sample_day"]


def _draws(path: Path, columns: dict, metadata: object = None) -> Path:
    """Write a draws file; ``draw`` as int64 unless given as a pyarrow array."""
    cols = {k: (v if isinstance(v, pa.Array) else pa.array(v)) for k, v in columns.items()}
    table = pa.table(cols)
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        table = table.replace_schema_metadata({b"discsim": text.encode()})
    pq.write_table(table, path)
    return path


def _cohort(args, ok=(0,)):
    res = runner.invoke(app, ["cohort", *map(str, args)])
    assert res.exit_code in ok, res.output
    return res


def _patients(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "patients.parquet")


# ---------------------------------------------------------------------------------------------
# library: the draw of each patient, the file, the application to a scenario
# ---------------------------------------------------------------------------------------------


def test_draw_index_is_reproducible_uniform_and_its_own_stream():
    first = posterior_draw_indices(ROOT_SEED, 10, 7)
    assert first == posterior_draw_indices(ROOT_SEED, 50, 7)[:10]  # patient k does not depend on N
    assert posterior_draw_indices(ROOT_SEED, 3, 7, start=4) == first[4:7]
    assert first == [posterior_draw_index(ROOT_SEED, k, 7) for k in range(10)]
    assert posterior_draw_indices(ROOT_SEED + 1, 10, 7) != first
    counts = np.bincount(posterior_draw_indices(ROOT_SEED, 4000, 4), minlength=4)
    assert counts.min() > 880 and counts.max() < 1120  # uniform: 1000 ± ~4 SD
    # its own stream, not the patient's children 0 (effects) and 1 (simulation seed)
    assert POSTERIOR_STREAM not in (0, 1)


def test_load_sorts_by_draw_hashes_the_file_and_keeps_its_metadata(tmp_path):
    path = _draws(tmp_path / "d.parquet", {"draw": [2, 0, 1], SENS: [2.5, 0.5, 1.5]}, {"method": "nuts"})
    post = PosteriorDraws.load(path)
    assert post.n_draws == 3 and post.columns == (SENS,)
    assert [post.values_of(d)[SENS] for d in range(3)] == [0.5, 1.5, 2.5]
    assert post.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert post.metadata == {"method": "nuts"}
    assert PosteriorDraws.load(_draws(tmp_path / "t.parquet", {"draw": [0], SENS: [1.0]}, "free text")).metadata == (
        "free text"
    )
    prov = post.provenance()
    assert prov["file"] == str(path) and prov["sha256"] == post.sha256 and prov["n_draws"] == 3


def test_spread_free_draw_keeps_random_effects_and_seed(tmp_path):
    scen = parse_scenario(SMALL_COHORT)
    post = PosteriorDraws.load(_draws(tmp_path / "d.parquet", {"draw": [0, 1, 2], SENS: [0.1, 3.0, 9.0]}))
    post.check(scen)
    for k in range(8):
        vp, d = draw_posterior_patient(scen, post, k, root=ROOT_SEED, days=DAYS)
        plain = draw_patient(scen, k, root=ROOT_SEED, days=DAYS)
        assert d == posterior_draw_index(ROOT_SEED, k, 3)
        assert vp.seed == plain.seed and vp.effects == plain.effects
        assert vp.scenario.parameters.pain.sensitization_per_day == post.values_of(d)[SENS]
        assert vp.scenario.patient == plain.scenario.patient and vp.scenario.simulation == plain.scenario.simulation


def test_parameters_win_over_parameter_set_and_scenario_parameters(tmp_path):
    (tmp_path / "pset.toml").write_text(
        "[parameters.pain]\nsensitization_per_day = 1.0\n[parameters.polarization]\nm0_to_m1_per_day = 1.5\n"
    )
    text = SMALL_COHORT.replace('name = "small_cohort"', 'name = "small_cohort"\nparameter_set = "pset.toml"')
    (tmp_path / "s.toml").write_text(text + "[parameters.polarization]\nm0_to_m1_per_day = 3.0\n")
    scen = load_scenario(tmp_path / "s.toml")
    assert scen.parameters.pain.sensitization_per_day == 1.0 and scen.parameters.polarization.m0_to_m1_per_day == 3.0
    post = PosteriorDraws.load(_draws(tmp_path / "d.parquet", {"draw": [0], SENS: [4.25], M0M1: [0.75]}))
    vp, d = draw_posterior_patient(scen, post, 0, root=ROOT_SEED, days=DAYS)
    assert d == 0
    assert vp.scenario.parameters.pain.sensitization_per_day == 4.25  # over the parameter set
    assert vp.scenario.parameters.polarization.m0_to_m1_per_day == 0.75  # over the scenario's [parameters]


def test_cohort_spread_changes_the_drawn_effects_only(tmp_path):
    """gsd = 1 gives every patient the median volume; another gsd scales the same normal deviate."""
    scen = parse_scenario(SMALL_COHORT)
    post = PosteriorDraws.load(_draws(tmp_path / "d.parquet", {"draw": [0, 1], VOL_GSD: [1.0, 1.3]}))
    post.check(scen)
    median = scen.cohort.patient.herniation_volume_mm3.median
    seen = {0: 0, 1: 0, "same_z": 0}
    for k in range(8):
        vp, d = draw_posterior_patient(scen, post, k, root=ROOT_SEED, days=DAYS)
        plain = draw_patient(scen, k, root=ROOT_SEED, days=DAYS)
        vol, base = vp.effects["herniation_volume_mm3"], plain.effects["herniation_volume_mm3"]
        seen[d] += 1
        if d == 0:
            assert vol == median
        else:  # the same z: log(v / median) / log(gsd) as without the posterior (gsd 1.8), unless clipped
            z_plain = math.log(base / median) / math.log(1.8)
            if 100 < base < 2000 and 100 < vol < 2000:
                assert math.log(vol / median) / math.log(1.3) == pytest.approx(z_plain, rel=1e-9)
                seen["same_z"] += 1
            assert vol != base
        assert vp.seed == plain.seed
        others = {e: v for e, v in vp.effects.items() if e != "herniation_volume_mm3"}
        assert others == {e: v for e, v in plain.effects.items() if e != "herniation_volume_mm3"}
    assert vp.scenario.cohort is None and vp.scenario.patient.herniation_volume_mm3 == vol
    assert seen[0] and seen[1] and seen["same_z"], seen


def test_check_collects_every_bad_draw_in_one_error(tmp_path):
    scen = parse_scenario(SMALL_COHORT)
    post = PosteriorDraws.load(_draws(tmp_path / "d.parquet", {"draw": [0, 1, 2], M0M1: [1.0, -1.0, -2.0]}))
    with pytest.raises(PosteriorError) as err:
        post.check(scen)
    assert [p.path for p in err.value.problems] == [f"{M0M1} (draw 1)", f"{M0M1} (draw 2)"]
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{tmp_path / 'd.parquet'}: {M0M1} (draw 1):")
    assert "(and 1 more problem(s))" in line


# ---------------------------------------------------------------------------------------------
# bad input: one line naming the file (and column, draw), exit 2, nothing written
# ---------------------------------------------------------------------------------------------

BAD = {
    "missing": (None, "file not found"),
    "not_parquet": ("text", "not a readable Parquet file"),
    "zero_bytes": ("", "not a readable Parquet file"),
    "no_draw_column": ({SENS: [1.0, 2.0]}, "no 'draw' column"),
    "float_draw_column": ({"draw": [0.0, 1.0], SENS: [1.0, 2.0]}, "draw: must hold integers"),
    "duplicate_draws": ({"draw": [0, 1, 1], SENS: [1.0, 2.0, 3.0]}, "draw: draw 1 appears 2 times"),
    "draws_not_0_to_n": ({"draw": [0, 1, 3], SENS: [1.0, 2.0, 3.0]}, "draw: must number the 3 draws 0..2"),
    "empty": ({"draw": pa.array([], pa.int64()), SENS: pa.array([], pa.float64())}, "holds no draws (0 rows)"),
    "only_draw_column": ({"draw": [0, 1]}, "holds only the 'draw' column"),
    "nan": ({"draw": [0, 1], SENS: [1.0, float("nan")]}, f"{SENS} (draw 1): non-finite value nan"),
    "inf": ({"draw": [0, 1], SENS: [float("inf"), 1.0]}, f"{SENS} (draw 0): non-finite value inf"),
    "null": ({"draw": [0, 1], SENS: pa.array([1.0, None])}, f"{SENS} (draw 1): missing value"),
    "strings": ({"draw": [0, 1], SENS: ["a", "b"]}, f"{SENS}: expected numbers"),
    "unknown_path": ({"draw": [0, 1], "parameters.pain.sensitisation": [1.0, 2.0]}, "not a known scenario path"),
    "not_a_leaf": ({"draw": [0, 1], "parameters.pain": [1.0, 2.0]}, "not a numeric value"),
    "other_section": ({"draw": [0, 1], "patient.il4_pg_ml": [1.0, 2.0]}, "only parameters.* and cohort.*"),
    "cohort_setting": ({"draw": [0, 1], "cohort.seed": [1.0, 2.0]}, "cohort.seed: a setting of the cohort"),
    "wrong_distribution_key": (
        {"draw": [0, 1], "cohort.patient.ifng_pg_ml.gsd": [1.2, 1.3]},
        "cohort.patient.ifng_pg_ml is a uniform distribution",
    ),
    "no_distribution": (
        {"draw": [0, 1], "cohort.patient.il10_background_pg_ml.high": [1.0, 2.0]},
        "cohort.patient.il10_background_pg_ml is not set",
    ),
    "negative_rate": ({"draw": [0, 1], M0M1: [1.0, -0.2]}, f"{M0M1} (draw 1): Input should be greater than or equal"),
    "gsd_below_1": ({"draw": [0, 1], VOL_GSD: [1.5, 0.5]}, f"{VOL_GSD} (draw 1): Input should be greater than"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_posterior_exits_2_with_one_line_and_writes_nothing(case, tmp_path, small_cohort_file):
    content, expected = BAD[case]
    path = tmp_path / f"{case}.parquet"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, dict):
        _draws(path, content)
    out = tmp_path / "out"
    res = _cohort([small_cohort_file, "--posterior", path, "--out", out, "-n", 2, "-j", 0, "--no-plot"], ok=(2,))
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {path}: ") and expected in lines[0], lines[0]
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# the command end to end
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Cohorts of 4 patients × 3 days: without a posterior, with a spread-free one, with a mixed one."""
    d = tmp_path_factory.mktemp("posterior")
    scen = d / "small_cohort.toml"
    scen.write_text(SMALL_COHORT, encoding="utf-8")
    spread_free = _draws(d / "spread_free.parquet", {"draw": [0, 1], SENS: [0.0, 50.0], M0M1: [0.2, 6.0]})
    mixed = _draws(
        d / "mixed.parquet",
        {"draw": [2, 0, 1], SENS: [0.0, 25.0, 50.0], VOL_GSD: [1.0, 1.4, 2.5]},
        {"calibration": "test", "sampler": "nuts"},
    )
    common = ["-n", N, "--days", DAYS, "-j", 0, "--no-plot"]
    outs = {"plain": d / "plain", "spread_free": d / "spread_free", "mixed": d / "mixed"}
    _cohort([scen, "--out", outs["plain"], *common])
    _cohort([scen, "--posterior", spread_free, "--out", outs["spread_free"], *common])
    _cohort([scen, "--posterior", mixed, "--out", outs["mixed"], *common])
    return {"scen": scen, "spread_free_file": spread_free, "mixed_file": mixed, "common": common, **outs}


def test_draws_are_recorded_with_the_file_and_its_hash(runs):
    out, path = runs["mixed"], runs["mixed_file"]
    patients = _patients(out)
    draws = posterior_draw_indices(ROOT_SEED, N, 3)
    assert draws == [2, 1, 2, 1]  # pinned: the stream of each patient's draw is part of the reproducibility contract
    assert patients["posterior_draw"].tolist() == draws
    assert patients["posterior_draw"].dtype == "int64" and list(patients.columns[:3]) == [
        "patient",
        "seed",
        "posterior_draw",
    ]
    post = PosteriorDraws.load(path)
    for col in (SENS, VOL_GSD):
        assert patients[col].tolist() == [post.values_of(d)[col] for d in draws]
    manifest = json.loads((out / "manifest.json").read_text())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["posterior"]["sha256"] == sha and manifest["posterior"]["file"] == str(path)
    assert manifest["posterior"]["n_draws"] == 3 and manifest["posterior"]["columns"] == [SENS, VOL_GSD]
    assert manifest["posterior"]["metadata"] == {"calibration": "test", "sampler": "nuts"}
    assert manifest["posterior_draws"] == draws
    assert read_parquet_metadata(out / "patients.parquet")["posterior"]["sha256"] == sha
    # the draw reached the patient: gsd 1 gives the median volume
    assert (patients.loc[patients["posterior_draw"] == 2, "herniation_volume_mm3"] == 400.0).all()
    plain = json.loads((runs["plain"] / "manifest.json").read_text())
    assert plain["posterior"] is None and "posterior_draw" not in _patients(runs["plain"])


def test_spread_free_posterior_keeps_random_effects_and_changes_the_course(runs):
    plain, post = _patients(runs["plain"]), _patients(runs["spread_free"])
    cols = ["patient", "seed", *EFFECTS]
    pd.testing.assert_frame_equal(post[cols], plain[cols], check_exact=True)
    # the draw's parameters reach the simulation: every patient's course differs from its course without them
    tp, tq = (pd.read_parquet(runs[k] / "trajectories.parquet") for k in ("plain", "spread_free"))
    for k in range(N):
        a, b = tp[tp["patient"] == k], tq[tq["patient"] == k]
        assert not np.array_equal(a["pain_vas"].to_numpy(), b["pain_vas"].to_numpy()) or not np.array_equal(
            a["n_m1"].to_numpy(), b["n_m1"].to_numpy()
        ), k
    # more sensitization per day, more pain (same patient, same seed)
    high = post["posterior_draw"] == 1
    assert high.any()
    assert (post.loc[high, "peak_pain_vas"].to_numpy() >= plain.loc[high, "peak_pain_vas"].to_numpy()).all()


def test_patient_k_is_the_same_whatever_n_and_workers(runs, tmp_path):
    few = tmp_path / "few"
    _cohort(
        [runs["scen"], "--posterior", runs["mixed_file"], "--out", few, "-n", 2, "--days", DAYS, "-j", 1, "--no-plot"]
    )
    p4, p2 = _patients(runs["mixed"]), _patients(few)
    pd.testing.assert_frame_equal(p2, p4.iloc[:2].reset_index(drop=True), check_exact=True)
    t4, t2 = (pd.read_parquet(d / "trajectories.parquet") for d in (runs["mixed"], few))
    pd.testing.assert_frame_equal(t2, t4[t4["patient"] < 2].reset_index(drop=True), check_exact=True)


def test_interrupted_cohort_resumes_to_the_identical_result(runs, tmp_path):
    from sim.cohort import run_cohort

    scen = load_scenario(runs["scen"])
    post = PosteriorDraws.load(runs["mixed_file"])
    out = tmp_path / "interrupted"

    def interrupt(outcome, n_finished, n_total):
        if n_finished == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cohort(scen, out, patients=N, days=DAYS, workers=0, posterior=post, progress=interrupt)
    assert len(list((out / "parts").glob("patient-*.parquet"))) == 2 and not (out / "patients.parquet").exists()
    result = run_cohort(scen, out, patients=N, days=DAYS, workers=0, posterior=post)
    assert result.manifest["n_reused"] == 2 and result.manifest["n_computed"] == 2
    for name in ("patients.parquet", "trajectories.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / name), pd.read_parquet(runs["mixed"] / name), check_exact=True
        )
    # and the command itself, after lost parts: only those recomputed, byte-identical tables
    resumed = tmp_path / "resumed"
    shutil.copytree(runs["mixed"], resumed)
    for name in ("parts/patient-000001.parquet", "parts/patient-000003.parquet", "patients.parquet"):
        (resumed / name).unlink()
    _cohort([runs["scen"], "--posterior", runs["mixed_file"], "--out", resumed, *runs["common"]])
    manifest = json.loads((resumed / "manifest.json").read_text())
    assert manifest["n_computed"] == 2 and manifest["n_reused"] == N - 2
    for name in ("patients.parquet", "trajectories.parquet"):
        assert (resumed / name).read_bytes() == (runs["mixed"] / name).read_bytes()


def test_rerun_with_another_or_no_posterior_recomputes_like_a_changed_scenario(runs, tmp_path):
    """Not refused: the patients whose resolved scenario changed are recomputed, and a note says why."""
    target = tmp_path / "changed"
    shutil.copytree(runs["spread_free"], target)
    res = _cohort([runs["scen"], "--posterior", runs["mixed_file"], "--out", target, *runs["common"]])
    assert "now " in res.output and "recomputed" in res.output
    assert json.loads((target / "manifest.json").read_text())["n_computed"] == N
    for name in ("patients.parquet", "trajectories.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(target / name), pd.read_parquet(runs["mixed"] / name), check_exact=True
        )
    res = _cohort([runs["scen"], "--out", target, *runs["common"]])
    assert "now without one" in res.output
    for name in ("patients.parquet", "trajectories.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(target / name), pd.read_parquet(runs["plain"] / name), check_exact=True
        )
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["posterior"] is None and "posterior_draws" not in manifest
