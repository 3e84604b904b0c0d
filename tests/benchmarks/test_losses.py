"""pytest-benchmark micro-benchmarks: every registered loss x op at n = 1e5 float64
(cache-sized), fastloss serial and parallel against the plain NumPy version, one group per
(loss, op). Timed only when asked:

    pytest tests/benchmarks --benchmark-enable --benchmark-only
    pytest tests/benchmarks --benchmark-enable --benchmark-only -k huber \
        --benchmark-columns=min,median,ops

The project's pytest options include ``--benchmark-disable``, so a normal test run calls
each case once, untimed (a smoke run: every call works).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
from fastloss import bench as B
from fastloss._numpy_baselines import BASELINES

N = 100_000
pytestmark = pytest.mark.benchmark(min_rounds=5, max_time=0.5, warmup=True)

CASES = []
for _name, _spec in fastloss.REGISTRY.items():
    if getattr(_spec, "sample", None) is None:
        continue
    for _op in B.ops_of(_spec):
        CASES += [(_name, _op, b) for b in ("serial", "parallel")]
        if _name in BASELINES and BASELINES[_name].op(_op) is not None:
            CASES.append((_name, _op, "numpy"))

_INPUTS: dict = {}


def _inputs(name):
    if name not in _INPUTS:
        _INPUTS[name] = B.make_inputs(fastloss.REGISTRY[name], N, np.float64)
    return _INPUTS[name]


@pytest.mark.parametrize("name, op, impl", CASES, ids=["-".join(c) for c in CASES])
def test_loss(benchmark, name, op, impl):
    args, params = _inputs(name)
    if impl == "numpy":
        fn = B._bind(BASELINES[name].op(op), args, params)
    else:
        fn = B.call_op(getattr(fastloss, name), op, args, params, impl)
        fn()  # compile outside the timing
    benchmark.group = f"{name}.{op} n={N:.0e}"
    benchmark.extra_info.update(loss=name, op=op, impl=impl, n=N)
    res = benchmark(fn)
    # the result is checked, not just produced: against the plain NumPy version (written
    # apart from the kernels), and the NumPy version against the serial kernel; where
    # there is no NumPy version of the op, the parallel kernel against the serial one
    base = BASELINES[name].op(op) if name in BASELINES else None
    if impl == "numpy":
        want = B.call_op(getattr(fastloss, name), op, args, params, "serial")()
    elif base is not None:
        want = B._bind(base, args, params)()
    else:
        want = B.call_op(getattr(fastloss, name), op, args, params, "serial")()
        if impl == "serial":  # no reference but itself: the parallel kernel's bits
            want = B.call_op(getattr(fastloss, name), op, args, params, "parallel")()
        _assert_same(res, want, rtol=0.0)
        return
    _assert_same(res, want, rtol=1e-9)


def _flat(obj):
    if isinstance(obj, (tuple, list)):
        return [a for o in obj for a in _flat(o)]
    return [np.asarray(obj, dtype=np.float64)]


def _assert_same(got, want, rtol):
    got, want = _flat(got), _flat(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and np.all(np.isfinite(g))
        atol = 0.0 if rtol == 0.0 else 1e-12 * max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
