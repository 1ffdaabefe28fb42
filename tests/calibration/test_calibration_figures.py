"""The calibration figures as a reader sees them: the Morris plot's limits hold every interval; the ABC
association figure says why it is empty instead of being blank."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_checks import capture_figures, panels
from matplotlib.collections import LineCollection

from sim.calibration.sensitivity import plot_morris

ROOT = Path(__file__).resolve().parents[2]


def test_morris_limits_include_every_error_bar(tmp_path, monkeypatch):
    """On the shipped Morris indices, whose largest μ* interval ran off the right edge."""
    figures = capture_figures(monkeypatch)
    indices = pd.read_csv(ROOT / "calibration" / "sensitivity" / "morris_default.csv")
    plot_morris(indices, tmp_path / "morris.png")
    fig = figures["morris.png"]
    assert len(panels(fig)) == indices["output"].nunique()
    for ax, (_, df) in zip(panels(fig), indices.groupby("output", sort=False), strict=True):
        lo, hi = ax.get_xlim()
        right = (df["mu_star"] + df["mu_star_conf"]).max()
        assert hi >= right > df["mu_star"].max(), "the widest interval reaches past the largest μ*"
        bars = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
        xs = np.concatenate([np.asarray(seg)[:, 0] for seg in bars])
        assert lo <= xs.min() and xs.max() <= hi, "an error bar is cut by the axes"
        assert ax.get_ylim()[1] >= df["sigma"].max()


@pytest.mark.parametrize("patients", [2, 3])
def test_abc_association_figure_says_why_nothing_was_simulated(tmp_path, monkeypatch, patients):
    """A run of 20 days is shorter than every sample day (42-84). With 2 patients nothing is simulated and the
    figure says why; with 3 the samples are taken on day 20, and the figure says that."""
    pytest.importorskip("pyabc")
    from sim.calibration.abc import AbcSettings, run_abc
    from sim.scenario import Scenario, with_overrides

    figures = capture_figures(monkeypatch)
    scen = with_overrides(Scenario(name="coarse"), {"geometry.dx_um": 500.0})
    params = ["parameters.pain.compression_weight", "parameters.pain.resolution_per_day"]
    settings = AbcSettings(params=params, patients=patients, days=20, population_size=3, populations=1, seed=1)
    run_abc(scen, tmp_path / "abc", settings)
    fig = figures["fig_associations.png"]
    (ax,) = panels(fig)
    texts = " ".join(t.get_text() for t in ax.texts)
    simulated = np.isfinite(ax.lines[0].get_xdata().astype(float))
    if patients >= 3:
        assert simulated.any() and "samples due after day 20 taken on that day" in ax.get_title()
        assert "no value" in texts or simulated.all()  # a constant readout has no ρ: marked per row
    else:
        assert not simulated.any()
        assert "not simulated" in texts and "run shorter than sample day 84" in texts and "Spearman ρ needs 3" in texts
    assert ax.get_xlabel().startswith("Spearman ρ")
    assert "![associations](fig_associations.png)" in (tmp_path / "abc" / "report.md").read_text()
