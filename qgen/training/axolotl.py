"""An Axolotl YAML config read as qgen training settings: each key mapped, Axolotl's default where the file is silent.

Axolotl's keys and defaults are read from its config schema, axolotl-ai-cloud/axolotl at commit
067b021c8b87a9e5e380b9173c704cf7340e30f5 (src/axolotl/utils/schemas/config.py, training.py, peft.py, model.py,
datasets.py; the warmup default from src/axolotl/core/builders/base.py `_configure_warmup_and_logging`). A key qgen
cannot honour is one QgenInputError naming it and what to do; nothing is dropped silently. `convert` returns the flat
qgen settings and the mapping table (`Row`s) that `qgen convert-config` prints and the README shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qgen.core.errors import QgenInputError
from qgen.data.jsonfile import load_records
from qgen.models.formats.axolotl_prompts import AXOLOTL_ALPACA

AXOLOTL_COMMIT = "067b021c8b87a9e5e380b9173c704cf7340e30f5"

# Axolotl's default of each key qgen maps (None: the schema's None, whose meaning the handler states).
DEFAULTS = {
    "base_model": None, "datasets": None, "adapter": None,                               # model.py, config.py, peft.py
    "lora_r": None, "lora_alpha": None, "lora_dropout": 0.0, "lora_target_modules": None,  # peft.py
    "lora_target_linear": None, "load_in_4bit": False, "load_in_8bit": False,             # peft.py
    "sequence_len": 512, "sample_packing": None,                                          # config.py
    "micro_batch_size": 1, "gradient_accumulation_steps": 1, "num_epochs": 1.0,           # training.py
    "max_steps": None, "learning_rate": None,                                             # config.py, training.py
    "optimizer": "adamw_torch_fused", "lr_scheduler": "cosine", "weight_decay": 0.0,     # training.py
    "warmup_steps": None, "warmup_ratio": None,                                           # config.py
    "bf16": "auto", "fp16": None, "tf32": "auto", "gradient_checkpointing": False,       # config.py
    "val_set_size": 0.0, "eval_steps": None, "save_steps": None,                          # config.py
    "output_dir": "./model-out", "train_on_inputs": False, "group_by_length": None,       # model.py, training.py
    "special_tokens": None, "early_stopping_patience": None,                              # config.py
    "resume_from_checkpoint": None, "seed": None, "logging_steps": None,                  # config.py
    "trust_remote_code": None, "model_type": None, "tokenizer_type": None,                # model.py
}
REQUIRED = ("base_model", "datasets", "learning_rate")
# Optimisers whose update is AdamW's in 32 bits ("paged": the optimiser state may page to CPU memory on a GPU).
ADAMW = ("adamw_torch_fused", "adamw_torch", "adamw_hf", "paged_adamw_32bit")
SCHEDULERS = {"cosine": "cosine", "linear": "linear", "constant": "constant", "constant_with_warmup": "constant"}
# Keys that may stay in the file set to false or empty: switches of features qgen does not have, off.
OFF_SWITCHES = ("strict", "debug", "flash_attention", "xformers_attention", "sdp_attention", "s2_attention",
                "pad_to_sequence_len", "is_llama_derived_model", "is_mistral_derived_model", "is_falcon_derived_model",
                "is_qwen_derived_model", "flash_attn_cross_entropy", "flash_attn_rms_norm", "eval_sample_packing")


@dataclass
class Row:
    key: str  # the Axolotl key
    given: str  # its value as written, or "(default X)"
    qgen: str  # the qgen setting(s) it becomes
    note: str = ""  # where qgen differs or what the default means


def is_axolotl(data) -> bool:
    """An Axolotl config has `base_model` and `datasets` (qgen's own keys are `model` and `train_file`)."""
    return isinstance(data, dict) and "base_model" in data and "datasets" in data


class _Converter:
    def __init__(self, data: dict, source: str):
        self.data, self.source = data, source
        self.out: dict = {}
        self.rows: list[Row] = []

    def fail(self, key: str, why: str):
        raise QgenInputError(f"Axolotl key not supported: {why}", path=self.source, field=key)

    def value(self, key):
        v = self.data.get(key)
        return DEFAULTS[key] if v is None or v == "" else v

    def set(self, key: str, note: str = "", **settings) -> None:
        given = repr(self.data[key]) if self.data.get(key) not in (None, "") else f"(default {DEFAULTS[key]!r})"
        self.out.update(settings)
        self.rows.append(Row(key, given, ", ".join(f"{k}: {v!r}" for k, v in settings.items()) or "-", note))

    def number(self, key, kind=float, low=0):
        v = self.value(key)
        try:
            n = float(v)
        except (TypeError, ValueError):
            n = None
        if n is None or isinstance(v, bool) or (kind is int and not n.is_integer()):
            self.fail(key, f"expected {'a whole number' if kind is int else 'a number'}, got {v!r}")
        n = kind(n)
        if n < low:
            self.fail(key, f"expected at least {low}, got {v!r}")
        return n


def _model(c: _Converter) -> None:
    c.set("base_model", model=str(c.value("base_model")))
    for key, suffix in (("model_type", "ForCausalLM"), ("tokenizer_type", "Tokenizer")):
        v = c.value(key)
        if v is None:
            continue
        if not (str(v).startswith("Auto") or str(v).endswith(suffix) or str(v).endswith(suffix + "Fast")):
            c.fail(key, f"{v!r}: qgen loads a causal LM and its tokenizer with the Auto classes; delete the key")
        c.set(key, note="qgen picks the class from the model's config.json (the same class here)")
    if c.value("trust_remote_code") is not None:
        c.set("trust_remote_code", trust_remote_code=bool(c.value("trust_remote_code")))


def _dataset(c: _Converter) -> None:
    sets = c.value("datasets")
    if not isinstance(sets, list) or len(sets) != 1 or not isinstance(sets[0], dict):
        c.fail("datasets", "qgen trains on one local file: give exactly one `- path: FILE, type: alpaca|completion` "
                           "(concatenate several files into one first)")
    ds = sets[0]
    extra = sorted(set(ds) - {"path", "type", "field", "ds_type", "split"})
    if extra:
        c.fail(f"datasets.{extra[0]}", "qgen reads only path, type, field (completion: text), ds_type: json")
    kind, path, field = ds.get("type"), str(ds.get("path") or ""), ds.get("field") or "text"
    if kind not in ("alpaca", "completion"):
        c.fail("datasets.type", f"{kind!r}: qgen reads `alpaca` (instruction/input/output) and `completion` (text) "
                                "datasets; convert the file to one of them")
    if ds.get("ds_type") not in (None, "json") or ds.get("split") not in (None, "train"):
        c.fail("datasets.ds_type", "qgen reads a local JSON / JSON-lines file (ds_type: json, split: train)")
    if field != "text":
        c.fail("datasets.field", f"{field!r}: qgen reads completion text from `text`; rename the field in the file")
    _check_records(c, path, kind)
    fmt = AXOLOTL_ALPACA if kind == "alpaca" else "raw"
    c.set("datasets", train_file=path, prompt_format=fmt,
          note=("Axolotl's AlpacaPrompter text (instruct style)" if kind == "alpaca"
                else "the whole text is the target; over sequence_len it is cut, not split into chunks as Axolotl does"))


def _check_records(c: _Converter, path: str, kind: str) -> None:
    """The file's first record has the fields of `kind` (a missing file is train.py's own error, later)."""
    if not Path(path).is_file():
        return
    rows, _ = load_records(path)
    first = rows[0][1] if rows else None
    need = ("instruction", "output") if kind == "alpaca" else ("text",)
    if isinstance(first, dict) and not all(k in first for k in need):
        raise QgenInputError(f"datasets type {kind} needs records with {', '.join(need)}; the first has "
                             f"{', '.join(map(str, first)) or 'none'}", path=path, field="datasets.type")


def _adapter(c: _Converter) -> None:
    adapter, q4, q8 = c.value("adapter"), bool(c.value("load_in_4bit")), bool(c.value("load_in_8bit"))
    if adapter not in (None, "lora", "qlora"):
        c.fail("adapter", f"{adapter!r}: qgen trains LoRA and QLoRA adapters (adapter: lora | qlora) or, left out, "
                          "all weights")
    if adapter == "qlora" and not q4:
        c.fail("adapter", "qlora needs load_in_4bit: true (as Axolotl requires)")
    if q4 and q8:
        c.fail("load_in_8bit", "load_in_4bit and load_in_8bit are both set; keep one")
    quant = "4bit" if q4 else "8bit" if q8 else "none"
    c.set("load_in_4bit", quantization=quant, note="bitsandbytes NF4, double quantisation" if q4 else "")
    c.set("load_in_8bit", note="see load_in_4bit")
    if adapter is None:
        c.set("adapter", lora_r=0, note="no adapter: all weights are trained; the lora_* keys are not used")
        return
    c.set("adapter", note=f"{adapter}: LoRA on the " + ("4-bit base" if quant == "4bit" else "base"))
    for key in ("lora_r", "lora_alpha"):
        if c.value(key) is None:
            c.fail(key, f"adapter: {adapter} needs {key}")
    c.set("lora_r", lora_r=c.number("lora_r", int, 1))
    c.set("lora_alpha", lora_alpha=c.number("lora_alpha", int, 1))
    c.set("lora_dropout", lora_dropout=c.number("lora_dropout"))
    modules = c.value("lora_target_modules")
    modules = [modules] if isinstance(modules, str) else list(modules or [])
    if c.value("lora_target_linear"):
        c.set("lora_target_linear", lora_target_modules=["all-linear"],
              note="every linear layer but the output layer" + (" (covers lora_target_modules)" if modules else ""))
        c.set("lora_target_modules", note="covered by lora_target_linear" if modules else "")
    else:
        c.set("lora_target_linear", note="unset: only lora_target_modules")
        c.set("lora_target_modules", lora_target_modules=[str(m) for m in modules],
              note="" if modules else "empty: peft's per-architecture default, as in Axolotl")


def _schedule(c: _Converter) -> None:
    c.set("sequence_len", max_len=c.number("sequence_len", int, 2),
          note="a longer example's prompt is cut from the left (Axolotl drops the example)")
    c.set("sample_packing", pack=bool(c.value("sample_packing")))
    bs = c.number("micro_batch_size", int, 1)
    c.set("micro_batch_size", batch_size=bs, valid_batch_size=bs, note="eval_batch_size defaults to it in Axolotl")
    c.set("gradient_accumulation_steps", grad_accum=c.number("gradient_accumulation_steps", int, 1))
    c.set("num_epochs", epochs=c.number("num_epochs"))
    c.set("max_steps", max_steps=c.number("max_steps", int) if c.value("max_steps") is not None else 0)
    c.set("learning_rate", lr=c.number("learning_rate"))
    opt = c.value("optimizer")
    if opt not in (*ADAMW, "sgd"):
        c.fail("optimizer", f"{opt!r}: qgen has AdamW (32-bit) and SGD; use optimizer: adamw_torch")
    c.set("optimizer", optimizer="sgd" if opt == "sgd" else "adamw", note="" if opt != "paged_adamw_32bit" else
          "the same AdamW update, not paged")
    sched = c.value("lr_scheduler")
    if sched not in SCHEDULERS:
        c.fail("lr_scheduler", f"{sched!r}: qgen has {', '.join(SCHEDULERS)}")
    c.set("lr_scheduler", scheduler=SCHEDULERS[sched])
    steps, ratio = c.data.get("warmup_steps"), c.data.get("warmup_ratio")
    if steps is not None and ratio is not None:
        c.fail("warmup_steps", "warmup_steps and warmup_ratio are both set (Axolotl refuses this too); keep one")
    if steps is not None:
        c.set("warmup_steps", warmup_steps=c.number("warmup_steps", int))
    elif ratio is not None:
        c.set("warmup_ratio", warmup_ratio=c.number("warmup_ratio"), note="qgen rounds ratio x steps up, Axolotl down")
    else:
        c.set("warmup_ratio", warmup_ratio=0.03, note="neither set: Axolotl warms up 3% of the steps (at most 100)")
    c.set("weight_decay", weight_decay=c.number("weight_decay"))


def _precision(c: _Converter) -> None:
    bf16, fp16 = c.value("bf16"), c.value("fp16")
    if bf16 not in ("auto", "full", True, False) or fp16 not in (None, True, False):
        c.fail("bf16", f"bf16: {bf16!r}, fp16: {fp16!r}: expected bf16: auto | true | false, fp16: true | false")
    if fp16 and bf16 is True:
        c.fail("fp16", "bf16 and fp16 are both true; keep one")
    prec = "fp16" if fp16 else "bf16" if bf16 in (True, "full") else "auto" if bf16 == "auto" else "fp32"
    c.set("bf16", precision=prec, note="auto: bf16 where the GPU has it, else fp32 (also on the CPU)")
    c.set("fp16", note="see bf16")
    tf32 = c.value("tf32")
    c.set("tf32", tf32=tf32 in ("auto", True), note="auto: on (Ampere+ GPUs)" if tf32 == "auto" else "")
    gc = c.value("gradient_checkpointing")
    if gc not in (True, False):
        c.fail("gradient_checkpointing", f"{gc!r}: qgen checkpoints on the device (true | false), no offload")
    c.set("gradient_checkpointing", gradient_checkpointing=gc, note="non-reentrant" if gc else "")
    c.set("group_by_length", group_by_length=bool(c.value("group_by_length")))


def _run(c: _Converter) -> None:
    size = c.number("val_set_size")
    c.set("val_set_size", valid_size=size, note="a fraction < 1 or a count; qgen's seeded draw, not Axolotl's")
    for key, setting, when in (("eval_steps", "eval_steps", "validate at epoch ends"),
                               ("save_steps", "save_steps", "save last/ at each validation and at the end")):
        if c.value(key) is None:
            c.set(key, note=f"unset: {when}", **{setting: 0})
        elif c.number(key) < 1:
            c.fail(key, f"{c.value(key)!r} is a fraction of all steps; give a whole number of steps")
        else:
            c.set(key, **{setting: c.number(key, int, 1)})
    out = str(c.value("output_dir"))
    c.set("output_dir", output_dir=out, note="best/ and last/ inside it")
    c.set("train_on_inputs", train_on_inputs=bool(c.value("train_on_inputs")),
          note="false: the prompt is labelled IGNORE, only the output carries loss")
    _special_tokens(c)
    c.set("early_stopping_patience", early_stopping_patience=c.number("early_stopping_patience", int)
          if c.value("early_stopping_patience") is not None else 0)
    resume = c.value("resume_from_checkpoint")
    if resume is not None and str(resume).rstrip("/") not in (out.rstrip("/"), f"{out.rstrip('/')}/last"):
        c.fail("resume_from_checkpoint", f"{resume!r}: qgen resumes from output_dir/last/ only; set it to "
                                         f"{out.rstrip('/')}/last or leave it out and pass --resume")
    c.set("resume_from_checkpoint", resume=resume is not None)
    c.set("seed", seed=c.number("seed", int) if c.value("seed") is not None else 42, note="unset: 42 (HF's)")
    if c.value("logging_steps") is not None:
        c.set("logging_steps", log_steps=c.number("logging_steps", int, 1))


def _special_tokens(c: _Converter) -> None:
    tokens = c.value("special_tokens") or {}
    if not isinstance(tokens, dict):
        c.fail("special_tokens", "expected a mapping such as {pad_token: ..., additional_special_tokens: [...]}")
    for name in tokens:
        if name not in ("pad_token", "additional_special_tokens") and tokens[name] is not None:
            c.fail(f"special_tokens.{name}", "qgen keeps the tokenizer's own bos/eos/unk tokens; save the tokenizer "
                                             "with the token you want and use that directory as base_model")
    added = [str(t) for t in tokens.get("additional_special_tokens") or []]
    c.set("special_tokens", add_special_tokens=added,
          note="pad_token: padding is masked out of attention and loss, qgen pads with the tokenizer's pad (or EOS)"
          if tokens.get("pad_token") else "")


def convert(data: dict, source: str = "config") -> tuple[dict, list[Row]]:
    """(flat qgen settings, the mapping table) for an Axolotl config; QgenInputError for a key qgen cannot honour."""
    c = _Converter(data, source)
    for key in REQUIRED:
        if data.get(key) in (None, ""):
            c.fail(key, "missing (Axolotl requires it too)")
    for key, v in data.items():
        if key not in DEFAULTS and not (v in (None, "", [], {}) or (key in OFF_SWITCHES and v is False)):
            c.fail(str(key), f"set to {v!r}, which qgen has no setting for; remove it or leave it empty "
                             "(README: Coming from Axolotl lists the keys)")
    for step in (_model, _dataset, _adapter, _schedule, _precision, _run):
        step(c)
    ignored = [k for k, v in data.items() if k not in DEFAULTS]
    if ignored:
        c.rows.append(Row(", ".join(map(str, ignored)), "empty / false", "-", "nothing to do: off or unset"))
    return c.out, c.rows


def format_table(rows: list[Row]) -> str:
    """The mapping as a Markdown table (Axolotl key | value | qgen setting | note)."""
    lines = ["| Axolotl key | value | qgen setting | note |", "| --- | --- | --- | --- |"]
    cell = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731  (a token such as <|endoftext|>)
    lines += [f"| {cell(r.key)} | {cell(r.given)} | {cell(r.qgen)} | {cell(r.note)} |" for r in rows]
    return "\n".join(lines)
