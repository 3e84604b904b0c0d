"""XGBoost custom objectives: small real models trained with fastloss's objective against
XGBoost's built-in objectives (same predictions), and against plain NumPy objectives where
the built-in one does more than a custom objective can (leaf refits)."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xgboost as xgb

import fastloss
from fastloss.integrations.xgboost import XGBoostObjective, objective

RNG = np.random.default_rng(7)
N = 400
X = RNG.standard_normal((N, 5)).astype(np.float32)
Y = (2.0 * X[:, 0] + np.sin(3.0 * X[:, 1]) + 0.3 * RNG.standard_normal(N)).astype(np.float32)
W = (RNG.random(N) + 0.5).astype(np.float32)
COUNTS = np.floor(np.exp(Y / 2.0)).astype(np.float32)

BASE = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}


def train(params, obj=None, label=Y, weight=None, rounds=8):
    d = xgb.DMatrix(X, label=label, weight=weight)
    booster = xgb.train({**BASE, **params}, d, rounds, obj=obj)
    return booster.predict(d, output_margin=True)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert np.abs(a).max() > 0.5  # the models learned something


# ---------------------------------------------------------------------------
# against XGBoost's built-in objectives


@pytest.mark.parametrize("weighted", [False, True])
def test_mse_matches_reg_squarederror(weighted):
    w = W if weighted else None
    # fastloss's mse is d**2 (gradient 2d, Hessian 2), XGBoost's d**2 / 2: with no L2
    # penalty and no minimum child weight the Newton steps are the same.
    same = {"base_score": 0.0, "lambda": 0.0, "min_child_weight": 0.0}
    ref = train({"objective": "reg:squarederror", **same}, weight=w)
    close(train(same, obj=objective(fastloss.mse), weight=w), ref)


def test_poisson_matches_count_poisson():
    # count:poisson's Hessian is exp(p + max_delta_step); 0 makes it the exact exp(p).
    ref = train({"objective": "count:poisson", "base_score": 1.0, "max_delta_step": 0.0},
                label=COUNTS, weight=W)
    close(train({"base_score": 0.0}, obj=objective("poisson_nll"), label=COUNTS, weight=W), ref)


def test_tweedie_matches_reg_tweedie():
    ref = train({"objective": "reg:tweedie", "tweedie_variance_power": 1.4, "base_score": 1.0},
                label=COUNTS, weight=W)
    got = train({"base_score": 0.0}, obj=objective(fastloss.tweedie, power=1.4), label=COUNTS,
                weight=W)
    close(got, ref)


LABELS2 = (Y > 0.5).astype(np.float32)
LABELS4 = np.digitize(Y, [-1.0, 0.5, 2.0]).astype(np.float32)


def test_logistic_matches_binary_logistic():
    # binary:logistic's base_score 0.5 is the margin 0; the custom objective's margin is 0.0
    ref = train({"objective": "binary:logistic", "base_score": 0.5}, label=LABELS2, weight=W)
    got = train({"base_score": 0.0}, obj=objective(fastloss.binary_cross_entropy_with_logits),
                label=LABELS2, weight=W)
    close(got, ref)


def test_cross_entropy_matches_multi_softprob():
    ref = train({"objective": "multi:softprob", "num_class": 4, "base_score": 0.0},
                label=LABELS4, weight=W)
    got = train({"num_class": 4, "base_score": 0.0}, obj=objective(fastloss.cross_entropy),
                label=LABELS4, weight=W)
    assert got.shape == (N, 4)
    close(got, ref)


def test_sklearn_wrapper_with_sample_weight():
    kw = dict(n_estimators=8, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0,
              base_score=0.0, reg_lambda=0.0, min_child_weight=0.0, tree_method="hist")
    ref = xgb.XGBRegressor(objective="reg:squarederror", **kw).fit(X, Y, sample_weight=W)
    got = xgb.XGBRegressor(objective=objective(fastloss.mse), **kw).fit(X, Y, sample_weight=W)
    close(got.predict(X, output_margin=True), ref.predict(X, output_margin=True))
    # and a model with a fastloss objective pickles (the loss pickles by name)
    again = pickle.loads(pickle.dumps(got))
    np.testing.assert_array_equal(again.predict(X), got.predict(X))


def test_multi_output_regression():
    Y2 = np.stack([Y, COUNTS], axis=1)
    same = {"base_score": 0.0, "lambda": 0.0, "min_child_weight": 0.0,
            "multi_strategy": "one_output_per_tree"}
    ref = train({"objective": "reg:squarederror", **same}, label=Y2, weight=W)
    got = train(same, obj=objective(fastloss.mse), label=Y2, weight=W)
    assert got.shape == (N, 2)
    close(got, ref)


# ---------------------------------------------------------------------------
# against plain NumPy objectives (the built-ins refit leaves to medians / quantiles)


def numpy_objective(grad_hess):
    def obj(predt, dtrain):
        y = dtrain.get_label()
        w = dtrain.get_weight()
        g, h = grad_hess(predt.astype(np.float64), y.astype(np.float64))
        if w.size:
            g, h = g * w, h * w
        return g.astype(np.float32), h.astype(np.float32)
    return obj


NUMPY_OBJECTIVES = {
    "mae": ({}, lambda p, y: (np.sign(p - y), np.ones_like(p))),
    "quantile": ({"quantile": 0.8},
                 lambda p, y: (np.where(y >= p, -0.8, 0.2), np.ones_like(p))),
    "huber": ({"delta": 0.5}, lambda p, y: (np.clip(p - y, -0.5, 0.5), np.ones_like(p))),
    # "auto": the secant Hessian tanh(d) / d (1 at d = 0), not sech^2 d (it vanishes)
    "log_cosh": ({}, lambda p, y: (np.tanh(p - y), np.divide(
        np.tanh(p - y), p - y, out=np.ones_like(p), where=p != y))),
}


@pytest.mark.parametrize("name", list(NUMPY_OBJECTIVES))
def test_matches_numpy_objectives(name):
    params, gh = NUMPY_OBJECTIVES[name]
    ref = train({"base_score": 0.0}, obj=numpy_objective(gh), weight=W)
    got = train({"base_score": 0.0}, obj=objective(name, **params), weight=W)
    close(got, ref)


def test_mae_differs_from_the_builtin_by_its_leaf_refit_only_in_the_leaves():
    # documented: reg:absoluteerror refits leaves to medians; a custom objective cannot
    builtin = train({"objective": "reg:absoluteerror", "base_score": 0.0}, weight=W)
    custom = train({"base_score": 0.0}, obj=objective("mae"), weight=W)
    assert not np.allclose(builtin, custom)
    # both reduce the absolute error from the start (0)
    for pred in (builtin, custom):
        assert np.average(np.abs(pred - Y), weights=W) < np.average(np.abs(Y), weights=W)


# ---------------------------------------------------------------------------
# the objective itself: conventions, layouts, errors


def test_hessian_conventions():
    p = np.array([0.0, 1.0, -2.0, 0.3], np.float32)
    y = np.array([0.5, 0.0, 1.0, 0.3], np.float32)
    w = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    g, h = objective("mae", hessian="exact")(y, p, sample_weight=w)
    np.testing.assert_array_equal(g, np.sign(p - y) * w)
    np.testing.assert_array_equal(h, np.zeros(4, np.float32))
    g, h = objective("mae")(y, p, sample_weight=w)  # auto: constant
    np.testing.assert_array_equal(h, w)
    g, h = objective("mae", hessian="constant")(y, p)
    np.testing.assert_array_equal(h, np.ones(4, np.float32))
    assert g.dtype == h.dtype == np.float32
    g, h = objective("huber", hessian="exact", delta=0.6)(y, p)
    np.testing.assert_array_equal(h, (np.abs(p - y) <= 0.6).astype(np.float32))
    _, h = objective("mse", min_hessian=3.0)(y, p, sample_weight=w)
    np.testing.assert_allclose(h, np.maximum(2.0 * w, 3.0 * w))
    _, h = objective("poisson_nll", hessian="exact")(y, p)
    np.testing.assert_allclose(h, np.exp(p), rtol=1e-6)


def test_multiclass_hessian_and_layouts():
    p = RNG.standard_normal((6, 3))
    lab = np.array([0, 1, 2, 2, 1, 0], np.float32)
    w = RNG.random(6) + 0.5
    prob = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[lab.astype(int)]
    g, h = objective("cross_entropy")(lab, p, sample_weight=w)  # auto: multi:softprob's
    np.testing.assert_allclose(g, (prob - onehot) * w[:, None], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, np.maximum(2 * prob * (1 - prob), 1e-16) * w[:, None],
                               rtol=1e-12)
    _, h = objective("cross_entropy", hessian="exact")(lab, p, sample_weight=w)
    np.testing.assert_allclose(h, prob * (1 - prob) * w[:, None], rtol=1e-12)
    # XGBoost < 2.1 passed the scores flat, row by row: the gradient comes back that way
    g_flat, h_flat = objective("cross_entropy")(lab, p.reshape(-1), sample_weight=w)
    np.testing.assert_array_equal(g_flat, g.reshape(-1))
    with pytest.raises(ValueError, match="multiclass scores"):
        objective("cross_entropy")(lab, p.reshape(-1)[:-1])
    with pytest.raises(ValueError, match="integer class labels"):
        objective("cross_entropy")(lab + 0.5, p)
    # extreme logits: XGBoost's floor keeps every Hessian positive
    _, h = objective("cross_entropy")(lab, 1e4 * p)
    assert (h >= 1e-16).all()
    _, h = objective("binary_cross_entropy_with_logits")(np.ones(3), np.array([50.0, 0, -50]))
    np.testing.assert_allclose(h, [1e-16, 0.25, 1e-16])


def test_native_call_reads_labels_and_weights_from_the_dmatrix():
    obj = objective(fastloss.huber, delta=0.5)
    p = RNG.standard_normal(N).astype(np.float32)
    g, h = obj(p, xgb.DMatrix(X, label=Y, weight=W))
    g_ref, h_ref = obj(Y, p, sample_weight=W)
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(h, h_ref)
    g, _ = obj(p, xgb.DMatrix(X, label=Y))
    np.testing.assert_array_equal(g, fastloss.huber.grad(Y, p, reduction="sum", delta=0.5))


def test_labels_and_weights_are_read_without_a_copy():
    """The objective reads a DMatrix's labels and weights as read-only views of XGBoost's
    buffers: the values of get_label()/get_weight() (1-D and multi-output labels, weights
    absent, an empty DMatrix, weights set again between rounds), and the gradients of the
    copies; what has no C handle gives XGBoost's copies."""
    from fastloss.integrations import xgboost as fx

    two = np.c_[Y, 2 * Y]
    for d in (xgb.DMatrix(X, label=Y, weight=W), xgb.DMatrix(X, label=two),
              xgb.DMatrix(X[:0], label=Y[:0])):
        for field, copy in (("label", d.get_label()), ("weight", d.get_weight())):
            view = fx._info(d, field)
            np.testing.assert_array_equal(view, copy)
            assert view.shape == copy.shape and view.dtype == copy.dtype == np.float32
            if view.size:
                assert not view.flags.writeable and not view.flags.owndata
    d = xgb.DMatrix(X, label=Y, weight=W)
    d.set_weight(2 * W)
    np.testing.assert_array_equal(fx._info(d, "weight"), 2 * W)
    p = RNG.standard_normal(N).astype(np.float32)
    for name in ("mse", "poisson_nll", "log_cosh", "binary_cross_entropy_with_logits"):
        label = COUNTS if name == "poisson_nll" else (Y > 0).astype(np.float32) \
            if name.startswith("binary") else Y
        d = xgb.DMatrix(X, label=label, weight=W)
        g, h = objective(name)(p, d)
        g_ref, h_ref = objective(name)(label, p, sample_weight=W)
        np.testing.assert_array_equal(g, g_ref)
        np.testing.assert_array_equal(h, h_ref)


    class NoHandle:  # what has no C handle to read: XGBoost's own reader
        def get_float_info(self, field):
            return np.full(3, 7.0 if field == "weight" else 1.0, np.float32)

    np.testing.assert_array_equal(fx._info(NoHandle(), "weight"), np.full(3, 7.0))


