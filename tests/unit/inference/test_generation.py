"""Generation: sources built as data prep builds them, bad words blocked in every spelling, causal batching, LoRA dirs."""

from __future__ import annotations

import pytest
import torch
from helpers import inference_models
from helpers.greedy import BATCH_TOL, assert_greedy_under, stop_ids, teacher_forced_logits

from qgen.cli.generate import main as generate_main
from qgen.data.examples import Example
from qgen.data.jsquad import build_source, convert
from qgen.data.squad import read_squad
from qgen.inference.bad_words import bad_words_ids, contains_bad, variants
from qgen.inference.generation import GenerationSettings, Generator, Output
from qgen.inference.loader import load_inference_model

GREEDY = GenerationSettings(num_beams=1, no_repeat_ngram_size=0, max_new_tokens=16)  # as model.generate(do_sample=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory, jsquad_valid):
    return inference_models.build(tmp_path_factory.getbasetemp() / "qgen-inference", jsquad_valid)


@pytest.fixture(scope="module")
def sources(jsquad_valid):
    return [ex.source for ex in inference_models.jsquad_examples(jsquad_valid, "aqg", 12)]


@pytest.fixture(scope="module")
def gens(models):
    return {name: Generator(load_inference_model(models[name])) for name in ("t5", "t5-lora", "tiny-gpt2", "tiny-llama")}


def test_build_source_is_data_prep_source(jsquad_valid):
    questions, _ = read_squad(jsquad_valid)
    questions = questions[:150]
    for task in ("aqg", "aqg_hl", "qa"):
        prepared = {ex.id: ex.source for ex in convert(questions, task)}
        for q in questions:
            if q.id not in prepared:
                continue
            built = build_source(task, context=q.context, answer=q.answer, question=q.question,
                                 answer_start=q.answer_start)
            assert built == prepared[q.id]
    # without an offset, aqg_hl highlights the first occurrence: the same source whenever the annotation is the first
    firsts = [q for q in questions if q.context.find(q.answer) == q.answer_start]
    assert len(firsts) > 50
    prepared = {ex.id: ex.source for ex in convert(firsts, "aqg_hl")}
    for q in firsts:
        assert build_source("aqg_hl", context=q.context, answer=q.answer) == prepared[q.id]
    # the answer typed in another width is found through normalisation
    assert build_source("aqg_hl", context="県庁所在地は甲府市(1889年)", answer="１８８９") == "県庁所在地は甲府市( <hl> 1889 <hl> 年)"
    with pytest.raises(ValueError, match="does not occur"):
        build_source("aqg_hl", context="山梨県の県庁所在地は甲府市です。", answer="東京")


def _naive_ids_in(tok, word: str, ids: list[int]) -> bool:
    naive = tok(word, add_special_tokens=False)["input_ids"]
    return any(ids[i:i + len(naive)] == naive for i in range(len(ids) - len(naive) + 1))


def _bad_word_cases(gens, sources):
    """(model, source, word, kind) taken from the models' own unconstrained greedy outputs."""
    cases: dict[str, tuple] = {}
    for name in ("t5", "t5-lora"):
        g = gens[name]
        outs = g.generate([Example(str(i), s, "") for i, s in enumerate(sources)], GREEDY, batch_size=12)
        for src, out in zip(sources, outs):
            pieces = g.tokenizer.convert_ids_to_tokens(out.token_ids[0])
            for k, piece in enumerate(pieces):
                word = piece.lstrip("▁")
                if piece.startswith("▁") and len(word) >= 2 and word.isalpha():
                    cases.setdefault("start of a word", (name, src, word))
                if k >= 1 and not piece.startswith("▁") and len(piece) >= 2 and not piece.isascii() \
                        and not pieces[k - 1].endswith("▁") and not _naive_ids_in(g.tokenizer, piece, out.token_ids[0]):
                    cases.setdefault("inside a word", (name, src, piece))
                nxt = pieces[k + 1] if k + 1 < len(pieces) else ""
                if k >= 1 and piece.isalpha() and nxt.isalpha() and not piece.isascii() and not nxt.isascii():
                    cases.setdefault("across a token boundary", (name, src, piece[-1] + nxt[0]))
            text = out.texts[0]
            for a, b in zip(text, text[1:]):
                if a.isascii() and b.isascii() and (a + b).isalnum():
                    cases.setdefault("full-width form of an ASCII word", (name, src, "".join(chr(ord(c) + 0xFEE0) for c in a + b)))
    return cases


