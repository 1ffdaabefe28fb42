"""What the browser view and the animation draw of a section, in millimetres (pure numpy, no plotting library).

Axis 0 of the model's arrays (x) is lateral, axis 1 (y) antero-posterior with y = 0 at the posterior disc
margin; voxel ``[ix, iy]`` covers ``[ix·dx, (ix+1)·dx) × [iy·dx, (iy+1)·dx)``. A voxel holds several macrophages,
so each cell is drawn at a fixed offset inside its voxel (a quasi-random point set, for display only: no random
stream of the model is used).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.geometry import Section

__all__ = [
    "SectionLayout",
    "layout_of",
    "cells_by_phenotype",
    "cells_from_counts",
    "nice_ceiling",
    "FRAGMENT_LEVEL",
    "PHENOTYPES",
    "FIELD_CMAP",
    "STYLE",
]

#: The fragment outline is the contour where the NP material fraction is one half.
FRAGMENT_LEVEL = 0.5
PHENOTYPES = ("M0", "M1", "M2")
#: Colour map of the cytokine field in the view and the animation: light at 0, so outlines and cells stay legible.
FIELD_CMAP = "YlOrBr"
#: Colours and markers of the structures, the same in the view and the animation (phenotype colours: sim.plots).
STYLE = {
    "root_fill": "#b2dfdb",
    "root_line": "#00695c",
    "vessel": "#7b1fa2",
    "barrier": "#8d8d8d",
    "fragment": "#000000",
    "markers": {"M0": "circle", "M1": "triangle", "M2": "square"},
}
# R2 quasi-random sequence (Roberts 2018): well-spread offsets for the k-th cell of a voxel, or a cell's uid
_R2 = (0.7548776662466927, 0.5698402909980532)
_SPREAD = 0.8  # offsets cover the central 80% of a voxel


@dataclass(frozen=True)
class SectionLayout:
    """The static structures of one section, in mm.

    Attributes
    ----------
    shape : (nx, ny)
    dx_mm : float
        Voxel edge.
    width_mm, height_mm : float
        Extent of the section (lateral, antero-posterior).
    x_mm, y_mm : ndarray (nx,), (ny,)
        Voxel-centre coordinates.
    material0 : ndarray (nx, ny)
        NP material fraction at onset.
    root_center_mm : (x, y)
    root_radius_mm : float
    vessels_mm : ndarray (n, 2)
        Centres of the vascular recruitment sites.
    barrier_mm : ndarray (m, 2)
        Centres of annulus / ligament barrier voxels (contained herniations; empty otherwise).
    """

    shape: tuple[int, int]
    dx_mm: float
    width_mm: float
    height_mm: float
    x_mm: np.ndarray
    y_mm: np.ndarray
    material0: np.ndarray
    root_center_mm: tuple[float, float]
    root_radius_mm: float
    vessels_mm: np.ndarray
    barrier_mm: np.ndarray


def _centres_mm(flat_index: np.ndarray, shape: tuple[int, int], dx_mm: float) -> np.ndarray:
    ix, iy = np.unravel_index(np.asarray(flat_index, dtype=np.int64), shape)
    return np.column_stack([(ix + 0.5) * dx_mm, (iy + 0.5) * dx_mm]).astype(float)


def layout_of(section: Section, root_radius_mm: float) -> SectionLayout:
    """The drawable structures of ``section`` (``root_radius_mm`` is ``scenario.geometry.root_radius_mm``)."""
    dx_mm = section.dx_um * 1e-3
    nx, ny = section.shape
    return SectionLayout(
        shape=(nx, ny),
        dx_mm=dx_mm,
        width_mm=nx * dx_mm,
        height_mm=ny * dx_mm,
        x_mm=(np.arange(nx) + 0.5) * dx_mm,
        y_mm=(np.arange(ny) + 0.5) * dx_mm,
        material0=section.material0,
        root_center_mm=tuple(float(v) for v in section.root_center_mm),
        root_radius_mm=float(root_radius_mm),
        vessels_mm=_centres_mm(section.vessel_index, section.shape, dx_mm),
        barrier_mm=_centres_mm(np.flatnonzero(section.barrier), section.shape, dx_mm),
    )


def _offsets(index: np.ndarray, dx_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Display offsets (mm) from the voxel centre for quasi-random index ``index``."""
    k = np.asarray(index, dtype=np.float64)
    ox = np.modf(0.5 + k * _R2[0])[0] - 0.5
    oy = np.modf(0.5 + k * _R2[1])[0] - 0.5
    return ox * _SPREAD * dx_mm, oy * _SPREAD * dx_mm


def cells_by_phenotype(
    pos: np.ndarray, phen: np.ndarray, uid: np.ndarray, shape: tuple[int, int], dx_mm: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Live macrophages as points: ``{"M0": (x_mm, y_mm), "M1": ..., "M2": ...}``.

    ``pos`` are flat voxel indices, ``phen`` phenotype codes 0/1/2, ``uid`` the cells' ids: a cell keeps its
    offset inside a voxel from one frame to the next.
    """
    xy = _centres_mm(pos, shape, dx_mm)
    ox, oy = _offsets(uid, dx_mm)
    out = {}
    for code, name in enumerate(PHENOTYPES):
        sel = np.asarray(phen) == code
        out[name] = (xy[sel, 0] + ox[sel], xy[sel, 1] + oy[sel])
    return out


def cells_from_counts(counts: dict[str, np.ndarray], dx_mm: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Macrophages as points from per-voxel counts (a snapshot's ``m0_cells``, ``m1_cells``, ``m2_cells``).

    ``counts`` maps ``"M0"``/``"M1"``/``"M2"`` to integer arrays of shape (nx, ny). The cells of one voxel are
    spread over it, all phenotypes together, so that an M1 and an M2 cell in one voxel do not overlap.
    """
    shape = next(iter(counts.values())).shape
    start = np.zeros(shape, dtype=np.int64)
    out = {}
    for name in PHENOTYPES:
        c = np.asarray(counts[name], dtype=np.int64)
        flat = np.flatnonzero(c)
        reps = c.ravel()[flat]
        vox = np.repeat(flat, reps)
        # k-th cell of its voxel, counting the phenotypes drawn before
        first = np.repeat(np.cumsum(reps) - reps, reps)
        k = np.arange(vox.size) - first + start.ravel()[vox]
        start.ravel()[flat] += reps
        xy = _centres_mm(vox, shape, dx_mm)
        ox, oy = _offsets(k + 1, dx_mm)
        out[name] = (xy[:, 0] + ox, xy[:, 1] + oy)
    return out


def nice_ceiling(value: float) -> float:
    """A round upper end for a colour scale (1, 2, 2.5 or 5 × 10^k) at or above ``value``; 1 if none."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    exp = 10.0 ** np.floor(np.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0):
        if m * exp >= value * (1 - 1e-12):
            return float(m * exp)
    return float(10 * exp)
