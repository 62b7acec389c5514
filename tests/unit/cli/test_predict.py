"""predict.py: batched, length-sorted output identical to the text2text pipeline run one example at a time."""

from __future__ import annotations

import json

import pytest
from helpers import inference_models
from helpers.greedy import BATCH_TOL, assert_greedy_under, stop_ids

from qgen.cli.predict import main as predict_main
from qgen.data.examples import Example
from qgen.inference.generation import GenerationSettings, Generator
from qgen.inference.loader import load_inference_model

N = 40
MAX_NEW = 16
GREEDY_FLAGS = ["--num-beams", "1", "--no-repeat-ngram-size", "0"]  # what model.generate(do_sample=False) does


@pytest.fixture(scope="module")
def models(tmp_path_factory, jsquad_valid):
    return inference_models.build(tmp_path_factory.getbasetemp() / "qgen-inference", jsquad_valid)


@pytest.fixture(scope="module")
def examples(jsquad_valid):
    return inference_models.jsquad_examples(jsquad_valid, "aqg", N)


@pytest.fixture(scope="module")
def dev_tsv(tmp_path_factory, examples):
    path = tmp_path_factory.mktemp("predict") / "dev.tsv"
    path.write_text("".join(f"{e.id}\t{e.source}\t{e.target}\n" for e in examples), encoding="utf-8")
    return path


def text2text_pipeline(model, tokenizer, text: str, **generate_kwargs) -> list[list[int]]:
    """transformers v4's `pipeline("text2text-generation")` for one input (the task was removed in v5).

    Its preprocess/_forward/postprocess, step for step: config prefix + text tokenised alone (no padding, no
    truncation, token_type_ids dropped), `model.generate(**inputs, **generate_kwargs)`, then decoded with
    skip_special_tokens=True and clean_up_tokenization_spaces=False. Returns the raw generated id rows.
    """
    prefix = getattr(model.config, "prefix", None) or ""
    inputs = tokenizer(prefix + text, padding=False, return_tensors="pt")
    inputs.pop("token_type_ids", None)
    return model.generate(**inputs, **generate_kwargs).tolist()


def _strip(row: list[int], start: int, stop: set[int]) -> list[int]:
    row = row[1:] if row and row[0] == start else row
    return row[: next((i for i, t in enumerate(row) if t in stop), len(row))]


