"""The scenario schema: what a scenario file may say, with units, bounds, defaults and provenance.

A scenario is TOML validated by these pydantic models (``extra="forbid"`` everywhere, so a typo in a
key is an error, not a silently ignored line). Every biological default is either ``sourced`` (a
citation; ``calibration_targets.toml`` ids are given where the value comes from there) or
``calibrated`` (no direct measurement; fitted within the stated prior). Concentrations are pg/mL,
lengths µm unless the key says otherwise, rates carry their time unit in the key.

Sections
--------
``[simulation]``  run length, time step, seed, snapshot interval
``[patient]``     the virtual patient: herniation type and size, random effects
``[geometry]``    the 2D section: grid spacing, domain, nerve root, histology conversion
``[parameters]``  model parameters (transport, secretion, recruitment, polarization, tissue, pain)
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from .params import calibrated, setting, sourced

__all__ = [
    "HerniationType",
    "CYTOKINES",
    "Simulation",
    "Patient",
    "Geometry",
    "Parameters",
]

#: Fields solved on the grid, in storage order. IFN-γ and IL-4 are patient-level backgrounds instead
#: (mostly lymphocyte / mast-cell products, BRIEF §2), not fields.
CYTOKINES: tuple[str, ...] = ("tnf", "il1b", "il6", "il8", "il10", "tgfb", "chemo", "mmp")


class HerniationType(str, Enum):
    bulging = "bulging"
    protrusion = "protrusion"
    subligamentous_extrusion = "subligamentous_extrusion"
    transligamentous_extrusion = "transligamentous_extrusion"
    sequestration = "sequestration"


class _Strict(BaseModel):
    # strict: a number is a TOML number (no "1.5" strings, no true for 1); finite: nan/inf are refused
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False, strict=True, allow_inf_nan=False)


#: Herniation types given as their names in a file (strict mode would accept only enum instances).
HerniationTypeName = Annotated[HerniationType, Strict(False)]

#: Shortest time step: cytokine fields relax in minutes, so finer steps buy nothing (BRIEF §2).
MIN_DT_HOURS = 1.0 / 60.0


Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]


def whole_days(v: float | None) -> float | None:
    """Validator: simulated time is a whole number of days (outputs are one row per day)."""
    if v is not None and v != int(v):
        raise ValueError(f"must be a whole number of days (got {v:g}); outputs are one row per day")
    return v


# ---------------------------------------------------------------------------------------------
# run settings
# ---------------------------------------------------------------------------------------------


class Simulation(_Strict):
    """Run length and numerics."""

    days: float = setting(
        365.0,
        unit="day",
        description="Simulated time after the herniation event, in whole days (outputs are daily).",
        ge=1,
        le=3650,
    )
    dt_hours: float = setting(
        1.0,
        unit="h",
        description="Agent and field time step (fields use backward Euler, stable at any step); a "
        "whole number of steps must make a day (1 minute to 24 h: 1/60, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 24).",
        ge=MIN_DT_HOURS,
        le=24,
    )
    seed: int = setting(0, unit="-", description="Root random seed of the run.", ge=0)
    snapshot_every_days: float = setting(
        30.0,
        unit="day",
        description="Interval of field snapshots (fields.zarr); 0 disables snapshots.",
        ge=0,
        le=3650,
    )

    _whole_days = field_validator("days")(classmethod(lambda cls, v: whole_days(v)))

    @field_validator("dt_hours")
    @classmethod
    def _divides_a_day(cls, v: float) -> float:
        steps = 24.0 / v
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ValueError(
                f"24 h must be a whole number of steps (got {v:g} h: {steps:.4g} steps a day); "
                "e.g. 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12 or 24"
            )
        return v

    @property
    def steps_per_day(self) -> int:
        return int(round(24.0 / self.dt_hours))


# ---------------------------------------------------------------------------------------------
# the patient
# ---------------------------------------------------------------------------------------------


class Patient(_Strict):
    """One virtual patient: herniation and patient-level random effects."""

    herniation_type: HerniationTypeName = Field(
        HerniationType.subligamentous_extrusion,
        description="Morphology of the herniation; sets the fragment shape and its containment.",
    )
    herniation_volume_mm3: float = calibrated(
        400.0,
        unit="mm^3",
        prior=(100.0, 2000.0),
        ge=10,
        le=10000,
        description="Initial herniated volume V0 (the 2D section is scaled to it, see docs/model.md).",
        note="our estimate of typical MRI herniation volumes; varies per patient",
    )
    rim_exposure: float | None = calibrated(
        None,
        unit="fraction",
        prior=(0.0, 1.0),
        ge=0,
        le=1,
        description="Fraction of the fragment rim touching vascularized epidural tissue (recruitment sites). "
        "Unset: the default of the herniation type (parameters.containment).",
    )
    inflammatory_propensity: float = calibrated(
        1.0,
        unit="multiplier",
        prior=(0.25, 4.0),
        ge=0,
        le=20,
        description="Patient multiplier on monocyte influx.",
    )
    ifng_pg_ml: float = calibrated(
        5.0,
        unit="pg/mL",
        prior=(0.0, 50.0),
        ge=0,
        le=1e4,
        description="Background IFN-γ in the tissue (lymphocyte product; drives M1).",
    )
    il4_pg_ml: float = calibrated(
        5.0,
        unit="pg/mL",
        prior=(0.0, 50.0),
        ge=0,
        le=1e4,
        description="Background IL-4 in the tissue (lymphocyte / mast-cell product; drives M2).",
    )
    il10_background_pg_ml: float = calibrated(
        0.0,
        unit="pg/mL",
        prior=(0.0, 20.0),
        ge=0,
        le=1e4,
        description="IL-10 from cells other than macrophages (e.g. regulatory T cells), a uniform tissue level "
        "added to the IL-10 field (implemented as a uniform source balancing decay).",
    )
    nerve_sensitivity: float = calibrated(
        1.0,
        unit="multiplier",
        prior=(0.3, 3.0),
        gt=0,
        le=20,
        description="Patient multiplier on the nerve root's pain response.",
    )
    disc_cell_activity: float = calibrated(
        1.0,
        unit="multiplier",
        prior=(0.25, 4.0),
        ge=0,
        le=20,
        description="Patient multiplier on the disc cells' constitutive NF-κB programme: TNF-α, IL-6, IL-8 and "
        "chemoattractant (IL-1β and TGF-β have their own multipliers, np_il1b_expression and np_tgfb_expression).",
    )
    np_cell_survival: float = calibrated(
        1.0,
        unit="multiplier",
        prior=(0.25, 4.0),
        gt=0,
        le=20,
        description="Patient multiplier on the NP-cell viability half-life in the fragment "
        "(parameters.disc_cells.viability_half_life_days): how long this patient's herniated NP keeps secreting.",
        note="the apoptotic / viable fraction of herniated NP cells varies widely between patients (qualitative)",
    )
    np_il1b_expression: float = calibrated(
        1.0,
        unit="multiplier",
        prior=(0.25, 4.0),
        ge=0,
        le=20,
        description="Patient multiplier on the NP cells' own IL-1β (not scaled by disc_cell_activity: IL-1β release "
        "needs a second, inflammasome signal).",
        note="disc IL-1β expression varies between patients independently of other cytokines (IL1A/IL1B/IL1RN "
        "polymorphisms are associated with disc degeneration; qualitative)",
    )
    np_tgfb_expression: float = calibrated(
        1.0,
        unit="multiplier",
        prior=(0.25, 4.0),
        ge=0,
        le=20,
        description="Patient multiplier on the NP cells' own (latent) TGF-β (not scaled by disc_cell_activity: TGF-β "
        "is stored latent in the matrix, not part of the NF-κB programme).",
        note="matrix-bound latent TGF-β content varies between discs independently of their cytokine output "
        "(qualitative)",
    )
    dehydration_fraction: float = calibrated(
        0.1,
        unit="fraction",
        prior=(0.0, 0.6),
        ge=0,
        lt=1,
        description="Fraction of the fragment's NP material lost without inflammation, by dehydration and "
        "retraction, approached with the time constant parameters.tissue.dehydration_time_days. It lets contained "
        "herniations regress (Orief 2012, World Neurosurg 77:146, review of regression mechanisms; recalled).",
    )


# ---------------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------------


class Geometry(_Strict):
    """The simulated 2D axial section (a slab one voxel thick, no flux through its faces)."""

    dx_um: float = setting(250.0, unit="µm", description="Voxel edge length (also the slab thickness).", ge=20, le=1000)
    width_mm: float = setting(20.0, unit="mm", description="Lateral extent of the section.", gt=2, le=60)
    height_mm: float = setting(
        14.0, unit="mm", description="Antero-posterior extent, from the disc margin.", gt=2, le=60
    )
    root_radius_mm: float = sourced(
        1.5,
        unit="mm",
        gt=0.2,
        le=5,
        source="our estimate: lumbar nerve root diameter ~3 mm at the lateral recess",
        description="Radius of the compressed nerve root.",
    )
    contact_zone_mm: float = calibrated(
        1.5,
        unit="mm",
        prior=(0.5, 3.0),
        gt=0,
        le=10,
        description="Fragment material within this distance of the root compresses it.",
    )
    section_thickness_um: float = sourced(
        5.0,
        unit="µm",
        gt=0,
        le=50,
        source="standard paraffin histology section thickness (4-5 µm)",
        description="Histological section thickness used to convert cells to CD68+ counts per cm².",
    )
    macrophage_diameter_um: float = sourced(
        20.0,
        unit="µm",
        gt=0,
        le=100,
        source="textbook macrophage size (15-25 µm)",
        description="A cell is counted in a section when its profile intersects it (Abercrombie correction).",
    )


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------

_D_EST = (
    "Stokes-Einstein estimate in water (calibration_targets: diffusivity_cytokine_water_estimate) divided by "
    "a tissue hindrance of 3 (the targets' note: 2-10x lower in NP/AF matrix)"
)


def _transport(name: str, d: float, half_life: float, mw: str, hl_source: str) -> type[_Strict]:
    class Transport(_Strict):
        diffusion_um2_per_s: float = sourced(
            d, unit="µm²/s", ge=0, le=1000, source=f"{_D_EST}; {mw}", description="Effective diffusivity in tissue."
        )
        half_life_min: float = sourced(
            half_life,
            unit="min",
            ge=0.1,
            le=1e5,
            source=hl_source,
            description="First-order decay half-life (at least 6 s: faster decay is no field at all).",
        )

    # a module-level name, so scenarios pickle (process pools, Dask)
    Transport.__name__ = Transport.__qualname__ = name
    Transport.__doc__ = f"Transport of {mw}."
    return Transport


_PHYSICELL = "PhysiCell tissue model convention 1.7e-4 /s (calibration_targets: cytokine_decay_model_conventions)"
TnfTransport = _transport(
    "TnfTransport", 33.0, 20.0, "TNF trimer 51 kDa", "human plasma half-life (tnf_plasma_half_life_human)"
)
Il1bTransport = _transport("Il1bTransport", 57.0, 68.0, "IL-1β 17 kDa", _PHYSICELL)
Il6Transport = _transport("Il6Transport", 57.0, 68.0, "IL-6 24 kDa", _PHYSICELL)
Il8Transport = _transport("Il8Transport", 67.0, 68.0, "IL-8 8 kDa", _PHYSICELL)
Il10Transport = _transport(
    "Il10Transport", 40.0, 116.0, "IL-10 dimer 37 kDa", "i.v. half-life 1.94 h (il10_plasma_half_life_human)"
)
TgfbTransport = _transport(
    "TgfbTransport", 57.0, 67.0, "TGF-β1 dimer 25 kDa", "PhysiCell anti-inflammatory convention 1.73e-4 /s"
)
ChemoTransport = _transport("ChemoTransport", 60.0, 68.0, "CCL2 ~13 kDa", _PHYSICELL)
MmpTransport = _transport(
    "MmpTransport", 33.0, 720.0, "MMP-3 45-57 kDa", "our estimate: proteases persist for hours in matrix (TIMP-limited)"
)


class Transport(_Strict):
    """Diffusion and decay of each field."""

    tnf: TnfTransport = Field(default_factory=TnfTransport)
    il1b: Il1bTransport = Field(default_factory=Il1bTransport)
    il6: Il6Transport = Field(default_factory=Il6Transport)
    il8: Il8Transport = Field(default_factory=Il8Transport)
    il10: Il10Transport = Field(default_factory=Il10Transport)
    tgfb: TgfbTransport = Field(default_factory=TgfbTransport)
    chemo: ChemoTransport = Field(default_factory=ChemoTransport)
    mmp: MmpTransport = Field(default_factory=MmpTransport)


_SECRETION_PRIOR = (0.0, 1e-2)
_SEC_NOTE = (
    "no per-cell rates for disc tissue are published; order of magnitude from stimulated human macrophage "
    "cultures (10-50 ng TNF per 1e6 cells per day ≈ 4e-4 to 2e-3 pg/cell/h)"
)


def _secretion(phenotype: str, **defaults: float) -> type[_Strict]:
    ann = {}
    ns: dict[str, object] = {}
    for name in CYTOKINES:
        ann[name] = float
        ns[name] = calibrated(
            defaults.get(name, 0.0),
            unit="pg/cell/h",
            prior=_SECRETION_PRIOR,
            ge=0,
            le=1.0,
            description=f"{phenotype} secretion of {name}"
            + (
                " in a voxel full of NP material (× the voxel's material: made on the stimulus only)."
                if name == "chemo"
                else "."
            ),
            note=_SEC_NOTE,
        )
    ns["__annotations__"] = ann
    ns["__doc__"] = f"Per-cell secretion of {phenotype} macrophages."
    ns["__module__"] = __name__
    return type(f"Secretion{phenotype}", (_Strict,), ns)


SecretionM0 = _secretion("M0", tnf=1e-4, il1b=5e-5, il6=1e-4, il8=3e-4, il10=5e-5, tgfb=5e-5, chemo=5e-5, mmp=3e-4)
SecretionM1 = _secretion("M1", tnf=2e-3, il1b=1e-3, il6=2e-3, il8=3e-3, il10=1e-4, tgfb=0.0, chemo=1e-3, mmp=3e-3)
SecretionM2 = _secretion("M2", tnf=1e-4, il1b=0.0, il6=1e-4, il8=2e-4, il10=2e-3, tgfb=1.5e-3, chemo=3e-5, mmp=3e-3)


class Secretion(_Strict):
    """Phenotype-specific macrophage secretion (M1: TNF, IL-1β, IL-6, IL-8, chemoattractant; M2: IL-10, TGF-β)."""

    m0: SecretionM0 = Field(default_factory=SecretionM0)
    m1: SecretionM1 = Field(default_factory=SecretionM1)
    m2: SecretionM2 = Field(default_factory=SecretionM2)
    il10_max_inhibition: float = sourced(
        0.85,
        unit="fraction",
        ge=0,
        le=1,
        source="Radwanski 1998 (il10_ic50_tnf_suppression): Imax ~0.85",
        description="Maximal IL-10 suppression of M1 TNF-α/IL-1β/IL-6/IL-8 secretion.",
    )
    il10_ic50_pg_ml: float = sourced(
        30.0,
        unit="pg/mL",
        gt=0,
        le=1e5,
        source="Radwanski 1998 (il10_ic50_tnf_suppression): 0.03 ng/mL",
        description="IL-10 concentration of half-maximal suppression.",
    )
    ifng_priming_gain: float = calibrated(
        3.0,
        unit="-",
        prior=(0.0, 5.0),
        ge=0,
        le=100,
        description="IFN-γ priming of M1 TNF-α, IL-6 and IL-8 output: × (1 + g·IFNγ/(IFNγ + K)), K = "
        "polarization.ifng_half_max_pg_ml. IFN-γ is the classical priming signal of macrophage TNF-α production "
        "(a patient-level background, patient.ifng_pg_ml). IL-1β is not primed: its release is inflammasome-gated.",
    )
    il4_max_inhibition: float = calibrated(
        0.8,
        unit="fraction",
        prior=(0.0, 0.9),
        ge=0,
        le=1,
        description="Maximal suppression of M1 TNF-α, IL-6 and IL-8 output by the patient's IL-4: × (1 − "
        "I·IL4/(IL4 + K)), K = polarization.il4_half_max_pg_ml (IL-4 suppresses monocyte TNF-α; Hart 1989, PNAS "
        "86:3803, recalled). IL-1β release is inflammasome-gated and not modulated here.",
    )


class DiscCells(_Strict):
    """Nucleus pulposus cells inside the fragment (density scales with the material fraction)."""

    density_per_mm3: float = sourced(
        4000.0,
        unit="cells/mm³",
        ge=0,
        le=1e5,
        source="recalled: adult NP ~4x10^6 cells/cm³ (Maroudas 1975)",
        description="NP cell density in intact material.",
    )
    viability_half_life_days: float = calibrated(
        40.0,
        unit="day",
        prior=(20.0, 400.0),
        gt=0,
        le=1e5,
        description="Basal half-life of NP-cell viability in the herniated fragment, without macrophages (cut off "
        "from the disc's nutrition; × patient.np_cell_survival). Macrophages kill more (macrophage_kill_per_day). "
        "Viability scales all disc-cell secretion, MMP-3 induction included.",
        note="herniated NP shows extensive cell death / senescence (qualitative); no time constant published",
    )
    macrophage_kill_per_day: float = calibrated(
        0.0,
        unit="1/day per macrophage",
        prior=(0.0, 1.0),
        ge=0,
        le=100,
        description="Death rate of the NP cells of a voxel per macrophage in it: NP cells of herniated discs express "
        "Fas and infiltrating macrophages Fas ligand, and apoptosis is most frequent where macrophages are (Park 2001, "
        "Spine 26:618, recalled); the dying cells are cleared by efferocytosis. Any phenotype.",
    )
    activation_gain: float = calibrated(
        0.0,
        unit="-",
        prior=(0.0, 10.0),
        ge=0,
        le=1000,
        description="Amplification a of the NP cells' NF-κB programme (TNF-α, IL-6, IL-8, chemoattractant) by the "
        "TNF-α and IL-1β they are exposed to: × (1 + a·B), B = 1 − (1 − TNF/(TNF + K))·(1 − IL1β/(IL1β + K)), "
        "K = activation_half_max_pg_ml. Disc tissue co-cultured with macrophages makes far more IL-6 (and TNF-α) "
        "than either alone, through macrophage TNF-α/IL-1β (Takada 2004, Spine 29:1089, recalled); IL-1β and "
        "TNF-α induce IL-6, IL-8 and chemokines in human NP cells (Le Maitre 2005, recalled).",
    )
    activation_half_max_pg_ml: float = calibrated(
        20.0,
        unit="pg/mL",
        prior=(1.0, 200.0),
        gt=0,
        le=1e5,
        description="TNF-α (and IL-1β) giving half-maximal NP-cell activation.",
    )
    tnf_pg_per_cell_h: float = calibrated(
        4e-6,
        unit="pg/cell/h",
        prior=(0.0, 1e-5),
        ge=0,
        le=1e-2,
        description="Constitutive TNF-α of NP cells: nucleus pulposus sensitizes the root through its own TNF-α, "
        "without macrophages (Olmarker & Larsson 1998, Spine 23:2538; Igarashi 2000, Spine 25:2975; recalled).",
    )
    il1b_pg_per_cell_h: float = calibrated(
        2e-7,
        unit="pg/cell/h",
        prior=(0.0, 1e-5),
        ge=0,
        le=1e-2,
        description="Constitutive IL-1β (disc cells make IL-1β: dilutes its link to polarization).",
    )
    il6_pg_per_cell_h: float = calibrated(
        6e-6, unit="pg/cell/h", prior=(0.0, 1e-5), ge=0, le=1e-2, description="Constitutive IL-6."
    )
    il8_pg_per_cell_h: float = calibrated(
        1e-5, unit="pg/cell/h", prior=(0.0, 1e-5), ge=0, le=1e-2, description="Constitutive IL-8."
    )
    tgfb_pg_per_cell_h: float = calibrated(
        1e-5,
        unit="pg/cell/h",
        prior=(0.0, 1e-5),
        ge=0,
        le=1e-2,
        description="Constitutive (latent, activated) TGF-β.",
    )
    chemo_pg_per_cell_h: float = calibrated(
        5e-6,
        unit="pg/cell/h",
        prior=(0.0, 1e-4),
        ge=0,
        le=1e-2,
        description="Chemoattractant (CCL2 family) released by exposed NP.",
    )
    mmp3_max_pg_per_cell_h: float = sourced(
        5e-3,
        unit="pg/cell/h",
        ge=0,
        le=1.0,
        source="herniated tissue releases ~1 ng MMP-3 per mg in 48 h explants (reported figure; primary source not recorded) at ~4000 cells/mg",
        description="Maximal MMP-3 production when TNF-α stimulated (Haro 2000 loop).",
    )
    mmp3_tnf_half_max_pg_ml: float = calibrated(
        10.0,
        unit="pg/mL",
        prior=(1.0, 100.0),
        gt=0,
        le=1e5,
        description="TNF-α giving half-maximal disc-cell MMP-3 induction.",
    )
    mmp3_il1b_half_max_pg_ml: float = calibrated(
        10.0,
        unit="pg/mL",
        prior=(1.0, 100.0),
        gt=0,
        le=1e5,
        description="IL-1β giving half-maximal disc-cell MMP-3 induction, acting independently of TNF-α (Bliss): "
        "IL-1 induces MMP-3 in human NP cells at least as strongly as TNF-α (Le Maitre 2005, Arthritis Res Ther "
        "7:R732, recalled).",
    )
    chemo_per_mmp: float = calibrated(
        2e-4,
        unit="(pg/mL/h) per (pg/mL MMP)",
        prior=(0.0, 1e-2),
        ge=0,
        le=1,
        description="Chemoattractant generated by MMP-3 cleavage of NP matrix (Haro 2000), per unit material.",
    )


class Recruitment(_Strict):
    """Monocyte influx at vascular sites on the exposed fragment rim."""

    monocyte_influx_per_site_per_day: float = calibrated(
        1.5,
        unit="cells/site/day",
        prior=(0.0, 5.0),
        ge=0,
        le=100,
        description="Influx at saturating chemoattractant per reference vascular site: one 250 µm voxel of the "
        "vascularized rim, i.e. 0.0625 mm² of vessel wall in the section (site edge × voxel depth). At another voxel "
        "edge dx a site receives this × (dx / 250 µm)², the same influx per mm² of vessel wall, so the recruited "
        "density does not depend on the grid (0 switches recruitment off).",
    )
    basal_fraction: float = calibrated(
        0.05,
        unit="fraction",
        prior=(0.0, 0.3),
        ge=0,
        le=1,
        description="Influx without chemoattractant, as a fraction of the maximum, scaled by the remaining "
        "fragment fraction (the vascularized granulation tissue resolves with the fragment).",
    )
    chemo_half_max_pg_ml: float = calibrated(
        20.0,
        unit="pg/mL",
        prior=(1.0, 500.0),
        gt=0,
        le=1e5,
        description="Chemoattractant giving half-maximal influx.",
    )


class Containment(_Strict):
    """Default rim exposure (vascularized fraction of the fragment rim) by herniation type."""

    bulging: float = calibrated(
        0.02, unit="fraction", prior=(0.0, 0.1), ge=0, le=1, description="Annulus intact: almost no vascular contact."
    )
    protrusion: float = calibrated(
        0.08, unit="fraction", prior=(0.0, 0.3), ge=0, le=1, description="Contained by outer annulus."
    )
    subligamentous_extrusion: float = calibrated(
        0.35, unit="fraction", prior=(0.1, 0.6), ge=0, le=1, description="Under the posterior longitudinal ligament."
    )
    transligamentous_extrusion: float = calibrated(
        0.7, unit="fraction", prior=(0.3, 1.0), ge=0, le=1, description="Through the ligament into the epidural space."
    )
    sequestration: float = calibrated(
        0.9, unit="fraction", prior=(0.5, 1.0), ge=0, le=1, description="Free fragment surrounded by epidural tissue."
    )


class Motility(_Strict):
    speed_um_per_min: float = sourced(
        2.0,
        unit="µm/min",
        ge=0,
        le=50,
        source="recalled: macrophage migration in tissue 1-5 µm/min",
        description="Migration speed v. With the persistence length ℓ it sets the random motility "
        "D = v·ℓ/2; a lattice jump has probability 4·D·dt/dx² (split into sub-steps when above 1), so the walk's "
        "spread does not depend on the grid.",
    )
    persistence_length_um: float = calibrated(
        125.0,
        unit="µm",
        prior=(20.0, 300.0),
        gt=0,
        le=1e4,
        description="Persistence length ℓ of the random walk (speed × persistence time). The default makes "
        "D = 125 µm²/min, the lattice walk of one 250 µm jump with probability speed·dt/dx of the earlier versions "
        "(persistence time ℓ/v ≈ 1 h at 2 µm/min; macrophages in 3-D matrix: tens of minutes).",
    )
    chemotaxis_sensitivity: float = calibrated(
        3.0,
        unit="-",
        prior=(0.0, 10.0),
        ge=0,
        le=100,
        description="Bias of jumps up the log-gradient of chemoattractant (0 = unbiased).",
    )


class Polarization(_Strict):
    """Rates at full stimulus; the stimulus is a sum of saturating signals (docs/model.md)."""

    m0_to_m1_per_day: float = calibrated(
        2.0,
        unit="1/day",
        prior=(0.1, 10.0),
        ge=0,
        le=100,
        description="M0 → M1 under TNF-α, IFN-γ and NP danger signals.",
    )
    m0_to_m2_per_day: float = calibrated(
        1.0,
        unit="1/day",
        prior=(0.05, 10.0),
        ge=0,
        le=100,
        description="M0 → M2 under IL-4, IL-10, TGF-β and phagocytosis.",
    )
    m1_to_m2_per_day: float = calibrated(
        0.15,
        unit="1/day",
        prior=(0.0, 5.0),
        ge=0,
        le=100,
        description="M1 → M2 plasticity (phagocytosis-driven switch, Arnold 2007).",
    )
    m2_to_m1_per_day: float = calibrated(
        0.05, unit="1/day", prior=(0.0, 5.0), ge=0, le=100, description="M2 → M1 plasticity under TNF-α / IFN-γ."
    )
    danger_weight: float = calibrated(
        0.5,
        unit="-",
        prior=(0.0, 3.0),
        ge=0,
        le=100,
        description="Weight of viable NP material (danger signal: material × NP viability) in the M1 stimulus.",
    )
    phagocytosis_weight: float = calibrated(
        1.5, unit="-", prior=(0.0, 5.0), ge=0, le=100, description="Weight of engulfed material in the M2 stimulus."
    )
    tnf_half_max_pg_ml: float = calibrated(
        10.0, unit="pg/mL", prior=(1.0, 100.0), gt=0, le=1e5, description="Half-saturation of TNF-α signalling."
    )
    ifng_half_max_pg_ml: float = calibrated(
        5.0, unit="pg/mL", prior=(1.0, 100.0), gt=0, le=1e5, description="Half-saturation of IFN-γ signalling."
    )
    il4_half_max_pg_ml: float = calibrated(
        3.0, unit="pg/mL", prior=(1.0, 100.0), gt=0, le=1e5, description="Half-saturation of IL-4 signalling."
    )
    il10_half_max_pg_ml: float = sourced(
        30.0,
        unit="pg/mL",
        gt=0,
        le=1e5,
        source="IL-10 IC50 0.03 ng/mL (il10_ic50_tnf_suppression)",
        description="Half-saturation of IL-10 signalling.",
    )
    tgfb_half_max_pg_ml: float = calibrated(
        100.0, unit="pg/mL", prior=(1.0, 200.0), gt=0, le=1e5, description="Half-saturation of TGF-β signalling."
    )
    engulfed_half_max_um3: float = calibrated(
        5000.0,
        unit="µm³",
        prior=(500.0, 50000.0),
        gt=0,
        le=1e7,
        description="Engulfed volume giving half the phagocytic M2 signal.",
    )


class Lifespan(_Strict):
    m0_days: float = calibrated(
        3.0,
        unit="day",
        prior=(0.5, 10.0),
        gt=0,
        le=365,
        description="Mean residence of unpolarized macrophages (death or egress).",
    )
    m1_days: float = calibrated(
        4.0,
        unit="day",
        prior=(1.0, 20.0),
        gt=0,
        le=365,
        description="Mean residence of M1 cells (rodent: M1 high weeks 1-2).",
    )
    m2_days: float = calibrated(
        15.0,
        unit="day",
        prior=(3.0, 40.0),
        gt=0,
        le=365,
        description="Mean residence of M2 cells (rodent: M2 gone by week 8).",
    )


class Phagocytosis(_Strict):
    volume_um3_per_h: float = calibrated(
        400.0,
        unit="µm³/cell/h",
        prior=(50.0, 3000.0),
        ge=0,
        le=1e5,
        description="NP material engulfed per M2 macrophage per hour (M0/M1 scaled below).",
    )
    m0_factor: float = calibrated(0.5, unit="-", prior=(0.0, 1.0), ge=0, le=10, description="M0 relative to M2.")
    m1_factor: float = calibrated(0.5, unit="-", prior=(0.0, 1.0), ge=0, le=10, description="M1 relative to M2.")


class Tissue(_Strict):
    mmp_degradation_per_day: float = calibrated(
        0.006,
        unit="1/day",
        prior=(0.0, 0.1),
        ge=0,
        le=10,
        description="Fraction of NP material degraded per day at saturating MMP.",
    )
    mmp_half_max_pg_ml: float = calibrated(
        2e3,
        unit="pg/mL",
        prior=(1e2, 1e6),
        gt=0,
        le=1e9,
        description="MMP concentration giving half-maximal matrix degradation.",
    )
    vascularization_threshold: float = calibrated(
        0.0,
        unit="fraction",
        prior=(0.0, 0.9),
        ge=0,
        lt=1,
        description="Vessel ingrowth: once a day, a fragment voxel digested below this fraction of its onset "
        "material and next to a vascular site becomes a recruitment site itself, so the granulation tissue and "
        "its vessels follow the resorption front into the fragment (neovascularization and macrophages invade "
        "herniated tissue from its rim: Kobayashi 2009, Spine 34:655; VEGF-driven angiogenesis in herniation "
        "resorption: Haro 2002, J Orthop Res 20:409; rim enhancement predicts resorption: Autio 2006; recalled). "
        "0 switches ingrowth off.",
    )
    dehydration_time_days: float = calibrated(
        90.0,
        unit="day",
        prior=(14.0, 365.0),
        gt=0,
        le=1e5,
        description="Time constant of non-inflammatory shrinkage (dehydration, retraction) of the fragment: the "
        "material left by every other process is scaled so that, alone, it would follow "
        "1 − f·(1 − exp(−t/τ)) with f = patient.dehydration_fraction.",
        note="regression is seen on MRI within months (Autio 2006); no separate time constant for dehydration published",
    )


class Pain(_Strict):
    """Leg VAS = 100·(1 − exp(−s·(S·(1 + w_c·C) + w_m·C))): sensitization S amplified by compression C, a small
    purely mechanical term, patient sensitivity s (docs/model.md)."""

    compression_weight: float = calibrated(
        1.0,
        unit="-",
        prior=(0.0, 5.0),
        ge=0,
        le=100,
        description="Amplification of sensitization by full root compression (w_c): a compressed, sensitized root "
        "hurts more.",
    )
    mechanical_weight: float = calibrated(
        0.1,
        unit="-",
        prior=(0.0, 1.0),
        ge=0,
        le=100,
        description="Pain drive of full compression of a non-sensitized root (w_m); small, since compressed but "
        "non-inflamed roots are often painless (asymptomatic herniations on MRI).",
    )
    decompression_fraction: float = calibrated(
        0.7,
        unit="fraction",
        prior=(0.0, 0.9),
        ge=0,
        lt=1,
        description="Remaining contact-zone material at which the root is no longer compressed.",
    )
    sensitization_per_day: float = calibrated(
        0.8, unit="1/day", prior=(0.0, 5.0), ge=0, le=100, description="Rate of sensitization at full cytokine drive."
    )
    tnf_weight: float = calibrated(1.0, unit="-", prior=(0.0, 2.0), ge=0, le=100, description="TNF-α in the drive.")
    il1b_weight: float = calibrated(
        1.0,
        unit="-",
        prior=(0.5, 2.0),
        ge=0,
        le=100,
        description="IL-1β in the drive, relative to TNF-α. IL-1β is algogenic: nociceptors express IL-1R1, and IL-1β "
        "raises their excitability at picomolar levels and produces hyperalgesia (Binshtok 2008, J Neurosci 28:14062; "
        "Schäfers & Sorkin 2008 review TNF-α and IL-1β as comparable sensitizers, recalled): the prior spans half to "
        "twice TNF-α's weight.",
    )
    il6_weight: float = calibrated(0.5, unit="-", prior=(0.0, 2.0), ge=0, le=100, description="IL-6 in the drive.")
    il8_weight: float = calibrated(0.5, unit="-", prior=(0.0, 2.0), ge=0, le=100, description="IL-8 in the drive.")
    tnf_half_max_pg_ml: float = calibrated(
        2.0, unit="pg/mL", prior=(0.1, 100.0), gt=0, le=1e5, description="Half-saturation of TNF-α at the root."
    )
    il1b_half_max_pg_ml: float = calibrated(
        5.0, unit="pg/mL", prior=(0.5, 100.0), gt=0, le=1e5, description="Half-saturation of IL-1β at the root."
    )
    il6_half_max_pg_ml: float = calibrated(
        10.0, unit="pg/mL", prior=(0.5, 100.0), gt=0, le=1e5, description="Half-saturation of IL-6 at the root."
    )
    il8_half_max_pg_ml: float = calibrated(
        20.0, unit="pg/mL", prior=(0.5, 200.0), gt=0, le=1e5, description="Half-saturation of IL-8 at the root."
    )
    resolution_per_day: float = calibrated(
        0.2,
        unit="1/day",
        prior=(0.02, 1.0),
        ge=0,
        le=100,
        description="Resolution of sensitization without IL-10 (macrophage-depleted mice: >7 days).",
    )
    il10_half_max_pg_ml: float = calibrated(
        20.0,
        unit="pg/mL",
        prior=(0.3, 30.0),
        gt=0,
        le=1e5,
        description="IL-10 at the root giving half the extra resolution (the ex-vivo IC50 of 30 pg/mL is the "
        "prior's upper end: the root sees less IL-10 than the fragment).",
    )
    il10_resolution_gain: float = calibrated(
        10.0,
        unit="-",
        prior=(0.0, 10.0),
        ge=0,
        le=100,
        description="Extra resolution at saturating IL-10 (normal mice resolve in 1-3 days; "
        "macrophage_depletion_delays_pain_resolution).",
    )


class Parameters(_Strict):
    """All model parameters. A scenario overrides any subset; the rest keep their defaults."""

    transport: Transport = Field(default_factory=Transport)
    secretion: Secretion = Field(default_factory=Secretion)
    disc_cells: DiscCells = Field(default_factory=DiscCells)
    recruitment: Recruitment = Field(default_factory=Recruitment)
    containment: Containment = Field(default_factory=Containment)
    motility: Motility = Field(default_factory=Motility)
    polarization: Polarization = Field(default_factory=Polarization)
    lifespan: Lifespan = Field(default_factory=Lifespan)
    phagocytosis: Phagocytosis = Field(default_factory=Phagocytosis)
    tissue: Tissue = Field(default_factory=Tissue)
    pain: Pain = Field(default_factory=Pain)


# ---------------------------------------------------------------------------------------------- [model]
class ModelSpec(_Strict):
    """Which of the model's processes run (docs/model.md, "Processes"). Ablations switch processes off here
    instead of setting fake parameter values."""

    disable: list[str] = Field(
        default_factory=list,
        description="Processes switched off, by name (the process list is in docs/model.md), e.g. "
        '["macrophage_secretion", "recruitment"].',
        max_length=64,
    )

    @field_validator("disable")
    @classmethod
    def _known_processes(cls, names: list[str]) -> list[str]:
        from ..model.processes import PROCESS_NAMES  # the process list lives with the model

        unknown = [n for n in names if n not in PROCESS_NAMES]
        if unknown:
            raise ValueError(f"unknown process(es) {', '.join(map(repr, unknown))}; valid: {', '.join(PROCESS_NAMES)}")
        return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------------
# treatments ([[treatment]]; pharmacology and effects in sim/model/treatments.py)
# ---------------------------------------------------------------------------------------------


class DiscectomyRule(_Strict):
    """Operate on the first day d in [from_day, until_day] on which leg VAS ≥ vas_at_least has held for the
    last ``for_days`` days (a crossover rule for persistent severe pain)."""

    vas_at_least: float = Field(..., ge=0, le=100, description="Leg VAS threshold (0-100).")
    for_days: float = Field(..., ge=1, le=3650, description="Whole days the threshold must have held.")
    from_day: float = Field(0.0, ge=0, le=3650, description="First day (after onset) the rule is checked.")
    until_day: float = Field(3650.0, ge=0, le=3650, description="Last day the rule is checked.")

    _whole = field_validator("for_days", "from_day", "until_day")(whole_days)

    @model_validator(mode="after")
    def _ordered(self):
        if self.until_day < self.from_day:
            raise ValueError(f"until_day ({self.until_day:g}) is before from_day ({self.from_day:g})")
        return self


class Treatment(_Strict):
    """One scheduled intervention: a drug given ``doses`` times from ``start_day``, or a discectomy at
    ``start_day`` or by ``rule`` (docs/trials.md; pharmacology with sources in sim/model/treatments.py)."""

    kind: str = Field(..., description="anti_tnf, glucocorticoid, il1ra, m2_therapy or discectomy.", max_length=64)
    start_day: float | None = Field(
        None, ge=0, le=3650, description="Day after onset of the first dose (or of the surgery)."
    )
    route: str | None = Field(None, description="systemic or epidural (default: the kind's usual route).")
    doses: int = Field(1, ge=1, le=1000, description="Number of doses.")
    interval_days: float | None = Field(
        None, gt=0, le=3650, description="Days between doses (default: the kind's usual interval)."
    )
    dose_mg: float | None = Field(None, gt=0, le=1e5, description="Dose, mg (default: the kind's usual dose).")
    rule: DiscectomyRule | None = Field(None, description="Discectomy only: operate when pain persists.")

    @model_validator(mode="after")
    def _consistent(self):
        from ..model.treatments import TREATMENTS  # the pharmacology lives with the model

        kind = TREATMENTS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown treatment kind {self.kind!r}; valid: {', '.join(TREATMENTS)}")
        if self.kind == "discectomy":
            if (self.start_day is None) == (self.rule is None):
                raise ValueError("a discectomy needs exactly one of start_day (a fixed day) or rule (crossover)")
            extra = [k for k in ("route", "interval_days", "dose_mg") if getattr(self, k) is not None]
            if extra or self.doses != 1:
                raise ValueError(f"a discectomy takes no {', '.join(extra) or 'doses'}")
            return self
        if self.rule is not None:
            raise ValueError("rule applies to a discectomy only")
        if self.start_day is None:
            raise ValueError(f"{self.kind} needs start_day (day after onset of the first dose)")
        if self.route is not None and self.route not in kind.routes:
            raise ValueError(f"route {self.route!r} is not available for {self.kind}; valid: {', '.join(kind.routes)}")
        return self

    def last_day(self) -> float:
        """Day of the last dose (or of the last day a discectomy rule is checked)."""
        if self.rule is not None:
            return self.rule.from_day
        from ..model.treatments import TREATMENTS

        kind = TREATMENTS[self.kind]
        if not kind.routes:
            return float(self.start_day)
        pk = kind.routes[self.route or kind.default_route]
        interval = self.interval_days if self.interval_days is not None else pk.interval_days.value
        return float(self.start_day) + (self.doses - 1) * interval
