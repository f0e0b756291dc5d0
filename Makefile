# Two commands from a fresh clone: `make demo` and `make test`. Each sets itself up
# (virtualenv from requirements.lock, npm ci, brownie's local network, compiled contracts)
# and is safe to run twice.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ST_VENV := .venv-schemathesis
BR_VENV := .venv-browser
SL_VENV := .venv-slither

# solc-js behind the py-solc-x shim; anvil and cast as native binaries (toolchain/bin).
export SOLCX_BINARY_PATH := $(CURDIR)/toolchain/solc
export PATH := $(CURDIR)/toolchain/bin:$(CURDIR)/$(BIN):$(PATH)
# brownie warns about its own calls (rpc.snapshot/rpc.mine) on every run
export PYTHONWARNINGS := ignore::FutureWarning

CONTRACTS := $(wildcard contracts/*.sol contracts/*/*.sol)
# The test chain: anvil on its own port, so that tests never touch a running demo (8545).
TEST_NETWORK := coalition-test
TEST_PORT := 8555

.PHONY: chromium postgresql setup demo test test-contracts chaos lint gas bench bench-quick bench-sender lock lock-slither slither clean

setup: $(VENV)/.installed node_modules/.installed build/.compiled $(VENV)/.brownie-networks $(ST_VENV)/.installed \
  $(SL_VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

# schemathesis in its own virtualenv: brownie pins hypothesis 6.27 in .venv, schemathesis 4 needs
# a newer one (tests/schemathesis runs it against the gateway's OpenAPI schema).
$(ST_VENV)/.installed: requirements-schemathesis.lock
	$(PYTHON) -m venv $(ST_VENV)
	$(ST_VENV)/bin/pip install --quiet --no-deps --require-hashes -r requirements-schemathesis.lock
	touch $@

# Slither in its own virtualenv (web3 7 and newer eth-* majors than brownie's pins in .venv);
# tests/slither runs it over contracts/ through the solc shim (no solc-select, nothing downloaded).
$(SL_VENV)/.installed: requirements-slither.lock
	$(PYTHON) -m venv $(SL_VENV)
	$(SL_VENV)/bin/pip install --quiet --no-deps --require-hashes -r requirements-slither.lock
	touch $@

# The browser test's Playwright in its own virtualenv (brownie's pins stay untouched); it drives
# Debian's chromium, installed here when missing (root with apt-get), else tests/browser skips.
$(BR_VENV)/.installed: requirements-browser.lock
	$(PYTHON) -m venv $(BR_VENV)
	$(BR_VENV)/bin/pip install --quiet --no-deps --require-hashes -r requirements-browser.lock
	touch $@

chromium:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
	    || echo "apt-get could not install chromium: tests/browser will skip"; \
	  else echo "chromium is not installed and cannot be: tests/browser will skip"; fi; }

# Debian's PostgreSQL server binaries (initdb, pg_ctl): the e2e and chaos tests run on SQLite and
# on a throwaway PostgreSQL cluster of their own (tests/pg.py); installed here when missing (root
# with apt-get), else the PostgreSQL half skips, saying why.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; } \
	    || echo "apt-get could not install postgresql: the [postgresql] tests will skip"; \
	  else echo "the PostgreSQL server is not installed and cannot be: the [postgresql] tests will skip"; fi; }

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# brownie keeps its networks in ~/.brownie; a project-level `networks:` section trips a bug
# in brownie 1.22 (see brownie-config.yaml), so the block gas limit is set here.
$(VENV)/.brownie-networks: $(VENV)/.installed
	$(BIN)/brownie networks modify development gas_limit=60000000 accounts=20 base_fee=0 >/dev/null
	$(BIN)/brownie networks delete $(TEST_NETWORK) >/dev/null 2>&1 || true
	$(BIN)/brownie networks add Development $(TEST_NETWORK) cmd=anvil host=http://127.0.0.1 \
	  port=$(TEST_PORT) gas_limit=60000000 accounts=20 base_fee=0 >/dev/null
	touch $@

build/.compiled: $(CONTRACTS) brownie-config.yaml package-lock.json | $(VENV)/.installed node_modules/.installed
	$(BIN)/brownie compile
	touch $@

# A living coalition: the network as real processes, three partners, a simulated month over
# HTTP, the month settled and checked. ARGS=--exit ends after the statement.
demo: setup
	$(BIN)/coalition demo $(ARGS)

