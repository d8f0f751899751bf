# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var
export STS_DATA_DIR ?= $(DATA_DIR)

.PHONY: demo test lint typecheck unit bench install clean

$(STAMP): setup.cfg pyproject.toml tests/e2e/axe/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,verifier]'
	# axe-core for the admin UI's accessibility tests (pinned; read from disk by the tests)
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent
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

## bench: every benchmark with its peer (about an hour; results in bench/results/), then one
## report: bench/results/report.md and the charts in docs/bench/ that the README shows.
## (wrk comes from Debian's package; the hot paths' Node.js peer installs itself with npm)
bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.authz_national --reuse
	$(BIN)/python -m bench.saml_sign --seconds 3
	$(BIN)/python -m bench.hot_paths --duration 20
	$(BIN)/python -m bench.ad_login_sync
	flock /tmp/bench.lock $(BIN)/python -m bench.ad_login_enumeration
	flock /tmp/bench.lock $(BIN)/python -m bench.sts_soap --duration 20
	$(BIN)/python -m bench.admin_api --scale 1 --reuse
	$(BIN)/python -m bench.catalogue_national --reuse
	flock /tmp/bench.lock $(BIN)/python -m bench.soak --minutes 10
	$(BIN)/python -m bench.report --readme README.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
