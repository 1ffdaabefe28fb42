"""The model's step as an ordered list of named processes, and the one place cytokine roles are declared.

Each :class:`Process` says what it is for (``summary``), which scenario sections it takes its parameters
from (``sections``), which parts of the state it reads and writes *by name* (``field.tnf``,
``source.il10``, ``material``, ``macrophage.phenotype`` …), its compiled kernel(s), the observables it
drives, and how its kernel parameters are derived from the scenario (``derive``: scenario + section ->
named scalars in kernel units, or named arrays). :data:`PROCESSES` is the step order; the compiled step
(:func:`sim.model.kernels.advance`) calls the kernels in that order, each behind its ``on.<name>``
switch (a test compares the two orders). A scenario switches processes off with
``[model] disable = ["macrophage_secretion", ...]``.

Field order has one source of truth, :data:`sim.scenario.schema.CYTOKINES`; kernels address fields
through a record of indices built from it by name (:func:`field_index_record`), never by a literal.

``python -m sim.model.processes`` rewrites the generated process section of ``docs/model.md``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..scenario.scenario import Scenario
from ..scenario.schema import CYTOKINES

#: Edge of the reference vascular site, µm: ``monocyte_influx_per_site_per_day`` is per 250 µm site (the grid
#: on which it was calibrated); a site of edge dx receives that × (dx / 250)², the same influx per mm² of vessel wall.
REFERENCE_SITE_UM = 250.0

__all__ = [
    "CYTOKINE_ROLES",
    "Process",
    "PROCESSES",
    "PROCESS_NAMES",
    "STATE",
    "field_index_record",
    "enabled_record",
    "parameter_record",
    "derived_arrays",
    "process_table_markdown",
    "write_docs",
]

#: Cytokine roles, declared once. Everything that depends on a role is built from this table.
CYTOKINE_ROLES: dict[str, tuple[str, ...]] = {
    # M1 pro-inflammatory products: suppressed in M1 cells by local IL-10 (Radwanski 1998)
    "pro_inflammatory": ("tnf", "il1b", "il6", "il8"),
    # M2 products that resolve inflammation
    "anti_inflammatory": ("il10", "tgfb"),
    # M1 products primed through transcription: IFN-γ priming and IL-4 suppression act on these
    # (IL-1β release is inflammasome-gated, a second danger signal, and is not primed)
    "transcriptionally_primed": ("tnf", "il6", "il8"),
    # NP-cell NF-κB programme, scaled together by the patient's disc_cell_activity and amplified by the TNF-α and
    # IL-1β the cells are exposed to
    "nf_kb_programme": ("tnf", "il6", "il8", "chemo"),
    # what the nerve root senses: these drive sensitization (pain.<c>_weight, pain.<c>_half_max_pg_ml) ...
    "root_sensitizing": ("tnf", "il1b", "il6", "il8"),
    # ... and this resolves it
    "root_resolving": ("il10",),
    # NF-κB/AP-1 targets that glucocorticoids repress in NP cells and macrophages (transrepression: TNF-α, IL-1β,
    # IL-6, IL-8 and MMP-3 expression; Barnes 2006 Eur Respir J, Rhen & Cidlowski 2005 NEJM, recalled)
    "glucocorticoid_repressed": ("tnf", "il1b", "il6", "il8", "mmp"),
    # macrophage products made only on the stimulus: × the voxel's NP material. Macrophages make the monocyte
    # chemoattractant (CCL2) when activated (by NP tissue, TNF-α, IL-1β; Deshmane 2009 J Interferon Cytokine
    # Res 29:313, review, recalled); made constitutively, it let the influx feed itself after resorption
    "stimulus_induced": ("chemo",),
}

#: Non-field state a process may read or write (fields are ``field.<c>``, sources ``source.<c>``).
STATE = frozenset(
    {
        "material",
        "time",
        "np_viability",
        "vascular_sites",
        "macrophage.position",
        "macrophage.phenotype",
        "macrophage.age",
        "macrophage.engulfed",
        "macrophage.population",
        "pain.sensitization",
        "pain.compression",
        # treatment channels (sim.model.treatments.CHANNELS), neutral without [[treatment]]
        "treatment.tnf_sink",
        "treatment.gc_repression",
        "treatment.m2_stimulus",
        "treatment.il4_added",
        "treatment.recruitment",
        "treatment.il1_block",
    }
)


def _sat(c: float, k: float) -> float:
    return c / (c + k) if c > 0.0 else 0.0


@dataclass(frozen=True)
class Process:
    """One named mechanism of the step.

    Attributes
    ----------
    name : str
        Identifier used by ``[model] disable`` and in the compiled step (``on.<name>``).
    summary : str
        One sentence: what it does, with its equation when short.
    sections : tuple of str
        Scenario sections its parameters come from (dotted, e.g. ``parameters.secretion``).
    reads, writes : tuple of str
        State it reads / writes, by name (``field.<c>``, ``source.<c>`` or a name in :data:`STATE`).
    kernels : tuple of str
        Names of its compiled kernels in :mod:`sim.model.kernels`.
    observables : tuple of str
        Columns of :data:`sim.model.OBSERVABLES` it drives.
    derive : callable, optional
        ``derive(scenario, section) -> dict`` of kernel parameters (floats go into the parameter record,
        arrays are passed to the kernel by name).
    """

    name: str
    summary: str
    sections: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    kernels: tuple[str, ...]
    observables: tuple[str, ...] = ()
    derive: Callable[[Scenario, object], dict] | None = field(default=None, repr=False)

    def fields_read(self) -> tuple[str, ...]:
        return tuple(r.split(".", 1)[1] for r in self.reads if r.startswith("field."))

    def fields_written(self) -> tuple[str, ...]:
        return tuple(w.split(".", 1)[1] for w in self.writes if w.startswith(("field.", "source.")))

    def field_indices(self) -> dict[str, int]:
        """Indices of the fields it touches, resolved by name against ``CYTOKINES``."""
        return {c: CYTOKINES.index(c) for c in (*self.fields_read(), *self.fields_written())}


def _fields(prefix: str, names=CYTOKINES) -> tuple[str, ...]:
    return tuple(f"{prefix}.{c}" for c in names)


# ---------------------------------------------------------------------------------------------- derivations
# Kernel units: hours, pg/mL, pg/mL/s for sources, voxel fractions. Everything a kernel needs is derived here,
# next to the process that uses it.


def _clock(s: Scenario, sec) -> dict:
    return {
        "dt_h": s.simulation.dt_hours,
        "steps_per_day": float(s.simulation.steps_per_day),
        "dx_um": sec.dx_um,
        "voxel_um3": sec.dx_um**3,
    }


def _activation(s: Scenario) -> tuple[float, float]:
    """The patient's IFN-γ and IL-4 as fractions of saturation (polarization half-maxima)."""
    pat, pol = s.patient, s.parameters.polarization
    return (
        pat.ifng_pg_ml / (pat.ifng_pg_ml + pol.ifng_half_max_pg_ml),
        pat.il4_pg_ml / (pat.il4_pg_ml + pol.il4_half_max_pg_ml),
    )


