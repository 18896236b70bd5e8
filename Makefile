PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ROOT   ?= demo-lakehouse
DEV_LOCK     := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt

.PHONY: lock demo test test-fast lint types bench bench-small clean sample-data browser

# Dependencies come from the hash-locked requirements (see `make lock`), the project itself
# without dependencies: pip refuses any file whose hash is not in the lock.
$(VENV)/.installed-dev: pyproject.toml $(DEV_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# the demo's runtime dependencies only, locked to the same versions as the dev lock
$(VENV)/.installed: pyproject.toml $(RUNTIME_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r $(RUNTIME_LOCK)
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Regenerate the locks after any dependency change in pyproject.toml (until then
# tests/test_requirements_lock.py fails); `make lock UPGRADE=--upgrade` moves every pin to the
# newest allowed release.
# uv resolves for the CI/Glue target: CPython 3.11, Linux x86_64 (manylinux 2.28); the runtime
# lock is also what the Glue job's zip of wheels holds (infra/lakehouse_stack/artifacts.py).
UV          ?= $(shell command -v uv 2>/dev/null || echo $(VENV)/bin/uv)
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-manylinux_2_28
lock:
	$(UV) pip compile -q pyproject.toml --all-extras --generate-hashes $(LOCK_TARGET) \
		$(UPGRADE) -o $(DEV_LOCK)
	$(UV) pip compile -q pyproject.toml --generate-hashes $(LOCK_TARGET) \
		-c $(DEV_LOCK) -o $(RUNTIME_LOCK)

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
	$(VENV)/bin/pytest -n 2 --dist loadgroup --durations=30

test-fast: $(VENV)/.installed-dev
	$(VENV)/bin/pytest -n 2 -m "not slow and not spark and not aws and not browser"

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

types: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

# quick set (a few minutes): lab data, a small run's fixed cost, 1 M generated order items, the
# full load against the raw-library floor, gold freshness, watch latency
bench-small: $(VENV)/.installed-dev
	$(PY) benchmarks/bench_lab_ingest.py
	$(PY) benchmarks/bench_small_run.py
	$(PY) benchmarks/bench_pipeline.py --items 1000000
	$(PY) benchmarks/bench_floor.py --items 1000000 --repeat 3
	$(PY) benchmarks/bench_floor.py --items 1000000 --repeat 3 --models all
	$(PY) benchmarks/bench_freshness.py --items 1000000
	$(PY) benchmarks/bench_watch.py

# the full set: 10 M order items (with the floor), the engines side by side (lab data and 1 M
# items), generator, gold, maintenance
bench: bench-small
	$(PY) benchmarks/bench_generate.py --items 10000000 --out benchmarks/data/gen10m
	$(PY) benchmarks/bench_pipeline.py --items 10000000
	$(PY) benchmarks/bench_floor.py --items 10000000 --repeat 1
	$(PY) benchmarks/bench_floor.py --items 10000000 --repeat 1 --models all
	$(PY) benchmarks/bench_freshness.py --items 10000000 --repeat 3
	$(PY) benchmarks/bench_watch.py --items 10000000 --drops 5
	$(PY) benchmarks/bench_watch.py --items 10000000 --drops 5 --during-budget-refresh
	$(PY) benchmarks/bench_engines.py --items 1000000
	$(PY) benchmarks/bench_gold.py
	$(PY) benchmarks/bench_maintenance.py

clean:
	rm -rf $(VENV) $(ROOT) .pytest_cache .mypy_cache .ruff_cache
