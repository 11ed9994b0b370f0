# One command to run the app locally, one to run every test. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup run test unit lint typecheck pytest browser bench clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Azurite, pinned in package.json/package-lock.json, installed into the project (3.35.0 runs on Node 20).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/python -m devtools.run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck browser pytest

# Headless Chromium for tests/browser/ (the change report in a real browser): Debian's package, installed with
# apt-get when none is on PATH and this runs as root; otherwise it says why, and the browser test says it too.
BROWSERS := chromium-headless-shell chromium chromium-browser
browser:
	@for b in $(BROWSERS); do command -v $$b >/dev/null && { echo "browser: $$(command -v $$b)"; exit 0; }; done; \
	if ! command -v apt-get >/dev/null; then echo "browser: no Chromium and no apt-get: tests/browser will be skipped"; \
	elif [ "$$(id -u)" != 0 ]; then echo "browser: no Chromium; run as root: apt-get install -y chromium-headless-shell"; exit 1; \
	else apt-get update -qq && (apt-get install -y -qq chromium-headless-shell || apt-get install -y -qq chromium); fi

# The unit tests alone: no Azurite, no emulator, no host (so no npm install either).
unit: $(PY_STAMP)
	$(BIN)/pytest tests/unit

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache .mypy_cache .ruff_cache
