"""LightGBM custom objectives: small real models trained with fastloss's objective against
LightGBM's built-in objectives (same predictions), and against plain NumPy objectives where
the built-in one does more than a custom objective can (leaf renewal)."""

import lightgbm as lgb
import numpy as np
import pytest

import fastloss
from fastloss.integrations.lightgbm import LightGBMObjective, objective

RNG = np.random.default_rng(11)
N = 400
X = RNG.standard_normal((N, 5))
Y = 2.0 * X[:, 0] + np.sin(3.0 * X[:, 1]) + 0.3 * RNG.standard_normal(N)
W = RNG.random(N) + 0.5
COUNTS = np.floor(np.exp(Y / 2.0))

BASE = {"num_leaves": 7, "learning_rate": 0.3, "num_threads": 1, "seed": 0, "verbose": -1,
        "deterministic": True, "force_row_wise": True}


def train(params, obj=None, label=Y, weight=None, rounds=8):
    d = lgb.Dataset(X, label=label, weight=weight, params={"verbose": -1})
    p = {**BASE, **params}
    if obj is not None:
        p["objective"] = obj
    booster = lgb.train(p, d, rounds)
    return booster.predict(X, raw_score=True)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert np.abs(a).max() > 0.5  # the models learned something


# Built-in objectives start from the label average; a custom objective from 0.
FROM_ZERO = {"boost_from_average": False}


@pytest.mark.parametrize("weighted", [False, True])
def test_mse_matches_regression(weighted):
    w = W if weighted else None
    ref = train({"objective": "regression", **FROM_ZERO}, weight=w)
    close(train({}, obj=objective(fastloss.mse), weight=w), ref)


def test_huber_matches_huber():
    # LightGBM's huber uses a constant Hessian: fastloss's "auto" convention for huber
    ref = train({"objective": "huber", "alpha": 0.8, **FROM_ZERO}, weight=W)
    close(train({}, obj=objective(fastloss.huber, delta=0.8), weight=W), ref)


def test_poisson_matches_poisson():
    # LightGBM's Hessian is exp(p + poisson_max_delta_step), which must be > 0
    ref = train({"objective": "poisson", "poisson_max_delta_step": 1e-12, **FROM_ZERO},
                label=COUNTS, weight=W)
    close(train({}, obj=objective("poisson_nll"), label=COUNTS, weight=W), ref)


def test_tweedie_matches_tweedie():
    ref = train({"objective": "tweedie", "tweedie_variance_power": 1.4, **FROM_ZERO},
                label=COUNTS, weight=W)
    close(train({}, obj=objective(fastloss.tweedie, power=1.4), label=COUNTS, weight=W), ref)


LABELS2 = (Y > 0.5).astype(np.float64)
LABELS4 = np.digitize(Y, [-1.0, 0.5, 2.0]).astype(np.float64)


def test_logistic_matches_binary():
    ref = train({"objective": "binary", **FROM_ZERO}, label=LABELS2, weight=W)
    got = train({}, obj=objective(fastloss.binary_cross_entropy_with_logits), label=LABELS2,
                weight=W)
    close(got, ref)


def test_cross_entropy_matches_multiclass():
    # "auto" gives LightGBM's Hessian K/(K-1) p(1-p)
    ref = train({"objective": "multiclass", "num_class": 4, **FROM_ZERO}, label=LABELS4,
                weight=W)
    got = train({"num_class": 4}, obj=objective(fastloss.cross_entropy), label=LABELS4,
                weight=W)
    assert got.shape == (N, 4)
    close(got, ref)
    exact = train({"num_class": 4}, obj=objective(fastloss.cross_entropy, hessian="exact"),
                  label=LABELS4, weight=W)
    assert not np.allclose(exact, ref)


def test_classifier_wrapper():
    kw = dict(n_estimators=6, num_leaves=7, learning_rate=0.3, n_jobs=1, random_state=0,
              verbose=-1, deterministic=True, force_row_wise=True)
    ref = lgb.LGBMClassifier(objective="multiclass", boost_from_average=False, **kw)
    ref.fit(X, LABELS4.astype(int), sample_weight=W)
    got = lgb.LGBMClassifier(objective=objective("cross_entropy"), **kw)
    got.fit(X, LABELS4.astype(int), sample_weight=W)
    close(got.predict(X, raw_score=True), ref.predict(X, raw_score=True))


