"""Load a tokenizer and model by hub name, local path or built-in tiny name; the kind (seq2seq / causal) is read
from its config."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgen.core.errors import PathArg, QgenInputError
from qgen.models import pretrained
from qgen.models.tiny import build_tiny, is_tiny
from qgen.models.weights_file import stored_values

if TYPE_CHECKING:  # torch and transformers: imported where a model is loaded, named here for their types only
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        PretrainedConfig,
        PreTrainedModel,
        PreTrainedTokenizerBase,
    )


def resolve(name_or_path: str, texts: Iterable[str] | None = None, cache_dir: PathArg | None = None) -> str:
    """Return a loadable name/path; a `tiny-*` name is built from `texts` into `cache_dir` (reused when present), a
    shipped model's name (`qgen-small-ja`) is its directory inside the package (write `./qgen-small-ja` for a local
    directory of that name)."""
    if pretrained.is_builtin(name_or_path):
        return str(pretrained.path(name_or_path))
    if is_tiny(name_or_path):
        if cache_dir is None:
            raise ValueError(f"{name_or_path} is an untrained built-in model that train.py builds from its training texts; "
                             "give a trained directory instead (e.g. runs/<name>/best)")
        cached = Path(cache_dir) / name_or_path
        if texts is None and not (cached / "config.json").is_file():
            raise ValueError(f"{name_or_path} is built from training texts; none given and none cached in {cache_dir}")
        return str(build_tiny(name_or_path, texts or [], cache_dir))
    return str(name_or_path)


# A saved tokenizer's vocabulary: one of these beside tokenizer_config.json. Without any, transformers builds a
# tokenizer of a few special tokens on the fly and a run trains (and saves) on that.
VOCAB_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "vocab.txt")


def check_tokenizer_files(directory: PathArg) -> None:
    """A saved model directory holds its tokenizer: tokenizer_config.json and a vocabulary file (QgenInputError)."""
    directory = Path(directory)
    if not (directory / "tokenizer_config.json").is_file():
        raise QgenInputError("missing (the saved tokenizer is incomplete)", path=directory / "tokenizer_config.json")
    if not any((directory / name).is_file() for name in VOCAB_FILES):
        raise QgenInputError(f"missing (no tokenizer vocabulary: none of {', '.join(VOCAB_FILES)}); a tokenizer "
                             f"built in its place would not be the model's", path=directory / VOCAB_FILES[0])


def model_kind(config: PretrainedConfig) -> str:
    """"seq2seq" for encoder-decoder configs (T5, mT5, BART …), else "causal" (GPT-2, GPT-NeoX, Llama …)."""
    return "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"


# model types whose positions are a learned table (a longer sequence indexes past it), and the config key of its size
_POSITION_TABLE = {"gpt2": "n_positions", "gpt_bigcode": "n_positions", "openai-gpt": "n_positions",
                   "ctrl": "n_positions", "bart": "max_position_embeddings", "mbart": "max_position_embeddings",
                   "opt": "max_position_embeddings", "gpt_neo": "max_position_embeddings",
                   "blenderbot": "max_position_embeddings", "marian": "max_position_embeddings",
                   "pegasus": "max_position_embeddings", "xglm": "max_position_embeddings"}


def check_positions(config: PretrainedConfig, where: str, lengths: dict[str, int]) -> None:
    """QgenInputError naming the first of `lengths` (setting -> positions it needs) beyond the model's learned ones
    (GPT-2's 1024 …: past them a forward pass fails with an index error); relative or rotary positions (T5, Llama,
    GPT-NeoX) have no such table and no limit here."""
    key = _POSITION_TABLE.get(getattr(config, "model_type", ""))
    limit = getattr(config, key, None) if key else None
    for name, n in lengths.items():
        if limit and n > limit:
            raise QgenInputError(f"needs {n} positions, the model ({config.model_type}) has {limit}", path=where,
                                 field=name)


def load_config(name_or_path: str, trust_remote_code: bool = False) -> PretrainedConfig:
    """The config alone (no weights): enough to tell the model's kind and position limits before loading it."""
    from transformers import AutoConfig  # transformers: only when a model is loaded

    return AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer, given a pad token when it has none: every batch qgen builds is padded."""
    from transformers import AutoTokenizer  # as above

    tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:  # GPT-2 / Llama ship without one; padding positions are masked anyway
        tok.pad_token = tok.eos_token
    return tok


def load_model(name_or_path: str, kind: str | None = None, trust_remote_code: bool = False,
               **kwargs: Any) -> PreTrainedModel:
    """Load weights (safetensors preferred by transformers) with the Auto class for `kind`, refusing weights that do
    not fit the config or are not finite (`check_loaded`)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM  # as above

    if kind is None:
        kind = model_kind(load_config(name_or_path, trust_remote_code))
    cls = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    if "quantization_config" not in kwargs:
        check_size(name_or_path, cls, trust_remote_code)
    model, info = cls.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, output_loading_info=True,
                                      **kwargs)
    check_loaded(name_or_path, info, model)
    return model


