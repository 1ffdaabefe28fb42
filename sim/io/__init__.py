"""Outputs: atomic writes, provenance, and the on-disk layout of a run."""

from .provenance import provenance
from .store import atomic_dir, atomic_file, read_parquet_metadata, with_metadata, write_json, write_parquet

__all__ = [
    "atomic_dir", "atomic_file", "provenance", "read_parquet_metadata", "with_metadata", "write_json", "write_parquet",
]
