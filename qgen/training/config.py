"""The training configuration: typed dataclass groups that are at once the YAML schema, the CLI and the saved record.

Every field is a flag (`--max-grad-norm`) and a YAML key (`max_grad_norm`, flat, or nested under its group name).
Precedence: defaults below < `--config FILE.yaml` < command-line flags (the flags are derived from these dataclasses by
qgen.cli.train; nothing here parses arguments). The resolved config is saved with every checkpoint
(`qgen_config.yaml`), and beside it the part inference needs, the `InputSpec` (`input_spec.json`), so inference
rebuilds inputs exactly as training did without reading this config.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qgen.core import yaml_file
from qgen.core.constants import SAVED_NAME  # noqa: F401  (re-exported: its old home)
from qgen.core.errors import QgenInputError
from qgen.core.files import write_text
from qgen.core.values import coerce
from qgen.models.input_spec import InputSpec
from qgen.training import axolotl


def _f(default, help_: str, **kw):
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help_, **kw})
    return field(default=default, metadata={"help": help_, **kw})


SPEC = InputSpec()  # the input settings' defaults live in qgen.models.input_spec (inference's fallback too)


@dataclass
class ModelArgs:
    model: str = _f("tiny-t5", "hub id, local directory, or a built-in offline model: tiny-t5, tiny-gpt2, tiny-gpt-neox, tiny-llama")
    task: str = _f(SPEC.task, "aqg | aqg_hl | qa | quiz | lm; auto guesses it from the training data")
    lang: str = _f(SPEC.lang, "normalisation language of the inputs: ja | ko | en")
    prompt_format: str = _f(SPEC.prompt_format, "causal models: auto | chat | raw | opencalm | alpaca | ja-chat")
    max_source_len: int = _f(SPEC.max_source_len, "seq2seq: source tokens kept")
    max_target_len: int = _f(SPEC.max_target_len, "seq2seq: target tokens kept")
    max_len: int = _f(SPEC.max_len, "causal: prompt + target tokens kept (the prompt is cut from the left)")
    train_on_inputs: bool = _f(False, "causal: the loss also covers the prompt (off = only the target, the prompt "
                               "labelled IGNORE)")
    precision: str = _f("auto", "auto | fp32 | bf16 | fp16; auto = bf16 where supported, else fp32 for T5, fp16 on fp16-only GPUs")
    tf32: bool = _f(True, "allow TF32 matmuls on Ampere+ GPUs")
    add_special_tokens: list[str] = _f([], "tokens added to the tokenizer (embeddings resized), e.g. <hl>")
    gradient_checkpointing: bool = _f(False, "recompute activations in backward to save memory")
    trust_remote_code: bool = _f(SPEC.trust_remote_code, "run model code from the hub (off unless you trust it)")
    context_window: str = _f(SPEC.context_window, "full | sentence: the context your aqg / aqg_hl data gives the model "
                             "(prepare_jsquad.py --context-window); saved in input_spec.json, so predict.py and "
                             "generate.py cut a paragraph input to the answer's sentence as in training")


@dataclass
class DataArgs:
    train_file: str = _f("", "TSV (id, source, target), instruction JSON, or JSONL {text}")
    valid_file: str = _f("", "same formats; empty = no validation (best/ is then the last step)")
    valid_size: float = _f(0.0, "without valid_file: hold out this many training examples for validation, a fraction "
                           "when < 1, a count when >= 1, drawn with the seed (0 = none)")
    batch_size: int = _f(16, "examples per micro-batch (ignored when max_tokens is set)")
    max_tokens: int = _f(0, "token budget per micro-batch instead of a fixed count (0 = off)")
    group_by_length: bool = _f(True, "batch examples of similar length together (less padding)")
    valid_batch_size: int = _f(32, "examples per validation batch")
    pack: bool = _f(False, "causal: lay each micro-batch's examples end to end in fewer rows (position ids restart per "
                    "example, attention stays inside it; same loss and gradients, less padding); refused where the "
                    "model's attention does not keep them apart")


@dataclass
class OptimArgs:
    optimizer: str = _f("adamw", "adamw | sgd (momentum 0.9: linear in the gradients, so it does not amplify float rounding as Adam does) | adamw8bit | paged_adamw8bit (bitsandbytes: Adam's moments in 8 bits, 2 bytes of state a parameter instead of 8; paged: CUDA only)")
    lr: float = _f(3e-4, "peak learning rate")
    weight_decay: float = _f(0.0, "AdamW weight decay (not applied to biases and norms)")
    adam_beta1: float = _f(0.9, "AdamW beta1")
    adam_beta2: float = _f(0.999, "AdamW beta2")
    adam_eps: float = _f(1e-8, "AdamW epsilon")
    scheduler: str = _f("linear", "linear | cosine | constant (after warmup)")
    warmup_ratio: float = _f(0.0, "warmup as a fraction of all optimiser steps")
    warmup_steps: int = _f(0, "warmup in optimiser steps (overrides warmup_ratio when > 0)")
    max_grad_norm: float = _f(1.0, "clip the global gradient norm (0 = no clipping)")
    grad_accum: int = _f(1, "micro-batches per optimiser step")
    epochs: float = _f(3.0, "passes over the training data (max_steps wins when set)")
    max_steps: int = _f(0, "optimiser steps to run (0 = decided by epochs)")


@dataclass
class RunArgs:
    output_dir: str = _f("runs/qgen", "where best/, last/, metrics.jsonl, TensorBoard events and loss.png go")
    loss: str = _f("ce", "ce | label_smoothing | a name registered with qgen.training.losses.register")
    label_smoothing: float = _f(0.1, "smoothing for the label_smoothing loss")
    target_logits: bool = _f(True, "causal: project onto the vocabulary only at target positions (the same loss; "
                             "off = the model's full logits)")
    fast_dropout: bool = _f(True, "CPU: draw dropout masks as the gaps between dropped elements (the same Bernoulli(p) "
                            "drops from ~p·n random numbers instead of n), also in the attention of T5 (its position bias "
                            "inside the score matmul) and of GPT-2: T5 steps ~1.3x faster; off = torch's own dropout")
    compile: bool = _f(False, "torch.compile the model (dynamic shapes; the first step's time, compiling included, is logged)")
    threads: int = _f(0, "CPU threads for torch's operators (0 = the cores the machine's load leaves free, at least 1: "
                      "qgen.core.threads)")
    eval_steps: int = _f(0, "validate every N optimiser steps (0 = at epoch ends only)")
    save_steps: int = _f(0, "save last/ every N optimiser steps (0 = at each validation and at the end)")
    metric: str = _f("valid_loss", "validation metric choosing best/ (lower is better for *loss)")
    early_stopping_patience: int = _f(0, "stop after N validations without improvement (0 = off)")
    max_nonfinite_steps: int = _f(5, "stop after N consecutive skipped non-finite steps")
    seed: int = _f(42, "seed for weights init, shuffling and dropout")
    resume: bool = _f(False, "continue from output_dir/last/ exactly where it stopped")
    overwrite: bool = _f(False, "start over in an output_dir that holds a finished run: its best/ and last/ are "
                         "removed first (without it such a directory is refused)")
    log_steps: int = _f(10, "log training loss every N optimiser steps")
    max_minutes: float = _f(0.0, "stop (validate and save) after this much training wall time (0 = no limit)")
    verbose: bool = _f(False, "also show transformers' loading/saving bars and warnings (quiet by default)")


@dataclass
class LoraArgs:
    lora_r: int = _f(0, "LoRA rank (0 = full fine-tuning)")
    lora_alpha: int = _f(16, "LoRA alpha")
    lora_dropout: float = _f(0.05, "LoRA dropout")
    lora_target_modules: list[str] = _f([], "modules to adapt (empty = per-architecture default)")
    quantization: str = _f("none", "none | 4bit | 8bit (QLoRA with bitsandbytes)")
    double_quant: bool = _f(True, "4bit: nested quantisation of the constants")
    compute_dtype: str = _f("auto", "4bit compute dtype: auto | fp32 | bf16 | fp16")


@dataclass
class DistArgs:
    fsdp: bool = _f(False, "shard parameters with FSDP under torchrun (DDP otherwise); last/ is then a sharded "
                    "torch.distributed.checkpoint (each rank writes its own shard; `qgen export` makes it a plain model)")
    dist_timeout: float = _f(1800.0, "seconds a collective waits for the other ranks before the run stops with an "
                             "error (a hung or stopped rank); the process group's timeout")


GROUPS = {"model": ModelArgs, "data": DataArgs, "optim": OptimArgs, "run": RunArgs, "lora": LoraArgs, "dist": DistArgs}


@dataclass
class TrainConfig:
    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    optim: OptimArgs = field(default_factory=OptimArgs)
    run: RunArgs = field(default_factory=RunArgs)
    lora: LoraArgs = field(default_factory=LoraArgs)
    dist: DistArgs = field(default_factory=DistArgs)

    def __post_init__(self):
        self.sources: dict[str, str] = {}  # setting -> where its value came from (a YAML file, "command line"), for errors

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def input_spec(self) -> InputSpec:
        """What inference needs of this config: how inputs are built."""
        kinds = typing.get_type_hints(InputSpec)  # coerced: a value set from Python (e.g. a numpy int) still saves
        return InputSpec(**{name: coerce(getattr(self.model, name), kind) for name, kind in kinds.items()})

    def save(self, directory) -> None:
        """`qgen_config.yaml` and `input_spec.json` into `directory` (inside a checkpoint's atomic write)."""
        write_text(Path(directory) / SAVED_NAME, yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False))
        self.input_spec().save(directory)


