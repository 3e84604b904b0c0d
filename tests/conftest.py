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


def pytest_collection_modifyitems(session, config, items):
    """Start the CUDA simulator's child run (test_cuda_sim.py) now, beside the suite."""
    for item in items:
        if item.name == "test_cuda_simulator_parity_sweep":
            item.module.start_sweep()
            config.add_cleanup(item.module.stop_sweep)
            break
