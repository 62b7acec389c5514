"""Load what inference needs from a checkpoint: model, tokenizer, sequence format and how training built its inputs.

A checkpoint is a `save_pretrained` directory (`runs/x/best`), a LoRA adapter directory (peft's `adapter_config.json`
beside the tokenizer and `qgen_config.yaml`; loaded with qgen.models.lora over the base model the adapter names, and
merged unless quantised), a GPTQ / AWQ checkpoint (qgen.models.quantized, GPT-QModel), or a hub name.
The saved `InputSpec` (qgen.models.input_spec: `input_spec.json`, or for a checkpoint written before it the keys of
its `qgen_config.yaml`) says how inputs were built in training (task, lang, prompt format, lengths); without one the
defaults apply and the caller may override task / lang. Inference never reads the training config itself.

Trust: a model's own Python code (`auto_map` in its config) runs only when the caller passes `trust_remote_code=True`
(the user's `--trust-remote-code`), never because a file in the directory says so — a shared checkpoint could carry
a `trust_remote_code: true` in its input_spec.json beside a `.py` file. Without the flag transformers uses its own
class for a known `model_type` and refuses an unknown one; the saved flag only adds a hint to that refusal.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.core.values import TRUE
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import INPUT_SPEC_NAME, InputSpec, read_input_spec
from qgen.models.loading import (
    check_tokenizer_files,
    load_config,
    load_model,
    load_tokenizer,
    model_kind,
    resolve,
)
from qgen.models.location import check_model_location
from qgen.models.quantized import load_quantized, quant_method
from qgen.models.weights_file import check_weights

if TYPE_CHECKING:  # torch: imported where a model is loaded
    from qgen.models.formats.causal import CausalFormat
    from qgen.models.formats.seq2seq import Seq2SeqFormat

log = logging.getLogger(__name__)
ADAPTER_CONFIG = "adapter_config.json"


@dataclass
class InferenceModel:
    """A loaded checkpoint with what inference needs to build its inputs as training did."""

    model: Any  # a transformers PreTrainedModel (LoRA weights merged in when possible), in eval mode
    tokenizer: Any
    format: Seq2SeqFormat | CausalFormat  # built with the saved lengths / prompt format (make_format)
    kind: str  # "seq2seq" | "causal"
    spec: InputSpec  # as saved (task / lang overridden when the caller asked)
    path: str
    has_saved_config: bool  # the directory had a saved spec (input_spec.json or qgen_config.yaml)

    @property
    def task(self) -> str:
        """The task the checkpoint was trained for (or the caller's override)."""
        return self.spec.task

    @property
    def lang(self) -> str:
        """The normalisation language of its inputs."""
        return self.spec.lang

    @property
    def device(self) -> Any:
        """The device the model's weights are on (a torch.device)."""
        return next(self.model.parameters()).device


def _torch_dtype(name: str, device: str):
    import torch  # torch: importing this module (generate.py, summarize.py --help) stays fast

    from qgen.models.dtypes import DTYPES, gpu_half  # torch, as above

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_available():
            return gpu_half()
        return torch.float32
    return DTYPES[name]


def _resolve_device(device: str) -> str:
    """`device` checked before anything is loaded (an unknown name, CUDA on a CPU build, a GPU index not there)."""
    import torch  # torch, as above

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise QgenInputError(f"unknown device {device!r} (cpu, cuda, cuda:N, auto)", field="--device") from None
    if kind.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise QgenInputError(f"{device!r}: no CUDA GPU here (torch {torch.__version__}"
                                 f"{', a CPU-only build' if torch.version.cuda is None else ''}); use --device cpu",
                                 field="--device")
        if kind.index is not None and kind.index >= count:
            raise QgenInputError(f"{device!r}: only {count} CUDA GPU(s) here", field="--device")
    return device


def load_inference_model(name_or_path: str, *, device: str = "cpu", dtype: str = "auto", merge_lora: bool = True,
                         task: str | None = None, lang: str | None = None,
                         trust_remote_code: bool = False) -> InferenceModel:
    """Load a checkpoint / LoRA adapter dir / hub model for generation; `task` and `lang` override the saved spec;
    `trust_remote_code` is the user's own choice (never read from the checkpoint)."""
    try:
        return _load(str(name_or_path), device, dtype, merge_lora, task, lang, trust_remote_code is True)
    except QgenInputError:
        raise
    except (OSError, ValueError) as e:  # unreadable / incomplete checkpoint, unknown hub name offline …
        hint = ""
        if not trust_remote_code and "trust_remote_code" in str(e):
            hint = (" (the model needs its own Python code: pass --trust-remote-code only if you trust the code in "
                    "that directory or repository)")
        raise QgenInputError(f"cannot load the model: {_first_line(e)}{hint}", path=name_or_path) from None
    except Exception as e:  # a damaged file the loaders report in their own way: named here, never a traceback
        raise damaged_file_error(Path(resolve(str(name_or_path))), e) from None


def _first_line(e: Exception) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


TOKENIZER_FILE = "tokenizer.json"


def damaged_file_error(path: Path, e: Exception, what: str | None = None) -> QgenInputError:
    """One line for a checkpoint file a loader failed on: weights whose shapes do not fit config.json, a pickle
    that is not plain weights, any other damage (`what`, else the loader's first line)."""
    text = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    if path.is_dir() and ("mismatched_sizes" in text or "size mismatch" in text):
        return QgenInputError("does not fit the saved weights (a tensor's shape differs from what this config "
                              "describes: was it edited?)", path=path / "config.json")
    if path.is_dir() and isinstance(e, pickle.UnpicklingError):
        pickled = sorted(path.glob("*.bin")) or [path]
        return QgenInputError("not plain weights: a pickle holding code or other objects (refused; nothing in it was "
                              "run; save the model as safetensors)", path=pickled[0])
    return QgenInputError(f"{what or 'cannot load the model'}: {type(e).__name__}: {text}", path=path)


def check_model(name_or_path: str | Path) -> tuple[str, InputSpec | None]:
    """(the loadable name, its saved InputSpec or None): every check that needs no torch — the directory exists and
    holds a model, its weights file is whole, its spec is valid. Commands call it before importing torch, so a
    mistyped path is reported at once rather than after seconds of imports."""
    try:
        return _check_model(name_or_path)
    except QgenInputError:
        raise
    except (OSError, ValueError) as e:  # e.g. an untrained tiny-* name, an unreadable directory
        raise QgenInputError(f"cannot load the model: {e}", path=name_or_path) from None


def _check_model(name_or_path: str | Path) -> tuple[str, InputSpec | None]:
    """check_model's work; errors other than QgenInputError are its caller's to name."""
    name_or_path = resolve(str(name_or_path))  # a shipped model's name → its directory in the package
    path = Path(name_or_path)
    is_dir = path.is_dir()
    check_model_location(name_or_path, field="--model")  # a path that is not a directory never goes to the hub
    if is_dir and not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        raise QgenInputError("not a model directory (no config.json or adapter_config.json)", path=path)
    if not is_dir:
        _check_offline_cache(name_or_path)
        return name_or_path, None
    spec = read_input_spec(path)  # a bad setting there is the first thing to fix
    check_weights(path)  # a truncated weights file is named here, not a loader traceback
    check_tokenizer_files(path)  # never a tokenizer transformers builds in place of a missing one
    return name_or_path, spec


def _check_offline_cache(name: str) -> None:
    """Offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE), a hub name must be in the local cache: said at once, not by
    transformers' "couldn't connect" after the imports."""
    from huggingface_hub import constants, try_to_load_from_cache  # ~0.1 s, only for a hub name

    if not (constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in TRUE):
        return
    if not any(isinstance(try_to_load_from_cache(name, f), str) for f in ("config.json", ADAPTER_CONFIG)):
        raise QgenInputError("no such model directory, and not in the local hub cache (offline: HF_HUB_OFFLINE or "
                             "TRANSFORMERS_OFFLINE is set, so nothing is downloaded)", path=name, field="--model")


def _load(name_or_path: str, device: str, dtype: str, merge_lora: bool, task: str | None,
          lang: str | None, trust: bool) -> InferenceModel:
    name_or_path, saved = _check_model(name_or_path)
    path = Path(name_or_path)
    is_dir = path.is_dir()
    spec = saved or InputSpec()
    if saved is None:
        log.warning("%s has no %s or %s: using default input settings (task %s, lang %s)", name_or_path,
                    INPUT_SPEC_NAME, SAVED_NAME, task or spec.task, lang or spec.lang)
    spec = dataclasses.replace(spec, task=task or spec.task, lang=lang or spec.lang)
    # `trust` is the caller's; spec.trust_remote_code (how training ran) is a record, never permission to run code
    device = _resolve_device(device)
    torch_dtype = _torch_dtype(dtype, device)

    if is_dir and (path / ADAPTER_CONFIG).is_file():
        # qgen.models.lora's loader: base grown to the adapter's tokenizer (added tokens), adapter applied, merged
        from qgen.models.lora import adapter_base, load_adapter_model  # torch, as above

        _, kind = adapter_base(path)
        model, tokenizer = load_adapter_model(path, merge=merge_lora, dtype=torch_dtype, trust_remote_code=trust)
    else:
        config = load_config(str(name_or_path), trust)
        kind, method = model_kind(config), quant_method(config)
        if method:  # GPTQ / AWQ weights: through GPT-QModel (the [gptq] extra), qgen.models.quantized
            model = load_quantized(str(name_or_path), method, device, torch_dtype, trust)
        else:
            model = load_model(str(name_or_path), kind, trust_remote_code=trust, dtype=torch_dtype)
        try:
            tokenizer = load_tokenizer(str(name_or_path), trust)
        except Exception as e:  # a malformed tokenizer.json fails with a KeyError or the tokenizers library's error
            raise damaged_file_error(path / TOKENIZER_FILE if (path / TOKENIZER_FILE).is_file() else path, e,
                                     "unreadable tokenizer") from None
    model.to(device)
    model.eval()
    sequence_format = make_format(kind, tokenizer, spec)
    return InferenceModel(model, tokenizer, sequence_format, kind, spec, str(name_or_path), saved is not None)
