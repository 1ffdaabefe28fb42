"""Generate ``docs/odd.md``: the model described by the ODD protocol (Grimm et al. 2006, 2010, 2020).

The prose lives in ``docs/odd_template.md``; every table, list and number of the generated parts comes from the
code, so it cannot drift from it:

* the scenario schema (:mod:`sim.scenario.schema`): defaults, units, bounds, sources / calibrated priors;
* the process list (:data:`sim.model.processes.PROCESSES`): step order, state read and written, kernels,
  observables, and the scenario keys each process's derivation actually reads (recorded by running it);
* the cytokine roles, the observables, the agent arrays, the section built for the default patient;
* the calibration targets (``calibration/targets.toml``) and the shipped scenarios (``scenarios/default.toml``
  with its parameter set, ``scenarios/cohort_default.toml``).

Template syntax: a line ``<!-- odd:NAME -->`` is replaced by the generated block ``NAME``; a block
``<!-- odd:submodel PROCESS -->`` … ``<!-- odd:end -->`` is the hand-written description of one process. The
generator refuses a template that lacks a block, names an unknown one, or misses (or invents) a process, so a
new process cannot go undocumented. ``python -m sim.odd`` (``make docs``) rewrites ``docs/odd.md``; a test fails
when it is stale.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from .calibration.targets import load_targets
from .io.store import atomic_file
from .model import kernels as K
from .model.agents import PHENOTYPES, MacrophageArrays
from .model.geometry import CONTAINED, SPHERE_RULE, build_section
from .model.model import OBSERVABLES
from .model.pain import PainState
from .model.processes import CYTOKINE_ROLES, PROCESSES, STATE, Process
from .scenario import Scenario, load_scenario
from .scenario.docs import KeyInfo, fmt_value, key_info
from .scenario.schema import CYTOKINES

__all__ = ["ODDError", "render", "main", "parameters_read", "TEMPLATE_PATH", "DOC_PATH"]

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "docs" / "odd_template.md"
DOC_PATH = ROOT / "docs" / "odd.md"
DEFAULT_SCENARIO = ROOT / "scenarios" / "default.toml"
COHORT_SCENARIO = ROOT / "scenarios" / "cohort_default.toml"

#: How the fields are called in the text (one per entry of CYTOKINES: a new field must be named here).
FIELD_NAMES: dict[str, str] = {
    "tnf": "TNF-α",
    "il1b": "IL-1β",
    "il6": "IL-6",
    "il8": "IL-8",
    "il10": "IL-10",
    "tgfb": "TGF-β",
    "chemo": "chemoattractant (CCL2 family)",
    "mmp": "MMP (MMP-3)",
}

#: The macrophage state: array of MacrophageArrays, STATE name, Mesa handle attribute, unit, meaning.
MACROPHAGE_STATE: tuple[tuple[str, str, str, str, str], ...] = (
    ("uid", "", "cell_id", "–", "identifier, increasing in order of recruitment"),
    (
        "pos",
        "macrophage.position",
        "voxel",
        "flat voxel index ix·ny + iy",
        "the voxel the cell is in (a lattice position; any number of cells may share a voxel)",
    ),
    ("phen", "macrophage.phenotype", "phenotype", "0 = M0, 1 = M1, 2 = M2", "polarization state"),
    ("age_h", "macrophage.age", "age_h", "h", "time since recruitment"),
    (
        "engulfed_um3",
        "macrophage.engulfed",
        "engulfed_um3",
        "µm³",
        "NP material engulfed since recruitment (drives the M2 switch)",
    ),
)

#: State that is not a field, a source or a per-cell variable (every other STATE entry must be described here).
OTHER_STATE: dict[str, tuple[str, str, str]] = {
    "material": ("voxel", "fraction 0–1", "NP material m per voxel (partial volumes at the fragment's edge)"),
    "np_viability": (
        "voxel",
        "fraction 0–1",
        "viable fraction V of the voxel's NP cells: basal loss and killing by macrophages (submodel np_cell_death)",
    ),
    "vascular_sites": (
        "voxel",
        "site list",
        "vascular recruitment sites: the exposed rim arc, then digested fragment voxels (submodel vessel_ingrowth)",
    ),
    "time": ("model", "h", "time since the herniation event, t = steps · 24 h / steps_per_day (an integer count)"),
    "macrophage.population": ("model", "cells", "the set of live macrophages (recruitment adds, death removes)"),
    "pain.sensitization": ("patient", "– (≥ 0)", "S: chemical sensitization of the nerve root"),
    "pain.compression": ("patient", "0–1", "C: mechanical compression of the root by the fragment's contact zone"),
    "treatment.tnf_sink": ("patient", "1/s", "anti-TNF binding sink k_on·[drug] added to TNF-α's decay (0 untreated)"),
    "treatment.gc_repression": (
        "patient",
        "fraction 0–1",
        "glucocorticoid repression of the NF-κB/AP-1 targets' secretion, Emax·C/(C + EC50) (0 untreated)",
    ),
    "treatment.m2_stimulus": ("patient", "stimulus", "extra M2 stimulus added to s2 by a glucocorticoid (0 untreated)"),
    "treatment.il4_added": ("patient", "pg/mL", "IL-4 added to the tissue's by an M2-polarizing therapy (0 untreated)"),
    "treatment.recruitment": ("patient", "multiplier", "monocyte influx multiplier of a glucocorticoid (1 untreated)"),
    "treatment.il1_block": ("patient", "fraction 0–1", "IL-1 receptor block at the root by IL-1Ra (0 untreated)"),
}

SUBMODEL_RE = re.compile(r"^<!-- odd:submodel (\w+) -->\n(.*?)^<!-- odd:end -->\n+", re.M | re.S)
MARKER_RE = re.compile(r"^<!-- odd:([\w-]+) -->$", re.M)
TEMPLATE_NOTE_RE = re.compile(r"\A<!-- template:.*?-->\n+", re.S)


class ODDError(ValueError):
    """The template and the code disagree (a missing or unknown block, an undocumented process or state)."""


# ---------------------------------------------------------------------------------------------- helpers
def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]], align: str | None = None) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + (align or "|".join("---" for _ in header)) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(items) -> str:
    return ", ".join(f"`{x}`" for x in items) or "–"


def _get(model: BaseModel, path: str) -> Any:
    for part in path.split("."):
        model = getattr(model, part)
    return model


def _resolve(model: BaseModel, path: str) -> tuple[BaseModel, str]:
    """The model holding the key ``path``, and the key's name in it."""
    parent, _, name = path.rpartition(".")
    return (_get(model, parent) if parent else model), name


