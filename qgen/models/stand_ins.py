"""Stand-ins for the models qgen's users bring: the real shapes, a locally trained tokenizer, random weights.

`build_like("cyberagent/open-calm-1b", out)` writes a Hugging Face directory with that model's recorded public
config.json (qgen/models/shapes/, provenance in SOURCES.md there), a tokenizer with the model's conventions and
vocabulary size trained on local text, and random weights written shard by shard straight from a meta-device model
(never a whole second copy in memory: a 7B stand-in needs one shard of RAM, not 13.5 GB), so benchmarks run at the
real size without the hub.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import string
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from qgen.core.errors import PathArg
from qgen.core.files import atomic_dir
from qgen.models.formats.templates import coverage_text

if TYPE_CHECKING:  # torch and transformers: imported where a stand-in is built, named here for their types only
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, PretrainedConfig, PreTrainedModel

log = logging.getLogger(__name__)

SHAPES = Path(__file__).with_name("shapes")
# name -> tokenizer convention (see _tokenizer)
LIKE = {
    "sonoisa/t5-base-japanese": "sonoisa-t5",
    "rinna/japanese-gpt2-medium": "rinna-gpt2",
    **{f"cyberagent/open-calm-{s}": "opencalm" for s in ("small", "medium", "large", "1b", "3b", "7b")},
    "meta-llama/Llama-2-7b-hf": "llama2",
}
# the real tokenizers' vocabulary sizes (pieces; sonoisa adds T5's 100 <extra_id_*> on top)
REAL_VOCAB = {"sonoisa-t5": 32000, "rinna-gpt2": 32000, "opencalm": 52000, "llama2": 32000}
SEQ2SEQ = ("sonoisa-t5",)


def recorded_config(name: str) -> dict:
    """The recorded public config.json of `name` (a hub id from LIKE)."""
    if name not in LIKE:
        raise ValueError(f"unknown model {name!r}; --like takes one of: {', '.join(LIKE)}")
    return json.loads((SHAPES / (name.replace("/", "--") + ".json")).read_text(encoding="utf-8"))


def config_for(name: str) -> PretrainedConfig:
    """The transformers config the stand-in is built from (the recorded file, read as transformers reads it)."""
    import transformers as tf  # transformers: only when a stand-in is built

    recorded = recorded_config(name)
    return tf.CONFIG_MAPPING[recorded["model_type"]].from_dict(recorded)


def model_class(name: str) -> type[AutoModelForSeq2SeqLM] | type[AutoModelForCausalLM]:
    """The Auto class that builds `name`'s architecture (encoder-decoder or decoder-only)."""
    import transformers as tf  # as above

    return tf.AutoModelForSeq2SeqLM if LIKE[name] in SEQ2SEQ else tf.AutoModelForCausalLM


def meta_model(name: str, config: PretrainedConfig | None = None) -> PreTrainedModel:
    """The model on the meta device: every shape and name, no memory (parameter counts, memory models)."""
    import torch  # as above

    config = config or config_for(name)
    with torch.device("meta"):
        return model_class(name).from_config(config)


def parameter_count(model: torch.nn.Module) -> int:
    """Parameters counted once (tied embeddings once), as `model.num_parameters()` and the model cards count."""
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------------ tokenizers
def _with_coverage(texts: Iterable[str]) -> list[str]:
    # digits (ASCII and full-width) and the prompt cues must be spellable, as in every real Japanese vocabulary
    return [t for t in texts if t and t.strip()] + [string.printable.strip(), "０１２３４５６７８９", *coverage_text()] * 3


