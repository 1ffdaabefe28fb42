"""SALib wiring: known indices on an analytic function, and a tiny real Morris run end-to-end."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.calibration.sensitivity import OUTPUTS, analyze, make_design, make_problem, plot_morris, plot_sobol
from sim.calibration.targets import parameter_prior

PARAMS = ["parameters.pain.compression_weight", "parameters.tissue.mmp_half_max_pg_ml"]


def _analytic(method, n):
    priors = [parameter_prior(p) for p in PARAMS]
    problem = make_problem(priors)
    X = make_design(problem, method, n, seed=1)
    # output 1 depends only on the first input; output 2 only on the second (in its sampling scale)
    x0 = (X[:, 0] - priors[0].bounds[0]) / np.ptp(priors[0].bounds)
    x1 = (X[:, 1] - priors[1].bounds[0]) / np.ptp(priors[1].bounds)
    outputs = pd.DataFrame({"point": np.arange(len(X)), list(OUTPUTS)[0]: 10 * x0, list(OUTPUTS)[1]: x1})
    return problem, X, outputs


def test_morris_and_sobol_known_indices(tmp_path):
    problem, X, outputs = _analytic("morris", 6)
    idx, notes = analyze(problem, "morris", X, outputs, seed=1)
    first = idx[idx["output"] == list(OUTPUTS)[0]].set_index("parameter")
    assert first.loc[PARAMS[0], "mu_star"] > 1 and first.loc[PARAMS[1], "mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert not notes
    assert plot_morris(idx, tmp_path / "m.png").stat().st_size > 0
    problem, X, outputs = _analytic("sobol", 64)
    idx, _ = analyze(problem, "sobol", X, outputs, seed=1)
    second = idx[idx["output"] == list(OUTPUTS)[1]].set_index("parameter")
    assert second.loc[PARAMS[1], "S1"] == pytest.approx(1.0, abs=0.1)
    assert abs(second.loc[PARAMS[0], "ST"]) < 0.05
    assert plot_sobol(idx, tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ValueError, match="power of 2"):
        make_design(problem, "sobol", 6, seed=0)


def test_morris_end_to_end_cli(tmp_path):
    from sim.cli import app

    scen = tmp_path / "coarse.toml"
    scen.write_text('name = "coarse"\n[geometry]\ndx_um = 500\n')
    out = tmp_path / "sa"
    args = [
        "sensitivity",
        str(scen),
        "--method",
        "morris",
        "--params",
        ",".join(PARAMS),
        "--n",
        "2",
        "--patients-per-point",
        "1",
        "--days",
        "20",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    idx = pd.read_csv(out / "indices.csv")
    assert set(idx["parameter"]) == set(PARAMS) and set(idx["output"]) == set(OUTPUTS)
    assert (out / "morris.png").stat().st_size > 0 and (out / "design.parquet").is_file()
    assert "day 20" in res.output  # outputs evaluated at the last day, said so
    # resumable: a rerun reuses every part
    parts = sorted((out / "parts").glob("*.parquet"))
    mtimes = [p.stat().st_mtime_ns for p in parts]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert [p.stat().st_mtime_ns for p in parts] == mtimes


def test_sensitivity_bad_inputs_exit_2(tmp_path):
    from sim.cli import app

    scen = tmp_path / "s.toml"
    scen.write_text('name = "s"\n')
    r = CliRunner()
    assert r.invoke(app, ["sensitivity", str(scen), "--out", str(tmp_path / "o"), "--method", "fast"]).exit_code == 2
    assert (
        r.invoke(app, ["sensitivity", str(scen), "--out", str(tmp_path / "o"), "--params", "parameters.nope"]).exit_code
        == 2
    )
    assert (
        r.invoke(
            app, ["sensitivity", str(scen), "--out", str(tmp_path / "o"), "--method", "sobol", "--n", "6"]
        ).exit_code
        == 2
    )
    assert r.invoke(app, ["sensitivity", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]).exit_code == 2


def test_morris_labels_sit_on_no_other_point_and_no_other_label():
    """The volume panel of the shipped Morris run: two points at the same σ, the right one's right-aligned label
    spanning the left one. No label box may cover another point or overlap another label."""
    from sim.calibration.sensitivity import _place_labels

    xs, ys = [0.458, 0.274, 0.165, 0.097, 0.054], [0.456, 0.457, 0.229, 0.146, 0.104]
    labels = [
        "recruitment.monocyte_influx_per_site_per_day",
        "tissue.mmp_degradation_per_day",
        "lifespan.m2_days",
        "polarization.m1_to_m2_per_day",
        "phagocytosis.volume_um3_per_h",
    ]
    lim = 0.527
    out = _place_labels(xs, ys, labels, lim)
    char_w, text_h = 0.012 * lim, 0.03 * lim
    boxes = []
    for (x, y), (tx, ty), lab in out:
        right = x > 0.55 * lim
        x0, x1 = (tx - char_w * len(lab), tx) if right else (tx, tx + char_w * len(lab))
        boxes.append((x0, x1, ty, ty + text_h, (x, y)))
    for x0, x1, y0, y1, own in boxes:
        for px, py in zip(xs, ys):
            if (px, py) != own:
                assert not (x0 <= px <= x1 and y0 - 0.01 * lim <= py <= y1), (own, (px, py))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]), (a[4], b[4])