def _disc_cells(s: Scenario, sec) -> dict:
    dc, pt = s.parameters.disc_cells, s.patient
    per_s = dc.density_per_mm3 * 1e3 / 3600.0  # pg/cell/h -> pg/mL/s at full material
    factor = {c: pt.disc_cell_activity for c in CYTOKINE_ROLES["nf_kb_programme"]}
    # IL-1β release needs a second (inflammasome) signal, TGF-β is stored latent: their own multipliers
    factor.update(il1b=pt.np_il1b_expression, tgfb=pt.np_tgfb_expression)
    rates = np.zeros(len(CYTOKINES))
    for c, mult in factor.items():
        rates[CYTOKINES.index(c)] = getattr(dc, f"{c}_pg_per_cell_h") * per_s * mult
    activated = np.array([c in CYTOKINE_ROLES["nf_kb_programme"] for c in CYTOKINES], dtype=np.bool_)
    return {
        "disc_rates": rates,
        "np_activated": activated,
        "np_activation_gain": dc.activation_gain,
        "np_activation_half_max": dc.activation_half_max_pg_ml,
        "mmp_max": dc.mmp3_max_pg_per_cell_h * per_s,
        "mmp_k_tnf": dc.mmp3_tnf_half_max_pg_ml,
        "mmp_k_il1b": dc.mmp3_il1b_half_max_pg_ml,
        "chemo_per_mmp": dc.chemo_per_mmp / 3600.0,
    }


