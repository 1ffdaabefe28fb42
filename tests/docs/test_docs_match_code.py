"""The documentation states what the code does: output columns, and command lines that reach what they claim."""

import re
from pathlib import Path

from sim.calibration.stats import StatsConfig
from sim.cohort.cohort import _patients_frame, patient_row
from sim.cohort.draw import draw_cohort
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def _documented_columns(markdown: str, heading: str) -> set[str]:
    """Column names in the first column of the table after ``heading``; ``a_d{14,28}`` expands to a_d14, a_d28."""
    block = markdown.split(heading, 1)[1].split("\n\n", 2)[1]
    names = set()
    for row in block.splitlines()[2:]:
        first = re.sub(r"\([^)]*\)", "", row.split("|")[1])  # "(`ok`/`failed`)" are values, not columns
        for token in re.findall(r"`([^`]+)`", first):
            m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", token)
            if m and "," in m.group(2):
                names |= {f"{m.group(1)}{v.strip()}{m.group(3)}" for v in m.group(2).split(",")}
            elif not m:
                names.add(token.split(" ")[0])
    return names


def test_cohorts_md_lists_every_patients_parquet_column():
    scen = load_scenario(ROOT / "scenarios" / "cohort_default.toml")
    (vp,) = draw_cohort(scen, 1, root=1, days=30)
    written = set(_patients_frame([patient_row(vp, None, "failed", "x")]).columns)
    documented = _documented_columns(
        (ROOT / "docs" / "cohorts.md").read_text(encoding="utf-8"), "`patients.parquet` columns:"
    )
    assert written - documented == set(), "written but not documented"
    assert documented - written == set(), "documented but not written"


def test_documented_cohort_commands_reach_every_trial_visit():
    """A command that validates the shipped cohort simulates to the last visit of the Sciatica Trial target."""
    scen = load_scenario(ROOT / "scenarios" / "cohort_default.toml")
    needed = scen.cohort.sample_day_max() + 7 * max(StatsConfig().visits_weeks)
    found = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "calibration" / "README.md"]:
        for line in doc.read_text(encoding="utf-8").splitlines():
            m = re.search(r"discsim cohort scenarios/cohort_default\.toml.*--days (\d+)", line)
            if m and "--patients 200" in line:
                found += 1
                assert int(m.group(1)) >= needed, f"{doc.name}: {line.strip()} (every visit needs --days ≥ {needed:g})"
    assert found >= 2
