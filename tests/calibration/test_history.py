"""History matching and the emulator posterior on a problem whose answer is known in closed form.

Simulator: two statistics y_j = u_j + ε, ε ~ N(0, 0.02²), on the unit square; targets y_j = 0.5 with scale 0.1
and no model discrepancy. The posterior of u_j is then N(0.5, 0.1²) truncated to [0, 1] (mean 0.5, SD 0.0999), and
the non-implausible region of cutoff 3 is |u_j − 0.5| < 0.3 up to the emulator's uncertainty.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration import history as hm

pytest.importorskip("pyabc")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, **kw) -> hm.HistoryConfig:
    params = [hm.Parameter("a.x", 0.0, 1.0), hm.Parameter("a.y", 10.0, 1000.0, "log10")]
    cfg = hm.HistoryConfig(
        path=tmp_path / "p.toml",
        scenario=tmp_path / "s.toml",
        out=tmp_path / "out",
        parameters=params,
        fit=["t"],
        check=[],
        discrepancy=0.0,
        order=1,
        population=400,
        max_populations=12,
        posterior_seed=7,
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def _spec() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stat_key": ["y0", "y1"],
            "target_id": ["t", "t"],
            "value": [0.5, 0.5],
            "lo": [0.45, 0.45],
            "hi": [0.55, 0.55],
            "scale": [0.1, 0.1],
            "kind": ["value", "value"],
        }
    )


def _simulate(u: np.ndarray, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"y0": u[:, 0] + 0.02 * rng.standard_normal(len(u)), "y1": u[:, 1] + 0.02 * rng.standard_normal(len(u))}
    )


@pytest.fixture(scope="module")
def emulated():
    u = hm._sobol(2, 48, seed=3)
    return u, hm.fit_emulators(u, _simulate(u), seed=0)


def test_parameter_unit_scale_round_trip():
    p = hm.Parameter("a.y", 10.0, 1000.0, "log10")
    assert p.from_unit(0.5) == pytest.approx(100.0)
    assert p.to_unit(p.from_unit(0.3)) == pytest.approx(0.3)
    q = hm.Parameter("a.x", 2.0, 4.0)
    assert q.from_unit(0.25) == pytest.approx(2.5)


def test_emulator_recovers_the_function_and_its_noise(emulated):
    u, emu = emulated
    diag = emu.diagnostics.set_index("stat_key")
    assert (diag["r2_heldout"] > 0.98).all()
    assert (diag["within_3sd"] >= 0.9).all()
    # the white-noise term estimates the simulator's sampling noise (0.02), not the latent uncertainty
    assert diag["noise_sd"].between(0.01, 0.04).all()
    grid = np.array([[0.2, 0.7], [0.5, 0.5], [0.9, 0.1]])
    mean, sd = emu.predict(grid)
    assert np.abs(mean - grid).max() < 0.03
    assert (sd < 0.02).all()


def test_residuals_of_value_and_interval_targets():
    spec = pd.DataFrame(
        {"value": [1.0, 1.0], "lo": [0.1, 0.1], "hi": [1.0, 1.0], "scale": [0.2, 0.2], "kind": ["value", "interval"]}
    )
    r = hm.residuals(np.array([[0.5, 0.5], [0.0, 0.0]]), spec)
    assert r[0].tolist() == pytest.approx([-0.5, 0.0])  # inside the interval: no residual
    assert r[1].tolist() == pytest.approx([-1.0, 0.1])  # below it: its distance to the bound


def test_non_implausible_region_is_the_analytic_one(tmp_path, emulated):
    _, emu = emulated
    cfg = _config(tmp_path)
    grid = np.array([[x, 0.5] for x in np.linspace(0.0, 1.0, 101)])
    keep = hm.non_implausible(emu, _spec(), grid, cfg)
    inside = grid[keep, 0]
    assert inside.min() == pytest.approx(0.2, abs=0.03) and inside.max() == pytest.approx(0.8, abs=0.03)


def test_posterior_matches_the_closed_form(tmp_path, emulated):
    _, emu = emulated
    cfg = _config(tmp_path)
    res = hm.fit_posterior(cfg, emu, _spec(), tmp_path / "abc.db")
    w = res.particles["weight"].to_numpy()
    for path in ("a.x", "a.y"):
        u = res.particles[f"u.{path}"].to_numpy()
        mean = float(np.sum(w * u))
        sd = math.sqrt(float(np.sum(w * (u - mean) ** 2)))
        # N(0.5, 0.1²) convolved with the emulator's own small uncertainty
        assert mean == pytest.approx(0.5, abs=0.03)
        assert sd == pytest.approx(0.1, rel=0.25)
    assert res.temperatures[-1] == pytest.approx(1.0)
    # the tempering keeps about target_ess of the particles effective: no population collapses
    assert len(res.ess) == len(res.temperatures) and min(res.ess) > 0.3 * len(res.particles)
    summary = res.summary.set_index("parameter")
    assert summary.loc["a.y", "median"] == pytest.approx(100.0, rel=0.2)  # log10 scale: 10^(1 + 2·0.5)
    assert summary["informed"].all() and (summary["at_bound"] == "").all()
    assert list(res.draws.columns) == ["draw", "a.x", "a.y"] and len(res.draws) == len(res.particles)


def test_a_posterior_pressed_against_a_bound_is_flagged(tmp_path, emulated):
    _, emu = emulated
    spec = _spec().assign(value=[0.0, 0.5], lo=[0.0, 0.45], hi=[0.0, 0.55])
    res = hm.fit_posterior(_config(tmp_path, population=200), emu, spec, tmp_path / "abc.db")
    flags = res.summary.set_index("parameter")["at_bound"]
    assert flags["a.x"] == "low" and flags["a.y"] == ""


def test_shipped_declaration_loads_and_splits_targets():
    cfg = hm.load_config(ROOT / "calibration" / "posterior.toml")
    assert 10 <= len(cfg.parameters) <= 20
    assert any(p.is_cohort for p in cfg.parameters)
    assert not set(cfg.fit) & set(cfg.check)
    spec = hm.fit_spec(cfg)
    assert set(spec["target_id"]) <= set(cfg.fit)
    # trial visits beyond the budget's horizon are not fitted (they are predictions)
    assert "sciatica_trial_leg_vas_itt[week 104]" not in set(spec["stat_key"])
    assert "sciatica_trial_leg_vas_itt[week 0]" in set(spec["stat_key"])


def test_wave_one_design_is_a_balanced_sobol_prefix():
    cfg = hm.load_config(ROOT / "calibration" / "posterior.toml")
    d = hm.wave_design(cfg, 1)
    assert len(d) == cfg.wave_points[0]
    u = d[[f"u.{p}" for p in cfg.names]].to_numpy()
    # each 2^k prefix puts equally many points in each half of every coordinate
    for n in (16, 32, 64):
        assert ((u[:n] < 0.5).sum(axis=0) == n // 2).all()
    for p in cfg.parameters:
        assert d[p.path].between(p.lo, p.hi).all()
    assert hm.wave_design(cfg, 1).equals(d)  # deterministic


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "scenario: missing"),
        ('scenario = "s.toml"\nout = "o"\n[[parameter]]\npath = "parameters.nope.x"\n', "not a calibrated parameter"),
        (
            'scenario = "s.toml"\nout = "o"\n[[parameter]]\npath = "cohort.patient.x.gsd"\nlow = 1\nhigh = 2\n',
            "needs a `reason`",
        ),
        (
            'scenario = "s.toml"\nout = "o"\n[[parameter]]\npath = "cohort.patient.x.gsd"\nlow = 2\nhigh = 1\nreason = "r"\n',
            "high must exceed low",
        ),
        (
            'scenario = "s.toml"\nout = "o"\n[targets]\nfit = ["nope"]\n[[parameter]]\npath = "parameters.pain.resolution_per_day"\n',
            "'nope' is not a target",
        ),
        (
            'scenario = "s.toml"\nout = "o"\n[budget]\npatients = -3\n[targets]\nfit = ["regression_prob_bulging"]\n[[parameter]]\npath = "parameters.pain.resolution_per_day"\n',
            "budget.patients",
        ),
        ("scenario = [", "not valid TOML"),
    ],
)
def test_bad_declarations_name_the_problem(tmp_path, text, message):
    (tmp_path / "s.toml").write_text("")
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(hm.HistoryError, match=message.replace("(", r"\(").replace("[", r"\[")):
        hm.load_config(f)


def _tiny_declaration(tmp_path: Path) -> Path:
    text = (ROOT / "calibration" / "posterior.toml").read_text(encoding="utf-8")
    text = text.replace(
        'scenario = "../scenarios/cohort_default.toml"', f'scenario = "{ROOT / "scenarios" / "cohort_default.toml"}"'
    )
    text = text.replace('out = "posterior"', 'out = "out"').replace("patients = 60", "patients = 8")
    text = re.sub(r"(?m)^days = .*$", "days = 12", text)
    text = re.sub(r"(?m)^wave_points = .*$", "wave_points = [8, 8]", text)
    text = re.sub(r"(?m)^wave_days = .*$", "wave_days = [12, 12]", text)
    f = tmp_path / "posterior.toml"
    f.write_text(text, encoding="utf-8")
    return f


def test_cli_runs_a_wave_point_resumes_and_refuses_a_changed_declaration(tmp_path):
    from typer.testing import CliRunner

    from sim.cli import app

    f = _tiny_declaration(tmp_path)
    runner = CliRunner()
    args = ["posterior", str(f), "--points", "1", "--parts", str(tmp_path / "parts")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    pts = pd.read_csv(tmp_path / "out" / "wave-01" / "points.csv")
    assert pts["point"].tolist() == [0] and pts["failed_patients"].tolist() == [0]
    assert np.isfinite(pts["cd68_density_category_fractions[mild_0_10_per_cm2]"]).all()
    cfg = hm.load_config(f)
    row = pts.iloc[0]
    for p in cfg.parameters:  # the stored values are the design's
        assert row[p.path] == pytest.approx(float(p.from_unit(row[f"u.{p.path}"])))
    # resume: the next point is appended, the first is kept as it was
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    again = pd.read_csv(tmp_path / "out" / "wave-01" / "points.csv")
    assert again["point"].tolist() == [0, 1]
    pd.testing.assert_frame_equal(again.iloc[:1], pts, check_dtype=False)
    budget = json.loads((tmp_path / "out" / "wave-01" / "budget.json").read_text())
    assert budget["points"] == 2 and len(budget["sessions"]) == 2
    # a changed declaration is another calibration: refused, nothing appended
    f.write_text(f.read_text().replace("cutoff = 3.0", "cutoff = 2.5"))
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "other declared settings" in r.output
    assert len(pd.read_csv(tmp_path / "out" / "wave-01" / "points.csv")) == 2
    # so is another size of a simulated wave; a wave appended to the declaration is not (wave 1 resumes)
    f.write_text(
        f.read_text().replace("cutoff = 2.5", "cutoff = 3.0").replace("wave_points = [8, 8]", "wave_points = [9, 8]")
    )
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "other declared settings" in r.output
    text = f.read_text().replace("wave_points = [9, 8]", "wave_points = [8, 8, 8]")
    f.write_text(text.replace("wave_days = [12, 12]", "wave_days = [12, 12, 12]"))
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "out" / "wave-01" / "points.csv")["point"].tolist() == [0, 1, 2]
    # too few points to emulate: a clear message, exit 2
    r = runner.invoke(app, ["posterior", str(f), "--fit"])
    assert r.exit_code == 2 and "fewer than 8 finished points" in r.output


def test_model_hash_covers_the_model_and_not_the_analysis(tmp_path):
    import shutil

    src = tmp_path / "sim"
    shutil.copytree(ROOT / "sim", src, ignore=shutil.ignore_patterns("__pycache__"))
    h = hm.model_hash(src)
    (src / "calibration" / "extra.py").write_text("x = 1\n")
    (src / "cohort" / "cohort.py").write_text((src / "cohort" / "cohort.py").read_text() + "\n# note\n")
    assert hm.model_hash(src) == h
    (src / "model" / "kernels.py").write_text((src / "model" / "kernels.py").read_text() + "\n# note\n")
    assert hm.model_hash(src) != h


class _Linear:
    """A stand-in emulator whose latent mean is y = Σ a_i u_i (independent uniform inputs): S1_i = ST_i =
    a_i² w_i² / Σ_j a_j² w_j² on a box of widths w."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=float)
        self.keys = ["y"]

    def predict_mean(self, u):
        return (np.atleast_2d(u) @ self.a)[:, None]


