"""What a reader relies on in a figure, as assertions on the matplotlib objects (not on file sizes).

- every drawn panel has data (or says why not) and labelled axes with units;
- no legend covers a plotted line, band, bar or point, nor a panel title (or, stronger: legends sit outside
  every panel);
- the lowest drawn panel of every column shows its x tick labels.

``capture_figures(monkeypatch)`` records every figure the plotting code saves, by file name, so a test can
inspect it after the fact (the file is still written).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath

SAVING_MODULES = ("sim.plots.summary", "sim.plots.cohort", "sim.calibration.abc", "sim.calibration.sensitivity")

#: a label states its unit: in parentheses ("(pg/mL)", "(-)", "(VAS 0-100)") or as the word "days"
_UNIT = re.compile(r"\([^()]*\S[^()]*\)\s*$|\bdays?\b")


def capture_figures(monkeypatch) -> dict[str, Figure]:
    import sim.io.store

    real = sim.io.store.save_figure
    figures: dict[str, Figure] = {}

    def save(fig, path, **kwargs):
        figures[Path(path).name] = fig
        return real(fig, path, **kwargs)

    for module in SAVING_MODULES:
        monkeypatch.setattr(f"{module}.save_figure", save)
    return figures


def panels(fig: Figure) -> list:
    """The data axes of ``fig``: visible, not colour bars."""
    return [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]


def has_unit(label: str) -> bool:
    return bool(_UNIT.search(label))


def _renderer(fig: Figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)  # closed: a new canvas
    canvas.draw()
    return canvas.get_renderer()


def _finite_runs(xy: np.ndarray) -> list[np.ndarray]:
    ok = np.isfinite(xy).all(axis=1)
    runs, start = [], None
    for i, good in enumerate(np.append(ok, False)):
        if good and start is None:
            start = i
        elif not good and start is not None:
            runs.append(xy[start:i])
            start = None
    return runs


def data_shapes(ax) -> list[tuple[str, np.ndarray]]:
    """What ``ax`` plots, in display coordinates: ("line", vertices), ("area", polygon) or ("points", xy).

    Reference lines drawn in axes coordinates (axvline, axhline) and spans (axvspan) are not data."""
    shapes: list[tuple[str, np.ndarray]] = []
    for line in ax.lines:
        if line.get_visible() and line.get_transform() == ax.transData:
            xy = np.asarray(line.get_xydata(), dtype=float)
            for run in _finite_runs(xy):
                shapes.append(("line" if len(run) > 1 else "points", ax.transData.transform(run)))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):  # scatter
            xy = np.asarray(coll.get_offsets(), dtype=float)
            xy = xy[np.isfinite(xy).all(axis=1)]
            if len(xy):
                shapes.append(("points", coll.get_offset_transform().transform(xy)))
        elif isinstance(coll, (PolyCollection, LineCollection)):  # bands; error bars, hlines
            kind = "area" if isinstance(coll, PolyCollection) else "line"
            for path in coll.get_paths():
                v = np.asarray(path.vertices, dtype=float)
                for run in _finite_runs(v):
                    shapes.append((kind, coll.get_transform().transform(run)))
    for patch in ax.patches:  # bars
        if patch.get_visible() and patch.get_transform().contains_branch(ax.transData):
            shapes.append(("area", patch.get_path().transformed(patch.get_transform()).vertices))
    return shapes


def _covers(bbox, kind: str, xy: np.ndarray) -> bool:
    if kind == "points":
        return bool(((xy[:, 0] > bbox.x0) & (xy[:, 0] < bbox.x1) & (xy[:, 1] > bbox.y0) & (xy[:, 1] < bbox.y1)).any())
    return MplPath(xy).intersects_bbox(bbox, filled=kind == "area")


def legends(fig: Figure) -> list:
    found = list(fig.legends)
    for ax in fig.axes:
        if ax.get_legend() is not None:
            found.append(ax.get_legend())
    return found


def legend_overlaps(fig: Figure) -> list[str]:
    """Every (legend, covered thing) pair: data of any panel, or a panel title."""
    renderer = _renderer(fig)
    problems = []
    for leg in legends(fig):
        box = leg.get_window_extent(renderer).padded(-1.0)
        name = ", ".join(t.get_text() for t in leg.get_texts()[:3])
        for ax in panels(fig):
            for kind, xy in data_shapes(ax):
                if _covers(box, kind, xy):
                    problems.append(f"legend [{name}] covers a {kind} of panel {ax.get_title()!r}")
                    break
            title = ax.title
            if title.get_text() and title.get_window_extent(renderer).overlaps(box):
                problems.append(f"legend [{name}] covers the title {title.get_text()!r}")
    return problems


def assert_no_legend_covers_data(fig: Figure) -> None:
    assert legends(fig), "the figure has no legend"
    problems = legend_overlaps(fig)
    assert not problems, "\n".join(problems)


def assert_legends_outside_panels(fig: Figure) -> None:
    """Stronger than :func:`assert_no_legend_covers_data` and independent of where the data happen to lie."""
    renderer = _renderer(fig)
    for leg in legends(fig):
        box = leg.get_window_extent(renderer).padded(-1.0)
        for ax in panels(fig):
            assert not ax.patch.get_window_extent(renderer).overlaps(box), (
                f"legend [{', '.join(t.get_text() for t in leg.get_texts()[:3])}] inside panel {ax.get_title()!r}"
            )


def assert_every_panel_has_data(fig: Figure) -> None:
    for ax in panels(fig):
        texts = [t.get_text() for t in ax.texts if t.get_visible()]
        assert data_shapes(ax) or texts, f"panel {ax.get_title()!r} is empty"


def assert_labelled_with_units(ax, x: bool = True, y: bool = True) -> None:
    for which, on in (("x", x), ("y", y)):
        if on:
            label = getattr(ax, f"get_{which}label")()
            assert label, f"panel {ax.get_title()!r}: no {which} label"
            assert has_unit(label), f"panel {ax.get_title()!r}: {which} label {label!r} has no unit"
            assert "  " not in label, f"double space in {label!r}"


def x_tick_labels(ax) -> list[str]:
    _renderer(ax.figure)
    return [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]


def assert_bottom_panels_have_x_ticks(fig: Figure) -> None:
    """In every column of the grid, the lowest drawn panel shows x tick labels and an x label."""
    lowest: dict[int, object] = {}
    for ax in panels(fig):
        spec = ax.get_subplotspec()
        if spec is None:
            continue
        col, row = spec.colspan.start, spec.rowspan.stop
        if col not in lowest or row > lowest[col].get_subplotspec().rowspan.stop:
            lowest[col] = ax
    assert lowest, "no grid panels"
    for col, ax in sorted(lowest.items()):
        assert x_tick_labels(ax), f"column {col}: lowest panel {ax.get_title()!r} has no x tick labels"
        assert ax.get_xlabel(), f"column {col}: lowest panel {ax.get_title()!r} has no x label"
