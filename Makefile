# The two set-up commands: `make demo` and `make test`. Both create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip
# torch comes from the CPU wheel on local disk; constraints.txt pins every other dependency.
PIP_INSTALL := $(PIP) install -q --disable-pip-version-check -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test lint install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q --disable-pip-version-check --upgrade pip
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP_INSTALL) -e '.[test,vad,whisper,whisper-hf,dp]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/voxemo demo

test: $(STAMP)
	bash scripts/install_browser.sh || echo "chromium could not be installed: the browser test will skip"
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
