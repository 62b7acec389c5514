"""The training configuration: typed dataclass groups that are at once the YAML schema, the CLI and the saved record.

Every field is a flag (`--max-grad-norm`) and a YAML key (`max_grad_norm`, flat, or nested under its group name).
Precedence: defaults below < `--config FILE.yaml` < command-line flags (the flags are derived from these dataclasses by
qgen.cli.dataclass_args; nothing here parses arguments). A choice is a `Literal` type; each group checks its own
fields when built (`check()`, run again by `TrainConfig.check()` once every source is applied), and
`TrainConfig.check()` checks what needs two groups, this machine or the file system. The resolved config is saved
with every checkpoint (`qgen_config.yaml`), and beside it the part inference needs, the `InputSpec`
(`input_spec.json`), so inference rebuilds inputs exactly as training did without reading this config; the LoRA code
gets its part as a `LoraSpec`.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from qgen.core import yaml_file
from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.core.files import write_text
from qgen.core.values import MAX_TOKENS, SEED_MAX, check_choices, check_finite, check_range, coerce
from qgen.data.jsonfile import require_file
from qgen.models.input_spec import InputSpec
from qgen.models.location import check_model_location
from qgen.models.lora_spec import ComputeDtype, LoraSpec, Quantization
from qgen.training import axolotl

Task = Literal["auto", "aqg", "aqg_hl", "qa", "quiz", "lm"]
Lang = Literal["ja", "ko", "en"]  # qgen.core.text.LANGS: the languages text is normalised for
ContextWindow = Literal["full", "sentence"]  # qgen.models.input_spec.CONTEXT_WINDOWS: what inference can rebuild
PromptFormat = Literal["auto", "chat", "raw", "opencalm", "alpaca", "ja-chat", "axolotl-alpaca"]  # formats.templates
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Optimizer = Literal["adamw", "sgd", "adamw8bit", "paged_adamw8bit"]
Scheduler = Literal["linear", "cosine", "constant"]
Metric = Literal["valid_loss", "valid_ppl", "valid_accuracy"]
METRICS: dict[str, str] = {"valid_loss": "min", "valid_ppl": "min", "valid_accuracy": "max"}  # best/: lower or higher


def _f(default: Any, help_: str, **kw: Any) -> Any:
    """A field with its flag's help (qgen.cli.dataclass_args); a list default is copied for each instance."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help_, **kw})
    return field(default=default, metadata={"help": help_, **kw})


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


SPEC = InputSpec()  # the input settings' defaults live in qgen.models.input_spec (inference's fallback too)


class SettingsGroup:
    """A settings group: checked when built and again by `TrainConfig.check` (a file or a flag may set a field later)."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ValueError `field: reason` for the first field that is NaN or infinite, or not one of its type's choices."""
        check_finite(self)  # first: NaN passes every range check below, as every comparison with it is false
        check_choices(self)


@dataclass
class ModelArgs(SettingsGroup):
    """The model and how its inputs are built (the part inference needs is saved as the `InputSpec`)."""

    model: str = _f("tiny-t5", "hub id, local directory, or a built-in offline model: tiny-t5, tiny-gpt2, tiny-gpt-neox, tiny-llama")
    task: Task = _f(SPEC.task, "what the data trains; auto guesses it from the training data")
    lang: Lang = _f(SPEC.lang, "normalisation language of the inputs")
    prompt_format: PromptFormat = _f(SPEC.prompt_format, "causal models' prompt around the source; auto: the "
                                     "tokenizer's chat template when it has one, else opencalm")
    max_source_len: int = _f(SPEC.max_source_len, "seq2seq: source tokens kept")
    max_target_len: int = _f(SPEC.max_target_len, "seq2seq: target tokens kept")
    max_len: int = _f(SPEC.max_len, "causal: prompt + target tokens kept (the prompt is cut from the left)")
    train_on_inputs: bool = _f(False, "causal: the loss also covers the prompt (off = only the target, the prompt "
                               "labelled IGNORE)")
    precision: Precision = _f("auto", "auto = bf16 where supported, else fp32 for T5, fp16 on fp16-only GPUs")
    tf32: bool = _f(True, "allow TF32 matmuls on Ampere+ GPUs")
    add_special_tokens: list[str] = _f([], "tokens added to the tokenizer (embeddings resized), e.g. <hl>")
    gradient_checkpointing: bool = _f(False, "recompute activations in backward to save memory")
    trust_remote_code: bool = _f(SPEC.trust_remote_code, "run model code from the hub (off unless you trust it)")
    context_window: ContextWindow = _f(SPEC.context_window, "the context your aqg / aqg_hl data gives the model "
                                       "(prepare_jsquad.py --context-window); saved in input_spec.json, so predict.py "
                                       "and generate.py cut a paragraph input to the answer's sentence as in training")

    def check(self) -> None:
        """Lengths a tokenizer and the position tables can hold."""
        super().check()
        for name, low in (("max_source_len", 1), ("max_target_len", 1), ("max_len", 2)):
            check_range(name, getattr(self, name), low, MAX_TOKENS)


