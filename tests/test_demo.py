"""`python -m qgen.demo` end to end on the real JSQuAD file with a few steps (the learning itself is measured by the
demo run, not here): sentence-level sources, the chosen vocabulary size, the summary file and printed questions."""

import json

from qgen import demo
from qgen.data.examples import read_tsv
from qgen.data.tsv import clean


def test_demo_few_steps(data_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--data-dir", str(data_dir), "--output-dir", str(out), "--max-steps", "3", "--dev-limit", "8",
                      "--vocab-size", "3000", "--context-window", "sentence", "--max-source-len", "128"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["steps"] == 3 and summary["valid_start"] > 0
    assert summary["sample"]["context"] == demo.SAMPLE[0] and isinstance(summary["sample"]["question"], str)
    assert printed.count("[held out]") == 3 and "generated question:" in printed
    tiny = json.loads(next((out / "tiny").rglob("qgen_tiny.json")).read_text())
    assert 2900 <= tiny["vocab_size"] <= 3100  # sentencepiece may add the special symbols on top
    # sentence-level sources: the answer is in the (short) context, which ends a sentence or the paragraph
    rows = read_tsv(out / "data" / "train.tsv") + read_tsv(out / "data" / "dev.tsv")
    assert len(rows) == 4442 - (448 - 8)  # JSQuAD valid: 448 held-out questions, 8 kept for validation
    contexts = [r.source.split(" context: ", 1)[1] for r in rows]
    assert all(clean(r.source.split(" context: ")[0][len("answer: "):]) in c for r, c in zip(rows, contexts))
    assert sum(map(len, contexts)) / len(contexts) < 100  # whole JSQuAD paragraphs average ~184 characters
