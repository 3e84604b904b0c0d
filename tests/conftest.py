import numpy as np
import pytest

import fastloss


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _reset_backend():
    yield
    fastloss.set_backend(None)
