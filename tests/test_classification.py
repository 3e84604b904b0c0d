"""The classification family: values, gradients and Hessians against PyTorch, scikit-learn,
NumPy references and finite differences; every option and their combinations; serial and
parallel bits; float32 and float64; out= and in place; bad input; extreme logits.

Inputs are small (compiles dominate); each kernel variant compiles once per session.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
import sklearn.metrics as skm
import torch
import torch.nn.functional as F

import fastloss as fl
from fastloss._spec import REGISTRY
from fastloss.losses import classification as C

from .helpers import nrt_balance
from .references import classification as R

POINTWISE = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "focal", "hinge",
             "squared_hinge"]
ROWWISE = ["cross_entropy", "kl_divergence", "log_loss"]
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def _close(a, b, dtype=np.float64, atol=0.0, rtol=None):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float),
                               rtol=RTOL[dtype] if rtol is None else rtol, atol=atol)


def t64(a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


# ---------------------------------------------------------------------------------------
# registry, docs, hand values


def test_registered_with_docs_references_and_hand_values():
    for name in POINTWISE + ROWWISE:
        spec = fl.REGISTRY[name]
        assert spec.family == "classification"
        assert name in R.REFERENCES and R.HAND_VALUES.get(name)
        doc = getattr(fl, name).__doc__
        assert ".. math::" in doc and "Matches" in doc
        args, params = spec.sample(np.random.default_rng(0), (40,), np.float64)
        v = getattr(fl, name)(*args, **params)
        assert np.isfinite(v)
    assert fl.REGISTRY["cross_entropy"].has_hess
    for name in ("kl_divergence", "log_loss"):
        with pytest.raises(NotImplementedError, match=name):
            getattr(fl, name).grad_hess(*fl.REGISTRY[name].sample(
                np.random.default_rng(0), (20, 4), np.float64)[0])


@pytest.mark.parametrize("name", POINTWISE + ROWWISE)
def test_hand_values(name):
    for args, params, expected in R.HAND_VALUES[name]:
        assert getattr(fl, name)(*args, **params) == pytest.approx(expected, rel=1e-14)


# ---------------------------------------------------------------------------------------
# pointwise losses: references, reductions, weights, axis, FD, serial == parallel


def _pointwise_inputs(name, shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    (y, p), params = fl.REGISTRY[name].sample(rng, shape, dtype)
    if name == "binary_cross_entropy":
        y = np.where(rng.random(shape) < 0.3, np.round(y), y).astype(dtype)  # some 0/1
    return y, p


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_against_reference_all_reductions(name):
    y, p = _pointwise_inputs(name, (7, 9), np.float64)
    L = getattr(fl, name)
    ref = R.REFERENCES[name](y, p)
    w = np.random.default_rng(1).uniform(0, 2, 9)
    _close(L(y, p, backend="serial"), ref.mean())
    _close(L(y, p, reduction="sum", backend="serial"), ref.sum())
    _close(L(y, p, reduction="none", backend="serial"), ref)
    _close(L(y, p, axis=-1, backend="serial"), ref.mean(axis=1))
    _close(L(y, p, sample_weight=w, axis=-1, backend="serial"), (ref * w).sum(1) / w.sum())
    _close(L(y[0], p, backend="serial"), R.REFERENCES[name](np.broadcast_to(y[0], p.shape),
                                                             p).mean())


def _fd(f, p, h):
    return (f(p + h) - f(p - h)) / (2 * h)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_grad_and_hessian_by_finite_differences(name):
    y, p = _pointwise_inputs(name, (200,), np.float64, seed=2)
    if name in ("hinge", "squared_hinge"):  # keep away from the kink
        p = np.where(np.abs(1 - np.abs(p)) < 1e-3, p + 0.01, p)
    L = getattr(fl, name)
    g, h = L.grad_hess(y, p, reduction="sum", backend="serial")
    v, g2 = L.value_and_grad(y, p, reduction="sum", backend="serial")
    _close(g, g2, rtol=1e-12)  # FMA contraction may differ in the last bits between ops
    _close(g, L.grad(y, p, reduction="sum", backend="serial"), rtol=1e-12)
    hh = 1e-6
    fd_g = _fd(lambda q: L(y, q, reduction="none", backend="serial"), p, hh)
    fd_h = _fd(lambda q: L.grad(y, q, reduction="sum", backend="serial"), p, hh)
    _close(g, fd_g, rtol=1e-6, atol=1e-7)
    _close(h, fd_h, rtol=1e-5, atol=1e-6)
    gm, hm = L.grad_hess(y, p, backend="serial")  # mean: both carry 1/n
    _close(gm, g / p.size, rtol=1e-14)
    _close(hm, h / p.size, rtol=1e-14)


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_float32_and_parallel_bits(name):
    y, p = _pointwise_inputs(name, (3, 40_000), np.float64, seed=3)
    L = getattr(fl, name)
    vs, gs = L.value_and_grad(y, p, backend="serial")
    vp, gp = L.value_and_grad(y, p, backend="parallel")
    assert vs == vp
    np.testing.assert_array_equal(gs, gp)
    y32, p32 = y.astype(np.float32), p.astype(np.float32)
    v32, g32 = L.value_and_grad(y32, p32, backend="serial")
    assert g32.dtype == np.float32 and isinstance(v32, float)
    v64, g64 = L.value_and_grad(y32.astype(float), p32.astype(float), backend="serial")
    _close(v32, v64, np.float32)
    _close(g32, g64, np.float32, atol=1e-6 * np.abs(g64).max())


# ---- against PyTorch / scikit-learn


def _torch_grad(fn, y, p, **kw):
    pt = t64(p, grad=True)
    loss = fn(pt, t64(y), **kw)
    loss.backward()
    return loss.item(), pt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_matches_torch(dtype):
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0, 1, 500), [0.0, 1.0, 1e-50, 1 - 1e-12, 0.5]]).astype(dtype)
    y = np.concatenate([rng.uniform(0, 1, 500), [0.0, 0.0, 1.0, 1.0, 0.3]]).astype(dtype)
    for red in ("mean", "sum"):
        tv, tg = _torch_grad(F.binary_cross_entropy, y, p, reduction=red)
        v, g = fl.binary_cross_entropy.value_and_grad(y, p, reduction=red)
        _close(v, tv, dtype)
        _close(g, tg, dtype, atol=1e-12)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pos_weight", [None, 3.5, "array"])
def test_bce_with_logits_matches_torch(dtype, pos_weight):
    rng = np.random.default_rng(5)
    x = (4 * rng.standard_normal((6, 5))).astype(dtype)
    y = rng.uniform(0, 1, (6, 5)).astype(dtype)
    y[0] = np.round(y[0])
    pw = rng.uniform(0, 3, 5) if pos_weight == "array" else pos_weight
    kw = {} if pw is None else {"pos_weight": torch.tensor(np.asarray(pw, dtype))}
    for red in ("mean", "sum"):
        tv, tg = _torch_grad(F.binary_cross_entropy_with_logits, y, x, reduction=red, **kw)
        v, g = fl.binary_cross_entropy_with_logits.value_and_grad(
            y, x, reduction=red, pos_weight=pw)
        _close(v, tv, dtype)
        # PyTorch's float32 gradient (1 - y + w y) s - w y cancels: compare at its scale
        _close(g, tg, dtype, atol=4e-7 * np.abs(tg).max() if dtype == np.float32 else 0.0)


def _torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0,
                                    reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, as written in torchvision 0.2x."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss.mean() if reduction == "mean" else loss.sum()


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 0.0), (0.6, 0.5), (0.25, 3.0)])
def test_focal_matches_torchvision(alpha, gamma):
    rng = np.random.default_rng(6)
    x = 3 * rng.standard_normal(300)
    y = rng.integers(0, 2, 300).astype(float)
    y[:20] = rng.uniform(0, 1, 20)  # soft targets too
    for red in ("mean", "sum"):
        tv, tg = _torch_grad(lambda a, b, **k: _torchvision_sigmoid_focal_loss(a, b, **k),
                             y, x, alpha=alpha, gamma=gamma, reduction=red)
        v, g = fl.focal.value_and_grad(y, x, alpha=alpha, gamma=gamma, reduction=red)
        _close(v, tv)
        _close(g, tg, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_focal_gamma_two_is_folded_and_gives_the_general_bits(dtype):
    """``gamma = 2`` (the default) reaches the kernel as a constant (``Param.fold``), so its
    kernel computes no power; it gives the bits of the general kernel run with ``gamma = 2``
    at run time (values, gradients, Hessians)."""
    from fastloss._kernels.cpu import pointwise_kernel
    from fastloss._kinds.pointwise import _kernel_params

    spec = REGISTRY["focal"]
    prm, _ = _kernel_params(spec, {"alpha": 0.25, "gamma": 2.0}, np.dtype(dtype), 1)
    assert prm == (dtype(0.25), None)
    from fastloss._exec.cuda import _unfolded  # a device kernel gets the plain value back

    dev = _unfolded(spec, prm, np.dtype(dtype))
    assert dev == (dtype(0.25), dtype(2.0)) and {type(v) for v in dev} == {dtype}
    prm, _ = _kernel_params(spec, {"alpha": 0.25, "gamma": 2.5}, np.dtype(dtype), 1)
    assert prm == (dtype(0.25), dtype(2.5))
    rng = np.random.default_rng(11)
    n = 5000
    x = (4 * rng.standard_normal(n)).astype(dtype)
    y = rng.integers(0, 2, n).astype(dtype)
    y[:50] = rng.uniform(0, 1, 50)
    k = pointwise_kernel(C.focal_scalar, parallel=False, reduce=True, rows=False,
                         write_l=True, write_g=True, write_h=True, wmode=0, ybcast=False,
                         has_cp=False)
    outs = []
    for gamma in (None, dtype(2.0)):
        lout, gout, hout = (np.empty(n, dtype) for _ in range(3))
        res = np.zeros(1)
        k(y, x, np.empty(1), np.empty(1), (dtype(0.25), gamma), 1.0, n, lout, gout, hout, res)
        outs.append((lout, gout, hout, res))
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fl.focal(y, x, reduction="none"), outs[0][0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int8, np.int64,
                                   np.bool_])
@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_sign_label_check_in_every_dtype_and_on_both_roads(dtype, backend):
    """The one-pass label check (any dtype; float16 through NumPy) accepts {-1, 1} and
    {0, 1}, and names the first bad label or the mixture, on the fast road (a plain call)
    and the full one (axis=-1 on a strided view) alike."""
    p = np.linspace(-1.0, 1.0, 12)
    ok = [np.array([1, 0, 1, 1] * 3)]
    if dtype != np.bool_:
        ok.append(np.array([1, -1, -1, 1] * 3))
    for y in ok:
        y = y.astype(dtype)
        t = np.where(y.astype(float) > 0, 1.0, -1.0)
        want = np.mean(np.maximum(0.0, 1.0 - t * p))
        _close(fl.hinge(y, p, backend=backend), want)
        _close(fl.hinge(np.repeat(y, 2)[::2], p, axis=-1, backend=backend), want)
    if dtype == np.bool_:
        return
    for y, msg in (([1, 0, -1, 1], "mixes the label conventions"),
                   ([1, 1, 2, 1], "holds .*2.* at position \\(2,\\)")):
        y = np.array(y * 3).astype(dtype)
        for fn, yy in ((fl.hinge, y), (fl.squared_hinge.value_and_grad, y),
                       (fl.hinge, np.repeat(y, 2)[::2])):
            with pytest.raises(ValueError, match=msg):
                fn(yy, p, backend=backend)
    if np.dtype(dtype).kind == "f":
        with pytest.raises(ValueError, match="y_true must hold labels .*nan"):
            fl.hinge(np.array([1, np.nan, 1], dtype), p[:3], backend=backend)


@pytest.mark.parametrize("labels", ["pm1", "01"])
def test_hinge_matches_sklearn(labels):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 200)
    y = 2 * y - 1 if labels == "pm1" else y
    p = 1.5 * rng.standard_normal(200)
    w = rng.uniform(0, 2, 200)
    _close(fl.hinge(y, p), skm.hinge_loss(y, p))
    _close(fl.hinge(y, p, sample_weight=w), skm.hinge_loss(y, p, sample_weight=w))
    t = np.where(y > 0, 1.0, -1.0)
    _close(fl.squared_hinge(y, p), np.mean(np.maximum(0, 1 - t * p) ** 2))


# ---------------------------------------------------------------------------------------
# cross_entropy against PyTorch, every option combination


def _ce_inputs(dtype, soft, N=9, Cn=6, seed=8):
    rng = np.random.default_rng(seed)
    x = (2 * rng.standard_normal((N, Cn))).astype(dtype)
    if soft:
        y = rng.dirichlet(np.ones(Cn), N).astype(dtype)
    else:
        y = rng.integers(0, Cn, N)
        y[[1, 4]] = 2  # a class to ignore with ignore_index=2
        y[[3, 7]] = -100  # the default ignore_index
    return y, x


def _ce_torch(y, x, reduction, sample_weight=None, **kw):
    xt = t64(x, grad=True)
    yt = torch.tensor(y)
    if sample_weight is None:
        loss = F.cross_entropy(xt, yt, reduction=reduction, **kw)
    else:  # the contract: w_i * class_weight[y_i], mean divides by their sum
        per = F.cross_entropy(xt, yt, reduction="none", **kw)
        s = torch.tensor(sample_weight, dtype=per.dtype)
        loss = (s * per).sum()
        if reduction == "mean":
            loss = loss / float(R.cross_entropy_mean_denominator(
                y, x, kw.get("weight"), kw.get("ignore_index", -100), sample_weight))
        elif reduction == "none":
            loss = s * per
    (loss.sum() if reduction == "none" else loss).backward()
    return loss.detach().numpy(), xt.grad.numpy()


CE_CASES = [
    dict(soft=soft, cw=cw, ii=ii, eps=eps, sw=sw)
    for soft, cw, ii, eps, sw in itertools.product(
        [False, True], [False, True], [None, 2], [0.0, 0.15], [False, True])
    if not (soft and ii is not None)
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CE_CASES, ids=lambda c: "-".join(
    f"{k}={v}" for k, v in c.items()))
def test_cross_entropy_matches_torch_every_combination(case, dtype):
    y, x = _ce_inputs(dtype, case["soft"])
    if case["ii"] is not None:
        y[y == -100] = 0  # only the default ignore_index lets -100 through
    Cn = x.shape[1]
    cw = np.random.default_rng(9).uniform(0.2, 2.0, Cn).astype(dtype) if case["cw"] else None
    sw = np.random.default_rng(10).uniform(0, 2, x.shape[0]) if case["sw"] else None
    ours = dict(class_weight=cw, label_smoothing=case["eps"])
    theirs = dict(label_smoothing=case["eps"])
    if cw is not None:
        theirs["weight"] = torch.tensor(cw)
    if case["ii"] is not None:
        ours["ignore_index"] = theirs["ignore_index"] = case["ii"]
    for red in ("mean", "sum", "none"):
        tv, tg = _ce_torch(y, x, red, sw, **theirs)
        v, g = fl.cross_entropy.value_and_grad(y, x, reduction=red, sample_weight=sw,
                                               backend="serial", **ours)
        atol = 1e-6 if dtype == np.float32 else 1e-14
        _close(v, tv, dtype, atol=atol)
        _close(g, tg, dtype, atol=atol)
        assert g.dtype == dtype
        if red == "none":
            assert v.shape == (x.shape[0],) and v.dtype == dtype
        else:
            assert isinstance(v, float)
        v1 = fl.cross_entropy(y, x, reduction=red, sample_weight=sw, backend="serial", **ours)
        np.testing.assert_array_equal(v1, v)
        np.testing.assert_array_equal(
            fl.cross_entropy.grad(y, x, reduction=red, sample_weight=sw, backend="serial",
                                  **ours), g)


def test_cross_entropy_reference_and_denominator():
    y, x = _ce_inputs(np.float64, False)
    cw = np.linspace(0.5, 2, 6)
    with pytest.raises(ValueError, match=r"y_true holds -100 at position \(3,\)"):
        fl.cross_entropy(y, x, ignore_index=2)
    for ii in (-100, 2):
        y = np.where(y == -100, 0, y) if ii == 2 else y
        per = R.cross_entropy(y, x, cw, ii, 0.1)
        d = R.cross_entropy_mean_denominator(y, x, cw, ii)
        _close(fl.cross_entropy(y, x, class_weight=cw, ignore_index=ii, label_smoothing=0.1),
               per.sum() / d)


def test_cross_entropy_edge_semantics_follow_torch():
    x = np.random.default_rng(11).standard_normal((3, 4))
    # every row ignored: NaN value, zero gradient
    v, g = fl.cross_entropy.value_and_grad([-100, -100, -100], x)
    assert np.isnan(v) and np.all(g == 0)
    tv, tg = _ce_torch(np.array([-100, -100, -100]), x, "mean")
    assert np.isnan(tv) and np.all(tg == 0)
    # unbatched logits (C,) with a scalar label
    _close(fl.cross_entropy(2, x[0]), fl.cross_entropy([2], x[:1]))
    assert fl.cross_entropy(2, x[0], reduction="none").shape == ()
    assert fl.cross_entropy.grad(2, x[0]).shape == (4,)
    # ignore_index may lie inside [0, C) or be any negative number
    _close(fl.cross_entropy([-7, 1, 1], x, ignore_index=-7), fl.cross_entropy([1, 1], x[1:]))
    # float labels holding integers are labels
    _close(fl.cross_entropy(np.array([0.0, 3.0, 1.0]), x), fl.cross_entropy([0, 3, 1], x))
    # empty input
    e = np.zeros((0, 4))
    with pytest.raises(ValueError, match="empty"):
        fl.cross_entropy(np.zeros(0, int), e)
    assert fl.cross_entropy(np.zeros(0, int), e, reduction="sum") == 0.0
    assert fl.cross_entropy(np.zeros(0, int), e, reduction="none").shape == (0,)
    assert fl.cross_entropy.grad(np.zeros(0, int), e, reduction="sum").shape == (0, 4)


def test_cross_entropy_grad_and_hessian_by_finite_differences():
    rng = np.random.default_rng(12)
    y, x = _ce_inputs(np.float64, False, N=8, Cn=4)
    y[y == -100] = 1
    cw = rng.uniform(0.5, 2, 4)
    kw = dict(class_weight=cw, label_smoothing=0.2, ignore_index=2)
    g, h = fl.cross_entropy.grad_hess(y, x, reduction="sum", backend="serial", **kw)
    hh = 1e-5
    fd_g = np.empty_like(x)
    fd_h = np.empty_like(x)
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = hh
        fd_g[:, j] = (fl.cross_entropy(y, x + e, reduction="none", **kw)
                      - fl.cross_entropy(y, x - e, reduction="none", **kw)) / (2 * hh)
        fd_h[:, j] = (fl.cross_entropy.grad(y, x + e, reduction="sum", **kw)[:, j]
                      - fl.cross_entropy.grad(y, x - e, reduction="sum", **kw)[:, j]) / (2 * hh)
    _close(g, fd_g, rtol=1e-7, atol=1e-9)
    _close(h, fd_h, rtol=1e-6, atol=1e-8)
    _close(g, fl.cross_entropy.grad(y, x, reduction="sum", backend="serial", **kw),
           rtol=1e-14, atol=1e-15)
    # plain case: p (1 - p), times 1/N for the mean
    y2 = rng.integers(0, 4, 8)
    g2, h2 = fl.cross_entropy.grad_hess(y2, x)
    p = torch.softmax(t64(x), 1).numpy()
    _close(h2, p * (1 - p) / 8)
    # soft targets
    t = rng.dirichlet(np.ones(4), 8)
    gs, hs = fl.cross_entropy.grad_hess(t, x, class_weight=cw, label_smoothing=0.1)
    a = cw * (0.9 * t + 0.1 / 4)
    _close(gs, (a.sum(1, keepdims=True) * p - a) / 8)
    _close(hs, a.sum(1, keepdims=True) * p * (1 - p) / 8)


def test_row_kernels_free_what_they_allocate_and_keep_no_reference():
    """The row kernels take borrowed views of their arrays (no reference counting per
    row): every allocation of a call is freed, and the caller's arrays keep their Python
    reference counts."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((70, 1500))  # more than one block per row
    y = rng.integers(0, 1500, 70)
    q = rng.dirichlet(np.ones(1500), 70)
    refs = [sys.getrefcount(a) for a in (x, y, q)]

    def calls():
        for backend in ("serial", "parallel"):
            fl.cross_entropy(y, x, backend=backend)
            fl.cross_entropy.value_and_grad(y, x, label_smoothing=0.1, backend=backend)
            fl.cross_entropy.grad_hess(q, x, backend=backend)
            fl.kl_divergence.value_and_grad(q, q[::-1].copy(), backend=backend)
            fl.cross_entropy.value_and_grad(y, x.copy(), out=np.empty_like(x), backend=backend)

    alloc, free, mi_alloc, mi_free = nrt_balance(calls)
    assert alloc > 0 and alloc == free  # scratch allocated, all of it freed
    assert mi_alloc == mi_free
    assert [sys.getrefcount(a) for a in (x, y, q)] == refs


