"""Backward-Euler LOD diffusion: Thomas sweeps written as convex combinations.

Each 1-D implicit solve ``(I - a L) x = r`` (``a = D dt / dx**2``, ``L`` the
conservative 3-point Laplacian with no-flux or Dirichlet-ghost ends) is done by
the Thomas algorithm rewritten in *normalised* form.  The forward elimination
keeps ``y_i = d'_i / w_i`` where ``w_i`` is what ``d'_i`` would be for an
all-ones right-hand side, so that

    y_i = y_{i-1} + alpha_i * (r_i - y_{i-1}),        0 < alpha_i <= 1
    x_i = y_i     + beta_i  * (x_{i+1} - y_i),        0 <= beta_i < 1

Every value is a lerp between two earlier values with a weight in [0, 1].
Why this form rather than the textbook one:

* a uniform line is reproduced bit for bit (``r - y == 0``), so the decay law
  of a uniform field is exactly the backward-Euler reaction factor;
* with non-negative inputs every intermediate is provably non-negative in
  floating point (``fl(y + fl(alpha * fl(r - y))) >= 0``), so non-negativity
  holds exactly, not just to round-off;
* ``alpha`` and ``beta`` depend only on ``a``, the line length and the kinds
  of the two ends, so for unmasked grids they are computed once per axis and
  shared by every line: the per-cell work is one subtract and one FMA per pass.

Masked voxels (held at a value) split a line into independent segments whose
ends behave like Dirichlet ghosts; their coefficients differ per line and are
computed on the fly by :func:`_solve_masked_line`.
"""

import numpy as np
from numba import njit, prange

# Only FMA contraction is allowed (no reassociation): y + a*(x - y) becomes one
# fused multiply-add, which shortens the serial recurrence and keeps every
# exactness argument (a uniform line stays bit-exact, lerps of non-negative
# values stay non-negative: the exact result is rounded once).
_CONTRACT = {"contract"}

# Lines of the contiguous axis are solved in interleaved groups so that the
# serial recurrence of one line is overlapped with the others (instruction-
# level parallelism instead of one latency-bound chain).  8 measured best.
_ROW_GROUP = 8
# Column blocks for sweeps along a strided axis.  While the grid fits in L3
# wide blocks give long vector loops; beyond that, narrow blocks keep the
# n x block slab in L2 so the backward pass does not go back to DRAM
# (measured on the 2-core EPYC: 2048^2 best at 32-64 columns).
_COL_BLOCK_WIDE = 512
_COL_BLOCK_NARROW = 48
_L3_BYTES = 16 << 20


@njit(cache=True)
def _col_block(u):
    if u.size * u.itemsize <= _L3_BYTES:
        return _COL_BLOCK_WIDE
    return _COL_BLOCK_NARROW


@njit(cache=True)
def line_coefficients(n, a, dirichlet_lo, dirichlet_hi, alpha, beta):
    """Fill ``alpha[:n]`` and ``beta[:n]`` for an unmasked line.

    Parameters
    ----------
    n : int
        Number of cells on the line.
    a : float
        ``D * dt / dx**2`` (dimensionless).
    dirichlet_lo, dirichlet_hi : bool
        Whether the low / high end has a Dirichlet ghost (otherwise no-flux).
    alpha, beta : ndarray, shape (>= n,), float64
        Output coefficients.
    """
    w = 0.0
    for i in range(n):
        if i == 0:
            w = 1.0 + a if dirichlet_lo else 1.0
        else:
            w = 1.0 + a * w / (w + a)
        alpha[i] = 1.0 / w
        if i < n - 1 or dirichlet_hi:
            beta[i] = a / (w + a)
        else:
            beta[i] = 0.0


@njit(cache=True)
def _react_rows(u, src, r0, r1, has_src, dt, one_k):
    # (u + dt*S) / (1 + k*dt) on lines r0..r1, in place, just before they are
    # swept (still in L1).  A division, not a reciprocal product, so that a
    # uniform field follows the backward-Euler reaction law exactly; done as
    # its own vectorised loop rather than inside the serial recurrence.
    for r in range(r0, r1):
        ur = u[r]
        if has_src:
            sr = src[r]
            for j in range(ur.shape[0]):
                ur[j] = (ur[j] + dt * sr[j]) / one_k
        else:
            for j in range(ur.shape[0]):
                ur[j] = ur[j] / one_k


