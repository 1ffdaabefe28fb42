"""The simulated section: herniated fragment, containment barrier, vascular sites and nerve root.

The section is an axial slab through the spinal canal at the herniation level, one voxel thick.
Axis 0 (x) is lateral, axis 1 (y) antero-posterior with y = 0 at the posterior margin of the parent
disc (a no-flux face: the annulus). Arrays are indexed ``[ix, iy]``.

Fragment shapes
---------------
The fragment's section area follows from the patient's herniated volume by the *sphere rule*: the
central section of a compact body of volume V has area ``A = (9π/16)^(1/3) · V^(2/3) ≈ 1.209 V^(2/3)``.
The reverse rule turns the simulated area back into a volume: ``V(t) = V0 · (A(t)/A0)^(3/2)``
(self-similar shrinkage). Shapes by type (a = lateral semi-axis, b = posterior extent):

=========================== ============================= ===========
type                        shape                         a / b
=========================== ============================= ===========
bulging                     broad half-ellipse on disc    2.5
protrusion                  half-ellipse, base > depth    1.6
subligamentous_extrusion    half-ellipse                  1.0
transligamentous_extrusion  half-ellipse, deeper          0.85
sequestration               detached ellipse, 1 mm gap    1.3
=========================== ============================= ===========

Containment is a boundary condition on recruitment (BRIEF §2): the voxels around the fragment are its
*rim*; a contiguous arc of the rim, a fraction ``rim_exposure`` of it, is vascularized epidural tissue
where monocytes enter. In contained types (bulging, protrusion, subligamentous extrusion) the rest of
the rim is annulus / ligament barrier that macrophages cannot cross; in the others it is open tissue.
The domain grows beyond the configured minimum extents when a large fragment needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..scenario.scenario import Scenario
from ..scenario.schema import HerniationType

__all__ = ["Section", "build_section", "SPHERE_RULE", "CONTAINED"]

SPHERE_RULE = (9.0 * math.pi / 16.0) ** (1.0 / 3.0)  # central-section area of a sphere / V^(2/3)
CONTAINED = frozenset({HerniationType.bulging, HerniationType.protrusion, HerniationType.subligamentous_extrusion})
_ASPECT = {
    HerniationType.bulging: 2.5,
    HerniationType.protrusion: 1.6,
    HerniationType.subligamentous_extrusion: 1.0,
    HerniationType.transligamentous_extrusion: 0.85,
    HerniationType.sequestration: 1.3,
}
_SEQUESTRATION_GAP_MM = 1.0
_MARGIN_MM = 2.0
_ROOT_ANGLE = math.radians(55.0)  # where on the fragment surface the root sits (from the lateral axis)
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class Section:
    """Static geometry of one patient's section (all masks have shape ``shape``)."""

    shape: tuple[int, int]
    dx_um: float
    material0: np.ndarray  # float64, NP material fraction per voxel at onset (partial volumes at the edge)
    walkable: np.ndarray  # bool, where macrophages may be
    barrier: np.ndarray  # bool, annulus/ligament voxels covering a contained fragment
    root: np.ndarray  # bool, nerve root voxels
    root_surface: np.ndarray  # bool, root voxels bordering other tissue (epineurium: where cytokines act)
    contact_zone: np.ndarray  # bool, fragment voxels whose material compresses the root
    vessel_index: np.ndarray  # int64 flat indices of the vascular recruitment sites
    area0_mm2: float
    volume0_mm3: float
    fragment_center_mm: tuple[float, float]
    root_center_mm: tuple[float, float]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel (dx² in-plane times a slab of thickness dx), in mL (1 mL = 1e12 µm³)."""
        return self.dx_um**3 * 1e-12

    @property
    def voxel_area_mm2(self) -> float:
        return (self.dx_um * 1e-3) ** 2

    def volume_mm3(self, area_mm2: float) -> float:
        """Herniated volume for a section area, by the sphere rule ``V = V0 (A/A0)^(3/2)``."""
        return self.volume0_mm3 * max(area_mm2 / self.area0_mm2, 0.0) ** 1.5


def _fragment_axes(kind: HerniationType, area_mm2: float) -> tuple[float, float]:
    r = _ASPECT[kind]
    if kind is HerniationType.sequestration:
        b = math.sqrt(area_mm2 / (math.pi * r))
    else:  # half-ellipse resting on the disc margin
        b = math.sqrt(2.0 * area_mm2 / (math.pi * r))
    return r * b, b


def build_section(scenario: Scenario, rng: np.random.Generator) -> Section:
    """Build the section of ``scenario``'s patient; ``rng`` places the exposed arc of the rim."""
    geo, patient = scenario.geometry, scenario.patient
    kind = patient.herniation_type
    dx_mm = geo.dx_um * 1e-3
    area0 = SPHERE_RULE * patient.herniation_volume_mm3 ** (2.0 / 3.0)
    a, b = _fragment_axes(kind, area0)
    r_root = geo.root_radius_mm
    y_base = _SEQUESTRATION_GAP_MM + b if kind is HerniationType.sequestration else 0.0

    # root touching the fragment surface, slightly indenting it (it is compressed)
    px, py = a * math.cos(_ROOT_ANGLE), y_base + b * math.sin(_ROOT_ANGLE)
    nx_, ny_ = math.cos(_ROOT_ANGLE) / a, math.sin(_ROOT_ANGLE) / b
    norm = math.hypot(nx_, ny_)
    rcx_rel, rcy = px + 0.85 * r_root * nx_ / norm, py + 0.85 * r_root * ny_ / norm

    width = max(geo.width_mm, 2 * max(a, rcx_rel + r_root) + 2 * _MARGIN_MM)
    height = max(geo.height_mm, max(y_base + b, rcy + r_root) + _MARGIN_MM)
    shape = (int(math.ceil(width / dx_mm)), int(math.ceil(height / dx_mm)))
    cx = shape[0] * dx_mm / 2.0
    if kind is not HerniationType.bulging:  # paramedian: shift away from the root side
        cx = min(cx - 0.1 * a, cx)
    rcx = cx + rcx_rel

    # voxel-centre and supersampled coordinates
    s = _SUPERSAMPLE
    sub = (np.arange(s) + 0.5) / s
    xs = ((np.arange(shape[0])[:, None] + sub[None, :]) * dx_mm).ravel()
    ys = ((np.arange(shape[1])[:, None] + sub[None, :]) * dx_mm).ravel()
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    inside = ((X - cx) / a) ** 2 + ((Y - y_base) / b) ** 2 <= 1.0
    if kind is not HerniationType.sequestration:
        inside &= Y >= 0.0
    in_root = (X - rcx) ** 2 + (Y - rcy) ** 2 <= r_root**2
    inside &= ~in_root
    material0 = inside.reshape(shape[0], s, shape[1], s).mean(axis=(1, 3))
    root = in_root.reshape(shape[0], s, shape[1], s).mean(axis=(1, 3)) >= 0.5
    material0[root] = 0.0

    fragment = material0 >= 0.5
    # rim: non-fragment, non-root voxels 4-adjacent to the fragment
    pad = np.pad(fragment, 1)
    near = pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]
    rim = near & ~fragment & ~root
    rim_idx = np.flatnonzero(rim)
    # a contiguous arc of the rim (ordered by angle about the fragment centre) is vascularized
    ix, iy = np.unravel_index(rim_idx, shape)
    angle = np.arctan2((iy + 0.5) * dx_mm - (y_base + 0.3 * b), (ix + 0.5) * dx_mm - cx)
    order = rim_idx[np.argsort(angle, kind="stable")]
    n_exposed = int(round(scenario.rim_exposure() * order.size))
    start = int(rng.integers(order.size)) if order.size else 0
    exposed = np.roll(order, -start)[:n_exposed]
    vessel_index = np.sort(exposed).astype(np.int64)

    barrier = np.zeros(shape, dtype=bool)
    if kind in CONTAINED:
        barrier.flat[rim_idx] = True
        barrier.flat[vessel_index] = False

    # contact zone: fragment material within contact_zone_mm of the root surface
    cxs = (np.arange(shape[0]) + 0.5) * dx_mm
    cys = (np.arange(shape[1]) + 0.5) * dx_mm
    dist = np.hypot(cxs[:, None] - rcx, cys[None, :] - rcy) - r_root
    contact_zone = (material0 > 0) & (dist <= geo.contact_zone_mm)

    walkable = ~root & ~barrier
    rpad = np.pad(root, 1, constant_values=True)
    interior = rpad[:-2, 1:-1] & rpad[2:, 1:-1] & rpad[1:-1, :-2] & rpad[1:-1, 2:]
    root_surface = root & ~interior
    area0_sim = float(material0.sum()) * dx_mm**2
    return Section(
        shape=shape,
        dx_um=geo.dx_um,
        material0=material0,
        walkable=walkable,
        barrier=barrier,
        root=root,
        root_surface=root_surface,
        contact_zone=contact_zone,
        vessel_index=vessel_index,
        area0_mm2=area0_sim,
        volume0_mm3=patient.herniation_volume_mm3,
        fragment_center_mm=(cx, y_base),
        root_center_mm=(rcx, rcy),
    )
