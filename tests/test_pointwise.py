"""The registry sweep for pointwise losses: every loss x dtype x reduction x weights x axis
against the independent references, finite differences for grad and Hessian, and the
options (out=, in place, broadcasting, non-contiguous inputs)."""

import numpy as np
import pytest

import fastloss
from fastloss._spec import REGISTRY
from tests.helpers import (
    DTYPES,
    RTOL,
    kink_distance,
    pointwise_hess_names,
    pointwise_names,
    sample,
)
from tests.references import REFERENCES

NAMES = [n for n in pointwise_names() if n != "rmse"]


def reference_elem(name, args, params):
    y, p = (np.asarray(a, dtype=np.float64) for a in args)
    return REFERENCES[name](np.broadcast_to(y, p.shape), p, **params)


def weights_full(w, shape, along_last):
    if w is None:
        return np.ones(shape)
    if along_last:
        return np.broadcast_to(w, shape)
    return np.broadcast_to(w.reshape((-1,) + (1,) * (len(shape) - 1)), shape)


def reference_value(name, args, params, reduction, w=None, axis=None, along_last=True):
    el = reference_elem(name, args, params)
    W = weights_full(w, el.shape, along_last)
    if reduction == "none":
        return W * el
    ax = None if axis is None else -1
    s = np.sum(W * el, axis=ax)
    return s if reduction == "sum" else s / np.sum(W, axis=ax)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_value_matches_reference(name, dtype, reduction, weighted, rng):
    args, params = sample(name, rng, (257,), dtype)
    w = rng.uniform(0.1, 2.0, 257) if weighted else None
    L = getattr(fastloss, name)
    got = L(*args, reduction=reduction, sample_weight=w, backend="serial", **params)
    want = reference_value(name, args, params, reduction, w)
    if reduction == "none":
        assert isinstance(got, np.ndarray) and got.dtype == dtype and got.shape == (257,)
    else:
        assert isinstance(got, float)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_hand_values(name):
    from tests.references import HAND_VALUES

    L = getattr(fastloss, name)
    for args, params, expected in HAND_VALUES[name]:
        assert L(*args, **params) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("weighted", [False, True])
def test_batch_axis(name, weighted, rng):
    """(B, n) predictions against (n,) targets give B losses; grad is that of their sum."""
    (y, p), params = sample(name, rng, (4, 300))
    y1 = y[0]
    L = getattr(fastloss, name)
    w = rng.uniform(0.1, 2.0, 300) if weighted else None
    for yt in (y1, y):
        for reduction in ("mean", "sum"):
            got = L(yt, p, axis=-1, reduction=reduction, sample_weight=w, backend="serial",
                    **params)
            assert got.shape == (4,) and got.dtype == np.float64
            want = [reference_value(name, (np.broadcast_to(yt, p.shape)[b], p[b]), params,
                                    reduction, w) for b in range(4)]
            np.testing.assert_allclose(got, want, rtol=1e-10)
            g = L.grad(yt, p, axis=-1, reduction=reduction, sample_weight=w, backend="serial",
                       **params)
            gs = [L.grad(np.broadcast_to(yt, p.shape)[b], p[b], reduction=reduction,
                         sample_weight=w, backend="serial", **params) for b in range(4)]
            np.testing.assert_allclose(g, np.stack(gs), rtol=1e-12)
    # axis=None with broadcast targets: one loss over everything, weights along last axis
    got = L(y1, p, sample_weight=w, backend="serial", **params)
    want = reference_value(name, (y1, p), params, "mean", w)
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_sample_weight_per_row_for_2d_targets(name, rng):
    """y_true with y_pred's full 2-D shape: one weight per sample (row), as scikit-learn."""
    (y, p), params = sample(name, rng, (50, 3))
    w = rng.uniform(0.1, 2.0, 50)
    L = getattr(fastloss, name)
    got = L(y, p, sample_weight=w, backend="serial", **params)
    want = reference_value(name, (y, p), params, "mean", w, along_last=False)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def _fd_step(p):
    return 1e-6 * np.maximum(1.0, np.abs(p))


