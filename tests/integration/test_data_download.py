"""download: recorded checksums match the local mirror; mirror copies, missing files, file:// downloads, atomicity.
Also runs each data_prep script as `python data_prep/x.py` from the repo root (it must not need an installed qgen)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qgen.cli import download as download_cli
from qgen.data import download
from qgen.data.download import SOURCES, Source, fetch, sha256_file

REPO = Path(__file__).resolve().parents[2]


def test_recorded_checksums_match_the_local_mirror(data_dir):
    checked = 0
    for sources in SOURCES.values():
        for s in sources:
            local = data_dir / s.relpath
            if s.sha256 is not None:
                assert local.is_file(), f"{s.relpath}: checksum recorded but no local copy to verify it"
                assert sha256_file(local) == s.sha256 and local.stat().st_size == s.size
                checked += 1
            assert s.url.startswith("https://") and s.url.endswith(Path(s.relpath).name)
    assert checked == 4 + 35  # JSQuAD valid, JCommonsenseQA ×2, KorQuAD dev; JaQuAD's 34 shards + LICENSE


def test_jaquad_mirror_copy_is_verified_and_complete(tmp_path, capsys, monkeypatch, data_dir):
    monkeypatch.setenv(download.MIRROR_ENV, str(data_dir))
    dest = tmp_path / "dest"
    assert download_cli.main(["jaquad", "--dest", str(dest)]) == 0
    assert "35 files in place" in capsys.readouterr().out
    assert len(list((dest / "jaquad" / "train").glob("*.json"))) == 30
    assert len(list((dest / "jaquad" / "dev").glob("*.json"))) == 4


def test_mirror_copy_reports_missing_by_name(tmp_path, capsys, monkeypatch, data_dir):
    monkeypatch.setenv(download.MIRROR_ENV, str(data_dir))
    dest = tmp_path / "dest"
    assert download_cli.main(["korquad", "jcommonsenseqa", "--dest", str(dest)]) == 1
    captured = capsys.readouterr()
    assert "missing in mirror: korquad/KorQuAD_v1.0_train.json" in captured.err
    assert "3 files in place" in captured.out and "1 missing in mirror" in captured.out
    for rel in ("korquad/KorQuAD_v1.0_dev.json", "jglue/jcommonsenseqa-v1.3/valid-v1.3.json"):
        assert (dest / rel).read_bytes() == (data_dir / rel).read_bytes()
    assert not (dest / "korquad/KorQuAD_v1.0_train.json").exists()
    # second run: verified copies are left in place
    assert download_cli.main(["jcommonsenseqa", "--dest", str(dest)]) == 0
    assert capsys.readouterr().out.count("present ") == 2


def test_corrupt_mirror_file_is_not_installed(tmp_path, capsys):
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    rel = "jglue/jcommonsenseqa-v1.3/valid-v1.3.json"
    (mirror / rel).parent.mkdir(parents=True)
    (mirror / rel).write_text("tampered\n", encoding="utf-8")
    assert download_cli.main(["jcommonsenseqa", "--dest", str(dest), "--mirror", str(mirror)]) == 2  # bad input
    err = capsys.readouterr().err
    assert f"error: {mirror / rel}: size 9 bytes, expected 235633 (not the published file)" in err
    assert not dest.exists() or not any(p.is_file() for p in dest.rglob("*"))  # no file, no temp file


def test_missing_mirror_folder(tmp_path, capsys):
    assert download_cli.main(["jsquad", "--dest", str(tmp_path), "--mirror", str(tmp_path / "nope")]) == 2
    assert "mirror folder not found" in capsys.readouterr().err


def test_download_over_file_url(tmp_path, capsys, monkeypatch):
    payload = b"{\"data\": []}\n" * 1000
    src = tmp_path / "remote.json"
    src.write_bytes(payload)
    good = Source("x/remote.json", src.as_uri(), hashlib.sha256(payload).hexdigest(), len(payload))
    bad = Source("x/bad.json", src.as_uri(), "0" * 64)
    unknown = Source("x/unknown.json", src.as_uri())
    gone = Source("x/gone.json", (tmp_path / "gone.json").as_uri())
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.setitem(SOURCES, "jaqket", [good, bad, unknown, gone])
    dest = tmp_path / "dest"
    assert download_cli.main(["jaqket", "--dest", str(dest)]) == 1
    captured = capsys.readouterr()
    assert (dest / "x/remote.json").read_bytes() == payload
    assert f"downloaded x/unknown.json (no known checksum; sha256 {hashlib.sha256(payload).hexdigest()})" in captured.out
    assert "failed: x/bad.json: sha256" in captured.err and "failed: x/gone.json: cannot download" in captured.err
    assert sorted(p.name for p in (dest / "x").iterdir()) == ["remote.json", "unknown.json"]
    assert fetch(good, dest).startswith("present x/remote.json (sha256 ok)")
    assert fetch(good, dest, force=True).startswith("downloaded")


SCRIPTS = [
    ("prepare_jsquad.py", ["--task", "aqg_hl", "--limit", "3"], "jglue/jsquad-v1.3/valid-v1.3.json", "out.tsv"),
    ("prepare_quiz.py", ["--format", "jcommonsenseqa", "--style", "eval", "--limit", "3"],
     "jglue/jcommonsenseqa-v1.3/valid-v1.3.json", "out.json"),
    ("prepare_korquad.py", ["--limit", "3"], "korquad/KorQuAD_v1.0_dev.json", "out.jsonl"),
]


@pytest.mark.parametrize("script, args, data, out_name", SCRIPTS)
def test_scripts_run_from_repo_root(tmp_path, data_dir, script, args, data, out_name):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = tmp_path / out_name
    cmd = [sys.executable, f"data_prep/{script}", "--input", str(data_dir / data), "--output", str(out), *args]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "written 3 to" in done.stdout and out.is_file()
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    cmd[cmd.index("--input") + 1] = str(bad)
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith(f"error: {bad}") and "Traceback" not in done.stderr


def test_download_script_from_repo_root(tmp_path, data_dir):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {download.MIRROR_ENV: str(data_dir)}
    done = subprocess.run([sys.executable, "data_prep/download.py", "jsquad", "--dest", str(tmp_path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "missing in mirror: jglue/jsquad-v1.3/train-v1.3.json" in done.stderr
    assert (tmp_path / "jglue/jsquad-v1.3/valid-v1.3.json").is_file()