@dataclass
class DataArgs(SettingsGroup):
    """The training and validation data and how they are batched."""

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

    def check(self) -> None:
        """Batch sizes of at least one example; one way of choosing the validation examples."""
        super().check()
        for name, low in (("batch_size", 1), ("valid_batch_size", 1), ("max_tokens", 0)):
            check_range(name, getattr(self, name), low)
        if self.valid_size < 0 or (self.valid_size >= 1 and self.valid_size != int(self.valid_size)):
            raise ValueError(f"valid_size: expected a fraction in [0, 1) or a whole count, got {self.valid_size}")
        if self.valid_size and self.valid_file:
            raise ValueError("valid_size: give valid_file or valid_size, not both")


@dataclass
class OptimArgs(SettingsGroup):
    """The optimiser, its learning-rate schedule and how long it runs."""

    optimizer: Optimizer = _f("adamw", "sgd: momentum 0.9, linear in the gradients, so it does not amplify float "
                              "rounding as Adam does; adamw8bit, paged_adamw8bit: bitsandbytes, Adam's moments in 8 "
                              "bits, 2 bytes of state a parameter instead of 8 (paged: CUDA only)")
    lr: float = _f(3e-4, "peak learning rate")
    weight_decay: float = _f(0.0, "AdamW weight decay (not applied to biases and norms)")
    adam_beta1: float = _f(0.9, "AdamW beta1")
    adam_beta2: float = _f(0.999, "AdamW beta2")
    adam_eps: float = _f(1e-8, "AdamW epsilon")
    scheduler: Scheduler = _f("linear", "the learning rate's shape after warmup")
    warmup_ratio: float = _f(0.0, "warmup as a fraction of all optimiser steps")
    warmup_steps: int = _f(0, "warmup in optimiser steps (overrides warmup_ratio when > 0)")
    max_grad_norm: float = _f(1.0, "clip the global gradient norm (0 = no clipping)")
    grad_accum: int = _f(1, "micro-batches per optimiser step")
    epochs: float = _f(3.0, "passes over the training data (max_steps wins when set)")
    max_steps: int = _f(0, "optimiser steps to run (0 = decided by epochs)")

    def check(self) -> None:
        """A positive learning rate and epsilon, Adam's betas and the warmup fraction below 1, a length to train."""
        super().check()
        for name, low in (("grad_accum", 1), ("max_steps", 0), ("warmup_steps", 0), ("weight_decay", 0),
                          ("max_grad_norm", 0)):
            check_range(name, getattr(self, name), low)
        check_range("lr", self.lr, above=0)
        check_range("adam_eps", self.adam_eps, above=0)
        for name in ("adam_beta1", "adam_beta2", "warmup_ratio"):
            check_range(name, getattr(self, name), 0, below=1)
        if self.epochs <= 0 and self.max_steps == 0:
            raise ValueError("epochs: must be positive when max_steps is 0")


