"""Posterior draws of a Bayesian calibration as parameter uncertainty of a virtual cohort.

A draws file is Parquet, one row per equally weighted posterior draw::

    draw   parameters.pain.sensitization_per_day   cohort.patient.nerve_sensitivity.gsd   ...
    0      2.41                                    1.37
    1      2.77                                    1.29

- ``draw``: integer, numbering the draws 0..n-1 (unique);
- every other column: a dotted scenario path with a finite number. ``cohort.*`` paths (the spread of the
  patients' random effects, e.g. ``cohort.patient.nerve_sensitivity.gsd``) change the distributions a patient is
  drawn from; ``parameters.*`` paths set model parameters of the patient's resolved scenario, over both the
  ``parameter_set`` file and the scenario's own ``[parameters]`` (merged when the scenario was loaded);
- the footer's key-value metadata may hold a JSON ``discsim`` entry (free-form provenance), kept in
  :attr:`PosteriorDraws.metadata`.

Patient ``k`` of a cohort with root seed ``R`` uses draw ``posterior_draw_index(R, k, n)``: a uniform choice from
its own stream ``SeedSequence(R, spawn_key=(k, POSTERIOR_STREAM))``, a sibling of the patient's children 0 (random
effects) and 1 (simulation seed), which it leaves untouched. So a patient's random-effect uniforms are the same
with and without a posterior, and patient k's draw does not depend on N, the worker count or the order.

::

    post = PosteriorDraws.load("calibration/posterior/posterior/draws.parquet")   # the file's own format
    post.check(scenario)                                 # every column a path of scenario, every draw valid
    vp, d = draw_posterior_patient(scenario, post, k, root=root, days=days)

Every problem is a :class:`PosteriorError` (a :class:`~sim.scenario.ScenarioError`) whose ``str`` is one line
naming the file, the column and the draw.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..scenario import Problem, Scenario, ScenarioError, with_overrides
from .draw import VirtualPatient, cohort_root_seed, draw_patient, fingerprint

__all__ = [
    "POSTERIOR_STREAM",
    "DRAW_COLUMN",
    "PosteriorError",
    "PosteriorDraws",
    "load_posterior",
    "posterior_draw_index",
    "posterior_draw_indices",
    "draw_posterior_patient",
]

#: Spawn-key tag of a patient's posterior-draw stream: ``SeedSequence(root, spawn_key=(k, POSTERIOR_STREAM))``.
POSTERIOR_STREAM = zlib.crc32(b"cohort.posterior_draw")
DRAW_COLUMN = "draw"
#: sections a draw may set: model parameters, and the cohort's distributions of random effects
VARIABLE_SECTIONS = ("parameters", "cohort")
#: cohort settings that are not distributions: they define the cohort, not a patient's population
_COHORT_SETTINGS = {"cohort.patients": "--patients", "cohort.seed": "--seed", "cohort.days": "--days"}
_META_KEY = b"discsim"


class PosteriorError(ScenarioError):
    """A posterior-draws file cannot be used. ``str()`` is one line: the file, the first problem (with its column
    and draw), and how many more there are; ``problems`` lists them all."""

    #: the CLI prints this error as its one-line ``str`` (sim.cli._common.input_errors_exit_2)
    one_line = True

    def __str__(self) -> str:
        first = self.problems[0] if self.problems else Problem("", "unusable posterior file")
        text = f"{self.source}: {first}" if first.path else f"{self.source}: {first.message}"
        if len(self.problems) > 1:
            text += f" (and {len(self.problems) - 1} more problem(s))"
        return text


def _fail(source: str, path: str, message: str) -> PosteriorError:
    return PosteriorError(source, [Problem(path, message)])


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def posterior_draw_index(root: int, k: int, n_draws: int) -> int:
    """The draw of patient ``k`` (0..n_draws-1, uniform) from its own stream; independent of N and of its effects."""
    if n_draws < 1:
        raise ValueError(f"n_draws must be ≥ 1, got {n_draws}")
    rng = np.random.default_rng(np.random.SeedSequence(int(root), spawn_key=(int(k), POSTERIOR_STREAM)))
    return int(rng.integers(n_draws))


def posterior_draw_indices(root: int, n: int, n_draws: int, *, start: int = 0) -> list[int]:
    """The draws of patients ``start .. start+n-1``."""
    return [posterior_draw_index(root, k, n_draws) for k in range(start, start + n)]


@dataclass(frozen=True, eq=False)
class PosteriorDraws:
    """The draws of a posterior-draws file, validated for its own format (see the module docstring).

    Attributes
    ----------
    path : Path
        The file as given.
    sha256 : str
        Hex digest of the file's bytes (those that were read).
    columns : tuple of str
        The dotted scenario paths, in file order.
    values : numpy.ndarray
        ``(n_draws, len(columns))`` float64; row ``d`` is draw ``d``.
    metadata : object
        The footer's ``discsim`` entry, parsed as JSON (its text if it is not JSON), or None.
    """

    path: Path
    sha256: str
    columns: tuple[str, ...]
    values: np.ndarray
    metadata: Any = None
    ignored: tuple[str, ...] = ()
    _checked: set[str] = field(default_factory=set, compare=False, repr=False)

    @property
    def n_draws(self) -> int:
        return int(self.values.shape[0])

    @property
    def source(self) -> str:
        return str(self.path)

    # -- reading ------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> PosteriorDraws:
        """Read and check a draws file; :class:`PosteriorError` for every way it can be unusable."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        src = str(path)
        try:
            if not path.exists():
                raise _fail(src, "", "file not found")
            if path.is_dir():
                raise _fail(src, "", "is a directory, expected a Parquet file of posterior draws")
            if not path.is_file():
                raise _fail(src, "", "is not a regular file (a device, pipe or socket); expected a Parquet file")
            raw = path.read_bytes()
        except OSError as exc:
            raise _fail(src, "", f"cannot read file: {exc.strerror or exc}") from None
        digest = hashlib.sha256(raw).hexdigest()
        try:
            pf = pq.ParquetFile(pa.BufferReader(raw))
            table = pf.read()
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, … for anything that is not Parquet
            raise _fail(src, "", f"not a readable Parquet file ({_short(exc)})") from None
        metadata = _discsim_metadata(table.schema.metadata)

        names = list(table.schema.names)
        dup = sorted({c for c in names if names.count(c) > 1})
        if dup:
            raise _fail(src, dup[0], "column appears more than once")
        if DRAW_COLUMN not in names:
            raise _fail(
                src, "", f"no {DRAW_COLUMN!r} column (an integer column {DRAW_COLUMN!r} must number the draws 0..n-1)"
            )
        if table.num_rows == 0:
            raise _fail(src, "", "holds no draws (0 rows)")
        draw_col = table.column(DRAW_COLUMN)
        if not pa.types.is_integer(draw_col.type):
            raise _fail(src, DRAW_COLUMN, f"must hold integers numbering the draws, got {draw_col.type}")
        if draw_col.null_count:
            raise _fail(src, DRAW_COLUMN, f"{draw_col.null_count} missing value(s)")
        draws = np.asarray(draw_col.to_numpy(zero_copy_only=False), dtype=np.int64)
        uniq, first_row, counts = np.unique(draws, return_index=True, return_counts=True)
        if (counts > 1).any():
            d = int(uniq[counts > 1][0])
            rows = np.flatnonzero(draws == d)[:2].tolist()
            n_dup = int((counts > 1).sum())
            raise _fail(
                src,
                DRAW_COLUMN,
                f"draw {d} appears {int(counts[uniq == d][0])} times (rows {rows[0]} and {rows[1]}); every draw "
                f"must be unique" + (f" ({n_dup} duplicated draw numbers)" if n_dup > 1 else ""),
            )
        n = len(draws)
        if uniq[0] != 0 or uniq[-1] != n - 1:
            missing = sorted(set(range(n)) - set(uniq.tolist()))[:1]
            hint = f", {missing[0]} is missing" if missing else ""
            raise _fail(
                src, DRAW_COLUMN, f"must number the {n} draws 0..{n - 1} (found {int(uniq[0])}..{int(uniq[-1])}{hint})"
            )

        columns = [c for c in names if c != DRAW_COLUMN]
        if not columns:
            raise _fail(src, "", f"holds only the {DRAW_COLUMN!r} column: no scenario path to vary between draws")
        order = np.argsort(draws, kind="stable")
        values = np.empty((n, len(columns)), dtype=np.float64)
        problems: list[Problem] = []
        for j, c in enumerate(columns):
            col = table.column(c)
            if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
                problems.append(Problem(c, f"expected numbers, got a column of {col.type}"))
                continue
            v = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)[order]  # nulls become NaN
            bad = np.flatnonzero(~np.isfinite(v))
            if len(bad):
                d = int(bad[0])
                what = (
                    "missing value (null)"
                    if col.is_null()[int(order[d])].as_py()
                    else f"non-finite value {float(v[d])!r}"
                )
                more = f" ({len(bad)} draws in all)" if len(bad) > 1 else ""
                problems.append(Problem(f"{c} (draw {d})", f"{what}; every value must be a finite number{more}"))
                continue
            values[:, j] = v
        if problems:
            raise PosteriorError(src, problems)
        return cls(path, digest, tuple(columns), values, metadata)

    # -- applying -----------------------------------------------------------------------------------

    def values_of(self, d: int) -> dict[str, float]:
        """Draw ``d`` as ``{dotted path: value}``."""
        return dict(zip(self.columns, self.values[int(d)].tolist(), strict=True))

    @property
    def cohort_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c.split(".", 1)[0] == "cohort")

    @property
    def parameter_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c.split(".", 1)[0] == "parameters")

    def without(self, columns: Iterable[str]) -> PosteriorDraws:
        """These draws without ``columns`` (recorded as ``ignored``): for a use in which those paths do not exist,
        e.g. the usual-care surgery threshold in a trial whose arms bring their own surgery rules. Raises
        :class:`PosteriorError` if no column would be left."""
        drop = set(columns)
        keep = [j for j, c in enumerate(self.columns) if c not in drop]
        if not keep:
            raise _fail(
                self.source,
                "",
                "no column is left to vary between draws once " + ", ".join(sorted(drop)) + " is ignored",
            )
        return PosteriorDraws(
            self.path,
            self.sha256,
            tuple(self.columns[j] for j in keep),
            self.values[:, keep],
            self.metadata,
            self.ignored + tuple(c for c in self.columns if c in drop),
        )

    def scenario_for(self, scenario: Scenario, d: int) -> Scenario:
        """``scenario`` with draw ``d`` applied (re-validated): the base from which that draw's patients are drawn.

        ``cohort.*`` values change the distributions before any random effect is drawn. ``parameters.*`` values
        enter no draw, so setting them here gives every patient drawn from the result the same resolved
        parameters as setting them after the draw; they win over the parameter set and the scenario's own
        ``[parameters]``, which were merged when the scenario was loaded. Raises :class:`PosteriorError`.
        """
        try:
            return with_overrides(scenario, self.values_of(d), self.source)
        except ScenarioError as exc:
            raise PosteriorError(self.source, _in_draw(exc.problems, d)) from None

    def check(self, scenario: Scenario) -> None:
        """Every column is a numeric path of ``scenario`` that a draw may set, and every draw gives a valid scenario.

        Raises :class:`PosteriorError` listing every problem (the first, with its column and draw, in ``str``).
        Remembers a scenario it has passed, so a second call for it is free.
        """
        key = fingerprint(scenario, "posterior-check")
        if key in self._checked:
            return
        data = scenario.model_dump(mode="json")
        problems = [p for c in self.columns if (p := _path_problem(data, c)) is not None]
        if problems:
            raise PosteriorError(self.source, problems)
        for d in range(self.n_draws):
            try:
                with_overrides(scenario, self.values_of(d), self.source)
            except ScenarioError as exc:
                problems += _in_draw(exc.problems, d)
        if problems:
            raise PosteriorError(self.source, problems)
        self._checked.add(key)

    def provenance(self) -> dict[str, Any]:
        """What a cohort's manifest records of this file."""
        return {
            "file": str(self.path),
            "file_absolute": str(self.path.absolute()),
            "sha256": self.sha256,
            "n_draws": self.n_draws,
            "columns": list(self.columns),
            "ignored_columns": list(self.ignored),
            "metadata": self.metadata,
            "draw_derivation": "patient k: draw = numpy.random.default_rng(SeedSequence(root_seed, spawn_key=(k, "
            f"{POSTERIOR_STREAM}))).integers(n_draws), uniform with replacement; its own stream, so the patient's "
            "random effects and simulation seed are those of the cohort without a posterior",
        }


