"""docs/odd.md: generated from the code, complete (the seven ODD elements, one submodel per process), never stale."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sim import odd
from sim.model.geometry import build_section
from sim.model.processes import PROCESSES, STATE
from sim.scenario import Scenario
from sim.scenario.schema import CYTOKINES

ELEMENTS = (
    "1. Purpose and patterns",
    "2. Entities, state variables and scales",
    "3. Process overview and scheduling",
    "4. Design concepts",
    "5. Initialization",
    "6. Input data",
    "7. Submodels",
)
DESIGN_CONCEPTS = (
    "Basic principles",
    "Emergence",
    "Adaptation",
    "Objectives",
    "Learning",
    "Prediction",
    "Sensing",
    "Interaction",
    "Stochasticity",
    "Collectives",
    "Observation",
)


@pytest.fixture(scope="module")
def rendered() -> str:
    return odd.render()


@pytest.fixture(scope="module")
def template() -> str:
    return odd.TEMPLATE_PATH.read_text(encoding="utf-8")


def test_docs_odd_is_up_to_date(rendered):
    assert odd.DOC_PATH.read_text(encoding="utf-8") == rendered, "docs/odd.md is stale: run `python -m sim.odd`"


def test_all_seven_elements_in_order_and_every_design_concept(rendered):
    headings = re.findall(r"^## (.+)$", rendered, re.M)
    assert headings == list(ELEMENTS)
    concepts = rendered.split("## 4. Design concepts", 1)[1].split("## 5.", 1)[0]
    for name in DESIGN_CONCEPTS:
        assert f"**{name}.**" in concepts, name


def test_one_submodel_per_process_in_step_order_with_its_parameters(rendered):
    subs = re.findall(r"^### 7\.(\d+) `(\w+)`$", rendered, re.M)
    assert [name for _, name in subs] == [p.name for p in PROCESSES]
    assert [int(i) for i, _ in subs] == list(range(1, len(PROCESSES) + 1))
    schedule = rendered.split("## 3.", 1)[1].split("## 4.", 1)[0]
    assert re.findall(r"^\| \d+ \| `(\w+)` \|", schedule, re.M) == [p.name for p in PROCESSES]
    scenario, section = Scenario(), build_section(Scenario(), np.random.default_rng(0))
    for proc, body in zip(PROCESSES, re.split(r"^### 7\.\d+ ", rendered, flags=re.M)[1:], strict=False):
        keys = odd.parameters_read(proc, scenario, section)
        assert keys or proc.sections == ("treatment",), proc.name  # drug parameters: sim/model/treatments.py
        for key in keys:
            assert f"| `{key}` |" in body, (proc.name, key)


def test_parameters_are_the_keys_each_derivation_reads():
    scenario, section = Scenario(), build_section(Scenario(), np.random.default_rng(0))
    by_name = {p.name: odd.parameters_read(p, scenario, section) for p in PROCESSES}
    assert "parameters.pain.sensitization_per_day" in by_name["pain"]
    assert "patient.nerve_sensitivity" in by_name["pain"]
    # pain reads nothing of the patient's IFN-γ/IL-4 (they act on the macrophages only)
    assert not [k for k in by_name["pain"] if "ifng" in k or "il4" in k]
    assert "parameters.polarization.ifng_half_max_pg_ml" in by_name["macrophage_secretion"]
    assert by_name["death_and_egress"] == [f"parameters.lifespan.m{i}_days" for i in range(3)]
    assert "parameters.transport.il10.half_life_min" in by_name["il10_background"]
    # transport has no derivation: every key of its section
    assert len(by_name["transport"]) == 2 * len(CYTOKINES)


def test_state_fields_and_defaults_come_from_the_code(rendered):
    for name in STATE:
        assert f"`{name}`" in rendered, name
    for c in CYTOKINES:
        d = getattr(Scenario().parameters.transport, c).diffusion_um2_per_s
        assert re.search(rf"^\| `{c}` \| [^|]+ \| {d:.3g} \|", rendered, re.M), c
    assert "80 × 56 voxels" in rendered  # the default patient's grid
    # the schema default and the shipped value (read from the shipped parameter set, not restated here)
    from sim.calibration.abc import read_calibrated

    shipped = read_calibrated(Path(odd.__file__).resolve().parents[1] / "calibration" / "calibrated.toml")
    assert (
        f"| `parameters.pain.sensitization_per_day` | 0.8 | {shipped['parameters.pain.sensitization_per_day']:g} |"
        in rendered
    )


def test_a_missing_or_unknown_submodel_block_is_an_error(template):
    name = PROCESSES[3].name
    block = re.search(rf"^<!-- odd:submodel {name} -->\n.*?^<!-- odd:end -->\n", template, re.M | re.S).group(0)
    with pytest.raises(odd.ODDError, match=f"no block for \\['{name}'\\]"):
        odd.render(template.replace(block, ""))
    with pytest.raises(odd.ODDError, match="unknown \\['not_a_process'\\]"):
        odd.render(template.replace(block, block + block.replace(name, "not_a_process")))


def test_a_missing_or_unknown_generated_block_is_an_error(template):
    with pytest.raises(odd.ODDError, match="missing \\['fields'\\]"):
        odd.render(template.replace("<!-- odd:fields -->\n", ""))
    with pytest.raises(odd.ODDError, match="unknown block 'flieds'"):
        odd.render(template.replace("<!-- odd:fields -->", "<!-- odd:flieds -->"))


def test_stale_when_the_code_changes(monkeypatch, rendered):
    """A changed default or a new process makes the page stale, or the generator refuses until it is described."""
    from sim.model import processes

    scen = Scenario()
    scen.parameters.lifespan.m2_days = 16.0
    monkeypatch.setattr(odd, "Scenario", lambda: scen)
    assert odd.render() != rendered
    monkeypatch.undo()
    extra = processes.Process("new_process", "does something new", ("patient",), (), (), ())
    monkeypatch.setattr(odd, "PROCESSES", (*PROCESSES, extra))
    with pytest.raises(odd.ODDError, match="no block for \\['new_process'\\]"):
        odd.render()