def _leaves(model: BaseModel, prefix: str = ""):
    """Dotted paths of the scalar keys under ``model``."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def _g(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


class _Reads:
    """A read-only view of a scenario that records the dotted path of every schema key read through it."""

    def __init__(self, obj: BaseModel, path: str, log: list[str]):
        self._obj, self._path, self._log = obj, path, log

    def __getattr__(self, name: str):
        value = getattr(self._obj, name)
        path = f"{self._path}.{name}" if self._path else name
        if isinstance(value, BaseModel):
            return _Reads(value, path, self._log)
        if name in type(self._obj).model_fields:  # a key, not a method or property of the model
            self._log.append(path)
        return value


def parameters_read(process: Process, scenario: Scenario, section) -> list[str]:
    """Scenario keys a process's parameters come from, in the order its derivation reads them.

    A process with a ``derive`` is run on a recording view of ``scenario``; one without (transport) takes every
    key of its scenario sections. Keys read inside the scenario's own methods (``Scenario.rim_exposure()``) and
    geometry used through the section (``dx_um``, the masks) are not seen: the section's keys are listed with the
    initialization.
    """
    if process.derive is None:
        keys = []
        for sec in process.sections:
            value = _get(scenario, sec)
            if isinstance(value, BaseModel):  # not the [[treatment]] list: its pharmacology is in treatments.py
                keys += [f"{sec}.{leaf}" for leaf in _leaves(value)]
        return keys
    log: list[str] = []
    process.derive(_Reads(scenario, "", log), section)  # type: ignore[arg-type]
    return list(dict.fromkeys(log))


def _first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


# ---------------------------------------------------------------------------------------------- context
@dataclass
class _Context:
    defaults: Scenario
    shipped: Scenario
    cohort: Scenario

    @cached_property
    def section(self):
        # the default patient's section; the generator only reads its static geometry (the rng places the arc)
        return build_section(self.defaults, np.random.default_rng(0))

    def info(self, path: str) -> KeyInfo:
        parent, name = _resolve(self.defaults, path)
        return key_info(parent, name, path)

    def shipped_value(self, path: str) -> str:
        """The shipped scenario's value of ``path`` where it differs from the schema default, else ''."""
        d_parent, name = _resolve(self.defaults, path)
        s_parent, _ = _resolve(self.shipped, path)
        dv, sv = getattr(d_parent, name), getattr(s_parent, name)
        return "" if dv == sv else fmt_value(sv)

    def parameter_table(self, paths: list[str]) -> str:
        infos = [self.info(p) for p in paths]
        notes = [k.note for k in infos]
        # a long note shared by several keys is printed once, under the table
        shared = [n for n in dict.fromkeys(notes) if notes.count(n) > 1 and len(n) > 60]
        rows = []
        for p, k in zip(paths, infos, strict=True):
            note = f"note {shared.index(k.note) + 1}" if k.note in shared else k.note
            rows.append((f"`{p}`", k.default, self.shipped_value(p), k.unit, k.status, note, k.description))
        table = _table(("key", "default", "shipped", "unit", "status", "source / prior", "meaning"), rows)
        return "\n\n".join([table, *(f"Note {i}: {_cell(n)}" for i, n in enumerate(shared, 1))])