@njit(cache=True, fastmath=_CONTRACT)
def _chain8(u, r0, alpha, beta, dlo, dhi, g):
    # Eight lines of the contiguous axis advanced together.  The recurrence is
    # serial along a line, so interleaving eight independent chains hides the
    # sub+FMA latency; the constant trip count lets LLVM keep the eight
    # running values in registers.  (A transposed-block variant measured
    # 10-25 % slower here: the scalar transposes cost more than they save.)
    n = u.shape[1]
    yp = np.empty(_ROW_GROUP, dtype=u.dtype)
    for r in range(_ROW_GROUP):
        x = u[r0 + r, 0]
        if dlo:
            x = g + alpha[0] * (x - g)
        u[r0 + r, 0] = x
        yp[r] = x
    for j in range(1, n):
        al = alpha[j]
        for r in range(_ROW_GROUP):
            y = yp[r]
            y = y + al * (u[r0 + r, j] - y)
            u[r0 + r, j] = y
            yp[r] = y
    b = beta[n - 1]
    for r in range(_ROW_GROUP):
        y = u[r0 + r, n - 1]
        if dhi:
            y = y + b * (g - y)
            u[r0 + r, n - 1] = y
        yp[r] = y
    for j in range(n - 2, -1, -1):
        b = beta[j]
        for r in range(_ROW_GROUP):
            y = u[r0 + r, j]
            y = y + b * (yp[r] - y)
            u[r0 + r, j] = y
            yp[r] = y


@njit(cache=True, fastmath=_CONTRACT)
def _chain_rest(u, r0, rows, alpha, beta, dlo, dhi, g):
    # Same arithmetic as _chain8, for the last < 8 lines.
    n = u.shape[1]
    yp = np.empty(_ROW_GROUP, dtype=u.dtype)
    for r in range(rows):
        x = u[r0 + r, 0]
        if dlo:
            x = g + alpha[0] * (x - g)
        u[r0 + r, 0] = x
        yp[r] = x
    for j in range(1, n):
        al = alpha[j]
        for r in range(rows):
            y = yp[r]
            y = y + al * (u[r0 + r, j] - y)
            u[r0 + r, j] = y
            yp[r] = y
    b = beta[n - 1]
    for r in range(rows):
        y = u[r0 + r, n - 1]
        if dhi:
            y = y + b * (g - y)
            u[r0 + r, n - 1] = y
        yp[r] = y
    for j in range(n - 2, -1, -1):
        b = beta[j]
        for r in range(rows):
            y = u[r0 + r, j]
            y = y + b * (yp[r] - y)
            u[r0 + r, j] = y
            yp[r] = y


