"""The errors a new user meets first: a mistyped model path, a directory for a file, a misspelt flag — each one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qgen.cli import main as qgen_main
from qgen.cli.predict import main as predict_main
from qgen.cli.train import main as train_main
from qgen.core.errors import QgenInputError
from qgen.models.location import check_model_location, looks_like_path

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def tsv(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text("q1\tanswer: 甲府市 context: 山梨県の県庁所在地は甲府市です。\t山梨県の県庁所在地は?\n", encoding="utf-8")
    return p


def _error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Repo id" not in err, err
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error: "), err
    return lines


# ---- a local model path that does not exist never goes to the hub --------------------------------------------------


def test_which_names_are_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for name in ("runs/aqg/best", "runs/aqg", "./model", "../model", "/abs/model", "~/model", "model/", "a b"):
        assert looks_like_path(name), name
    for name in ("sonoisa/t5-base-japanese", "rinna/japanese-gpt2-medium", "tiny-t5", "gpt2"):
        assert not looks_like_path(name), name
    check_model_location("sonoisa/t5-base-japanese")  # a hub name: left to the hub
    check_model_location(str(tmp_path / "runs"))  # an existing directory
    with pytest.raises(QgenInputError, match="model directory not found"):
        check_model_location("runs/aqg/best")
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(QgenInputError, match="is a file, expected a model directory"):
        check_model_location("weights.bin")


def test_train_with_a_mistyped_model_path(tmp_path, tsv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train_main(["--model", "runs/aqg/bset", "--train-file", str(tsv), "--output-dir", "o"]) == 2
    (line,) = _error_lines(capsys)
    assert line.startswith("error: runs/aqg/bset, field 'model': model directory not found")
    assert not (tmp_path / "o").exists()


def test_predict_with_a_mistyped_model_path(tmp_path, tsv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert predict_main(["--model", "runs/aqg/bset", "--input", str(tsv), "--output", "p.jsonl"]) == 2
    (line,) = _error_lines(capsys)
    assert "runs/aqg/bset" in line and "model directory not found" in line


# ---- a directory where a file is expected ----------------------------------------------------------------------------


def test_directory_for_a_file_says_so(tmp_path, tsv, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    assert train_main(["--train-file", str(folder), "--output-dir", str(tmp_path / "o")]) == 2
    (line,) = _error_lines(capsys)
    assert f"{folder}, field 'train_file': is a directory, expected a file" in line
    assert train_main(["--train-file", str(tsv), "--valid-file", str(folder), "--output-dir", str(tmp_path / "o")]) == 2
    assert "field 'valid_file': is a directory" in _error_lines(capsys)[0]
    assert train_main(["--config", str(folder)]) == 2
    assert "is a directory, expected a YAML config file" in _error_lines(capsys)[0]
    assert predict_main(["--model", "m", "--input", str(folder), "--output", str(tmp_path / "p.jsonl")]) == 2
    assert f"{folder}: is a directory, expected a file" in _error_lines(capsys)[0]
    assert qgen_main(["eval", "--predictions", str(folder)]) == 2
    assert f"{folder}: is a directory, expected a file" in _error_lines(capsys)[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "p.jsonl").exists()


# ---- a misspelt flag: one error line with a suggestion, then where the help is ----------------------------------------


@pytest.mark.parametrize("call, argv, message, see", [
    (train_main, ["--trian-file", "x.tsv"], "unrecognized arguments: --trian-file x.tsv (did you mean --train-file?)",
     "see train.py --help"),
    (predict_main, ["--model", "m", "--input", "i", "--outptu", "o"], "(did you mean --output?)", "see predict.py --help"),
    (predict_main, ["--task", "quiz", "--model", "m", "--input", "i", "--output-dir", "d", "--scoring", "logli"],
     "invalid choice: 'logli'", "see predict.py --task quiz --help"),
    (qgen_main, ["eval", "--predictions", "p", "--sortt", "f1"], "(did you mean --sort?)", "see qgen eval --help"),
    (qgen_main, ["index", "buld"], "(did you mean build?)", "see qgen index --help"),
    # argparse reports the required flag first: the misspelt one that was meant is named too
    (qgen_main, ["quiz", "tune-gate", "--without", "a", "--wiht", "b"],
     "required: --with (--wiht: did you mean --with?)", "see qgen quiz tune-gate --help"),
])
def test_misspelt_flag_is_two_lines(capsys, call, argv, message, see):
    with pytest.raises(SystemExit) as e:
        call(argv)
    assert e.value.code == 2
    lines = _error_lines(capsys)
    assert len(lines) == 2 and message in lines[0] and lines[1] == see, lines


def test_misspelt_flag_from_the_shell(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), "--trian-file", "x.tsv"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["error: unrecognized arguments: --trian-file x.tsv (did you mean --train-file?)",
                                        "see train.py --help"]


def test_every_command_main_turns_bad_input_into_one_line_and_exit_2(capsys):
    """`reports_input_errors` wraps each command's main(): the same exit code and one line whether it runs as
    `qgen X`, as a script or from Python; other exceptions still propagate (a bug is not bad input)."""
    from qgen.cli.parser import reports_input_errors

    @reports_input_errors
    def main(argv=None):
        if argv == ["bad"]:
            raise QgenInputError("expected a string", path="x.tsv", line=3, field="source")
        if argv == ["bug"]:
            raise KeyError("bug")
        return 0

    assert main([]) == 0
    assert main(["bad"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "x.tsv" in err and err.count("\n") == 1
    with pytest.raises(KeyError):
        main(["bug"])
