"""Summaries and instruction answers with a kept length budget: the stopping rule, the prompts, the 70% source cut,
and the whole path (predict.py / generate.py --task summarize|instruct, qgen eval) with the tiny causal models.

No real summariser is reachable offline: the tiny models write random text, which is what the mechanics need — the
budget must hold whatever the model writes."""

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import inference_models

from qgen.cli import eval as evaluate
from qgen.cli import generate as generate_cli
from qgen.cli import predict
from qgen.core.errors import QgenInputError
from qgen.core.text import cut_middle
from qgen.data.examples import Example
from qgen.inference.decoding import GenerationSettings
from qgen.inference.length_budget import SENTENCE_ENDS, char_budget, keep_within, max_new_tokens_for
from qgen.inference.summarize import BudgetedGenerator, BudgetRule, TaskInput, budget_metrics, read_inputs
from qgen.inference.task_prompts import TaskPrompts, load_prompts
from qgen.models.formats.templates import JA_SYSTEM, format_prompt

CAUSAL = ("tiny-gpt2", "tiny-gpt-neox", "tiny-llama")
GREEDY = GenerationSettings(num_beams=1, no_repeat_ngram_size=0)


@pytest.fixture(scope="module")
def models(tmp_path_factory, jsquad_valid):
    """The three tiny causal models with spread-out weights (their text depends on the input), saved with max_len
    512; tiny-llama's saved prompt format is ja-chat, the others' opencalm."""
    from qgen.models.loading import load_model, load_tokenizer, resolve

    root = tmp_path_factory.mktemp("summarize-models")
    texts = inference_models._texts(jsquad_valid)
    out = {}
    for name in CAUSAL:
        base = Path(resolve(name, texts, root / "base"))
        tok, model = load_tokenizer(str(base)), load_model(str(base))
        inference_models._redraw(model, 0.1, 1)
        out[name] = inference_models._save(model, tok, root / name, "lm", "ja-chat" if name == "tiny-llama"
                                           else "opencalm")
    return out


@pytest.fixture(scope="module")
def contexts(jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))
    return [p["context"] for a in data["data"] for p in a["paragraphs"]]


def _load(path, **rule):
    from qgen.inference.loader import load_inference_model

    return BudgetedGenerator(load_inference_model(str(path)), BudgetRule(**rule))


# ---- the stopping rule and the budget ------------------------------------------------------------------------------

def test_keep_within_ends_at_the_last_sentence_end_inside_the_budget():
    text = "東京は日本の首都である。人口は多い!「大きい。」と言われる。そして"
    assert keep_within(text, 100, finished=True).stop == "eos"  # the model ended it within the budget
    kept = keep_within(text, 20, finished=True)
    assert kept.text == "東京は日本の首都である。人口は多い!" and kept.stop == "sentence"
    assert keep_within(text, 25, finished=False).text == "東京は日本の首都である。人口は多い!「大きい。」"  # closer kept
    # unfinished text within the budget still ends at a sentence end, never mid-sentence
    assert keep_within(text, 100, finished=False).text == "東京は日本の首都である。人口は多い!「大きい。」と言われる。"
    assert keep_within("句点のない長い文章です", 5, finished=True) == keep_within("句点のない長い文章です", 5, False)
    assert keep_within("句点のない長い文章です", 5, finished=True).text == "句点のない" and \
        keep_within("句点のない長い文章です", 5, True).stop == "cut"
    assert keep_within("Short. And more", 10, True, lang="en").text == "Short."


def test_keep_within_holds_for_any_text():
    rng = random.Random(0)
    alphabet = "あいうえお漢字。！？!?」 "
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        budget = rng.randrange(1, 60)
        kept = keep_within(text, budget, finished=rng.random() < 0.5)
        assert len(kept.text) <= budget
        if kept.stop == "cut":  # a hard cut only where the budget holds no sentence end at all
            assert not any(c in kept.text for c in SENTENCE_ENDS["ja"])
        if kept.stop == "sentence":
            assert kept.text.rstrip("」")[-1] in SENTENCE_ENDS["ja"]


def test_budget_and_token_allowance():
    assert char_budget(1000) == 200 and char_budget(300) == 100 and char_budget(300, 0.5, 10) == 150
    with pytest.raises(ValueError):
        char_budget(100, 0, 100)
    small, large = max_new_tokens_for(100, 0.6), max_new_tokens_for(400, 0.6)
    assert small % 16 == 0 and large % 16 == 0 and 100 * 0.6 < small < large


# ---- prompts ---------------------------------------------------------------------------------------------------------

