"""Hooks of the mutation-testing run (mutmut 2; how to run it: docs/testing.md, "Mutation testing").

mutmut rewrites one line of ``sim/model/kernels.py`` or ``sim/model/pain.py`` at a time and runs the model's
process tests against it. The kernels are numba functions: mutmut 3 skips decorated functions, so mutmut 2 is
used, and the runner keeps numba's cache in one folder (``.mutmut-numba``) so that only the mutated file is
recompiled for each mutant.

``DISCSIM_MUTANT_SAMPLE=f`` (0 < f <= 1, default 1) tests a fixed pseudo-random fraction ``f`` of the mutants
(chosen by a hash of file, line and mutation index, so every run picks the same ones) and marks the others
skipped: the score of a sample estimates the score of the whole set (report it with its binomial interval).
"""

from __future__ import annotations

import hashlib
import os


def _fraction() -> float:
    raw = os.environ.get("DISCSIM_MUTANT_SAMPLE", "1")
    try:
        f = float(raw)
    except ValueError:
        raise SystemExit(f"DISCSIM_MUTANT_SAMPLE must be a number in (0, 1], got {raw!r}") from None
    if not 0.0 < f <= 1.0:
        raise SystemExit(f"DISCSIM_MUTANT_SAMPLE must be in (0, 1], got {f}")
    return f


def in_sample(filename: str, line: str, index: int, fraction: float) -> bool:
    """Whether the mutant (file, source line, index on the line) is in the sample of ``fraction``."""
    key = f"{filename}\0{line.strip()}\0{index}".encode()
    u = int(hashlib.sha256(key).hexdigest()[:12], 16) / 16**12
    return u < fraction


def pre_mutation(context) -> None:
    fraction = _fraction()
    if fraction < 1.0 and not in_sample(
        context.filename, context.current_source_line, context.mutation_id.index, fraction
    ):
        context.skip = True
