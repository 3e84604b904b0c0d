"""The fused linear + cross-entropy on the CUDA backend equals the CPU one: every op x dtype
x reduction, its options, with and without bias, device and host inputs, several chunks,
``out=`` on the device. (Its row bodies run one row per thread; the products are the tiled
matrix-product kernel.)"""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastloss

from ._common import SIM, close, is_dev, rng_for
from .test_multi import _call

L = fastloss.linear_cross_entropy
N, D, V = (8, 8, 16) if SIM else (300, 64, 1000)
CHUNK = 5 if SIM else 128  # two chunks, the last one short


def _inputs(dtype, key):
    rng = rng_for("linear", key, dtype)
    h = rng.standard_normal((N, D)).astype(dtype)
    w = (rng.standard_normal((V, D)) / np.sqrt(D)).astype(dtype)
    b = (0.3 * rng.standard_normal(V)).astype(dtype)
    y = rng.integers(0, V, N)
    y[1] = -100
    return y, h, w, b, rng


VARIANTS = [
    {},
    {
        "class_weight": "cw",
        "label_smoothing": 0.1,
        "z_loss": 1e-2,
        "softcap": 1.5,
        "sample_weight": "sw",
    },
]


def _kw(v, rng):
    kw = dict(v)
    if "class_weight" in kw:
        kw["class_weight"] = rng.uniform(0.5, 2.0, V)
        kw["sample_weight"] = rng.uniform(0.0, 2.0, N)
    return kw


# (variant, reduction, with a bias): every reduction, with and without bias, every option
CASES = [(0, "mean", True), (0, "none", False), (1, "sum", True), (1, "mean", False)]


def _compare(op, dtype, arrays, variant, red, **kw):
    ref = _call(L, op, arrays, reduction=red, backend="serial", chunk_size=CHUNK, **kw)
    dev = [arrays[0]] + [cuda.to_device(a) for a in arrays[1:]]
    got = _call(L, op, dev, reduction=red, chunk_size=CHUNK, **kw)  # "auto": on the device
    assert len(got) == len(ref)
    for k, (g, r) in enumerate(zip(got, ref, strict=True)):
        what = f"{op}[{k}] {variant} {red} bias={len(arrays) == 4}"
        assert isinstance(g, float) or is_dev(g), what
        close(g, r, dtype, what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_cuda_equals_cpu(dtype):
    y, h, w, b, rng = _inputs(dtype, "vg")
    for v, red, bias in CASES:
        arrays = (y, h, w, b) if bias else (y, h, w)
        _compare("value_and_grad", dtype, arrays, VARIANTS[v], red, **_kw(VARIANTS[v], rng))
    if dtype == "float32":
        _compare("value", dtype, (y, h, w, b), {}, "mean")
        _compare("grad", dtype, (y, h, w), {}, "sum")
    # host inputs sent to "cuda" come back to the host
    ref = _call(L, "value_and_grad", (y, h, w, b), backend="serial", chunk_size=CHUNK)
    got = _call(L, "value_and_grad", (y, h, w, b), backend="cuda", chunk_size=CHUNK)
    for g, r in zip(got, ref, strict=True):
        assert isinstance(g, (float, np.ndarray))
        close(g, r, dtype, "host inputs")


def test_linear_out_on_device_and_default_chunk():
    y, h, w, b, _ = _inputs("float64", "out")
    ref = L.value_and_grad(y, h, w, b, backend="serial")
    dh, dw, db = (cuda.to_device(a) for a in (h, w, b))
    outs = (cuda.device_array(h.shape), cuda.device_array(w.shape), cuda.device_array(V))
    v, g = L.value_and_grad(y, dh, dw, db, out=outs)
    assert all(a is o for a, o in zip(g, outs, strict=True))
    close(v, ref[0], np.float64)
    for a, r in zip(g, ref[1], strict=True):
        close(a, r, np.float64, "out")
    with pytest.raises(ValueError, match="y_true"):
        L(np.full(N, V), dh, dw)