def test_emulator_sobol_recovers_the_analytic_indices_on_the_box(tmp_path):
    cfg = _config(tmp_path)
    box = pd.DataFrame({"unit_low": [0.0, 0.25], "unit_high": [1.0, 0.75]})  # second parameter: half the width
    res = hm.emulator_sobol(cfg, _Linear([1.0, 2.0]), box, n=4096, seed=1)
    s = res.indices.set_index("parameter")
    # a1² w1² = 1, a2² w2² = 4 · 0.25 = 1: equal shares
    assert s.loc["a.x", "S1"] == pytest.approx(0.5, abs=0.03) and s.loc["a.y", "S1"] == pytest.approx(0.5, abs=0.03)
    assert s["ST"].to_numpy() == pytest.approx([0.5, 0.5], abs=0.03)
    assert res.converged["converged"].all() and res.n == 4096
    # on the whole prior the second parameter carries 4/5 of the variance
    whole = hm.emulator_sobol(cfg, _Linear([1.0, 2.0]), hm.posterior_box(cfg, None), n=4096, seed=1)
    assert whole.indices.set_index("parameter").loc["a.y", "S1"] == pytest.approx(0.8, abs=0.03)


def test_sobol_convergence_needs_narrow_intervals_and_s1_below_st():
    ok = pd.DataFrame(
        {"output": "y", "S1": [0.5, 0.1], "S1_conf": [0.01, 0.01], "ST": [0.5, 0.12], "ST_conf": [0.01] * 2}
    )
    assert hm.sobol_convergence(ok)["converged"].all()
    wide = ok.assign(ST_conf=[0.06, 0.01])  # a 95 % interval 0.12 wide
    assert not hm.sobol_convergence(wide)["converged"].any()
    crossed = ok.assign(S1=[0.5, 0.2])  # S1 above ST beyond both intervals
    c = hm.sobol_convergence(crossed)
    assert not c["s1_le_st"].any() and not c["converged"].any()


