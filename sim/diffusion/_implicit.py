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

# Lines of the contiguous axis are solved in interleaved groups so that the
# serial recurrence of one line is overlapped with the others (instruction-
# level parallelism instead of one latency-bound chain).
_ROW_GROUP = 16
# Column block for sweeps along a strided axis: n * _COL_BLOCK * 8 bytes stays
# within L2 for n up to ~2048 so the backward pass re-reads from cache.
_COL_BLOCK = 64


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


@njit(cache=True, inline="always")
def _react(x, s, has_src, dt, inv_k):
    # (u + dt*S) / (1 + k*dt): division (not a reciprocal product) so that a
    # uniform field follows the backward-Euler reaction law exactly.
    if has_src:
        return (x + dt * s) / inv_k
    return x / inv_k


@njit(cache=True)
def _lastaxis_group(u, src, r0, r1, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    n = u.shape[1]
    # forward elimination, lines r0..r1 interleaved
    for r in range(r0, r1):
        x = u[r, 0]
        if react:
            x = _react(x, src[r, 0] if has_src else 0.0, has_src, dt, one_k)
        if dlo:
            x = g + alpha[0] * (x - g)
        u[r, 0] = x
    for j in range(1, n):
        al = alpha[j]
        for r in range(r0, r1):
            x = u[r, j]
            if react:
                x = _react(x, src[r, j] if has_src else 0.0, has_src, dt, one_k)
            y = u[r, j - 1]
            u[r, j] = y + al * (x - y)
    # back substitution
    if dhi:
        b = beta[n - 1]
        for r in range(r0, r1):
            y = u[r, n - 1]
            u[r, n - 1] = y + b * (g - y)
    for j in range(n - 2, -1, -1):
        b = beta[j]
        for r in range(r0, r1):
            y = u[r, j]
            u[r, j] = y + b * (u[r, j + 1] - y)


@njit(cache=True)
def _lastaxis_group_react_only(u, src, r0, r1, react, has_src, dt, one_k):
    # D == 0 on this axis but the reaction must still be applied once.
    if not react:
        return
    for r in range(r0, r1):
        for j in range(u.shape[1]):
            u[r, j] = _react(u[r, j], src[r, j] if has_src else 0.0, has_src, dt, one_k)


@njit(cache=True)
def sweep_last_axis(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    """Serial implicit sweep along axis 1 of ``u`` (shape (lines, n)), in place.

    If ``react`` the backward-Euler reaction ``(u + dt*src) / one_k`` is fused
    into the forward pass (``src`` has u's shape when ``has_src``).
    """
    lines = u.shape[0]
    for r0 in range(0, lines, _ROW_GROUP):
        r1 = min(r0 + _ROW_GROUP, lines)
        _lastaxis_group(u, src, r0, r1, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)


@njit(cache=True, parallel=True)
def sweep_last_axis_parallel(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    """Threaded :func:`sweep_last_axis`; lines are independent so the result
    is bit-identical to the serial version for any thread count."""
    lines = u.shape[0]
    ngroups = (lines + _ROW_GROUP - 1) // _ROW_GROUP
    for k in prange(ngroups):
        r0 = k * _ROW_GROUP
        r1 = min(r0 + _ROW_GROUP, lines)
        _lastaxis_group(u, src, r0, r1, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)


@njit(cache=True)
def _strided_block(u, bidx, c0, c1, alpha, beta, dlo, dhi, g):
    v = u[bidx]
    n = v.shape[0]
    if dlo:
        a0 = alpha[0]
        for c in range(c0, c1):
            v[0, c] = g + a0 * (v[0, c] - g)
    for i in range(1, n):
        al = alpha[i]
        for c in range(c0, c1):
            y = v[i - 1, c]
            v[i, c] = y + al * (v[i, c] - y)
    if dhi:
        b = beta[n - 1]
        for c in range(c0, c1):
            y = v[n - 1, c]
            v[n - 1, c] = y + b * (g - y)
    for i in range(n - 2, -1, -1):
        b = beta[i]
        for c in range(c0, c1):
            y = v[i, c]
            v[i, c] = y + b * (v[i + 1, c] - y)


@njit(cache=True)
def sweep_middle_axis(u, alpha, beta, dlo, dhi, g):
    """Serial implicit sweep along axis 1 of ``u`` (shape (batch, n, m)).

    The recurrence runs over rows while the inner loop runs over the
    contiguous axis, so it vectorises; columns are processed in blocks that
    keep the backward pass in L2.
    """
    m = u.shape[2]
    for b in range(u.shape[0]):
        for c0 in range(0, m, _COL_BLOCK):
            _strided_block(u, b, c0, min(c0 + _COL_BLOCK, m), alpha, beta, dlo, dhi, g)


@njit(cache=True, parallel=True)
def sweep_middle_axis_parallel(u, alpha, beta, dlo, dhi, g):
    """Threaded :func:`sweep_middle_axis` over independent column blocks."""
    m = u.shape[2]
    nb = (m + _COL_BLOCK - 1) // _COL_BLOCK
    total = u.shape[0] * nb
    for t in prange(total):
        b = t // nb
        c0 = (t % nb) * _COL_BLOCK
        _strided_block(u, b, c0, min(c0 + _COL_BLOCK, m), alpha, beta, dlo, dhi, g)


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
