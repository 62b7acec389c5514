"""`make lint`'s import contract (setup.cfg [importlinter]) holds for qgen, and breaks on a wrong-way import."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")

pytestmark = pytest.mark.skipif(not Path(LINT).exists(), reason="import-linter is not installed (pip install -e '.[dev]')")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT, "--no-cache", "--config", str(root / "setup.cfg")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_of_qgen(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "qgen", tmp_path / "qgen", ignore=shutil.ignore_patterns("__pycache__", "pretrained"))
    (tmp_path / "qgen" / "models" / "pretrained").mkdir()
    (tmp_path / "qgen" / "models" / "pretrained" / "__init__.py").write_text("")
    shutil.copy(REPO / "setup.cfg", tmp_path / "setup.cfg")
    return tmp_path


def test_the_package_keeps_the_contract(tmp_path):
    r = lint(copy_of_qgen(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


@pytest.mark.parametrize("module, bad_import, message", [
    ("core/text.py", "import qgen.training.config", "qgen.core is not allowed to import qgen.training"),
    ("models/loading.py", "from qgen.training import losses", "qgen.models is not allowed to import qgen.training"),
    ("inference/generation.py", "import qgen.training.loop", "qgen.inference is not allowed to import qgen.training"),
    ("training/losses.py", "import qgen.cli", "qgen.training is not allowed to import qgen.cli"),
    ("evaluation/report.py", "import torch", "qgen.evaluation is not allowed to import torch"),
    ("quiz/gate.py", "import qgen.training.schedule", "qgen.quiz is not allowed to import qgen.training"),
    ("data/tsv.py", "import argparse", "qgen.data is not allowed to import argparse"),
    ("cli/generation_flags.py", "import qgen.cli.predict", "No cycles are allowed in qgen.cli"),
])
def test_a_wrong_way_import_breaks_it(tmp_path, module, bad_import, message):
    root = copy_of_qgen(tmp_path)
    path = root / "qgen" / module
    path.write_text(path.read_text() + f"\n\ndef _wrong_way():\n    {bad_import}  # noqa\n")
    r = lint(root)
    assert r.returncode != 0
    assert message in " ".join(r.stdout.split()), r.stdout
