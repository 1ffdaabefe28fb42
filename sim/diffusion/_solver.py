"""Public single-field entry point :func:`advance` and the stacked driver.

Both :func:`advance` and :meth:`FieldSet.advance` end in one call of
:func:`_advance_stack`, a numba function that advances a stack of fields
``data[f]`` (shape ``(n_fields, *shape)``) with per-field D, decay and method.
"""

import numba
import numpy as np
from numba import njit

from ._explicit import explicit_advance, explicit_advance_threaded, explicit_substeps
from ._implicit import (
    line_coefficients,
    sweep_last_axis,
    sweep_last_axis_parallel,
    sweep_masked,
    sweep_middle_axis,
    sweep_middle_axis_parallel,
)
from ._validate import check_field, check_method, check_scalar, check_source, resolve_boundary

#: Cost of one implicit LOD step divided by the cost of one explicit sub-step,
#: per field, serial, measured by ``benchmarks/bench_diffusion.py`` on the
#: model's grids (2.4 at 60x40, 3.3 at 150x100, 4.6 at 256x256).
#: ``method="auto"`` uses the explicit scheme only when it needs at most this
#: many sub-steps, i.e. when it is the cheaper of the two.
AUTO_COST_RATIO = 3.0
#: The masked implicit path gathers lines into scratch: measured 14.6 at 60x40.
AUTO_COST_RATIO_MASKED = 12.0
#: Grids with fewer cells than this are advanced on one thread: below it the
#: thread start-up costs more than it saves.
PARALLEL_MIN_CELLS = 1 << 17


def choose_method(method, nsub, masked):
    """Return True for explicit, False for implicit (see :data:`AUTO_COST_RATIO`)."""
    if method == "explicit":
        return True
    if method == "implicit":
        return False
    ratio = AUTO_COST_RATIO_MASKED if masked else AUTO_COST_RATIO
    return nsub <= ratio


def use_threads(n_cells):
    return n_cells >= PARALLEL_MIN_CELLS and numba.get_num_threads() > 1


@njit(cache=True)
def _react_pass(u, s, has_src, held, has_mask, dt, one_k, g):
    uf = u.reshape(u.size)
    sf = s.reshape(s.size)
    hf = held.reshape(held.size)
    c = np.empty(2, dtype=u.dtype)  # evaluate in the field's precision
    c[0] = dt
    c[1] = one_k
    for i in range(uf.size):
        if has_src:
            uf[i] = (uf[i] + c[0] * sf[i]) / c[1]
        else:
            uf[i] = uf[i] / c[1]
        if has_mask and hf[i]:
            uf[i] = g


@njit(cache=True)
def _set_held(u, held, g):
    uf = u.reshape(u.size)
    hf = held.reshape(held.size)
    for i in range(uf.size):
        if hf[i]:
            uf[i] = g