def _np_cell_death(s: Scenario, sec) -> dict:
    dc = s.parameters.disc_cells
    return {
        # basal loss: half-life T½ × the patient's np_cell_survival, per hour
        "np_basal_death_h": math.log(2.0) / (dc.viability_half_life_days * s.patient.np_cell_survival * 24.0),
        "np_kill_h": dc.macrophage_kill_per_day / 24.0,
    }


def _il10_background(s: Scenario, sec) -> dict:
    decay = math.log(2.0) / (s.parameters.transport.il10.half_life_min * 60.0)
    return {"il10_bg_source": s.patient.il10_background_pg_ml * decay}


def _macrophage_secretion(s: Scenario, sec) -> dict:
    se = s.parameters.secretion
    table = np.array([[getattr(getattr(se, ph), c) for c in CYTOKINES] for ph in ("m0", "m1", "m2")])
    f_g, f_4 = _activation(s)
    gain = (1.0 + se.ifng_priming_gain * f_g) * (1.0 - se.il4_max_inhibition * f_4)
    for c in CYTOKINE_ROLES["transcriptionally_primed"]:
        table[1, CYTOKINES.index(c)] *= gain
    suppressible = np.array([c in CYTOKINE_ROLES["pro_inflammatory"] for c in CYTOKINES])
    induced = np.array([c in CYTOKINE_ROLES["stimulus_induced"] for c in CYTOKINES])
    return {
        "secretion_table": table,
        "il10_suppressible": suppressible,
        "stimulus_induced": induced,
        "conv_cell": 1.0 / (sec.voxel_volume_ml * 3600.0),  # pg/cell/h -> pg/mL/s in one voxel
        "il10_imax": se.il10_max_inhibition,
        "il10_ic50": se.il10_ic50_pg_ml,
    }


def _polarization(s: Scenario, sec) -> dict:
    pol, pat, per_day = s.parameters.polarization, s.patient, 1.0 / 24.0
    return {
        "ifng": pat.ifng_pg_ml,
        "il4": pat.il4_pg_ml,
        "m0_m1": pol.m0_to_m1_per_day * per_day,
        "m0_m2": pol.m0_to_m2_per_day * per_day,
        "m1_m2": pol.m1_to_m2_per_day * per_day,
        "m2_m1": pol.m2_to_m1_per_day * per_day,
        "danger_w": pol.danger_weight,
        "phago_w": pol.phagocytosis_weight,
        "k_tnf": pol.tnf_half_max_pg_ml,
        "k_ifng": pol.ifng_half_max_pg_ml,
        "k_il4": pol.il4_half_max_pg_ml,
        "k_il10": pol.il10_half_max_pg_ml,
        "k_tgfb": pol.tgfb_half_max_pg_ml,
        "k_engulfed": pol.engulfed_half_max_um3,
    }


def _lifespan(s: Scenario, sec) -> dict:
    ls, per_day = s.parameters.lifespan, 1.0 / 24.0
    return {"death_m0": per_day / ls.m0_days, "death_m1": per_day / ls.m1_days, "death_m2": per_day / ls.m2_days}


