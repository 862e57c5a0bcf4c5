# Everything runs from a local virtual environment (.venv), created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test dev lint contracts clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install  ## local chain, seeded scenario, every closed epoch through Dagster
	$(BIN)/aimg demo

test: install  ## the whole test suite
	$(BIN)/python -m pytest -q

dev: install  ## the Dagster UI on 127.0.0.1:3000 with the demo chain behind it
	$(BIN)/aimg dev

lint: install
	$(BIN)/ruff check .

contracts: install  ## rebuild aimg_pipeline/demo/build/*.json from the Vyper sources
	$(BIN)/python -m aimg_pipeline.demo.compile

clean:
	rm -rf .aimg
