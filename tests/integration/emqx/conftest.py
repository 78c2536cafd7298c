"""Fixtures of the EMQX integration tests (their helpers are in emqxtest.py)."""
import pytest


@pytest.fixture
def report_dir(tmp_path):
    return str(tmp_path / "report")
