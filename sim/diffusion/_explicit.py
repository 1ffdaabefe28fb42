"""Forward-Euler diffusion-reaction step, updated in place with rolling buffers.

One sub-step of ``u += dts * (D lap(u) - k u + S)`` with the 5-/7-point
conservative stencil.  The grid is overwritten in place: while row ``i`` is
updated, its old values are moved into a rolling buffer that then serves as
the "row above" of row ``i + 1`` (in 3-D a plane buffer, row by row), so each
cell is read once and written once from memory -- the traffic of a copy of
the grid -- and no grid-sized scratch array is needed.

The Laplacian is accumulated as a sum of neighbour *differences*
``(u_nb - u_c)``; a no-flux face is a mirror ghost, whose difference is an
exact zero.  This keeps a uniform field exactly uniform and makes the face
fluxes antisymmetric.
"""

import math

import numpy as np
from numba import njit, prange

# Only FMA contraction is allowed (no reassociation): y + a*(x - y) becomes one
# fused multiply-add, which shortens the serial recurrence and keeps every
# exactness argument (a uniform line stays bit-exact, lerps of non-negative
# values stay non-negative: the exact result is rounded once).
_CONTRACT = {"contract"}

#: Fraction of the positivity limit actually used per sub-step.  At exactly
#: the limit the centre weight ``1 - dts*(2*ndim*D/dx**2 + k)`` is zero and
#: round-off could make it slightly negative; 0.9 keeps a margin far above
#: round-off while costing only 11 % more sub-steps.
SAFETY = 0.9


def explicit_dt_limit(D, decay, dx, ndim):
    """Largest forward-Euler step that keeps the scheme positive and monotone.

    Parameters
    ----------
    D : float
        Diffusion coefficient, µm²/s.
    decay : float
        First-order decay rate, 1/s.
    dx : float
        Voxel edge, µm.
    ndim : int
        Number of spatial dimensions (2 or 3).

    Returns
    -------
    float
        ``dx**2 / (2*ndim*D + decay*dx**2)`` in s (``inf`` if D = decay = 0).
        Below it the new value of every voxel is a non-negative combination
        of its old value and its neighbours', hence non-negativity, the
        discrete maximum principle and stability (the von Neumann limit is
        twice as large, but would allow sign oscillations).
    """
    denom = 2.0 * ndim * float(D) + float(decay) * float(dx) ** 2
    if denom <= 0.0:
        return math.inf
    return float(dx) ** 2 / denom


def explicit_substeps(dt, D, decay, dx, ndim):
    """Number of forward-Euler sub-steps used to advance by ``dt`` seconds."""
    lim = explicit_dt_limit(D, decay, dx, ndim)
    if math.isinf(lim):
        return 1
    return max(1, math.ceil(dt / (SAFETY * lim)))


@njit(cache=True, fastmath=_CONTRACT)
def _cell(c, lap, cx, dtk, dts, s):
    return c + cx * lap - dtk * c + dts * s


@njit(cache=True, fastmath=_CONTRACT)
def _row2(ui, prev, dn, lo_held, hi_held, g, cx, dtk, dts, s, has_src, pure):
    """Update 2-D row ``ui`` in place.

    ``prev`` holds the old row above on entry and the old ``ui`` on exit
    (read before write at the same index, which LLVM can vectorise because it
    is one array).  The old left neighbour is carried in a scalar; the right
    one is still unmodified in ``ui``.  ``lo_held``/``hi_held``: Dirichlet
    ghosts (value g) beyond the row ends, else mirror (zero difference).
    """
    n = ui.shape[0]
    cl = g if lo_held else ui[0]
    if pure:
        for j in range(n - 1):
            cj = ui[j]
            lap = (prev[j] - cj) + (dn[j] - cj) + (cl - cj) + (ui[j + 1] - cj)
            prev[j] = cj
            ui[j] = cj + cx * lap
            cl = cj
    else:
        for j in range(n - 1):
            cj = ui[j]
            lap = (prev[j] - cj) + (dn[j] - cj) + (cl - cj) + (ui[j + 1] - cj)
            prev[j] = cj
            ui[j] = _cell(cj, lap, cx, dtk, dts, s[j] if has_src else 0.0)
            cl = cj
    j = n - 1
    cj = ui[j]
    cr = g if hi_held else cj
    lap = (prev[j] - cj) + (dn[j] - cj) + (cl - cj) + (cr - cj)
    prev[j] = cj
    if pure:
        ui[j] = cj + cx * lap
    else:
        ui[j] = _cell(cj, lap, cx, dtk, dts, s[j] if has_src else 0.0)