# ---------------------------------------------------------------------------------------------- blocks
def _patterns(ctx: _Context) -> str:
    targets = load_targets()  # the science team's file and this project's own (calibration/targets_project.toml)
    out = []
    for title, entries in (
        ('Fitted patterns (`use = "calibrate"`)', targets.calibrate),
        ('Qualitative checks (`use = "check"`)', targets.checks),
    ):
        rows = [(f"`{t.id}`", t.category, t.quantity, t.confidence, t.reference) for t in entries]
        out += [
            f"{title}, from `calibration/targets.toml` and `calibration/targets_project.toml`:",
            "",
            _table(("id", "category", "pattern", "confidence", "source"), rows),
            "",
        ]
    return "\n".join(out).rstrip()


def _macrophage_state(ctx: _Context) -> str:
    arrays = MacrophageArrays()
    rows = []
    for attr, state, handle, unit, meaning in MACROPHAGE_STATE:
        dtype = getattr(arrays, attr).dtype  # fails when the array is renamed or removed
        rows.append((f"`{attr}`", f"`{handle}`", f"`{state}`" if state else "–", str(dtype), unit, meaning))
    known = {s for _, s, *_ in MACROPHAGE_STATE if s} | {"macrophage.population"}
    missing = sorted(s for s in STATE if s.startswith("macrophage.") and s not in known)
    if missing:
        raise ODDError(
            f"STATE has macrophage variables the ODD does not describe: {missing} (sim/odd.py MACROPHAGE_STATE)"
        )
    return f"Phenotypes: {', '.join(f'{i} = {p}' for i, p in enumerate(PHENOTYPES))}.\n\n" + _table(
        ("array", "Mesa attribute", "process state", "dtype", "unit", "meaning"), rows
    )


def _fields(ctx: _Context) -> str:
    if set(FIELD_NAMES) != set(CYTOKINES):
        raise ODDError(f"FIELD_NAMES (sim/odd.py) must name exactly the fields {CYTOKINES}, has {tuple(FIELD_NAMES)}")
    tr = ctx.defaults.parameters.transport
    rows = []
    for c in CYTOKINES:
        spec = getattr(tr, c)
        d, t_half = spec.diffusion_um2_per_s, spec.half_life_min
        k = math.log(2.0) / (t_half * 60.0)
        producers = [p.name for p in PROCESSES if f"source.{c}" in p.writes]
        readers = [p.name for p in PROCESSES if f"field.{c}" in p.reads and p.name != "transport"]
        roles = [r for r, names in CYTOKINE_ROLES.items() if c in names]
        rows.append(
            (
                f"`{c}`",
                FIELD_NAMES[c],
                _g(d),
                _g(t_half),
                f"{k:.3g}",
                f"{math.sqrt(d / k):.0f}",
                _code(producers),
                _code(readers),
                _code(roles),
            )
        )
    return "All fields are concentrations in **pg/mL**; sources in pg/mL/s.\n\n" + _table(
        (
            "field",
            "molecule",
            "D (µm²/s)",
            "half-life (min)",
            "k = ln2/t½ (1/s)",
            "√(D/k) (µm)",
            "sources",
            "read by",
            "roles",
        ),
        rows,
    )


