"""Losses of several arrays on the CUDA backend: the GAN losses and the penalties (their
pointwise terms on the device kernels) equal the CPU ones for every kind, op and dtype; the
proximal operators. (The contrastive losses: test_contrastive.py; the fused linear +
cross-entropy: test_linear.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastloss
from fastloss._spec import REGISTRY

from ._common import N_FLAT, SIM, close, is_dev, rng_for

MULTI = sorted(n for n, s in REGISTRY.items()
               if s.kind == "terms")


def _kinds(spec):
    for p in spec.params:
        if p.name == "kind":
            return [{"kind": c} for c in p.choices]
    return [{}]


def _kinds_and_reductions(spec):
    """Every kind with every reduction on a GPU; under the simulator (about a second a
    pass) every kind and every reduction, paired in turn: kind i with reduction i mod 3."""
    kinds, reds = _kinds(spec), spec.reductions
    if not SIM:
        return [(k, r) for k in kinds for r in reds]
    return [(kinds[i % len(kinds)], reds[i % len(reds)])
            for i in range(max(len(kinds), len(reds)))]


def _call(loss, op, arrays, **kw):
    if op == "value":
        return (loss(*arrays, **kw),)
    if op == "grad":
        g = loss.grad(*arrays, **kw)
        return g if isinstance(g, tuple) else (g,)
    v, g = loss.value_and_grad(*arrays, **kw)
    return (v,) + (g if isinstance(g, tuple) else (g,))


def _flat(results):
    out = []
    for r in results:
        out.extend(r if isinstance(r, tuple) else (r,))
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["value", "grad", "value_and_grad"])
@pytest.mark.parametrize("name", MULTI)
def test_multi_cuda_equals_cpu(name, op, dtype):
    spec = REGISTRY[name]
    loss = getattr(fastloss, name)
    arrays, params = spec.sample(rng_for(name, op, dtype), (N_FLAT // 4, 4), np.dtype(dtype))
    pairs = _kinds_and_reductions(spec)
    assert {r for _, r in pairs} == set(spec.reductions)
    assert len({tuple(k.items()) for k, _ in pairs}) == len(_kinds(spec))
    for kw, red in pairs:
        kw = {**params, **kw}
        ref = _flat(_call(loss, op, arrays, reduction=red, backend="serial", **kw))
        if dtype == "float32":  # CUDA inputs under "auto": results on the device
            got = _flat(_call(loss, op, [cuda.to_device(a) for a in arrays],
                              reduction=red, **kw))
            assert all(isinstance(g, float) or is_dev(g) for g in got)
        else:
            got = _flat(_call(loss, op, arrays, reduction=red, backend="cuda", **kw))
            assert all(isinstance(g, (float, np.ndarray)) for g in got)
        for i, (g, r) in enumerate(zip(got, ref, strict=True)):
            close(g, r, dtype, f"{name}.{op}[{i}] {kw} {red}")


def test_multi_out_on_device():
    rng = rng_for("gan-out")
    r, f = (rng.standard_normal(300).astype(np.float32) for _ in range(2))
    ref = fastloss.gan_discriminator.value_and_grad(r, f, backend="serial")
    dr, df = cuda.to_device(r), cuda.to_device(f)
    v, (gr, gf) = fastloss.gan_discriminator.value_and_grad(dr, df, out=(dr, df))  # in place
    assert gr is dr and gf is df
    close(v, ref[0], np.float32)
    close(dr.copy_to_host(), ref[1][0], np.float32)
    close(df.copy_to_host(), ref[1][1], np.float32)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_prox_on_device(dtype):
    w = rng_for("prox", dtype).standard_normal((7, 50)).astype(dtype)
    for fn, args in ((fastloss.prox_l1, (0.3,)), (fastloss.prox_elastic_net, (0.3, 0.4))):
        ref = fn(w, *args, backend="serial")
        dw = cuda.to_device(w)
        got = fn(dw, *args)
        assert is_dev(got)
        close(got, ref, dtype, fn.__name__)
        close(fn(w, *args, backend="cuda"), ref, dtype, fn.__name__ + " host")
        out = fn(dw, *args, out=dw)  # in place
        assert out is dw
        close(dw.copy_to_host(), ref, dtype, fn.__name__ + " in place")