def test_errors():
    with pytest.raises(ValueError, match="unknown fastloss loss"):
        objective("nope")
    with pytest.raises(ValueError, match="rmse has no per-sample"):
        objective(fastloss.rmse)
    with pytest.raises(TypeError, match="must be a fastloss loss"):
        objective(len)
    with pytest.raises(ValueError, match="hessian must be one of"):
        objective("mse", hessian="newton")
    with pytest.raises(TypeError, match="unknown parameter"):
        objective("huber", alpha=1.0)
    with pytest.raises(ValueError, match="delta"):
        objective("huber", delta=0.0)
    with pytest.raises(ValueError, match="min_hessian"):
        objective("mse", min_hessian=-1.0)
    with pytest.raises(ValueError, match="y_true has shape"):
        objective("mse")(np.zeros(3), np.zeros(4))
    assert isinstance(objective("mse"), XGBoostObjective)
    assert "huber" in repr(objective("huber", delta=2.0))


# ---------------------------------------------------------------------------
# the device path's own kernels, under Numba's CUDA simulator


def test_device_postprocess_kernels_in_the_simulator():
    script = textwrap.dedent("""
        import numpy as np
        from numba import cuda
        from fastloss.integrations import _device
        rng = np.random.default_rng(0)
        h = rng.random((40, 3)).astype(np.float32)
        w = (rng.random(40) + 0.5).astype(np.float32)
        for constant, factor, floor in [(False, 2.0, 0.3), (True, 1.0, 0.0), (False, 1.5, 0.0)]:
            d = cuda.to_device(h.copy())
            _device.postprocess(d, cuda.to_device(w), constant, factor, floor)
            base = np.broadcast_to(w[:, None], h.shape) if constant else factor * h
            ref = np.maximum(base, floor * w[:, None])
            np.testing.assert_allclose(d.copy_to_host(), ref, rtol=1e-6)
        d = cuda.to_device(h[:, 0].copy())
        _device.postprocess(d, None, False, 1.0, 0.5)
        np.testing.assert_allclose(d.copy_to_host(), np.maximum(h[:, 0], 0.5), rtol=1e-6)
        lab = _device._int_labels(cuda.to_device(np.array([0, 2, 1], np.float32)))
        assert lab.copy_to_host().tolist() == [0, 2, 1]
        try:
            _device._int_labels(cuda.to_device(np.array([0, 1.5], np.float32)))
        except ValueError as e:
            assert "whole numbers" in str(e)
        else:
            raise AssertionError("no error")
        print("ok")
    """)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
