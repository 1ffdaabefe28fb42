"""cohort_pain / cohort_course / cohort_sample on a synthetic cohort directory with groups of 12, 7, 2, 2 and 1
patients: what a reader relies on (ticks under every column, no bands for tiny groups, legends off the data,
honest axis labels), not file sizes."""

import json

import numpy as np
import pandas as pd
import pytest
from figure_checks import (
    assert_bottom_panels_have_x_ticks,
    assert_every_panel_has_data,
    assert_labelled_with_units,
    assert_legends_outside_panels,
    assert_no_legend_covers_data,
    capture_figures,
    panels,
)
from matplotlib.collections import PolyCollection

from sim.plots import plot_output_dir
from sim.plots.cohort import MIN_BAND_N

TYPES = {"protrusion": 7, "bulging": 2, "subligamentous_extrusion": 2, "sequestration": 1}
DAYS = np.arange(101.0)


def write_cohort(directory, types=TYPES, seed=0):
    rng = np.random.default_rng(seed)
    patients, traj = [], []
    k = 0
    for htype, n in types.items():
        for _ in range(n):
            tau = rng.uniform(15, 60)
            pain = np.clip(95 * np.exp(-DAYS / tau) + rng.normal(0, 3, DAYS.size), 0, 100)
            pain[0] = 10.0
            vol = 1 - rng.uniform(0.1, 0.5) * (1 - np.exp(-DAYS / 50))
            m1 = rng.poisson(20 * np.exp(-DAYS / 30))
            m2 = rng.poisson(60 * (1 - np.exp(-DAYS / 15)))
            traj.append(
                pd.DataFrame(
                    {"patient": k, "day": DAYS, "pain_vas": pain, "volume_fraction": vol, "n_m1": m1, "n_m2": m2}
                )
            )
            sample_day = int(rng.integers(42, 85))
            patients.append(
                {
                    "patient": k,
                    "seed": k,
                    "status": "ok",
                    "error": "",
                    "herniation_type": htype,
                    "sample_day": sample_day,
                    "pain_vas_sample": float(pain[sample_day]),
                    # linear readouts (< 1 decade) and readouts spanning decades (drawn on log axes)
                    **{f"{c}_sample": rng.uniform(2, 12) for c in ("tnf", "il1b", "il6", "il8", "il10", "tgfb")},
                    "ifng_sample": rng.uniform(1, 8),
                    "il4_sample": float(rng.lognormal(1.5, 1.8)),
                    "cd68_per_cm2_sample": float(rng.lognormal(1.0, 2.0)),
                }
            )
            k += 1
    directory.mkdir(parents=True)
    pd.DataFrame(patients).to_parquet(directory / "patients.parquet")
    pd.concat(traj, ignore_index=True).to_parquet(directory / "trajectories.parquet")
    (directory / "manifest.json").write_text(json.dumps({"kind": "cohort", "name": "synthetic", "n_failed": 0}))
    return directory


@pytest.fixture
def cohort_figures(tmp_path, monkeypatch):
    figures = capture_figures(monkeypatch)
    plot_output_dir(write_cohort(tmp_path / "coh"))
    return figures


def _by_title(fig):
    return {ax.get_title().split("\n")[0]: ax for ax in panels(fig)}


def test_cohort_pain_panels_ticks_bands_and_legend(cohort_figures):
    fig = cohort_figures["cohort_pain.png"]
    axes = _by_title(fig)
    assert set(axes) == {
        "all patients (n = 12)",
        "protrusion (n = 7)",
        "bulging (n = 2)",
        "subligamentous extrusion (n = 2)",
        "sequestration (n = 1)",
    }  # the sixth grid cell is removed, not left empty
    assert_every_panel_has_data(fig)
    assert_bottom_panels_have_x_ticks(fig)  # protrusion's panel has nothing below it
    for title, ax in axes.items():
        n = int(title.rsplit("= ", 1)[1].rstrip(")"))
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        if n >= MIN_BAND_N:
            assert len(bands) == 2, title  # 50 % and 90 %
        else:
            assert not bands, f"{title}: bands drawn for n = {n}"
            assert f"bands need n ≥ {MIN_BAND_N}" in ax.get_title(), "the panel says why there is no band"
        assert_labelled_with_units(ax, x=False, y=ax.get_subplotspec().colspan.start == 0)
    assert_no_legend_covers_data(fig)
    assert_legends_outside_panels(fig)


def test_cohort_course_bands_and_legend(cohort_figures):
    fig = cohort_figures["cohort_course.png"]
    for ax in panels(fig):
        assert_labelled_with_units(ax)
        assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1  # protrusion only (n = 7)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "bulging (n = 2, median only)" in labels and "protrusion (n = 7)" in labels
    assert_no_legend_covers_data(fig)
    assert_legends_outside_panels(fig)


def test_cohort_sample_says_what_is_measured_and_which_axes_are_log(cohort_figures):
    fig = cohort_figures["cohort_sample.png"]
    assert_every_panel_has_data(fig)
    for ax in panels(fig):
        label = ax.get_xlabel()
        assert_labelled_with_units(ax, y=False)
        assert ("log scale" in label) == (ax.get_xscale() == "log"), label
        if "background" in ax.get_title():
            assert "sample" not in label, f"a background is the patient's level, not a sample: {label!r}"
    assert {ax.get_xscale() for ax in panels(fig)} == {"linear", "log"}  # both kinds, each labelled
    assert_no_legend_covers_data(fig)
