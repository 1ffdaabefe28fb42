"""Argument checks shared by :func:`advance` and :class:`FieldSet`.

Everything is checked before any array is written, so a ``ValueError`` leaves
the caller's fields untouched.
"""

import math
import numbers

import numpy as np

from ._boundary import FACES, Dirichlet

METHODS = ("auto", "explicit", "implicit")


def check_scalar(name, value, *, positive=False):
    """Return ``value`` as float; it must be finite and >= 0 (> 0 if positive)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    if positive and not v > 0.0:
        raise ValueError(f"{name} must be > 0, got {v!r}")
    if v < 0.0:
        raise ValueError(f"{name} must be >= 0, got {v!r}")
    return v


def check_field(u, name="u"):
    """``u`` must be a C-contiguous 2-D or 3-D float32/float64 ndarray."""
    if not isinstance(u, np.ndarray):
        raise ValueError(f"{name} must be a numpy ndarray, got {type(u).__name__}")
    if u.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2-D or 3-D, got ndim={u.ndim} (shape {u.shape})")
    if u.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must have dtype float32 or float64, got {u.dtype}")
    if not u.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not u.flags.writeable:
        raise ValueError(f"{name} must be writeable (it is advanced in place)")


def check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def check_source(source, shape, dtype):
    """Return ``source`` or None; it must match the field's shape and dtype."""
    if source is None:
        return None
    if not isinstance(source, np.ndarray):
        raise ValueError(f"source must be a numpy ndarray or None, got {type(source).__name__}")
    if source.shape != tuple(shape):
        raise ValueError(f"source must have shape {tuple(shape)}, got {source.shape}")
    if source.dtype != dtype:
        raise ValueError(f"source must have dtype {dtype}, got {source.dtype}")
    if not source.flags.c_contiguous:
        raise ValueError("source must be C-contiguous")
    return source


def resolve_boundary(boundary, shape):
    """Translate ``boundary`` into kernel arguments.

    Returns
    -------
    faces : ndarray of bool, shape (2*ndim,)
        Dirichlet flags in the order x-, x+, y-, y+[, z-, z+].
    value : float
        Held value (0.0 for no-flux).
    mask : ndarray of bool or None
        Held voxels, same shape as the field.
    """
    ndim = len(shape)
    faces = np.zeros(2 * ndim, dtype=np.bool_)
    if isinstance(boundary, str):
        if boundary != "no-flux":
            raise ValueError(f"boundary must be 'no-flux' or a Dirichlet(...) object, got {boundary!r}")
        return faces, 0.0, None
    if not isinstance(boundary, Dirichlet):
        raise ValueError(f"boundary must be 'no-flux' or a Dirichlet(...) object, got {type(boundary).__name__}")
    for f in boundary.faces:
        k = FACES.index(f)
        if k >= 2 * ndim:
            raise ValueError(f"boundary: face {f!r} does not exist on a {ndim}-D field")
        faces[k] = True
    mask = boundary.mask
    if mask is not None:
        if mask.shape != tuple(shape):
            raise ValueError(f"mask must have the field's shape {tuple(shape)}, got {mask.shape}")
        if not mask.any():
            mask = None
    return faces, boundary.value, mask
