from __future__ import annotations

from pathlib import Path

import pytest
from cohort_helpers import SMALL_COHORT

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "cohort"


@pytest.fixture
def small_cohort_file(tmp_path: Path) -> Path:
    path = tmp_path / "small_cohort.toml"
    path.write_text(SMALL_COHORT, encoding="utf-8")
    return path
