# The two README commands: `make check` and `make test`. Each creates .venv on first use
# (idempotent: a stamp file records what was installed, so a second run installs nothing).
# The first run prints one `[setup]` line per phase and lets pip show what it installs (its
# download progress bar included): about 160 s of installing on a fresh machine.
# `make check SETUP_PIP_ARGS=--quiet` hides pip's own lines (the phase lines stay); the name has no
# PIP_ prefix because make exports command-line variables and pip reads PIP_* as its options.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.convexlab-installed
# The CPU wheel: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_CPU ?= torch==2.13.0
SETUP_PIP_ARGS ?=
HEARTBEAT_S ?= 20
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --progress-bar on $(SETUP_PIP_ARGS)
PYTEST_ARGS ?=

.PHONY: setup check test check-full lab reproduce clean-venv

setup: $(STAMP)

# One shell for the whole setup, so that each phase line can report the seconds so far. pip 23
# prints nothing while it unpacks and installs (the longest part), so a line every $(HEARTBEAT_S) s
# says it is still working; its `sleep` holds no output pipe, so nothing waits for it at the end.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "convexlab needs Python >= 3.11, found " + sys.version.split()[0])'
	@set -e; \
	t0=$$(date +%s); \
	since() { echo "$$(( $$(date +%s) - t0 )) s"; }; \
	pip_install() { \
		( while sleep $(HEARTBEAT_S) </dev/null >/dev/null 2>&1; do echo "[setup]     ... pip is still working ($$(since) so far)"; done ) & hb=$$!; \
		trap 'kill $$hb 2>/dev/null' EXIT; \
		$(PIP_INSTALL) "$$@"; \
		kill $$hb 2>/dev/null; trap - EXIT; \
	}; \
	if test -x $(PY); then \
		echo "[setup] 1/3 virtual environment $(VENV): exists"; \
	else \
		echo "[setup] 1/3 creating the virtual environment $(VENV) ($(PYTHON) -m venv)"; \
		$(PYTHON) -m venv $(VENV); \
	fi; \
	if $(PY) -c 'import torch' 2>/dev/null; then \
		echo "[setup] 2/3 torch: already installed ($$($(PY) -c 'import torch; print(torch.__version__)'))"; \
	else \
		echo "[setup] 2/3 installing $(TORCH_CPU), the CPU build ($$(since) so far)"; \
		pip_install '$(TORCH_CPU)'; \
	fi; \
	echo "[setup] 3/3 installing convexlab and its dependencies: pip install -e '.[test]' ($$(since) so far)"; \
	pip_install -e '.[test]'; \
	touch $(STAMP); \
	echo "[setup] done in $$(since); later runs reuse $(VENV) until pyproject.toml changes"

check: $(STAMP)
	@echo "[check] running the checks: $(VENV)/bin/convexlab check"
	@$(VENV)/bin/convexlab check

check-full: $(STAMP)
	@echo "[check] running the full checks: $(VENV)/bin/convexlab check --full"
	@$(VENV)/bin/convexlab check --full

test: $(STAMP)
	@echo "[test] running the test suite: $(PY) -m pytest -n 2 $(PYTEST_ARGS)"
	@$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# JupyterLab on the notebooks (installs the `notebooks` extra: jupyterlab, on first use)
lab: $(STAMP)
	@$(PY) -c 'import jupyterlab' 2>/dev/null || { echo "[lab] installing the notebooks extra (jupyterlab): pip install -e '.[notebooks]'"; $(PIP_INSTALL) -e '.[notebooks]'; }
	$(VENV)/bin/jupyter lab notebooks/

# every notebook in full mode, the checks, results/ and results/CLAIMS.md, the README gallery
reproduce: $(STAMP)
	$(VENV)/bin/convexlab reproduce

clean-venv:
	rm -rf $(VENV)
