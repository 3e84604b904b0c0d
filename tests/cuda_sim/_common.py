"""Helpers shared by the CUDA kernel tests (simulator or GPU)."""

from __future__ import annotations

import zlib

import numpy as np
from numba import cuda

from fastloss._kernels import cuda as K

SIM = not hasattr(cuda, "as_cuda_array")
BLOCK, ITEMS = K.launch_config()
SEG = BLOCK * ITEMS
# sizes that cut into several tasks (and rows of several tasks) under both configurations
N_FLAT = 1000 if SIM else 5 * SEG + 123
ROWS = (3, 300) if SIM else (3, 2 * SEG + 77)  # rows of several tasks (then a finalize)
SHORT_ROWS = (20, 50) if SIM else (64, 1000)  # rows of one task, several rows per block


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def is_dev(x) -> bool:
    return not isinstance(x, (np.ndarray, float)) and hasattr(x, "copy_to_host")


def host(x):
    return x.copy_to_host() if is_dev(x) else x


def close(got, ref, dtype, what=""):
    """``got`` (CUDA) equals ``ref`` (CPU) up to the last bits: the sums are added in another
    order, and the GPU's libdevice may round exp/log differently by an ulp."""
    rtol = 1e-12 if np.dtype(dtype) == np.float64 else 2e-6
    if isinstance(ref, float):
        assert isinstance(got, float), f"{what}: a reduction must be a Python float, got {got!r}"
        assert got == ref or abs(got - ref) <= rtol * max(1.0, abs(ref)), (what, got, ref)
        return
    got = host(got)
    assert isinstance(got, np.ndarray), (what, type(got))
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.shape, got.dtype,
                                                                ref.shape, ref.dtype)
    scale = float(np.max(np.abs(ref[np.isfinite(ref)]), initial=1.0))
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale, err_msg=what)


def call_op(loss, op, y, p, **kw):
    """``op`` of ``loss`` on ``(y, p)`` as a tuple (one element for value and grad)."""
    if op == "value":
        return (loss(y, p, **kw),)
    if op == "grad":
        return (loss.grad(y, p, **kw),)
    return getattr(loss, op)(y, p, **kw)