@njit(cache=True)
def _lastaxis_groups(u, src, g0, g1, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    lines = u.shape[0]
    for k in range(g0, g1):
        r0 = k * _ROW_GROUP
        r1 = min(r0 + _ROW_GROUP, lines)
        if react:
            _react_rows(u, src, r0, r1, has_src, dt, one_k)
        if r1 - r0 == _ROW_GROUP:
            _chain8(u, r0, alpha, beta, dlo, dhi, g)
        else:
            _chain_rest(u, r0, r1 - r0, alpha, beta, dlo, dhi, g)


@njit(cache=True)
def sweep_last_axis(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    """Serial implicit sweep along axis 1 of ``u`` (shape (lines, n)), in place.

    If ``react`` the backward-Euler reaction ``(u + dt*src) / one_k`` is
    applied to each group of lines just before it is swept (``src`` has u's
    shape when ``has_src``), so it costs no extra pass over memory.
    """
    ngroups = (u.shape[0] + _ROW_GROUP - 1) // _ROW_GROUP
    _lastaxis_groups(u, src, 0, ngroups, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)


@njit(cache=True, parallel=True)
def sweep_last_axis_parallel(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, nchunks):
    """Threaded :func:`sweep_last_axis`: ``nchunks`` contiguous ranges of
    line groups run concurrently.  Lines are independent and each is always
    solved by the same code, so the result is bit-identical to the serial
    sweep for any thread count."""
    ngroups = (u.shape[0] + _ROW_GROUP - 1) // _ROW_GROUP
    nchunks = max(1, min(nchunks, ngroups))
    for c in prange(nchunks):
        g0 = (c * ngroups) // nchunks
        g1 = ((c + 1) * ngroups) // nchunks
        _lastaxis_groups(u, src, g0, g1, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)


@njit(cache=True, fastmath=_CONTRACT)
def _recurrence(v, c0, c1, alpha, beta, dhi, g):
    # Forward elimination and back substitution down the rows of v (n, m) for
    # the columns c0..c1, which are independent lines.  Row slices are taken
    # as 1-D views so LLVM vectorises the column loop (indexing v[i, c] and
    # v[i-1, c] directly defeats its alias analysis).
    n = v.shape[0]
    w = c1 - c0
    for i in range(1, n):
        al = alpha[i]
        p = v[i - 1, c0:c1]
        q = v[i, c0:c1]
        for c in range(w):
            y = p[c]
            q[c] = y + al * (q[c] - y)
    if dhi:
        b = beta[n - 1]
        q = v[n - 1, c0:c1]
        for c in range(w):
            y = q[c]
            q[c] = y + b * (g - y)
    for i in range(n - 2, -1, -1):
        b = beta[i]
        p = v[i + 1, c0:c1]
        q = v[i, c0:c1]
        for c in range(w):
            y = q[c]
            q[c] = y + b * (p[c] - y)


@njit(cache=True)
def _strided_block(u, bidx, c0, c1, alpha, beta, dlo, dhi, g):
    v = u[bidx]
    if dlo:
        a0 = alpha[0]
        q = v[0, c0:c1]
        for c in range(c1 - c0):
            q[c] = g + a0 * (q[c] - g)
    _recurrence(v, c0, c1, alpha, beta, dhi, g)


@njit(cache=True)
def sweep_middle_axis(u, alpha, beta, dlo, dhi, g):
    """Serial implicit sweep along axis 1 of ``u`` (shape (batch, n, m)).

    The recurrence runs over rows while the inner loop runs over the
    contiguous axis, so it vectorises; columns are processed in blocks that
    keep the backward pass in L2.
    """
    m = u.shape[2]
    cb = _col_block(u)
    for b in range(u.shape[0]):
        for c0 in range(0, m, cb):
            _strided_block(u, b, c0, min(c0 + cb, m), alpha, beta, dlo, dhi, g)


@njit(cache=True, parallel=True)
def sweep_middle_axis_parallel(u, alpha, beta, dlo, dhi, g):
    """Threaded :func:`sweep_middle_axis` over independent column blocks."""
    m = u.shape[2]
    cb = _col_block(u)
    nb = (m + cb - 1) // cb
    total = u.shape[0] * nb
    for t in prange(total):
        b = t // nb
        c0 = (t % nb) * cb
        _strided_block(u, b, c0, min(c0 + cb, m), alpha, beta, dlo, dhi, g)


@njit(cache=True)
def _solve_masked_line(x, held, a, dlo, dhi, g, w):
    """Solve one line in place where ``held[i]`` marks cells fixed at ``g``.

    ``w`` is scratch of length >= len(x).  A held cell acts as a Dirichlet
    ghost for its neighbours (infinite weight), which decouples segments.
    """
    n = x.shape[0]
    inf = np.inf
    # w_prev: 0 -> no-flux start, inf -> known value y_prev on the left
    w_prev = inf if dlo else 0.0
    y_prev = g
    for i in range(n):
        if held[i]:
            x[i] = g
            w[i] = inf
            w_prev = inf
            y_prev = g
            continue
        if w_prev == 0.0:
            wi = 1.0
            y = x[i]
        else:
            if w_prev == inf:
                p = a
            else:
                p = a * w_prev / (w_prev + a)
            wi = 1.0 + p
            y = y_prev + (x[i] - y_prev) / wi
        w[i] = wi
        x[i] = y
        w_prev = wi
        y_prev = y
    for i in range(n - 1, -1, -1):
        if held[i]:
            continue
        if i == n - 1:
            if not dhi:
                continue
            nb = g
        else:
            nb = x[i + 1]
        y = x[i]
        x[i] = y + (a / (w[i] + a)) * (nb - y)


@njit(cache=True)
def sweep_masked(u, held, axis, a, dlo, dhi, g, line, hline, w):
    """Implicit sweep along ``axis`` of a 2-D or 3-D field with held voxels.

    Lines are gathered into contiguous scratch (``line``, ``hline``, ``w``,
    each of length >= the axis length), solved, and scattered back.  Serial:
    masks are used on the model's small grids, where threads do not pay.
    """
    n = u.shape[axis]
    flat = u.reshape(-1)
    hflat = held.reshape(-1)
    stride = 1
    for d in range(axis + 1, u.ndim):
        stride *= u.shape[d]
    outer = 1
    for d in range(axis):
        outer *= u.shape[d]
    inner = stride
    for o in range(outer):
        for q in range(inner):
            base = o * n * stride + q
            for i in range(n):
                line[i] = flat[base + i * stride]
                hline[i] = hflat[base + i * stride]
            _solve_masked_line(line[:n], hline[:n], a, dlo, dhi, g, w)
            for i in range(n):
                flat[base + i * stride] = line[i]
