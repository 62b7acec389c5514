"""A model with a learned position table (GPT-2's n_positions) cannot generate past it: asking for more new tokens
than it has positions is one QgenInputError naming --max-new-tokens before any generation (issue 29: the forward
pass failed with an index error once the sequence grew past the table)."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from qgen.core.errors import QgenInputError
from qgen.data.examples import Example
from qgen.inference.decoding import GenerationSettings
from qgen.inference.generation import Generator
from qgen.inference.loader import InferenceModel
from qgen.models.formats.sequence import make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_tokenizer, resolve

TEXTS = ["東京は日本の首都である。", "大阪は商業の街である。", "京都は古都である。"] * 20
POSITIONS = 24


@pytest.fixture(scope="module")
def short_gpt2(tmp_path_factory):
    tok = load_tokenizer(resolve("tiny-gpt2", TEXTS, tmp_path_factory.mktemp("tiny")))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_positions=POSITIONS, n_embd=16, n_layer=1, n_head=2, vocab_size=len(tok),
                                       bos_token_id=tok.bos_token_id, eos_token_id=None)).eval()
    model.generation_config.eos_token_id = None  # never stops early: every asked-for token is generated
    causal_format = make_format("causal", tok, InputSpec(max_len=16, prompt_format="raw"))
    return InferenceModel(model, tok, causal_format, "causal", InputSpec(task="lm", max_len=16), "short-gpt2", True)


def test_new_tokens_past_the_position_table_are_refused(short_gpt2):
    settings = GenerationSettings(num_beams=1, max_new_tokens=POSITIONS + 8, no_repeat_ngram_size=0)
    needs = POSITIONS + 8 + len(short_gpt2.format.bos) + 1  # the new tokens after BOS and one prompt token at least
    with pytest.raises(QgenInputError, match=rf"short-gpt2, field '--max-new-tokens': needs {needs} positions, "
                                             rf"the model \(gpt2\) has {POSITIONS}"):
        Generator(short_gpt2).generate([Example("a", "東京は", "")], settings)


def test_new_tokens_within_the_table_generate(short_gpt2):
    settings = GenerationSettings(num_beams=1, max_new_tokens=8, no_repeat_ngram_size=0)
    (out,) = Generator(short_gpt2).generate([Example("a", "東京は", "")], settings)
    assert len(out.texts) == 1
