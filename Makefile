# The two README commands: `make check` and `make test`. Each creates .venv on first use
# (idempotent: a stamp file records what was installed, so a second run installs nothing).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.convexlab-installed
# The CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_CPU ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: setup check test check-full lab reproduce clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "convexlab needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import torch' 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check '$(TORCH_CPU)'
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

check: $(STAMP)
	$(VENV)/bin/convexlab check

check-full: $(STAMP)
	$(VENV)/bin/convexlab check --full

test: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# JupyterLab on the notebooks (installs the `notebooks` extra: jupyterlab, on first use)
lab: $(STAMP)
	@$(PY) -c 'import jupyterlab' 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check -e '.[notebooks]'
	$(VENV)/bin/jupyter lab notebooks/

# every notebook in full mode, the checks, results/ and results/CLAIMS.md, the README gallery
reproduce: $(STAMP)
	$(VENV)/bin/convexlab reproduce

clean-venv:
	rm -rf $(VENV)
