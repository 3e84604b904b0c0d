import numpy as np
import pytest

import fastloss

#: tests that wait for a child run started at collection: they go last
WAITERS = ("test_cuda_simulator_parity_sweep", "test_background_files_pass")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _reset_backend():
    yield
    fastloss.set_backend(None)


def pytest_collection_modifyitems(session, config, items):
    """Start the child runs now, beside the suite: the CUDA simulator's (test_cuda_sim.py)
    and the two of the long, self-contained files (test_background.py), whose tests leave
    this process; the tests that wait for them go last."""
    for item in items:
        if item.name == "test_cuda_simulator_parity_sweep":
            item.module.start_sweep()
            config.add_cleanup(item.module.stop_sweep)
            break
    waiter = next((i for i in items if i.name == "test_background_files_pass"), None)
    if waiter is not None and not waiter.module.started():
        bg = waiter.module
        moved = [i for i in items if bg.moves(i.path)]
        runs = bg.start([i.nodeid for i in moved] or None)
        config.add_cleanup(bg.stop)
        if moved and runs:
            config.hook.pytest_deselected(items=moved)
            ids = {id(i) for i in moved}
            items[:] = [i for i in items if id(i) not in ids]
    items.sort(key=lambda i: i.name in WAITERS)  # stable: the rest keep their order