def test_cross_entropy_serial_parallel_and_thread_count_give_the_same_bits():
    y, x = _ce_inputs(np.float64, False, N=300, Cn=70, seed=13)
    y = np.abs(y) % 70
    sw = np.random.default_rng(14).uniform(0, 1, 300)
    ref = fl.cross_entropy.value_and_grad(y, x, label_smoothing=0.1, class_weight=sw[:70],
                                          backend="serial")
    nt = numba.get_num_threads()
    try:
        for threads in sorted({1, nt}):
            numba.set_num_threads(threads)
            v, g = fl.cross_entropy.value_and_grad(y, x, label_smoothing=0.1,
                                                   class_weight=sw[:70], backend="parallel")
            assert v == ref[0]
            np.testing.assert_array_equal(g, ref[1])
    finally:
        numba.set_num_threads(nt)


def test_cross_entropy_long_rows_lanes_and_tails():
    """Rows longer than the lane block (and not a multiple of it), -inf and NaN logits."""
    rng = np.random.default_rng(15)
    for Cn in (1, 2, 63, 64, 65, 1000, 4099):
        x = 5 * rng.standard_normal((3, Cn))
        y = rng.integers(0, Cn, 3)
        tv, tg = _ce_torch(y, x, "sum")
        v, g = fl.cross_entropy.value_and_grad(y, x, reduction="sum")
        _close(v, tv, atol=1e-13)
        _close(g, tg, atol=1e-15)
    x32 = (10 * rng.standard_normal((4, 32000))).astype(np.float32)  # float32, long rows
    y32 = rng.integers(0, 32000, 4)
    tv, tg = _ce_torch(y32, x32.astype(np.float64), "none")
    v, g = fl.cross_entropy.value_and_grad(y32, x32, reduction="none")
    _close(v, tv, rtol=2e-7)
    _close(g, tg, rtol=0, atol=2e-7 * np.abs(tg).max())
    x = rng.standard_normal((4, 100))
    x[0, :50] = -np.inf  # masked logits
    x[1, 7] = np.nan
    x[2, :] = -np.inf
    x[2, 3] = 0.0
    y = np.array([60, 7, 3, 1])
    v = fl.cross_entropy(y, x, reduction="none")
    tv, _ = _ce_torch(y, x, "none")
    _close(v[[0, 2, 3]], tv[[0, 2, 3]], atol=1e-14)
    assert np.isnan(v[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_exponentials_and_kl_terms_at_every_remainder(dtype):
    """Every row length from 1 to 3 vectors (float32: 16 values, float64: 8) and past the
    block of 1024: the remainder after the whole vectors is computed as one more vector
    over the last values (or in scalar code when short). Values and gradients against a
    float64 NumPy reference; -inf and NaN placed among the last values."""
    rng = np.random.default_rng(31)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    lengths = list(range(1, 50)) + [1024 + r for r in (1, 5, 9, 13, 17)]
    for Cn in lengths:
        x = (4 * rng.standard_normal((3, Cn))).astype(dtype)
        y = rng.integers(0, Cn, 3)
        x64 = x.astype(np.float64)
        m = x64.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(x64 - m).sum(axis=1))
        ref = lse - x64[np.arange(3), y]
        v, g = fl.cross_entropy.value_and_grad(y, x, reduction="none")
        np.testing.assert_allclose(v, ref, rtol=tol, atol=tol, err_msg=f"C={Cn}")
        soft = np.exp(x64 - lse[:, None])
        soft[np.arange(3), y] -= 1.0
        np.testing.assert_allclose(g, soft, rtol=0, atol=tol, err_msg=f"C={Cn}")
        # KL of probability rows (targets with zeros among the last values)
        q = rng.dirichlet(np.ones(Cn), 3).astype(dtype)
        t = rng.dirichlet(np.ones(Cn), 3)
        t[0, -min(3, Cn - 1):] = 0.0 if Cn > 1 else t[0, -1]
        t = (t / t.sum(axis=1, keepdims=True)).astype(dtype)
        t64, q64 = t.astype(np.float64), q.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(t64 == 0, 0.0, t64 * (np.log(t64) - np.log(q64)))
        kl = fl.kl_divergence(t, q, reduction="none")
        np.testing.assert_allclose(kl, terms.sum(axis=1), rtol=tol, atol=tol,
                                   err_msg=f"C={Cn}")
        if Cn >= 2:  # a masked logit last, a NaN among the last values
            xm = x.copy()
            xm[0, -1] = -np.inf
            xm[1, -2] = np.nan
            y2 = np.array([0, 0, y[2]])
            vm = fl.cross_entropy(y2, xm, reduction="none")
            x0 = x64[0, :-1]
            ref0 = x0.max() + np.log(np.exp(x0 - x0.max()).sum()) - x0[0]
            np.testing.assert_allclose(vm[0], ref0, rtol=tol, atol=tol, err_msg=f"C={Cn}")
            assert np.isnan(vm[1]), Cn
            np.testing.assert_allclose(vm[2], ref[2], rtol=tol, atol=tol)


# ---- extreme logits


@pytest.mark.parametrize("dtype,big", [(np.float64, 1e4), (np.float32, 80.0)])
def test_extreme_logits_finite_and_match_torch(dtype, big):
    rng = np.random.default_rng(16)
    x = (big * rng.choice([-1.0, 1.0, 0.5, -0.25], (6, 5))).astype(dtype)
    x[0] = big
    x[1] = -big
    y = rng.integers(0, 5, 6)
    for soft in (False, True):
        yy = rng.dirichlet(np.ones(5), 6).astype(dtype) if soft else y
        for eps in (0.0, 0.1):
            v, g = fl.cross_entropy.value_and_grad(yy, x, label_smoothing=eps)
            assert np.isfinite(v) and np.all(np.isfinite(g))
            tv, tg = _ce_torch(yy, x, "mean", label_smoothing=eps)
            if dtype == np.float64:  # 1e-10 relative, as everywhere else
                _close(v, tv)
                _close(g, tg, atol=1e-16)  # entries of exp(-1e4) are 0 in both
            else:
                _close(v, tv, dtype, atol=1e-6 * big)
                _close(g, tg, dtype, atol=1e-7)
    z = np.concatenate([np.linspace(-big, big, 2001), [big, -big, 0.0]]).astype(dtype)
    yb = np.resize([0.0, 1.0, 0.3], z.size).astype(dtype)
    for name, fn in (("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits),
                     ("focal", _torchvision_sigmoid_focal_loss)):
        L = getattr(fl, name)
        v = L(yb, z, reduction="none")
        g, h = L.grad_hess(yb, z, reduction="sum")
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))
        zt = t64(z, grad=True)
        tv = (fn(zt, t64(yb), reduction="none") if name != "focal"
              else torch.stack([fn(zt[i:i + 1], t64(yb[i:i + 1]), reduction="sum")
                                for i in range(z.size)]))
        tv.sum().backward()
        if dtype == np.float64:  # every element to 1e-10 relative, values from 1e-170 up
            _close(v, tv.detach().numpy())
            # focal's 1 - p_t cancels where the sigmoid saturates (|z| > ~15), in
            # torchvision's formula as in ours: both lose relative digits on gradients
            # below ~1e-13 there (1e-3 relative at z = 30, all of them beyond ~37), while
            # their absolute error stays below 1e-14
            # (PyTorch flushes sigmoid(-730) = 9e-318, a subnormal, to 0: atol = tiny)
            _close(g, zt.grad.numpy(), atol=1e-14 if name == "focal" else 2.3e-308)
        else:
            _close(v, tv.detach().numpy(), dtype, atol=1e-5)
            _close(g, zt.grad.numpy(), dtype, atol=1e-6)