@pytest.mark.slow
def test_bad_words_blocked_at_word_start_inside_and_across_tokens(gens, sources):
    cases = _bad_word_cases(gens, sources)
    assert set(cases) == {"start of a word", "inside a word", "across a token boundary", "full-width form of an ASCII word"}
    for kind, (name, src, word) in cases.items():
        g = gens[name]
        ex = Example("x", src, "")
        free = g.generate([ex], GREEDY)[0].texts[0]
        assert contains_bad(free, variants([word])), (kind, word, free)
        for settings in (GREEDY, GenerationSettings(max_new_tokens=16, num_beams=3, num_return_sequences=2, no_repeat_ngram_size=0)):
            texts, notes = g.generate_avoiding(ex, settings, [word])
            assert len(texts) == settings.num_return_sequences and all(texts), (kind, texts)
            for t in texts:
                assert word not in t and variants([word])[-1] not in t, (kind, word, t)
            assert notes == [], (kind, notes)  # blocked while decoding, not just filtered afterwards


def test_bad_words_ids_cover_spellings(gens):
    tok = gens["t5"].tokenizer
    seqs = bad_words_ids(tok, variants(["部隊を", "ＡＢ"]))
    for text in ("部隊を", "日本の部隊を", "x部隊を", "AB", "xAB"):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert any(ids[-len(s):] == s for s in seqs), text
    assert contains_bad("これは(3です", variants(["（３"])) == "(3"
    assert contains_bad("山梨県", variants(["甲府"])) is None


def test_generate_cli_bad_words(models, sources, capsys):
    src = sources[0]
    args = ["--model", str(models["t5"]), "--source", src, "--num-beams", "1", "--max-new-tokens", "16"]
    assert generate_main(args) == 0
    free = capsys.readouterr().out.strip()
    word = free[2:4]
    assert generate_main([*args, "--bad_words", word, "zzz"]) == 0
    blocked = capsys.readouterr().out.strip()
    assert blocked and word not in blocked


