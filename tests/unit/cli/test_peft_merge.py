"""`qgen merge`: the merged full model gives the adapter's outputs and loads with plain transformers."""

import warnings

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from qgen import cli
from qgen.cli.merge import main
from qgen.data.jsquad import convert
from qgen.data.squad import read_squad
from qgen.models import lora as qpeft
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer, resolve
from qgen.training.config import TrainConfig, load_saved

warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="module")
def adapter_dir(jsquad_valid, tmp_path_factory):
    """A trained tiny-gpt2 LoRA adapter with a new special token, saved the way checkpoints are."""
    questions, _ = read_squad(jsquad_valid)
    examples = convert(questions[:100], "aqg_hl")
    d = tmp_path_factory.mktemp("merge")
    path = resolve("tiny-gpt2", [t for ex in examples for t in (ex.source, ex.target)], d)
    cfg = TrainConfig()
    cfg.model.model, cfg.model.add_special_tokens, cfg.model.prompt_format = str(path), ["<hl>", "<ans>"], "raw"
    cfg.lora.lora_r, cfg.lora.lora_dropout = 8, 0.0
    tok = load_tokenizer(str(path))
    model = load_model(str(path), "causal")
    qpeft.add_special_tokens(model, tok, cfg.model.add_special_tokens)
    model = qpeft.apply_peft(model, cfg.lora_spec(), tok)
    sequence_format = make_format("causal", tok, InputSpec(max_len=64, prompt_format="raw"))
    batch = sequence_format.collate([sequence_format.encode(ex) for ex in examples[:4]])
    batch["input_ids"][:, 2] = tok.convert_tokens_to_ids("<ans>")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    for _ in range(4):
        logits, labels = sequence_format.logits(model, batch)
        torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)).backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    out = d / "best"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    cfg.save(out)
    with torch.no_grad():
        want = sequence_format.logits(model, batch)[0]
    return out, sequence_format, batch, want


def test_merge_matches_adapter_and_loads_without_peft(adapter_dir, tmp_path):
    src, sequence_format, batch, want = adapter_dir
    assert main(["--adapter", str(src), "--output", str(tmp_path / "merged")]) == 0
    out = tmp_path / "merged"
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.convert_tokens_to_ids("<ans>") == len(tok) - 1
    assert tok.tokenize("a<ans>b").count("<ans>") == 1
    with torch.no_grad():
        torch.testing.assert_close(sequence_format.logits(model, batch)[0], want, atol=1e-4, rtol=1e-4)
    saved = load_saved(out)
    assert saved.lora.lora_r == 0 and saved.lora.quantization == "none" and saved.model.prompt_format == "raw"
    assert yaml.safe_load((out / "qgen_config.yaml").read_text())["model"]["model"] == str(out)


def test_merge_bad_input_is_a_clean_error(tmp_path, capsys, adapter_dir):
    assert cli.main(["merge", "--adapter", str(tmp_path), "--output", str(tmp_path / "x")]) == 2
    assert "adapter_config.json" in capsys.readouterr().err
    src = adapter_dir[0]
    assert cli.main(["merge", "--adapter", str(src), "--output", str(src)]) == 2