@pytest.mark.parametrize("name", NAMES)
def test_grad_finite_differences(name, rng):
    (y, p), params = sample(name, rng, (400,))
    L = getattr(fastloss, name)
    w = rng.uniform(0.1, 2.0, 400)
    h = _fd_step(p)
    for reduction in ("sum", "mean"):
        g = L.grad(y, p, reduction=reduction, sample_weight=w, backend="serial", **params)
        # separable: the elementwise difference of the "none" values is the partial derivative
        lp = L(y, p + h, reduction="none", sample_weight=w, **params)
        lm = L(y, p - h, reduction="none", sample_weight=w, **params)
        fd = (lp - lm) / (2 * h)
        if reduction == "mean":
            fd = fd / w.sum()
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


@pytest.mark.parametrize("name", pointwise_hess_names())
def test_hess_finite_differences(name, rng):
    (y, p), params = sample(name, rng, (400,))
    L = getattr(fastloss, name)
    w = rng.uniform(0.1, 2.0, 400)
    h = _fd_step(p)
    for reduction in ("sum", "mean"):
        g, H = L.grad_hess(y, p, reduction=reduction, sample_weight=w, backend="serial",
                           **params)
        g2 = L.grad(y, p, reduction=reduction, sample_weight=w, **params)
        np.testing.assert_array_equal(g, g2)
        fd = (L.grad(y, p + h, reduction=reduction, sample_weight=w, **params)
              - L.grad(y, p - h, reduction=reduction, sample_weight=w, **params)) / (2 * h)
        # piecewise losses: every element away from a kink (where fd would straddle it)
        mask = kink_distance(name, params, y, p) > 2 * h
        assert mask.mean() > 0.9
        ok = np.abs(fd - H) <= 1e-4 * (1 + np.abs(H))
        assert ok[mask].all(), (name, reduction, np.c_[p, y, H, fd][mask & ~ok][:5])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_value_and_grad_is_value_and_grad(name, dtype, rng):
    args, params = sample(name, rng, (5000,), dtype)
    L = getattr(fastloss, name)
    for reduction in ("mean", "none"):
        v, g = L.value_and_grad(*args, reduction=reduction, backend="serial", **params)
        v2 = L(*args, reduction=reduction, backend="serial", **params)
        g2 = L.grad(*args, reduction=reduction, backend="serial", **params)
        np.testing.assert_array_equal(v, v2)
        np.testing.assert_array_equal(g, g2)
        assert g.dtype == dtype and g.shape == args[1].shape
    # "none" grad is the elementwise derivative, the same as "sum"
    np.testing.assert_array_equal(L.grad(*args, reduction="none", **params),
                                  L.grad(*args, reduction="sum", **params))


@pytest.mark.parametrize("name", NAMES)
def test_serial_equals_parallel_bits(name, rng):
    (y, p), params = sample(name, rng, (3, 20001))
    args = (y[0], p)  # targets broadcast over rows: weights along the last axis
    w = rng.uniform(0.1, 2.0, 20001)
    L = getattr(fastloss, name)
    for kw in ({}, {"sample_weight": w}, {"axis": -1}, {"axis": -1, "sample_weight": w}):
        a = L.value_and_grad(*args, backend="serial", **kw, **params)
        b = L.value_and_grad(*args, backend="parallel", **kw, **params)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    if REGISTRY[name].has_hess:
        a = L.grad_hess(*args, backend="serial", **params)
        b = L.grad_hess(*args, backend="parallel", **params)
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("name", NAMES)
def test_out_and_in_place(name, rng):
    (y, p), params = sample(name, rng, (2, 1000))
    L = getattr(fastloss, name)
    want_v, want_g = L.value_and_grad(y, p, **params)
    out = np.empty_like(p)
    v, g = L.value_and_grad(y, p, out=out, **params)
    assert g is out and v == want_v
    np.testing.assert_array_equal(out, want_g)
    p2 = p.copy()
    v, g = L.value_and_grad(y, p2, out=p2, **params)  # in place on y_pred
    assert g is p2 and v == want_v
    np.testing.assert_array_equal(p2, want_g)
    p3 = p.copy()
    assert L.grad(y, p3, out=p3, **params) is p3
    np.testing.assert_array_equal(p3, want_g)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_not_mutated_and_strides(name, rng):
    (y, p), params = sample(name, rng, (60, 40))
    y0, p0 = y.copy(), p.copy()
    L = getattr(fastloss, name)
    # transposed and negatively strided views give the same as their contiguous copies
    for view in (lambda a: a.T, lambda a: a[::-1, ::-2]):
        yv, pv = view(y), view(p)
        a = L.value_and_grad(yv, pv, **params)
        b = L.value_and_grad(np.ascontiguousarray(yv), np.ascontiguousarray(pv), **params)
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
    L.grad_hess(y, p, **params) if REGISTRY[name].has_hess else None
    L(y, p, reduction="none", **params)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(p, p0)