def test_generate_cli_builds_the_task_source(models, capsys):
    common = ["--model", str(models["t5"]), "--max-new-tokens", "8", "--show-source", "--answer", "甲府市",
              "--context", "山梨県の県庁所在地は甲府市です。"]
    assert generate_main(common) == 0
    err = capsys.readouterr().err
    assert "source: answer: 甲府市 context: 山梨県の県庁所在地は甲府市です。" in err
    assert generate_main([*common, "--highlight"]) == 0
    assert "source: 山梨県の県庁所在地は <hl> 甲府市 <hl> です。" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--answer", "東京", "--context", "山梨県の県庁所在地は甲府市です。", "--highlight"], "does not occur"),
    (["--answer", "甲府市"], "--context"),
    (["--source", "x", "--num-beams", "1", "--num-return-sequences", "2"], "num_return_sequences"),
])
def test_generate_cli_bad_input(models, capsys, argv, message):
    assert generate_main(["--model", str(models["t5"]), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def test_generate_cli_missing_model(tmp_path, capsys):
    assert generate_main(["--model", str(tmp_path / "nope"), "--source", "x"]) == 2
    assert "model directory not found" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_causal_batched_left_padded_equals_one_by_one(gens, sources, name):
    g = gens[name]
    exs = [Example(str(i), s[: 40 + 17 * i], "") for i, s in enumerate(sources[:6])]  # different prompt lengths
    batched = g.generate(exs, GREEDY, batch_size=6)
    for ex, out in zip(exs, batched):
        prompt = g.encode(ex)
        assert g.tokenizer.decode(prompt, skip_special_tokens=True).rstrip().endswith("### 回答:")  # the template
        # only the new tokens, and each the unpadded model's greedy choice (up to a rounding near-tie, BATCH_TOL)
        assert_greedy_under(g.im.model, prompt, out.token_ids[0], seq2seq=False, tol=BATCH_TOL,
                            stop_ids=stop_ids(g.im.model, g.tokenizer), max_new_tokens=GREEDY.max_new_tokens)
        assert out.texts[0] == g.decode(out.token_ids[0])


# Merged W + s·BA against unmerged W·x + s·B(A·x): one function, summed in another order. On these tiny T5 logits
# (|logit| < 0.5) the two differ by <= 1e-4 (measured: 1.7e-5 .. 9.6e-5 over the six inputs), a missing adapter by
# >= 0.5: 1e-3 sits 10x above the first and 500x below the second. A greedy choice is checked to twice that (a gap
# is the difference of two logits, each off by up to LOGIT_TOL), never by comparing argmax chains (issue 29).
LORA_LOGIT_TOL = 1e-3


def test_lora_adapter_dir(models, gens, sources):
    from peft import AutoPeftModelForSeq2SeqLM

    lora = gens["t5-lora"]
    assert lora.im.kind == "seq2seq" and lora.im.task == "aqg"
    exs = [Example(str(i), s, "") for i, s in enumerate(sources[:6])]
    merged = lora.generate(exs, GREEDY, batch_size=6)
    unmerged = AutoPeftModelForSeq2SeqLM.from_pretrained(str(models["t5-lora"])).eval()
    base = gens["t5"].im.model
    for ex, out in zip(exs, merged):
        prompt = lora.tokenizer(ex.source)["input_ids"]
        generated = out.token_ids[0]
        ours = teacher_forced_logits(lora.im.model, prompt, generated, seq2seq=True)
        peft_s = teacher_forced_logits(unmerged, prompt, generated, seq2seq=True)
        torch.testing.assert_close(ours, peft_s, rtol=0, atol=LORA_LOGIT_TOL)  # the loader merged the adapter right
        without = teacher_forced_logits(base, prompt, generated, seq2seq=True)
        assert float((without - peft_s).abs().max()) > 100 * LORA_LOGIT_TOL  # ... and the adapter matters here
        # the batched, merged greedy decode is peft's own greedy decode, up to near-ties within the tolerance
        assert_greedy_under(unmerged, prompt, generated, seq2seq=True, tol=2 * LORA_LOGIT_TOL,
                            stop_ids=stop_ids(unmerged, lora.tokenizer), max_new_tokens=GREEDY.max_new_tokens)
        assert out.texts[0] == lora.decode(out.token_ids[0])


def test_generate_avoiding_widens_the_search_when_a_bad_word_slips_through(gens, monkeypatch):
    g = gens["t5"]
    calls = []

    def fake_generate(examples, settings, batch_size=32, bad_words=(), progress=False):
        # a spelling the blocking could not see: the first, narrow search returns only the bad word
        calls.append((settings.num_beams, settings.num_return_sequences, tuple(bad_words)))
        texts = ["甲府はどこ"] if settings.num_beams == 1 else ["甲府はどこ", "県庁所在地は?", "首都は?", "甲府?"]
        texts = texts[: settings.num_return_sequences]
        return [Output(texts, [[] for _ in texts])]

    monkeypatch.setattr(g, "generate", fake_generate)
    texts, notes = g.generate_avoiding(Example("x", "s", ""), GenerationSettings(num_beams=1), ["甲府"])
    assert texts == ["県庁所在地は?"]
    assert calls == [(1, 1, ("甲府",)), (2, 2, ("甲府",))]
    assert any("dropped" in n for n in notes) and any("widening" in n for n in notes)
    texts, notes = g.generate_avoiding(Example("x", "s", ""), GenerationSettings(num_beams=1), ["は", "甲府"], max_beams=4)
    assert texts == [] and "only 0 of 1" in notes[-1]


def test_sampling_is_reproducible_with_a_seed(gens, sources):
    g = gens["t5"]
    ex = [Example("x", sources[0], "")]
    s = GenerationSettings(do_sample=True, top_k=50, top_p=0.95, temperature=1.5, seed=7, num_return_sequences=4,
                           max_new_tokens=10)
    a, b = g.generate(ex, s)[0].texts, g.generate(ex, s)[0].texts
    assert a == b and len(a) == 4 and len(set(a)) > 1  # same seed, same samples; the samples differ among themselves


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_generate_cli_causal_bad_words(models, sources, capsys, name):
    args = ["--model", str(models[name]), "--source", sources[1], "--num-beams", "1", "--max-new-tokens", "10"]
    assert generate_main(args) == 0
    free = capsys.readouterr().out.strip()
    assert free and "### 回答" not in free  # only the new tokens are printed
    word = next(free[i:i + 2] for i in range(1, len(free) - 1) if free[i:i + 2].isalpha())
    assert generate_main([*args, "--bad-words", word]) == 0
    blocked = capsys.readouterr().out.strip()
    assert blocked and word not in blocked


def test_bad_words_are_strings():
    # issue 29: a nested list became the "word" "['金沢市']" (or an AttributeError); one string is one word
    assert variants("金沢市") == ["金沢市"]
    for wrong in ([["金沢市", "東京"]], ["金沢市", 3], [None]):
        with pytest.raises(TypeError, match="bad_words: expected a list of strings"):
            variants(wrong)
