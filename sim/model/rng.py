"""The engine's random stream: xoshiro256** in a ``(4,) uint64`` state array, drawn inside compiled code.

The state is part of the model's state (one array, no global or per-thread state), so a run is a pure
function of its seed whatever ``NUMBA_NUM_THREADS`` is, and crossing into numba costs one array argument
instead of a ``numpy.random.Generator`` (~8 µs of unboxing per call). The state is seeded from the run's
seed through :class:`numpy.random.SeedSequence` (:func:`stream_for`), which is recorded in the manifest.

xoshiro256** (Blackman & Vigna 2018, public-domain reference implementation): period 2^256 − 1, passes
BigCrush; uniforms take its top 53 bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

__all__ = ["STREAM_SPAWN_KEY", "stream_for", "uniform", "poisson"]

#: The engine stream is child ``STREAM_SPAWN_KEY`` of ``SeedSequence(seed)``: independent of the Mesa
#: ``model.rng`` stream (``default_rng(seed)``, used for the geometry), which is the root itself.
STREAM_SPAWN_KEY = (0,)


def stream_for(seed: int) -> tuple[np.ndarray, dict]:
    """Initial xoshiro256** state for run ``seed`` and its provenance (entropy, spawn key, state words)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=STREAM_SPAWN_KEY)
    state = ss.generate_state(4, np.uint64)
    if not state.any():  # the one forbidden state (probability 2^-256)
        state[0] = 1
    info = {
        "generator": "xoshiro256**",
        "seed_sequence_entropy": int(seed),
        "seed_sequence_spawn_key": list(STREAM_SPAWN_KEY),
        "initial_state_hex": [f"{int(w):016x}" for w in state],
    }
    return state, info


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(cache=True)
def next_u64(s):
    """Advance the state ``s`` (4,) uint64 in place and return the next 64-bit output."""
    result = _rotl(s[1] * uint64(5), 7) * uint64(9)
    t = s[1] << uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True)
def uniform(s):
    """Uniform double in [0, 1) (53 random bits)."""
    return float(next_u64(s) >> uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _poisson_small(s, lam):
    # Knuth's product of uniforms: exact, O(lam) draws; used for lam <= 10
    limit = math.exp(-lam)
    k = 0
    p = uniform(s)
    while p > limit:
        k += 1
        p *= uniform(s)
    return k


@njit(cache=True)
def poisson(s, lam):
    """Poisson(lam) draw, exact: a sum of independent Poisson(lam/m) pieces, each with lam/m <= 10."""
    if lam <= 0.0:
        return 0
    if lam <= 10.0:
        return _poisson_small(s, lam)
    m = int(math.ceil(lam / 10.0))
    piece = lam / m
    k = 0
    for _ in range(m):
        k += _poisson_small(s, piece)
    return k
