"""The row-wise CUDA kernel runs one row per block, the block's threads splitting the row's
columns: rows shorter and longer than the block, every option of the row functions
(ignored labels, probability targets, class weights, label smoothing), every op, in place,
against the CPU backend; and the same bits for any grid size, run after run."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastloss
from fastloss._kernels import cuda as K

from ._common import call_op, close, host, rng_for

SMALL_BLOCK, ITEMS = 4, 2  # rows of 3 columns: 4 threads (shorter); of 37: 4 (longer)
N = 5


@pytest.fixture
def small_block():
    K.set_launch_config(block=SMALL_BLOCK, items=ITEMS)
    try:
        yield
    finally:
        K.set_launch_config()


def _ce_inputs(C, dtype, case):
    rng = rng_for("blocks", C, dtype, case)
    x = (3.0 * rng.standard_normal((N, C))).astype(dtype)
    kw = {}
    if case == "soft":
        y = rng.dirichlet(np.ones(C), N).astype(dtype)
        kw = {"label_smoothing": 0.1, "class_weight": np.linspace(0.5, 2.0, C)}
    else:
        y = rng.integers(0, C, N)
        if case == "ignore":
            y[1] = y[3] = -100
        elif case == "cw_smooth":
            kw = {"class_weight": np.linspace(0.5, 2.0, C), "label_smoothing": 0.2,
                  "ignore_index": int(y[2])}
    return y, x, kw


@pytest.mark.parametrize("case", ["labels", "ignore", "cw_smooth", "soft"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", [3, 37], ids=["shorter", "longer"])
def test_cross_entropy_rows_against_cpu(small_block, C, dtype, case):
    assert K.row_threads(C) == SMALL_BLOCK
    y, x, kw = _ce_inputs(C, dtype, case)
    loss = fastloss.cross_entropy
    for op in ("value", "grad", "value_and_grad", "grad_hess"):
        for red in ("mean", "none"):
            ref = call_op(loss, op, y, x, backend="serial", reduction=red, **kw)
            got = call_op(loss, op, y, x, backend="cuda", reduction=red, **kw)
            for i, (g, r) in enumerate(zip(got, ref, strict=True)):
                close(g, r, dtype, f"{op}[{i}] {red} C={C} {case}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("C", [3, 37], ids=["shorter", "longer"])
def test_kl_and_log_loss_rows_against_cpu(small_block, C, dtype):
    rng = rng_for("blocks-kl", C, dtype)
    p = rng.dirichlet(np.ones(C), N).astype(dtype)
    q = rng.dirichlet(np.ones(C), N).astype(dtype)
    lab = rng.integers(0, C, N)
    for name, y in (("kl_divergence", p), ("log_loss", lab)):
        loss = getattr(fastloss, name)
        for op in ("value", "grad", "value_and_grad"):
            ref = call_op(loss, op, y, q, backend="serial", reduction="sum")
            got = call_op(loss, op, y, q, backend="cuda", reduction="sum")
            for i, (g, r) in enumerate(zip(got, ref, strict=True)):
                close(g, r, dtype, f"{name}.{op}[{i}] C={C}")


@pytest.mark.parametrize("C", [3, 37], ids=["shorter", "longer"])
def test_gradients_in_place_on_device(small_block, C):
    """``out=y_pred``: every thread reads the row (``x[lab]``, ``q``) before any thread
    overwrites it."""
    rng = rng_for("blocks-inplace", C)
    lab = rng.integers(0, C, N)
    cases = [
        ("cross_entropy", lab, (3.0 * rng.standard_normal((N, C))).astype(np.float32), {}),
        ("cross_entropy", lab, rng.standard_normal((N, C)), {"label_smoothing": 0.1}),
        ("cross_entropy", rng.dirichlet(np.ones(C), N), rng.standard_normal((N, C)), {}),
        ("kl_divergence", rng.dirichlet(np.ones(C), N), rng.dirichlet(np.ones(C), N), {}),
        ("log_loss", lab, rng.dirichlet(np.ones(C), N), {}),
    ]
    for name, y, x, kw in cases:
        loss = getattr(fastloss, name)
        ref_v, ref_g = loss.value_and_grad(y, x, backend="serial", **kw)
        dx = cuda.to_device(x)
        v, g = loss.value_and_grad(cuda.to_device(y), dx, out=dx, **kw)
        assert g is dx
        close(v, ref_v, x.dtype, f"{name} value {kw}")
        close(dx.copy_to_host(), ref_g, x.dtype, f"{name} grad in place {kw}")


def test_single_row_and_unbatched(small_block):
    rng = rng_for("blocks-one")
    x = rng.standard_normal(37)
    for y, xx in ((np.int64(5), x), (np.array([5]), x[None])):
        ref = fastloss.cross_entropy.value_and_grad(y, xx, backend="serial")
        got = fastloss.cross_entropy.value_and_grad(y, xx, backend="cuda")
        for g, r in zip(got, ref, strict=True):
            close(g, r, np.float64, "one row")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bits_for_any_grid_and_run(dtype):
    """Blocks take rows in a grid-stride loop and the row values are added by a fixed tree:
    1 or 3 blocks give the same bits, and so does a second run."""
    rng = rng_for("blocks-grid", dtype)
    C = 37
    x = (3.0 * rng.standard_normal((7, C))).astype(dtype)
    y = rng.integers(0, C, 7)
    kw = {"label_smoothing": 0.1, "class_weight": np.linspace(0.5, 2.0, C)}
    runs = []
    for max_grid in (1, 3, 3):
        K.set_launch_config(block=SMALL_BLOCK, items=ITEMS, max_grid=max_grid)
        try:
            v, g = fastloss.cross_entropy.value_and_grad(y, x, backend="cuda", **kw)
            s = fastloss.kl_divergence(np.abs(x) / np.abs(x).sum(1, keepdims=True),
                                       np.full_like(x, 1.0 / C), backend="cuda",
                                       reduction="sum")
            none = fastloss.cross_entropy(y, x, backend="cuda", reduction="none", **kw)
        finally:
            K.set_launch_config()
        runs.append((v, host(g), s, host(none)))
    for r in runs[1:]:
        assert r[0] == runs[0][0] and r[2] == runs[0][2]
        np.testing.assert_array_equal(r[1], runs[0][1])
        np.testing.assert_array_equal(r[3], runs[0][3])


def test_row_threads():
    assert K.row_threads(10, 256, 16) == K.ROW_MIN_THREADS
    assert K.row_threads(1000, 256, 16) == 64
    assert K.row_threads(32000, 256, 16) == 256
    assert K.row_threads(37, 4, 2) == 4
    assert K.row_threads(3, 4, 2) == 4
