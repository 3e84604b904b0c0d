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
import subprocess
import sys
import tempfile
import time

import pytest

import fastloss
from fastloss._spec import REGISTRY

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


_child: dict = {}


def start_sweep() -> None:
    """Start the simulator run in a child process (once). The conftest calls it as soon as
    this test is collected, so that the child runs beside the rest of the suite."""
    if _child or importlib.util.find_spec("numba_cuda") is None or \
            os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    src = os.path.dirname(os.path.dirname(os.path.abspath(fastloss.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: no blocking on output
    _child["t0"] = time.perf_counter()
    _child["log"] = log
    _child["proc"] = subprocess.Popen(
        [sys.executable, "-m", "pytest", os.path.join(HERE, "cuda_sim"), "-q",
         "-p", "no:cacheprovider", "-W", "error", "--no-header"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )


def stop_sweep() -> None:
    """Kill the child if the session ends without waiting for it; close its log."""
    proc = _child.get("proc")
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    if _child.get("log") is not None:
        _child["log"].close()


def test_cuda_simulator_parity_sweep(capsys):
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed (pip install 'fastloss[cuda13]'): "
                    "the CUDA simulator comes with it")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("NUMBA_ENABLE_CUDASIM=1 here: tests/cuda_sim is collected in this process")
    start_sweep()
    proc, log, t0 = _child["proc"], _child["log"], _child["t0"]
    try:
        proc.wait(timeout=max(1.0, 1200 - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        stop_sweep()
        raise
    log.seek(0)
    out = log.read()
    log.close()
    took = time.perf_counter() - t0
    assert proc.returncode == 0, out[-6000:]
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
