"""Outputs: owned output directories, atomic writes, provenance, and the on-disk layout of a run."""

from .outdir import OutDirError, claim_out_dir, owner_kind, safe_slug
from .provenance import provenance
from .store import atomic_file, atomic_subdir, read_parquet_metadata, with_metadata, write_json, write_parquet

__all__ = [
    "OutDirError",
    "atomic_file",
    "atomic_subdir",
    "claim_out_dir",
    "owner_kind",
    "provenance",
    "read_parquet_metadata",
    "safe_slug",
    "with_metadata",
    "write_json",
    "write_parquet",
]
