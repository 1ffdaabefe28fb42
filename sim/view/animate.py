"""``discsim animate``: a run's field snapshots as a GIF (or MP4): section, macrophages and one cytokine field.

One frame per snapshot in ``fields.zarr`` (``simulation.snapshot_every_days`` sets the cadence; day 0 is always
the first). The colour scale is the same on every frame (0 to the field's maximum over the run, pg/mL), so frames
compare. Beside the section, the run's leg pain and macrophage counts, with the frame's day marked.

The section's static structures (nerve root, vascular sites, barrier) are rebuilt from the manifest's scenario and
seed through :func:`sim.run.start_model`, exactly as the run built them; the file is written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, Patch  # noqa: E402

from ..io.outdir import owner_kind  # noqa: E402
from ..io.store import atomic_file, save_figure  # noqa: E402
from ..scenario import CYTOKINES  # noqa: E402
from .section import (  # noqa: E402
    FIELD_CMAP,
    FRAGMENT_LEVEL,
    PHENOTYPES,
    STYLE,
    SectionLayout,
    cells_from_counts,
    layout_of,
    nice_ceiling,
)

__all__ = ["AnimationError", "write_animation", "save_frame", "load_frames", "FORMATS"]

#: Output suffixes: GIF always (Pillow); MP4 only where an ffmpeg binary is found.
FORMATS = (".gif", ".mp4")
_MARKERS = {"circle": "o", "triangle": "^", "square": "s"}  # the view's Bokeh markers in matplotlib
_MARKERS = {ph: _MARKERS[STYLE["markers"][ph]] for ph in PHENOTYPES}
_ROOT_FILL, _ROOT_LINE = STYLE["root_fill"], STYLE["root_line"]
_VESSEL_COLOR, _BARRIER_COLOR = STYLE["vessel"], STYLE["barrier"]


class AnimationError(ValueError):
    """The run directory, field or output path cannot be used; the message says why and what to do."""


@dataclass
class Frames:
    """What an animation draws, read from a run directory."""

    name: str
    seed: int
    days: np.ndarray  # (n,) snapshot days
    field: str
    values: np.ndarray  # (n, nx, ny) pg/mL
    material: np.ndarray  # (n, nx, ny)
    cells: list[dict[str, np.ndarray]]  # per frame {"M0": counts (nx, ny), ...}
    layout: SectionLayout
    timeseries: pd.DataFrame | None


def _labels() -> tuple[dict[str, str], dict[str, str]]:
    from ..plots.summary import CYTOKINE_LABELS, PHENOTYPE_COLORS

    return CYTOKINE_LABELS, PHENOTYPE_COLORS


def load_frames(run_dir: str | Path, field: str) -> Frames:
    """Read ``field`` and the cells of every snapshot of ``run_dir``; raises :class:`AnimationError`."""
    run_dir = Path(run_dir)
    if field not in CYTOKINES:
        raise AnimationError(f"--field {field!r}: not a cytokine field; choose one of {', '.join(CYTOKINES)}")
    if not run_dir.is_dir():
        raise AnimationError(f"{run_dir}: not a directory; give the output directory of `discsim run`")
    kind = owner_kind(run_dir)
    if kind != "run":
        what = f"a discsim {kind} output" if kind else "not a discsim output (no manifest.json)"
        raise AnimationError(f"{run_dir}: {what}; `discsim animate` needs the output directory of `discsim run`")
    zarr_path = run_dir / "fields.zarr"
    if not zarr_path.is_dir():
        raise AnimationError(
            f"{run_dir}: no fields.zarr (the run was made with --no-snapshots or simulation.snapshot_every_days = 0); "
            "run again with snapshots, e.g. snapshot_every_days = 10 in the scenario's [simulation]"
        )
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        import xarray as xr

        ds = xr.open_zarr(zarr_path, consolidated=False)
        days = np.asarray(ds["day"].values, dtype=float)
        values = np.asarray(ds[field].values, dtype=float)
        material = np.asarray(ds["material"].values, dtype=float)
        counts = {ph: np.asarray(ds[f"{ph.lower()}_cells"].values) for ph in PHENOTYPES}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise AnimationError(f"{run_dir}: cannot read the run's snapshots ({type(exc).__name__}: {exc})") from None
    if days.size == 0:
        raise AnimationError(f"{run_dir}: fields.zarr holds no snapshot")
    layout = _layout_from_manifest(run_dir, manifest)
    if layout.shape != values.shape[1:]:
        raise AnimationError(
            f"{run_dir}: fields.zarr has {values.shape[1]}×{values.shape[2]} voxels but the manifest's scenario "
            f"builds {layout.shape[0]}×{layout.shape[1]}: the directory mixes two runs"
        )
    ts = None
    if (run_dir / "timeseries.parquet").is_file():
        try:
            ts = pd.read_parquet(run_dir / "timeseries.parquet")
        except (OSError, ValueError):
            ts = None
    cells = [{ph: counts[ph][i] for ph in PHENOTYPES} for i in range(days.size)]
    return Frames(
        name=str(manifest.get("scenario", {}).get("name", run_dir.name)),
        seed=int(manifest.get("seed", 0)),
        days=days,
        field=field,
        values=values,
        material=material,
        cells=cells,
        layout=layout,
        timeseries=ts,
    )


def _layout_from_manifest(run_dir: Path, manifest: dict[str, Any]) -> SectionLayout:
    from pydantic import ValidationError

    from ..run import resolve_scenario, start_model
    from ..scenario import Scenario

    try:
        scen = Scenario.model_validate(manifest["scenario"])
        seed = int(manifest["seed"])
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise AnimationError(f"{run_dir}/manifest.json: no valid scenario and seed in it ({exc})") from None
    model = start_model(resolve_scenario(scen, seed))
    return layout_of(model.section, scen.geometry.root_radius_mm)


class _Figure:
    """One figure whose artists are updated frame by frame."""

    def __init__(self, frames: Frames):
        cyto_labels, self.colors = _labels()
        self.frames = frames
        lay = frames.layout
        self.label = cyto_labels.get(frames.field, frames.field)
        has_ts = frames.timeseries is not None and len(frames.timeseries) > 1
        self.fig = plt.figure(figsize=(11.5 if has_ts else 8.0, 6.2), layout="constrained", dpi=100)
        if has_ts:
            grid = self.fig.add_gridspec(2, 2, width_ratios=(2.1, 1.0))
            self.ax = self.fig.add_subplot(grid[:, 0])
            self.ax_vas = self.fig.add_subplot(grid[0, 1])
            self.ax_mac = self.fig.add_subplot(grid[1, 1], sharex=self.ax_vas)
        else:
            self.ax = self.fig.add_subplot()
            self.ax_vas = self.ax_mac = None
        ax = self.ax
        vmax = nice_ceiling(float(np.nanmax(frames.values)))
        extent = (0.0, lay.width_mm, 0.0, lay.height_mm)
        self.image = ax.imshow(
            frames.values[0].T, origin="lower", extent=extent, cmap=FIELD_CMAP, vmin=0.0, vmax=vmax, zorder=0
        )
        cbar = self.fig.colorbar(self.image, cax=ax.inset_axes((1.02, 0.0, 0.035, 1.0)))  # as tall as the section
        cbar.set_label(f"{self.label} (pg/mL)")
        if lay.barrier_mm.size:
            ax.scatter(
                lay.barrier_mm[:, 0], lay.barrier_mm[:, 1], marker="s", s=14, color=_BARRIER_COLOR, lw=0, zorder=1
            )
        ax.contour(lay.x_mm, lay.y_mm, lay.material0.T, [FRAGMENT_LEVEL], colors="k", linestyles="--", linewidths=1)
        self.outline = None
        ax.add_patch(
            Circle(lay.root_center_mm, lay.root_radius_mm, facecolor=_ROOT_FILL, edgecolor=_ROOT_LINE, lw=2, zorder=3)
        )
        ax.scatter(
            lay.vessels_mm[:, 0],
            lay.vessels_mm[:, 1],
            marker="D",
            s=30,
            color=_VESSEL_COLOR,
            edgecolors="white",
            lw=0.6,
            zorder=4,
        )
        self.cells = {
            ph: ax.scatter(
                [], [], marker=_MARKERS[ph], s=22, color=self.colors[ph], edgecolors="k", lw=0.5, zorder=5, label=ph
            )
            for ph in PHENOTYPES
        }
        ax.set_xlim(0, lay.width_mm)
        ax.set_ylim(0, lay.height_mm)
        ax.set_aspect("equal")
        ax.set_xlabel("lateral position x (mm)")
        ax.set_ylabel("posterior distance from the disc margin y (mm)")
        self.stamp = ax.text(
            0.015,
            0.975,
            "",
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=11,
            fontweight="bold",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 3},
            zorder=6,
        )
        handles = [
            Line2D([], [], color="k", lw=2, label="fragment edge (NP material 0.5)"),
            Line2D([], [], color="k", lw=1, ls="--", label="fragment edge at onset"),
            Patch(facecolor=_ROOT_FILL, edgecolor=_ROOT_LINE, label="nerve root"),
            Line2D([], [], marker="D", ls="", color=_VESSEL_COLOR, label="vessels (recruitment)"),
        ]
        if lay.barrier_mm.size:
            handles.append(Line2D([], [], marker="s", ls="", color=_BARRIER_COLOR, label="annulus/ligament barrier"))
        handles += [
            Line2D([], [], marker=_MARKERS[ph], ls="", color=self.colors[ph], mec="k", label=f"{ph} macrophage")
            for ph in PHENOTYPES
        ]
        ax.legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncols=4, fontsize=8.5, frameon=False
        )
        self.fig.suptitle(f"{frames.name} (seed {frames.seed}): {self.label} and macrophages in the section")
        self.markers = []
        if has_ts:
            self._traces(frames.timeseries)

    def _traces(self, ts: pd.DataFrame) -> None:
        day = ts["day"].to_numpy()
        self.ax_vas.plot(day, ts["pain_vas"], color="k", lw=1.8)
        self.ax_vas.set_ylim(0, 100)
        self.ax_vas.set_ylabel("leg pain, VAS (0-100)")
        self.ax_vas.set_title("Leg pain", fontsize=10)
        for ph in PHENOTYPES:
            self.ax_mac.plot(day, ts[f"n_{ph.lower()}"], color=self.colors[ph], lw=1.6, label=ph)
        self.ax_mac.set_ylim(bottom=0)
        self.ax_mac.set_xlim(0, max(float(day.max()), 1.0))
        self.ax_mac.set_ylabel("macrophages in the section")
        self.ax_mac.set_xlabel("days since the herniation event")
        self.ax_mac.set_title("Macrophages", fontsize=10)
        self.ax_mac.legend(fontsize=8, loc="upper right")
        self.ax_vas.tick_params(labelbottom=False)
        self.markers = [a.axvline(0, color="#d62728", lw=1.2, ls=":") for a in (self.ax_vas, self.ax_mac)]

    def draw(self, i: int) -> list:
        fr, lay = self.frames, self.frames.layout
        self.image.set_data(fr.values[i].T)
        if self.outline is not None:
            self.outline.remove()
        self.outline = self.ax.contour(
            lay.x_mm, lay.y_mm, fr.material[i].T, [FRAGMENT_LEVEL], colors="k", linewidths=2, zorder=2
        )
        for ph, (x, y) in cells_from_counts(fr.cells[i], lay.dx_mm).items():
            self.cells[ph].set_offsets(np.column_stack([x, y]) if x.size else np.zeros((0, 2)))
        n = {ph: int(fr.cells[i][ph].sum()) for ph in PHENOTYPES}
        # the model's volume rule, V = V0 (A/A0)^(3/2), with A the NP material left in the section
        volume = (fr.material[i].sum() / max(lay.material0.sum(), 1e-12)) ** 1.5
        self.stamp.set_text(
            f"day {fr.days[i]:g}\nM0/M1/M2 {n['M0']}/{n['M1']}/{n['M2']}, volume {100 * volume:.0f}% of onset"
        )
        for m in self.markers:
            m.set_xdata([fr.days[i], fr.days[i]])
        return []


def _check_out(run_dir: Path, field: str, out: Path | None, overwrite: bool) -> Path:
    if out is None:
        return run_dir / f"animation_{field}.gif"  # the program's own file in its own output directory
    if out.is_dir():
        raise AnimationError(f"--out {out}: is a directory; give a file name, e.g. {out / f'animation_{field}.gif'}")
    if out.suffix.lower() not in FORMATS:
        raise AnimationError(f"--out {out}: the file name must end in .gif or .mp4")
    if not out.parent.is_dir():
        raise AnimationError(f"--out {out}: the folder {out.parent} does not exist")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise AnimationError(f"--out {out}: the file exists; choose another name or pass --overwrite to replace it")
    if out.suffix.lower() == ".mp4":
        from matplotlib.animation import FFMpegWriter

        if not FFMpegWriter.isAvailable():
            raise AnimationError(f"--out {out}: writing MP4 needs an ffmpeg binary, none was found; write a .gif")
    return out


def write_animation(
    run_dir: str | Path, *, field: str = "tnf", out: str | Path | None = None, fps: int = 4, overwrite: bool = False
) -> Path:
    """Write the animation of ``run_dir``'s snapshots of ``field``; returns its path.

    ``out`` defaults to ``RUN_DIR/animation_<field>.gif`` (replaced when animating again); an existing ``out``
    given explicitly is replaced only with ``overwrite``. Raises :class:`AnimationError` on bad input.
    """
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    run_dir = Path(run_dir)
    path = _check_out(run_dir, field, Path(out) if out is not None else None, overwrite)
    frames = load_frames(run_dir, field)
    fig = _Figure(frames)
    try:
        anim = FuncAnimation(fig.fig, fig.draw, frames=len(frames.days), blit=False, repeat=False)
        writer = FFMpegWriter(fps=fps) if path.suffix.lower() == ".mp4" else PillowWriter(fps=fps)
        with atomic_file(path) as tmp:
            anim.save(tmp, writer=writer)
    finally:
        plt.close(fig.fig)
    return path


def save_frame(run_dir: str | Path, path: str | Path, *, field: str = "tnf", index: int = -1) -> Path:
    """One frame (snapshot ``index``, default the last) as a still image, e.g. for documentation."""
    frames = load_frames(run_dir, field)
    fig = _Figure(frames)
    try:
        fig.draw(range(len(frames.days))[index])
        return save_figure(fig.fig, path, dpi=110)
    finally:
        plt.close(fig.fig)
