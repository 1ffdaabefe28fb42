"""The restart check's comparison of two chains' marginals (calibration/mcmc_restart_check.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration import history as hm

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "calibration" / "mcmc_restart_check.py"
_spec = importlib.util.spec_from_file_location("mcmc_restart_check", SCRIPT)
rc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rc)


def _config(tmp_path: Path) -> hm.HistoryConfig:
    params = [hm.Parameter("a.x", 0.0, 1.0), hm.Parameter("a.y", 0.0, 1.0)]
    return hm.HistoryConfig(
        path=tmp_path / "p.toml", scenario=tmp_path / "s.toml", out=tmp_path, parameters=params, fit=["t"], check=[]
    )


def test_same_posterior_agrees_and_a_shifted_or_narrower_one_does_not(tmp_path):
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"u.a.x": rng.normal(0.5, 0.1, 4000), "u.a.y": rng.normal(0.3, 0.05, 4000)})
    same = pd.DataFrame({"u.a.x": rng.normal(0.5, 0.1, 4000), "u.a.y": rng.normal(0.3, 0.05, 4000)})
    off = pd.DataFrame({"u.a.x": rng.normal(0.55, 0.1, 4000), "u.a.y": rng.normal(0.3, 0.025, 4000)})
    cfg = _config(tmp_path)
    t = rc.compare(a, same, cfg).set_index("parameter")
    assert t["agrees"].all() and (t["ks_p"] > 0.001).all()
    t = rc.compare(a, off, cfg).set_index("parameter")
    assert t.loc["a.x", "median_shift_sd"] == pytest.approx(0.5, abs=0.06) and not t.loc["a.x", "agrees"]
    assert t.loc["a.y", "sd_ratio"] == pytest.approx(0.5, abs=0.05) and not t.loc["a.y", "agrees"]


def test_a_wrong_start_shape_is_refused(tmp_path):
    cfg = _config(tmp_path)
    with pytest.raises(hm.HistoryError, match="walkers"):
        hm.fit_posterior_mcmc(cfg, None, pd.DataFrame(), start=np.zeros((3, 2)))


def test_missing_declaration_exits_2(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--declaration", str(tmp_path / "none.toml")], capture_output=True, text=True
    )
    assert out.returncode == 2 and "error:" in out.stderr and "Traceback" not in out.stderr
