"""Names shared by several layers: one place each, so no layer imports another's module for a constant."""

SAVED_NAME = "qgen_config.yaml"  # the run settings saved beside every checkpoint qgen writes
IGNORE = -100  # the label of a token that is not a target (PyTorch's cross_entropy ignore_index)
HL = "<hl>"  # the answer highlight of AQG-HL sources
QG_TASKS = ("aqg", "aqg_hl", "qa")  # the tasks a seq2seq example / `qgen generate` can be
DTYPE_NAMES = ("auto", "fp32", "bf16", "fp16")  # --dtype choices when loading weights ("auto": as saved)
# Alpaca's instruction preamble: the KorQuAD training texts and the `alpaca` prompt format open with it
ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
