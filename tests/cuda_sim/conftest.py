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
