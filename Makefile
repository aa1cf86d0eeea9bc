# Two entry points on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv with Python 3.11 and install the pinned set in constraints.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint test-slow clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/retina-tf demo --workdir demo

# The test command lints first: ruff (configured in pyproject.toml) fails the run on any finding.
# Two pytest processes, one test file each at a time (module fixtures stay in one process): a test spends
# much of its time tracing in one Python thread, so two of them keep both cores of a small machine busy.
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# The end-to-end tests left out of `make test` (two-worker clusters, two exports at once, the wheel, the
# notebook, the whole demo); CI runs them after it.
test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -m slow -n 2 --dist loadfile

clean:
	rm -rf $(VENV) demo .pytest_cache
