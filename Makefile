# Two entry points for a fresh clone (see README): `make run` and `make test`.
# Python 3.12 is required (mesa >= 3.4); .python-version pins 3.12.1 for pyenv.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3.12)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"need Python 3.12, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,calibrate,view]"
	touch $(STAMP)

## set everything up and run the default scenario (results + plot in runs/default/)
run: $(STAMP)
	$(BIN)/discsim run scenarios/default.toml --out runs/default

## run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## lint and format check (CI runs it before the tests)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## benchmarks (not part of the test suite)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_diffusion.py
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_cohort.py

## regenerate the generated docs: docs/scenario.md and scenario.schema.json (schema), the process section of
## docs/model.md, docs/odd.md (from docs/odd_template.md and the code); tests fail when any of them is stale
docs: $(STAMP)
	$(BIN)/python -m sim.scenario.docs
	$(BIN)/python -m sim.model.processes
	$(BIN)/python -m sim.odd

clean:
	rm -rf $(VENV) runs .pytest_cache