def _spm(texts: list[str], model_type: str, vocab_size: int, ids: dict, symbols: Iterable[str] = (),
         byte_fallback: bool = False, threads: int = 1) -> bytes:
    import sentencepiece as spm  # only when a tokenizer is trained

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_with_coverage(texts)), model_writer=out, vocab_size=vocab_size,
        model_type=model_type, character_coverage=0.9995, byte_fallback=byte_fallback, hard_vocab_limit=False,
        num_threads=threads, minloglevel=2, user_defined_symbols=list(symbols),
        max_sentence_length=16384, input_sentence_size=2_000_000, shuffle_input_sentence=False, **ids)
    return out.getvalue()


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def write_tokenizer(convention: str, texts: list[str], out: Path, vocab_size: int, max_length: int = 1024,
                    threads: int = 1) -> None:
    """Train a tokenizer with `convention`'s special tokens, ids and class on `texts` and write its files to `out`.

    | convention | like | tokenizer | special tokens |
    | opencalm | cyberagent/open-calm-* | GPTNeoXTokenizer, byte-level BPE, NFC, no prefix space | `<|endoftext|>` = BOS = EOS = UNK (id 0), no pad |
    | rinna-gpt2 | rinna/japanese-gpt2-medium | T5Tokenizer (spm unigram) | unk 0, `<s>` 1, `</s>` 2, `[PAD]` 3, `[CLS]` `[SEP]` `[MASK]` |
    | sonoisa-t5 | sonoisa/t5-base-japanese | T5Tokenizer (spm unigram) | pad 0, eos 1, unk 2, no BOS |
    | llama2 | meta-llama/Llama-2-7b-hf | LlamaTokenizer (spm BPE, byte fallback), legacy | unk 0, BOS 1 (added), EOS 2, no pad |
    """
    out = Path(out)
    if convention == "opencalm":
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # as spm

        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator(_with_coverage(texts), trainer)
        tok.save(str(out / "tokenizer.json"))
        config = {"tokenizer_class": "GPTNeoXTokenizer", "add_prefix_space": False, "bos_token": "<|endoftext|>",
                  "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": None}
    elif convention == "rinna-gpt2":
        model = _spm(texts, "unigram", vocab_size, {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": 3,
                                                    "pad_piece": "[PAD]"}, ["[CLS]", "[SEP]", "[MASK]"], threads=threads)
        (out / "spiece.model").write_bytes(model)
        config = {"tokenizer_class": "T5Tokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
                  "do_lower_case": True, "extra_ids": 0, "additional_special_tokens": []}
    elif convention == "sonoisa-t5":
        model = _spm(texts, "unigram", vocab_size, {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1},
                     threads=threads)
        (out / "spiece.model").write_bytes(model)
        config = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                  "extra_ids": 0, "additional_special_tokens": []}
    elif convention == "llama2":
        model = _spm(texts, "bpe", vocab_size, {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1},
                     byte_fallback=True, threads=threads)
        (out / "tokenizer.model").write_bytes(model)
        config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "legacy": True,
                  "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
                  "clean_up_tokenization_spaces": False}
    else:
        raise ValueError(f"unknown tokenizer convention {convention!r}")
    config["model_max_length"] = max_length
    _write_json(out / "tokenizer_config.json", config)


def cached_tokenizer(convention: str, texts: list[str], vocab_size: int, cache_dir: Path) -> Path:
    """`write_tokenizer` once per (convention, vocabulary size, texts): large vocabularies take a minute to train."""
    key = hashlib.sha256("\n".join([convention, str(vocab_size), *texts]).encode("utf-8")).hexdigest()[:16]
    path = Path(cache_dir) / f"{convention}-{vocab_size}-{key}"
    if not (path / "tokenizer_config.json").is_file():
        with atomic_dir(path) as tmp:
            write_tokenizer(convention, texts, tmp, vocab_size, threads=os.cpu_count() or 1)
    return path


def local_texts(data_dir: Path, convention: str, max_chars: int = 3_000_000) -> list[str]:
    """Paragraphs of the shared data (JaQuAD train, JSQuAD valid; KorQuAD too for Llama-2, whose recipe is
    Korean), at most `max_chars` characters per language: enough for a 52k vocabulary, quick to train on."""
    from qgen.data.squad import read_squad_files  # data layer: only when texts are gathered

    sources = [[data_dir / "jaquad" / "train", data_dir / "jglue" / "jsquad-v1.3" / "valid-v1.3.json"]]
    if convention == "llama2":
        sources.append([data_dir / "korquad" / "KorQuAD_v1.0_dev.json"])
    texts: list[str] = []
    for paths in sources:
        questions, _ = read_squad_files([p for p in paths if p.exists()])
        seen, size = set(), 0
        for q in questions:
            for t in (q.context, q.question):
                if t not in seen and size < max_chars:
                    seen.add(t)
                    texts.append(t)
                    size += len(t)
    if not texts:
        raise ValueError(f"no training text found under {data_dir} (JaQuAD / JSQuAD)")
    return texts