def load_posterior(path: str | Path, scenario: Scenario | None = None) -> PosteriorDraws:
    """:meth:`PosteriorDraws.load`, then :meth:`PosteriorDraws.check` against ``scenario`` when given."""
    post = PosteriorDraws.load(path)
    if scenario is not None:
        post.check(scenario)
    return post


def draw_posterior_patient(
    scenario: Scenario,
    posterior: PosteriorDraws,
    k: int,
    *,
    root: int | None = None,
    days: float | None = None,
    cache: MutableMapping[int, Scenario] | None = None,
) -> tuple[VirtualPatient, int]:
    """Patient ``k`` drawn under its posterior draw: ``(patient, draw index)``.

    The draw is :func:`posterior_draw_index` of the cohort's root seed; the patient is
    :func:`sim.cohort.draw.draw_patient` of :meth:`PosteriorDraws.scenario_for` (so its random-effect uniforms and
    simulation seed are those without a posterior, and its scenario carries the draw's values). ``cache`` (draw →
    scenario) saves re-validating a draw shared by several patients.
    """
    root = cohort_root_seed(scenario) if root is None else int(root)
    d = posterior_draw_index(root, k, posterior.n_draws)
    base = cache.get(d) if cache is not None else None
    if base is None:
        base = posterior.scenario_for(scenario, d)
        if cache is not None:
            cache[d] = base
    return draw_patient(base, k, root=root, days=days), d


