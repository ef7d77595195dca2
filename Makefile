# The README's commands. `make demo` runs the whole pipeline on a real dataset;
# `make test` runs lint, type checks and the test suite (what CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-out
ENGINE ?= spark
# The shared datasets folder when it is there (tests and CI); otherwise the user cache.
SHARED_DATA := $(wildcard ../shared/datasets)
export MOVIEREC_DATA_DIR ?= $(if $(SHARED_DATA),$(abspath $(SHARED_DATA)),)

.PHONY: install demo test lint typecheck unit bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/movierec run --engine $(ENGINE) --dataset ml-latest-small --out $(OUT)
	@echo "Results are in $(OUT)/: summary.json, plots/, recommendations.csv, model/"

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
