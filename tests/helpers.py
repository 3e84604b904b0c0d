"""Shared test helpers (imported by test modules; fixtures live in conftest.py)."""

import os
import subprocess
import sys

import numpy as np

from fastloss._spec import REGISTRY

BACKENDS_CPU = ("serial", "parallel")
DTYPES = (np.float32, np.float64)
# float32 kernels compute in float32 where the maths allows: compare loosely.
RTOL = {np.float32: 2e-5, np.float64: 1e-10}


def pointwise_names():
    return sorted(n for n, s in REGISTRY.items() if s.kind == "pointwise")


def pointwise_hess_names():
    return sorted(n for n, s in REGISTRY.items() if s.kind == "pointwise" and s.has_hess)


def sample(name, rng, shape, dtype=np.float64):
    return REGISTRY[name].sample(rng, shape, dtype)


def kink_distance(name, params, y, p):
    """How far each element is from a point where the loss's gradient or Hessian jumps
    (infinity for smooth losses): finite differences must not straddle one."""
    d = p - y
    if name in ("mae", "quantile"):
        return np.abs(d)
    if name == "huber":
        return np.abs(np.abs(d) - params.get("delta", 1.0))
    if name == "smooth_l1":
        beta = params.get("beta", 1.0)
        return np.abs(d) if beta == 0 else np.abs(np.abs(d) - beta)
    if name in ("hinge", "squared_hinge"):
        return np.abs(1.0 - np.where(y > 0, 1.0, -1.0) * p)
    return np.full(np.shape(p), np.inf)


def run_python(code: str, env_extra=None, timeout=300):
    """Run code in a fresh interpreter; a crash (segfault, abort) shows as returncode < 0."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)


def nrt_balance(calls):
    """Run ``calls()`` with Numba's allocation counters on: ``(allocs, frees, meminfo
    allocs, meminfo frees)`` of that run (``calls`` is run once before, to compile)."""
    from numba.core.runtime import _nrt_python as nrt

    def stats():
        return (nrt.memsys_get_stats_alloc(), nrt.memsys_get_stats_free(),
                nrt.memsys_get_stats_mi_alloc(), nrt.memsys_get_stats_mi_free())

    calls()
    nrt.memsys_enable_stats()
    try:
        before = stats()
        calls()
        after = stats()
    finally:
        nrt.memsys_disable_stats()
    return tuple(b - a for a, b in zip(before, after, strict=True))