@njit(cache=True, fastmath=_CONTRACT)
def _row3(ui, prev, lf, rt, dn, lo_held, hi_held, g, cx, dtk, dts, s, has_src, pure):
    """3-D analogue of :func:`_row2`: ``prev`` is row j of the old plane
    above (replaced by the old ``ui``), ``lf`` the old row j-1 of this plane,
    ``rt`` row j+1 (not yet updated), ``dn`` row j of the plane below."""
    n = ui.shape[0]
    cl = g if lo_held else ui[0]
    if pure:
        for j in range(n - 1):
            cj = ui[j]
            lap = (prev[j] - cj) + (dn[j] - cj) + (lf[j] - cj) + (rt[j] - cj) + (cl - cj) + (ui[j + 1] - cj)
            prev[j] = cj
            ui[j] = cj + cx * lap
            cl = cj
    else:
        for j in range(n - 1):
            cj = ui[j]
            lap = (prev[j] - cj) + (dn[j] - cj) + (lf[j] - cj) + (rt[j] - cj) + (cl - cj) + (ui[j + 1] - cj)
            prev[j] = cj
            ui[j] = _cell(cj, lap, cx, dtk, dts, s[j] if has_src else 0.0)
            cl = cj
    j = n - 1
    cj = ui[j]
    cr = g if hi_held else cj
    lap = (prev[j] - cj) + (dn[j] - cj) + (lf[j] - cj) + (rt[j] - cj) + (cl - cj) + (cr - cj)
    prev[j] = cj
    if pure:
        ui[j] = cj + cx * lap
    else:
        ui[j] = _cell(cj, lap, cx, dtk, dts, s[j] if has_src else 0.0)


@njit(cache=True)
def _copy(dst, src):
    # explicit loop: measured 2x faster than numba's slice assignment
    for j in range(src.shape[0]):
        dst[j] = src[j]


@njit(cache=True)
def _fill(dst, g):
    for j in range(dst.shape[0]):
        dst[j] = g


@njit(cache=True)
def _hold(out, held, g):
    for j in range(out.shape[0]):
        if held[j]:
            out[j] = g


@njit(cache=True)
def _chunk2d(u, src, has_src, held, has_mask, i0, i1, halo, buf, faces, g, cx, dtk, dts):
    # buf[0]: old row above the current one; buf[1]: spare (ghost / last row)
    nx = u.shape[0]
    pure = dtk == 0.0 and not has_src
    prev = buf[0]
    if i0 == 0:
        if faces[0]:
            _fill(prev, g)
        else:
            _copy(prev, u[0])  # mirror: zero difference
    else:
        _copy(prev, halo[0])
    for i in range(i0, i1):
        if i == nx - 1:
            dn = buf[1]
            if faces[1]:
                _fill(dn, g)
            else:
                _copy(dn, u[i])
        elif i == i1 - 1:
            dn = halo[1]
        else:
            dn = u[i + 1]
        _row2(u[i], prev, dn, faces[2], faces[3], g, cx, dtk, dts, src[i] if has_src else prev, has_src, pure)
        if has_mask:
            _hold(u[i], held[i], g)


@njit(cache=True)
def _chunk3d(u, src, has_src, held, has_mask, i0, i1, halo, buf, faces, g, cx, dtk, dts):
    # buf[0]: old plane above (row j replaced by this plane's old row j as the
    # sweep goes); buf[1]: spare plane (ghost / mirror of the last plane);
    # buf[2, 0]: a ghost row of g.  A mirror neighbour is the row itself: it
    # is read before it is written, so its difference is an exact zero.
    nx, ny, nz = u.shape
    pure = dtk == 0.0 and not has_src
    prev = buf[0]
    spare = buf[1]
    if i0 == 0:
        for j in range(ny):
            if faces[0]:
                _fill(prev[j], g)
            else:
                _copy(prev[j], u[0, j])
    else:
        for j in range(ny):
            _copy(prev[j], halo[0, j])
    grow = buf[2, 0]
    _fill(grow, g)
    for i in range(i0, i1):
        if i == nx - 1:
            for j in range(ny):
                if faces[1]:
                    _fill(spare[j], g)
                else:
                    _copy(spare[j], u[i, j])
            dnp = spare
        elif i == i1 - 1:
            dnp = halo[1]
        else:
            dnp = u[i + 1]
        for j in range(ny):
            # rows j-1 / j+1 of this plane; ghosts for Dirichlet y faces are a
            # row of g, mirrors reuse this row (zero difference)
            if j == 0:
                lf = grow if faces[2] else u[i, j]
            else:
                lf = prev[j - 1]
            if j == ny - 1:
                rt = grow if faces[3] else u[i, j]
            else:
                rt = u[i, j + 1]
            _row3(
                u[i, j],
                prev[j],
                lf,
                rt,
                dnp[j],
                faces[4],
                faces[5],
                g,
                cx,
                dtk,
                dts,
                src[i, j] if has_src else prev[j],
                has_src,
                pure,
            )
            if has_mask:
                _hold(u[i, j], held[i, j], g)