def test_emulator_sobol_doubles_n_until_converged(tmp_path):
    cfg = _config(tmp_path)
    res = hm.emulator_sobol(cfg, _Linear([1.0, 0.3]), hm.posterior_box(cfg, None), n=16, max_n=4096, seed=2)
    assert res.converged["converged"].all() and 16 < res.n <= 4096
    assert res.evaluations == sum(16 * 2**k * 4 for k in range(int(math.log2(res.n / 16)) + 1))


def test_posterior_box_is_the_weighted_central_interval(tmp_path):
    cfg = _config(tmp_path)
    u = np.linspace(0.0, 1.0, 1001)
    particles = pd.DataFrame({"u.a.x": u, "u.a.y": u, "weight": np.where(u < 0.5, 1.0, 0.0)})
    box = hm.posterior_box(cfg, particles).set_index("parameter")
    assert box.loc["a.x", "unit_low"] == pytest.approx(0.0125, abs=2e-3)
    assert box.loc["a.x", "unit_high"] == pytest.approx(0.4875, abs=2e-3)
    assert box.loc["a.y", "high"] == pytest.approx(10 ** (1 + 2 * box.loc["a.y", "unit_high"]))
    prior = hm.posterior_box(cfg, None)
    assert prior["unit_low"].tolist() == [0.0, 0.0] and prior["unit_high"].tolist() == [1.0, 1.0]
    assert prior["low"].tolist() == [0.0, 10.0] and prior["high"].tolist() == pytest.approx([1.0, 1000.0])