def test_default_prompts_are_the_seed_format_in_japanese(tmp_path):
    user = TaskPrompts().user("summarize", text="本文。", length=120)
    assert user == "以下の文章を120文字以内で要約してください。\n\n本文。"
    text = format_prompt(Example("", user, ""), "ja-chat")
    assert text == f"### システム: {JA_SYSTEM}\n### ユーザー: {user}\n### アシスタント: "
    assert format_prompt(Example("", user, ""), "ja-chat", system="要約の専門家です。").startswith(
        "### システム: 要約の専門家です。\n### ユーザー: ")
    assert TaskPrompts().user("instruct", instruction="翻訳して", input="cat") == "翻訳して\n\ncat"
    f = tmp_path / "p.yaml"
    f.write_text("system: 簡潔に答えるアシスタントです。\nsummarize: \"{length}字で: {text}\"\n", encoding="utf-8")
    p = load_prompts(f)
    assert p.system == "簡潔に答えるアシスタントです。" and p.user("summarize", text="x", length=9) == "9字で: x"
    f.write_text("system: ok\nsummarize: \"{length}字で: {txt}\"\n", encoding="utf-8")
    with pytest.raises(QgenInputError, match=r"p.yaml, line 2, field 'summarize': bad placeholder 'txt'"):
        load_prompts(f)
    f.write_text("sytem: x\n", encoding="utf-8")
    with pytest.raises(QgenInputError, match=r"line 1, field 'sytem': unknown prompt field"):
        load_prompts(f)


# ---- the whole path with tiny causal models -------------------------------------------------------------------------

@pytest.mark.parametrize("name", CAUSAL)
def test_every_summary_keeps_its_budget_and_long_sources_are_cut_at_70_percent(models, contexts, name):
    bg = _load(models[name], task="summarize")
    items = [TaskInput(f"s{i}", contexts[i]) for i in range(4)]
    items += [TaskInput("long", "".join(contexts[10:22]), reference=contexts[10][:60])]  # ~2,000 characters
    records = bg.run(items, GREEDY, batch_size=4)
    assert [r["id"] for r in records] == [it.id for it in items]
    for it, r in zip(items, records):
        assert r["budget"] == max(100, int(len(it.text) * 0.2))
        assert r["length"] == len(r["prediction"]) <= r["budget"] and r["within_budget"] is True
        assert r["stop"] in ("eos", "sentence", "cut") and r["prediction"]
        if r["stop"] == "cut":
            assert not any(c in r["prediction"] for c in SENTENCE_ENDS["ja"])
        if r["stop"] == "sentence":
            assert r["prediction"].rstrip("」』）)")[-1] in SENTENCE_ENDS["ja"]
    long = records[-1]
    assert long["budget"] > 100 and long["target"] == items[-1].reference and "target" not in records[0]
    # the long source did not fit 512 tokens with its budget: its middle around 70% became "…", nothing else
    plan = bg.plan(items[-1])
    assert long["source_cut"] == plan.source_cut > 0
    cut = cut_middle(items[-1].text, plan.source_cut)
    assert cut in plan.prompt and plan.prompt_tokens + plan.max_new_tokens <= 512
    head, tail = cut.split("…")
    assert len(head) >= len(tail) and items[-1].text.startswith(head) and items[-1].text.endswith(tail)
    assert plan.max_new_tokens == long["max_new_tokens"] > bg.plan(items[0]).max_new_tokens  # from the budget
    m = budget_metrics(records)
    assert m["within_budget_rate"] == 1.0 and m["source_cut_rate"] == 1 / 5


@pytest.mark.parametrize("settings", [GREEDY, GenerationSettings()], ids=["greedy", "beams"])
def test_batched_equals_one_by_one(models, contexts, settings):
    # each row stops at its own budget (found by its prompt), so its batch does not change it, beam search included
    bg = _load(models["tiny-gpt2"], task="summarize", ratio=0.3, minimum=40)
    items = [TaskInput(f"s{i}", contexts[i]) for i in range(5)]
    together = bg.run(items, settings, batch_size=5)
    assert len({r["budget"] for r in together}) > 1  # different budgets in one batch
    assert together == [bg.run([it], settings, batch_size=1)[0] for it in items]


