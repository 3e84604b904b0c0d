"""Run the CUDA kernel tests (tests/cuda_sim) under Numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM`` must be set before Numba is imported, so they run in a child
``python -m pytest`` with it set; a plain ``pytest`` thus runs them without a GPU. The child
starts when this test is collected (``tests/conftest.py``) and runs beside the rest of the
suite; the test waits for it and prints its summary (cases compared).
"""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from fastloss._spec import REGISTRY

from .child_run import ChildRun

HERE = os.path.dirname(os.path.abspath(__file__))


CHILD = ChildRun()


def start_sweep() -> None:
    """Start the simulator run in a child process (once). The conftest calls it as soon as
    this test is collected, so that the child runs beside the rest of the suite."""
    if importlib.util.find_spec("numba_cuda") is None or \
            os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return
    CHILD.start([os.path.join(HERE, "cuda_sim"), "-W", "error"], NUMBA_ENABLE_CUDASIM="1")


def stop_sweep() -> None:
    CHILD.stop()


def test_cuda_simulator_parity_sweep(capsys):
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed (pip install 'fastloss[cuda13]'): "
                    "the CUDA simulator comes with it")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("NUMBA_ENABLE_CUDASIM=1 here: tests/cuda_sim is collected in this process")
    start_sweep()
    rc, out, took = CHILD.wait()
    assert rc == 0, out[-6000:]
    m = re.search(r"(\d+) passed", out)
    assert m, out[-3000:]
    passed = int(m.group(1))
    assert not re.search(r"\d+ (failed|error|skipped)", out), out[-3000:]
    pointwise = sum(1 for s in REGISTRY.values() if s.kind == "pointwise")
    rowwise = sum(1 for s in REGISTRY.values() if s.kind == "rowwise")
    sweep = pointwise * 4 * 2 * 2  # loss x op x dtype x axis
    row_sweep = rowwise * 4 * 2 * 2  # loss x op x dtype x (tall, wide)
    contrastive = sum(1 for s in REGISTRY.values() if s.family == "contrastive")
    con_sweep = contrastive * 3 * 2  # loss x op x dtype (each: every reduction and option)
    assert passed > sweep + row_sweep + con_sweep, (passed, sweep, row_sweep, con_sweep)
    with capsys.disabled():
        print(f"\n[cuda simulator] {passed} CUDA-vs-CPU cases passed in {took:.0f} s "
              f"(parity sweeps: {pointwise} pointwise losses x 4 ops x 2 dtypes x 2 axes = "
              f"{sweep}, {rowwise} row-wise losses x 4 ops x 2 dtypes x 2 shapes = "
              f"{row_sweep}, {contrastive} contrastive losses x 3 ops x 2 dtypes = {con_sweep}; "
              f"the rest: options, device arrays, dispatch, determinism)")