def test_batched_prediction_is_scikit_learns(emulated):
    _, emu = emulated
    x = np.random.default_rng(5).random((300, 2))
    mean, sd = emu.predict(x)
    for j, k in enumerate(emu.keys):
        m, s = emu.models[k].predict(x, return_std=True)
        np.testing.assert_allclose(mean[:, j], m, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sd[:, j], np.sqrt(np.maximum(s**2 - emu.noise_sd[k] ** 2, 1e-12)), rtol=1e-8)
        np.testing.assert_allclose(emu.predict_mean(x)[:, j], m, rtol=1e-10, atol=1e-12)


def test_point_file_holds_the_posterior_medians_and_flags(tmp_path):
    from sim.calibration.abc import read_calibrated

    cfg = _config(tmp_path)
    rng = np.random.default_rng(5)
    # a.x concentrated near its low bound, a.y spread over the whole prior (uninformed)
    u = np.column_stack([rng.uniform(0.0, 0.05, 2000), rng.uniform(0.0, 1.0, 2000)])
    particles = hm.design_frame(cfg, u, 0).drop(columns=["wave", "point"]).assign(weight=1.0 / len(u))
    summary = hm.posterior_summary(cfg, particles)
    path = hm.write_point(cfg, summary, tmp_path / "point.toml", budget={"waves": [1], "points": 8})
    values = read_calibrated(path)
    med = summary.set_index("parameter")["median"]
    assert set(values) == {"a.x", "a.y"}
    for k, v in values.items():
        assert v == pytest.approx(med[k], rel=1e-3)
    text = path.read_text(encoding="utf-8")
    line_x = next(ln for ln in text.splitlines() if ln.startswith("a.x"))
    line_y = next(ln for ln in text.splitlines() if ln.startswith("a.y"))
    assert "at_bound low" in line_x and "uninformed" not in line_x
    assert "uninformed" in line_y and "at_bound" not in line_y