def test_prompt_formats(models, contexts):
    item = TaskInput("s", contexts[0])
    saved = _load(models["tiny-llama"], task="summarize")  # saved prompt format: ja-chat
    assert saved.plan(item).prompt.startswith(f"### システム: {JA_SYSTEM}\n### ユーザー: 以下の文章を100文字以内で")
    assert saved.plan(item).prompt.endswith("\n### アシスタント: ")
    calm = _load(models["tiny-gpt2"], task="summarize")  # saved: opencalm (no system prompt)
    assert calm.plan(item).prompt.endswith("\n### 回答:\n") and JA_SYSTEM not in calm.plan(item).prompt
    chat = _load(models["tiny-gpt2"], task="summarize", prompt_format="ja-chat",
                 prompts=TaskPrompts(system="要約の専門家です。"))
    assert chat.plan(item).prompt.startswith("### システム: 要約の専門家です。\n")
    with pytest.raises(QgenInputError, match="needs a causal model"):
        BudgetedGenerator(SimpleNamespace(kind="seq2seq", path="runs/t5"), BudgetRule())


def test_predict_summarize_eval_and_qgen_eval(models, contexts, tmp_path, capsys):
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(json.dumps({"id": f"d{i}", "text": contexts[i], "summary": contexts[i][:50]},
                                        ensure_ascii=False) for i in range(3)) + "\n", encoding="utf-8")
    out = tmp_path / "summaries.jsonl"
    rc = predict.main(["--task", "summarize", "--model", str(models["tiny-gpt-neox"]), "--input", str(src),
                       "--output", str(out), "--eval", "--no-hallucination", "--num-beams", "2",
                       "--summary-ratio", "0.1", "--summary-min", "60"])
    said = capsys.readouterr()
    assert rc == 0 and "within budget: 100.0% of 3" in said.err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(r["length"] <= r["budget"] == 60 for r in rows) and all(r["target"] for r in rows)
    metrics = json.loads((tmp_path / "summaries.metrics.json").read_text())["metrics"]  # as qgen eval names it
    assert metrics["within_budget_rate"] == 1.0 and 0 <= metrics["rougeL"] <= 1 and "rougeL" in said.out
    # the same file through qgen eval: ROUGE-L against the references
    assert evaluate.main(["--predictions", str(out), "--no-hallucination", "--report", str(tmp_path / "r.md")]) == 0
    assert f"{metrics['rougeL']:.4f}" in capsys.readouterr().out


def test_instruct_with_and_without_a_budget(models, tmp_path, capsys):
    src = tmp_path / "instr.json"
    src.write_text(json.dumps([{"id": "a", "instruction": "次の文を短くしてください。", "input": "山梨県の県庁所在地は甲府市です。"},
                               {"id": "b", "instruction": "日本の首都はどこですか?"}], ensure_ascii=False),
                   encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    assert predict.main(["--task", "instruct", "--model", str(models["tiny-llama"]), "--input", str(src),
                         "--output", str(out), "--max-chars", "30", "--num-beams", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and all(r["budget"] == 30 and r["length"] <= 30 for r in rows)
    assert rows[0]["source"] == "次の文を短くしてください。\n山梨県の県庁所在地は甲府市です。"
    assert predict.main(["--task", "instruct", "--model", str(models["tiny-llama"]), "--input", str(src),
                         "--output", str(out), "--num-beams", "1", "--max-new-tokens", "8"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(r["budget"] is None and r["within_budget"] is None and r["max_new_tokens"] == 8 for r in rows)
    capsys.readouterr()


def test_generate_one_input(models, contexts, capsys):
    rc = generate_cli.main(["--task", "summarize", "--model", str(models["tiny-gpt2"]), "--text", contexts[3],
                            "--show-prompt", "--num-beams", "1"])
    said = capsys.readouterr()
    assert rc == 0 and "prompt: " in said.err and "### 回答:" in said.err
    text = said.out.strip()
    assert 0 < len(text) <= 100 and f"budget 100, length {len(text)} characters" in said.err
    assert generate_cli.main(["--task", "instruct", "--model", str(models["tiny-gpt2"])]) == 2
    assert "error: field '--instruction': give the instruction" in capsys.readouterr().err


def test_bad_inputs_are_one_error_line(models, tmp_path, capsys):
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "1", "text": "本文です。"}\n{"id": "2", "txt": "x"}\n', encoding="utf-8")
    with pytest.raises(QgenInputError, match=r"docs.jsonl, line 2, field 'text'"):
        read_inputs(src, "summarize")
    rc = predict.main(["--task", "summarize", "--model", str(models["tiny-gpt2"]), "--input", str(src),
                       "--output", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"error: {src}, line 2, field 'text': missing, empty or not a string"]
    assert not (tmp_path / "o.jsonl").exists()
    rc = predict.main(["--task", "summarize", "--model", str(models["tiny-gpt2"]), "--input", str(src),
                       "--output", str(tmp_path / "o.jsonl"), "--summary-ratio", "0"])
    assert rc == 2 and "--summary-ratio must be > 0" in capsys.readouterr().err