@dataclass
class RunArgs(SettingsGroup):
    """Where the run writes, when it validates, saves and stops, and what it logs."""

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
    metric: Metric = _f("valid_loss", "validation metric choosing best/ (lower is better for *loss and *ppl)")
    early_stopping_patience: int = _f(0, "stop after N validations without improvement (0 = off)")
    max_nonfinite_steps: int = _f(5, "stop after N consecutive skipped non-finite steps")
    seed: int = _f(42, "seed for weights init, shuffling and dropout")
    resume: bool = _f(False, "continue from output_dir/last/ exactly where it stopped")
    overwrite: bool = _f(False, "start over in an output_dir that holds a finished run: its best/ and last/ are "
                         "removed first (without it such a directory is refused)")
    log_steps: int = _f(10, "log training loss every N optimiser steps")
    max_minutes: float = _f(0.0, "stop (validate and save) after this much training wall time (0 = no limit)")
    verbose: bool = _f(False, "also show transformers' loading/saving bars and warnings (quiet by default)")

    def check(self) -> None:
        """Counts of steps that can happen, a seed numpy takes, a smoothing below 1, a directory to write to."""
        super().check()
        for name, low in (("eval_steps", 0), ("save_steps", 0), ("log_steps", 1), ("max_nonfinite_steps", 1),
                          ("early_stopping_patience", 0), ("max_minutes", 0)):
            check_range(name, getattr(self, name), low)
        check_range("threads", self.threads, 0, _cpus())  # more than the CPUs only slows down; far more crashes torch
        check_range("seed", self.seed, 0, SEED_MAX)
        check_range("label_smoothing", self.label_smoothing, 0, below=1)
        if not self.output_dir.strip():
            raise ValueError("output_dir: empty (give a directory; '.' for the current one)")


@dataclass
class LoraArgs(SettingsGroup):
    """LoRA / QLoRA (lora_r 0: full fine-tuning); the LoRA code gets them as a `LoraSpec`."""

    lora_r: int = _f(0, "LoRA rank (0 = full fine-tuning)")
    lora_alpha: int = _f(16, "LoRA alpha")
    lora_dropout: float = _f(0.05, "LoRA dropout")
    lora_target_modules: list[str] = _f([], "modules to adapt (empty = per-architecture default)")
    quantization: Quantization = _f("none", "QLoRA with bitsandbytes: the base weights in 4 or 8 bits")
    double_quant: bool = _f(True, "4bit: nested quantisation of the constants")
    compute_dtype: ComputeDtype = _f("auto", "4bit compute dtype (auto: the precision, else bf16/fp16 on CUDA, "
                                     "fp32 on the CPU)")


@dataclass
class DistArgs(SettingsGroup):
    """Several processes under torchrun: DDP or FSDP, and how long a collective waits."""

    fsdp: bool = _f(False, "shard parameters with FSDP under torchrun (DDP otherwise); last/ is then a sharded "
                    "torch.distributed.checkpoint (each rank writes its own shard; `qgen export` makes it a plain model)")
    dist_timeout: float = _f(1800.0, "seconds a collective waits for the other ranks before the run stops with an "
                             "error (a hung or stopped rank); the process group's timeout")

    def check(self) -> None:
        """A collective timeout that lets a collective finish."""
        super().check()
        if not self.dist_timeout > 0:
            raise ValueError(f"dist_timeout: must be positive (seconds), got {self.dist_timeout}")


GROUPS = {"model": ModelArgs, "data": DataArgs, "optim": OptimArgs, "run": RunArgs, "lora": LoraArgs, "dist": DistArgs}


