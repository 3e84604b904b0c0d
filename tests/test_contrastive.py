"""Contrastive losses: values and gradients against PyTorch autograd (and NumPy formulas),
finite differences, float32 and float64, serial == parallel bits, options and errors; the
fixed-order sum the kernels use."""

import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numba import njit

import fastloss
from fastloss._kernels.lanes import sum8, sum32
from fastloss._spec import REGISTRY
from tests.helpers import nrt_balance
from tests.references import HAND_VALUES, REFERENCES

NAMES = ("info_nce", "nt_xent", "triplet_margin", "cosine_embedding")
TOL64 = dict(rtol=1e-10, atol=1e-14)


def _t(x):
    return torch.tensor(np.asarray(x, np.float64), requires_grad=True)


def torch_nt_xent(z1, z2, t, reduction="mean"):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = (z @ z.T / t).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, target, reduction=reduction)


def torch_loss(name, args, params, reduction="mean"):
    if name == "info_nce":
        q, k = args
        s = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / params.get("temperature", 0.1)
        return F.cross_entropy(s, torch.arange(q.shape[0]), reduction=reduction)
    if name == "nt_xent":
        return torch_nt_xent(*args, params.get("temperature", 0.5), reduction)
    if name == "triplet_margin":
        return F.triplet_margin_loss(*args, reduction=reduction, **params)
    x1, x2, y = args
    return F.cosine_embedding_loss(x1, x2, y, reduction=reduction, **params)


CASES = [
    ("info_nce", {}),
    ("info_nce", {"temperature": 0.7}),
    ("nt_xent", {}),
    ("nt_xent", {"temperature": 0.1}),
    ("triplet_margin", {}),
    ("triplet_margin", {"margin": 2.0, "p": 1.0, "swap": True}),
    ("triplet_margin", {"margin": 3.0, "p": 3.0, "eps": 0.0}),
    ("triplet_margin", {"margin": 1.5, "p": 1.5, "swap": True}),
    ("cosine_embedding", {}),
    ("cosine_embedding", {"margin": 0.2}),
]


def _inputs(name, rng, dtype, n=9, d=6):
    x = [rng.standard_normal((n, d)).astype(dtype) for _ in range(3)]
    if name in ("info_nce", "nt_xent"):
        return x[0], (x[0] + 0.5 * x[1]).astype(dtype)  # correlated views
    if name == "triplet_margin":
        return tuple(x)
    return x[0], x[1], np.where(np.arange(n) % 3 == 0, -1, 1)


def _torch_args(name, args):
    if name == "cosine_embedding":
        return [_t(args[0]), _t(args[1]), torch.tensor(args[2])]
    return [_t(a) for a in args]


def test_registered_with_reference_and_hand_values():
    fam = sorted(n for n, s in REGISTRY.items() if s.family == "contrastive")
    assert set(NAMES) <= set(fam)  # the loop below covers every loss of the family
    for n in fam:
        assert n in REFERENCES and HAND_VALUES.get(n), n
        doc = getattr(fastloss, n).__doc__
        assert ".. math::" in doc and "Matches" in doc


@pytest.mark.parametrize("name", NAMES)
def test_hand_values(name):
    for args, params, expected in HAND_VALUES[name]:
        got = getattr(fastloss, name)(*args, **params)
        assert isinstance(got, float)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (args, params)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,params", CASES)
def test_matches_torch(name, params, dtype):
    rng = np.random.default_rng(0)
    args = _inputs(name, rng, dtype)
    L = getattr(fastloss, name)
    nd = 3 if name == "triplet_margin" else 2
    for reduction in ("mean", "sum", "none"):
        targs = _torch_args(name, args)
        tv = torch_loss(name, targs, params, reduction)
        tv.sum().backward()
        v, g = L.value_and_grad(*args, reduction=reduction, backend="serial", **params)
        tvn = tv.detach().numpy()
        if dtype == np.float64:
            np.testing.assert_allclose(v, tvn, **TOL64)
        else:  # float32 inputs against the float64 computation on the same values
            np.testing.assert_allclose(v, tvn, rtol=2e-6, atol=1e-6)
        if reduction == "none":
            assert v.dtype == dtype
            np.testing.assert_allclose(v, REFERENCES[name](*args, **params),
                                       rtol=1e-10 if dtype == np.float64 else 2e-6,
                                       atol=1e-12 if dtype == np.float64 else 1e-6)
        else:
            assert isinstance(v, float)
        assert len(g) == nd
        for gi, ti in zip(g, targs[:nd], strict=True):
            assert gi.dtype == dtype and gi.shape == args[0].shape
            want = ti.grad.numpy()
            if dtype == np.float64:
                np.testing.assert_allclose(gi, want, **TOL64)
            else:
                np.testing.assert_allclose(gi, want, rtol=1e-5,
                                           atol=1e-6 * float(np.abs(want).max()))
        for gi, gj in zip(L.grad(*args, reduction=reduction, backend="serial", **params), g,
                          strict=True):
            np.testing.assert_array_equal(gi, gj)
        assert (np.asarray(L(*args, reduction=reduction, backend="serial", **params))
                == np.asarray(v)).all()


