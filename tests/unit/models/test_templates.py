"""Prompt formats: instruct models' chat templates (Gemma-it / Llama-3-instruct style) and the named plain templates."""

import json

import pytest

from qgen.core.text import normalize
from qgen.data.examples import Example
from qgen.models.formats.sequence import make_format
from qgen.models.formats.templates import format_prompt, resolve_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_tokenizer, resolve

GEMMA = ("{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
         "else message['role'] %}<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
         "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
LLAMA3 = ("{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
          "{{ message['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
          "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
TURN_TOKENS = ["<start_of_turn>", "<end_of_turn>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


@pytest.fixture(scope="module")
def tiny_dir(jsquad_valid, tmp_path_factory):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))
    texts = [normalize(p["context"]) for a in data["data"] for p in a["paragraphs"]][:100]
    d = tmp_path_factory.mktemp("tiny")
    for name in ("tiny-llama", "tiny-gpt2"):
        resolve(name, texts, d)
    return d


def chat_tokenizer(tiny_dir, name, template):
    tok = load_tokenizer(str(tiny_dir / name))
    tok.add_special_tokens({"extra_special_tokens": TURN_TOKENS}, replace_extra_special_tokens=False)
    tok.chat_template = template
    return tok


@pytest.mark.parametrize("template,expected", [
    (GEMMA, "<start_of_turn>user\n問題: 日本の首都は?\n0: 東京\n1: 大阪<end_of_turn>\n<start_of_turn>model\n"),
    (LLAMA3, "<|start_header_id|>user<|end_header_id|>\n\n問題: 日本の首都は?\n0: 東京\n1: 大阪<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n"),
])
@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_chat_template_prompt_has_one_bos_and_the_assistant_cue(tiny_dir, name, template, expected):
    tok = chat_tokenizer(tiny_dir, name, template)
    ex = Example("1", "問題: 日本の首都は?", "0: 東京", input="0: 東京\n1: 大阪")
    assert resolve_format("auto", tok) == "chat"
    text = format_prompt(ex, "auto", tok)
    assert text.endswith(expected)
    causal_format = make_format("causal", tok, InputSpec(max_len=128, prompt_format="auto"))
    feat = causal_format.encode(ex)
    prompt = causal_format.encode_prompt(ex)
    assert prompt[0] == tok.bos_token_id and prompt.count(tok.bos_token_id) == 1  # never <s><s>
    for special in ("<start_of_turn>", "<|eot_id|>"):
        if special in template:
            assert tok.convert_tokens_to_ids(special) in prompt  # the turn markers are single tokens
    target = tok("0: 東京", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert feat["input_ids"] == prompt + target
    assert feat["labels"] == [-100] * len(prompt) + target


def test_chat_needs_a_template(tiny_dir):
    tok = load_tokenizer(str(tiny_dir / "tiny-llama"))
    assert resolve_format("auto", tok) == "opencalm"
    with pytest.raises(ValueError, match="chat_template"):
        format_prompt(Example("1", "x", "y"), "chat", tok)


def test_named_plain_templates():
    ex = Example("1", "次の文を要約して", "要約", input="本文です。")
    # the formats the seed models were trained with: OpenCALM instruction data, ja chat-style, raw concatenation
    assert format_prompt(ex, "opencalm") == "次の文を要約して\n本文です。\n### 回答:\n"
    assert format_prompt(ex, "ja-chat") == ("### システム: あなたは優秀なアシスタントです。\n### ユーザー: 次の文を要約して\n"
                                            "本文です。\n### アシスタント: ")
    assert format_prompt(ex, "raw") == "次の文を要約して本文です。"
    assert format_prompt(Example("1", "問題: x\n\n### 回答:\n", "0: a"), "opencalm").count("### 回答:") == 1
