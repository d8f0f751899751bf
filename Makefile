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

## demo: install, then the IdP and the demo fagsystemer KY, KSD and SAPA (see demo/run.py)
demo: $(STAMP)
	$(BIN)/python -m demo.run --data-dir $(STS_DATA_DIR)

## test: lint, type-check and run the whole suite
test: $(STAMP) lint typecheck
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

## bench: run every benchmark with its peer (minutes; results in bench/results/)
bench: $(STAMP)
	$(BIN)/python -m bench.authz_national --reuse
	$(BIN)/python bench/saml_sign.py --seconds 3
	$(BIN)/python bench/saml_http.py
	$(BIN)/python bench/oidc_http.py
	$(BIN)/python bench/ad_login_sync.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