def test_class_major_flat_layout():
    # LightGBM < 4.0 passed multiclass scores flat, class-major; the gradient goes back so
    p = RNG.standard_normal((5, 3))
    lab = np.array([0, 2, 1, 1, 0])
    g, h = objective("cross_entropy")(lab, p)
    g_flat, h_flat = objective("cross_entropy")(lab, p.T.reshape(-1))
    np.testing.assert_array_equal(g_flat, g.T.reshape(-1))
    np.testing.assert_array_equal(h_flat, h.T.reshape(-1))
    prob = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(h, 1.5 * prob * (1 - prob), rtol=1e-12)  # K/(K-1), K = 3


def test_sklearn_wrapper_with_sample_weight():
    kw = dict(n_estimators=8, num_leaves=7, learning_rate=0.3, n_jobs=1, random_state=0,
              verbose=-1, deterministic=True, force_row_wise=True)
    ref = lgb.LGBMRegressor(objective="regression", boost_from_average=False, **kw)
    ref.fit(X, Y, sample_weight=W)
    got = lgb.LGBMRegressor(objective=objective(fastloss.mse), **kw).fit(X, Y, sample_weight=W)
    close(got.predict(X, raw_score=True), ref.predict(X, raw_score=True))


# ---------------------------------------------------------------------------
# against plain NumPy objectives (the built-ins renew leaves to medians / quantiles)


def numpy_objective(grad_hess):
    def obj(preds, train_data):
        y = train_data.get_label()
        w = train_data.get_weight()
        g, h = grad_hess(preds, y)
        if w is not None:
            g, h = g * w, h * w
        return g, h
    return obj


NUMPY_OBJECTIVES = {
    "mae": ({}, lambda p, y: (np.sign(p - y), np.ones_like(p))),
    "quantile": ({"quantile": 0.3},
                 lambda p, y: (np.where(y >= p, -0.3, 0.7), np.ones_like(p))),
    "smooth_l1": ({"beta": 0.5}, lambda p, y: (np.clip(p - y, -0.5, 0.5) / 0.5,
                                               np.ones_like(p))),
    # "auto": the secant Hessian tanh(d) / d (1 at d = 0), not sech^2 d (it vanishes)
    "log_cosh": ({}, lambda p, y: (np.tanh(p - y), np.divide(
        np.tanh(p - y), p - y, out=np.ones_like(p), where=p != y))),
}


@pytest.mark.parametrize("name", list(NUMPY_OBJECTIVES))
def test_matches_numpy_objectives(name):
    params, gh = NUMPY_OBJECTIVES[name]
    ref = train({}, obj=numpy_objective(gh), weight=W)
    close(train({}, obj=objective(name, **params), weight=W), ref)


def test_native_call_reads_labels_and_weights_from_the_dataset():
    obj = objective(fastloss.log_cosh, hessian="exact")
    d = lgb.Dataset(X, label=Y, weight=W, params={"verbose": -1}).construct()
    p = RNG.standard_normal(N)
    g, h = obj(p, d)
    y32, w32 = d.get_label(), d.get_weight()  # LightGBM keeps them as float32
    assert y32.dtype == w32.dtype == np.float32
    g_ref, h_ref = fastloss.log_cosh.grad_hess(y32, p, reduction="sum", sample_weight=w32)
    np.testing.assert_array_equal(g, g_ref)
    np.testing.assert_array_equal(h, h_ref)
    assert g.dtype == np.float64
    d0 = lgb.Dataset(X, label=Y, params={"verbose": -1}).construct()
    g, _ = obj(p, d0)
    np.testing.assert_array_equal(g, fastloss.log_cosh.grad(y32, p, reduction="sum"))


def test_constructor():
    assert isinstance(objective("mse"), LightGBMObjective)
    with pytest.raises(ValueError, match="hessian must be one of"):
        objective("mse", hessian="lightgbm")
    with pytest.raises(ValueError, match="quantile"):
        objective("quantile", quantile=1.5)
