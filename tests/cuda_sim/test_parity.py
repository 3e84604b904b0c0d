"""Every pointwise loss x op x dtype x axis: the CUDA backend equals the CPU one.

float64 cases pass host arrays to ``backend="cuda"`` (results must come back as NumPy
arrays); float32 cases pass device arrays under ``"auto"`` (results must stay on the
device, reductions must be Python floats). ``axis=-1`` cases give float32 many short rows
(several per block) with a broadcast ``(n,)`` target, and float64 a few long rows (several
tasks each, then a finalize launch) with a full target.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastloss
from fastloss._spec import REGISTRY

from ._common import N_FLAT, ROWS, SHORT_ROWS, call_op, close, is_dev, rng_for

POINTWISE = sorted(n for n, s in REGISTRY.items() if s.kind == "pointwise")
OPS = ("value", "grad", "value_and_grad", "grad_hess")
DTYPES = ("float32", "float64")
AXES = (None, -1)


def _inputs(spec, axis, dtype):
    rng = rng_for(spec.name, axis, dtype)
    shape = (N_FLAT,) if axis is None else (SHORT_ROWS if dtype == "float32" else ROWS)
    (y, p), params = spec.sample(rng, shape, np.dtype(dtype))
    if axis == -1 and dtype == "float32":
        y = np.ascontiguousarray(y[0])
    return y, p, params


@pytest.mark.parametrize("axis", AXES, ids=["flat", "rows"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", POINTWISE)
def test_cuda_equals_cpu(name, op, dtype, axis):
    spec = REGISTRY[name]
    loss = getattr(fastloss, name)
    y, p, params = _inputs(spec, axis, dtype)
    kw = dict(axis=axis, **params)
    if op == "grad_hess" and not spec.has_hess:
        with pytest.raises(NotImplementedError, match=name):
            loss.grad_hess(cuda.to_device(y), cuda.to_device(p), **kw)
        return
    ref = call_op(loss, op, y, p, backend="serial", **kw)
    on_device = dtype == "float32"
    if on_device:
        got = call_op(loss, op, cuda.to_device(y), cuda.to_device(p), **kw)  # "auto"
        for g, r in zip(got, ref, strict=True):
            assert isinstance(g, float) if isinstance(r, float) else is_dev(g), type(g)
    else:
        got = call_op(loss, op, y, p, backend="cuda", **kw)
        for g in got:
            assert isinstance(g, (float, np.ndarray)), type(g)
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        close(g, r, dtype, f"{name}.{op}[{i}] {dtype} axis={axis}")
