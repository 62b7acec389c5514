"""Unit tests read the checked-in rows of tests/fixtures/ (same layout as the real data folder), never QGEN_DATA_DIR."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/fixtures/: a few dozen real rows of each data set (tests/fixtures/README.md), so no skip and no network."""
    return FIXTURES
