# Everything a fresh machine needs: `make test` and `make demo` build .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export QGEN_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install test test-unit lint demo model model-eval clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned to the CPU build on this machine's disk (a plain `torch` pulls a CUDA build).
$(VENV)/.stamp-install: $(BIN)/python setup.cfg
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.stamp-install

# ruff, then the import contract of setup.cfg [importlinter]: the folders of qgen/ are layers (README, "Layers"),
# then mypy (settings: setup.cfg [mypy]) on the packages that pass it; add a package here once it does.
MYPY_PACKAGES := qgen
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy $(MYPY_PACKAGES)

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# tests/unit only: the checked-in rows of tests/fixtures/, no data folder (tests/integration/ needs QGEN_DATA_DIR).
test-unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

demo: install
	$(BIN)/qgen demo --data-dir "$(QGEN_DATA_DIR)" --output-dir runs/demo

# qgen-small-ja from nothing but JaQuAD train (recipe and progress notes: configs/qgen-small-ja/).
# Every step reuses what an earlier run left (the data, the tokenizer, last/ via --resume), so an interrupted build
# continues where it stopped and ends with the same weights.
MODEL_RUN := runs/qgen-small-ja
JAQUAD := $(QGEN_DATA_DIR)/jaquad
PREP := $(BIN)/python data_prep/prepare_jsquad.py --input $(JAQUAD)/train --holdout 0.05 --seed 0

$(MODEL_RUN)/data/train_mix.tsv: install
	mkdir -p $(MODEL_RUN)/data
	$(PREP) --task aqg_hl --context-window sentence \
	  --output $(MODEL_RUN)/data/train_aqg_hl.tsv --holdout-output $(MODEL_RUN)/data/valid_aqg_hl.tsv
	$(PREP) --task qa --context-window sentence --neighbours 1 \
	  --output $(MODEL_RUN)/data/train_qa_w1.tsv --holdout-output $(MODEL_RUN)/data/valid_qa_w1.tsv
	cat $(MODEL_RUN)/data/train_aqg_hl.tsv $(MODEL_RUN)/data/train_qa_w1.tsv > $@

model: $(MODEL_RUN)/data/train_mix.tsv
	$(BIN)/qgen build-model --texts $(MODEL_RUN)/data/train_aqg_hl.tsv $(MODEL_RUN)/data/train_qa_w1.tsv \
	  --arch tiny-t5 --arch-config configs/qgen-small-ja/arch.yaml --vocab-size 8000 --position-prior copy \
	  --output $(MODEL_RUN)/untrained-v8k-copy
	$(BIN)/python train.py --config configs/qgen-small-ja/train.yaml --resume
	test -d $(MODEL_RUN)/stage1 || $(BIN)/qgen export --checkpoint $(MODEL_RUN)/train/best --max-source-len 512 \
	  --output $(MODEL_RUN)/stage1
	$(BIN)/python train.py --config configs/qgen-small-ja/train_stage2.yaml --resume
	$(BIN)/qgen export --checkpoint $(MODEL_RUN)/train-stage2/best --max-source-len 512 \
	  --card configs/qgen-small-ja/MODEL_CARD.md \
	  --output $(MODEL_RUN)/qgen-small-ja
# (shipping = copying that directory, with its model card, to qgen/models/pretrained/ once it meets the minimum)

# The model card's figures: JaQuAD dev (AQG-HL on the answer's sentence, QA on the paragraph) and JSQuAD valid transfer.
model-eval: install
	PY=$(BIN)/python bash configs/qgen-small-ja/evaluate.sh $(MODEL_RUN)/eval $(MODEL_RUN)/qgen-small-ja

clean:
	rm -rf $(VENV) runs build *.egg-info
