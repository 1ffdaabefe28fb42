"""Output directories the program owns: claimed before any work, never emptied of what it did not write.

A directory is *ours* when it holds a ``manifest.json`` written by discsim or the ``.discsim`` marker that
:func:`claim_out_dir` leaves in it before a command starts working (so an interrupted cohort, whose manifest is
written last, is still recognised on the rerun). Writing into a directory replaces only the files the command
itself writes; nothing else in the directory is ever removed or renamed.

::

    claim_out_dir(out, kind="cohort")                  # new, empty or a discsim output: fine
    claim_out_dir(out, kind="run")                     # holds someone else's files: OutDirError
    claim_out_dir(out, kind="run", overwrite=True)     # allowed; their files are left untouched
"""

from __future__ import annotations

import errno
import json
import os
import re
import unicodedata
from pathlib import Path

__all__ = ["MARKER", "OutDirError", "claim_out_dir", "owner_kind", "safe_slug"]

#: Left in every directory a command writes to, before it starts: ``{"kind": ..., "program": "discsim"}``.
MARKER = ".discsim"
_MANIFEST = "manifest.json"
# names a command may find in a directory it owns from an earlier, interrupted attempt
_OWN_NAMES = {MARKER}
# outputs written before the marker existed, recognised by a file of their own
_SIGNATURES = {"abc_config.json": "calibration"}


class OutDirError(ValueError):
    """The output directory cannot be used; the message names the path and what to do."""


def owner_kind(directory: Path) -> str | None:
    """The discsim output kind of ``directory`` (``"run"``, ``"cohort"``, …), or None if it is not ours."""
    for name in (_MANIFEST, MARKER):
        f = directory / name
        try:
            if not f.is_file() or f.stat().st_size > 10 << 20:
                continue
            meta = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("kind"), str):
            if name == MARKER and meta.get("program") != "discsim":
                continue
            if name == _MANIFEST and "git_revision" not in meta and "packages" not in meta:
                continue  # a manifest.json of some other program
            return meta["kind"]
    for name, kind in _SIGNATURES.items():
        try:
            if (directory / name).is_file():
                json.loads((directory / name).read_text(encoding="utf-8"))
                return kind
        except (OSError, UnicodeDecodeError, ValueError):
            continue
    return None


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def claim_out_dir(out: str | Path, kind: str, *, overwrite: bool = False) -> Path:
    """Check that ``out`` may receive a ``kind`` output, create it, and mark it as ours. Returns ``out``.

    Raises
    ------
    OutDirError
        ``out`` is a file; a parent is a file; it cannot be created or written; it holds files of another
        program (without ``overwrite``); or it is a discsim output of another kind (a cohort directory is not
        overwritten by a run, whatever ``overwrite`` says).
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutDirError(f"{out}: exists and is not a directory; choose another --out")
        found = owner_kind(out)
        if found is not None and found != kind:
            raise OutDirError(
                f"{out}: holds a discsim {found} output; a {kind} would mix with it. Choose another --out"
            )
        if found is None:
            try:
                foreign = [p.name for p in out.iterdir() if p.name not in _OWN_NAMES]
            except OSError as exc:
                raise OutDirError(f"{out}: cannot list the directory ({exc.strerror or exc})") from None
            if foreign and not overwrite:
                shown = ", ".join(sorted(foreign)[:5]) + (", …" if len(foreign) > 5 else "")
                raise OutDirError(
                    f"{out}: the directory is not empty and is not a discsim output (it holds {shown}). "
                    "Choose an empty or new --out, or pass --overwrite to write beside those files "
                    "(they are never deleted)"
                )
    else:
        anc = _existing_ancestor(out.parent if out.parent != out else out)
        if anc.exists() and not anc.is_dir():
            raise OutDirError(f"{out}: {anc} is a file, not a directory; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        marker = out / MARKER
        if not marker.exists():
            from .store import write_json

            write_json({"kind": kind, "program": "discsim"}, marker)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            reason += " (no permission to write there)"
        raise OutDirError(f"{out}: cannot create or write the output directory: {reason}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutDirError(f"{out}: the output directory is not writable")
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_slug(name: str, default: str = "unnamed", max_length: int = 80) -> str:
    """A file-name-safe version of a scenario name, for default output folders.

    Only ``A-Z a-z 0-9 . _ -`` remain (other runs become ``-``); no leading dots or dashes, so the slug is
    never ``..``, hidden, absolute or an option; empty names become ``default``.
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE.sub("-", text).strip(".-_")[:max_length].strip(".-_")
    return slug or default
