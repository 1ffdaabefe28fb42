"""Macrophages: array state for the engine, and thin Mesa agents for users.

The step works on :class:`MacrophageArrays` (a structure of arrays). :class:`Macrophage` is a
``mesa.Agent`` whose attributes read and write one slot of those arrays, so users can inspect and
edit cells through ``model.agents`` while the step never loops over Python objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from .model import DiscModel

__all__ = ["MacrophageArrays", "Macrophage", "PHENOTYPES"]

PHENOTYPES = ("M0", "M1", "M2")


class MacrophageArrays:
    """Growable structure of arrays; live agents occupy slots ``[0, n)`` in recruitment order."""

    _fields = {"uid": np.int64, "pos": np.int64, "phen": np.int8, "age_h": np.float64, "engulfed_um3": np.float64}

    def __init__(self, capacity: int = 256):
        self.n = 0
        self._next_uid = 1
        for name, dt in self._fields.items():
            setattr(self, "_" + name, np.zeros(capacity, dtype=dt))

    # views of the live slots
    uid = property(lambda self: self._uid[: self.n])
    pos = property(lambda self: self._pos[: self.n])
    phen = property(lambda self: self._phen[: self.n])
    age_h = property(lambda self: self._age_h[: self.n])
    engulfed_um3 = property(lambda self: self._engulfed_um3[: self.n])

    @property
    def capacity(self) -> int:
        return int(self._uid.size)

    def reserve(self, need: int) -> None:
        """Grow the arrays (at least doubling) so that ``need`` agents fit; live slots are kept."""
        if need <= self._uid.size:
            return
        cap = max(need, 2 * self._uid.size)
        for name in self._fields:
            old = getattr(self, "_" + name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, "_" + name, new)

    def add(self, pos: np.ndarray) -> None:
        """Append new M0 cells at flat voxel indices ``pos``."""
        k = pos.size
        if k == 0:
            return
        need = self.n + k
        self.reserve(need)
        sl = slice(self.n, need)
        self._uid[sl] = np.arange(self._next_uid, self._next_uid + k)
        self._pos[sl] = pos
        self._phen[sl] = 0
        self._age_h[sl] = 0.0
        self._engulfed_um3[sl] = 0.0
        self._next_uid += k
        self.n = need

    def keep(self, alive: np.ndarray) -> None:
        """Drop dead agents, keeping the survivors' order (uids stay sorted)."""
        m = int(alive.sum())
        if m == self.n:
            return
        for name in self._fields:
            arr = getattr(self, "_" + name)
            arr[:m] = arr[: self.n][alive]
        self.n = m

    def slot(self, uid: int) -> int:
        """Slot of a live uid, or -1."""
        s = int(np.searchsorted(self.uid, uid))
        return s if s < self.n and self._uid[s] == uid else -1

    def counts(self) -> tuple[int, int, int]:
        c = np.bincount(self.phen, minlength=3)
        return int(c[0]), int(c[1]), int(c[2])


class Macrophage(mesa.Agent):
    """A macrophage as seen by users: a handle over one slot of the model's arrays.

    Attributes
    ----------
    cell_id : int
        Stable identifier (order of recruitment).
    phenotype : {"M0", "M1", "M2"}
        Read-write.
    voxel : tuple[int, int]
        Grid cell ``(ix, iy)``, read-write.
    position_um : tuple[float, float]
        Voxel centre in µm.
    age_h, engulfed_um3 : float
        Hours since recruitment; NP material engulfed (µm³).
    """

    def __init__(self, model: DiscModel, cell_id: int):
        super().__init__(model)
        self.cell_id = cell_id

    def _slot(self) -> int:
        s = self.model.macrophages.slot(self.cell_id)
        if s < 0:
            raise RuntimeError(f"macrophage {self.cell_id} is no longer alive")
        return s

    @property
    def phenotype(self) -> str:
        return PHENOTYPES[int(self.model.macrophages.phen[self._slot()])]

    @phenotype.setter
    def phenotype(self, value: str) -> None:
        if value not in PHENOTYPES:
            raise ValueError(f"phenotype must be one of {PHENOTYPES}, got {value!r}")
        self.model.macrophages.phen[self._slot()] = PHENOTYPES.index(value)

    @property
    def voxel(self) -> tuple[int, int]:
        ix, iy = np.unravel_index(int(self.model.macrophages.pos[self._slot()]), self.model.section.shape)
        return int(ix), int(iy)

    @voxel.setter
    def voxel(self, value: tuple[int, int]) -> None:
        flat = int(np.ravel_multi_index(value, self.model.section.shape))
        if not self.model.section.walkable.flat[flat]:
            raise ValueError(f"voxel {value} is not accessible to macrophages (root, barrier)")
        self.model.macrophages.pos[self._slot()] = flat

    @property
    def position_um(self) -> tuple[float, float]:
        dx = self.model.section.dx_um
        ix, iy = self.voxel
        return (ix + 0.5) * dx, (iy + 0.5) * dx

    @property
    def age_h(self) -> float:
        return float(self.model.macrophages.age_h[self._slot()])

    @property
    def engulfed_um3(self) -> float:
        return float(self.model.macrophages.engulfed_um3[self._slot()])

    def __repr__(self) -> str:
        return f"Macrophage(cell_id={self.cell_id}, phenotype={self.phenotype}, voxel={self.voxel})"
