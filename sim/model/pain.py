"""Leg pain (VAS 0-100) from chemical sensitization of the root, amplified by its compression.

``VAS = 100 · (1 − exp(−s · (S · (1 + w_c · C) + w_m · C)))`` with

* ``C`` compression in [0, 1]: the fragment material left in the contact zone of the root, ``z`` (a
  fraction of its onset value), rescaled so that the root is free once ``z`` falls to the
  decompression fraction ``z_d``: ``C = clip((z − z_d)/(1 − z_d), 0, 1)``. Pain therefore tracks the
  part of the fragment that touches the root, not the residual volume as a whole (BRIEF §2);
* ``S`` sensitization: ``dS/dt = k_s · (1 + g_γ·f_γ) · Σ_j w_j c_j/(c_j + K_j) − r · S`` over TNF-α, IL-1β,
  IL-6 and IL-8 at the root, amplified by the patient's IFN-γ (``f_γ = IFNγ/(IFNγ + K_γ)``, pronociceptive:
  it sensitizes the root to the cytokines but does not drive it on its own), resolved
  at ``r = r0 · (1 + g · IL10/(IL10 + K10) + g4 · f_4)``: active resolution by IL-10 at the root
  (macrophage_depletion_delays_pain_resolution) and by the patient's IL-4 (``f_4 = IL4/(IL4 + K_4)``,
  analgesic); ``K_γ``, ``K_4`` are the polarization half-maxima. Integrated exactly over each step;
* ``s`` the patient's nerve sensitivity.

Compression amplifies sensitization rather than adding to it (with only a small purely mechanical term
``w_m``): compressed but non-inflamed roots are often painless (herniations are common on MRI in people
without sciatica), and inflammation resolving under a persistent herniation relieves the pain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..scenario.schema import Pain
from .kernels import IL1B, IL6, IL8, IL10, TNF

__all__ = ["PainState"]


@dataclass
class PainState:
    params: Pain
    sensitivity: float
    ifng_activation: float = 0.0
    il4_activation: float = 0.0
    sensitization: float = 0.0
    compression: float = 1.0

    @classmethod
    def from_parameters(cls, pain: Pain, sensitivity: float, ifng_activation: float = 0.0,
                        il4_activation: float = 0.0) -> PainState:
        """``*_activation``: the patient's IFN-γ and IL-4 as fractions of saturation, in [0, 1)."""
        return cls(pain, sensitivity, ifng_activation, il4_activation)

    def drive(self, root: np.ndarray) -> float:
        """Cytokine drive of sensitization from mean root concentrations (pg/mL, CYTOKINES order)."""
        p = self.params
        return (
            p.tnf_weight * _sat(root[TNF], p.tnf_half_max_pg_ml)
            + p.il1b_weight * _sat(root[IL1B], p.il1b_half_max_pg_ml)
            + p.il6_weight * _sat(root[IL6], p.il6_half_max_pg_ml)
            + p.il8_weight * _sat(root[IL8], p.il8_half_max_pg_ml)
        ) * (1.0 + p.ifng_sensitization_gain * self.ifng_activation)

    def update(self, root: np.ndarray, contact_fraction: float, dt_days: float) -> None:
        """Advance sensitization by ``dt_days`` and set compression from the contact-zone material."""
        p = self.params
        r = p.resolution_per_day * (
            1.0 + p.il10_resolution_gain * _sat(root[IL10], p.il10_half_max_pg_ml)
            + p.il4_resolution_gain * self.il4_activation
        )
        k = p.sensitization_per_day * self.drive(root)
        if r > 0.0:
            s_eq = k / r
            self.sensitization = s_eq + (self.sensitization - s_eq) * math.exp(-r * dt_days)
        else:
            self.sensitization += k * dt_days
        zd = p.decompression_fraction
        self.compression = min(1.0, max(0.0, (contact_fraction - zd) / (1.0 - zd)))

    @property
    def vas(self) -> float:
        p = self.params
        load = self.sensitization * (1.0 + p.compression_weight * self.compression) + p.mechanical_weight * self.compression
        return 100.0 * (1.0 - math.exp(-self.sensitivity * load))


def _sat(c: float, k: float) -> float:
    return c / (c + k) if c > 0.0 else 0.0
