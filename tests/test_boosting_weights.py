"""Sample weights in the XGBoost/LightGBM objectives: applied in one checked pass over the
gradients and Hessians (``_boosting._weigh``), against the loss's own weighted kernels."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss
from fastloss.integrations import _boosting
from fastloss.integrations.lightgbm import objective as lgb_objective
from fastloss.integrations.xgboost import objective

N = 3000


def _data(dtype, n=N, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n).astype(dtype)
    p = rng.standard_normal(n).astype(dtype)
    w = rng.uniform(0.0, 2.0, n).astype(dtype)
    w[:10] = 0.0
    return y, p, w


@pytest.mark.parametrize("wdtype", [np.float32, np.float64, "int", "list"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_hessian_matches_the_weighted_kernel(dtype, wdtype):
    y, p, w = _data(dtype)
    if wdtype == "int":
        w = np.round(w * 3).astype(np.int64)
    elif wdtype == "list":
        w = w.tolist()
    else:
        w = w.astype(wdtype)
    w0 = np.array(w, copy=True)
    g, h = objective("mse")(y, p, w)
    rg, rh = fastloss.mse.grad_hess(y, p, reduction="sum", sample_weight=np.asarray(w, np.float64))
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(g, rg, rtol=rtol)
    np.testing.assert_allclose(h, rh, rtol=rtol)
    assert g.dtype == dtype and h.dtype == dtype
    np.testing.assert_array_equal(np.asarray(w), w0)  # the weights are not touched


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_secant_and_floored_hessians(dtype):
    y, p, w = _data(dtype)
    w64 = w.astype(np.float64)
    g, h = objective("huber")(y, p, w)  # constant Hessian: the weight itself
    np.testing.assert_array_equal(h, w)
    np.testing.assert_allclose(
        g,
        np.clip(p - y, -1, 1).astype(np.float64) * w64,
        rtol=1e-6 if dtype == np.float32 else 1e-15,
    )
    g, h = objective("log_cosh")(y, p, w)  # secant l'(d) / d, weighted
    d = p.astype(np.float64) - y
    np.testing.assert_allclose(h, np.tanh(d) / d * w64, rtol=2e-6 if dtype == np.float32 else 1e-13)
    m = 0.3  # min_hessian floors h at m * w
    _, h = objective("binary_cross_entropy_with_logits", min_hessian=m)(
        (y > 0).astype(dtype), 5 * p, w
    )
    s = 1 / (1 + np.exp(-5 * p.astype(np.float64)))
    np.testing.assert_allclose(
        h, np.maximum(s * (1 - s), m) * w64, rtol=1e-5 if dtype == np.float32 else 1e-13
    )


def test_multiclass_weights_scale_every_class_of_a_row():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 4))
    lab = rng.integers(0, 4, 500).astype(np.float64)
    w = rng.uniform(0, 2, 500)
    g, h = objective("cross_entropy")(lab, x, w)
    g0, h0 = objective("cross_entropy")(lab, x)
    np.testing.assert_allclose(g, g0 * w[:, None], rtol=1e-15)
    np.testing.assert_allclose(h, h0 * w[:, None], rtol=1e-15)
    g1, _ = lgb_objective("cross_entropy")(lab, x, w)
    np.testing.assert_allclose(g1, g, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "bad, message", [(np.nan, "finite"), (np.inf, "finite"), (-1.0, "non-negative")]
)
def test_bad_weights_raise_naming_sample_weight(dtype, bad, message):
    y, p, w = _data(dtype)
    w[N // 2] = bad
    for obj in (objective("mse"), objective("huber"), lgb_objective("log_cosh")):
        with pytest.raises(ValueError, match=f"sample_weight must be {message}"):
            obj(y, p, w)
    with pytest.raises(ValueError, match="sample_weight has 2 entries"):
        objective("mse")(y, p, w[:2])


def test_weights_changed_between_rounds_are_used():
    """Nothing is cached across calls: weights edited in place between rounds count."""
    y, p, w = _data(np.float32)
    obj = objective("mse")
    g1, _ = obj(y, p, w)
    w *= 2
    g2, _ = obj(y, p, w)
    np.testing.assert_array_equal(g2, 2 * g1)  # doubling is exact
    w[5] = -1
    with pytest.raises(ValueError, match="non-negative"):
        obj(y, p, w)


@pytest.mark.parametrize("opts", [{}, {"min_hessian": 1e-3}])
def test_serial_equals_parallel_bit_for_bit(opts, monkeypatch):
    """Both roads of the weights: into the loss's own pass (exact Hessian, no floor), and
    the weighing pass after it (a floor)."""
    monkeypatch.setattr(_boosting, "_weigh_kernels", {})
    y, p, w = _data(np.float64, n=200_000, seed=3)
    out = [objective("poisson_nll", backend=b, **opts)(np.abs(y), p, w)
           for b in ("serial", "parallel")]
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    weighed = {k[0] for k in _boosting._weigh_kernels}
    assert weighed == ({False, True} if opts else set())


@pytest.mark.parametrize("name", ["mse", "poisson_nll", "huber", "quantile"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_go_into_the_losss_own_pass(name, dtype, monkeypatch):
    """One score per sample, exact or constant Hessian, no floor: the loss's weighted
    kernel gives (g, h), with no weighing pass after it; h is the weights themselves for
    a constant Hessian (a copy, in the scores' dtype)."""
    monkeypatch.setattr(_boosting, "_weigh", None)  # a weighing pass would fail
    y, p, w = _data(dtype)
    y = np.abs(y) if name == "poisson_nll" else y
    L = getattr(fastloss, name)
    g, h = objective(name)(y, p, w)
    if name in ("mse", "poisson_nll"):
        rg, rh = L.grad_hess(y, p, reduction="sum", sample_weight=w)
        np.testing.assert_array_equal(h, rh)
    else:
        rg = L.grad(y, p, reduction="sum", sample_weight=w)
        np.testing.assert_array_equal(h, w.astype(dtype))
        assert h is not w
    np.testing.assert_array_equal(g, rg)
    assert g.dtype == h.dtype == dtype


def test_empty_training_set():
    e = np.zeros(0)
    g, h = objective("mse")(e, e, e)
    assert g.shape == h.shape == (0,)


def test_auto_runs_serially_between_the_boosters_regions(monkeypatch):
    """With no backend given and "auto" in force, the objective's host kernels run serially;
    a backend in force (or given) is kept, and both give the same bits."""
    seen = []
    real = fastloss.mse.grad_hess

    class Spy:  # records the backend each call asks for
        spec = fastloss.mse.spec

        def grad_hess(self, *a, **k):
            seen.append(k["backend"])
            return real(*a, **k)

    y, p, w = _data(np.float64, n=50_000)
    obj = objective("mse")
    monkeypatch.setattr(obj, "loss", Spy())
    g0, h0 = obj(y, p, w)
    with fastloss.use_backend("parallel"):
        g1, h1 = obj(y, p, w)
    g2, h2 = objective("mse", backend="parallel")(y, p, w)
    assert seen == ["serial", None]
    for a, b in ((g0, g1), (h0, h1), (g0, g2), (h0, h2)):
        np.testing.assert_array_equal(a, b)
