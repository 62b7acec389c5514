"""The paths that depend on a tokenizer's conventions, run with tiny stand-ins for the models users bring (OpenCALM's
byte-level BPE, rinna GPT-2's T5Tokenizer, sonoisa T5's spm, Llama-2's legacy spm; see tests/helpers/tiny_conventions.py):
label masking, pad = EOS, padded batched generation, `<hl>`, choice-label ids, loglik in both tokenisations, prompt
formats, LoRA save and reload. Weights are random; tokenizers are trained on real JCommonsenseQA text."""

import pytest
import torch
from helpers.greedy import BATCH_TOL, assert_greedy_under, stop_ids
from helpers.tiny_conventions import CAUSAL, CONVENTIONS, build

from qgen.core.files import write_json
from qgen.data.examples import Example
from qgen.data.quiz import read_quizzes, render
from qgen.inference.decoding import GenerationSettings
from qgen.inference.generation import Generator
from qgen.inference.loader import load_inference_model
from qgen.models import lora as qpeft
from qgen.models.formats.causal import IGNORE
from qgen.models.formats.sequence import make_format
from qgen.models.formats.special_tokens import add_special_tokens, resize_embeddings
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_model, load_tokenizer
from qgen.quiz.prompt import read_quiz
from qgen.quiz.scoring import QuizScorer
from qgen.quiz.tokenization import label_token_ids
from qgen.training.config import TrainConfig

GREEDY = GenerationSettings(num_beams=1, no_repeat_ngram_size=0, max_new_tokens=8)


@pytest.fixture(scope="module")
def quizzes(jcqa_train, jcqa_valid):
    train, _ = read_quizzes(jcqa_train, "jcommonsenseqa")
    valid, _ = read_quizzes(jcqa_valid, "jcommonsenseqa")
    return train, valid


@pytest.fixture(scope="module")
def dirs(tmp_path_factory, quizzes):
    texts = [render(q, "train")["instruction"] + render(q, "train")["output"] for q in quizzes[0][:150]]
    root = tmp_path_factory.mktemp("conventions")
    return {name: build(name, texts, root / name) for name in CONVENTIONS}


@pytest.fixture(scope="module")
def items(quizzes, tmp_path_factory):
    path = tmp_path_factory.mktemp("conv-data") / "eval.json"
    write_json(path, [render(q, "eval") for q in quizzes[1][:3]])
    return read_quiz(path)


def test_the_conventions_themselves(dirs):
    # what the stand-ins must reproduce (the table in tiny_conventions.py), as qgen's loader sees them
    calm = load_tokenizer(str(dirs["opencalm"]))
    assert type(calm).__name__ == "GPTNeoXTokenizer"
    assert calm.bos_token_id == calm.eos_token_id == calm.unk_token_id == 0
    assert calm.pad_token_id == calm.eos_token_id  # no pad token: the loader pads with EOS, adding no token
    assert len(calm) == load_model(str(dirs["opencalm"])).get_input_embeddings().weight.shape[0]
    assert calm.convert_ids_to_tokens(calm("a 東京")["input_ids"])[1].startswith("Ġ")
    assert calm("東京")["input_ids"][0] != calm.bos_token_id  # no BOS added
    rinna = load_tokenizer(str(dirs["rinna-gpt2"]))
    assert type(rinna).__name__ == "T5Tokenizer" and rinna.pad_token == "[PAD]" != rinna.eos_token
    assert rinna("東京")["input_ids"][-1] == rinna.eos_token_id and rinna.bos_token == "<s>"
    assert rinna("a [SEP] b", add_special_tokens=False)["input_ids"].count(rinna.sep_token_id) == 1
    t5 = load_tokenizer(str(dirs["sonoisa-t5"]))
    assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id, t5.bos_token_id) == (0, 1, 2, None)
    llama = load_tokenizer(str(dirs["llama2"]))
    assert (llama.unk_token_id, llama.bos_token_id, llama.eos_token_id) == (0, 1, 2)
    assert llama("東京")["input_ids"][0] == 1 and llama.pad_token_id == llama.eos_token_id
    assert llama.legacy is True


@pytest.mark.xfail(strict=True, reason="transformers 5's T5Tokenizer builds its Unigram model with unk_id=2 (T5's "
                   "layout); a T5Tokenizer-class spm whose <unk> has another id maps unknown characters to token 2 "
                   "(here </s>). The hub card's use_fast=False no longer helps: v5 ignores it.")
def test_rinna_style_unknown_characters_become_unk(dirs):
    tok = load_tokenizer(str(dirs["rinna-gpt2"]))
    ids = tok("山梨県", add_special_tokens=False)["input_ids"]  # 梨 is not in the tiny vocabulary
    assert tok.eos_token_id not in ids


