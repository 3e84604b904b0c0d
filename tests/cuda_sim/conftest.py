"""CUDA tests that run kernels: under Numba's CUDA simulator, or on a real GPU.

They are collected only when ``NUMBA_ENABLE_CUDASIM=1`` was set before Numba was imported
(``tests/test_cuda_sim.py`` spawns ``python -m pytest tests/cuda_sim`` that way, so a plain
``pytest`` runs them) or when ``FASTLOSS_TEST_CUDA=1`` asks for them on a real GPU
(``tests/gpu/run_on_gpu.sh``). Under the simulator a block is 8 threads of 32 elements, so
that ~1k-element inputs still cut into several tasks and exercise every reduction path,
and a launch uses at most 3 blocks (blocks take tasks in a grid-stride loop, so the result
is the same). The simulator runs each GPU thread as a Python thread and hands over at
every ``syncthreads``: a short GIL switch interval makes it about 10x faster.
"""

import os
import sys

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
GPU = os.environ.get("FASTLOSS_TEST_CUDA") == "1"

if not (SIM or GPU):
    collect_ignore_glob = ["test_*.py"]
elif SIM:
    os.environ.setdefault("FASTLOSS_CUDA_BLOCK", "8")
    os.environ.setdefault("FASTLOSS_CUDA_ITEMS", "32")
    os.environ.setdefault("FASTLOSS_CUDA_MAX_GRID", "3")
    sys.setswitchinterval(5e-4)

    # The simulator finds a block's shared array by the line that asks for it, in a
    # look-up-then-store that the block's threads run at once: a thread switched out between
    # the two can store a second array, and the block's threads then stage tiles into two
    # different (uninitialised) arrays. That happened once under load (the tiled matmul of
    # info_nce's gradient returned 1e35s). The same look-up, under one lock:
    import threading

    import numpy as np
    from numba.cuda.simulator import kernelapi as _kernelapi

    _shared_array = _kernelapi.FakeCUDAShared.array
    _shared_lock = threading.Lock()

    def _locked_shared_array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory: nothing stored
            return _shared_array(self, shape, dtype, alignment)
        if isinstance(dtype, _kernelapi.types.Type):
            dtype = _kernelapi.numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with _shared_lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(shape, dtype)
        return res

    _kernelapi.FakeCUDAShared.array = _locked_shared_array
