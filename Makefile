# Quick start: `make demo` and `make test` work on a fresh machine (Python 3.10+).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install install-test demo test test-slow bench clean

$(VENV)/.stamp-install: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.stamp-install

install-test: $(VENV)/.stamp-test

# Trains SinGAN on the bundled face (configs/singan_demo.cfg, < 10 min on 2 cores),
# then writes random samples and samples started at the paper's N-1 and N-2 as
# one labelled grid: runs/demo/samples/grid.png.
demo: install
	$(PY) -m tfsingan.train --flagfile=configs/singan_demo.cfg --workdir=runs/demo
	$(PY) -m tfsingan.sample --workdir=runs/demo --gen_start_scale=0,1,2 --num_samples=6 \
	  --out=runs/demo/samples

test: install-test
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: install-test
	$(PY) -m pytest -q --runslow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs *.egg-info