@pytest.mark.parametrize("name", CAUSAL)
def test_causal_label_masking_with_pad_equal_to_eos(dirs, name):
    tok = load_tokenizer(str(dirs[name]))
    sequence_format = make_format("causal", tok, InputSpec(prompt_format="opencalm", max_len=256))
    exs = [Example("a", "問題: 日本の首都は?", "東京"), Example("b", "問題: 山梨県の県庁所在地は?", "甲府市です")]
    batch = sequence_format.collate([sequence_format.encode(ex) for ex in exs])
    for row, ex in enumerate(exs):
        prompt = sequence_format.encode_prompt(ex)
        target = tok(ex.target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        n = len(prompt) + len(target)
        labels = batch["labels"][row].tolist()
        assert labels[: len(prompt)] == [IGNORE] * len(prompt)  # the prompt carries no loss
        assert labels[len(prompt): n] == target  # the target and its EOS do, even where EOS is also the pad id
        assert labels[n:] == [IGNORE] * (len(labels) - n) and batch["attention_mask"][row].sum() == n
        assert prompt[: len(sequence_format.bos)] == sequence_format.bos and prompt.count(tok.bos_token_id) <= 1 + (
            tok.bos_token_id == tok.eos_token_id)


def test_seq2seq_labels_sonoisa_style(dirs):
    tok = load_tokenizer(str(dirs["sonoisa-t5"]))
    model = load_model(str(dirs["sonoisa-t5"]))
    sequence_format = make_format("seq2seq", tok, InputSpec(max_source_len=64, max_target_len=16))
    batch = sequence_format.collate([sequence_format.encode(Example("a", "東京", "首都")), sequence_format.encode(Example("b", "京", "都市は"))])
    for row in batch["labels"].tolist():
        kept = [t for t in row if t != IGNORE]
        assert kept[-1] == tok.eos_token_id == 1 and kept.count(1) == 1 and 0 not in kept  # pad 0 never a label
    _, labels = sequence_format.logits(model, batch)
    start = model.prepare_decoder_input_ids_from_labels(labels=labels)
    assert start[:, 0].tolist() == [0, 0]  # decoder starts from pad (id 0), as T5 does


@pytest.mark.parametrize("name", CONVENTIONS)
def test_padded_batched_generation_equals_one_by_one(dirs, quizzes, name):
    im = load_inference_model(str(dirs[name]))
    g = Generator(im)
    exs = [Example(str(i), q.question * (1 + i % 3), "") for i, q in enumerate(quizzes[1][:5])]  # lengths differ
    batched = g.generate(exs, GREEDY, batch_size=5)
    for ex, out in zip(exs, batched):
        # each token is the unpadded model's greedy choice, up to a rounding near-tie (helpers.greedy.BATCH_TOL)
        assert_greedy_under(im.model, g.encode(ex), out.token_ids[0], seq2seq=im.kind == "seq2seq", tol=BATCH_TOL,
                            stop_ids=stop_ids(im.model, im.tokenizer), max_new_tokens=GREEDY.max_new_tokens)


@pytest.mark.parametrize("name", CONVENTIONS)
def test_hl_is_one_special_token(dirs, name):
    tok = load_tokenizer(str(dirs[name]))
    model = load_model(str(dirs[name]))
    (hl,) = add_special_tokens(tok, ["<hl>"])
    assert resize_embeddings(model, tok) and model.get_input_embeddings().weight.shape[0] == len(tok) == hl + 1
    # words of the quiz template, so every tiny vocabulary spells them (see the rinna-style xfail above)
    ids = tok("以下の問題 <hl> 選択肢 <hl> から選んで", add_special_tokens=False)["input_ids"]
    assert ids.count(hl) == 2
    inside = ids[ids.index(hl) + 1: len(ids) - 1 - ids[::-1].index(hl)]
    assert tok.decode(inside).strip() == "選択肢"
    assert "<hl>" not in tok.decode(ids, skip_special_tokens=True)
    if name == "llama2":  # legacy=True: the piece after a special token starts with "▁" (legacy=False: it does not)
        after = tok("<hl>選択肢", add_special_tokens=False)["input_ids"][1]
        assert tok.convert_ids_to_tokens(after).startswith("▁")


@pytest.mark.parametrize("name", CAUSAL)
def test_choice_label_ids_include_the_trained_answer_token(dirs, name):
    tok = load_tokenizer(str(dirs[name]))
    ids = label_token_ids(tok, list("01234"))
    for label, variants in zip("01234", ids):
        # the first token of an answer "N: text" — what a model fine-tuned on such answers emits — is a spelling
        first = tok(f"{label}: マザーボード", add_special_tokens=False)["input_ids"][0]
        assert first in variants
        for t in variants:
            assert tok.decode([t]).strip().translate(str.maketrans("０１２３４", "01234")).rstrip(":") == label
    spellings = {tok.convert_ids_to_tokens(t) for v in ids for t in v}
    expected = {"opencalm": "Ġ2", "rinna-gpt2": "▁2", "llama2": "▁2:"}[name]
    assert expected in spellings


def _apart_by_hand(model, tok, sequence_format, prompt, choice):
    ctx = sequence_format.bos + tok(prompt, add_special_tokens=False)["input_ids"]
    cont = tok(choice, add_special_tokens=False)["input_ids"]
    return _sum_logp(model, ctx, cont)


def _joint_by_hand(model, tok, prompt, choice):
    stripped = prompt.rstrip()
    ctx = tok(stripped)["input_ids"]  # the harness's default: the tokenizer's own special tokens
    cont = tok(stripped + prompt[len(stripped):] + choice)["input_ids"][len(ctx):]
    return _sum_logp(model, ctx, cont)


def _sum_logp(model, ctx, cont):
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ctx + cont])).logits[0].double(), -1)
    return sum(float(logp[len(ctx) - 1 + j, t]) for j, t in enumerate(cont))