def _fields():
    """(group name, field) for every field; field names are unique across groups so YAML may be flat."""
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            yield group, f


_TYPES = {name: typing.get_type_hints(cls) for name, cls in GROUPS.items()}


def _coerce(value, group: str, name: str, source: str):
    kind = _TYPES[group][name]
    try:
        return coerce(value, kind)
    except (TypeError, ValueError):
        what = "a list of non-empty strings" if kind == list[str] else getattr(kind, "__name__", kind)
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise QgenInputError(f"expected {what}, got {shown}", path=source, field=name) from None


def from_dict(data: dict, source: str = "config") -> TrainConfig:
    """Build a config from flat (`lr: 3e-4`) or grouped (`optim: {lr: 3e-4}`) keys; unknown keys are errors."""
    cfg = TrainConfig()
    apply_dict(cfg, data, source)
    return cfg


def apply_dict(cfg: TrainConfig, data: dict, source: str = "config") -> TrainConfig:
    if not isinstance(data, dict):
        raise QgenInputError(f"expected a mapping of settings, got {type(data).__name__}", path=source)
    where = {f.name: g for g, f in _fields()}
    for key, value in data.items():
        key = str(key).replace("-", "_")
        if key in GROUPS and isinstance(value, dict):
            apply_dict(cfg, value, source)
            continue
        if key not in where:
            raise QgenInputError("unknown setting (see train.py --help)", path=source, field=key)
        group = where[key]
        setattr(getattr(cfg, group), key, _coerce(value, group, key, source))
        cfg.sources[key] = source
    return cfg


