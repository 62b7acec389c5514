"""A banned word is not written with one character swapped (issue 29): `--bad_words 金沢市` gave `エ沢市の県庁所在地…`
with the shipped qgen-small-ja — the model copies the word from its input and, with the first token banned, copies on
from the second. Words of 3+ characters are now banned with any one character replaced too."""

from __future__ import annotations

import re

import torch

from qgen.cli.generate import main as generate_main
from qgen.inference.bad_words import SubstringBanProcessor, contains_bad, variants
from qgen.models.loading import load_tokenizer, resolve

CONTEXT = "金沢市は石川県の県庁所在地であり、兼六園で知られる。"


def test_the_processor_bans_the_token_that_would_finish_a_respelling():
    tok = load_tokenizer(resolve("qgen-small-ja"))
    vocab = len(tok)
    ban = SubstringBanProcessor(tok, variants(["金沢市"]), vocab, prompt_len=0)
    city = tok.convert_tokens_to_ids("市")
    for written in ("エ沢", "金沢", "ア沢"):  # any first character: the next token may not make it X沢市
        ids = torch.tensor([[tok.pad_token_id, *tok(written, add_special_tokens=False)["input_ids"]]])
        scores = ban(ids, torch.zeros(1, vocab))
        assert scores[0, city] == -float("inf"), written
    free = tok(" 石川", add_special_tokens=False)["input_ids"]
    scores = ban(torch.tensor([[tok.pad_token_id, *free]]), torch.zeros(1, vocab))
    assert scores[0, city] == 0  # 石川市 is another word: not banned
    for text, found in (("エ沢市の県庁所在地", "金沢市"), ("金エ市", "金沢市"), ("金沢の県庁所在地", None),
                        ("金沢大学", None),  # the last character stays: 金沢 + another word is not a respelling
                        ("の京都", None), ("新京都", "東京都"),  # a particle before 京都 is not part of a word
                        ("大坂の", None)):  # two characters: too short to ban respellings of
        assert contains_bad(text, variants(["金沢市", "東京都", "大阪"])) == found, text


def test_generate_writes_no_respelling_of_the_banned_word(capsys):
    argv = ["--model", "qgen-small-ja", "--context", CONTEXT, "--answer", "石川県", "--num-return-sequences", "3",
            "--max-new-tokens", "24"]
    assert generate_main(argv) == 0
    assert "金沢市" in capsys.readouterr().out  # without the ban the model copies the city's name
    assert generate_main([*argv, "--bad_words", "金沢市"]) == 0
    outputs = capsys.readouterr().out.splitlines()
    assert len(outputs) == 3
    for line in outputs:
        assert contains_bad(line.split(". ", 1)[1], ["金沢市"]) is None and not re.search(r"\S沢市|金\S市", line), line
