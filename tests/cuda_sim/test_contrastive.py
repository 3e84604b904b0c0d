"""The contrastive losses on the CUDA backend equal the CPU ones: every loss x op x dtype x
reduction, their options, device and host inputs, ``out=`` in place, 1-D and empty inputs.

Their kernels run the CPU kernels' row bodies one row per thread, and the products of
info_nce / nt_xent are the tiled matrix-product kernel (checked on its own too, against
NumPy, for every transpose and shapes that are not multiples of the tile)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastloss
from fastloss._kernels import cuda as K
from fastloss._spec import REGISTRY

from ._common import SIM, close, is_dev, rng_for
from .test_multi import _call

CONTRASTIVE = sorted(n for n, s in REGISTRY.items() if s.kind == "matrix")
SHAPE = (11, 5) if SIM else (300, 64)  # rows and embedding size (no multiple of the tile)
VARIANTS = {
    "info_nce": [{}, {"temperature": 1.0}, {"temperature": 1e-3}],  # 1e-3: the row-max shift
    "nt_xent": [{}, {"temperature": 0.1}],
    "triplet_margin": [{}, {"p": 1.0}, {"p": 3.0, "swap": True}, {"margin": 0.1, "eps": 0.0}],
    "cosine_embedding": [{}, {"margin": 0.3}],
}


def _dev(arrays):
    return [cuda.to_device(a) for a in arrays]


def test_every_contrastive_loss_has_variants():
    assert set(VARIANTS) <= set(CONTRASTIVE)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["value", "grad", "value_and_grad"])
@pytest.mark.parametrize("name", CONTRASTIVE)
def test_contrastive_cuda_equals_cpu(name, op, dtype):
    spec = REGISTRY[name]
    loss = getattr(fastloss, name)
    arrays, params = spec.sample(rng_for(name, op, dtype), SHAPE, np.dtype(dtype))
    for v, kw in enumerate(VARIANTS.get(name, [{}])):  # the options with the default reduction
        kw = {**params, **kw}
        for red in spec.reductions if v == 0 else (spec.default_reduction,):
            ref = _call(loss, op, arrays, reduction=red, backend="serial", **kw)
            got = _call(loss, op, _dev(arrays), reduction=red, **kw)  # "auto": on the device
            for i, (g, r) in enumerate(zip(got, ref, strict=True)):
                what = f"{name}.{op}[{i}] {kw} {red}"
                assert isinstance(g, float) or is_dev(g), what
                close(g, r, dtype, what)
            if v == 0 and red == "none":  # host inputs sent to "cuda" come back to the host
                host = _call(loss, op, arrays, reduction=red, backend="cuda", **kw)
                for i, (h, r) in enumerate(zip(host, ref, strict=True)):
                    assert isinstance(h, np.ndarray), (name, op, i)
                    close(h, r, dtype, f"{name}.{op}[{i}] (host inputs)")


def test_out_in_place_and_one_dimensional():
    rng = rng_for("contrastive-out")
    a, p, n = (rng.standard_normal(SHAPE) for _ in range(3))
    ref = fastloss.triplet_margin.value_and_grad(a, p, n, backend="serial")
    da, dp, dn = _dev([a, p, n])
    v, g = fastloss.triplet_margin.value_and_grad(da, dp, dn, out=(da, dp, dn))
    assert all(gi is di for gi, di in zip(g, (da, dp, dn), strict=True))
    close(v, ref[0], np.float64)
    for d, r in zip((da, dp, dn), ref[1], strict=True):
        close(d.copy_to_host(), r, np.float64, "in place")
    z1, z2 = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    o1, o2 = cuda.device_array(SHAPE), cuda.device_array(SHAPE)
    g = fastloss.nt_xent.grad(cuda.to_device(z1), cuda.to_device(z2), out=(o1, o2))
    assert g[0] is o1 and g[1] is o2
    close(o2.copy_to_host(), fastloss.nt_xent.grad(z1, z2, backend="serial")[1], np.float64)
    with pytest.raises(TypeError, match="out"):
        fastloss.nt_xent.grad(cuda.to_device(z1), cuda.to_device(z2), out=(z1, z2))
    x1, x2 = a[0], p[0]  # one pair: (d,) inputs, a scalar label
    for red in ("mean", "none"):
        ref = fastloss.cosine_embedding.value_and_grad(x1, x2, -1, reduction=red,
                                                       backend="serial", margin=-0.5)
        got = fastloss.cosine_embedding.value_and_grad(*_dev([x1, x2]), -1, reduction=red,
                                                       margin=-0.5)
        close(got[0] if red == "mean" else got[0].copy_to_host(), ref[0], np.float64, red)
        close(got[1][0], ref[1][0], np.float64)


def test_cpu_backend_by_name_and_empty_inputs():
    rng = rng_for("contrastive-cpu")
    q, k = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    ref = fastloss.info_nce.value_and_grad(q, k, backend="serial")
    got = fastloss.info_nce.value_and_grad(*_dev([q, k]), backend="serial")  # host copies
    assert got[0] == ref[0]
    assert all(isinstance(g, np.ndarray) for g in got[1])
    e = np.zeros((0, 4))
    assert fastloss.info_nce(*_dev([e, e]), reduction="sum") == 0.0
    v, (g1, _, _) = fastloss.triplet_margin.value_and_grad(*_dev([e, e, e]), reduction="sum")
    assert v == 0.0 and is_dev(g1) and g1.shape == (0, 4)
    with pytest.raises(ValueError, match="empty"):
        fastloss.cosine_embedding(*_dev([e, e]), np.zeros(0))
    with pytest.raises(ValueError, match="must hold 1"):
        fastloss.cosine_embedding(*_dev([q, k]), cuda.to_device(np.zeros(SHAPE[0])))
    with pytest.raises(ValueError, match="does not match"):
        fastloss.nt_xent(*_dev([q, k[:3]]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_kernel(dtype):
    """``op(a) @ op(b)`` for each transpose, shapes not multiples of the tile."""
    rng = rng_for("matmul", dtype)
    m, kk, n = (K.MM_TILE + 3, 2 * K.MM_TILE + 1, 7) if SIM else (333, 97, 130)
    from fastloss._exec.cuda import CUDA

    for ta in (False, True):
        for tb in (False, True):
            a = rng.standard_normal((kk, m) if ta else (m, kk)).astype(dtype)
            b = rng.standard_normal((n, kk) if tb else (kk, n)).astype(dtype)
            want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
            got = CUDA.matmul(cuda.to_device(a), cuda.to_device(b), ta=ta, tb=tb)
            tol = 1e-5 if dtype == "float32" else 1e-13
            np.testing.assert_allclose(got.copy_to_host(), want, rtol=tol, atol=tol * kk,
                                       err_msg=f"ta={ta} tb={tb}")
