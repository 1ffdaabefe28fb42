"""sim/plots/trial.py: the hazard-ratio axis keeps its tick labels apart."""

from __future__ import annotations

import math

import pytest

from sim.plots.trial import _HR_TICKS, _spaced_ticks


@pytest.mark.parametrize("lo, hi", [(0.6, 120.0), (0.3, 40.0), (0.5, 3.0), (0.8, 1.4)])
def test_hazard_ratio_ticks_are_spaced_and_keep_the_null(lo, hi):
    ticks = _spaced_ticks([t for t in _HR_TICKS if lo <= t <= hi], lo, hi)
    assert 1.0 in ticks
    gap = (math.log10(hi) - math.log10(lo)) / 12
    assert all(math.log10(b) - math.log10(a) >= gap for a, b in zip(ticks, ticks[1:]))


def test_a_narrow_axis_keeps_every_tick():
    assert _spaced_ticks([0.5, 0.7, 1.0, 1.5, 2.0], 0.5, 3.0) == [0.5, 0.7, 1.0, 1.5, 2.0]
    # a wide one drops the crowded labels next to 1 (1.5 and 2 overlapped on a 0.6-120 axis)
    assert _spaced_ticks([0.7, 1.0, 1.5, 2.0, 5.0], 0.6, 120.0) == [1.0, 2.0, 5.0]