@dataclass
class TrainConfig:
    """One run's settings in groups; `check()` says before any work whether they can train, `lora_spec()` and
    `input_spec()` are the parts the models layer and inference take."""

    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    optim: OptimArgs = field(default_factory=OptimArgs)
    run: RunArgs = field(default_factory=RunArgs)
    lora: LoraArgs = field(default_factory=LoraArgs)
    dist: DistArgs = field(default_factory=DistArgs)

    def __post_init__(self) -> None:
        self.sources: dict[str, str] = {}  # setting -> where its value came from (a YAML file, "command line"), for errors
        self._lora: tuple[dict, LoraSpec] | None = None  # the spec last built and checked, with what it was built from

    def to_dict(self) -> dict:
        """The settings grouped as saved in `qgen_config.yaml` (and read back by `from_dict`)."""
        return dataclasses.asdict(self)

    def check(self) -> None:
        """A QgenInputError naming the first setting that cannot train (and the --config file it came from), before
        any model is loaded or anything written: each group's checks again (a file or a flag may have set a field
        since it was built), the loss and optimiser this machine has, the LoRA settings, the files named."""
        try:
            for name in GROUPS:
                getattr(self, name).check()
            self._check_together()
        except ValueError as e:
            raise self._input_error(e) from None
        self.lora_spec()
        self._check_files()

    def _input_error(self, e: ValueError) -> QgenInputError:
        """`field: reason` as a QgenInputError naming the field and the --config file that set it."""
        name, _, reason = str(e).partition(": ")
        source = self.sources.get(name)
        return QgenInputError(reason, path=source if source not in (None, "command line") else None, field=name)

    def _check_together(self) -> None:
        """ValueError `field: reason` for a loss not registered, an 8-bit optimiser without bitsandbytes or CUDA,
        quantised weights under FSDP."""
        from qgen.training import losses  # torch: the registry holds loss functions; `train.py --help` stays fast

        if self.run.loss not in losses.names():
            raise ValueError(f"loss: expected one of {', '.join(losses.names())}, got {self.run.loss!r}")
        optimizer = self.optim.optimizer
        if optimizer.endswith("8bit"):  # bitsandbytes' (qgen.training.schedule)
            try:
                import bitsandbytes  # noqa: F401 — checked here so a missing package is one line, not a traceback
            except ImportError:
                raise ValueError(f"optimizer: {optimizer} needs bitsandbytes (pip install bitsandbytes)") from None
            import torch  # torch: only for the 8-bit optimisers, as above

            if optimizer.startswith("paged") and not torch.cuda.is_available():
                raise ValueError("optimizer: paged_adamw8bit pages GPU memory: it needs CUDA (use adamw8bit on the CPU)")
        if self.lora.quantization != "none" and self.dist.fsdp:
            raise ValueError("fsdp: --fsdp with --quantization is not supported; use DDP (drop --fsdp) for QLoRA")

    def _check_files(self) -> None:
        """The data files exist; a model named by a local path is there (a mistyped path is "not found", not a hub
        error)."""
        if not self.data.train_file:
            raise QgenInputError("no training file given (--train-file)", field="train_file")
        for name in ("train_file", "valid_file"):
            if getattr(self.data, name):
                require_file(getattr(self.data, name), field=name)  # missing, or a directory: said which
        check_model_location(self.model.model)

    def lora_spec(self) -> LoraSpec:
        """What qgen.models.lora needs, checked as it is built (a QgenInputError naming the setting); built once while
        the settings it comes from stay the same, so the checks run once a run."""
        lo, m = self.lora, self.model
        dtype = m.precision if lo.compute_dtype == "auto" and m.precision != "auto" else lo.compute_dtype
        values: dict[str, Any] = {"lora_r": lo.lora_r, "lora_alpha": lo.lora_alpha, "lora_dropout": lo.lora_dropout,
                                  "lora_target_modules": tuple(lo.lora_target_modules), "quantization": lo.quantization,
                                  "double_quant": lo.double_quant, "compute_dtype": dtype,
                                  "gradient_checkpointing": m.gradient_checkpointing,
                                  "added_tokens": tuple(t for t in m.add_special_tokens if t)}
        if self._lora is None or self._lora[0] != values:
            try:
                self._lora = values, LoraSpec(**values)
            except ValueError as e:
                raise self._input_error(e) from None
        return self._lora[1]

    def input_spec(self) -> InputSpec:
        """What inference needs of this config: how inputs are built."""
        kinds = typing.get_type_hints(InputSpec)  # coerced: a value set from Python (e.g. a numpy int) still saves
        return InputSpec(**{name: coerce(getattr(self.model, name), kind) for name, kind in kinds.items()})

    def save(self, directory: str | Path) -> None:
        """`qgen_config.yaml` and `input_spec.json` into `directory` (inside a checkpoint's atomic write)."""
        write_text(Path(directory) / SAVED_NAME, yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False))
        self.input_spec().save(directory)


def _fields() -> typing.Iterator[tuple[str, dataclasses.Field]]:
    """(group name, field) for every field; field names are unique across groups so YAML may be flat."""
    for group, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            yield group, f


def _value_type(kind: Any) -> Any:
    """The type a setting's value is read as: a `Literal`'s choices are strings (checked by the group)."""
    return type(typing.get_args(kind)[0]) if typing.get_origin(kind) is Literal else kind


_TYPES = {name: {f: _value_type(k) for f, k in typing.get_type_hints(cls).items()} for name, cls in GROUPS.items()}


def _coerce(value: Any, group: str, name: str, source: str) -> Any:
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
    """`data`'s settings set on `cfg` (coerced to each field's type, not yet checked: `cfg.check()` does, after every
    source is applied); each remembered as coming from `source`."""
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


def load_yaml(path: str | Path, *, refuse_trust: bool = True) -> TrainConfig:
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


def load_saved(directory: str | Path) -> TrainConfig:
    """The config saved beside a checkpoint (`best/`, `last/`); its trust_remote_code is a record, never honoured."""
    return load_yaml(Path(directory) / SAVED_NAME, refuse_trust=False)