def _phagocytosis(s: Scenario, sec) -> dict:
    ph = s.parameters.phagocytosis
    return {"phago_frac": ph.volume_um3_per_h / sec.dx_um**3, "phago_f0": ph.m0_factor, "phago_f1": ph.m1_factor}


def _chemotaxis(s: Scenario, sec) -> dict:
    mo = s.parameters.motility
    # random motility D = v·ℓ/2 (µm²/min); a 2-D lattice walk with jump probability p per step has
    # D = p·dx²/(4·dt), so p = 4·D·dt/dx², split into equal sub-steps of p ≤ 1
    motility = mo.speed_um_per_min * mo.persistence_length_um / 2.0
    p_total = 4.0 * motility * 60.0 * s.simulation.dt_hours / sec.dx_um**2
    substeps = max(1, math.ceil(p_total))
    return {
        "p_jump": p_total / substeps,
        "jump_substeps": float(substeps),
        "chemotaxis": mo.chemotaxis_sensitivity,
        "k_chemo_sense": s.parameters.recruitment.chemo_half_max_pg_ml,
    }


def _recruitment(s: Scenario, sec) -> dict:
    rec = s.parameters.recruitment
    return {
        # per site of edge dx: the same influx per mm² of vessel wall as a 250 µm reference site
        "influx_h": rec.monocyte_influx_per_site_per_day
        / 24.0
        * s.patient.inflammatory_propensity
        * (sec.dx_um / REFERENCE_SITE_UM) ** 2,
        "basal": rec.basal_fraction,
        "k_chemo_recruit": rec.chemo_half_max_pg_ml,
    }


def _vessel_ingrowth(s: Scenario, sec) -> dict:
    return {"vascularization": s.parameters.tissue.vascularization_threshold}


def _glucocorticoid(s: Scenario, sec) -> dict:
    repressed = np.array([c in CYTOKINE_ROLES["glucocorticoid_repressed"] for c in CYTOKINES], dtype=np.bool_)
    return {"gc_repressed": repressed}


def _matrix_digestion(s: Scenario, sec) -> dict:
    t = s.parameters.tissue
    return {"degrade_h": t.mmp_degradation_per_day / 24.0, "k_mmp": t.mmp_half_max_pg_ml}


def _shrinkage(s: Scenario, sec) -> dict:
    return {
        "dehydration_f": s.patient.dehydration_fraction,
        "dehydration_tau_days": s.parameters.tissue.dehydration_time_days,
    }


def root_drive_weights(p) -> tuple[np.ndarray, np.ndarray]:
    """Pain drive weights w_j and half-maxima K_j per field (zero for fields that do not sensitize the root)."""
    w, k = np.zeros(len(CYTOKINES)), np.zeros(len(CYTOKINES))
    for c in CYTOKINE_ROLES["root_sensitizing"]:
        w[CYTOKINES.index(c)] = getattr(p, f"{c}_weight")
        k[CYTOKINES.index(c)] = getattr(p, f"{c}_half_max_pg_ml")
    return w, k


def _pain(s: Scenario, sec) -> dict:
    p = s.parameters.pain
    w, k = root_drive_weights(p)
    return {
        "pain_weights": w,
        "pain_half_max": k,
        "sensitization_per_day": p.sensitization_per_day,
        "resolution_per_day": p.resolution_per_day,
        "il10_resolution_gain": p.il10_resolution_gain,
        "il10_half_max": p.il10_half_max_pg_ml,
        "decompression": p.decompression_fraction,
        "compression_weight": p.compression_weight,
        "mechanical_weight": p.mechanical_weight,
        "nerve_sensitivity": s.patient.nerve_sensitivity,
    }


_POP = ("macrophage.position", "macrophage.phenotype")