def check_size(name_or_path: str, cls: type[AutoModelForSeq2SeqLM] | type[AutoModelForCausalLM],
               trust_remote_code: bool = False) -> None:
    """Before any weight is allocated: a local directory whose config describes more parameters than its weights files
    hold (e.g. `model_type` edited: a GPT-2 config read as Llama's defaults is a 7B model) is refused, instead of
    building a huge, mostly random model. The model is built on the meta device, which allocates nothing."""
    stored = stored_values(name_or_path)
    if stored is None:
        return
    import torch  # as above

    config = load_config(name_or_path, trust_remote_code)
    if getattr(config, "quantization_config", None):  # packed weights: their count is not the parameters'
        return
    with torch.device("meta"):
        model = cls.from_config(config, trust_remote_code=trust_remote_code)
    needed = sum(p.numel() for p in model.parameters())  # tied weights once, as the file stores them
    if needed > stored:
        raise QgenInputError(f"weights do not fit the model its config.json describes ({needed:,} parameters, the "
                             f"weights files hold {stored:,} values); was config.json edited?", path=name_or_path)


SHOWN_KEYS = 3  # offending weight names an error lists
# Causal-mask buffers older GPT-2 / GPT-NeoX checkpoints saved and today's models rebuild (no learned value): unused
# on load, never a sign of the wrong architecture. transformers ignores most such names itself, not these.
LEGACY_BUFFERS = re.compile(r"(^|\.)(masked_bias|attn\.bias|attention\.bias)$")


def check_loaded(name_or_path: str, info: dict, model: PreTrainedModel) -> None:
    """QgenInputError when loading left checkpoint weights unused, model weights missing (so randomly initialised) or
    of another shape, or gave a non-finite value: transformers only logs these (hidden by qgen's quiet default), and
    the model then runs on random or NaN weights with exit 0. `info` is from_pretrained's `output_loading_info`, which
    already leaves out tied weights and the buffers a model declares optional."""
    problems = [(what, sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get(key) or ()))
                for key, what in (("unexpected_keys", "unused"), ("missing_keys", "missing (randomly initialised)"),
                                  ("mismatched_keys", "of another shape"))]
    problems = [(what, [k for k in keys if what != "unused" or not LEGACY_BUFFERS.search(k)]) for what, keys in problems]
    problems = [(what, keys) for what, keys in problems if keys]
    if problems:
        parts = [f"{len(keys)} {what}: {', '.join(keys[:SHOWN_KEYS])}{' …' if len(keys) > SHOWN_KEYS else ''}"
                 for what, keys in problems]
        raise QgenInputError("weights do not fit the model its config.json describes (" + "; ".join(parts) + ")",
                             path=name_or_path)
    bad = next((name for name, t in float_tensors(model) if not bool(t.isfinite().all())), None)
    if bad is not None:
        raise QgenInputError(f"weight {bad} holds NaN or infinite values", path=name_or_path)


def float_tensors(model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of every floating-point parameter and buffer that holds data (not on the meta device)."""
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.is_floating_point() and t.device.type != "meta":
            yield name, t