def _scales(ctx: _Context) -> str:
    s, g, sec = ctx.defaults.simulation, ctx.defaults.geometry, ctx.section
    nx, ny = sec.shape
    rows = [
        ("voxel edge dx (= slab thickness)", f"{_g(g.dx_um)} µm", "`geometry.dx_um`"),
        ("voxel volume", f"{_g(sec.voxel_volume_ml)} mL ({_g(g.dx_um**3)} µm³)", "dx³"),
        (
            "minimal domain (lateral × antero-posterior)",
            f"{_g(g.width_mm)} × {_g(g.height_mm)} mm",
            "`geometry.width_mm`, `geometry.height_mm`",
        ),
        (
            "grid of the default patient",
            f"{nx} × {ny} voxels ({nx * g.dx_um / 1000:g} × {ny * g.dx_um / 1000:g} mm), {len(CYTOKINES)} fields",
            f"{ctx.defaults.patient.herniation_type.value}, {_g(ctx.defaults.patient.herniation_volume_mm3)} mm³",
        ),
        (
            "time step dt (agents, fields, tissue, pain)",
            f"{_g(s.dt_hours)} h ({s.steps_per_day} steps a day)",
            "`simulation.dt_hours`",
        ),
        ("simulated time", f"{_g(s.days)} days after the herniation event", "`simulation.days`"),
        ("observation interval", "1 day (one row of observables per simulated day)", "fixed"),
        ("field snapshots", f"every {_g(s.snapshot_every_days)} days", "`simulation.snapshot_every_days`"),
    ]
    return _table(("scale", "default", "set by"), rows)


def _other_state(ctx: _Context) -> str:
    described = set(OTHER_STATE) | {s for _, s, *_ in MACROPHAGE_STATE if s}
    missing = sorted(STATE - described)
    stale = sorted(set(OTHER_STATE) - STATE)
    if missing or stale:
        raise ODDError(
            f"sim/odd.py OTHER_STATE out of date: undescribed STATE {missing}, described but not in STATE {stale}"
        )
    rows = []
    for name, (level, unit, meaning) in OTHER_STATE.items():
        writers = [p.name for p in PROCESSES if name in p.writes]
        rows.append((f"`{name}`", level, unit, meaning, _code(writers)))
    return _table(("state", "level", "unit", "meaning", "written by"), rows)


def _fmt_dist(d: Any) -> str:
    if d is None:
        return ""
    data = d.model_dump(mode="json", exclude_none=True)
    kind = data.pop("dist")
    if kind == "categorical":
        return "categorical(" + ", ".join(f"{k} {v:g}" for k, v in data["weights"].items()) + ")"
    clip = {k: data.pop(k) for k in ("low", "high") if k in data} if kind in ("normal", "lognormal") else {}
    return f"{kind}(" + ", ".join(f"{k}={fmt_value(v)}" for k, v in {**data, **clip}.items()) + ")"


