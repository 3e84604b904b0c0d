"""The CUDA row-kernel factory (one row per block), on a row function written like the CPU
ones (math, plain loops over ``cols``, zero-based row views): a softmax cross-entropy with
integer labels, checked against NumPy. The row-wise losses' own row functions plug into the
same factory."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

from fastloss._kernels import cuda as K

from ._common import BLOCK, close, rng_for
from .toy_rows import toy_ce_row


def _ref(X, lab, sw, scale):
    m = X.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(X - m).sum(axis=1))
    P = np.exp(X - lse[:, None])
    onehot = np.zeros_like(X)
    onehot[np.arange(len(lab)), lab] = 1.0
    loss = lse - X[np.arange(len(lab)), lab]
    return (sw * loss, (sw * scale)[:, None] * (P - onehot),
            (sw * scale)[:, None] * P * (1 - P))


@pytest.mark.parametrize("N", [1, BLOCK // 2 + 3, 3 * BLOCK + 5],
                         ids=["one_row", "rows", "more_rows"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_kernel_value_grad_hess(N, dtype):
    C = 7 if N > 1 else 3 * BLOCK + 1  # shorter, and longer, than the block
    rng = rng_for("rows", N, dtype)
    X = rng.standard_normal((N, C)).astype(dtype)
    lab = rng.integers(0, C, N).astype(np.int64)
    sw = rng.uniform(0.5, 2.0, N)
    scale = 1.0 / N
    ref_l, ref_g, ref_h = _ref(X.astype(np.float64), lab, sw, scale)
    block = K.launch_config()[0]
    grid, threads = K.grid_for(N), K.row_threads(C)
    d = lambda a: cuda.to_device(np.ascontiguousarray(a))  # noqa: E731
    dX = d(X.reshape(-1))
    dummy = d(np.zeros(1, dtype))
    f64 = d(np.zeros(1))
    prm = (np.dtype(dtype).type(0.5),)
    # value + grad + hess, per-row losses, then the reduction (with finalize when needed)
    lout, gout, hout = (cuda.device_array(n, dtype) for n in (N, N * C, N * C))
    k = K.row_kernel(toy_ce_row, write_g=True, write_h=True, has_t=False, has_lab=True,
                     has_sw=True)
    k[grid, threads](dX, dummy, d(lab), f64, d(sw), prm, scale, C, 0, 1, lout,
                                 gout, hout, f64, f64, False)
    tol_dt = np.dtype(dtype)
    close(lout.copy_to_host(), ref_l.astype(dtype), tol_dt, "row losses")
    close(gout.copy_to_host().reshape(N, C), ref_g.astype(dtype), tol_dt, "grad")
    close(hout.copy_to_host().reshape(N, C), ref_h.astype(dtype), tol_dt, "hess")
    kr = K.row_kernel(toy_ce_row, write_g=False, write_h=False, has_t=False, has_lab=True,
                      has_sw=True)
    partials = cuda.device_array(N, np.float64)  # one value per row
    res64 = cuda.device_array(1, np.float64)
    kr[grid, threads](dX, dummy, d(lab), f64, d(sw), prm, scale, C, 1, 0, dummy,
                                  dummy, dummy, partials, res64, False)
    if N > 1:
        K.finalize_kernel()[1, block](partials, N, 1, res64, f64, 0.0)
    total = float(res64.copy_to_host()[0])
    ref_total = float(np.sum(ref_l))
    rtol = 1e-12 if dtype == "float64" else 1e-5
    assert abs(total - ref_total) <= rtol * abs(ref_total)
    # in place: the gradient overwrites the logits
    kg = K.row_kernel(toy_ce_row, write_g=True, write_h=False, has_t=False, has_lab=True,
                      has_sw=True)
    kg[grid, threads](dX, dummy, d(lab), f64, d(sw), prm, scale, C, 0, 0, dummy,
                                  dX, dummy, f64, f64, True)
    close(dX.copy_to_host().reshape(N, C), ref_g.astype(dtype), tol_dt, "grad in place")