#: The step, in order.
PROCESSES: tuple[Process, ...] = (
    Process(
        "disc_cell_secretion",
        "NP cells secrete × material × the voxel's viability, their NF-κB programme × (1 + a·B(TNF-α, IL-1β)) "
        "(activated by the TNF-α and IL-1β they see; Takada 2004); MMP-3 induced by TNF-α and IL-1β where a "
        "macrophage is (Haro 2000; Le Maitre 2005); chemoattractant from MMP cleavage of the matrix.",
        ("parameters.disc_cells", "patient"),
        ("material", "np_viability", "field.tnf", "field.il1b", "field.mmp", "macrophage.position"),
        _fields("source", ("tnf", "il1b", "il6", "il8", "tgfb", "chemo", "mmp")),
        ("disc_cell_secretion",),
        (),
        _disc_cells,
    ),
    Process(
        "il10_background",
        "The patient's IL-10 background: a uniform source k·c_bg that holds the IL-10 field at that level.",
        ("patient",),
        (),
        ("source.il10",),
        ("il10_background",),
        (),
        _il10_background,
    ),
    Process(
        "macrophage_secretion",
        "Each occupied voxel gets Σ_p n_p·rate_p; M1 pro-inflammatory products × (1 − Imax·IL10/(IL10 + IC50)); "
        "chemoattractant × the voxel's NP material (made on the stimulus only).",
        ("parameters.secretion", "patient"),
        (*_POP, "field.il10", "material"),
        _fields("source"),
        ("macrophage_secretion",),
        (),
        _macrophage_secretion,
    ),
    Process(
        "glucocorticoid_repression",
        "A glucocorticoid's exposure represses the sources of its NF-κB/AP-1 targets (TNF-α, IL-1β, IL-6, IL-8, "
        "MMP-3) from NP cells and macrophages: S × (1 − Emax·C/(C + EC50)); no effect without the treatment.",
        ("treatment",),
        ("treatment.gc_repression",),
        _fields("source", CYTOKINE_ROLES["glucocorticoid_repressed"]),
        ("glucocorticoid_repression",),
        (),
        _glucocorticoid,
    ),
    Process(
        "transport",
        "Every field: ∂c/∂t = D∇²c − k·c + S, backward Euler (LOD, Thomas sweeps), sources held over the step; "
        "an anti-TNF biologic adds its sink k_on·[drug] to TNF-α's decay.",
        ("parameters.transport", "treatment"),
        (*_fields("field"), *_fields("source"), "treatment.tnf_sink"),
        _fields("field"),
        ("transport",),
        tuple(f"{c}_{w}_pg_ml" for c in CYTOKINES for w in ("fragment", "root")),
    ),
    Process(
        "polarization",
        "M0 → M1 at r01·s1, M0 → M2 at r02·s2, M1 → M2 at r12·s2, M2 → M1 at r21·s1 (stimuli in docs/model.md; "
        "treatments add IL-4 to the tissue's or an M2 stimulus to s2).",
        ("parameters.polarization", "patient", "treatment"),
        (
            *_POP,
            "macrophage.engulfed",
            "material",
            "np_viability",
            "field.tnf",
            "field.il10",
            "field.tgfb",
            "treatment.m2_stimulus",
            "treatment.il4_added",
        ),
        ("macrophage.phenotype",),
        ("polarization",),
        ("n_m0", "n_m1", "n_m2", "m1_fraction"),
        _polarization,
    ),
    Process(
        "death_and_egress",
        "Each cell dies or leaves with probability 1 − exp(−dt/τ_phenotype) (parameters.lifespan).",
        ("parameters.lifespan",),
        ("macrophage.phenotype",),
        ("macrophage.population",),
        ("death_and_egress",),
        ("n_m0", "n_m1", "n_m2"),
        _lifespan,
    ),
    Process(
        "phagocytosis",
        "Cells engulf NP material in their voxel; shared voxels split it by phenotype weight (integer counts).",
        ("parameters.phagocytosis",),
        (*_POP, "material"),
        ("material", "macrophage.engulfed"),
        ("phagocytosis",),
        ("herniation_volume_mm3", "volume_fraction"),
        _phagocytosis,
    ),
    Process(
        "np_cell_death",
        "NP cells die at a basal rate (half-life T½ × np_cell_survival) and are killed by the macrophages in "
        "their voxel: viability × exp(−(k_b + n·k_m)·dt).",
        ("parameters.disc_cells", "patient"),
        ("macrophage.position", "material"),
        ("np_viability",),
        ("np_cell_death",),
        ("np_viability",),
        _np_cell_death,
    ),
    Process(
        "chemotaxis",
        "Lattice jump with probability 4·D·dt/dx² (D = v·ℓ/2; sub-steps where it exceeds 1), weighted by "
        "exp(±χ·dx·∇c/(c + K)) up the chemoattractant.",
        ("parameters.motility", "parameters.recruitment"),
        ("macrophage.position", "field.chemo"),
        ("macrophage.position",),
        ("chemotaxis",),
        ("n_fragment", "cd68_per_cm2"),
        _chemotaxis,
    ),
    Process(
        "vessel_ingrowth",
        "Once a day, a fragment voxel digested below θ × its onset material next to a vascular site becomes one: "
        "granulation tissue and its vessels follow the resorption front (Kobayashi 2009; Haro 2002).",
        ("parameters.tissue",),
        ("material", "vascular_sites"),
        ("vascular_sites",),
        ("vessel_ingrowth",),
        (),
        _vessel_ingrowth,
    ),
    Process(
        "recruitment",
        "Poisson(λ·dt) monocytes (M0) per vascular site, λ = influx·propensity·(dx/250 µm)²·(basal·left + "
        "(1 − basal)·c/(c + K)) × a treatment's recruitment multiplier.",
        ("parameters.recruitment", "patient", "treatment"),
        ("field.chemo", "material", "vascular_sites", "treatment.recruitment"),
        ("macrophage.population",),
        ("recruitment",),
        ("n_m0",),
        _recruitment,
    ),
    Process(
        "matrix_digestion",
        "MMP digestion of the NP matrix, dm/dt = −k·MMP/(MMP + K)·m, integrated exactly over the step.",
        ("parameters.tissue",),
        ("field.mmp", "material"),
        ("material",),
        ("matrix_digestion",),
        ("herniation_volume_mm3", "volume_fraction"),
        _matrix_digestion,
    ),
    Process(
        "shrinkage",
        "Non-inflammatory shrinkage: material × g(t + dt)/g(t), g(t) = 1 − f·(1 − e^{−t/τ}).",
        ("patient", "parameters.tissue"),
        ("material", "time"),
        ("material",),
        ("shrinkage",),
        ("herniation_volume_mm3", "volume_fraction"),
        _shrinkage,
    ),
    Process(
        "pain",
        "dS/dt = k_s·Σ w_j·c_j/(c_j + K_j) − r0·(1 + g·IL10/(IL10 + K))·S with the root's concentrations (exact "
        "over the step); compression from the contact zone; an IL-1 receptor antagonist blocks its fraction of "
        "IL-1β's term.",
        ("parameters.pain", "patient", "treatment"),
        (
            *_fields("field", CYTOKINE_ROLES["root_sensitizing"] + CYTOKINE_ROLES["root_resolving"]),
            "material",
            "treatment.il1_block",
        ),
        ("pain.sensitization", "pain.compression"),
        ("pain",),
        ("pain_vas", "sensitization", "compression"),
        _pain,
    ),
)

