"""Unit tests read the checked-in rows of tests/fixtures/ (same layout as the real data folder), never QGEN_DATA_DIR."""

from pathlib import Path

import pytest
from conftest import data_file_fixtures

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/fixtures/: a few dozen real rows of each data set (tests/fixtures/README.md), so no skip and no network."""
    return FIXTURES


data_file_fixtures(globals())  # jsquad_valid, jcqa_train, ... under tests/fixtures/ (see tests/conftest.py)
