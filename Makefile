# Everything runs from a local virtual environment (.venv), created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test dev lint contracts clean bench

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
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

dev: install  ## the Dagster UI on 127.0.0.1:3000 with the demo chain behind it
	$(BIN)/aimg dev

bench: install  ## SPEC 10 benchmark: 1M/3M/10M-log epochs, vs web3 process_log and OZ (node)
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .

contracts: install  ## rebuild aimg_pipeline/demo/build/*.json from the Vyper sources
	$(BIN)/python -m aimg_pipeline.demo.compile

clean:
	rm -rf .aimg
