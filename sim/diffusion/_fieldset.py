"""Several cytokine fields on one grid, advanced together in one kernel call."""

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ._explicit import explicit_substeps
from ._solver import _advance_stack_pre, _dummy_mask, choose_method, implicit_coefficients, run_stack, use_threads
from ._validate import check_method, check_scalar, resolve_boundary


@dataclass(frozen=True)
class FieldSpec:
    """Transport coefficients of one field.

    Parameters
    ----------
    D : float
        Diffusion coefficient, µm²/s (>= 0).
    decay : float, default 0.0
        First-order decay rate, 1/s (>= 0).
    """

    D: float
    decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "D", check_scalar("D", self.D))
        object.__setattr__(self, "decay", check_scalar("decay", self.decay))


class FieldSet:
    """A stack of fields sharing a grid, each with its own D and decay.

    Parameters
    ----------
    shape : tuple of int
        Spatial shape, 2-D ``(nx, ny)`` or 3-D ``(nx, ny, nz)`` voxels.
    dx : float
        Voxel edge, µm.
    specs : mapping of str to FieldSpec
        Field name -> coefficients; the order of the mapping is the order of
        the stack.
    dtype : {numpy.float64, numpy.float32}
    boundary : "no-flux" or Dirichlet
        Shared by all fields.

    Attributes
    ----------
    data : ndarray, shape (n_fields, *shape)
        The concentrations; ``fs[name]`` is a writable view of one field.
    sources : ndarray, shape (n_fields, *shape)
        Production rates, concentration units per second, used by
        :meth:`advance` (held constant over the step).
    names : tuple of str

    Notes
    -----
    :meth:`advance` is one numba call; everything it needs (per-field
    coefficient arrays, the boundary, the sub-step counts for the last ``dt``)
    is prepared here or cached, so the per-call Python work is a few checks.
    """

    def __init__(self, shape, dx, specs, dtype=np.float64, boundary="no-flux"):
        try:
            shape = tuple(int(n) for n in shape)
        except TypeError:
            raise ValueError(f"shape must be a tuple of ints, got {shape!r}") from None
        if len(shape) not in (2, 3) or any(n < 1 for n in shape):
            raise ValueError(f"shape must be 2-D or 3-D with positive sizes, got {shape}")
        self._dx = check_scalar("dx", dx, positive=True)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        if not isinstance(specs, Mapping) or len(specs) == 0:
            raise ValueError("specs must be a non-empty mapping name -> FieldSpec")
        for name, spec in specs.items():
            if not isinstance(name, str):
                raise ValueError(f"specs: field names must be str, got {name!r}")
            if not isinstance(spec, FieldSpec):
                raise ValueError(f"specs[{name!r}] must be a FieldSpec, got {type(spec).__name__}")
        self._faces, self._g, mask = resolve_boundary(boundary, shape)
        self._has_mask = mask is not None
        self._held = mask if self._has_mask else _dummy_mask(len(shape))
        self.boundary = boundary
        self.shape = shape
        self.dtype = dtype
        self.names = tuple(specs)
        self.specs = dict(specs)
        self._index = {n: i for i, n in enumerate(self.names)}
        self._D = np.array([specs[n].D for n in self.names], dtype=np.float64)
        self._k = np.array([specs[n].decay for n in self.names], dtype=np.float64)
        self.data = np.zeros((len(self.names),) + shape, dtype=dtype)
        self.sources = np.zeros_like(self.data)
        self._parallel = use_threads(int(np.prod(shape)))
        self._plan_key = None
        self._plan = None

    @property
    def dx(self):
        """Voxel edge, µm."""
        return self._dx

    def __getitem__(self, name):
        return self.data[self._field_index(name)]

    def __setitem__(self, name, value):
        self.data[self._field_index(name)] = value

    def __contains__(self, name):
        return name in self._index

    def __len__(self):
        return len(self.names)

    def _field_index(self, name):
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no field {name!r}; fields are {self.names}") from None

    def source(self, name):
        """Writable source array of field ``name`` (concentration units / s)."""
        return self.sources[self._field_index(name)]

    def clear_sources(self):
        """Set every source to zero."""
        self.sources.fill(0.0)

    def _plan_for(self, dt, method):
        # Sub-step counts and method choices depend only on (dt, method): cache
        # them so repeated calls with the model's fixed dt cost nothing.
        key = (dt, method)
        if self._plan_key != key:
            ndim = len(self.shape)
            nsub = np.ones(len(self.names), dtype=np.int64)
            expl = np.zeros(len(self.names), dtype=np.bool_)
            for f in range(len(self.names)):
                n = explicit_substeps(dt, self._D[f], self._k[f], self._dx, ndim)
                expl[f] = choose_method(method, n, self._has_mask)
                nsub[f] = n if expl[f] else 1
            coef = implicit_coefficients(self.shape, self._D, self._dx, float(dt), self._faces)
            self._plan = (expl, nsub, coef)
            self._plan_key = key
        return self._plan

    def kernel_args(self, dt, method="auto"):
        """Arguments after ``(data, sources, has_src)`` and ``(dx, dt)`` for compiled callers of the stack solver.

        Returns ``(D, decay, explicit, nsub, faces, g, held, has_mask, coef)`` for steps of ``dt`` s:
        ``sim.model.kernels.transport`` takes them, so the model's compiled loop advances the fields exactly
        as :meth:`advance` does (same plan, same cached implicit coefficients).
        """
        dt = check_scalar("dt", dt, positive=True)
        expl, nsub, coef = self._plan_for(dt, check_method(method))
        return (self._D, self._k, expl, nsub, self._faces, self._g, self._held, self._has_mask, coef)

    def methods(self, dt, method="auto"):
        """Method each field would use for a step of ``dt`` s: name -> str."""
        dt = check_scalar("dt", dt, positive=True)
        expl, _, _ = self._plan_for(dt, check_method(method))
        return {n: ("explicit" if e else "implicit") for n, e in zip(self.names, expl)}

    def advance(self, dt, method="auto"):
        """Advance every field in place by ``dt`` s using the current sources.

        Parameters
        ----------
        dt : float
            Time step, s (> 0).
        method : {"auto", "implicit", "explicit"}
            As in :func:`advance`; "auto" chooses per field.
        """
        if not (isinstance(dt, float) and 0.0 < dt < float("inf")):
            dt = check_scalar("dt", dt, positive=True)
        if method != "auto":
            check_method(method)
        expl, nsub, coef = self._plan_for(dt, method)
        args = (
            self.data,
            self.sources,
            True,
            self._D,
            self._k,
            self._dx,
            dt,
            expl,
            nsub,
            self._faces,
            self._g,
            self._held,
            self._has_mask,
        )
        if self._parallel:
            run_stack(*args, True)
        else:
            # one compiled call, the implicit sweeps' coefficients cached with the plan
            _advance_stack_pre(*args, coef)