# The contracts alone, through brownie (the earlier demo)
demo-contracts: setup
	$(BIN)/brownie run scripts/demo.py

gas: setup
	$(BIN)/brownie run scripts/gas.py

# earns per second and gas per purchase: one transaction per purchase vs the batching sender
# Issue 7's benchmarks in one run: prints the table, writes bench/results.json (a few minutes)
# STORE=postgresql: the stores in a throwaway PostgreSQL cluster (Debian's server binaries)
STORE ?= sqlite

bench: setup
	$(BIN)/python -m bench --store $(STORE) $(ARGS)

bench-quick: setup
	$(BIN)/python -m bench --quick --store $(STORE) $(ARGS)

bench-sender: setup
	$(BIN)/python -m bench.earn_throughput

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The fault test runs here at a quarter of its size (still 20+ kills), to keep CI under 30
# minutes; `make chaos` runs it whole. The suite runs in TEST_WORKERS pytest-xdist workers, a
# test file per worker at a time (its module-scoped stack stays in one process); each worker has
# its own band of ports (tests/ports.py) and brownie's anvil on 8555 + its index. Most of an
# end-to-end test is waiting on a chain, a worker or a poll, so two workers overlap well on two
# cores. TEST_WORKERS=0: one process, as before.
TEST_WORKERS ?= 2

test: setup lint chromium postgresql $(BR_VENV)/.installed
	CHAOS_PURCHASES=$${CHAOS_PURCHASES:-500} CHAOS_REDEMPTIONS=$${CHAOS_REDEMPTIONS:-50} \
	CHAOS_MESSAGES=$${CHAOS_MESSAGES:-300} CHAOS_MESSAGE_KILLS=$${CHAOS_MESSAGE_KILLS:-2} \
	CHAOS_FAULTS_PER_ROW=$${CHAOS_FAULTS_PER_ROW:-1} CHAOS_FAULT_SECONDS=$${CHAOS_FAULT_SECONDS:-10} \
	CHAOS_SCHEDULE_STORES=$${CHAOS_SCHEDULE_STORES:-sqlite} \
	  $(BIN)/pytest --network $(TEST_NETWORK) -n $(TEST_WORKERS) --dist loadfile

test-contracts: setup
	$(BIN)/pytest tests/contracts --network $(TEST_NETWORK)

# The fault tests whole: Celery workers SIGKILLed 20+ times during 2,000 purchases and 200
# redemptions, and 10+ times while they send 5,000 messages; and the seeded fault schedule
# (tests/chaos/test_fault_schedule.py) of CHAOS_FAULTS_PER_ROW faults of every kind and target
# on SQLite and on PostgreSQL, the seed printed (CHAOS_SEED=<seed> replays it).
# Larger: make chaos CHAOS_PURCHASES=10000 CHAOS_MESSAGES=20000 CHAOS_FAULTS_PER_ROW=100
chaos: setup postgresql
	CHAOS_PURCHASES=$${CHAOS_PURCHASES:-2000} CHAOS_REDEMPTIONS=$${CHAOS_REDEMPTIONS:-200} \
	CHAOS_MESSAGES=$${CHAOS_MESSAGES:-5000} CHAOS_MESSAGE_KILLS=$${CHAOS_MESSAGE_KILLS:-10} \
	CHAOS_FAULTS_PER_ROW=$${CHAOS_FAULTS_PER_ROW:-100} CHAOS_FAULT_SECONDS=$${CHAOS_FAULT_SECONDS:-0} CHAOS_REGRESSIONS=1 \
	  $(BIN)/pytest tests/chaos --network $(TEST_NETWORK) -s

# Re-resolve requirements.in into requirements.lock (needs the registry; not part of setup).
lock: $(VENV)/.installed
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile requirements.in --override overrides.txt --python-version 3.11 \
	  --generate-hashes --no-header -o requirements.lock

# Slither's findings against tests/slither/triage.json: the untriaged medium/high ones (which fail
# `make test`), the triage entries that match nothing any more, and the low/informational ones.
slither: $(SL_VENV)/.installed node_modules/.installed
	$(BIN)/python -m tests.slither.run_slither

# Re-resolve requirements-slither.in into requirements-slither.lock (needs the registry).
lock-slither: $(VENV)/.installed
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile requirements-slither.in --python-version 3.11 --generate-hashes --no-header \
	  -o requirements-slither.lock

clean:
	rm -rf $(VENV) node_modules build reports deployments/*.json