def test_dtype_promotion(rng):
    y = rng.standard_normal(100)
    p32 = rng.standard_normal(100).astype(np.float32)
    assert fastloss.mse.grad(y, p32).dtype == np.float64  # float32 with float64 -> float64
    assert fastloss.mse.grad(y.astype(np.float32), p32).dtype == np.float32
    assert fastloss.mse.grad(np.arange(100), p32).dtype == np.float32  # ints don't promote
    assert fastloss.mse.grad(np.arange(100), np.arange(100)).dtype == np.float64
    assert fastloss.mse.grad([True, False], [1, 2]).dtype == np.float64
    assert fastloss.mse(y.astype(np.float16), y.astype(np.float16)) == 0.0
    assert fastloss.mse([1.0, 2.0], [1.0, 2.0]) == 0.0  # lists


def test_scalar_inputs():
    assert fastloss.mse(1.0, 3.0) == 4.0
    g = fastloss.mse.grad(1.0, 3.0)
    assert g.shape == () and g == 4.0


def test_empty_inputs():
    e = np.array([])
    with pytest.raises(ValueError, match="empty"):
        fastloss.mse(e, e)
    assert fastloss.mse(e, e, reduction="sum") == 0.0
    assert fastloss.mse(e, e, reduction="none").shape == (0,)
    assert fastloss.mse.grad(e, e, reduction="sum").shape == (0,)
    assert fastloss.mse(np.zeros((0, 3)), np.zeros((0, 3)), axis=-1).shape == (0,)


def test_nan_and_inf_propagate():
    y = np.zeros(5)
    p = np.array([0.0, np.nan, 1.0, 2.0, 3.0])
    for name in NAMES:
        spec = REGISTRY[name]
        if spec.check_inputs is not None:
            continue
        assert np.isnan(getattr(fastloss, name)(y, p)), name
    assert fastloss.mse(y, np.array([0, np.inf, 0, 0, 0.0])) == np.inf


def test_rmse(rng):
    from sklearn.metrics import root_mean_squared_error

    y, p = rng.standard_normal((2, 3, 500))
    w = rng.uniform(0.1, 2, 500)
    assert fastloss.rmse(y[0], p[0]) == pytest.approx(root_mean_squared_error(y[0], p[0]),
                                                      rel=1e-12)
    assert fastloss.rmse(y[0], p[0], sample_weight=w) == pytest.approx(
        root_mean_squared_error(y[0], p[0], sample_weight=w), rel=1e-12)
    rows = fastloss.rmse(y, p, axis=-1, sample_weight=w)
    np.testing.assert_allclose(
        rows, [root_mean_squared_error(y[i], p[i], sample_weight=w) for i in range(3)],
        rtol=1e-12)
    v, g = fastloss.rmse.value_and_grad(y, p, axis=-1)
    h = 1e-6
    for i, j in [(0, 0), (1, 7), (2, 499)]:
        pp, pm = p.copy(), p.copy()
        pp[i, j] += h
        pm[i, j] -= h
        fd = (fastloss.rmse(y, pp, axis=-1).sum() - fastloss.rmse(y, pm, axis=-1).sum()) / (2 * h)
        assert g[i, j] == pytest.approx(fd, rel=1e-5)
    assert np.array_equal(fastloss.rmse.grad(y[0], y[0]), np.zeros(500))  # 0 at rmse == 0
    for reduction in ("none", "sum"):
        with pytest.raises(ValueError, match="reduction"):
            fastloss.rmse(y, p, reduction=reduction)
    with pytest.raises(NotImplementedError, match="rmse"):
        fastloss.rmse.grad_hess(y, p)