# ------------------------------------------------------------------------------------------------------ weights
def write_random_weights(model: torch.nn.Module, out: Path, dtype: torch.dtype, max_shard_bytes: int = 2 << 30,
                         seed: int = 0, std: float = 0.02) -> list[str]:
    """Random weights for a meta-device `model`, written shard by shard (safetensors, transformers' index layout):
    matrices ~ N(0, std), biases 0, norm scales 1. Only the shard being written is ever in memory."""
    import torch  # as above
    from safetensors.torch import save_file

    persistent = set(model.state_dict()) - {n for n, _ in model.named_parameters(remove_duplicate=False)}
    if persistent:  # their values are not random: they would have to be computed, not drawn
        raise ValueError(f"persistent buffers are not supported: {sorted(persistent)[:3]}")
    params = list(model.named_parameters())  # tied weights once (lm_head = shared in T5, wte in GPT-2)
    sizes = [p.numel() * torch.empty((), dtype=dtype).element_size() for _, p in params]
    shards: list[list[str]] = []
    current: list[str] = []
    filled = 0
    for (name, _), size in zip(params, sizes):
        if current and filled + size > max_shard_bytes:
            shards.append(current)
            current, filled = [], 0
        current.append(name)
        filled += size
    shards.append(current)
    shape = dict(params)
    g = torch.Generator().manual_seed(seed)
    files, weight_map = [], {}
    for i, names in enumerate(shards):
        file = "model.safetensors" if len(shards) == 1 else f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for name in names:
            t = torch.empty(shape[name].shape, dtype=dtype)
            if t.dim() >= 2:
                t.normal_(0.0, std, generator=g)
            elif name.endswith("bias"):
                t.zero_()
            else:
                t.fill_(1.0)
            tensors[name] = t
            weight_map[name] = file
        save_file(tensors, str(out / file), metadata={"format": "pt"})
        del tensors
        files.append(file)
    if len(shards) > 1:
        _write_json(out / "model.safetensors.index.json",
                    {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map})
    return files


def build_like(name: str, out: PathArg, texts: list[str] | None = None, *, data_dir: Path | None = None,
               vocab_size: int | None = None, dtype: str = "auto", max_shard_size: str = "2GB", seed: int = 0,
               cache_dir: Path | None = None, config_overrides: dict | None = None) -> Path:
    """Build (or reuse) `out`: `name`'s recorded config.json, a tokenizer with its conventions (vocabulary size
    `vocab_size`, default the real one) trained on `texts` (default: `local_texts(data_dir)`), random weights in
    `dtype` (default the config's torch_dtype). `config_overrides` shrink the model for tests."""
    import torch  # as above
    import transformers as tf  # as above

    out = Path(out)
    if (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    recorded = recorded_config(name)  # refuses a name LIKE does not hold
    convention = LIKE[name]
    if texts is None:
        texts = local_texts(Path(data_dir or os.environ.get("QGEN_DATA_DIR", "data")), convention)
    vocab = vocab_size or REAL_VOCAB[convention]
    cache = Path(cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qgen" / "tokenizers")
    tok_dir = cached_tokenizer(convention, texts, vocab, cache)
    config_json = {**recorded, **(config_overrides or {})}
    config = tf.CONFIG_MAPPING[config_json["model_type"]].from_dict(config_json)
    default = type(config)()
    unknown = [k for k in config_overrides or {} if not hasattr(default, k)]
    if unknown:
        raise ValueError(f"{type(config).__name__} has no setting {unknown[0]!r}")
    torch_dtype = getattr(torch, recorded.get("torch_dtype", "float32") if dtype == "auto" else dtype)
    with atomic_dir(out) as tmp:
        for f in tok_dir.iterdir():
            (tmp / f.name).write_bytes(f.read_bytes())
        tok = tf.AutoTokenizer.from_pretrained(tmp)
        if len(tok) > config_json["vocab_size"]:
            raise ValueError(f"the tokenizer has {len(tok)} tokens, more than the model's {config_json['vocab_size']}")
        model = meta_model(name, config)
        write_random_weights(model, tmp, torch_dtype, _bytes(max_shard_size), seed,
                             getattr(config, "initializer_range", 0.02))
        _write_json(tmp / "config.json", {**config_json, "torch_dtype": str(torch_dtype).removeprefix("torch.")})
        tf.GenerationConfig.from_model_config(config).save_pretrained(tmp)
        _write_json(tmp / "qgen_stand_in.json", {"like": name, "tokenizer_vocab": len(tok), "seed": seed,
                                                 "parameters": parameter_count(model),
                                                 "config_overrides": config_overrides or {}})
    log.info("built a stand-in for %s (%d-token tokenizer) in %s", name, len(tok), out)
    return out


def _bytes(size: str) -> int:
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    s = str(size).strip().upper()
    for unit, factor in units.items():
        if s.endswith(unit) and s[: -len(unit)].strip().replace(".", "", 1).isdigit():
            return int(float(s[: -len(unit)]) * factor)
    if s.isdigit():
        return int(s)
    raise ValueError(f"cannot read the shard size {size!r} (e.g. 2GB, 500MB)")
