"""BM25 index over real JSQuAD contexts: corpus formats, a planted answer is found, the gate rule at its boundaries."""

import json

import pytest

from qgen.cli.index import main
from qgen.core.errors import QgenInputError
from qgen.core.text import normalize, split_title
from qgen.quiz.retrieval import build_index, gate_fires, load_index, read_corpus, retrieve_for, tokenize

PLANTED = "カルデラ天文台にある七色望遠鏡は、一九九九年にクリオネ博士が発明した。"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, jsquad_valid):
    d = tmp_path_factory.mktemp("idx")
    planted = d / "planted.jsonl"
    planted.write_text(json.dumps({"id": "planted-1", "title": "七色望遠鏡", "text": PLANTED}, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    build_index([jsquad_valid, planted], d / "index")
    return d / "index"


def test_tokenize_keeps_content_words():
    toks = tokenize("アメリカ合衆国の首都は、ワシントンです。")
    assert "首都" in toks and "ワシントン" in toks
    assert "の" not in toks and "、" not in toks and "です" not in toks


def test_squad_corpus_contexts_deduplicated(jsquad_valid, tmp_path):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))
    n_contexts = sum(len(a["paragraphs"]) for a in data["data"])
    passages = read_corpus(jsquad_valid)
    assert len(passages) == n_contexts
    # JSQuAD contexts are "TITLE [SEP] body": the title is split off
    first = data["data"][0]["paragraphs"][0]["context"]
    assert passages[0]["title"] and passages[0]["title"] in first and "[SEP]" not in passages[0]["text"]
    # a corpus with the same context twice indexes it once
    small = {"data": [{"title": "t", "paragraphs": [{"context": first, "qas": []}, {"context": first, "qas": []}]}]}
    (tmp_path / "dup.json").write_text(json.dumps(small, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "lines.txt").write_text("一行目の文章。\n\n二行目の文章。\n", encoding="utf-8")
    meta = build_index([tmp_path / "dup.json", tmp_path / "lines.txt"], tmp_path / "idx")
    assert meta["passages"] == 3 and meta["duplicates_dropped"] == 1


def test_planted_answer_is_retrieved(index_dir, jsquad_valid):
    index = load_index(index_dir)
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))
    assert len(index) == sum(len(a["paragraphs"]) for a in data["data"]) + 1
    hits = index.search(["七色望遠鏡を発明したのは誰? クリオネ博士"], k=3)[0]
    assert hits[0]["id"] == "planted-1" and hits[0]["text"] == PLANTED
    assert hits[0]["score"] > hits[1]["score"]
    # per-choice queries: the passage comes with the question + right choice
    found = retrieve_for(index, "七色望遠鏡を発明したのは誰?", ["クリオネ博士", "東京", "ワシントン"], k=1, max_passages=5)
    assert found[0]["id"] == "planted-1"
    assert len({p["id"] for p in found}) == len(found) <= 3


def test_real_jsquad_question_finds_its_context(index_dir, jsquad_valid):
    data = json.loads(jsquad_valid.read_text(encoding="utf-8"))
    index = load_index(index_dir)
    hits_at_5 = 0
    qas = [(qa["question"], qa["answers"][0]["text"], p["context"]) for a in data["data"][:20] for p in a["paragraphs"]
           for qa in p["qas"][:1]]
    for question, answer, context in qas:
        hits = index.search([f"{question} {answer}"], k=5)[0]
        hits_at_5 += normalize(split_title(context)[1]) in [h["text"] for h in hits]
    assert hits_at_5 / len(qas) > 0.9  # BM25 with question + answer finds the source paragraph most of the time


def test_query_with_no_known_word_returns_nothing(index_dir):
    index = load_index(index_dir)
    assert tokenize("ぴよぴよぽん") and not index.bm25.get_tokens_ids(tokenize("ぴよぴよぽん"))
    # an unknown-word query next to a real one: nothing for it, the real one unaffected
    hits = index.search(["ぴよぴよぽん", "七色望遠鏡"], k=3)
    assert hits[0] == [] and hits[1][0]["id"] == "planted-1"


@pytest.mark.parametrize("top1,margin,p,m,fires", [
    (0.50, 0.30, 0.5, 0.2, False),   # top1 == P is not unsure (strict <)
    (0.4999, 0.30, 0.5, 0.2, True),
    (0.90, 0.20, 0.5, 0.2, False),   # margin == M is not unsure
    (0.90, 0.1999, 0.5, 0.2, True),
    (0.30, 0.00, 0.0, 0.0, False),   # P = M = 0: never
    (1.00, 1.00, 1.01, 0.0, True),   # P > 1: always
])
def test_gate_rule(top1, margin, p, m, fires):
    assert gate_fires(top1, margin, p, m) is fires


def test_bad_corpus_line_names_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "よい文章。"}\n{"title": "文章なし"}\n', encoding="utf-8")
    with pytest.raises(QgenInputError, match=r"line 2.*'text'"):
        read_corpus(bad)


def test_cli_build_and_search(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in
                                ["富士山は日本一高い山である。", "琵琶湖は日本一大きい湖である。", PLANTED]), encoding="utf-8")
    assert main(["build", "--corpus", str(corpus), "--output", str(tmp_path / "i")]) == 0
    assert main(["search", "--index", str(tmp_path / "i"), "--query", "日本一大きい湖", "-k", "1", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert "琵琶湖" in json.loads(out)["hits"][0]["text"]
    assert main(["search", "--index", str(tmp_path / "missing"), "--query", "x"]) == 2
