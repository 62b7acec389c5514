"""Load a tokenizer and model by hub name, local path or built-in tiny name; the adapter is chosen from the config."""

from __future__ import annotations

from pathlib import Path

from qgen.core.errors import QgenInputError
from qgen.models import pretrained
from qgen.models.tiny import build_tiny, is_tiny


def resolve(name_or_path: str, texts=None, cache_dir=None) -> str:
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


def model_kind(config) -> str:
    """"seq2seq" for encoder-decoder configs (T5, mT5, BART …), else "causal" (GPT-2, GPT-NeoX, Llama …)."""
    return "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"


# model types whose positions are a learned table (a longer sequence indexes past it), and the config key of its size
_POSITION_TABLE = {"gpt2": "n_positions", "gpt_bigcode": "n_positions", "openai-gpt": "n_positions",
                   "ctrl": "n_positions", "bart": "max_position_embeddings", "mbart": "max_position_embeddings",
                   "opt": "max_position_embeddings", "gpt_neo": "max_position_embeddings",
                   "blenderbot": "max_position_embeddings", "marian": "max_position_embeddings",
                   "pegasus": "max_position_embeddings", "xglm": "max_position_embeddings"}


def check_positions(config, where: str, lengths: dict[str, int]) -> None:
    """QgenInputError naming the first of `lengths` (setting -> positions it needs) beyond the model's learned ones
    (GPT-2's 1024 …: past them a forward pass fails with an index error); relative or rotary positions (T5, Llama,
    GPT-NeoX) have no such table and no limit here."""
    key = _POSITION_TABLE.get(getattr(config, "model_type", None))
    limit = getattr(config, key, None) if key else None
    for name, n in lengths.items():
        if limit and n > limit:
            raise QgenInputError(f"needs {n} positions, the model ({config.model_type}) has {limit}", path=where,
                                 field=name)


def load_config(name_or_path: str, trust_remote_code: bool = False):
    from transformers import AutoConfig  # transformers: only when a model is loaded

    return AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer  # as above

    tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:  # GPT-2 / Llama ship without one; padding positions are masked anyway
        tok.pad_token = tok.eos_token
    return tok


def load_model(name_or_path: str, kind: str | None = None, trust_remote_code: bool = False, **kwargs):
    """Load weights (safetensors preferred by transformers) with the Auto class for `kind`."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM  # as above

    if kind is None:
        kind = model_kind(load_config(name_or_path, trust_remote_code))
    cls = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    return cls.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **kwargs)


def make_adapter(kind: str, tokenizer, **options):
    """The adapter turning examples into ids/labels for `kind`; options are the adapter's keyword arguments."""
    if kind == "seq2seq":
        from qgen.models.formats.seq2seq import Seq2SeqAdapter  # as above

        return Seq2SeqAdapter(tokenizer, **options)
    from qgen.models.formats.causal import CausalAdapter  # torch: only when an adapter is made

    return CausalAdapter(tokenizer, **options)
