"""The regression family against PyTorch (value and autograd gradient) and scikit-learn."""

import numpy as np
import pytest

import fastloss

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH = {
    "mse": (lambda p, y, **k: F.mse_loss(p, y, **k), [{}]),
    "mae": (lambda p, y, **k: F.l1_loss(p, y, **k), [{}]),
    "huber": (lambda p, y, delta=1.0, **k: F.huber_loss(p, y, delta=delta, **k),
              [{}, {"delta": 0.3}, {"delta": 2.5}]),
    "smooth_l1": (lambda p, y, beta=1.0, **k: F.smooth_l1_loss(p, y, beta=beta, **k),
                  [{}, {"beta": 0.3}, {"beta": 0.0}]),
    "poisson_nll": (
        lambda p, y, log_input=True, full=False, eps=1e-8, **k: F.poisson_nll_loss(
            p, y, log_input=log_input, full=full, eps=eps, **k),
        [{}, {"full": True}, {"log_input": False}, {"log_input": False, "full": True,
                                                     "eps": 1e-3}]),
}


def _inputs(name, params, dtype, rng, n=1000, scale=3.0):
    y = rng.standard_normal(n) * scale
    p = rng.standard_normal(n) * scale
    if name == "poisson_nll":
        y = rng.poisson(3.0, n).astype(float)
        p = rng.uniform(0.01, 5, n) if not params.get("log_input", True) else p / 3
    return y.astype(dtype), p.astype(dtype)


@pytest.mark.parametrize("name", sorted(TORCH))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(name, dtype, reduction, rng):
    fn, param_sets = TORCH[name]
    L = getattr(fastloss, name)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    for params in param_sets:
        y, p = _inputs(name, params, dtype, rng)
        tp = torch.tensor(p, requires_grad=True)
        tv = fn(tp, torch.tensor(y), reduction=reduction, **params)
        tv.sum().backward()
        v, g = L.value_and_grad(y, p, reduction=reduction, **params)
        np.testing.assert_allclose(v, tv.detach().numpy(), rtol=tol, atol=tol * 1e-2)
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=tol, atol=tol * 1e-3)
        assert g.dtype == dtype


def test_extremes_match_torch():
    y = np.array([0.0, 0.0, 1e300, -1e300, 0.0, 5.0])
    p = np.array([1e-300, -1e-300, 1e300, 1e300, 1e150, 5.0])
    for name in ("mse", "mae", "huber", "smooth_l1"):
        fn, _ = TORCH[name]
        tp = torch.tensor(p, requires_grad=True)
        with np.errstate(over="ignore"):
            tv = fn(tp, torch.tensor(y), reduction="none")
            tv.sum().backward()
            v, g = getattr(fastloss, name).value_and_grad(y, p, reduction="none")
        np.testing.assert_allclose(v, tv.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=1e-12)


def test_log_cosh_stable_for_any_d():
    d = np.array([-1e308, -1e4, -800.0, -30.0, -1e-8, 0.0, 1e-8, 30.0, 800.0, 1e4, 1e308])
    v, g = fastloss.log_cosh.value_and_grad(np.zeros_like(d), d, reduction="none")
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    with np.errstate(over="ignore"):
        want = np.abs(d) + np.log1p(np.exp(-2 * np.abs(d))) - np.log(2)
    want[np.abs(d) < 1] = 0.5 * d[np.abs(d) < 1] ** 2  # exact to double precision there
    np.testing.assert_allclose(v, want, rtol=1e-15)
    np.testing.assert_allclose(g, np.tanh(d), rtol=1e-15)
    t = torch.tensor(d[3:-3])  # torch's naive log(cosh) overflows beyond |d| ~ 710
    np.testing.assert_allclose(v[3:-3], torch.log(torch.cosh(t)).numpy(), rtol=1e-12,
                               atol=1e-15)  # and rounds log(cosh(1e-8)) to 0


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_quantile_matches_sklearn(q, rng):
    from sklearn.metrics import mean_pinball_loss

    y, p = rng.standard_normal((2, 1001))
    p[:10] = y[:10]  # ties
    w = rng.uniform(0, 2, 1001)
    assert fastloss.quantile(y, p, quantile=q) == pytest.approx(
        mean_pinball_loss(y, p, alpha=q), rel=1e-12)
    assert fastloss.quantile(y, p, quantile=q, sample_weight=w) == pytest.approx(
        mean_pinball_loss(y, p, alpha=q, sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("power", [-0.5, 0.0, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tweedie_matches_sklearn(power, dtype, rng):
    from sklearn._loss.loss import HalfTweedieLoss

    y = rng.gamma(2.0, 1.0, 500)
    if power < 2:
        y[:50] = 0.0
    raw = 0.5 * rng.standard_normal(500)
    ref = HalfTweedieLoss(power=power)
    lv = ref.loss(y_true=y, raw_prediction=raw)
    lg, lh = ref.gradient_hessian(y_true=y, raw_prediction=raw)
    yt, rp = y.astype(dtype), raw.astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    v = fastloss.tweedie(yt, rp, power=power, reduction="none")
    g, h = fastloss.tweedie.grad_hess(yt, rp, power=power, reduction="sum")
    np.testing.assert_allclose(v, lv, rtol=tol, atol=tol)
    np.testing.assert_allclose(g, lg, rtol=tol, atol=tol)
    np.testing.assert_allclose(h, lh, rtol=tol, atol=tol)


def test_rmse_float32(rng):
    from sklearn.metrics import root_mean_squared_error

    y, p = rng.standard_normal((2, 1000)).astype(np.float32)
    assert fastloss.rmse(y, p) == pytest.approx(root_mean_squared_error(y, p), rel=1e-5)