def test_bce_with_logits_cancellation_region_matches_torch():
    """Where PyTorch's formula loses digits (y = 0, x << 0) we lose the same ones in
    float64. float32 computes a form without cancellation: within float32's 1e-5 of the
    exact value log1p(exp(x)) (PyTorch's float64 value there is off by up to 4% at x = -30,
    its float32 one by up to 100%, so that one is compared at the scale of x)."""
    x = -np.linspace(5, 40, 141)
    y = np.zeros_like(x)
    v = fl.binary_cross_entropy_with_logits(y, x, reduction="none")
    tv = F.binary_cross_entropy_with_logits(t64(x), t64(y), reduction="none").numpy()
    _close(v, tv, atol=1e-30)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    v32 = fl.binary_cross_entropy_with_logits(y32, x32, reduction="none")
    _close(v32, np.log1p(np.exp(x32.astype(np.float64))), np.float32)
    tv32 = F.binary_cross_entropy_with_logits(t64(x32), t64(y32), reduction="none").numpy()
    _close(v32, tv32, np.float32, atol=2 * np.finfo(np.float32).eps * 40)


# ---------------------------------------------------------------------------------------
# kl_divergence and log_loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kl_divergence_matches_torch_batchmean(dtype):
    rng = np.random.default_rng(17)
    p = rng.dirichlet(np.ones(7), 10).astype(dtype)
    q = rng.dirichlet(np.ones(7), 10).astype(dtype)
    p[0, :3] = 0
    p[0] /= p[0].sum()
    q[3] = p[3]  # identical rows: zero divergence
    qt = t64(q, grad=True)
    loss = F.kl_div(torch.log(qt), t64(p), reduction="batchmean")
    loss.backward()
    v, g = fl.kl_divergence.value_and_grad(p, q)
    _close(v, loss.item(), dtype)
    _close(g, qt.grad.numpy(), dtype, atol=1e-12)
    none = fl.kl_divergence(p, q, reduction="none")
    assert none.shape == (10,) and abs(none[3]) < 1e-6
    _close(none, F.kl_div(torch.log(t64(q)), t64(p), reduction="none").sum(1).numpy(), dtype,
           atol=1e-7)
    _close(none, R.kl_divergence(p, q), dtype, atol=1e-7)
    w = rng.uniform(0, 2, 10)
    _close(fl.kl_divergence(p, q, sample_weight=w), (w * none).sum() / w.sum(), dtype)
    _close(fl.kl_divergence.grad(p, q, reduction="sum"), -p / q, dtype)
    # 0 log 0 = 0, also where q = 0
    assert fl.kl_divergence([[1.0, 0.0]], [[1.0, 0.0]]) == 0.0
    np.testing.assert_array_equal(fl.kl_divergence.grad([[1.0, 0.0]], [[1.0, 0.0]]), [[-1, 0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_matches_sklearn(dtype):
    rng = np.random.default_rng(18)
    q1 = rng.uniform(0, 1, 50).astype(dtype)
    q1[:4] = [0.0, 1.0, 0.0, 1.0]
    y1 = rng.integers(0, 2, 50)
    y1[:4] = [0, 1, 1, 0]  # clipped at eps: finite
    w = rng.uniform(0, 2, 50)
    _close(fl.log_loss(y1, q1), skm.log_loss(y1, q1), dtype)
    _close(fl.log_loss(y1, q1, sample_weight=w), skm.log_loss(y1, q1, sample_weight=w), dtype)
    _close(fl.log_loss(y1, q1, reduction="sum"), skm.log_loss(y1, q1, normalize=False), dtype)
    Q = rng.dirichlet(np.ones(5), 40).astype(dtype)
    Y = rng.integers(0, 5, 40)
    labels = np.arange(5)
    _close(fl.log_loss(Y, Q), skm.log_loss(Y, Q, labels=labels), dtype)
    _close(fl.log_loss(Y, Q, sample_weight=w[:40]),
           skm.log_loss(Y, Q, labels=labels, sample_weight=w[:40]), dtype)
    _close(fl.log_loss(Y, Q, reduction="none"), R.log_loss(Y, Q), dtype)
    # gradient: -1/q at the true class (inside the clip), 0 elsewhere and where clipped
    g = fl.log_loss.grad(Y, Q, reduction="sum")
    want = np.zeros_like(Q)
    want[np.arange(40), Y] = -1 / Q[np.arange(40), Y]
    _close(g, want, dtype)
    g1 = fl.log_loss.grad(y1, q1, reduction="sum")
    assert np.all(g1[:4] == 0) and np.all(np.isfinite(g1))
    _close(g1[4:], np.where(y1[4:] == 1, -1 / q1[4:], 1 / (1 - q1[4:])), dtype)
    assert g1.dtype == dtype and g1.shape == (50,)


def test_log_loss_and_kl_grad_by_finite_differences():
    rng = np.random.default_rng(19)
    Q = rng.uniform(0.1, 0.9, (6, 3))
    Y = rng.integers(0, 3, 6)
    hh = 1e-7
    for L, a in ((fl.log_loss, Y), (fl.kl_divergence, rng.dirichlet(np.ones(3), 6))):
        g = L.grad(a, Q, reduction="sum")
        fd = np.empty_like(Q)
        for j in range(3):
            e = np.zeros_like(Q)
            e[:, j] = hh
            fd[:, j] = (L(a, Q + e, reduction="none") - L(a, Q - e, reduction="none")) / (2 * hh)
        _close(g, fd, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------
# out= and in place


def test_cross_entropy_out_and_in_place():
    rng = np.random.default_rng(20)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((50, 130)).astype(dtype)
        y = rng.integers(0, 130, 50)
        for kw in ({}, {"label_smoothing": 0.1, "class_weight": rng.uniform(0, 1, 130)}):
            v, g = fl.cross_entropy.value_and_grad(y, x, **kw)
            buf = np.empty_like(x)
            v2, g2 = fl.cross_entropy.value_and_grad(y, x, out=buf, **kw)
            assert g2 is buf and v2 == v
            np.testing.assert_array_equal(buf, g)
            w = x.copy()
            v3, g3 = fl.cross_entropy.value_and_grad(y, w, out=w, **kw)
            assert g3 is w and v3 == v
            np.testing.assert_array_equal(w, g)
            if dtype == np.float64:
                w = x.copy()
                assert fl.cross_entropy.grad(y, w, out=w, backend="parallel", **kw) is w
                np.testing.assert_array_equal(w, g)
        t = rng.dirichlet(np.ones(130), 50).astype(dtype)
        v, g = fl.cross_entropy.value_and_grad(t, x)
        w = x.copy()
        assert fl.cross_entropy.value_and_grad(t, w, out=w)[0] == v
        np.testing.assert_array_equal(w, g)
    x = rng.standard_normal((4, 6))
    for bad, err in ((np.empty((4, 6), np.float32), "dtype"), (np.empty((4, 5)), "shape"),
                     (np.empty((6, 4)).T, "contiguous"), ([[0.0] * 6] * 4, "NumPy")):
        with pytest.raises((ValueError, TypeError), match=err):
            fl.cross_entropy.grad([0, 1, 2, 3], x, out=bad)
    with pytest.raises(ValueError, match="overlaps"):
        big = rng.standard_normal((5, 6))
        fl.cross_entropy.grad([0, 1, 2, 3], big[:4], out=big[1:])


def test_kl_log_loss_and_pointwise_out_in_place():
    rng = np.random.default_rng(21)
    p = rng.dirichlet(np.ones(5), 8)
    q = rng.dirichlet(np.ones(5), 8)
    g = fl.kl_divergence.grad(p, q)
    w = q.copy()
    assert fl.kl_divergence.grad(p, w, out=w) is w
    np.testing.assert_array_equal(w, g)
    y = rng.integers(0, 5, 8)
    g = fl.log_loss.grad(y, q)
    w = q.copy()
    assert fl.log_loss.grad(y, w, out=w) is w
    np.testing.assert_array_equal(w, g)
    z = rng.standard_normal(1000)
    yb = rng.integers(0, 2, 1000).astype(float)
    g = fl.binary_cross_entropy_with_logits.grad(yb, z)
    w = z.copy()
    assert fl.binary_cross_entropy_with_logits.grad(yb, w, out=w) is w
    np.testing.assert_array_equal(w, g)


# ---------------------------------------------------------------------------------------
# arrays: non-contiguous, dtypes, inputs never modified


def test_noncontiguous_and_negative_strides_and_inputs_untouched():
    rng = np.random.default_rng(22)
    X = rng.standard_normal((20, 30))
    x = X[::2, ::-3]
    y = rng.integers(0, x.shape[1], x.shape[0])
    xc = np.ascontiguousarray(x)
    before = X.copy()
    v, g = fl.cross_entropy.value_and_grad(y, x, label_smoothing=0.1)
    v2, g2 = fl.cross_entropy.value_and_grad(y, xc, label_smoothing=0.1)
    assert v == v2
    np.testing.assert_array_equal(g, g2)
    np.testing.assert_array_equal(X, before)
    P = rng.dirichlet(np.ones(30), 20)
    _close(fl.kl_divergence(P[::-2], P[1::2]), fl.kl_divergence(P[::-2].copy(), P[1::2].copy()))
    z = rng.standard_normal(50)[::-2]
    yb = np.round(rng.uniform(0, 1, 25))
    _close(fl.focal(yb, z), fl.focal(yb, z.copy()), rtol=0)


def test_dtypes_follow_the_contract():
    rng = np.random.default_rng(23)
    x32 = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    for lab in (y, y.astype(np.int32), y.astype(np.uint8)):
        assert fl.cross_entropy.grad(lab, x32).dtype == np.float32  # labels do not promote
    assert fl.cross_entropy.grad(y, x32.astype(np.int64)).dtype == np.float64
    t64_ = rng.dirichlet(np.ones(4), 5)
    assert fl.cross_entropy.grad(t64_, x32).dtype == np.float64  # float targets promote
    assert fl.cross_entropy(y, x32, reduction="none").dtype == np.float32
    assert fl.binary_cross_entropy_with_logits.grad([1, 0], [1, 2]).dtype == np.float64
    with pytest.raises(TypeError, match="y_pred"):
        fl.cross_entropy(y, x32.astype(np.complex64))
    with pytest.raises(TypeError, match="y_true"):
        fl.cross_entropy(y.astype(str), x32)


# ---------------------------------------------------------------------------------------
# bad input: ValueError/TypeError naming the argument


def test_bad_input_messages_name_the_argument():
    rng = np.random.default_rng(24)
    x = rng.standard_normal((4, 3))
    y = np.array([0, 1, 2, 1])
    P = rng.dirichlet(np.ones(3), 4)
    cases = [
        (lambda: fl.binary_cross_entropy([0.5], [1.5]), ValueError, "y_pred"),
        (lambda: fl.binary_cross_entropy([1.5], [0.5]), ValueError, "y_true"),
        (lambda: fl.binary_cross_entropy([0.5], [-0.1]), ValueError, r"y_pred.*\(0,\)"),
        (lambda: fl.binary_cross_entropy_with_logits([2.0], [0.5]), ValueError, "y_true"),
        (lambda: fl.binary_cross_entropy_with_logits([1.0], [0.5], pos_weight=-1.0),
         ValueError, "pos_weight"),
        (lambda: fl.binary_cross_entropy_with_logits(np.ones((2, 3)), np.ones((2, 3)),
                                                     pos_weight=[1.0, -2.0, 1.0]),
         ValueError, "pos_weight"),
        (lambda: fl.binary_cross_entropy_with_logits(np.ones((2, 3)), np.ones((2, 3)),
                                                     pos_weight=[1.0, 2.0]),
         ValueError, "pos_weight"),
        (lambda: fl.focal([1.0], [0.5], gamma=-1.0), ValueError, "gamma"),
        (lambda: fl.focal([1.0], [0.5], beta=1.0), TypeError, "beta"),
        (lambda: fl.hinge([2, 1], [0.5, 0.5]), ValueError, "y_true"),
        (lambda: fl.hinge([-1, 0, 1], [0.5, 0.5, 0.5]), ValueError, "y_true mixes"),
        (lambda: fl.cross_entropy(y, x, reduction="avg"), ValueError, "reduction"),
        (lambda: fl.cross_entropy(y, x, label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: fl.cross_entropy(y, x, ignore_index=1.5), TypeError, "ignore_index"),
        (lambda: fl.cross_entropy(y, x, class_weight=[1.0, 2.0]), ValueError, "class_weight"),
        (lambda: fl.cross_entropy(y, x, class_weight=[1.0, -2.0, 1.0]), ValueError,
         "class_weight"),
        (lambda: fl.cross_entropy(y, x, class_weight=[1.0, np.nan, 1.0]), ValueError,
         "class_weight"),
        (lambda: fl.cross_entropy(y[:3], x), ValueError, "y_true"),
        (lambda: fl.cross_entropy(np.array([0, 1, 2.5, 1]), x), ValueError, "y_true"),
        (lambda: fl.cross_entropy(P + 0.5, x), ValueError, "y_true"),
        (lambda: fl.cross_entropy(y, x[None]), ValueError, "y_pred"),
        (lambda: fl.cross_entropy(y, np.zeros((4, 0))), ValueError, "y_pred"),
        (lambda: fl.cross_entropy(y, x, sample_weight=[1.0, -1.0, 1.0, 1.0]), ValueError,
         "sample_weight"),
        (lambda: fl.cross_entropy(y, x, sample_weight=[1.0, 1.0]), ValueError,
         "sample_weight"),
        (lambda: fl.cross_entropy(y, x, sample_weight=[0.0] * 4), ValueError, "sample_weight"),
        (lambda: fl.cross_entropy(y, x, backend="gpu"), ValueError, "backend"),
        (lambda: fl.cross_entropy(y, x, delta=1.0), TypeError, "delta"),
        (lambda: fl.kl_divergence(P, P[:3]), ValueError, "y_true"),
        (lambda: fl.kl_divergence(P, P * 2), ValueError, "y_pred"),
        (lambda: fl.kl_divergence(P - 0.5, P), ValueError, "y_true"),
        (lambda: fl.kl_divergence(P[0], P[0]), ValueError, "y_pred"),
        (lambda: fl.log_loss(y, P * 2), ValueError, "y_pred"),
        (lambda: fl.log_loss([0, 2], [0.5, 0.5]), ValueError, "y_true"),
        (lambda: fl.log_loss(y, x[None]), ValueError, "y_pred"),
    ]
    for fn, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            fn()


_LABEL_CHILD = textwrap.dedent("""
    import numpy as np, fastloss as fl
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    out = []
    for name, call in [
        ("ce", lambda y: fl.cross_entropy(y, x)),
        ("ce-vg-parallel", lambda y: fl.cross_entropy.value_and_grad(y, x, backend="parallel")),
        ("ce-inplace", lambda y: (lambda w: fl.cross_entropy.grad(y, w, out=w))(x.copy())),
        ("log_loss", lambda y: fl.log_loss(y, np.full((6, 5), 0.2))),
    ]:
        for bad, pos in ((-5, 3), (10**9, 4), (5, 0), (-(2**62), 2)):
            y = np.array([0, 1, 2, 3, 4, 0])
            y[pos] = bad
            try:
                call(y)
                out.append(f"{name} {bad}: no error")
            except ValueError as e:
                msg = str(e)
                ok = "y_true" in msg and f"({pos},)" in msg and str(bad) in msg
                out.append(f"{name} {bad}: {'ok' if ok else 'bad message: ' + msg}")
    y = np.array([0, 1, -5, 3, 4, 0])
    v = fl.cross_entropy(y, x, ignore_index=-5)
    out.append(f"ignored -5: {'ok' if np.isfinite(v) else 'nan'}")
    print("\\n".join(out))
""")


def test_out_of_range_labels_in_a_subprocess():
    """A label of -5 or 10**9 is a ValueError naming the first bad position, never a read
    out of bounds (which would crash or silently read garbage): run where a crash cannot
    take the test session down."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(fl.__file__)))]
        + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    p = subprocess.run([sys.executable, "-c", _LABEL_CHILD], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 17, p.stdout
    bad = [ln for ln in lines if not ln.endswith("ok")]
    assert not bad, bad


def test_samplers_give_valid_inputs():
    rng = np.random.default_rng(25)
    for name in POINTWISE + ROWWISE:
        spec = fl.REGISTRY[name]
        for shape in ((30,), (12, 7)):
            for dtype in (np.float32, np.float64):
                args, params = spec.sample(rng, shape, dtype)
                v, g = getattr(fl, name).value_and_grad(*args, **params)
                assert np.isfinite(v) and np.all(np.isfinite(g)) and g.dtype == dtype
    assert C.BCE_EPS == np.float32(1e-12)


def test_cross_entropy_fast_call_gives_the_full_roads_bits():
    """The commonest call (int64 labels, default parameters) skips the planning; it gives
    the bits of the full road (int32 labels go through it), and bad or ignored labels
    still take the full road (its errors, its ignore_index)."""
    rng = np.random.default_rng(31)
    for dtype in (np.float32, np.float64):
        for N, nc in ((10, 10), (7, 130), (3, 2000)):
            x = (3 * rng.standard_normal((N, nc))).astype(dtype)
            y = rng.integers(0, nc, N)
            for red in ("mean", "sum"):
                fast = fl.cross_entropy(y, x, reduction=red)
                full = fl.cross_entropy(y.astype(np.int32), x, reduction=red)
                assert fast == full
                assert fast == pytest.approx(_ce_torch(y, x.astype(np.float64), red)[0],
                                             rel=1e-5 if dtype == np.float32 else 1e-12)
    x = rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match="y_true"):
        fl.cross_entropy(np.array([0, 1, 5, 2]), x)
    with pytest.raises(ValueError, match="y_true"):
        fl.cross_entropy(np.array([0, -1, 3, 2]), x)
    y = np.array([0, -100, 3, 2])
    assert fl.cross_entropy(y, x) == pytest.approx(_ce_torch(y, x, "mean")[0], rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_gradient_from_kept_exponentials(dtype):
    """Rows of 64 to 1024 classes take the gradient from the exponentials of the
    log-sum-exp (no second exp): label smoothing, class weights, in place, against torch."""
    rng = np.random.default_rng(32)
    for nc in (64, 130, 1024):
        x = (3 * rng.standard_normal((5, nc))).astype(dtype)
        y = rng.integers(0, nc, 5)
        cw = rng.random(nc) + 0.5
        for kw in ({"label_smoothing": 0.1}, {"label_smoothing": 0.2, "class_weight": cw}):
            theirs = {"label_smoothing": kw["label_smoothing"]}
            if "class_weight" in kw:
                theirs["weight"] = torch.tensor(cw)
            tv, tg = _ce_torch(y, x.astype(np.float64), "sum", **theirs)
            v, g = fl.cross_entropy.value_and_grad(y, x, reduction="sum", **kw)
            _close(v, tv, dtype)
            # float32: entries near A p = a cancel; bound them by the row's scale
            _close(g, tg, dtype, atol=(2e-7 if dtype == np.float32 else 0.0) * np.abs(tg).max())
            xi = x.copy()
            fl.cross_entropy.grad(y, xi, reduction="sum", out=xi, **kw)
            assert np.array_equal(xi, g)
