"""discsim: agent-based simulator of macrophage-driven inflammation, resorption and pain in herniated discs.

Data flow: scenario file (:mod:`sim.scenario`) → model (:mod:`sim.model`, on the field solver
:mod:`sim.diffusion`) → :func:`sim.run.run_one` → outputs (:mod:`sim.io`) → figures (:mod:`sim.plots`);
:mod:`sim.cli` is the thin command line over all of it.
"""

__version__ = "0.1.0"

from ._numba_cache import configure as _configure_numba_cache

_configure_numba_cache()
