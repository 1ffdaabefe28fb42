"""summary.png of a real (short, coarse) run: every panel drawn and labelled with units, legends off the data."""

from pathlib import Path

import pytest
from figure_checks import (
    assert_every_panel_has_data,
    assert_labelled_with_units,
    assert_legends_outside_panels,
    assert_no_legend_covers_data,
    capture_figures,
    panels,
)

from sim.plots import plot_run
from sim.run import run_one
from sim.scenario import load_scenario, with_overrides

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def short_run():
    scen = load_scenario(ROOT / "scenarios" / "default.toml")
    scen = with_overrides(scen, {"geometry.dx_um": 500.0, "simulation.snapshot_every_days": 0})
    result = run_one(scen, seed=3, days=40, snapshots=False)
    return result.timeseries, {"scenario": result.scenario.model_dump(mode="json"), "seed": result.seed}


def test_summary_legends_cover_no_data_and_axes_carry_units(short_run, tmp_path, monkeypatch):
    figures = capture_figures(monkeypatch)
    ts, manifest = short_run
    plot_run(ts, manifest, tmp_path / "summary.png")
    fig = figures["summary.png"]
    assert_no_legend_covers_data(fig)
    assert_legends_outside_panels(fig)  # wherever the curves of another run may go
    assert_every_panel_has_data(fig)
    axes = panels(fig)
    twins = [
        ax for ax in axes if not ax.get_xlabel() and ax.get_ylabel() and ax.get_shared_x_axes().joined(ax, axes[0])
    ]
    for ax in axes:
        if ax.get_subplotspec().rowspan.start == 1:  # bottom row: the time axis is labelled
            assert ax.get_xlabel() == "days since herniation"
        assert_labelled_with_units(ax, x=False)
    assert len(axes) == 5 and twins  # four panels and the pain panel's compression / sensitization axis
    # every legend entry names something drawn in its panel
    for ax in axes:
        leg = ax.get_legend()
        if leg is not None:
            assert len(leg.get_texts()) >= 3
