# The two commands of the README: `make run` (the main job) and `make test` (every check).
# Both install what they need first: a virtualenv in .venv and the npm packages in node_modules.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Hardhat's node (a second JSON-RPC implementation for the tests) and the Node 22 that runs it.
HARDHAT := toolchain/hardhat
HARDHAT_PATH := $(CURDIR)/$(HARDHAT)/node_modules/.bin:$$PATH
# ape-solidity finds the compiler through py-solc-x's install folder: ours holds the solc-js wrapper.
export SOLCX_BINARY_PATH := $(CURDIR)/toolchain/solcx

.PHONY: run test pytest setup browser lint slither slither-triage clean

# The main job: `dfmi simulate` with its defaults, on an Anvil it starts and stops; the report is
# simulation/index.html.
run: setup
	$(BIN)/dfmi simulate

# Test workers (pytest-xdist): one per CPU by default; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto

# The set-up's installs run side by side (the virtualenv, Slither's, the npm packages), then lint,
# Slither and the tests: lint and Slither are one process each and finish early, the tests keep
# both cores busy; each target's output is shown whole when it ends, and the command fails if any
# of them does.
test:
	$(MAKE) --no-print-directory -j4 --output-sync=target setup $(SLITHER_VENV)/.installed
	$(MAKE) --no-print-directory -j3 --output-sync=target lint slither pytest

pytest: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS)

lint: setup
	$(BIN)/ruff check dfmi_py tests bench scripts
	$(BIN)/ruff format --check dfmi_py tests bench scripts
	$(BIN)/mypy

# Slither over contracts/ (outside contracts/test), in its own virtualenv: fails on any High or
# Medium finding not triaged in toolchain/slither/triage.txt, and on triage lines that match nothing.
# `make slither-triage` prints draft lines for new findings and the stale lines to delete.
SLITHER_VENV := .venv-slither
SLITHER_GATE := toolchain/slither/gate.py

slither: $(SLITHER_VENV)/.installed node_modules/.installed
	$(SLITHER_VENV)/bin/python $(SLITHER_GATE) --slither $(SLITHER_VENV)/bin/slither

slither-triage: $(SLITHER_VENV)/.installed node_modules/.installed
	$(SLITHER_VENV)/bin/python $(SLITHER_GATE) --slither $(SLITHER_VENV)/bin/slither --draft

$(SLITHER_VENV)/.installed: toolchain/slither/requirements.txt
	$(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --upgrade pip
	$(SLITHER_VENV)/bin/pip install --quiet -r toolchain/slither/requirements.txt
	touch $@

setup: $(VENV)/.installed node_modules/.installed $(HARDHAT)/node_modules/.installed browser

# Debian's chromium and its chromedriver, for the test that opens the report headless: installed
# with apt-get when missing and running as root (as CI does); otherwise a note, and that test fails
# saying what to install. No test tool downloads a browser of its own.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium and chromium-driver (the report's browser test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver >/dev/null; \
	else \
	  echo "note: chromium and chromedriver are missing; the report's browser test needs them:" \
	    "apt-get install chromium chromium-driver (as root)" >&2; \
	fi

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	grep -q SOLCX_BINARY_PATH $(BIN)/activate || printf '%s\n' \
	  'export SOLCX_BINARY_PATH="$(SOLCX_BINARY_PATH)"' \
	  'export PATH="$(CURDIR)/node_modules/.bin:$$PATH"' >> $(BIN)/activate
	touch $@

node_modules/.installed: package.json package-lock.json
	# `npm ci` trips over the platform-specific optional packages of @foundry-rs/anvil; install
	# honours the lock file all the same.
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# Hardhat 3's node, the second JSON-RPC implementation the tests run the toolkit on, in its own folder.
# It needs Node 22, which the npm package `node` (in the same folder) brings: the first install puts it
# in place (npm, still on the machine's Node, skips EDR's native binding, which asks for Node 22); the
# second runs npm on that Node 22 and adds the binding. The last line fails if the binding does not load.
$(HARDHAT)/node_modules/.installed: $(HARDHAT)/package.json $(HARDHAT)/package-lock.json
	cd $(HARDHAT) && npm install --no-audit --no-fund --loglevel=error
	cd $(HARDHAT) && PATH="$(HARDHAT_PATH)" npm install --no-audit --no-fund --loglevel=error
	cd $(HARDHAT) && PATH="$(HARDHAT_PATH)" node --input-type=module -e 'await import("@nomicfoundation/edr")'
	touch $@

clean:
	rm -rf $(VENV) $(SLITHER_VENV) node_modules $(HARDHAT)/node_modules build .build contracts/.cache