def _patient(ctx: _Context) -> str:
    spec = ctx.cohort.cohort
    rows = []
    for name in type(ctx.defaults.patient).model_fields:
        path = f"patient.{name}"
        k = ctx.info(path)
        rows.append((f"`{name}`", k.default, k.unit, k.note, _fmt_dist(getattr(spec.patient, name)), k.description))
    out = [
        _table(("key", "default", "unit", "status / prior", f"cohort (`{COHORT_SCENARIO.name}`)", "meaning"), rows),
        "",
        f"Also in `{COHORT_SCENARIO.name}`: tissue sample day {_fmt_dist(spec.sample_day)}",
    ]
    if spec.breach is not None:
        out[-1] += (
            "; breach of a contained herniation with probability "
            + ", ".join(f"{t.value} {p:g}" for t, p in spec.breach.probability.items())
            + f" (rim exposure {spec.breach.rim_exposure:g})"
        )
    if spec.rim_exposure_by_type:
        out[-1] += "; rim exposure by type " + ", ".join(
            f"{t.value} {_fmt_dist(d)}" for t, d in spec.rim_exposure_by_type.items()
        )
    for t, var in spec.by_type.items():
        given = {n: _fmt_dist(getattr(var, n)) for n in type(var).model_fields if getattr(var, n) is not None}
        out[-1] += f"; for {t.value}: " + ", ".join(f"{n} {d}" for n, d in given.items())
    out[-1] += "."
    return "\n".join(out)


def _schedule(ctx: _Context) -> str:
    rows = []
    for i, p in enumerate(PROCESSES, 1):
        rows.append((str(i), f"`{p.name}`", p.summary, _code(p.reads), _code(p.writes), _code(p.sections)))
    return _table(
        ("#", "process", "what it does", "reads", "writes", "parameters from"), rows, "---:|:---|:---|:---|:---|:---"
    )


def _observables(ctx: _Context) -> str:
    rows = []
    for name, meaning in OBSERVABLES.items():
        drivers = [p.name for p in PROCESSES if name in p.observables]
        rows.append((f"`{name}`", meaning, _code(drivers)))
    return _table(("column", "meaning", "driven by"), rows)


def _initialization(ctx: _Context) -> str:
    sec, pat = ctx.section, ctx.defaults.patient
    pain = {f.name: f.default for f in dataclasses.fields(PainState) if f.default is not dataclasses.MISSING}
    frag = sec.material0 > 0
    rows = [
        (
            "onset section area A0",
            f"(9π/16)^(1/3) · V0^(2/3) = {_g(SPHERE_RULE * pat.herniation_volume_mm3 ** (2 / 3))} mm²; on the grid "
            f"Σ m0 · dx² = {_g(sec.area0_mm2)} mm²",
        ),
        ("fragment voxels (m > 0)", f"{int(frag.sum())} (Σ m0 = {_g(float(sec.material0.sum()))})"),
        ("rim exposure", f"{_g(ctx.defaults.rim_exposure())} (`parameters.containment.{pat.herniation_type.value}`)"),
        ("vascular recruitment sites", str(sec.vessel_index.size)),
        ("barrier voxels (contained types only)", str(int(sec.barrier.sum()))),
        (
            "nerve-root voxels / outer layer (where the root senses)",
            f"{int(sec.root.sum())} / {int(sec.root_surface.sum())}",
        ),
        ("contact-zone voxels", str(int(sec.contact_zone.sum()))),
        ("macrophages", str(MacrophageArrays().n)),
        ("fields", f"0 pg/mL, except IL-10 = `patient.il10_background_pg_ml` ({_g(pat.il10_background_pg_ml)} pg/mL)"),
        ("sensitization S, compression C", f"{_g(pain['sensitization'])}, {_g(pain['compression'])}"),
        ("NP viability, time", "1, 0 h"),
    ]
    contained = ", ".join(sorted(t.value for t in CONTAINED))
    return (
        f"The default patient (`{pat.herniation_type.value}`, V0 = {_g(pat.herniation_volume_mm3)} mm³) at t = 0:\n\n"
        + _table(("quantity", "value"), rows)
        + f"\n\nContained types (barrier around the rest of the rim): {contained}.\n\nGeometry and containment keys:\n\n"
        + ctx.parameter_table([f"geometry.{k}" for k in _leaves(ctx.defaults.geometry)])
        + "\n\n"
        + ctx.parameter_table([f"parameters.containment.{k}" for k in _leaves(ctx.defaults.parameters.containment)])
    )


def _shipped(ctx: _Context) -> str:
    rows = []
    for leaf in _leaves(ctx.defaults.parameters, "parameters."):
        shipped = ctx.shipped_value(leaf)
        if shipped:
            rows.append((f"`{leaf}`", ctx.info(leaf).default, shipped, ctx.info(leaf).unit))
    return _table(("key", "schema default", "shipped value", "unit"), rows)


