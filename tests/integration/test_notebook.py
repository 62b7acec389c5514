"""notebooks/metrics.ipynb runs top to bottom on real JSQuAD data, in a kernel of this very interpreter."""

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[2]


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
    assert "400 predictions" in text and "hallucination_rate" in text and "checks passed" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
