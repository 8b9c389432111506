# Two commands do all set-up on a fresh clone (see README.md):
#   make demo   installs into .venv and runs the quickstart ablation sweep
#   make test   installs into .venv and runs the test suite (python -m pytest)
# GPU machines: install your CUDA build of torch into .venv first (TORCH_SPEC=skip keeps it).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 lies on disk on the reference machines; a bare `torch`
# requirement would pull a multi-GB CUDA build there.
TORCH_SPEC ?= torch==2.13.0
SWEEP ?= sweeps/quickstart.yaml
# dev: tests and linters; baselines: nnU-Net v2 for sweeps/baselines.yaml (docs/baselines.md),
# which its tests run. `make install EXTRAS=dev` leaves nnU-Net out.
EXTRAS ?= dev,baselines
PYTEST_ARGS ?=
# Two test processes (pytest-xdist): much of the slow tests' time is waiting on servers,
# Ray and subprocesses, so two keep both cores busy; three were slower (CPU-bound). Whole
# files go to one process, slow ones first (tests/xdist_scheduling.py): 1872 tests in
# 14 min 17 s here. 0: one process.
TEST_WORKERS ?= 2

.PHONY: install demo test bench lint clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ "$(TORCH_SPEC)" != "skip" ] && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		echo "installing $(TORCH_SPEC)"; $(BIN)/python -m pip install -q "$(TORCH_SPEC)"; fi
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

demo: install
	$(BIN)/python -m platform.sweep $(SWEEP)

test: install
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; fi; \
	exit $$status

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b --small || exit 1; done

lint: install
	$(BIN)/python -m ruff check .

clean-venv:
	rm -rf $(VENV)
