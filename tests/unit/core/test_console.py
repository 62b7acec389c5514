"""What commands show: quiet libraries unless --verbose, plain progress lines in a log, a bar total that is what runs,
the step a resumed run continues from, and a warning when generate.py is asked for an input format the model never saw.

Time is a fake clock wherever progress depends on it; nothing here asserts on real durations.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import inference_models

from qgen.core.console import PlainProgress, configure, progress
from qgen.training.runlog import RunLogger

REPO = Path(__file__).resolve().parents[3]


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


# ---- quiet by default ------------------------------------------------------------------------------------------------


def test_configure_quiet_and_verbose():
    from transformers.utils import logging as hf_logging

    try:
        configure(verbose=False)
        assert hf_logging.get_verbosity() == hf_logging.ERROR and not hf_logging.is_progress_bar_enabled()
        # bitsandbytes (imported by peft for any LoRA checkpoint) warns at import that it found no hub kernel
        assert not logging.getLogger("bitsandbytes.backends.cpu.ops").isEnabledFor(logging.WARNING)
        configure(verbose=True)
        assert hf_logging.get_verbosity() == hf_logging.WARNING and hf_logging.is_progress_bar_enabled()
    finally:
        configure(verbose=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory, jsquad_valid):
    return inference_models.build(tmp_path_factory.getbasetemp() / "qgen-inference", jsquad_valid)


def _generate(model, *extra) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(REPO / "generate.py"), "--model", str(model), "--source", "answer: 甲府市 context: 山梨県",
            "--max-new-tokens", "4", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_generate_is_quiet_unless_verbose(models):
    quiet = _generate(models["t5"])
    assert quiet.returncode == 0 and quiet.stdout.strip()
    assert quiet.stderr == "", quiet.stderr  # no "Loading weights" bar, no FutureWarning
    loud = _generate(models["t5"], "--verbose")
    assert loud.returncode == 0 and loud.stdout == quiet.stdout
    assert "Loading weights" in loud.stderr


# ---- progress in a log -----------------------------------------------------------------------------------------------


def test_plain_progress_prints_a_line_per_interval():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(100, "train", "step", stream=out, interval=30, clock=clock)
    for _ in range(100):
        clock.t += 1.0
        bar.set_postfix({"loss": 1.5})
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 5  # after the first step (early: the rate), then at 31, 61, 91 s, and the closing line
    assert lines[0] == "train: 1/100 step (1%), 1 s, 1 step/s, loss 1.5"
    assert lines[1] == "train: 31/100 step (31%), 31 s, 1 step/s, loss 1.5"
    assert lines[-1].startswith("train: 100/100 step (100%), 100 s")


def test_plain_progress_prints_the_last_line_once():
    """The last progress line was printed twice in train.py and predict.py logs (issue 29): the update that
    finished the work printed it (an interval had passed) and close() printed it again."""
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(3, "generating", "ex", stream=out, interval=30, clock=clock)
    for _ in range(3):
        clock.t += 35.0  # each batch takes longer than the interval: each update prints its line
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [f"generating: {n}/3 ex ({p}%)" for n, p in ((1, 33), (2, 67),
                                                                                              (3, 100))]


def test_progress_is_a_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress(10, "x", "it", stream=io.StringIO()), PlainProgress)
    bar = progress(10, "x", "it", stream=Tty())
    assert not isinstance(bar, PlainProgress)
    bar.close()


# ---- the bar's total under a time limit ------------------------------------------------------------------------------


def test_time_limited_run_bar_total_is_what_will_run(tmp_path):
    """A 100 s limit at 2 steps/s with a 2000-step limit: the total is re-estimated as 200, and ends as what ran."""
    clock, out = FakeClock(), io.StringIO()
    logger = RunLogger(tmp_path, True, 2000, time_limit_s=100, stream=out, clock=clock)
    totals = []
    for _ in range(150):
        clock.t += 0.5
        logger.progress(1, loss=1.0)
        totals.append(logger.bar.total)
    assert set(totals) == {200}
    logger.close()  # stopped at step 150 (say, early stopping): the bar ends full at what ran
    assert logger.bar.total == logger.bar.n == 150
    assert out.getvalue().splitlines()[-1].startswith("train: 150/150 step (100%)")
    # without a time limit the total is the step limit
    plain = RunLogger(tmp_path / "b", True, 2000, stream=io.StringIO(), clock=clock)
    plain.progress(1)
    assert plain.bar.total == 2000
    plain.close()


@pytest.fixture
def tsv(tmp_path, jsquad_valid):
    examples = inference_models.jsquad_examples(jsquad_valid, "aqg", 40)
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text("".join(f"{e.id}\t{e.source[:300]}\t{e.target}\n" for e in examples[:32]), encoding="utf-8")
    dev.write_text("".join(f"{e.id}\t{e.source[:300]}\t{e.target}\n" for e in examples[32:]), encoding="utf-8")
    return train, dev


def _train(argv, capsys) -> tuple[str, str]:
    from qgen.cli.train import main

    assert main(argv) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_train_in_a_log_time_limit_and_resume(tmp_path, tsv, capsys):
    train, dev = tsv
    out_dir = tmp_path / "run"
    base = ["--model", "tiny-t5", "--train-file", str(train), "--valid-file", str(dev), "--output-dir", str(out_dir),
            "--batch-size", "8"]
    # stdout and stderr are not terminals here: plain progress lines, no carriage returns, no library bars
    out, err = _train([*base, "--max-steps", "2"], capsys)
    assert "\r" not in out + err and "Loading weights" not in err and "Writing model shards" not in err
    assert [line for line in err.splitlines() if line.startswith("train: ")][-1].startswith("train: 2/2 step (100%)")
    # --resume says where it continues from
    out, err = _train([*base, "--max-steps", "3", "--resume"], capsys)
    assert f"resumed from {out_dir / 'last'} at step 2 of 3" in out
    # a time limit far below the step limit: the bar ends full at the steps that ran, whatever their number
    out, err = _train([*base, "--output-dir", str(tmp_path / "timed"), "--max-steps", "100000", "--max-minutes",
                       "0.001"], capsys)
    summary = json.loads((tmp_path / "timed" / "metrics.jsonl").read_text().splitlines()[-1])
    ran = summary["step"]
    assert "(time_limit" in out and ran < 100000
    assert [line for line in err.splitlines() if line.startswith("train: ")][-1].startswith(f"train: {ran}/{ran} step")


# ---- generate.py --highlight on a model trained without <hl> ---------------------------------------------------------


def test_highlight_on_an_aqg_model_warns(models, capsys):
    from qgen.cli.generate import main as generate_main

    common = ["--model", str(models["t5"]), "--max-new-tokens", "4", "--answer", "甲府市",
              "--context", "山梨県の県庁所在地は甲府市です。"]
    assert generate_main(common) == 0
    assert "warning" not in capsys.readouterr().err  # its own format (aqg): no warning
    assert generate_main([*common, "--highlight"]) == 0
    err = capsys.readouterr().err
    assert "warning: --highlight gives the model aqg_hl input" in err and "was trained on aqg input" in err
    assert generate_main([*common, "--task", "qa", "--question", "県庁所在地は?"]) == 0
    assert "warning: --task qa gives the model qa input" in capsys.readouterr().err
    # an input that is rejected gets its one error line, no warning before it
    assert generate_main([*common[:4], "--answer", "東京", "--context", "山梨県の県庁所在地は甲府市です。", "--highlight"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
