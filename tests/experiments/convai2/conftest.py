"""Shared paths for the ConvAI2 tests (no optional backend imported here)."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "experiments" / "convai2" / "fixtures"


@pytest.fixture
def fixture_dir():
    return FIXTURES
