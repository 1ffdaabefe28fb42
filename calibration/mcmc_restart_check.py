"""Convergence check of the shipped emulator posterior: a second MCMC chain, started elsewhere, must find the same
posterior.

The shipped chain (``discsim posterior ... --fit --posterior``) starts its walkers at the likeliest points of a
Sobol' set of prior candidates. This one starts them at plain prior points (a Sobol' set of another seed, not
selected by likelihood: an overdispersed start, Gelman & Rubin 1992) and draws from another random stream; it
runs :func:`sim.calibration.history.fit_posterior_mcmc` unchanged otherwise (same emulators, stopping rule,
burn-in, thinning). Each parameter's marginal is then compared with the shipped draws: the difference of the
medians in units of the shipped posterior SD, the ratio of the SDs and a two-sample Kolmogorov-Smirnov p-value.
Written to ``OUT/posterior/restart_check.csv`` and ``restart_check.json`` (the second chain's own diagnostics).

Run from the repository root (about 8 min on 2 cores: 4 to fit the emulators, 4 for the chain)::

    .venv/bin/python calibration/mcmc_restart_check.py [--declaration calibration/posterior.toml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.calibration import history as hm  # noqa: E402
from sim.io.store import write_json  # noqa: E402

#: a marginal agrees when its median moves by less than this many posterior SDs and its SD by less than a factor 1.25
MEDIAN_SHIFT_SD = 0.25
SD_RATIO = (0.8, 1.25)


def compare(shipped: pd.DataFrame, second: pd.DataFrame, config: hm.HistoryConfig) -> pd.DataFrame:
    """One row per fitted parameter, on the unit prior scale."""
    from scipy.stats import ks_2samp

    rows = []
    for p in config.parameters:
        a, b = shipped[f"u.{p.path}"].to_numpy(), second[f"u.{p.path}"].to_numpy()
        shift = (np.median(b) - np.median(a)) / a.std()
        ratio = b.std() / a.std()
        rows.append(
            {
                "parameter": p.path,
                "median_shipped_u": np.median(a),
                "median_restart_u": np.median(b),
                "median_shift_sd": shift,
                "sd_ratio": ratio,
                "ks_p": ks_2samp(a, b).pvalue,
                "agrees": bool(abs(shift) < MEDIAN_SHIFT_SD and SD_RATIO[0] < ratio < SD_RATIO[1]),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--declaration", default=str(ROOT / "calibration" / "posterior.toml"))
    args = ap.parse_args(argv)
    try:
        config = hm.load_config(args.declaration)
    except (hm.HistoryError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    post = config.out / "posterior"
    shipped_path = post / "particles.parquet"
    if not shipped_path.is_file():
        print(f"error: {shipped_path}: no posterior yet (discsim posterior ... --fit --posterior)", file=sys.stderr)
        return 2
    shipped = pd.read_parquet(shipped_path)
    waves = hm.finished_waves(config)
    emu, spec = hm.wave_emulator(config, waves[-1])
    d = len(config.parameters)
    walkers = max(32, 4 * d)
    walkers += walkers % 2
    seed = config.posterior_seed + 1
    start = hm._sobol(d, walkers, seed % 2**31)
    res = hm.fit_posterior_mcmc(config, emu, spec, start=start, seed=seed, log=print)
    table = compare(shipped, res.particles, config)
    hm._write_csv(table, post / "restart_check.csv")
    write_json(
        res.diagnostics | {"seed": seed, "start": "prior Sobol' points (not selected by likelihood)"},
        post / "restart_check.json",
    )
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(table.round(3).to_string(index=False))
    g = res.diagnostics
    print(
        f"second chain: {g['steps']} steps = {g['chain_taus']} τ ({'converged' if g['converged'] else 'NOT converged'});"
        f" {int(table['agrees'].sum())} of {len(table)} marginals agree with the shipped chain"
        f" (|median shift| < {MEDIAN_SHIFT_SD} SD, SD ratio {SD_RATIO[0]}-{SD_RATIO[1]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