@pytest.mark.parametrize("name,params", CASES)
def test_finite_differences(name, params):
    rng = np.random.default_rng(1)
    args = list(_inputs(name, rng, np.float64, n=4, d=3))
    L = getattr(fastloss, name)
    g = L.grad(*args, backend="serial", **params)
    nd = 3 if name == "triplet_margin" else 2
    h = 1e-6
    for a, ga in zip(args[:nd], g, strict=True):
        flat, gflat = a.reshape(-1), ga.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + h
            up = L(*args, backend="serial", **params)
            flat[j] = old - h
            down = L(*args, backend="serial", **params)
            flat[j] = old
            assert (up - down) / (2 * h) == pytest.approx(gflat[j], rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_serial_equals_parallel_bits(dtype):
    rng = np.random.default_rng(2)
    for name, params in CASES[::2]:
        args = _inputs(name, rng, dtype, n=45, d=16)  # 90 views: two 64-row tiles
        res = {}
        for be in ("serial", "parallel"):
            for red in ("mean", "none"):
                res[be, red] = getattr(fastloss, name).value_and_grad(
                    *args, reduction=red, backend=be, **params)
        for red in ("mean", "none"):
            (vs, gs), (vp, gp) = res["serial", red], res["parallel", red]
            np.testing.assert_array_equal(vs, vp)
            for a, b in zip(gs, gp, strict=True):
                np.testing.assert_array_equal(a, b)


def test_row_bodies_free_what_they_allocate_and_keep_no_reference():
    """The row bodies get borrowed arrays (no reference counting per row): every
    allocation of a call is freed, and the caller's arrays keep their reference counts."""
    rng = np.random.default_rng(4)
    a, p, n = (rng.standard_normal((40, 24)) for _ in range(3))
    y = np.where(rng.random(40) < 0.5, 1, -1)
    refs = [sys.getrefcount(v) for v in (a, p, n, y)]

    def calls():
        for backend in ("serial", "parallel"):
            fastloss.info_nce.value_and_grad(a, p, backend=backend)
            fastloss.nt_xent.value_and_grad(a, p, backend=backend)
            fastloss.triplet_margin.value_and_grad(a, p, n, swap=True, backend=backend)
            fastloss.cosine_embedding.value_and_grad(a, p, y, backend=backend)

    alloc, free, mi_alloc, mi_free = nrt_balance(calls)
    assert alloc > 0 and alloc == free
    assert mi_alloc == mi_free
    assert [sys.getrefcount(v) for v in (a, p, n, y)] == refs


def test_small_temperature_and_degenerate_rows():
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    q[2] = 0.0  # a zero embedding: F.normalize leaves it 0, the gradient goes through eps
    for name, t in (("info_nce", 0.002), ("nt_xent", 0.002), ("info_nce", 0.05)):
        # t = 0.002 takes the exact-maximum branch of the row kernel (exp(-2/t) underflows)
        targs = [_t(q), _t(k)]
        tv = torch_loss(name, targs, {"temperature": t})
        tv.backward()
        v, g = getattr(fastloss, name).value_and_grad(q, k, temperature=t)
        assert v == pytest.approx(tv.item(), rel=1e-10)
        for gi, ti in zip(g, targs, strict=True):
            np.testing.assert_allclose(gi, ti.grad.numpy(), rtol=1e-9, atol=1e-12)
    # NaN propagates into the value
    q[0, 0] = np.nan
    assert math.isnan(fastloss.info_nce(q, k)) and math.isnan(fastloss.nt_xent(q, k))


def test_sum8_and_sum32():
    @njit
    def s8(x):
        return sum8(x, x.shape[0]), sum32(x, x.shape[0])

    for n in (0, 1, 7, 8, 9, 33, 1001):
        v = np.random.default_rng(n).standard_normal(n)
        for got in s8(v):
            assert got == pytest.approx(math.fsum(v), abs=1e-12)
    assert s8(np.arange(19.0)) == (171.0, 171.0)
    assert s8(np.arange(100.0)) == (4950.0, 4950.0)


def test_out_in_place_no_mutation_and_layouts():
    rng = np.random.default_rng(5)
    z1, z2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    keep = z1.copy(), z2.copy()
    want = fastloss.nt_xent.grad(z1, z2)
    np.testing.assert_array_equal(z1, keep[0])
    np.testing.assert_array_equal(z2, keep[1])
    outs = (np.empty((5, 3)), np.empty((5, 3)))
    got = fastloss.nt_xent.grad(z1, z2, out=outs)
    assert got[0] is outs[0] and got[1] is outs[1]
    v, got = fastloss.nt_xent.value_and_grad(z1, z2, out=(z1, z2))  # in place
    assert got[0] is z1 and got[1] is z2
    np.testing.assert_array_equal(z1, want[0])
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    want = fastloss.triplet_margin.grad(a, p, n, margin=5.0)
    got = fastloss.triplet_margin.grad(a, p, n, margin=5.0, out=(a, p, n))
    assert got[0] is a
    for gi, wi in zip(got, want, strict=True):
        np.testing.assert_array_equal(gi, wi)
    # non-contiguous, negatively strided, keyword arrays
    big = rng.standard_normal((10, 8))
    q, k = big[::2, ::-2], big[1::2, 1::2]
    np.testing.assert_array_equal(fastloss.info_nce.grad(q, k)[1],
                                  fastloss.info_nce.grad(np.ascontiguousarray(q),
                                                         np.ascontiguousarray(k))[1])
    assert fastloss.info_nce(query=q, key=k) == fastloss.info_nce(q, k)
    # 1-D samples for triplet and cosine, as torch
    x1, x2 = rng.standard_normal(4), rng.standard_normal(4)
    v, (g1, g2) = fastloss.cosine_embedding.value_and_grad(x1, x2, -1, margin=-0.9)
    tx1, tx2 = _t(x1), _t(x2)
    tv = F.cosine_embedding_loss(tx1, tx2, torch.tensor(-1), margin=-0.9)
    tv.backward()
    assert v == pytest.approx(tv.item(), rel=1e-12) and g1.shape == (4,)
    np.testing.assert_allclose(g1, tx1.grad.numpy(), rtol=1e-12)
    assert fastloss.triplet_margin(x1, x2, -x1, reduction="none").shape == ()
    # mixed dtypes promote, labels do not take part
    g = fastloss.cosine_embedding.grad(x1.astype(np.float32), x2.astype(np.float32),
                                       np.int64(1))
    assert g[0].dtype == np.float32
    g = fastloss.info_nce.grad(q.astype(np.float32), k)
    assert g[0].dtype == g[1].dtype == np.float64


def test_errors():
    q = np.ones((3, 2))
    with pytest.raises(ValueError, match="key"):
        fastloss.info_nce(q, np.ones((4, 2)))
    with pytest.raises(ValueError, match="query must be a 2-D"):
        fastloss.info_nce(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="temperature"):
        fastloss.nt_xent(q, q, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        fastloss.nt_xent(q, q, temperature=np.inf)
    with pytest.raises(ValueError, match="z1 is empty"):
        fastloss.nt_xent(np.ones((0, 2)), np.ones((0, 2)))
    assert fastloss.nt_xent(np.ones((0, 2)), np.ones((0, 2)), reduction="sum") == 0.0
    with pytest.raises(ValueError, match="dimension 0"):
        fastloss.info_nce(np.ones((2, 0)), np.ones((2, 0)))
    with pytest.raises(ValueError, match="y must hold 1"):
        fastloss.cosine_embedding(q, q, [1, 0, -1])
    with pytest.raises(ValueError, match="y has shape"):
        fastloss.cosine_embedding(q, q, [1, 1])
    with pytest.raises(ValueError, match="margin"):
        fastloss.cosine_embedding(q, q, [1, 1, 1], margin=1.5)
    with pytest.raises(ValueError, match="p must be >= 1"):
        fastloss.triplet_margin(q, q, q, p=0.5)
    with pytest.raises(TypeError, match="swap"):
        fastloss.triplet_margin(q, q, q, swap=1)
    with pytest.raises(ValueError, match="negative has shape"):
        fastloss.triplet_margin(q, q, np.ones((3, 3)))
    with pytest.raises(TypeError, match="query"):
        fastloss.info_nce(q.astype(complex), q)
    with pytest.raises(TypeError, match="out must be a tuple of 2"):
        fastloss.nt_xent.grad(q, q, out=np.empty((3, 2)))
    with pytest.raises(ValueError, match=r"out\[1\]"):
        fastloss.nt_xent.grad(q, q, out=(np.empty((3, 2)), np.empty((3, 2), np.float32)))
    with pytest.raises(TypeError, match="unknown parameter"):
        fastloss.info_nce(q, q, temprature=0.1)
    for n in NAMES:
        with pytest.raises(NotImplementedError, match=n):
            getattr(fastloss, n).grad_hess(q, q)
        args = (q, q, [1, 1, 1]) if n == "cosine_embedding" else (q,) * (
            3 if n == "triplet_margin" else 2)
        with pytest.raises(fastloss.BackendUnavailableError):
            getattr(fastloss, n)(*args, backend="cuda")