@njit(cache=True)
def _fill_halos(u, bounds, halo):
    nx = u.shape[0]
    for c in range(bounds.shape[0] - 1):
        i0 = bounds[c]
        i1 = bounds[c + 1]
        if i0 > 0:
            halo[c, 0] = u[i0 - 1]
        if i1 < nx:
            halo[c, 1] = u[i1]


@njit(cache=True)
def _steps_serial(u, src, has_src, held, has_mask, nsub, bounds, halo, buf, faces, g, cx, dtk, dts):
    for _ in range(nsub):
        if u.ndim == 2:
            _chunk2d(u, src, has_src, held, has_mask, 0, u.shape[0], halo[0], buf[0], faces, g, cx, dtk, dts)
        else:
            _chunk3d(u, src, has_src, held, has_mask, 0, u.shape[0], halo[0], buf[0], faces, g, cx, dtk, dts)


@njit(cache=True, parallel=True)
def _steps_parallel(u, src, has_src, held, has_mask, nsub, bounds, halo, buf, faces, g, cx, dtk, dts):
    # Chunks of rows/planes run concurrently; the old rows bordering each chunk
    # are saved first, so every cell sees the same old neighbours as in the
    # serial sweep and the result does not depend on the thread count.
    nch = bounds.shape[0] - 1
    for _ in range(nsub):
        _fill_halos(u, bounds, halo)
        for c in prange(nch):
            if u.ndim == 2:
                _chunk2d(
                    u, src, has_src, held, has_mask, bounds[c], bounds[c + 1], halo[c], buf[c], faces, g, cx, dtk, dts
                )
            else:
                _chunk3d(
                    u, src, has_src, held, has_mask, bounds[c], bounds[c + 1], halo[c], buf[c], faces, g, cx, dtk, dts
                )


def _layout(u, nchunks):
    nx = u.shape[0]
    nchunks = max(1, min(nchunks, nx))
    bounds = np.empty(nchunks + 1, dtype=np.int64)
    for c in range(nchunks + 1):
        bounds[c] = (c * nx) // nchunks
    plane = u.shape[1:]
    halo = np.empty((nchunks, 2) + plane, dtype=u.dtype)
    buf = np.empty((nchunks, 3) + plane, dtype=u.dtype)
    return bounds, halo, buf


_layout_jit = njit(cache=True)(_layout)


@njit(cache=True)
def explicit_advance(u, src, has_src, held, has_mask, D, k, dx, dt, nsub, faces, g):
    """Advance one field ``u`` (2-D or 3-D) by ``dt`` s in ``nsub`` sub-steps.

    ``src`` must have u's shape if ``has_src`` (else any array of u's ndim);
    ``held`` likewise for ``has_mask``.  ``faces`` is a bool array
    ``(x-, x+, y-, y+[, z-, z+])`` of Dirichlet faces held at ``g``.  Serial;
    scratch is O(one row or plane).
    """
    dts = dt / nsub
    bounds, halo, buf = _layout_jit(u, 1)
    _steps_serial(u, src, has_src, held, has_mask, nsub, bounds, halo, buf, faces, g, D * dts / (dx * dx), dts * k, dts)


def explicit_advance_threaded(u, src, has_src, held, has_mask, D, k, dx, dt, nsub, faces, g, nchunks):
    """Threaded :func:`explicit_advance` for large grids (bit-identical)."""
    dts = dt / nsub
    bounds, halo, buf = _layout(u, nchunks)
    _steps_parallel(
        u, src, has_src, held, has_mask, nsub, bounds, halo, buf, faces, g, D * dts / (dx * dx), dts * k, dts
    )
