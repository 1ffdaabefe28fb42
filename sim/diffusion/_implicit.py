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

from ._simd import (
    NT,
    NT_NARROW,
    bwd_narrow,
    bwd_wide,
    fma,
    fwd_narrow,
    fwd_narrow_react,
    fwd_wide,
    fwd_wide_react,
    strided1,
    strided2,
    strided3,
    strided4,
    strided5,
    strided6,
    strided7,
    strided8,
)

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
def _sweep_last_axis_reference(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    """Reference (pre-SIMD) serial sweep along axis 1: eight scalar chains at
    a time, reaction by division.  Used for float32 fields and kept as the
    baseline of the benchmark and the tests.

    If ``react`` the backward-Euler reaction ``(u + dt*src) / one_k`` is
    applied to each group of lines just before it is swept (``src`` has u's
    shape when ``has_src``), so it costs no extra pass over memory.
    """
    ngroups = (u.shape[0] + _ROW_GROUP - 1) // _ROW_GROUP
    _lastaxis_groups(u, src, 0, ngroups, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)


@njit(cache=True, parallel=True)
def _sweep_last_axis_parallel_reference(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, nchunks):
    """Threaded :func:`_sweep_last_axis_reference`."""
    ngroups = (u.shape[0] + _ROW_GROUP - 1) // _ROW_GROUP
    nchunks = max(1, min(nchunks, ngroups))
    for c in prange(nchunks):
        g0 = (c * ngroups) // nchunks
        g1 = ((c + 1) * ngroups) // nchunks
        _lastaxis_groups(u, src, g0, g1, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)


@njit(cache=True)
def block_lines(u):
    """Lines per SIMD block of the contiguous-axis sweep of ``u`` (lines, n):
    ``NT`` tiles of V lanes, or ``NT_NARROW`` tiles when the lines of a wide
    block would crowd one L1 set (line stride a multiple of 4 KiB)."""
    V = 32 // u.itemsize
    stride = u.shape[1] * u.itemsize
    W = NT * V
    # L1: 64-byte lines, 64 sets, 12 ways (8 kept free for the rest)
    counts = np.zeros(64, dtype=np.int64)
    worst = 0
    for r in range(W):
        s = (r * stride // 64) % 64
        counts[s] += 1
        worst = max(worst, counts[s])
    return W if worst <= 8 else NT_NARROW * V


@njit(cache=True)
def _react1(a, one_k, inv, lo, hi):
    # scalar twin of the Markstein reaction (see _react_rows_fast)
    x = abs(a)
    if a == 0.0 or (x >= lo and x <= hi):
        q = a * inv
        e = fma(-q, one_k, a)
        q = fma(e, inv, q)
        e = fma(-q, one_k, a)
        return fma(e, inv, q)
    return a / one_k


@njit(cache=True)
def _add_source(u, src, r0, r1, dt):
    # u += dt * S on lines r0..r1 as one flat loop, not contracted (rounded
    # exactly as the reference kernel's (u + dt*S) / one_k numerator)
    n = u.shape[1]
    uf = u.reshape(u.size)[r0 * n : r1 * n]
    sf = src.reshape(src.size)[r0 * n : r1 * n]
    for j in range(uf.shape[0]):
        uf[j] = uf[j] + dt * sf[j]


@njit(cache=True)
def _react_rows_fast(u, src, r0, r1, has_src, dt, one_k, inv, lo, hi):
    # (u + dt*S) / one_k, correctly rounded, without a division: the divider
    # (~2 cycles per float64 even vectorised) was the largest single cost of
    # the step.  Markstein's correction  q' = q + (a - b q) y  with y = RN(1/b)
    # is RN(a/b) once q is within one ulp of a/b (Markstein 1990; Muller et
    # al., Handbook of Floating-Point Arithmetic, "Markstein's theorem");
    # q0 = RN(a y) can be 1.5 ulp off, so a first correction brings it within
    # one ulp and a second one rounds it correctly.  The residuals are exact
    # FMAs only without underflow or overflow: an |a| outside [lo, hi]
    # (lo = 2**-900 * one_k, hi = 2**1000; NaN and inf included) is divided.
    # Compiled without contraction, so that u + dt*S is rounded exactly as by
    # the reference kernel.  The SIMD blocks do the same inside fwd_*_react.
    if has_src:
        _add_source(u, src, r0, r1, dt)
    for r in range(r0, r1):
        ur = u[r]
        for j in range(ur.shape[0]):
            ur[j] = _react1(ur[j], one_k, inv, lo, hi)


@njit(cache=True)
def _line_scalar(u, r, alpha, beta, dlo, dhi, g):
    # One line with the arithmetic of the SIMD blocks (explicit FMAs), for the
    # lines left over after the last full block.  alpha[0] == 1 at a no-flux
    # end and beta[n-1] == 0 at a no-flux end, so both ends need no branch:
    # fma(1, x - x, x) == x and fma(0, 0 - y, y) == y exactly.
    ur = u[r]
    n = ur.shape[0]
    y = g if dlo else ur[0]
    for j in range(n):
        y = fma(alpha[j], ur[j] - y, y)
        ur[j] = y
    x = g if dhi else 0.0
    for j in range(n - 1, -1, -1):
        y = ur[j]
        x = fma(beta[j], x - y, y)
        ur[j] = x


@njit(cache=True)
def _lastaxis_blocks(u, src, b0, b1, W, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, run):
    # Blocks b0..b1 of W lines.  Per block: the source added (lines in L1),
    # the forward pass chunk by chunk of V columns (load V x V tiles,
    # transpose in registers, reaction, V-lane recurrence, store transposed in
    # place), the scalar tail columns, then the backward pass (which
    # transposes back).
    V = 32 // u.itemsize
    wide = W == NT * V
    n = u.shape[1]
    nfull = (n // V) * V
    inv = 1.0 / one_k
    lo = one_k * 2.0**-900
    hi = 2.0**1000
    for blk in range(b0, b1):
        r0 = blk * W
        if react and has_src:
            _add_source(u, src, r0, r0 + W, dt)
        for ln in range(W):
            x0 = u[r0 + ln, 0]
            if react:
                x0 = _react1(x0, one_k, inv, lo, hi)
            run[ln] = g if dlo else x0
        for j0 in range(0, nfull, V):
            if react:
                if wide:
                    fwd_wide_react(u, r0, j0, alpha, run, one_k, inv, lo, hi)
                else:
                    fwd_narrow_react(u, r0, j0, alpha, run, one_k, inv, lo, hi)
            elif wide:
                fwd_wide(u, r0, j0, alpha, run)
            else:
                fwd_narrow(u, r0, j0, alpha, run)
        for ln in range(W):
            ur = u[r0 + ln]
            y = run[ln]
            for j in range(nfull, n):
                r = ur[j]
                if react:
                    r = _react1(r, one_k, inv, lo, hi)
                y = fma(alpha[j], r - y, y)
                ur[j] = y
            x = g if dhi else 0.0
            for j in range(n - 1, nfull - 1, -1):
                y = ur[j]
                x = fma(beta[j], x - y, y)
                ur[j] = x
            run[ln] = x
        for j0 in range(nfull - V, -1, -V):
            if wide:
                bwd_wide(u, r0, j0, beta, run)
            else:
                bwd_narrow(u, r0, j0, beta, run)


@njit(cache=True)
def _lastaxis_range(u, src, l0, l1, W, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, run):
    # Lines l0..l1 (l0 a multiple of W): full blocks of W, then of the narrow
    # width, then single lines.
    nb = (l1 - l0) // W
    _lastaxis_blocks(u, src, l0 // W, l0 // W + nb, W, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, run)
    r0 = l0 + nb * W
    Wn = NT_NARROW * (32 // u.itemsize)
    if Wn < W:
        nn = (l1 - r0) // Wn
        _lastaxis_blocks(u, src, r0 // Wn, r0 // Wn + nn, Wn, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, run)
        r0 += nn * Wn
    if r0 < l1:
        if react:
            _react_rows_fast(u, src, r0, l1, has_src, dt, one_k, 1.0 / one_k, one_k * 2.0**-900, 2.0**1000)
        for r in range(r0, l1):
            _line_scalar(u, r, alpha, beta, dlo, dhi, g)


@njit(cache=True)
def sweep_last_axis(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k):
    """Serial implicit sweep along axis 1 of ``u`` (shape (lines, n)), in place.

    If ``react`` the backward-Euler reaction ``(u + dt*src) / one_k`` is
    applied to each block of lines just before it is swept (``src`` has u's
    shape when ``has_src``), so it costs no extra pass over memory.

    float64: blocks of :func:`block_lines` lines swept with SIMD across lines
    (see ``_simd.py``); float32 uses :func:`_sweep_last_axis_reference`.
    Allocates one vector of :func:`block_lines` values.
    """
    if u.itemsize != 8:
        _sweep_last_axis_reference(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k)
        return
    W = block_lines(u)
    run = np.empty(W, dtype=u.dtype)
    _lastaxis_range(u, src, 0, u.shape[0], W, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, run)


@njit(cache=True, parallel=True)
def sweep_last_axis_parallel(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, nchunks):
    """Threaded :func:`sweep_last_axis`: ``nchunks`` contiguous ranges of
    line blocks run concurrently.  Lines are independent and every path
    (SIMD block or single line) does the same arithmetic per line, so the
    result is bit-identical to the serial sweep for any thread count."""
    if u.itemsize != 8:
        _sweep_last_axis_parallel_reference(u, src, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, nchunks)
        return
    W = block_lines(u)
    lines = u.shape[0]
    nblocks = (lines + W - 1) // W
    nchunks = max(1, min(nchunks, nblocks))
    for c in prange(nchunks):
        l0 = ((c * nblocks) // nchunks) * W
        l1 = min(lines, (((c + 1) * nblocks) // nchunks) * W)
        run = np.empty(W, dtype=u.dtype)
        _lastaxis_range(u, src, l0, l1, W, alpha, beta, dlo, dhi, g, react, has_src, dt, one_k, run)


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
def _strided_cols(u, bidx, c0, c1, alpha, beta, dlo, dhi, g):
    # Columns c0..c1 of u[bidx]: float64 in SIMD chunks of up to 32 columns
    # with the running values in registers (_simd.strided*), the last < 4
    # columns (and float32) by _strided_block.  Same arithmetic per column.
    # Not when the row stride is a multiple of 4 KiB: a column chunk then
    # sits in a few L1 sets and the wide row blocks of _strided_block win
    # (measured 1.1 vs 0.8 ns per cell at 1024^2).
    if u.itemsize == 8 and (u.shape[2] * u.itemsize) % 4096 != 0:
        v = u[bidx]
        V = 4
        c = c0
        while c1 - c >= V:
            k = min((c1 - c) // V, 8)
            if k == 8:
                strided8(v, c, alpha, beta, dlo, dhi, g)
            elif k == 7:
                strided7(v, c, alpha, beta, dlo, dhi, g)
            elif k == 6:
                strided6(v, c, alpha, beta, dlo, dhi, g)
            elif k == 5:
                strided5(v, c, alpha, beta, dlo, dhi, g)
            elif k == 4:
                strided4(v, c, alpha, beta, dlo, dhi, g)
            elif k == 3:
                strided3(v, c, alpha, beta, dlo, dhi, g)
            elif k == 2:
                strided2(v, c, alpha, beta, dlo, dhi, g)
            else:
                strided1(v, c, alpha, beta, dlo, dhi, g)
            c += k * V
        if c < c1:
            _strided_block(u, bidx, c, c1, alpha, beta, dlo, dhi, g)
    else:
        _strided_block(u, bidx, c0, c1, alpha, beta, dlo, dhi, g)


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
            _strided_cols(u, b, c0, min(c0 + cb, m), alpha, beta, dlo, dhi, g)


@njit(cache=True)
def _sweep_middle_axis_reference(u, alpha, beta, dlo, dhi, g):
    """The pre-SIMD strided sweep (LLVM-vectorised row loops), for tests and
    the benchmark."""
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
        _strided_cols(u, b, c0, min(c0 + cb, m), alpha, beta, dlo, dhi, g)


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