@pytest.mark.parametrize("name", CAUSAL)
def test_loglik_in_both_tokenisations(dirs, items, name):
    tok = load_tokenizer(str(dirs[name]))
    model = load_model(str(dirs[name])).eval()
    sequence_format = make_format("causal", tok, InputSpec(prompt_format="opencalm"))
    apart = QuizScorer(model, tok, sequence_format, "loglik", loglik_tokenization="apart").score(items)
    joint = QuizScorer(model, tok, sequence_format, "loglik", loglik_tokenization="joint").score(items)
    for it, a, j in zip(items, apart, joint):
        # float32 KV-cached sums vs one plain float64 log-softmax: differences ~1e-6 (see test_quiz_harness)
        assert a.scores == pytest.approx([_apart_by_hand(model, tok, sequence_format, a.prompt, c) for c in it.choices],
                                         abs=1e-4)
        assert j.scores == pytest.approx([_joint_by_hand(model, tok, j.prompt, c) for c in it.choices], abs=1e-4)
    if name == "rinna-gpt2":  # T5-style: the harness's default encoding ends the context with </s>, as here
        assert QuizScorer(model, tok, sequence_format, "loglik", loglik_tokenization="joint")._pair(
            items[0], joint[0].prompt, [], {})[0][-1] == tok.eos_token_id


@pytest.mark.parametrize("name", CAUSAL)
@pytest.mark.parametrize("fmt", ["opencalm", "alpaca", "ja-chat", "raw"])
def test_named_prompt_formats_start_with_at_most_one_bos(dirs, name, fmt):
    tok = load_tokenizer(str(dirs[name]))
    ids = make_format("causal", tok, InputSpec(prompt_format=fmt)).encode_prompt(Example("a", "日本の首都は?", "", "0: 東京"))
    assert ids.count(tok.bos_token_id) == (1 if name == "llama2" else 0)  # Llama-2: one, first; the others: none
    assert name != "llama2" or ids[0] == tok.bos_token_id


def test_chat_format_with_a_template_writing_bos(dirs):
    # Llama-2-chat's template starts with {{ bos_token }}; the tokenizer adds BOS too — the ids must hold one
    tok = load_tokenizer(str(dirs["llama2"]))
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")
    ids = make_format("causal", tok, InputSpec(prompt_format="chat")).encode_prompt(Example("a", "日本の首都は?", ""))
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    assert tok.decode(ids, skip_special_tokens=True).strip().startswith("[INST]")


@pytest.mark.parametrize("name", CONVENTIONS)
def test_lora_with_hl_saves_and_reloads(dirs, tmp_path, name):
    cfg = TrainConfig()
    cfg.lora.lora_r, cfg.lora.lora_dropout, cfg.model.add_special_tokens = 4, 0.0, ["<hl>"]
    cfg.model.prompt_format = "opencalm"
    tok = load_tokenizer(str(dirs[name]))
    model = load_model(str(dirs[name]))
    (hl,) = qpeft.add_special_tokens(model, tok, ["<hl>"])
    lora = qpeft.apply_peft(model, cfg.lora_spec(), tok)
    torch.manual_seed(0)
    with torch.no_grad():
        for n, p in lora.named_parameters():
            if "lora_B" in n or "trainable_tokens" in n:
                p.add_(torch.randn_like(p) * 0.05)  # as if trained: the adapter and the <hl> row change outputs
    out = tmp_path / "adapter"
    lora.save_pretrained(out)
    tok.save_pretrained(out)
    cfg.save(out)
    ids = torch.tensor([tok("以下の問題 <hl> 選択肢 <hl> から選んで", add_special_tokens=False)["input_ids"]])
    plain = torch.tensor([tok("以下の問題の選択肢から選んで", add_special_tokens=False)["input_ids"]])
    assert hl in ids[0].tolist()
    lora.eval()
    im = load_inference_model(str(out))
    base = load_model(str(dirs[name])).eval()

    def logits(m, x):
        with torch.no_grad():
            if im.kind == "seq2seq":
                return m(input_ids=x, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long)).logits
            return m(input_ids=x).logits

    # merged (reloaded) vs unmerged weights: the same sums in another order, float32 rounding only
    assert torch.allclose(logits(im.model, ids), logits(lora, ids), atol=1e-4)
    assert torch.allclose(logits(im.model, plain), logits(lora, plain), atol=1e-4)
    before = logits(base, plain)  # one column fewer: the base has no <hl>
    assert not torch.allclose(logits(im.model, plain)[..., : before.shape[-1]], before, atol=1e-3)  # adapter applied
    assert im.tokenizer.convert_tokens_to_ids("<hl>") == hl
