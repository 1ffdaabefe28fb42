"""The herniated-disc model: geometry, macrophage agents, numba kernels, pain, and the Mesa ``DiscModel``."""

from .agents import PHENOTYPES, Macrophage, MacrophageArrays
from .geometry import Section, build_section
from .model import OBSERVABLES, DiscModel

__all__ = ["DiscModel", "Macrophage", "MacrophageArrays", "OBSERVABLES", "PHENOTYPES", "Section", "build_section"]
