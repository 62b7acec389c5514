"""`qgen build-model --like`: stand-ins with the real shapes (recorded configs, parameter counts, tokenizer
conventions, random weights written shard by shard). No real-size model is built here: configs and meta devices only."""

import json

import pytest
import torch
import transformers as tf

from qgen.cli import build_model
from qgen.models import stand_ins

# transformers 5 reads some keys of older config files under new names; the value must survive the renaming
RENAMED = {
    "torch_dtype": lambda d: d["dtype"],
    "rotary_emb_base": lambda d: d["rope_parameters"]["rope_theta"],
    "rotary_pct": lambda d: d["rope_parameters"]["partial_rotary_factor"],
    "rope_scaling": lambda d: None if d["rope_parameters"]["rope_type"] == "default" else d["rope_parameters"],
}


@pytest.mark.parametrize("name", list(stand_ins.LIKE))
def test_the_recorded_config_is_reproduced_key_by_key(name):
    recorded = stand_ins.recorded_config(name)
    built = stand_ins.config_for(name).to_dict()
    for key, value in recorded.items():
        got = RENAMED[key](built) if key in RENAMED else built[key]
        assert got == value, (name, key)


def _closed_form(c: dict) -> int:
    """Parameter count written out from the architecture papers / modelling code, independent of transformers."""
    if c["model_type"] == "t5":  # tied: `shared` counted once; relative position bias in the first layer of each stack
        h, f, L = c["d_model"], c["d_ff"], c["num_layers"]
        inner = c["num_heads"] * c["d_kv"]
        attn, ff = 4 * h * inner, 2 * h * f
        enc = L * (attn + ff + 2 * h) + h + c["relative_attention_num_buckets"] * c["num_heads"]
        dec = c["num_decoder_layers"] * (2 * attn + ff + 3 * h) + h + c["relative_attention_num_buckets"] * c["num_heads"]
        return c["vocab_size"] * h + enc + dec
    if c["model_type"] == "gpt2":  # tied lm_head; Conv1D weights with biases; learned positions
        h, f, L = c["n_embd"], c["n_inner"], c["n_layer"]
        layer = (3 * h * h + 3 * h) + (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
        return c["vocab_size"] * h + c["n_positions"] * h + L * layer + 2 * h
    if c["model_type"] == "gpt_neox":  # untied embed_in / embed_out; biases everywhere; two LayerNorms a layer
        h, f, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
        layer = (3 * h * h + 3 * h) + (h * h + h) + (h * f + f) + (f * h + h) + 4 * h
        return 2 * c["vocab_size"] * h + L * layer + 2 * h
    h, f, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]  # llama: no biases, RMSNorm
    return 2 * c["vocab_size"] * h + L * (4 * h * h + 3 * h * f + 2 * h) + h


# Published sizes, compared within their rounding: "222.9M" (T5 base v1.0 with tied embeddings, the count
# model.num_parameters() gives for sonoisa's checkpoint), "336M" (rinna), the exact count of Llama-2-7b-hf's
# checkpoint; the OpenCALM card gives two significant figures ("160M" for 165.1M: rounded down), compared within 4%.
PUBLISHED = {
    "sonoisa/t5-base-japanese": (222.9e6, 0.05e6 / 222.9e6),
    "rinna/japanese-gpt2-medium": (336e6, 0.5e6 / 336e6),
    "cyberagent/open-calm-small": (160e6, 0.04),
    "cyberagent/open-calm-medium": (400e6, 0.04),
    "cyberagent/open-calm-large": (830e6, 0.04),
    "cyberagent/open-calm-1b": (1.4e9, 0.04),
    "cyberagent/open-calm-3b": (2.7e9, 0.04),
    "cyberagent/open-calm-7b": (6.8e9, 0.04),
    "meta-llama/Llama-2-7b-hf": (6_738_415_616, 0.0),  # model.num_parameters() of the hub checkpoint
}


@pytest.mark.parametrize("name", list(stand_ins.LIKE))
def test_parameter_counts_on_the_meta_device_match_the_published_sizes(name):
    model = stand_ins.meta_model(name)
    assert all(p.device.type == "meta" for p in model.parameters())  # no memory: a 7B costs nothing here
    count = stand_ins.parameter_count(model)
    assert count == model.num_parameters()
    assert count == _closed_form(stand_ins.recorded_config(name))
    published, tolerance = PUBLISHED[name]
    assert abs(count - published) <= tolerance * published


SMALL = {  # the real architecture, two narrow layers: built in a second
    "sonoisa-t5": {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4},
    "rinna-gpt2": {"n_embd": 64, "n_inner": 128, "n_layer": 2, "n_head": 4},
    "opencalm": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4},
    "llama2": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 4},
}
ONE_PER_CONVENTION = ["sonoisa/t5-base-japanese", "rinna/japanese-gpt2-medium", "cyberagent/open-calm-1b",
                      "meta-llama/Llama-2-7b-hf"]
VOCAB = 1200


@pytest.fixture(scope="module")
def texts(jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))["data"]
    return [p["context"] for a in data[:60] for p in a["paragraphs"]]


