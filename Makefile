# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var
export STS_DATA_DIR ?= $(DATA_DIR)

.PHONY: demo test lint typecheck unit bench install clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,verifier]'
	touch $(STAMP)

install: $(STAMP)

## demo: install, initialise var/, import the demo catalogue and serve on 127.0.0.1:8000
demo: $(STAMP)
	@$(BIN)/python -m demo.passwords $(STS_DATA_DIR)/demo-passwords.env
	$(BIN)/stsctl init
	set -a && . $(STS_DATA_DIR)/demo-passwords.env && set +a && \
		$(BIN)/stsctl import policies/demo.yaml
	@$(BIN)/python -m demo.passwords --show $(STS_DATA_DIR)/demo-passwords.env
	$(BIN)/stsctl serve --bind 127.0.0.1:8000

## test: lint, type-check and run the whole suite
test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

## bench: run the benchmarks (results in bench/results/)
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