def load_yaml(path, *, refuse_trust: bool = True) -> TrainConfig:
    """The config in a YAML file. Its `trust_remote_code` is never taken: trust comes from the command line only
    (`--trust-remote-code`), so a shared config cannot make a run import a model's Python code. A `true` there is
    refused (`refuse_trust`: a user's --config, unless their command line says it too) or dropped (a checkpoint's
    saved record)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QgenInputError("config file not found", path=path) from None
    except IsADirectoryError:
        raise QgenInputError("is a directory, expected a YAML config file", path=path) from None
    data = yaml_file.load(text, path) or {}  # duplicate keys and alias bombs are errors naming the file and line
    if axolotl.is_axolotl(data):  # an Axolotl config: its keys mapped (qgen convert-config prints the mapping)
        data, _ = axolotl.convert(data, str(path))
    return _without_trust(from_dict(data, str(path)), path, refuse_trust)


def _without_trust(cfg: TrainConfig, path: Path, refuse: bool) -> TrainConfig:
    if cfg.model.trust_remote_code and refuse:
        raise QgenInputError("never taken from a file: to run the model's own Python code, pass --trust-remote-code "
                             "on the command line (only for code you trust)", path=path, field="trust_remote_code")
    cfg.model.trust_remote_code = False
    return cfg


def load_saved(directory) -> TrainConfig:
    """The config saved beside a checkpoint (`best/`, `last/`); its trust_remote_code is a record, never honoured."""
    return load_yaml(Path(directory) / SAVED_NAME, refuse_trust=False)
