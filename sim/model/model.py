"""``DiscModel``: a herniated fragment invaded by macrophages, cytokine fields, resorption and pain.

One step (``dt_hours``, default 1 h) is a fixed sequence, each a numba kernel over arrays:

1. sources: disc cells (constitutive; MMP-3 induced by TNF-α) and macrophages (by phenotype,
   M1 products suppressed by IL-10), scattered order-independently into the field sources;
2. fields: every cytokine field advanced by backward Euler (``sim.diffusion.FieldSet``);
3. macrophages: polarization and plasticity, ageing and death/egress, phagocytosis of NP material,
   chemotaxis up the chemoattractant gradient;
4. recruitment: Poisson influx of monocytes at the vascular sites of the exposed rim;
5. tissue: MMP degradation of the NP matrix, then non-inflammatory shrinkage (dehydration, retraction);
6. pain: sensitization from root cytokines (resolved by IL-10) and compression by the fragment.

Mesa is the shell: the model is seeded through ``rng``, its macrophages are ``mesa.Agent`` handles in
``model.agents`` (synchronised lazily, when you look), and a ``DataCollector`` records one row of
model-level observables per simulated day.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from .. import diffusion
from ..scenario.schema import CYTOKINES, Scenario
from . import kernels as K
from .agents import Macrophage, MacrophageArrays
from .geometry import Section, build_section
from .pain import PainState

__all__ = ["DiscModel", "OBSERVABLES"]

#: Daily observables (DataCollector model reporters, the columns of timeseries.parquet), with units.
OBSERVABLES: dict[str, str] = {
    "day": "days since the herniation event",
    "pain_vas": "leg pain, VAS 0-100",
    "sensitization": "root sensitization state S (dimensionless)",
    "compression": "root compression C in [0, 1]",
    "herniation_volume_mm3": "herniated volume, mm³ (sphere rule from the section area)",
    "volume_fraction": "herniated volume / onset volume",
    "n_m0": "macrophages M0 in the section",
    "n_m1": "macrophages M1 in the section",
    "n_m2": "macrophages M2 in the section",
    "n_fragment": "macrophages inside the fragment",
    "m1_fraction": "M1 / (M1 + M2) among macrophages in the fragment (NaN if none)",
    "cd68_per_cm2": "CD68+ cells per cm² of a histological section of the fragment",
    **{f"{c}_fragment_pg_ml": f"{c} material-weighted mean in the fragment, pg/mL" for c in CYTOKINES},
    **{f"{c}_root_pg_ml": f"{c} mean over the nerve root's outer layer, pg/mL" for c in CYTOKINES},
}


def _kinetics(s: Scenario, section: Section) -> K.Kinetics:
    p, pat = s.parameters, s.patient
    dt_h = s.simulation.dt_hours
    per_day = 1.0 / 24.0
    pol = p.polarization
    return K.Kinetics(
        dt_h=dt_h,
        ifng=pat.ifng_pg_ml,
        il4=pat.il4_pg_ml,
        m0_m1=pol.m0_to_m1_per_day * per_day,
        m0_m2=pol.m0_to_m2_per_day * per_day,
        m1_m2=pol.m1_to_m2_per_day * per_day,
        m2_m1=pol.m2_to_m1_per_day * per_day,
        danger_w=pol.danger_weight,
        phago_w=pol.phagocytosis_weight,
        k_tnf=pol.tnf_half_max_pg_ml,
        k_ifng=pol.ifng_half_max_pg_ml,
        k_il4=pol.il4_half_max_pg_ml,
        k_il10=pol.il10_half_max_pg_ml,
        k_tgfb=pol.tgfb_half_max_pg_ml,
        k_engulfed=pol.engulfed_half_max_um3,
        death_m0=per_day / p.lifespan.m0_days,
        death_m1=per_day / p.lifespan.m1_days,
        death_m2=per_day / p.lifespan.m2_days,
        p_jump=min(1.0, p.motility.speed_um_per_min * 60.0 * dt_h / section.dx_um),
        chemotaxis=p.motility.chemotaxis_sensitivity,
        k_chemo_sense=p.recruitment.chemo_half_max_pg_ml,
        phago_frac=p.phagocytosis.volume_um3_per_h / section.dx_um**3,
        phago_f0=p.phagocytosis.m0_factor,
        phago_f1=p.phagocytosis.m1_factor,
        voxel_um3=section.dx_um**3,
        dx_um=section.dx_um,
        il10_imax=p.secretion.il10_max_inhibition,
        il10_ic50=p.secretion.il10_ic50_pg_ml,
    )


class DiscModel(mesa.Model):
    """Agent-based model of one patient's herniated disc fragment.

    Parameters
    ----------
    scenario : Scenario
        Validated scenario (see :mod:`sim.scenario`).
    seed : int, optional
        Overrides ``scenario.simulation.seed``.

    Attributes
    ----------
    config : Scenario
        The scenario (``Model.scenario`` is Mesa's own object).
    section : Section
        Static geometry.
    fields : sim.diffusion.FieldSet
        Cytokine fields, pg/mL, shape ``(8, nx, ny)`` in ``CYTOKINES`` order.
    material : ndarray (nx, ny)
        NP material fraction per voxel.
    macrophages : MacrophageArrays
        Agent state (the engine's view); ``model.agents`` gives Mesa handles.
    hours : float
        Simulated time since the herniation event.
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None):
        seed = int(scenario.simulation.seed if seed is None else seed)
        super().__init__(rng=seed)
        self.config = scenario
        self.seed = seed
        self.section = build_section(scenario, self.rng)
        sec = self.section
        p = scenario.parameters
        self.dt_h = scenario.simulation.dt_hours
        # time is an integer count of steps (a whole number of them makes a day, enforced by the schema), so
        # day boundaries are exact at any dt: summing a dt like 1/60 h drifts
        self._steps_per_day = scenario.simulation.steps_per_day
        self._step_count = 0
        self.hours = 0.0

        specs = {
            name: diffusion.FieldSpec(
                D=getattr(p.transport, name).diffusion_um2_per_s,
                decay=math.log(2.0) / (getattr(p.transport, name).half_life_min * 60.0),
            )
            for name in CYTOKINES
        }
        self.fields = diffusion.FieldSet(sec.shape, sec.dx_um, specs)
        # patient IL-10 background: a uniform source that holds the field at the background level
        il10_bg = scenario.patient.il10_background_pg_ml
        self.fields["il10"][...] = il10_bg
        self._il10_bg_source = il10_bg * specs["il10"].decay
        self.material = sec.material0.copy()
        self._material0_sum = float(sec.material0.sum())
        self.macrophages = MacrophageArrays()
        # the patient's IFN-γ and IL-4 as fractions of saturation: they act on M1 output and on the root
        pat, pol = scenario.patient, p.polarization
        f_ifng = pat.ifng_pg_ml / (pat.ifng_pg_ml + pol.ifng_half_max_pg_ml)
        f_il4 = pat.il4_pg_ml / (pat.il4_pg_ml + pol.il4_half_max_pg_ml)
        self.pain = PainState.from_parameters(p.pain, pat.nerve_sensitivity, ifng_activation=f_ifng,
                                              il4_activation=f_il4)

        # kernel inputs derived once
        self._kin = _kinetics(scenario, sec)
        conv_cell = 1.0 / (sec.voxel_volume_ml * 3600.0)  # pg/cell/h -> pg/mL/s in one voxel
        self._secretion_table = np.array(
            [[getattr(getattr(p.secretion, ph), c) for c in CYTOKINES] for ph in ("m0", "m1", "m2")]
        )
        # patient-level IFN-γ priming and IL-4 suppression of the M1 products primed through transcription
        # (TNF-α, IL-6, IL-8); IL-1β release is inflammasome-gated (a second, danger signal), not primed
        m1_gain = (1.0 + p.secretion.ifng_priming_gain * f_ifng) * (1.0 - p.secretion.il4_max_inhibition * f_il4)
        for c in ("tnf", "il6", "il8"):
            self._secretion_table[K.M1, CYTOKINES.index(c)] *= m1_gain
        self._conv_cell = conv_cell
        cells_per_ml = p.disc_cells.density_per_mm3 * 1e3
        per_s = cells_per_ml / 3600.0  # pg/cell/h -> pg/mL/s at full material
        dc = p.disc_cells
        # constitutive NP secretion × the patient's multiplier: disc-cell activity scales the NF-κB programme
        # (TNF-α, IL-6, IL-8, CCL2); IL-1β release needs a second, inflammasome signal and TGF-β is stored latent
        # in the matrix, so each has its own patient multiplier instead
        pt = scenario.patient
        act = pt.disc_cell_activity
        patient_factor = {"tnf": act, "il6": act, "il8": act, "chemo": act,
                          "il1b": pt.np_il1b_expression, "tgfb": pt.np_tgfb_expression}
        self._disc_rates = np.zeros(len(CYTOKINES))
        for name, mult in patient_factor.items():
            self._disc_rates[CYTOKINES.index(name)] = getattr(dc, f"{name}_pg_per_cell_h") * per_s * mult
        self._mmp_max = dc.mmp3_max_pg_per_cell_h * per_s
        self._chemo_per_mmp = dc.chemo_per_mmp / 3600.0
        self._rec = p.recruitment
        self._influx_h = (
            p.recruitment.monocyte_influx_per_site_per_day / 24.0 * scenario.patient.inflammatory_propensity
        )
        self._degrade_h = p.tissue.mmp_degradation_per_day / 24.0
        self._root_index = np.flatnonzero(sec.root_surface).astype(np.int64)
        self._zone_index = np.flatnonzero(sec.contact_zone).astype(np.int64)
        self._zone0 = float(sec.material0.flat[self._zone_index].sum())
        self._walkable = sec.walkable.ravel()
        self._counts = np.zeros((3, self.material.size), dtype=np.int64)
        self._occupied = np.zeros(self.material.size, dtype=np.bool_)  # scratch of disc_cell_sources
        hist = scenario.geometry
        self._cd68_factor = (hist.section_thickness_um + hist.macrophage_diameter_um) / sec.dx_um
        self._handles: dict[int, Macrophage] = {}

        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in OBSERVABLES}
        )
        self._observe()
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ flat views of the state
    @property
    def _fields_flat(self) -> np.ndarray:
        return self.fields.data.reshape(len(CYTOKINES), -1)

    @property
    def day(self) -> float:
        return self.hours / 24.0

    def disc_cell_viability(self) -> float:
        """Surviving fraction of NP cells in the fragment (exponential loss of viability)."""
        half_life = self.config.parameters.disc_cells.viability_half_life_days * self.config.patient.np_cell_survival
        return 0.5 ** (self.day / half_life)

    def dehydration_factor(self, day: float | None = None) -> float:
        """Fraction of the fragment left by dehydration/retraction alone at ``day``: 1 − f·(1 − e^{−t/τ})."""
        t = self.day if day is None else day
        f = self.config.patient.dehydration_fraction
        return 1.0 - f * (1.0 - math.exp(-t / self.config.parameters.tissue.dehydration_time_days))

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the model by ``dt_hours``."""
        dt_h, kin, mac = self.dt_h, self._kin, self.macrophages
        flat = self._fields_flat
        material = self.material.reshape(-1)

        # 1. sources
        self.fields.clear_sources()
        src = self.fields.sources.reshape(len(CYTOKINES), -1)
        viability = self.disc_cell_viability()
        K.disc_cell_sources(
            material, flat, src, self._disc_rates, self._mmp_max,
            self.config.parameters.disc_cells.mmp3_tnf_half_max_pg_ml, self._chemo_per_mmp, viability,
            mac.pos, self._occupied,
        )
        if self._il10_bg_source:
            src[K.IL10] += self._il10_bg_source
        if mac.n:
            K.secrete(mac.pos, mac.phen, flat, self._secretion_table, self._conv_cell, kin, src, self._counts)

        # 2. fields
        self.fields.advance(dt_h * 3600.0, method="implicit")

        # 3-4. macrophages (polarize, age/die, phagocytose, chemotaxis) and recruitment, one kernel call
        alive = np.ones(mac.n, dtype=np.bool_)
        grad = np.empty((mac.n, 2))
        recruits = K.macrophage_step(
            mac.pos, mac.phen, mac.age_h, mac.engulfed_um3, alive, flat, self.fields["chemo"], material,
            viability, self._walkable, self._counts, grad, self.section.vessel_index,
            self._influx_h, self._rec.basal_fraction, self._rec.chemo_half_max_pg_ml,
            float(material.sum()) / self._material0_sum, kin, self.rng,
        )
        mac.keep(alive)
        if recruits.any():
            mac.add(np.repeat(self.section.vessel_index, recruits))

        # 5. tissue: MMP digestion, then non-inflammatory shrinkage (dehydration, retraction) of what is left
        K.degrade_matrix(material, flat[K.MMP], self._degrade_h, self.config.parameters.tissue.mmp_half_max_pg_ml, dt_h)
        if self.config.patient.dehydration_fraction > 0.0:
            material *= self.dehydration_factor(self.day + dt_h / 24.0) / self.dehydration_factor()

        # 6. pain
        root = K.masked_means(flat, self._root_index)
        self.pain.update(root, self._contact_fraction(), dt_h / 24.0)

        self._step_count += 1
        self.hours = self._step_count * 24.0 / self._steps_per_day
        if self._step_count % self._steps_per_day == 0:
            self._observe(root)
            self.datacollector.collect(self)

    def run_days(self, days: float, progress=None) -> None:
        """Step until ``days`` after onset; ``progress(day)`` is called once per simulated day."""
        n_steps = int(round(days * 24.0 / self.dt_h))
        last_day = int(self.day)
        for _ in range(n_steps):
            self.step()
            if progress is not None and int(self.day) != last_day:
                last_day = int(self.day)
                progress(self.day)

    # ------------------------------------------------------------------ observables
    def _contact_fraction(self) -> float:
        if self._zone0 <= 0.0:
            return 0.0
        return float(self.material.reshape(-1)[self._zone_index].sum()) / self._zone0

    def area_mm2(self) -> float:
        return float(self.material.sum()) * self.section.voxel_area_mm2

    def _observe(self, root: np.ndarray | None = None) -> None:
        flat = self._fields_flat
        material = self.material.reshape(-1)
        if root is None:
            root = K.masked_means(flat, self._root_index)
        frag = K.material_weighted_means(flat, material)
        mac = self.macrophages
        n0, n1, n2 = mac.counts()
        in_frag = material[mac.pos] >= 0.1 if mac.n else np.zeros(0, dtype=bool)
        nf = int(in_frag.sum())
        nf1 = int((mac.phen[in_frag] == K.M1).sum()) if nf else 0
        nf2 = int((mac.phen[in_frag] == K.M2).sum()) if nf else 0
        area_cm2 = self.area_mm2() / 100.0
        volume = self.section.volume_mm3(self.area_mm2())
        obs = {
            "day": round(self.day, 9),
            "pain_vas": self.pain.vas,
            "sensitization": self.pain.sensitization,
            "compression": self.pain.compression,
            "herniation_volume_mm3": volume,
            "volume_fraction": volume / self.section.volume0_mm3,
            "n_m0": n0,
            "n_m1": n1,
            "n_m2": n2,
            "n_fragment": nf,
            "m1_fraction": nf1 / (nf1 + nf2) if nf1 + nf2 else float("nan"),
            "cd68_per_cm2": nf * self._cd68_factor / area_cm2 if area_cm2 > 0 else 0.0,
        }
        for i, c in enumerate(CYTOKINES):
            obs[f"{c}_fragment_pg_ml"] = float(frag[i])
            obs[f"{c}_root_pg_ml"] = float(root[i])
        self._obs = obs

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the spatial state: every field (pg/mL), the NP material and macrophages per voxel."""
        out = {c: self.fields[c].copy() for c in CYTOKINES}
        out["material"] = self.material.copy()
        n_vox = self.material.size
        mac = self.macrophages
        for code, name in enumerate(("m0", "m1", "m2")):
            out[f"{name}_cells"] = np.bincount(
                mac.pos[mac.phen == code], minlength=n_vox
            ).reshape(self.section.shape).astype(np.int32)
        return out

    # ------------------------------------------------------------------ Mesa agents (lazy handles)
    def _sync_agents(self) -> None:
        live = set(self.macrophages.uid.tolist())
        for uid in [u for u in self._handles if u not in live]:
            self._handles.pop(uid).remove()
        for uid in self.macrophages.uid.tolist():
            if uid not in self._handles:
                self._handles[uid] = Macrophage(self, uid)

    @property
    def agents(self):
        """Mesa ``AgentSet`` of live macrophages (handles over the array state)."""
        self._sync_agents()
        return super().agents

    @property
    def agents_by_type(self):
        self._sync_agents()
        return super().agents_by_type


def _reporter(name: str):
    def report(model: DiscModel):
        return model._obs[name]

    report.__name__ = name
    return report