def test_mcmc_posterior_matches_the_closed_form(tmp_path, emulated):
    _, emu = emulated
    cfg = _config(tmp_path, population=1000)
    res = hm.fit_posterior_mcmc(cfg, emu, _spec(), chunk=500)
    g = res.diagnostics
    assert res.sampler == "mcmc" and g["converged"] and g["chain_taus"] >= hm.CHAIN_TAUS
    assert 0.05 < g["acceptance_fraction"] < 0.9 and g["effective_samples"] > 500
    w = res.particles["weight"].to_numpy()
    assert len(res.particles) == 1000 and np.allclose(w, 1e-3)
    for path in ("a.x", "a.y"):
        u = res.particles[f"u.{path}"].to_numpy()
        assert u.mean() == pytest.approx(0.5, abs=0.03)
        assert u.std() == pytest.approx(0.1, rel=0.2)  # N(0.5, 0.1²) widened by the emulator's own small SD
    assert res.summary.set_index("parameter").loc["a.y", "median"] == pytest.approx(100.0, rel=0.2)
    assert list(res.draws.columns) == ["draw", "a.x", "a.y"]
    # deterministic by the declared posterior seed
    again = hm.fit_posterior_mcmc(cfg, emu, _spec(), chunk=500)
    pd.testing.assert_frame_equal(res.draws, again.draws)


def test_mcmc_samples_a_posterior_pressed_against_a_bound(tmp_path, emulated):
    """Target y0 = 0 (scale 0.1): the posterior of u0 is N(0, 0.1²) truncated to [0, 1], a half-normal with mean
    0.1·√(2/π) = 0.0798 and SD 0.1·√(1 − 2/π) = 0.0603, its mode on the cube's face. The walkers move in logit
    coordinates, where that face is a tail, so the mass next to the bound is sampled and not cut off."""
    _, emu = emulated
    spec = _spec().assign(value=[0.0, 0.5], lo=[0.0, 0.45], hi=[0.0, 0.55])
    res = hm.fit_posterior_mcmc(_config(tmp_path, population=1000), emu, spec, chunk=500)
    assert res.diagnostics["converged"] and res.diagnostics["coordinates"] == "logit of the unit cube"
    u = res.particles["u.a.x"].to_numpy()
    assert u.min() > 0.0 and u.mean() == pytest.approx(0.1 * math.sqrt(2 / math.pi), abs=0.015)
    assert u.std() == pytest.approx(0.1 * math.sqrt(1 - 2 / math.pi), rel=0.25)
    assert np.mean(u < 0.0603) == pytest.approx(0.45, abs=0.07)  # P(|N(0, 0.1²)| < 0.0603) = 0.453
    assert res.summary.set_index("parameter").loc["a.x", "at_bound"] == "low"


