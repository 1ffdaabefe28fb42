"""``DiscModel``: a herniated fragment invaded by macrophages, cytokine fields, resorption and pain.

One step (``dt_hours``, default 1 h) is the ordered list of named processes in
:data:`sim.model.processes.PROCESSES` (disc-cell and macrophage secretion, transport, polarization, death and
egress, phagocytosis, chemotaxis, recruitment, matrix digestion, shrinkage, pain), each a compiled kernel;
``[model] disable`` in a scenario switches any of them off. Many steps run per call into compiled code
(:func:`sim.model.kernels.advance`: a simulated day per call in :meth:`DiscModel.run_days`), field solve, random
draws and pain included, so no Python runs between the steps of a day.

Mesa is the shell: the model is seeded through ``rng``, its macrophages are ``mesa.Agent`` handles in
``model.agents`` (synchronised lazily, when you look), and a ``DataCollector`` records one row of
model-level observables per simulated day.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from .. import diffusion
from ..scenario.scenario import Scenario
from ..scenario.schema import CYTOKINES
from . import kernels as K
from .agents import Macrophage, MacrophageArrays
from .geometry import build_section
from .pain import PainState
from .processes import derived_arrays, enabled_record, field_index_record, parameter_record
from .rng import stream_for
from .treatments import CHANNELS, NEUTRAL, channel_schedule

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
    "surgery": "1 from the day a discectomy removed the fragment, else 0",
    "np_viability": "surviving fraction of the fragment's NP cells (material-weighted)",
    **{f"{c}_fragment_pg_ml": f"{c} material-weighted mean in the fragment, pg/mL" for c in CYTOKINES},
    **{f"{c}_root_pg_ml": f"{c} mean over the nerve root's outer layer, pg/mL" for c in CYTOKINES},
}


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
        self._steps_per_day = scenario.simulation.steps_per_day
        self.disabled: tuple[str, ...] = tuple(scenario.model.disable)

        specs = {
            name: diffusion.FieldSpec(
                D=getattr(p.transport, name).diffusion_um2_per_s,
                decay=math.log(2.0) / (getattr(p.transport, name).half_life_min * 60.0),
            )
            for name in CYTOKINES
        }
        self.fields = diffusion.FieldSet(sec.shape, sec.dx_um, specs)
        # patient IL-10 background: held at its level by the il10_background process's uniform source
        self.fields["il10"][...] = scenario.patient.il10_background_pg_ml
        self.material = sec.material0.copy()
        self.macrophages = MacrophageArrays()
        #: surviving fraction of the NP cells in each voxel (process np_cell_death), flat C order
        self.np_viability = (sec.material0.reshape(-1) > 0.0).astype(np.float64)
        self.pain = PainState.from_parameters(p.pain, scenario.patient.nerve_sensitivity)

        # compiled-step inputs, derived once by the processes
        self._c = parameter_record(scenario, sec)
        self._fx = field_index_record()
        self._on = enabled_record(self.disabled)
        self.kernel_arrays = derived_arrays(scenario, sec)
        self._rng_state, self.engine_stream = stream_for(seed)
        self._ist = np.zeros(6, dtype=np.int64)
        self._fst = np.zeros(5)
        self._fst[K.MATERIAL0_SUM] = float(sec.material0.sum())
        self._root_index = np.flatnonzero(sec.root_surface).astype(np.int64)
        self._zone_index = np.flatnonzero(sec.contact_zone).astype(np.int64)
        self._fst[K.ZONE0] = float(sec.material0.flat[self._zone_index].sum())
        self._fst[K.COMPRESSION] = self.pain.compression
        self._walkable = np.ascontiguousarray(sec.walkable.ravel())
        # vascular recruitment sites: the section's, then those the vessel_ingrowth process adds (capacity: every voxel)
        n_vox = self.material.size
        self._vessel_index = np.zeros(n_vox, dtype=np.int64)
        self._vessel_index[: sec.vessel_index.size] = sec.vessel_index
        self._ist[K.N_VESSELS] = sec.vessel_index.size
        self._vascular = np.zeros(n_vox, dtype=np.bool_)
        self._vascular[sec.vessel_index] = True
        self._material0 = np.ascontiguousarray(sec.material0.reshape(-1))
        self._site_counts = np.zeros(n_vox, dtype=np.int64)
        self._counts = np.zeros((3, self.material.size), dtype=np.int64)
        self._occupied = np.zeros(self.material.size, dtype=np.bool_)
        self._alive = np.zeros(0, dtype=np.bool_)
        self._grad = np.zeros((0, 2))
        self._solver = self.fields.kernel_args(self.dt_h * 3600.0, "implicit")
        hist = scenario.geometry
        self._cd68_factor = (hist.section_thickness_um + hist.macrophage_diameter_um) / sec.dx_um
        self._handles: dict[int, Macrophage] = {}

        # treatments: drugs act through the channels of the compiled step, a discectomy is an event
        self._drugs = [t for t in scenario.treatment if t.kind != "discectomy"]
        self._surgeries = [t for t in scenario.treatment if t.kind == "discectomy"]
        self._k_step = np.zeros(len(CYTOKINES))
        self._neutral = np.array([NEUTRAL[c] for c in CHANNELS])[:, None]
        self._surgery_steps = sorted(
            int(round(t.start_day * self._steps_per_day)) for t in self._surgeries if t.start_day is not None
        )
        self._rules = [t.rule for t in self._surgeries if t.rule is not None]
        self._vas_by_day: list[float] = []
        #: day of the discectomy (None before or without one)
        self.surgery_day: float | None = None

        self.datacollector = mesa.DataCollector(model_reporters={name: _reporter(name) for name in OBSERVABLES})
        self._observe()
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ flat views of the state
    @property
    def _fields_flat(self) -> np.ndarray:
        return self.fields.data.reshape(len(CYTOKINES), -1)

    @property
    def hours(self) -> float:
        """Simulated time since the herniation event, h (read-write)."""
        return float(self._fst[K.HOURS])

    @hours.setter
    def hours(self, value: float) -> None:
        """Set the clock (rounded to a whole step)."""
        self._ist[K.STEP] = int(round(float(value) / self.dt_h))
        self._fst[K.HOURS] = self._ist[K.STEP] * 24.0 / self._steps_per_day

    @property
    def day(self) -> float:
        return self.hours / 24.0

    def disc_cell_viability(self) -> float:
        """Surviving fraction of the fragment's NP cells: viability weighted by the material left (0 if none)."""
        material = self.material.reshape(-1)
        total = float(material.sum())
        return float(material @ self.np_viability) / total if total > 0.0 else 0.0

    @property
    def vessel_sites(self) -> np.ndarray:
        """Flat indices of the vascular recruitment sites now: the section's and those grown in (vessel_ingrowth)."""
        return self._vessel_index[: int(self._ist[K.N_VESSELS])].copy()

    def dehydration_factor(self, day: float | None = None) -> float:
        """Fraction of the fragment left by dehydration/retraction alone at ``day``: 1 − f·(1 − e^{−t/τ})."""
        t = self.day if day is None else day
        return K.dehydration_factor(
            t, self.config.patient.dehydration_fraction, self.config.parameters.tissue.dehydration_time_days
        )

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Advance the model by ``dt_hours`` (one pass of every enabled process)."""
        self._advance(1)

    def run_days(self, days: float, progress=None) -> None:
        """Step until ``days`` after onset; ``progress(day)`` is called once per simulated day.

        Each simulated day is one call into compiled code (all its steps), followed by the day's observation.
        """
        n_steps = int(round(days * 24.0 / self.dt_h))
        while n_steps > 0:
            k = self._steps_to_next_day(n_steps)
            self._advance(k)
            n_steps -= k
            if progress is not None:
                progress(self.day)

    def _steps_to_next_day(self, limit: int) -> int:
        """Steps (at most ``limit``) until the next day boundary, that step included."""
        return min(limit, self._steps_per_day - int(self._ist[K.STEP]) % self._steps_per_day)

    def _advance(self, n_steps: int) -> None:
        """Run ``n_steps`` steps in compiled code, observing (DataCollector) at every day boundary reached.

        A discectomy due at a step is done before that step (a call never runs across it); a discectomy rule is
        checked at each day boundary and, when it holds, operates before the next step."""
        while n_steps > 0:
            self._operate_if_due()
            k = self._steps_to_next_day(n_steps)
            step = int(self._ist[K.STEP])
            due = [s for s in self._surgery_steps if step < s < step + k]
            if due and self.surgery_day is None:
                k = due[0] - step
            self._run_compiled(k)
            n_steps -= k
            if int(self._ist[K.STEP]) % self._steps_per_day == 0:
                self._observe()
                self.datacollector.collect(self)
                self._vas_by_day.append(self._obs["pain_vas"])
                if self._rules and self.surgery_day is None and self._rule_holds():
                    self._surgery_steps.append(int(self._ist[K.STEP]))
        self._operate_if_due()

    # ------------------------------------------------------------------ treatments
    def _rule_holds(self) -> bool:
        day = len(self._vas_by_day)  # the day just observed (day 0 is the onset row, not in the history)
        for r in self._rules:
            n = int(r.for_days)
            if r.from_day <= day <= r.until_day and len(self._vas_by_day) >= n:
                if min(self._vas_by_day[-n:]) >= r.vas_at_least:
                    return True
        return False

    def _operate_if_due(self) -> None:
        if self.surgery_day is None and int(self._ist[K.STEP]) in self._surgery_steps:
            self.discectomy()

    def discectomy(self) -> None:
        """Remove the herniated fragment now: its NP material, the macrophages in it and the cytokines it holds.

        Compression falls to 0 at the next pain update (nothing is left in the contact zone); the root's
        sensitization is unchanged and resolves at its own rate.
        """
        material = self.material.reshape(-1)
        removed = material > 0.0
        mac = self.macrophages
        if mac.n:
            mac.keep(~removed[mac.pos])
        self._fields_flat[:, removed] = 0.0
        material[removed] = 0.0
        self.np_viability[removed] = 0.0
        self.surgery_day = self.day
        self._surgery_steps = []

    def _channels(self, n_steps: int) -> np.ndarray:
        if not self._drugs:
            if self._neutral.shape[1] != n_steps:
                self._neutral = np.repeat(self._neutral[:, :1], n_steps, axis=1)
            return self._neutral
        step0 = int(self._ist[K.STEP])
        hours = (step0 + np.arange(n_steps)) * (24.0 / self._steps_per_day)
        return np.ascontiguousarray(channel_schedule(self._drugs, hours))

    def _run_compiled(self, n_steps: int) -> None:
        mac, ist, fst = self.macrophages, self._ist, self._fst
        ist[K.N_ALIVE], ist[K.NEXT_UID] = mac.n, mac._next_uid
        fst[K.SENSITIZATION], fst[K.COMPRESSION] = self.pain.sensitization, self.pain.compression
        a = self.kernel_arrays
        while n_steps > 0:
            cap = mac._pos.size
            if self._alive.size != cap:
                self._alive = np.zeros(cap, dtype=np.bool_)
                self._grad = np.zeros((cap, 2))
            done = K.advance(
                n_steps,
                self._c,
                self._fx,
                self._on,
                ist,
                fst,
                self._rng_state,
                self.fields.data,
                self.fields.sources,
                self.material.reshape(-1),
                self.np_viability,
                mac._uid,
                mac._pos,
                mac._phen,
                mac._age_h,
                mac._engulfed_um3,
                self._alive,
                self._grad,
                self._counts,
                self._occupied,
                self._site_counts,
                a["disc_rates"],
                a["np_activated"],
                a["secretion_table"],
                a["il10_suppressible"],
                a["stimulus_induced"],
                a["pain_weights"],
                a["pain_half_max"],
                a["gc_repressed"],
                self._channels(n_steps),
                self._k_step,
                *self._solver,
                self._walkable,
                self._vessel_index,
                self._vascular,
                self._material0,
                self.section.shape[1],
                self._root_index,
                self._zone_index,
            )
            n_steps -= done
            self.steps += done  # Mesa's step counter (``model.time`` moves only with ``model.step()``)
            if n_steps > 0:  # recruits did not fit: grow the arrays, the next call completes the step
                mac.n = int(ist[K.N_ALIVE])
                mac.reserve(int(ist[K.N_ALIVE] + ist[K.N_RECRUITS]))
        mac.n, mac._next_uid = int(ist[K.N_ALIVE]), int(ist[K.NEXT_UID])
        self.pain.sensitization, self.pain.compression = float(fst[K.SENSITIZATION]), float(fst[K.COMPRESSION])

    # ------------------------------------------------------------------ observables
    def _contact_fraction(self) -> float:
        return K.contact_fraction(self.material.reshape(-1), self._zone_index, float(self._fst[K.ZONE0]))

    def area_mm2(self) -> float:
        return float(self.material.sum()) * self.section.voxel_area_mm2

    def _observe(self) -> None:
        flat = self._fields_flat
        material = self.material.reshape(-1)
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
            "surgery": 0.0 if self.surgery_day is None else 1.0,
            "np_viability": self.disc_cell_viability(),
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
            out[f"{name}_cells"] = (
                np.bincount(mac.pos[mac.phen == code], minlength=n_vox).reshape(self.section.shape).astype(np.int32)
            )
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
