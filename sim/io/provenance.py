"""What produced an output: package versions, git revision, platform."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

_PACKAGES = ("discsim", "mesa", "numba", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "dask", "xarray", "zarr")


@functools.cache
def git_revision() -> str | None:
    """The git commit of the source tree (with ``-dirty`` when modified), or None outside a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty else "")


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def provenance() -> dict[str, Any]:
    """Versions, git revision and platform, for manifests and Parquet metadata."""
    return {
        "git_revision": git_revision(),
        "packages": dict(package_versions()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