def test_logit_density_is_the_cube_posterior_times_the_jacobian(emulated):
    _, emu = emulated
    like = hm.EmulatorLikelihood(emu, _spec(), discrepancy=0.5)
    dens = hm.UnitLogitDensity(like)
    u = np.array([[0.5, 0.5], [0.3, 0.6], [1e-9, 0.5]])
    z = hm.UnitLogitDensity.to_z(u)
    assert np.allclose(hm.UnitLogitDensity.to_u(z), u)
    expected = like(u) + np.sum(np.log(u) + np.log1p(-u), axis=1)
    assert np.allclose(dens(z), expected)
    # far out in z the density stays finite (the cube's face, not outside the support)
    assert np.isfinite(dens(np.array([[-60.0, 0.0], [60.0, 0.0]]))).all()


def test_emulator_likelihood_is_the_gaussian_of_the_abc_kernel(emulated):
    _, emu = emulated
    like = hm.EmulatorLikelihood(emu, _spec(), discrepancy=0.5)
    u = np.array([[0.5, 0.5], [0.3, 0.6], [1.2, 0.5], [-0.1, 0.2]])
    mean, sd = emu.predict(u[:2])
    var = sd**2 + 0.1**2 * 1.25
    expected = -0.5 * np.sum((mean - 0.5) ** 2 / var + np.log(var), axis=1)
    out = like(u)
    assert np.allclose(out[:2], expected) and np.isneginf(out[2:]).all()  # outside the prior's support


def test_pairs_plot_key_gives_weighted_medians_in_units_and_the_plot_is_written(tmp_path):
    cfg = _config(tmp_path)
    # a.x uniform on the unit scale; a.y's unit coordinate weighted towards 0.75 only through the weights
    u = np.column_stack([np.linspace(0.0, 1.0, 401), np.linspace(0.0, 1.0, 401)])
    weight = np.where(u[:, 1] > 0.5, 3.0, 1.0)
    particles = hm.design_frame(cfg, u, 0).drop(columns=["wave", "point"]).assign(weight=weight / weight.sum())
    key = hm.pairs_key(cfg, particles)
    assert [line.split()[:2] for line in key] == [["1", "x:"], ["2", "y:"]]
    med_y = float(cfg.parameters[1].from_unit(2.0 / 3.0))  # weighted median of u_y: 1/4 of the mass below 0.5
    assert float(key[1].split()[2]) == pytest.approx(med_y, rel=0.02)
    out = hm.pairs_plot(cfg, particles, tmp_path / "pairs.png")
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[0] == img.shape[1] >= 600  # square, and large enough for its key at any number of parameters


def test_holdout_check_passes_a_right_emulator_and_catches_a_biased_one(emulated):
    _, emu = emulated
    u = np.random.default_rng(11).random((200, 2))
    good = hm.holdout_check(emu, u, _simulate(u, seed=12)).set_index("stat_key")
    assert (good["r2"] > 0.9).all() and (good["within_3sd"] > 0.9).all()
    assert good["mean_error"].abs().max() < 0.02 and (good["points"] == 200).all()
    shifted = _simulate(u, seed=12).assign(y1=lambda f: f["y1"] + 0.3)  # a statistic the emulator gets wrong
    bad = hm.holdout_check(emu, u, shifted).set_index("stat_key")
    assert bad.loc["y1", "within_3sd"] < 0.2 and bad.loc["y1", "mean_error"] == pytest.approx(0.3, abs=0.02)
    assert bad.loc["y0", "within_3sd"] > 0.9
