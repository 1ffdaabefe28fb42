"""Cytokine-field solver: diffusion, decay and sources on a voxel grid.

Public API
----------
advance
    Advance one 2-D/3-D field in place by ``dt`` (implicit LOD backward Euler,
    sub-stepped explicit forward Euler, or automatic choice).
Dirichlet
    Fixed-value faces and/or voxel mask (default boundary is no-flux).
FieldSet, FieldSpec
    Several fields on one grid advanced by one kernel call.
deposit, uptake, sample_gradient
    Agent <-> field coupling kernels (order-independent, bit-exact).
explicit_dt_limit
    Positivity/stability limit of the explicit scheme, s.

Units: D in µm²/s, decay in 1/s, dx in µm, dt in s, sources in concentration
units per second.  See ``docs/solver.md`` for the numerics.
"""

from ._boundary import Dirichlet
from ._coupling import deposit, sample_gradient, uptake
from ._explicit import explicit_dt_limit
from ._fieldset import FieldSet, FieldSpec
from ._solver import advance

__all__ = [
    "advance",
    "Dirichlet",
    "FieldSet",
    "FieldSpec",
    "deposit",
    "uptake",
    "sample_gradient",
    "explicit_dt_limit",
]