PROCESS_NAMES: tuple[str, ...] = tuple(p.name for p in PROCESSES)


# ---------------------------------------------------------------------------------------------- records
# Records are returned as ``np.recarray`` views: numba compiles them as structured arrays, and with
# NUMBA_DISABLE_JIT=1 (mutation testing, debugging) ``c[0].name`` still works in plain Python.
def field_index_record() -> np.ndarray:
    """(1,) structured array: one int64 per cytokine, named by it, holding its position in ``CYTOKINES``."""
    rec = np.zeros(1, dtype=np.dtype([(c, np.int64) for c in CYTOKINES], align=True))
    for i, c in enumerate(CYTOKINES):
        rec[0][c] = i
    return rec.view(np.recarray)


def enabled_record(disabled=()) -> np.ndarray:
    """(1,) structured array of bools named by process: ``on.<name>`` in the compiled step."""
    unknown = sorted(set(disabled) - set(PROCESS_NAMES))
    if unknown:
        raise ValueError(f"unknown process(es) {unknown}; valid: {', '.join(PROCESS_NAMES)}")
    rec = np.ones(1, dtype=np.dtype([(n, np.bool_) for n in PROCESS_NAMES], align=True))
    for n in disabled:
        rec[0][n] = False
    return rec.view(np.recarray)


