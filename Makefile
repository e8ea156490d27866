# Two entry points on a fresh clone: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BUILD  := build
MODELS ?= $(CURDIR)/$(BUILD)/models
DATA   ?= $(CURDIR)/../shared/data
# Local copy of the upstream weights (no internet): NST_WEIGHTS_SOURCE=/path/to/wct16x
export NST_MODELS_DIR := $(MODELS)

.PHONY: all install weights models demo test clean

all: demo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

weights: install
	$(PY) scripts/fetch_weights.py --dest $(BUILD)/weights

$(MODELS)/manifest.json: $(VENV)/.installed scripts/export_onnx.py scripts/torch_models.py $(wildcard scripts/trained/*.pth)
	$(PY) scripts/fetch_weights.py --dest $(BUILD)/weights
	$(PY) scripts/export_onnx.py --weights $(BUILD)/weights --out $(MODELS)

models: $(MODELS)/manifest.json

demo: models
	$(PY) scripts/demo.py --data $(DATA) --out $(BUILD)/demo

test: models
	$(PY) -m pytest -q

clean:
	rm -rf $(BUILD) dist
