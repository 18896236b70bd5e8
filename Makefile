PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ROOT   ?= demo-lakehouse

.PHONY: demo test test-fast lint types bench bench-small clean sample-data browser

$(VENV)/.installed-dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,spark,aws,infra]'
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

demo: $(VENV)/.installed
	rm -rf $(ROOT)
	$(VENV)/bin/lakehouse run --root $(ROOT) --source sample-data
	$(VENV)/bin/lakehouse tables --root $(ROOT)
	$(VENV)/bin/lakehouse report --root $(ROOT) --out $(ROOT)/report.html
	@echo "explore: $(VENV)/bin/lakehouse sql --root $(ROOT) \"SELECT * FROM silver.orders LIMIT 5\""

# regenerate the bundled demo data (tests/test_sample_data.py keeps these arguments in step)
sample-data: $(VENV)/.installed
	rm -rf sample-data
	$(VENV)/bin/lakehouse generate --out sample-data --orders 3000 --products 300 --days 30 \
		--format xlsx --seed 42 --dirty-rate 0.01

test: $(VENV)/.installed-dev $(VENV)/.installed browser
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadgroup

test-fast: $(VENV)/.installed-dev
	$(VENV)/bin/pytest -n 2 -m "not slow and not spark and not aws and not browser"

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

types: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

# quick set (a few minutes): lab data, 1 M generated order items, watch latency
bench-small: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_lab_ingest.py
	$(PY) benchmarks/bench_pipeline.py --items 1000000
	$(PY) benchmarks/bench_watch.py

# the full set: 10 M order items, the engines side by side (lab data and 1 M items), generator,
# gold, maintenance
bench: bench-small
	$(PY) benchmarks/bench_generate.py --items 10000000 --out benchmarks/data/gen10m
	$(PY) benchmarks/bench_pipeline.py --items 10000000
	$(PY) benchmarks/bench_watch.py --items 10000000 --drops 5
	$(PY) benchmarks/bench_engines.py --items 1000000
	$(PY) benchmarks/bench_gold.py
	$(PY) benchmarks/bench_maintenance.py

clean:
	rm -rf $(VENV) $(ROOT) .pytest_cache .mypy_cache .ruff_cache
