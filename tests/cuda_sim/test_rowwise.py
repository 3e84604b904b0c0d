"""Every row-wise loss x op x dtype on the CUDA backend equals the CPU one (the loss's own
row function compiled for the device), plus the options: class weights, ignore_index,
label smoothing, probability targets, 1-D inputs, reductions, weights, out= in place."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastloss
from fastloss._spec import REGISTRY

from ._common import BLOCK, SIM, call_op, close, is_dev, rng_for

ROWWISE = sorted(n for n, s in REGISTRY.items() if s.kind == "rowwise")
OPS = ("value", "grad", "value_and_grad", "grad_hess")
# several tasks of BLOCK rows (a finalize launch); a wide row (CPU: the 32-lane LSE)
SHAPES = {"tall": (3 * BLOCK + 5, 7), "wide": (5, 70)} if SIM else \
    {"tall": (3 * BLOCK + 5, 10), "wide": (300, 1000)}


def _check(name, op, y, p, dtype, device, **kw):
    loss = getattr(fastloss, name)
    if op == "grad_hess" and not REGISTRY[name].has_hess:
        with pytest.raises(NotImplementedError, match=name):
            loss.grad_hess(y, cuda.to_device(p), **kw)
        return
    ref = call_op(loss, op, y, p, backend="serial", **kw)
    if device:
        dy = cuda.to_device(y) if isinstance(y, np.ndarray) else y
        got = call_op(loss, op, dy, cuda.to_device(p), **kw)
        for g, r in zip(got, ref, strict=True):
            assert isinstance(g, float) if isinstance(r, float) else is_dev(g), type(g)
    else:
        got = call_op(loss, op, y, p, backend="cuda", **kw)
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        close(g, r, dtype, f"{name}.{op}[{i}] {dtype} {kw}")


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", ROWWISE)
def test_rowwise_cuda_equals_cpu(name, op, dtype, shape):
    spec = REGISTRY[name]
    (y, p), params = spec.sample(rng_for(name, dtype, shape), SHAPES[shape], np.dtype(dtype))
    _check(name, op, y, p, dtype, device=dtype == "float32", **params)


@pytest.mark.parametrize("kw", [
    {"class_weight": np.linspace(0.5, 2.0, 7)},
    {"ignore_index": 2},
    {"label_smoothing": 0.1},
    {"class_weight": np.linspace(0.5, 2.0, 7), "label_smoothing": 0.2, "ignore_index": 1},
    {"reduction": "none"},
    {"reduction": "sum", "sample_weight": np.linspace(0.0, 1.0, 3 * BLOCK + 5)},
], ids=["cw", "ignore", "smooth", "all", "none", "sum_sw"])
def test_cross_entropy_options(kw):
    (y, p), _ = REGISTRY["cross_entropy"].sample(rng_for("ce", str(kw)), (3 * BLOCK + 5, 7),
                                                 np.dtype(np.float64))
    for op in ("value", "value_and_grad", "grad_hess"):
        _check("cross_entropy", op, y, p, "float64", device=True, **kw)


def test_cross_entropy_probability_targets_and_unbatched():
    rng = rng_for("ce-soft")
    p = rng.standard_normal((2 * BLOCK + 1, 5))
    t = rng.dirichlet(np.ones(5), 2 * BLOCK + 1)
    for op in ("value", "value_and_grad", "grad_hess"):
        _check("cross_entropy", op, t, p, "float64", device=True, label_smoothing=0.05)
    _check("cross_entropy", "value_and_grad", np.int64(3), p[0], "float64", device=False)


def test_log_loss_one_column_and_kl_none():
    rng = rng_for("ll")
    q = rng.uniform(0.01, 0.99, 4 * BLOCK)
    y = rng.integers(0, 2, 4 * BLOCK)
    _check("log_loss", "value_and_grad", y, q, "float64", device=True)
    (pt, qt), _ = REGISTRY["kl_divergence"].sample(rng, (2 * BLOCK, 6), np.dtype(np.float32))
    _check("kl_divergence", "value_and_grad", pt, qt, "float32", device=True,
           reduction="none")


def test_rowwise_out_in_place_on_device():
    (y, p), _ = REGISTRY["cross_entropy"].sample(rng_for("ce-out"), (3 * BLOCK + 5, 7),
                                                 np.dtype(np.float32))
    ref_v, ref_g = fastloss.cross_entropy.value_and_grad(y, p, backend="serial")
    dp = cuda.to_device(p)
    v, g = fastloss.cross_entropy.value_and_grad(cuda.to_device(y), dp, out=dp)
    assert g is dp
    close(v, ref_v, np.float32)
    close(dp.copy_to_host(), ref_g, np.float32)
    dp = cuda.to_device(p)
    with pytest.raises(ValueError, match="overlaps"):
        fastloss.cross_entropy.grad(y[:-1], dp[:-1], out=dp[1:])
    out = np.empty_like(p)
    g = fastloss.cross_entropy.grad(y, p, out=out, backend="cuda")
    assert g is out
    close(out, fastloss.cross_entropy.grad(y, p), np.float32)


def test_rowwise_validation_on_device():
    (y, p), _ = REGISTRY["cross_entropy"].sample(rng_for("ce-bad"), (10, 4),
                                                 np.dtype(np.float64))
    y[3] = 7
    with pytest.raises(ValueError, match="y_true"):
        fastloss.cross_entropy(cuda.to_device(y), cuda.to_device(p))
    q = np.full((3, 4), 0.25)
    q[1, 2] = 1.5
    with pytest.raises(ValueError, match="y_pred must be probabilities"):
        fastloss.kl_divergence(cuda.to_device(np.full((3, 4), 0.25)), cuda.to_device(q))