# ---------------------------------------------------------------------------------------------------


def _discsim_metadata(meta: Mapping[bytes, bytes] | None) -> Any:
    raw = (meta or {}).get(_META_KEY)
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _in_draw(problems: Iterable[Problem], d: int) -> list[Problem]:
    return [Problem(f"{p.path or '<top level>'} (draw {d})", p.message) for p in problems]


def _path_problem(data: Mapping[str, Any], column: str) -> Problem | None:
    """Why ``column`` is not a numeric path of the scenario dump ``data`` that a draw may set (None if it is)."""
    parts = column.split(".")
    if any(not p for p in parts):
        return Problem(column, "not a dotted scenario path (empty part)")
    if parts[0] not in data:
        return Problem(column, "not a known scenario path (see docs/scenario.md for the keys)")
    if parts[0] not in VARIABLE_SECTIONS:
        return Problem(
            column,
            "a posterior draw may set only parameters.* and cohort.* paths (model parameters and the spread of "
            "the patients' random effects)",
        )
    if column in _COHORT_SETTINGS:
        return Problem(
            column, f"a setting of the cohort, not of its patients' distributions (use {_COHORT_SETTINGS[column]})"
        )
    node: Any = data
    for i, part in enumerate(parts):
        where = ".".join(parts[:i])
        if node is None:
            what = (
                "no [cohort] section"
                if where == "cohort"
                else "no distribution there"
                if where.startswith("cohort.")
                else "no value there"
            )
            return Problem(column, f"not a path of this scenario: {where} is not set ({what})")
        if not isinstance(node, dict) or part not in node:
            if isinstance(node, dict) and isinstance(node.get("dist"), str):
                keys = ", ".join(k for k in node if k != "dist")
                return Problem(
                    column, f"not a known scenario path: {where} is a {node['dist']} distribution (keys {keys})"
                )
            return Problem(column, "not a known scenario path (see docs/scenario.md and docs/cohorts.md for the keys)")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        if node is None:
            return Problem(column, "not a path of this scenario: it is not set (no value to replace)")
        kind = "a table" if isinstance(node, dict) else type(node).__name__
        return Problem(column, f"not a numeric value of the scenario (it holds {kind})")
    if isinstance(node, float) and not math.isfinite(node):  # pragma: no cover - the schema forbids it
        return Problem(column, "not a finite value of the scenario")
    return None
