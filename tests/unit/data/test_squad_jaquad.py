"""JaQuAD (30 train shards, 4 dev shards, contexts with line breaks): reading directories, sentence windows.
On the two cut dev shards of tests/fixtures/; the published counts of the whole dev set: tests/integration."""

import subprocess
import sys

import pytest
from conftest import REPO

from qgen.core.errors import QgenInputError
from qgen.data.examples import read_tsv
from qgen.data.jsquad import HL, convert, sentence_window
from qgen.data.squad import SquadQuestion, read_squad_files


@pytest.fixture(scope="module")
def jaquad_dev(jaquad_dir):
    return read_squad_files([jaquad_dir / "dev"])


def test_a_directory_reads_every_shard_in_order(jaquad_dir, jaquad_dev):
    questions, skips = jaquad_dev
    assert len(questions) == 47 and len(skips) == 0  # the fixture's two shards (whole dev set: 3,939)
    assert len({q.context for q in questions}) == 15
    shards = sorted((jaquad_dir / "dev").glob("*.json"))
    first, _ = read_squad_files([shards[0]])
    assert questions[: len(first)] == first and len(first) < len(questions)


def test_an_id_repeated_across_files_is_skipped_and_counted(tmp_path, jaquad_dir):
    shard = sorted((jaquad_dir / "dev").glob("*.json"))[0]
    questions, skips = read_squad_files([shard, shard])
    assert len(questions) == len(read_squad_files([shard])[0])
    assert skips.counts() == {"duplicate id": len(questions)}


def test_an_empty_directory_is_a_named_error(tmp_path):
    with pytest.raises(QgenInputError, match="no \\*.json files") as e:
        read_squad_files([tmp_path])
    assert str(tmp_path) in str(e.value)


def test_a_line_break_ends_a_sentence():
    ctx = "見出し\n甲府市は山梨県の県庁所在地である。人口は約18万人。"
    q = SquadQuestion("q1", "県庁所在地は?", "甲府市", ctx.index("甲府市"), ctx, "t", "p")
    w = sentence_window(q)
    assert w.context == "甲府市は山梨県の県庁所在地である。"
    wide = sentence_window(q, neighbours=1)
    assert wide.context == ctx and wide.context[wide.answer_start:].startswith("甲府市")


def test_neighbours_skip_empty_lines_and_keep_the_span():
    ctx = "一文目。\n\n二文目は甲府市の話。\n三文目。四文目。"
    q = SquadQuestion("q1", "どこ?", "甲府市", ctx.index("甲府市"), ctx, "t", "p")
    assert sentence_window(q).context == "二文目は甲府市の話。"
    w = sentence_window(q, neighbours=1)
    assert w.context == "\n一文目。\n\n二文目は甲府市の話。\n三文目。".lstrip("\n")
    assert w.context[w.answer_start : w.answer_start + 3] == "甲府市"


def check_windows(questions) -> None:
    """Every answer is highlighted once in its window, with and without neighbours; windows are much shorter."""
    for n in (0, 1):
        rows = convert(questions, "aqg_hl", context_window="sentence", neighbours=n)
        assert len(rows) == len(questions)
        assert all(row.source.count(HL) == 2 and "\n" not in row.source for row in rows)
    full = convert(questions, "aqg_hl")
    sent = convert(questions, "aqg_hl", context_window="sentence")
    mean = lambda rows: sum(len(r.source) for r in rows) / len(rows)  # noqa: E731
    assert mean(sent) < 0.4 * mean(full)  # measured on the whole dev set: 84 vs 384 characters


def test_every_jaquad_dev_answer_stays_in_its_window(jaquad_dev):
    questions, _ = jaquad_dev
    assert len(questions) == 47
    check_windows(questions)


def test_prepare_jsquad_takes_a_directory(tmp_path, jaquad_dir):
    out, hold = tmp_path / "train.tsv", tmp_path / "valid.tsv"
    cmd = [sys.executable, str(REPO / "data_prep" / "prepare_jsquad.py"), "--input", str(jaquad_dir / "dev"),
           "--task", "qa", "--context-window", "sentence", "--neighbours", "1", "--holdout", "0.1",
           "--output", str(out), "--holdout-output", str(hold)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    train, valid = read_tsv(out), read_tsv(hold)
    assert len(train) + len(valid) == 47
    assert all(r.source.startswith("question: ") and r.target in r.source for r in train[:200])
    bad = subprocess.run([*cmd[:2], "--input", str(jaquad_dir / "dev"), "--task", "qa", "--neighbours", "1",
                          "--output", str(out)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--neighbours" in bad.stderr
    assert f"written {len(train)} to {out}" in proc.stdout