def _submodels(ctx: _Context, prose: dict[str, str]) -> str:
    names = [p.name for p in PROCESSES]
    missing = [n for n in names if n not in prose]
    unknown = [n for n in prose if n not in names]
    if missing or unknown:
        raise ODDError(
            f"docs/odd_template.md submodel blocks out of date: no block for {missing}, block for unknown {unknown}"
        )
    out = []
    for i, p in enumerate(PROCESSES, 1):
        kernels = "; ".join(f"`sim.model.kernels.{k}`: {_first_paragraph(getattr(K, k))}" for k in p.kernels)
        lines = [
            f"### 7.{i} `{p.name}`",
            "",
            f"*Summary* (`PROCESSES`): {p.summary}",
            "",
            f"*Reads* {_code(p.reads)}; *writes* {_code(p.writes)}"
            + (f"; *observables* {_code(p.observables)}" if p.observables else "")
            + ".",
            "",
            f"*Kernel* {kernels}",
            "",
            prose[p.name].strip(),
            "",
        ]
        keys = parameters_read(p, ctx.defaults, ctx.section)
        if keys:
            lines += [
                "*Parameters* (the scenario keys its derivation reads; *shipped* = value in `scenarios/default.toml` "
                "with its parameter set, where it differs):",
                "",
                ctx.parameter_table(keys),
                "",
            ]
        else:  # a treatment process: its parameters are the drugs' pharmacology
            from .model.treatments import parameter_table as pharmacology

            rows = [
                (r["treatment"], r["route"], r["quantity"], r["value"], r["unit"], r["source"]) for r in pharmacology()
            ]
            lines += [
                "*Parameters*: the pharmacology of every treatment (`sim/model/treatments.py`; `recalled` = not "
                "re-read in a source, `assumption` = no direct source, with its range):",
                "",
                _table(("treatment", "route", "quantity", "value", "unit", "source"), rows),
                "",
            ]
        out += lines
    return "\n".join(out).rstrip()


BLOCKS: dict[str, Callable[[_Context], str]] = {
    "patterns": _patterns,
    "macrophage-state": _macrophage_state,
    "fields": _fields,
    "scales": _scales,
    "other-state": _other_state,
    "patient": _patient,
    "schedule": _schedule,
    "observables": _observables,
    "initialization": _initialization,
    "shipped": _shipped,
}


# ---------------------------------------------------------------------------------------------- render
def render(template: str | None = None) -> str:
    """``docs/odd.md`` as it should be now (``template``: the template's text, default the file's)."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8") if template is None else template
    ctx = _Context(Scenario(), load_scenario(DEFAULT_SCENARIO), load_scenario(COHORT_SCENARIO))
    text = TEMPLATE_NOTE_RE.sub("", text, count=1)
    prose: dict[str, str] = {}

    def take(m: re.Match) -> str:
        if m.group(1) in prose:
            raise ODDError(f"docs/odd_template.md: two submodel blocks for {m.group(1)!r}")
        prose[m.group(1)] = m.group(2)
        return ""

    text = SUBMODEL_RE.sub(take, text)
    if "<!-- odd:submodel " in text or "<!-- odd:end" in text:
        raise ODDError("docs/odd_template.md: an unclosed or malformed submodel block")
    used: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group(1)
        used.append(name)
        if name == "submodels":
            return _submodels(ctx, prose)
        if name not in BLOCKS:
            raise ODDError(f"docs/odd_template.md: unknown block {name!r}; known: submodels, {', '.join(BLOCKS)}")
        return BLOCKS[name](ctx)

    text = MARKER_RE.sub(fill, text)
    absent = [n for n in (*BLOCKS, "submodels") if n not in used]
    repeated = sorted({n for n in used if used.count(n) > 1})
    if absent or repeated:
        raise ODDError(f"docs/odd_template.md: blocks missing {absent}, repeated {repeated}")
    return text.rstrip() + "\n"


def main(path: Path = DOC_PATH) -> None:
    text = render()
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH)