@pytest.fixture(scope="module")
def built(texts, tmp_path_factory):
    root = tmp_path_factory.mktemp("like")
    return {name: stand_ins.build_like(name, root / name.replace("/", "--"), texts, vocab_size=VOCAB,
                                       max_shard_size="200KB", cache_dir=root / "cache",
                                       config_overrides=SMALL[stand_ins.LIKE[name]])
            for name in ONE_PER_CONVENTION}


# (class, vocabulary, bos, eos, unk, pad) of the real tokenizers; OpenCALM's byte-level BPE has no unk of its own
CONVENTIONS = {
    "sonoisa/t5-base-japanese": ("T5Tokenizer", None, 1, 2, 0),
    "rinna/japanese-gpt2-medium": ("T5Tokenizer", 1, 2, 0, 3),
    "cyberagent/open-calm-1b": ("GPTNeoXTokenizer", 0, 0, 0, None),
    "meta-llama/Llama-2-7b-hf": ("LlamaTokenizer", 1, 2, 0, None),
}


@pytest.mark.parametrize("name", ONE_PER_CONVENTION)
def test_tokenizer_conventions(built, name):
    tok = tf.AutoTokenizer.from_pretrained(built[name])
    cls, bos, eos, unk, pad = CONVENTIONS[name]
    assert type(tok).__name__.removesuffix("Fast") == cls
    assert (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id, tok.pad_token_id) == (bos, eos, unk, pad)
    assert len(tok) == VOCAB  # the requested size, as the real vocabulary sizes are requested (REAL_VOCAB)
    ids = tok("東京は日本の首都です。").input_ids
    assert (ids[0] == bos) == (name == "meta-llama/Llama-2-7b-hf")  # only Llama adds BOS
    if name in ("sonoisa/t5-base-japanese", "rinna/japanese-gpt2-medium"):
        assert ids[-1] == eos  # T5Tokenizer appends </s>


@pytest.mark.parametrize("name", ONE_PER_CONVENTION)
def test_stand_in_loads_whole_from_shards_with_the_recorded_config(built, name):
    out = built[name]
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(out.glob("model-*.safetensors"))
    assert len(shards) > 1 and set(index["weight_map"].values()) == {s.name for s in shards}
    model, info = stand_ins.model_class(name).from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    recorded = {**stand_ins.recorded_config(name), **SMALL[stand_ins.LIKE[name]]}
    written = json.loads((out / "config.json").read_text())
    assert {k: v for k, v in written.items() if k != "torch_dtype"} == \
        {k: v for k, v in recorded.items() if k != "torch_dtype"}
    assert str(model.dtype).removeprefix("torch.") == written["torch_dtype"] == recorded.get("torch_dtype")
    # random but sane: finite, matrices spread, norms at 1
    for pname, p in model.named_parameters():
        assert torch.isfinite(p).all(), pname
    meta = json.loads((out / "qgen_stand_in.json").read_text())
    assert meta["parameters"] == model.num_parameters()


def test_weights_are_written_one_shard_at_a_time(tmp_path, monkeypatch):
    """The writer holds one shard, never the model: every save gets at most max_shard_bytes (or one tensor)."""
    model = stand_ins.meta_model("cyberagent/open-calm-1b", stand_ins.config_for("cyberagent/open-calm-1b").__class__
                                 .from_dict({**stand_ins.recorded_config("cyberagent/open-calm-1b"),
                                             **SMALL["opencalm"], "vocab_size": 512}))
    seen = []
    import safetensors.torch

    real = safetensors.torch.save_file

    def spy(tensors, path, metadata=None):
        seen.append(sum(t.numel() * t.element_size() for t in tensors.values()))
        real(tensors, path, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", spy)
    limit = 40_000
    stand_ins.write_random_weights(model, tmp_path, torch.float32, max_shard_bytes=limit)
    biggest = max(p.numel() * 4 for p in model.parameters())
    assert len(seen) > 3 and all(s <= max(limit, biggest) for s in seen)
    assert sum(seen) == stand_ins.parameter_count(model) * 4


def test_tokenizers_are_trained_once_per_texts(texts, tmp_path, monkeypatch):
    calls = []
    real = stand_ins.write_tokenizer
    monkeypatch.setattr(stand_ins, "write_tokenizer", lambda *a, **k: (calls.append(a[0]), real(*a, **k)))
    first = stand_ins.cached_tokenizer("sonoisa-t5", texts, 800, tmp_path)
    assert stand_ins.cached_tokenizer("sonoisa-t5", texts, 800, tmp_path) == first
    assert stand_ins.cached_tokenizer("sonoisa-t5", texts[1:], 800, tmp_path) != first
    assert calls == ["sonoisa-t5", "sonoisa-t5"]


def test_cli_like_errors_are_one_line(tmp_path, capsys):
    assert build_model.main(["--output", str(tmp_path / "x")]) != 0
    assert "give --texts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_model.main(["--like", "nobody/model", "--output", str(tmp_path / "y")])
    assert "invalid choice" in capsys.readouterr().err
    bad = tmp_path / "arch.yaml"
    bad.write_text("no_such_setting: 3\n")
    assert build_model.main(["--like", "cyberagent/open-calm-small", "--arch-config", str(bad), "--texts",
                             str(tmp_path / "missing.tsv"), "--output", str(tmp_path / "z")]) != 0
    assert "error:" in capsys.readouterr().err