def _compare_with_pipeline(g: Generator, examples, beams: int, batched) -> set[int]:
    """Assert each batched output is the pipeline's one-input output; returns the output lengths seen. Greedy: each
    token is the one-input model's greedy choice up to a rounding near-tie (helpers.greedy.BATCH_TOL), not an argmax
    chain compared token for token (issue 29); beams: token for token."""
    model, tok = g.im.model, g.tokenizer
    stop = {tok.eos_token_id, tok.pad_token_id}
    lengths = set()
    for ex, ours in zip(examples, batched):
        if beams == 1:
            prompt = tok((getattr(model.config, "prefix", None) or "") + ex.source)["input_ids"]
            assert_greedy_under(model, prompt, ours.token_ids[0], seq2seq=True, tol=BATCH_TOL,
                                stop_ids=stop_ids(model, tok), max_new_tokens=MAX_NEW)
            assert ours.texts[0] == tok.decode(ours.token_ids[0], skip_special_tokens=True,
                                               clean_up_tokenization_spaces=False)
            lengths.add(len(ours.token_ids[0]))
            continue
        ref = text2text_pipeline(model, tok, ex.source, num_beams=beams, max_new_tokens=MAX_NEW, do_sample=False)[0]
        ref_ids = _strip(ref, model.generation_config.decoder_start_token_id, stop)
        assert ours.token_ids[0] == ref_ids, ex.id
        assert ours.texts[0] == tok.decode(ref, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        lengths.add(len(ref_ids))
    return lengths


def test_predict_is_identical_to_pipeline_one_by_one_greedy(models, examples, dev_tsv, tmp_path, capsys):
    out = tmp_path / "preds.jsonl"
    argv = ["--model", str(models["t5"]), "--input", str(dev_tsv), "--output", str(out), "--batch-size", "8",
            "--max-new-tokens", str(MAX_NEW), *GREEDY_FLAGS]
    assert predict_main(argv) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [e.id for e in examples]  # original order restored
    assert [(r["source"], r["target"]) for r in rows] == [(e.source, e.target) for e in examples]

    g = Generator(load_inference_model(models["t5"]))
    tok = g.tokenizer
    assert all(len(tok(e.source)["input_ids"]) < g.im.format.max_source_len for e in examples)  # no truncation
    assert len({len(tok(e.source)["input_ids"]) for e in examples}) > 10  # batches really are padded
    batched = g.generate(examples, GenerationSettings(num_beams=1, no_repeat_ngram_size=0, max_new_tokens=MAX_NEW),
                         batch_size=8)
    assert [r["prediction"] for r in rows] == [o.texts[0] for o in batched]
    lengths = _compare_with_pipeline(g, examples, 1, batched)
    assert len(lengths) > 2  # some outputs end early, others run to max_new_tokens


def test_predict_is_identical_to_pipeline_one_by_one_beam(models, examples):
    g = Generator(load_inference_model(models["t5"]))
    subset = examples[:20]
    batched = g.generate(subset, GenerationSettings(num_beams=3, no_repeat_ngram_size=0, max_new_tokens=MAX_NEW),
                         batch_size=8)
    _compare_with_pipeline(g, subset, 3, batched)


def test_predict_eval_saves_metrics(models, dev_tsv, tmp_path, capsys):
    from qgen.evaluation import metrics

    out = tmp_path / "p.jsonl"
    argv = ["--model", str(models["t5"]), "--input", str(dev_tsv), "--output", str(out), "--limit", "6",
            "--max-new-tokens", "8", "--eval", "--no-hallucination"]
    assert predict_main(argv) == 0
    saved = json.loads((tmp_path / "p.metrics.json").read_text(encoding="utf-8"))  # named as qgen eval names it
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert saved["metrics"]["n"] == len(rows) == 6
    preds, refs = [r["prediction"] for r in rows], [r["target"] for r in rows]
    assert saved["metrics"]["char_f1"] == pytest.approx(metrics.char_f1(preds, refs))
    assert "bleu" in capsys.readouterr().out  # questions: BLEU / ROUGE printed, EM / char F1 only saved


def test_predict_lora_adapter_dir(models, examples, tmp_path):
    out = tmp_path / "lora.jsonl"
    tsv = tmp_path / "in.tsv"
    tsv.write_text("".join(f"{e.id}\t{e.source}\t{e.target}\n" for e in examples[:5]), encoding="utf-8")
    assert predict_main(["--model", str(models["t5-lora"]), "--input", str(tsv), "--output", str(out),
                         "--max-new-tokens", "8"]) == 0
    preds = [json.loads(line)["prediction"] for line in out.read_text(encoding="utf-8").splitlines()]
    g = Generator(load_inference_model(models["t5-lora"]))
    single = [g.generate([e], GenerationSettings(max_new_tokens=8), batch_size=1)[0].texts[0] for e in examples[:5]]
    assert preds == single


def test_predict_causal_instruction_json(models, tmp_path):
    data = [{"id": f"q{i}", "instruction": f"質問{i}: " + "日本の首都はどこですか?" * (i + 1), "output": "東京"}
            for i in range(5)]
    inp = tmp_path / "quiz.json"
    inp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "causal.jsonl"
    assert predict_main(["--model", str(models["tiny-gpt2"]), "--input", str(inp), "--output", str(out),
                         "--max-new-tokens", "8", "--batch-size", "5"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    g = Generator(load_inference_model(models["tiny-gpt2"]))
    for d, r in zip(data, rows):
        ex = Example(d["id"], d["instruction"], d["output"])
        single = g.generate([ex], GenerationSettings(max_new_tokens=8), batch_size=1)[0].texts[0]
        assert (r["id"], r["source"], r["target"], r["prediction"]) == (d["id"], d["instruction"], "東京", single)
        assert "### 回答" not in r["prediction"]  # only the new tokens


@pytest.mark.parametrize("content, name, message", [
    ("a\tanswer: x context: y\tq?\nb\tonly two\n", "bad.tsv", "line 2"),
    ('{"text": "plain causal text"}\n', "text.jsonl", "record 1"),
    ("[1, 2", "broken.json", "malformed JSON"),
])
def test_predict_bad_input(models, tmp_path, capsys, content, name, message):
    inp = tmp_path / name
    inp.write_text(content, encoding="utf-8")
    code = predict_main(["--model", str(models["t5"]), "--input", str(inp), "--output", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and name in err, err
    assert not (tmp_path / "o.jsonl").exists()


def test_predict_missing_files(models, dev_tsv, tmp_path, capsys):
    assert predict_main(["--model", str(models["t5"]), "--input", str(tmp_path / "none.tsv"),
                         "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert predict_main(["--model", str(tmp_path / "no-model"), "--input", str(dev_tsv),
                         "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "model directory not found" in capsys.readouterr().err


def test_predict_task_quiz_dispatches(monkeypatch):
    seen = []
    monkeypatch.setattr("qgen.cli.quiz.main", lambda argv: seen.append(argv) or 7)
    argv = ["--task", "quiz", "--model", "m", "--input", "x.json"]
    assert predict_main(argv) == 7 and seen == [argv]


def test_predict_bad_words_keep_every_prediction_clean(models, dev_tsv, tmp_path):
    """Words the model writes unconstrained (taken from its own greedy output) vanish from every prediction."""
    plain, blocked = tmp_path / "plain.jsonl", tmp_path / "blocked.jsonl"
    base = ["--model", str(models["t5"]), "--input", str(dev_tsv), "--max-new-tokens", str(MAX_NEW)]
    assert predict_main([*base, "--output", str(plain)]) == 0
    preds = [json.loads(line)["prediction"] for line in plain.read_text(encoding="utf-8").splitlines()]
    # the two most frequent 2-character strings of the unconstrained predictions
    counts = {}
    for p in preds:
        for a, b in zip(p, p[1:]):
            if (a + b).strip() == a + b:
                counts[a + b] = counts.get(a + b, 0) + 1
    words = sorted(counts, key=counts.get, reverse=True)[:2]
    assert words and any(w in p for p in preds for w in words)
    assert predict_main([*base, "--output", str(blocked), "--bad-words", *words]) == 0
    rows = [json.loads(line) for line in blocked.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(preds)
    for row in rows:
        assert not any(w in row["prediction"] for w in words), (row["prediction"], words)
