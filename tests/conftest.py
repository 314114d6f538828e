"""Shared test set-up: hypothesis profiles and seeded fixtures (no optional backends imported here)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# `ci`: derandomized, no deadline (2-core CI machines are slow and shared).
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
