"""A damaged last/ stops `--resume` with one `error:` line naming the file (exit 2, no traceback) and is left as it
was: a resume never silently starts over."""

import json
import os
import shutil

import pytest
from helpers.train_helpers import cli_flags, one_thread  # noqa: F401  (fixture)

from qgen.cli.train import main

from .reliability_helpers import assert_loads

pytestmark = pytest.mark.usefixtures("one_thread")


def _truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def _write(text):
    return lambda path: path.write_text(text, encoding="utf-8")


def _append(text):
    return lambda path: path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _state(**changes):
    def edit(path):
        state = json.loads(path.read_text())
        state.update(changes)
        path.write_text(json.dumps(state))
    return edit


CASES = [  # (file in last/, how it is damaged, what the error line must say)
    ("model.safetensors", _truncate, "truncated"),
    ("model.safetensors", lambda p: p.write_bytes(b"\xff" * 64), "safetensors"),
    ("trainer_state.json", os.unlink, "missing"),
    ("trainer_state.json", _write("{not json"), "unreadable"),
    ("trainer_state.json", _state(step="five"), "field 'step'"),
    ("trainer_state.pt", _truncate, "unreadable training state"),
    ("trainer_state.pt", os.unlink, "missing"),
    ("qgen_config.yaml", _append("bogus_setting: 1\n"), "field 'bogus_setting': unknown setting"),
    ("qgen_config.yaml", _write("model: [unclosed\n"), "malformed YAML"),
    ("config.json", os.unlink, "missing"),
]


def _snapshot(directory):
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name, damage, says", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_damaged_last_is_a_named_error(make_conf, reference, tmp_path, capsys, name, damage, says):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    damage(out / "last" / name)
    before = _snapshot(out / "last"), _snapshot(out / "best")
    capsys.readouterr()
    assert main(cli_flags(make_conf(out, resume=True))) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert str(out / "last" / name) in errors[0] and says in errors[0], errors[0]
    assert (_snapshot(out / "last"), _snapshot(out / "best")) == before  # nothing restarted or overwritten
    assert not (out / ".qgen.lock").exists()  # the lock went with the failed run


def test_empty_last_directory_is_not_a_fresh_start(make_conf, reference, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "last")
    (out / "last").mkdir()
    assert main(cli_flags(make_conf(out, resume=True))) == 2
    assert "last/config.json: missing" in capsys.readouterr().err
    assert_loads(out / "best", with_state=False)
