"""notebooks/metrics.ipynb runs top to bottom on real JSQuAD data, in a kernel of this very interpreter; the notebook
API imports under both its spellings, `import qgen.metrics` and `from qgen import metrics`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_both_spellings_import_the_notebook_api_without_torch():
    """A fresh interpreter, as a notebook kernel starts: `import qgen.metrics` was a ModuleNotFoundError (issue 29)."""
    code = (
        "import sys\n"
        "import qgen.metrics\n"
        "from qgen import metrics\n"
        "assert metrics is qgen.metrics, metrics\n"
        "assert metrics.sentence_bleu('今日は晴れ', '今日は晴れ') > 99.99\n"
        "assert metrics.exact_match_scores(['a', 'b'], ['a', 'c']) == [1.0, 0.0]\n"
        "assert callable(metrics.hallucination_rate) and '何' in metrics.QUESTION_STOP_WORDS\n"
        "assert callable(metrics.read_predictions)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]  # the notebook API stays light


nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernelspec for sys.executable in a temporary JUPYTER_PATH: never a `python` found on PATH by chance."""
    spec = tmp_path / "jupyter" / "kernels" / "qgen-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "qgen test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("QGEN_PREDICTIONS", raising=False)
    return "qgen-test"


def test_metrics_notebook_runs(data_dir, kernel_name, monkeypatch):
    monkeypatch.setenv("QGEN_DATA_DIR", str(data_dir))
    nb = nbformat.read(REPO / "notebooks" / "metrics.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=300, resources={"metadata": {"path": str(REPO / "notebooks")}}
    )
    client.execute()  # raises CellExecutionError on any failing cell, including the notebook's own checks
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "qgen.metrics: both spellings import qgen.metrics" in text
    assert "400 predictions" in text and "hallucination_rate" in text and "checks passed" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
