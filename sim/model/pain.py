"""Leg pain (VAS 0-100) from chemical sensitization of the root, amplified by its compression.

``VAS = 100 · (1 − exp(−s · (S · (1 + w_c · C) + w_m · C)))`` with

* ``C`` compression in [0, 1]: the fragment material left in the contact zone of the root, ``z`` (a
  fraction of its onset value), rescaled so that the root is free once ``z`` falls to the
  decompression fraction ``z_d``: ``C = clip((z − z_d)/(1 − z_d), 0, 1)``. Pain therefore tracks the
  part of the fragment that touches the root, not the residual volume as a whole (BRIEF §2);
* ``S`` sensitization: ``dS/dt = k_s · Σ_j w_j c_j/(c_j + K_j) − r · S`` over the cytokines with the
  ``root_sensitizing`` role (TNF-α, IL-1β, IL-6, IL-8) at the root, resolved at
  ``r = r0 · (1 + g · IL10/(IL10 + K10))``: active resolution by IL-10 at the root
  (macrophage_depletion_delays_pain_resolution). Integrated exactly over each step;
* ``s`` the patient's nerve sensitivity.

Pain sees only what reaches the root: the cytokines there and the compression. The patient's IFN-γ and IL-4
backgrounds act on the macrophages (polarization, priming and suppression of M1 secretion), not on pain.

Compression amplifies sensitization rather than adding to it (with only a small purely mechanical term
``w_m``): compressed but non-inflamed roots are often painless (herniations are common on MRI in people
without sciatica), and inflammation resolving under a persistent herniation relieves the pain.

The equations are the compiled functions of :mod:`sim.model.kernels` (``pain_drive``, ``pain_resolution``,
``sensitization_after``, ``compression_of``, ``vas_of``), which the model's compiled step calls; this
:class:`PainState` is the same code seen from Python (inspection, tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scenario.schema import CYTOKINES, Pain
from . import kernels as K
from .processes import root_drive_weights

__all__ = ["PainState"]

_IL10 = CYTOKINES.index("il10")


@dataclass
class PainState:
    params: Pain
    sensitivity: float
    sensitization: float = 0.0
    compression: float = 1.0

    @classmethod
    def from_parameters(cls, pain: Pain, sensitivity: float) -> PainState:
        return cls(pain, sensitivity)

    def drive(self, root: np.ndarray) -> float:
        """Cytokine drive of sensitization from mean root concentrations (pg/mL, CYTOKINES order)."""
        w, k = root_drive_weights(self.params)
        return K.pain_drive(np.asarray(root, dtype=np.float64), w, k)

    def update(self, root: np.ndarray, contact_fraction: float, dt_days: float) -> None:
        """Advance sensitization by ``dt_days`` and set compression from the contact-zone material."""
        p = self.params
        r = K.pain_resolution(
            float(root[_IL10]),
            p.resolution_per_day,
            p.il10_resolution_gain,
            p.il10_half_max_pg_ml,
        )
        k = p.sensitization_per_day * self.drive(root)
        self.sensitization = K.sensitization_after(self.sensitization, k, r, dt_days)
        self.compression = K.compression_of(contact_fraction, p.decompression_fraction)

    @property
    def vas(self) -> float:
        p = self.params
        return K.vas_of(
            self.sensitization, self.compression, self.sensitivity, p.compression_weight, p.mechanical_weight
        )
