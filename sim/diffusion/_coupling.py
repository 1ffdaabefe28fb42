"""Agent <-> field coupling: secretion, uptake and gradient sensing.

Agents are given by **flat C-order voxel indices** into the spatial shape
(``np.ravel_multi_index(pos, shape)``).

Order independence
------------------
Float addition is not associative, so summing agents' contributions in
storage order would make a field depend on the order of the agent arrays
(which changes when agents are born, die or are shuffled).  Here the agents
are first put in a *canonical order* -- by voxel, then lexicographically by
their amount row -- and each voxel's contributions are summed in that order
before being added to the field.  The canonical order depends only on the
multiset of ``(voxel, amounts)`` rows, so any permutation of the agents gives
bit-identical fields.  Agents whose rows are equal are interchangeable, so
ties do not matter.  Cost: one O(n log n) stable sort by voxel plus an
insertion sort inside each voxel (O(m²) for m agents sharing a voxel, which is
small for cell-sized agents in 100-250 µm voxels).
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _row_less(keys, a, b):
    for c in range(keys.shape[1]):
        x = keys[a, c]
        y = keys[b, c]
        if x < y:
            return True
        if x > y:
            return False
    return False


@njit(cache=True)
def _canonical_order(index, keys):
    order = np.argsort(index, kind="mergesort")
    n = index.shape[0]
    i = 0
    while i < n:
        v = index[order[i]]
        j = i + 1
        while j < n and index[order[j]] == v:
            j += 1
        for p in range(i + 1, j):  # insertion sort of the run by key rows
            cur = order[p]
            q = p - 1
            while q >= i and _row_less(keys, cur, order[q]):
                order[q + 1] = order[q]
                q -= 1
            order[q + 1] = cur
        i = j
    return order


@njit(cache=True)
def _voxel_sums(index, values2):
    """Per-voxel sums of the agents' rows, in the canonical order (bit-identical under permutation).

    Returns the distinct voxels ``(m,)`` and their sums ``(m, k)``.
    """
    order = _canonical_order(index, values2)
    n = index.shape[0]
    k = values2.shape[1]
    voxels = np.empty(n, dtype=np.int64)
    sums = np.zeros((n, k))
    m = 0
    i = 0
    while i < n:
        v = index[order[i]]
        j = i
        while j < n and index[order[j]] == v:
            j += 1
        for f in range(k):
            s = 0.0
            for p in range(i, j):
                s += values2[order[p], f]
            sums[m, f] = s
        voxels[m] = v
        m += 1
        i = j
    return voxels[:m], sums[:m]


@njit(cache=True)
def _deposit_kernel(target2, index, amounts2):
    # target2: (k, n_vox); amounts2: (n, k)
    voxels, sums = _voxel_sums(index, amounts2)
    for g in range(voxels.shape[0]):
        for f in range(sums.shape[1]):
            target2[f, voxels[g]] += sums[g, f]


@njit(cache=True)
def _uptake_kernel(u2, index, rates2, dt):
    voxels, sums = _voxel_sums(index, rates2)
    for g in range(voxels.shape[0]):
        for f in range(sums.shape[1]):
            u2[f, voxels[g]] = u2[f, voxels[g]] / (1.0 + dt * sums[g, f])


@njit(cache=True)
def _gradient_2d(u, index, inv_dx, out):
    nx, ny = u.shape
    for a in range(index.shape[0]):
        i = index[a] // ny
        j = index[a] % ny
        out[a, 0] = _diff(u[:, j], i, nx, inv_dx)
        out[a, 1] = _diff(u[i, :], j, ny, inv_dx)


@njit(cache=True)
def _gradient_3d(u, index, inv_dx, out):
    nx, ny, nz = u.shape
    for a in range(index.shape[0]):
        i = index[a] // (ny * nz)
        r = index[a] % (ny * nz)
        j = r // nz
        k = r % nz
        out[a, 0] = _diff(u[:, j, k], i, nx, inv_dx)
        out[a, 1] = _diff(u[i, :, k], j, ny, inv_dx)
        out[a, 2] = _diff(u[i, j, :], k, nz, inv_dx)


@njit(cache=True)
def _diff(line, i, n, inv_dx):
    # central inside, one-sided at the first/last voxel, 0 on a 1-voxel axis
    if n == 1:
        return 0.0
    if i == 0:
        return (np.float64(line[1]) - np.float64(line[0])) * inv_dx
    if i == n - 1:
        return (np.float64(line[n - 1]) - np.float64(line[n - 2])) * inv_dx
    return (np.float64(line[i + 1]) - np.float64(line[i - 1])) * (0.5 * inv_dx)


def _check_index(index, n_vox):
    if not isinstance(index, np.ndarray) or index.ndim != 1 or index.dtype != np.int64:
        raise ValueError("index must be a 1-D int64 array of flat C-order voxel indices")
    if index.size and (index.min() < 0 or index.max() >= n_vox):
        raise ValueError(f"index must lie in [0, {n_vox}), got range [{index.min()}, {index.max()}]")


def _check_float_array(name, a):
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be a float32/float64 ndarray")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def _stacked_views(name, target, index, values, values_name):
    """Return (target as (k, n_vox), values as (n, k) float64, n_vox)."""
    _check_float_array(name, target)
    if not target.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    if not isinstance(values, np.ndarray) or values.ndim not in (1, 2):
        raise ValueError(f"{values_name} must be a 1-D (n,) or 2-D (n, k) float array")
    if values.dtype.kind != "f":
        raise ValueError(f"{values_name} must be a float array, got dtype {values.dtype}")
    if values.ndim == 1:
        if target.ndim not in (2, 3):
            raise ValueError(f"{name} must be a 2-D or 3-D field when {values_name} is 1-D")
        k = 1
        spatial = target.shape
    else:
        k = values.shape[1]
        if target.ndim not in (3, 4) or target.shape[0] != k:
            raise ValueError(
                f"{name} must have shape (k, *shape) with k={k} = {values_name}.shape[1], got {target.shape}"
            )
        spatial = target.shape[1:]
    n_vox = int(np.prod(spatial))
    _check_index(index, n_vox)
    if values.shape[0] != index.shape[0]:
        raise ValueError(f"{values_name} must have one row per agent ({index.shape[0]}), got {values.shape[0]}")
    if not np.isfinite(values).all():
        raise ValueError(f"{values_name} must be finite")
    v2 = np.ascontiguousarray(values.reshape(values.shape[0], k), dtype=np.float64)
    return target.reshape(k, n_vox), v2


def deposit(target, index, amounts):
    """Add each agent's amount into its voxel, order-independently.

    Parameters
    ----------
    target : ndarray, float32/float64, C-contiguous
        A field, shape ``shape`` (2-D/3-D), when ``amounts`` is 1-D; or a stack
        ``(k, *shape)`` (e.g. ``FieldSet.sources``) when ``amounts`` is (n, k).
        Modified in place.
    index : ndarray of int64, shape (n,)
        Flat C-order voxel index of each agent into ``shape``.
    amounts : ndarray of float, shape (n,) or (n, k)
        Amount each agent adds (same unit as ``target``, e.g. concentration/s
        when depositing into a source array).

    Notes
    -----
    Contributions to a voxel are summed in a canonical order (by voxel, then
    by amount row), so the result is bit-identical under any permutation of
    the agents.
    """
    t2, a2 = _stacked_views("target", target, index, amounts, "amounts")
    if index.size:
        _deposit_kernel(t2, index, a2)


def uptake(u, index, rates, dt):
    """First-order consumption by agents, backward Euler, order-independent.

    Each voxel is divided by ``1 + dt * sum(rates of agents in the voxel)``.

    Parameters
    ----------
    u : ndarray, float32/float64, C-contiguous
        Field (2-D/3-D) when ``rates`` is 1-D, or stack ``(k, *shape)`` when
        ``rates`` is (n, k).  Modified in place.
    index : ndarray of int64, shape (n,)
        Flat C-order voxel index of each agent.
    rates : ndarray of float, shape (n,) or (n, k)
        Per-agent uptake rate, 1/s (>= 0).
    dt : float
        Time step, s (> 0).
    """
    from ._validate import check_scalar

    dt = check_scalar("dt", dt, positive=True)
    u2, r2 = _stacked_views("u", u, index, rates, "rates")
    if (r2 < 0).any():
        raise ValueError("rates must be >= 0")
    if index.size:
        _uptake_kernel(u2, index, r2, dt)


def sample_gradient(u, index, dx):
    """Gradient of a field at agents' voxels, concentration per µm.

    Parameters
    ----------
    u : ndarray, shape (nx, ny) or (nx, ny, nz), float32/float64
    index : ndarray of int64, shape (n,)
        Flat C-order voxel indices.
    dx : float
        Voxel edge, µm.

    Returns
    -------
    ndarray, float64, shape (n, ndim)
        Component ``d`` is the derivative along axis ``d``: central difference
        ``(u[i+1] - u[i-1]) / (2 dx)`` inside, one-sided
        ``(u[1] - u[0]) / dx`` / ``(u[-1] - u[-2]) / dx`` in the first/last
        voxel of an axis (exact for linear fields; at a no-flux face it is the
        gradient half a voxel inside, which points the same way as the
        mirror-ghost gradient and is twice as large), and 0 on an axis of
        length 1.
    """
    from ._validate import check_field, check_scalar

    check_field(u)
    dx = check_scalar("dx", dx, positive=True)
    _check_index(index, u.size)
    out = np.empty((index.shape[0], u.ndim), dtype=np.float64)
    if u.ndim == 2:
        _gradient_2d(u, index, 1.0 / dx, out)
    else:
        _gradient_3d(u, index, 1.0 / dx, out)
    return out
