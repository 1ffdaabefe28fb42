"""Boundary conditions for the cytokine fields."""

from dataclasses import dataclass, field

import numpy as np

#: Face names in axis order; axis 0 = "x", axis 1 = "y", axis 2 = "z".
FACES = ("x-", "x+", "y-", "y+", "z-", "z+")


@dataclass(frozen=True)
class Dirichlet:
    """Fixed-value boundary: faces and/or voxels held at ``value``.

    Parameters
    ----------
    value : float, default 0.0
        Concentration held (same units as the field).
    faces : tuple of str, default ()
        Subset of ``("x-", "x+", "y-", "y+", "z-", "z+")``.  A listed face has a
        ghost voxel one ``dx`` beyond the boundary voxel held at ``value``: the
        flux through the face is ``D * (value - u_boundary) / dx``.  Faces not
        listed are no-flux (mirror ghost).
    mask : ndarray of bool, optional
        Same shape as the field; marked voxels (vessels, a bath) are set to
        ``value`` and act as fixed-value neighbours for the others.

    Examples
    --------
    >>> Dirichlet(0.0, faces=("x-",))              # sink along the x = 0 face
    >>> Dirichlet(5.0, mask=vessel_mask)           # vessels held at 5 units
    """

    value: float = 0.0
    faces: tuple = ()
    mask: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        faces = self.faces
        if isinstance(faces, str):
            faces = (faces,)
        faces = tuple(faces)
        for f in faces:
            if f not in FACES:
                raise ValueError(f"boundary: unknown face {f!r} in Dirichlet.faces; expected a subset of {FACES}")
        object.__setattr__(self, "faces", faces)
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise ValueError(f"boundary: Dirichlet.value must be a finite float, got {self.value!r}")
        if not np.isfinite(value):
            raise ValueError(f"boundary: Dirichlet.value must be finite, got {value!r}")
        object.__setattr__(self, "value", value)
        if self.mask is not None:
            m = np.asarray(self.mask)
            if m.dtype != np.bool_:
                raise ValueError(f"mask: Dirichlet.mask must be a boolean array, got dtype {m.dtype}")
            object.__setattr__(self, "mask", np.ascontiguousarray(m))