def _derived(s: Scenario, section) -> dict:
    out = dict(_clock(s, section))
    for p in PROCESSES:
        if p.derive is None:
            continue
        for key, value in p.derive(s, section).items():
            if key in out:
                raise ValueError(f"process {p.name!r} derives {key!r}, already derived by another process")
            out[key] = value
    return out


def parameter_record(s: Scenario, section) -> np.ndarray:
    """(1,) structured float64 array of every scalar kernel parameter, named as derived by the processes."""
    scalars = {k: float(v) for k, v in _derived(s, section).items() if not isinstance(v, np.ndarray)}
    rec = np.zeros(1, dtype=np.dtype([(k, np.float64) for k in scalars], align=True))
    for k, v in scalars.items():
        rec[0][k] = v
    return rec.view(np.recarray)


def derived_arrays(s: Scenario, section) -> dict[str, np.ndarray]:
    """The array-valued kernel parameters (secretion table, NP rates, pain weights …), by name."""
    return {k: np.ascontiguousarray(v) for k, v in _derived(s, section).items() if isinstance(v, np.ndarray)}


# ---------------------------------------------------------------------------------------------- docs
DOC_BEGIN = "<!-- processes: begin (generated by `python -m sim.model.processes`; do not edit) -->"
DOC_END = "<!-- processes: end -->"
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "model.md"


def process_table_markdown() -> str:
    """The step's processes in order, as the Markdown section of ``docs/model.md``."""
    lines = [
        DOC_BEGIN,
        "",
        "One step is these processes, in this order (`sim/model/processes.py`). Any of them can be",
        'switched off in a scenario with `[model] disable = ["name", ...]`.',
        "",
        "| # | process | what it does | parameters | reads | writes |",
        "|---:|:---|:---|:---|:---|:---|",
    ]
    for i, p in enumerate(PROCESSES, 1):
        cells = [
            str(i),
            f"`{p.name}`",
            p.summary.replace("|", "\\|"),
            ", ".join(f"`{x}`" for x in p.sections),
            ", ".join(f"`{x}`" for x in p.reads) or "–",
            ", ".join(f"`{x}`" for x in p.writes) or "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Cytokine roles (declared once, `CYTOKINE_ROLES`):", ""]
    for role, names in CYTOKINE_ROLES.items():
        lines.append(f"* `{role}`: {', '.join(names)}")
    lines += ["", DOC_END]
    return "\n".join(lines)


def render_doc(text: str) -> str:
    """``text`` (docs/model.md) with its generated process section replaced by the current one."""
    start, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if start < 0 or end < 0:
        raise ValueError("docs/model.md has no generated process section markers")
    return text[:start] + process_table_markdown() + text[end + len(DOC_END) :]


def write_docs(path: Path = DOC_PATH) -> None:
    path.write_text(render_doc(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write_docs(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH)
    print(f"wrote the process section of {DOC_PATH}")
