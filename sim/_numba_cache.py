"""Numba's on-disk cache, keyed by the package source.

``@njit(cache=True)`` invalidates a cached function only when *its own* file changes, not when a function it
calls (and inlines) changes in another file: after an update of ``sim/diffusion/_implicit.py`` the cached model
engine kept running the old sweeps, bit-identical results but the old speed (seen when the SIMD solver was
merged). So every version of the package source gets a cache folder of its own:
``$NUMBA_CACHE_DIR/<hash>`` (default ``~/.cache/discsim/numba/<hash>``), chosen before anything is compiled.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def source_hash() -> str:
    """Hash of every Python source file of the package (names and contents)."""
    h = hashlib.sha256()
    for path in sorted(_ROOT.rglob("*.py")):
        h.update(str(path.relative_to(_ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def configure() -> Path:
    """Point numba's cache at the folder of this source version (inherited by worker processes)."""
    marker = "DISCSIM_NUMBA_CACHE_SET"
    if os.environ.get(marker):  # a parent already chose it (workers inherit the variable)
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "discsim", "numba"
    )
    folder = Path(base) / source_hash()
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    os.environ[marker] = "1"
    if "numba" in sys.modules:  # imported before sim: numba reads its configuration at import
        import numba.core.config

        numba.core.config.CACHE_DIR = str(folder)
    return folder
