"""Which encoded examples lost their `<hl>` answer to the length limit (issue 29): a seq2seq source is cut from the
right (max_source_len), a causal prompt from the left (max_len). Checked on the ids the adapters really keep."""

import pytest

from qgen.data.examples import Example
from qgen.models.formats.sequence import answer_cuts, cut_note, make_format
from qgen.models.input_spec import InputSpec
from qgen.models.loading import load_tokenizer, resolve

TEXT = "山梨県の県庁所在地は甲府市です。東京は日本の首都です。"


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {name: load_tokenizer(resolve(name, [TEXT * 3, "<hl> 甲府市 <hl>"], root)) for name in ("tiny-t5", "tiny-gpt2")}


def _examples():
    return [Example("early", f"<hl> 甲府市 <hl>{TEXT * 6}", "q?"),  # the answer first
            Example("late", f"{TEXT * 6}<hl> 甲府市 <hl>", "q?"),  # the answer last
            Example("short", "山梨県の<hl> 甲府市 <hl>", "q?"),
            Example("plain", TEXT * 6, "q?")]  # no highlight: nothing to lose


@pytest.mark.parametrize("name, lost", [("tiny-t5", ["late"]), ("tiny-gpt2", ["early"])])
def test_the_cut_side_decides_which_answer_is_lost(tokenizers, name, lost):
    kind = "seq2seq" if name == "tiny-t5" else "causal"
    sequence_format = make_format(kind, tokenizers[name], InputSpec(max_source_len=32, max_target_len=8, max_len=40, prompt_format="raw"))
    examples = _examples()
    features = [sequence_format.encode(ex) for ex in examples]
    cuts = answer_cuts(sequence_format, examples, [sequence_format.kept_prompt(f) for f in features])
    assert [examples[i].id for i in cuts] == lost
    limit = "max_source_len 32" if kind == "seq2seq" else "max_len 40"
    assert cut_note(examples, cuts, sequence_format) == (f"1 of 4 records ({cuts[0] + 1} (id {lost[0]})) have their <hl> "
                                                 f"answer beyond {limit} tokens")


def test_nothing_is_lost_within_the_limit(tokenizers):
    sequence_format = make_format("seq2seq", tokenizers["tiny-t5"], InputSpec(max_source_len=512, max_target_len=8))
    examples = _examples()
    assert answer_cuts(sequence_format, examples, [sequence_format.encode(ex)["input_ids"] for ex in examples]) == []
