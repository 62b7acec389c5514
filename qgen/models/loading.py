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


# A saved tokenizer's vocabulary: one of these beside tokenizer_config.json. Without any, transformers builds a
# tokenizer of a few special tokens on the fly and a run trains (and saves) on that.
VOCAB_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "vocab.txt")


def check_tokenizer_files(directory) -> None:
    """A saved model directory holds its tokenizer: tokenizer_config.json and a vocabulary file (QgenInputError)."""
    directory = Path(directory)
    if not (directory / "tokenizer_config.json").is_file():
        raise QgenInputError("missing (the saved tokenizer is incomplete)", path=directory / "tokenizer_config.json")
    if not any((directory / name).is_file() for name in VOCAB_FILES):
        raise QgenInputError(f"missing (no tokenizer vocabulary: none of {', '.join(VOCAB_FILES)}); a tokenizer "
                             f"built in its place would not be the model's", path=directory / VOCAB_FILES[0])


def model_kind(config) -> str:
    """"seq2seq" for encoder-decoder configs (T5, mT5, BART …), else "causal" (GPT-2, GPT-NeoX, Llama …)."""
    return "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"


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
