"""Fixtures shared by the integration tests."""

import pytest
from helpers import serve_models


@pytest.fixture(scope="session")
def serve_models_dir(tmp_path_factory):
    """The `--models` directory of the `qgen serve` tests (API and browser), built once per session."""
    return serve_models.build(tmp_path_factory.mktemp("serve_models"))
