# Everything a fresh machine needs: `make test` and `make demo` build .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export QGEN_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install test lint demo clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned to the CPU build on this machine's disk (a plain `torch` pulls a CUDA build).
$(VENV)/.stamp-install: $(BIN)/python setup.cfg
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.stamp-install

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

demo: install
	$(BIN)/python -m qgen.demo --data-dir "$(QGEN_DATA_DIR)" --output-dir runs/demo

clean:
	rm -rf $(VENV) runs build *.egg-info
