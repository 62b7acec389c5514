"""Small real checkpoints for the inference tests, built once per test session from real JSQuAD text.

An untrained tiny model's greedy output is degenerate (T5's is all padding; GPT-2's logits are nearly flat, so argmax
ties are common). The weights are therefore redrawn with a wider spread: outputs then depend on the input and have
clear margins. For T5 the EOS embedding is set to 1.05 × that of a token the model often emits, so sequences end at
different lengths (as a trained model's do) and batching must cope with finished rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from qgen.core.text import normalize
from qgen.data.jsquad import convert
from qgen.data.squad import read_squad
from qgen.models.loading import load_model, load_tokenizer, resolve
from qgen.training.config import TrainConfig


def jsquad_examples(jsquad_valid: Path, task: str = "aqg", n: int = 200):
    questions, _ = read_squad(jsquad_valid)
    return convert(questions[: n * 2], task)[:n]


def _texts(jsquad_valid: Path) -> list[str]:
    data = json.loads(Path(jsquad_valid).read_text(encoding="utf-8"))
    return [normalize(p["context"]) for a in data["data"] for p in a["paragraphs"]][:200]


def _redraw(model, std: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * std)


def _save(model, tok, out: Path, task: str, prompt_format: str = "opencalm") -> Path:
    model.save_pretrained(out)
    tok.save_pretrained(out)
    cfg = TrainConfig()
    cfg.model.task, cfg.model.prompt_format, cfg.model.max_len = task, prompt_format, 512
    cfg.save(out)
    return out


def _t5_with_eos(base: Path, sources: list[str], out: Path) -> Path:
    tok, model = load_tokenizer(str(base)), load_model(str(base))
    _redraw(model, 0.1, 0)
    model.eval()
    counts: dict[int, int] = {}
    with torch.no_grad():
        for s in sources[:8]:
            ids = model.generate(**tok(s, return_tensors="pt"), max_new_tokens=16, do_sample=False)[0].tolist()
            for t in ids[1:]:
                counts[t] = counts.get(t, 0) + 1
    special = set(tok.all_special_ids)
    frequent = max((t for t in counts if t not in special), key=lambda t: counts[t])
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        emb[tok.eos_token_id] = emb[frequent] * 1.05
    return _save(model, tok, out, "aqg")


def build(root: Path, jsquad_valid: Path) -> dict[str, Path]:
    """{name: checkpoint dir} under `root`, reused when already built in this session."""
    root = Path(root)
    done = root / "done.json"
    if done.is_file():
        return {k: Path(v) for k, v in json.loads(done.read_text()).items()}
    texts = _texts(jsquad_valid)
    sources = [ex.source for ex in jsquad_examples(jsquad_valid, "aqg", 40)]
    paths = {"t5": _t5_with_eos(Path(resolve("tiny-t5", texts, root / "base")), sources, root / "t5")}
    for name in ("tiny-gpt2", "tiny-llama"):
        base = Path(resolve(name, texts, root / "base"))
        tok, model = load_tokenizer(str(base)), load_model(str(base))
        _redraw(model, 0.1, 1)
        paths[name] = _save(model, tok, root / name, "aqg")
    paths["t5-lora"] = _lora(paths["t5"], root / "t5-lora")
    done.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    return paths


def _lora(base: Path, out: Path) -> Path:
    """A LoRA adapter dir as the peft helper saves it: adapter + tokenizer + qgen_config.yaml, with non-zero B."""
    from peft import LoraConfig, TaskType, get_peft_model

    model = load_model(str(base))
    cfg = LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=4, lora_alpha=16, target_modules=["q", "v"],
                     init_lora_weights=False)
    torch.manual_seed(3)
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.mul_(3.0)  # large enough that the adapter visibly changes the output
    peft_model.save_pretrained(out)
    load_tokenizer(str(base)).save_pretrained(out)
    c = TrainConfig()
    c.model.task, c.lora.lora_r = "aqg", 4
    c.save(out)
    return out
