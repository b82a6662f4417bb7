# The two commands of the README: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast reliability bench lint format system-deps system-deps-demo system-deps-bench clean

demo: system-deps-demo $(STAMP)
	$(VENV)/bin/ionia demo

test: system-deps $(STAMP) lint
	$(PY) -m pytest -q --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -q -x

reliability: system-deps $(STAMP)
	rm -rf build/reliability  # every row in the doc comes from this run, none left over
	$(PY) -m pytest -q -m reliability --durations=0
	$(PY) -m pytest -q tests/reliability/test_hostile.py
	$(PY) benchmarks/reliability_report.py

# about 35 minutes on 2 cores; BENCH_ARGS is passed to the timed ones (e.g. --rounds 1 --no-doc)
bench: system-deps-bench $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/pipeline.py --rounds 5 --seconds 15 $(BENCH_ARGS)
	$(PY) benchmarks/realjob.py --rounds 5 --seconds 15 $(BENCH_ARGS)
	$(PY) benchmarks/realjob.py --profile --sizes 1280x720 $(BENCH_ARGS)
	$(PY) benchmarks/capture.py
	$(PY) benchmarks/latency.py --rounds 2 --seconds 30 --extra-cases 1920x1080@30,1280x720@60 $(BENCH_ARGS)
	$(PY) benchmarks/threads.py
	$(PY) benchmarks/scaler.py
	$(PY) benchmarks/audio_path.py
	$(PY) benchmarks/startup.py --rounds 10 $(BENCH_ARGS)
	$(PY) benchmarks/whip_stack.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

system-deps:
	scripts/install-system-deps.sh test

system-deps-demo:
	scripts/install-system-deps.sh demo

system-deps-bench:
	scripts/install-system-deps.sh bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,capture]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info