def _axis_view(u, ax):
    """(outer, n, inner) view of u for a sweep along axis ``ax``."""
    n = u.shape[ax]
    outer = 1
    for d in range(ax):
        outer *= u.shape[d]
    return u.reshape((outer, n, u.size // (outer * n)))


_axis_view_jit = njit(cache=True)(_axis_view)


@njit(cache=True)
def implicit_coefficients(shape, D, dx, dt, faces):
    """Thomas coefficients of every unmasked implicit sweep, ``(n_fields, ndim, 2, max n)``.

    ``[f, ax, 0]`` is ``alpha`` and ``[f, ax, 1]`` ``beta`` of field ``f``'s sweep along axis ``ax``
    (:func:`sim.diffusion._implicit.line_coefficients`). They depend only on D, dt, dx, the line lengths and
    the faces, so a caller with a fixed step computes them once (the model does, per run) instead of every step.
    """
    ndim = len(shape)
    maxn = 1
    for d in range(ndim):
        maxn = max(maxn, shape[d])
    out = np.zeros((D.shape[0], ndim, 2, maxn))
    for f in range(D.shape[0]):
        a = D[f] * dt / (dx * dx)
        for ax in range(ndim):
            line_coefficients(shape[ax], a, faces[2 * ax], faces[2 * ax + 1], out[f, ax, 0], out[f, ax, 1])
    return out


@njit(cache=True)
def _implicit_field_pre(u, s, has_src, held, has_mask, D, k, dx, dt, faces, g, coef, line, hline, w):
    """One backward-Euler LOD step of one field, serial (see _implicit.py), with the field's precomputed
    sweep coefficients ``coef`` (ndim, 2, max n) from :func:`implicit_coefficients`."""
    ndim = u.ndim
    one_k = 1.0 + k * dt
    react = k != 0.0 or has_src
    a = D * dt / (dx * dx)
    if has_mask or a == 0.0:
        if react:
            _react_pass(u, s, has_src, held, has_mask, dt, one_k, g)
        if a > 0.0:
            for ax in range(ndim - 1, -1, -1):
                sweep_masked(u, held, ax, a, faces[2 * ax], faces[2 * ax + 1], g, line, hline, w)
        return
    # contiguous axis first, with the reaction fused into its forward pass
    last = ndim - 1
    n = u.shape[last]
    u2 = u.reshape((u.size // n, n))
    s2 = s.reshape((s.size // s.shape[-1], s.shape[-1]))
    # the reaction is evaluated in the field's precision, so that a uniform
    # float32 field also follows (u + dt*S) / (1 + k*dt) bit for bit
    c = np.empty(2, dtype=u.dtype)
    c[0] = dt
    c[1] = one_k
    sweep_last_axis(
        u2, s2, coef[last, 0], coef[last, 1], faces[2 * last], faces[2 * last + 1], g, react, has_src, c[0], c[1]
    )
    for ax in range(ndim - 2, -1, -1):
        sweep_middle_axis(_axis_view_jit(u, ax), coef[ax, 0], coef[ax, 1], faces[2 * ax], faces[2 * ax + 1], g)


@njit(cache=True)
def _implicit_field(u, s, has_src, held, has_mask, D, k, dx, dt, faces, g, alpha, beta, line, hline, w):
    """One backward-Euler LOD step of one field, serial, coefficients computed here (``alpha``, ``beta``:
    unused scratch kept for the callers' signature)."""
    coef = implicit_coefficients(u.shape, np.array([D]), dx, dt, faces)
    _implicit_field_pre(u, s, has_src, held, has_mask, D, k, dx, dt, faces, g, coef[0], line, hline, w)


def _implicit_field_threaded(u, s, has_src, D, k, dx, dt, faces, g, nchunks):
    """Threaded unmasked LOD step for large grids: the same kernels' threaded
    twins called in the same order, hence bit-identical to the serial step."""
    ndim = u.ndim
    one_k = 1.0 + k * dt
    react = k != 0.0 or has_src
    a = D * dt / (dx * dx)
    alpha = np.empty(max(u.shape))
    beta = np.empty_like(alpha)
    last = ndim - 1
    n = u.shape[last]
    line_coefficients(n, a, faces[2 * last], faces[2 * last + 1], alpha, beta)
    c = np.array([dt, one_k], dtype=u.dtype)
    sweep_last_axis_parallel(
        u.reshape(-1, n),
        s.reshape(-1, s.shape[-1]),
        alpha,
        beta,
        faces[2 * last],
        faces[2 * last + 1],
        g,
        react,
        has_src,
        c[0],
        c[1],
        nchunks,
    )
    for ax in range(ndim - 2, -1, -1):
        line_coefficients(u.shape[ax], a, faces[2 * ax], faces[2 * ax + 1], alpha, beta)
        sweep_middle_axis_parallel(_axis_view(u, ax), alpha, beta, faces[2 * ax], faces[2 * ax + 1], g)


@njit(cache=True)
def _advance_stack(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask):
    """Advance every field of ``data`` (shape (n_fields, *shape)) in place.

    ``src`` is the stacked source (same shape) when ``has_src``, otherwise any
    array of the same ndim; ``held`` is the mask (spatial shape) when
    ``has_mask``.  ``D``, ``k``, ``explicit``, ``nsub`` are per-field arrays.
    Serial: this is the single kernel call behind small-grid FieldSet steps.
    """
    coef = implicit_coefficients(data.shape[1:], D, dx, dt, faces)
    _advance_stack_pre(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask, coef)


@njit(cache=True)
def _advance_stack_pre(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask, coef):
    """:func:`_advance_stack` with the sweep coefficients ``coef`` precomputed by :func:`implicit_coefficients`
    for this ``dt`` (bit-identical: the same coefficients, computed once instead of every step)."""
    maxn = 1
    for d in range(1, data.ndim):
        maxn = max(maxn, data.shape[d])
    line = np.empty(maxn)
    hline = np.empty(maxn, dtype=np.bool_)
    w = np.empty(maxn)
    for f in range(data.shape[0]):
        u = data[f]
        s = src[f] if has_src else src[0]
        if has_mask:
            _set_held(u, held, g)
        if explicit[f]:
            explicit_advance(u, s, has_src, held, has_mask, D[f], k[f], dx, dt, nsub[f], faces, g)
        else:
            _implicit_field_pre(u, s, has_src, held, has_mask, D[f], k[f], dx, dt, faces, g, coef[f], line, hline, w)


def _advance_stack_threaded(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask):
    """Large-grid version of :func:`_advance_stack`: per field, the threaded
    kernels (each call covers millions of cells, so the Python loop is free).
    The masked implicit path has no threaded twin and runs serially."""
    nchunks = numba.get_num_threads()
    for f in range(data.shape[0]):
        u = data[f]
        s = src[f] if has_src else src[0]
        if has_mask:
            _set_held(u, held, g)
        if explicit[f]:
            explicit_advance_threaded(u, s, has_src, held, has_mask, D[f], k[f], dx, dt, nsub[f], faces, g, nchunks)
        elif has_mask or D[f] == 0.0:
            _advance_stack(
                data[f : f + 1],
                src[f : f + 1] if has_src else src,
                has_src,
                D[f : f + 1],
                k[f : f + 1],
                dx,
                dt,
                explicit[f : f + 1],
                nsub[f : f + 1],
                faces,
                g,
                held,
                has_mask,
            )
        else:
            _implicit_field_threaded(u, s, has_src, D[f], k[f], dx, dt, faces, g, nchunks)


def run_stack(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask, threaded):
    """Dispatch to the serial kernel or the threaded path."""
    if threaded:
        _advance_stack_threaded(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask)
    else:
        _advance_stack(data, src, has_src, D, k, dx, dt, explicit, nsub, faces, g, held, has_mask)


_DUMMY_SRC = {}
_DUMMY_MASK = {}


def _dummy_src(ndim, dtype):
    key = (ndim, np.dtype(dtype).str)
    if key not in _DUMMY_SRC:
        _DUMMY_SRC[key] = np.zeros((1,) * ndim, dtype=dtype)
    return _DUMMY_SRC[key]


def _dummy_mask(ndim):
    if ndim not in _DUMMY_MASK:
        _DUMMY_MASK[ndim] = np.zeros((1,) * ndim, dtype=np.bool_)
    return _DUMMY_MASK[ndim]


def advance(u, *, D, decay=0.0, dx, dt, source=None, boundary="no-flux", method="auto"):
    """Advance a concentration field in place by one time step.

    Solves ``du/dt = D * lap(u) - decay * u + source`` on a cell-centred grid
    of cubic voxels.

    Parameters
    ----------
    u : ndarray, shape (nx, ny) or (nx, ny, nz), float32 or float64
        Concentration field (any concentration unit), C-contiguous; modified
        in place.  Axis 0 is "x", axis 1 "y", axis 2 "z".
    D : float
        Diffusion coefficient, µm²/s (>= 0).
    decay : float, default 0.0
        First-order decay rate, 1/s (>= 0).
    dx : float
        Voxel edge, µm (> 0).
    dt : float
        Time step, s (> 0).
    source : ndarray or None
        Production rate, concentration units per second, same shape and dtype
        as ``u``; held constant over the step.
    boundary : "no-flux" or Dirichlet
        No-flux on every face, or a :class:`Dirichlet` giving held faces
        and/or a mask of held voxels.
    method : {"auto", "implicit", "explicit"}
        ``"implicit"``: backward Euler with LOD splitting, unconditionally
        stable, first order in time.  ``"explicit"``: forward Euler with as
        many sub-steps as the positivity limit requires
        (:func:`explicit_dt_limit`).  ``"auto"``: explicit when it needs at most
        ``AUTO_COST_RATIO`` sub-steps (it is then the cheaper), else implicit.

    Raises
    ------
    ValueError
        On any invalid argument; ``u`` is then left unchanged.
    """
    check_field(u)
    D = check_scalar("D", D)
    decay = check_scalar("decay", decay)
    dx = check_scalar("dx", dx, positive=True)
    dt = check_scalar("dt", dt, positive=True)
    source = check_source(source, u.shape, u.dtype)
    method = check_method(method)
    faces, g, mask = resolve_boundary(boundary, u.shape)

    nsub = explicit_substeps(dt, D, decay, dx, u.ndim)
    explicit = choose_method(method, nsub, mask is not None)
    data = u.reshape((1,) + u.shape)
    has_src = source is not None
    src = source.reshape((1,) + u.shape) if has_src else _dummy_src(u.ndim + 1, u.dtype)
    has_mask = mask is not None
    held = mask if has_mask else _dummy_mask(u.ndim)
    run_stack(
        data,
        src,
        has_src,
        np.array([D]),
        np.array([decay]),
        dx,
        dt,
        np.array([explicit]),
        np.array([nsub if explicit else 1], dtype=np.int64),
        faces,
        g,
        held,
        has_mask,
        use_threads(u.size),
    )
