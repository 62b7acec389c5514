"""Load what inference needs from a checkpoint: model, tokenizer, adapter and how training built its inputs.

A checkpoint is a `save_pretrained` directory (`runs/x/best`), a LoRA adapter directory (peft's `adapter_config.json`
beside the tokenizer and `qgen_config.yaml`; loaded with qgen.models.lora over the base model the adapter names, and
merged unless quantised), a GPTQ / AWQ checkpoint (qgen.models.quantized, GPT-QModel), or a hub name.
The saved `InputSpec` (qgen.models.input_spec: `input_spec.json`, or for a checkpoint written before it the keys of
its `qgen_config.yaml`) says how inputs were built in training (task, lang, prompt format, lengths); without one the
defaults apply and the caller may override task / lang. Inference never reads the training config itself.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from qgen.core.constants import SAVED_NAME
from qgen.core.errors import QgenInputError
from qgen.models.input_spec import INPUT_SPEC_NAME, InputSpec, read_input_spec
from qgen.models.loading import load_config, load_model, load_tokenizer, make_adapter, model_kind, resolve
from qgen.models.location import check_model_location
from qgen.models.quantized import load_quantized, quant_method
from qgen.models.weights_file import check_weights

log = logging.getLogger(__name__)
ADAPTER_CONFIG = "adapter_config.json"


@dataclass
class InferenceModel:
    model: object  # a transformers PreTrainedModel (LoRA weights merged in when possible), in eval mode
    tokenizer: object
    adapter: object  # Seq2SeqAdapter | CausalAdapter, built with the saved lengths / prompt format
    kind: str  # "seq2seq" | "causal"
    spec: InputSpec  # as saved (task / lang overridden when the caller asked)
    path: str
    has_saved_config: bool  # the directory had a saved spec (input_spec.json or qgen_config.yaml)

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def lang(self) -> str:
        return self.spec.lang

    @property
    def device(self):
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
    import torch  # torch, as above

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_inference_model(name_or_path: str, *, device: str = "cpu", dtype: str = "auto", merge_lora: bool = True,
                         task: str | None = None, lang: str | None = None) -> InferenceModel:
    """Load a checkpoint / LoRA adapter dir / hub model for generation; `task` and `lang` override the saved spec."""
    try:
        return _load(str(name_or_path), device, dtype, merge_lora, task, lang)
    except QgenInputError:
        raise
    except (OSError, ValueError) as e:  # unreadable / incomplete checkpoint, unknown hub name offline …
        raise QgenInputError(f"cannot load the model: {e}", path=name_or_path) from None


def _load(name_or_path: str, device: str, dtype: str, merge_lora: bool, task: str | None,
          lang: str | None) -> InferenceModel:
    name_or_path = resolve(name_or_path)  # a shipped model's name → its directory in the package
    path = Path(name_or_path)
    is_dir = path.is_dir()
    check_model_location(name_or_path, field="--model")  # a path that is not a directory never goes to the hub
    if is_dir and not (path / "config.json").is_file() and not (path / ADAPTER_CONFIG).is_file():
        raise QgenInputError("not a model directory (no config.json or adapter_config.json)", path=path)
    if is_dir:
        check_weights(path)  # a truncated weights file is named here, not a loader traceback
    saved = read_input_spec(path) if is_dir else None
    spec = saved or InputSpec()
    if saved is None:
        log.warning("%s has no %s or %s: using default input settings (task %s, lang %s)", name_or_path,
                    INPUT_SPEC_NAME, SAVED_NAME, task or spec.task, lang or spec.lang)
    spec = dataclasses.replace(spec, **{k: v for k, v in (("task", task), ("lang", lang)) if v})
    trust = spec.trust_remote_code
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
        tokenizer = load_tokenizer(str(name_or_path), trust)
    model.to(device)
    model.eval()
    adapter = make_adapter(kind, tokenizer, max_source_len=spec.max_source_len, max_target_len=spec.max_target_len,
                           max_len=spec.max_len, prompt_format=spec.prompt_format)
    return InferenceModel(model, tokenizer, adapter, kind, spec, str(name_or_path), saved is not None)
