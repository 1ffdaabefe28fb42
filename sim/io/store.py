"""Atomic writes: an output either exists complete or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_META_KEY = b"discsim"


def _umask() -> int:
    # os.umask can only be read by setting it; done once, at the first write
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def default_mode(directory: bool = False) -> int:
    """Permission bits a plain ``open``/``mkdir`` would give under the process umask."""
    return (0o777 if directory else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces it only if the block completes.

    The file ends with the permissions the umask gives any new file (``mkstemp`` alone would leave 0600), and the
    temporary name keeps the suffix of ``path`` so that writers choosing a format by extension still work.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def with_metadata(schema: pa.Schema, metadata: Mapping[str, Any]) -> pa.Schema:
    """``schema`` carrying ``metadata`` as discsim JSON in the Parquet footer (read by :func:`read_parquet_metadata`)."""
    meta = dict(schema.metadata or {})
    meta[_META_KEY] = json.dumps(metadata, default=str).encode()
    return schema.with_metadata(meta)


def write_parquet(df: pd.DataFrame, path: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``df`` to Parquet atomically (temp file + rename); ``metadata`` is stored as JSON in the footer."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata is not None:
        table = table.replace_schema_metadata(with_metadata(table.schema, metadata).metadata)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet_metadata(path: str | Path) -> dict[str, Any]:
    """The discsim metadata stored by :func:`write_parquet` (empty dict if none)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_META_KEY)
    return json.loads(raw) if raw else {}


def write_json(obj: Any, path: str | Path) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_subdir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces the directory ``path`` only if the block completes.

    Only for a directory the program itself writes (e.g. ``fields.zarr`` inside a claimed output directory,
    :func:`sim.io.outdir.claim_out_dir`): its previous version is the one thing removed. Never call it on a
    user-chosen path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, default_mode(directory=True))
        if path.is_dir() and not path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_figure(fig: Any, path: str | Path, **savefig_kwargs: Any) -> Path:
    """``fig.savefig`` atomically (format from the suffix of ``path``): a figure exists whole or not at all."""
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or None, **savefig_kwargs)
    return path
