# Thoughtscope: `make run` starts the app on demo data, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint format system-deps venv venv-ml venv-dev demo bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

.stamp-venv: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# The app's model pages (LM generation, mistake finder, learned tagger) need torch/transformers.
.stamp-venv-ml: requirements.txt requirements-ml.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt -r requirements-ml.txt
	touch .stamp-venv $@

.stamp-venv-dev: requirements.txt requirements-ml.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch .stamp-venv .stamp-venv-ml $@

venv: .stamp-venv
venv-ml: .stamp-venv-ml
venv-dev: .stamp-venv-dev

# Debian packages the tests need: Chromium for the browser tests, PostgreSQL 15 for the store
# tests. Installed only when missing (root is needed to install them).
system-deps:
	@bash scripts/install_system_deps.sh

demo: venv-ml
	$(PY) cli.py demo --if-empty

run: demo
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

test: venv-dev system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 --dist loadgroup

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv-dev
	for f in bench/*_bench.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .stamp-venv .stamp-venv-ml .stamp-venv-dev .pytest_cache test-artifacts
