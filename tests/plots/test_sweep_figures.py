"""sweep_courses / sweep_outcomes / sweep_map on a synthetic factorial sweep shaped like
scenarios/sweep_example.toml (4 IL-10 gains x 2 types, 3 replicates, 60 days) in which the gain changes pain
only: volume and macrophage curves of the four gains coincide exactly, as they do in the real sweep."""

import json

import numpy as np
import pandas as pd
import pytest
from figure_checks import (
    assert_every_panel_has_data,
    assert_labelled_with_units,
    assert_legends_outside_panels,
    assert_no_legend_covers_data,
    capture_figures,
    panels,
)

from sim.cohort.summaries import group_statistics, outcome_columns, run_outcomes
from sim.plots import plot_output_dir

GAIN = "parameters.pain.il10_resolution_gain"
TYPE = "patient.herniation_type"
GAINS = [0.0, 2.0, 4.0, 8.0]
TYPES = ["protrusion", "sequestration"]
DAYS = np.arange(61.0)


def write_sweep(directory, replicates=3):
    points = [{GAIN: g, TYPE: t} for g in GAINS for t in TYPES]
    runs, rows = [], []
    for i, p in enumerate(points):
        seq = p[TYPE] == "sequestration"
        for r in range(replicates):
            noise = np.random.default_rng(100 * r + seq).normal(0, 2, DAYS.size)  # common random numbers
            ts = pd.DataFrame(
                {
                    "day": DAYS,
                    "pain_vas": np.clip(95 * np.exp(-DAYS / (40 - 2 * p[GAIN] - 10 * seq)) + noise, 0, 100),
                    "volume_fraction": 1 - (0.45 if seq else 0.2) * (1 - np.exp(-DAYS / 40)),
                    "n_m1": np.round((50 if seq else 5) * (1 - np.exp(-DAYS / 5)) + noise),
                    "n_m2": np.round((250 if seq else 15) * (1 - np.exp(-DAYS / 10)) + noise),
                    "cd68_per_cm2": np.full(DAYS.size, 10.0),
                }
            )
            runs.append(ts.assign(point=i, replicate=r))
            rows.append({"point": i, "replicate": r, "seed": r, **p, "status": "ok", "error": "", **run_outcomes(ts)})
    outcomes = pd.DataFrame(rows)
    stats = group_statistics(outcomes, ["point"], outcome_columns())
    pts = pd.DataFrame([{"point": i, **p} for i, p in enumerate(points)]).merge(stats, on="point")
    directory.mkdir(parents=True)
    pd.concat(runs, ignore_index=True).to_parquet(directory / "runs.parquet")
    outcomes.to_parquet(directory / "outcomes.parquet")
    pts.to_parquet(directory / "points.parquet")
    manifest = {
        "kind": "sweep",
        "name": "synthetic_sweep",
        "parameters": [GAIN, TYPE],
        "method": "factorial",
        "run_unit": "replicate",
        "runs_per_point": replicates,
        "n_points": len(points),
        "sweep": {"design": {"method": "factorial", "parameters": {GAIN: GAINS, TYPE: TYPES}}},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def sweep_figures(tmp_path, monkeypatch):
    figures = capture_figures(monkeypatch)
    plot_output_dir(write_sweep(tmp_path / "sweep"))
    return figures


def test_sweep_courses_colour_for_one_factor_line_style_for_the_other(sweep_figures):
    fig = sweep_figures["sweep_courses.png"]
    assert_every_panel_has_data(fig)
    points = [(g, t) for g in GAINS for t in TYPES]  # drawn in point order
    for ax in panels(fig):
        lines = dict(zip(points, ax.lines, strict=True))
        # colour says the gain, line style the type: the same in every panel, so coinciding curves read as "no effect"
        colours = {g: {str(lines[g, t].get_color()) for t in TYPES} for g in GAINS}
        styles = {t: {lines[g, t].get_linestyle() for g in GAINS} for t in TYPES}
        assert all(len(c) == 1 for c in colours.values()) and len(set.union(*colours.values())) == len(GAINS)
        assert all(len(s) == 1 for s in styles.values()) and len(set.union(*styles.values())) == len(TYPES)
        for t in TYPES:  # later gains thinner and on top: exactly coinciding curves stay visible, nested
            widths = [lines[g, t].get_linewidth() for g in GAINS]
            order = [lines[g, t].get_zorder() for g in GAINS]
            assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(GAINS)
            assert order == sorted(order) and len(set(order)) == len(GAINS)
        assert_labelled_with_units(ax, x=ax.get_subplotspec().rowspan.start == 1)
    # one legend: a colour per gain, a line style per type (6 entries + 2 headings), not 8 point entries
    (legend,) = fig.legends
    texts = [t.get_text().strip() for t in legend.get_texts()]
    assert len(texts) == len(GAINS) + len(TYPES) + 2
    assert {"0", "2", "4", "8", "protrusion", "sequestration"} <= set(texts)
    # where curves coincide exactly the panel says so; where they do not, it does not
    titles = {ax.get_title().split("\n")[0]: ax.get_title() for ax in panels(fig)}
    assert "coincide" not in titles["Pain"]
    assert "il10_resolution_gain levels coincide" in titles["Resorption"]
    assert_no_legend_covers_data(fig)
    assert_legends_outside_panels(fig)


def test_sweep_outcomes_pain_and_volume_on_the_same_day(sweep_figures):
    fig = sweep_figures["sweep_outcomes.png"]
    assert_every_panel_has_data(fig)
    ylabels = {ax.get_ylabel() for ax in panels(fig)}
    assert ylabels == {"leg pain at day 60 (VAS 0-100)", "herniation volume at day 60 (% of onset)"}
    assert "day 60, the last simulated day" in fig.get_suptitle()
    for ax in panels(fig):
        assert_labelled_with_units(ax, x=ax.get_xlabel() != TYPE)  # a categorical axis has no unit
    assert_no_legend_covers_data(fig)
    assert_legends_outside_panels(fig)
    m = sweep_figures["sweep_map.png"]
    assert [ax.get_title() for ax in panels(m)] == [f"mean {label}" for label in sorted(ylabels, reverse=True)]
