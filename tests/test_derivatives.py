"""Every gradient and Hessian of the losses that have a Hessian, at every parameter set the
reference tests use: by finite differences (a fourth-order stencil; elements within reach
of a kink are masked, and every other element must match) and against PyTorch's autograd
(second derivatives by double backward) or scikit-learn where they have the derivative.

A Hessian is what XGBoost and LightGBM train with: a wrong one at a non-default parameter
trains a wrong model without any error.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from fastloss._spec import REGISTRY
from tests.helpers import kink_distance

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPE = (60, 5)  # 300 elements; 2-D so that pos_weight may be an array along the last axis
PW_ARRAY = np.array([0.3, 1.0, 2.5, 0.0, 4.0])

# the parameter sets of tests/test_regression_libs.py and tests/test_classification.py
PARAMS = {
    "mse": [{}],
    "mae": [{}],
    "huber": [{}, {"delta": 0.3}, {"delta": 2.5}],
    "smooth_l1": [{}, {"beta": 0.3}, {"beta": 0.0}],
    "log_cosh": [{}],
    "quantile": [{"quantile": 0.1}, {"quantile": 0.5}, {"quantile": 0.9}],
    "poisson_nll": [
        {},
        {"full": True},
        {"log_input": False},
        {"log_input": False, "full": True, "eps": 1e-3},
    ],
    "tweedie": [{"power": r} for r in (-0.5, 0.0, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0)],
    "binary_cross_entropy": [{}],
    "binary_cross_entropy_with_logits": [{}, {"pos_weight": 3.5}, {"pos_weight": PW_ARRAY}],
    "focal": [
        {"alpha": a, "gamma": g} for a, g in ((0.25, 2.0), (-1.0, 0.0), (0.6, 0.5), (0.25, 3.0))
    ],
    "hinge": [{}],
    "squared_hinge": [{}],
}
# every pointwise loss with a Hessian: at the parameter sets above, else at its defaults
CASES = [(n, p) for n in sorted(n for n, s in REGISTRY.items()
                                if s.kind == "pointwise" and s.has_hess)
         for p in PARAMS.get(n, [{}])]


def _id(case):
    name, params = case
    kv = ",".join(f"{k}={'array' if isinstance(v, np.ndarray) else v}" for k, v in params.items())
    return f"{name}[{kv}]"


def test_every_pointwise_loss_with_a_hessian_is_covered():
    have = {n for n, s in REGISTRY.items() if s.kind == "pointwise" and s.has_hess}
    assert have == {n for n, _ in CASES} and set(PARAMS) <= have


def inputs(name, params, seed=0):
    """y, p (float64, SHAPE) drawn like the reference tests draw them."""
    rng = np.random.default_rng(seed)
    n = SHAPE
    if name == "poisson_nll":
        y = rng.poisson(3.0, n).astype(float)
        p = rng.uniform(0.01, 5, n) if not params.get("log_input", True) else rng.standard_normal(n)
    elif name == "tweedie":
        y = rng.gamma(2.0, 1.0, n)
        if params["power"] < 2:
            y.reshape(-1)[:50] = 0.0
        p = 0.5 * rng.standard_normal(n)
    elif name == "binary_cross_entropy":
        y = rng.uniform(0, 1, n)
        y = np.where(rng.random(n) < 0.3, np.round(y), y)
        p = rng.uniform(0.02, 0.98, n)
    elif name in ("binary_cross_entropy_with_logits", "focal"):
        y = rng.integers(0, 2, n).astype(float)
        y.reshape(-1)[:40] = rng.uniform(0, 1, 40)  # soft targets too
        p = 3.0 * rng.standard_normal(n)
    elif name in ("hinge", "squared_hinge"):
        y = (2 * rng.integers(0, 2, n) - 1).astype(float)
        p = 1.5 * rng.standard_normal(n)
    else:
        y = 3.0 * rng.standard_normal(n)
        p = 3.0 * rng.standard_normal(n)
    return y, p


def step(p):
    return 1e-4 * np.maximum(1.0, np.abs(p))


def fd4(f, p, h):
    """f'(p) by the fourth-order central stencil, and a bound on its rounding error."""
    f1, f_1, f2, f_2 = f(p + h), f(p - h), f(p + 2 * h), f(p - 2 * h)
    d = (8.0 * (f1 - f_1) - (f2 - f_2)) / (12.0 * h)
    mag = np.maximum.reduce([np.abs(f1), np.abs(f_1), np.abs(f2), np.abs(f_2)])
    return d, 8 * np.finfo(float).eps * (mag + 1.0) / h


def assert_every_element(got, fd, rnd, mask, what):
    err = np.abs(got - fd)
    tol = 1e-7 * np.abs(fd) + rnd + 1e-12
    bad = mask & ~(err <= tol)
    assert not bad.any(), (what, int(bad.sum()), np.c_[got[bad], fd[bad]][:5])


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_derivatives_by_finite_differences(case):
    name, params = case
    L = getattr(fl, name)
    y, p = inputs(name, params)
    w = np.random.default_rng(1).uniform(0.1, 2.0, SHAPE[0])  # one weight per row
    h = step(p)
    mask = kink_distance(name, params, y, p) > 3 * h
    assert mask.mean() > 0.9  # the test must see nearly every element
    g, H = L.grad_hess(y, p, reduction="sum", sample_weight=w, backend="serial", **params)
    fd_g, rg = fd4(lambda q: L(y, q, reduction="none", sample_weight=w, **params), p, h)
    assert_every_element(g, fd_g, rg, mask, "gradient")
    fd_h, rh = fd4(lambda q: L.grad(y, q, reduction="sum", sample_weight=w, **params), p, h)
    assert_every_element(H, fd_h, rh, mask, "hessian")
    # "mean" scales value, gradient and Hessian by the same 1/denominator
    v_sum = L(y, p, reduction="sum", sample_weight=w, **params)
    v_mean = L(y, p, reduction="mean", sample_weight=w, **params)
    gm, Hm = L.grad_hess(y, p, reduction="mean", sample_weight=w, **params)
    np.testing.assert_allclose(gm * v_sum, g * v_mean, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(Hm * v_sum, H * v_mean, rtol=1e-13, atol=1e-300)


# ---------------------------------------------------------------------------------------
# against PyTorch (double backward) and scikit-learn


def _focal_torchvision(x, y, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss (reduction 'none'), as torchvision writes it."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _torch_fn(name, params):
    k = dict(reduction="none")
    if name == "mse":
        return lambda p, y: F.mse_loss(p, y, **k)
    if name == "mae":
        return lambda p, y: F.l1_loss(p, y, **k)
    if name == "huber":
        return lambda p, y: F.huber_loss(p, y, delta=params.get("delta", 1.0), **k)
    if name == "smooth_l1":
        return lambda p, y: F.smooth_l1_loss(p, y, beta=params.get("beta", 1.0), **k)
    if name == "log_cosh":
        return lambda p, y: torch.log(torch.cosh(p - y))
    if name == "poisson_nll":
        return lambda p, y: F.poisson_nll_loss(p, y, **params, **k)
    if name == "binary_cross_entropy":
        return lambda p, y: F.binary_cross_entropy(p, y, **k)
    if name == "binary_cross_entropy_with_logits":
        pw = params.get("pos_weight")
        pw = None if pw is None else torch.tensor(np.asarray(pw, float))
        return lambda p, y: F.binary_cross_entropy_with_logits(p, y, pos_weight=pw, **k)
    if name == "focal":
        return lambda p, y: _focal_torchvision(p, y, params["alpha"], params["gamma"])
    if name == "hinge":
        return lambda p, y: torch.clamp(1 - y * p, min=0)
    if name == "squared_hinge":
        return lambda p, y: torch.clamp(1 - y * p, min=0) ** 2
    return None


TORCH_CASES = [c for c in CASES if _torch_fn(*c) is not None]


def torch_grad_hess(fn, y, p):
    """Elementwise gradient and Hessian diagonal of a separable loss by autograd."""
    pt = torch.tensor(p, requires_grad=True)
    (g,) = torch.autograd.grad(fn(pt, torch.tensor(y)).sum(), pt, create_graph=True)
    if not g.requires_grad:  # piecewise linear: autograd's graph knows the Hessian is 0
        return g.detach().numpy(), np.zeros_like(p)
    (h,) = torch.autograd.grad(g.sum(), pt)
    return g.detach().numpy(), h.numpy(force=True)


@pytest.mark.parametrize("case", TORCH_CASES, ids=[_id(c) for c in TORCH_CASES])
def test_derivatives_match_torch_autograd(case):
    name, params = case
    y, p = inputs(name, params, seed=3)
    tg, th = torch_grad_hess(_torch_fn(name, params), y, p)
    g, H = getattr(fl, name).grad_hess(y, p, reduction="sum", backend="serial", **params)
    mask = kink_distance(name, params, y, p) > 1e-9  # subgradient conventions at a kink
    np.testing.assert_allclose(g[mask], tg[mask], rtol=1e-10, atol=1e-13)
    # autograd's Hessians of the logit losses go through s * (1 - s), which cancels where
    # the sigmoid saturates: compare those at the Hessian's scale
    atol = (
        1e-11 * np.abs(th).max() if name in ("binary_cross_entropy_with_logits", "focal") else 1e-13
    )
    np.testing.assert_allclose(H[mask], th[mask], rtol=1e-9, atol=atol)


@pytest.mark.parametrize("power", [c[1]["power"] for c in CASES if c[0] == "tweedie"])
def test_tweedie_derivatives_match_sklearn(power):
    from sklearn._loss.loss import HalfTweedieLoss

    y, p = inputs("tweedie", {"power": power}, seed=4)
    lg, lh = HalfTweedieLoss(power=power).gradient_hessian(
        y_true=y.ravel(), raw_prediction=p.ravel()
    )
    g, H = fl.tweedie.grad_hess(y, p, power=power, reduction="sum", backend="serial")
    np.testing.assert_allclose(g.ravel(), lg, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(H.ravel(), lh, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_quantile_gradient_matches_sklearn(q):
    from sklearn._loss.loss import PinballLoss

    y, p = inputs("quantile", {"quantile": q}, seed=5)
    want = PinballLoss(quantile=q).gradient(y_true=y.ravel(), raw_prediction=p.ravel())
    g, H = fl.quantile.grad_hess(y, p, quantile=q, reduction="sum", backend="serial")
    np.testing.assert_allclose(g.ravel(), want, rtol=1e-14)
    assert np.all(H == 0.0)


# ---------------------------------------------------------------------------------------
# cross_entropy: gradient and Hessian diagonal at every option combination

CE = [
    dict(soft=s, cw=c, ii=i, eps=e, sw=w)
    for s in (False, True)
    for c in (False, True)
    for i in (None, 2)
    for e in (0.0, 0.15)
    for w in (False, True)
    if not (s and i is not None)
]


def _ce_setup(case, N=9, Cn=6):
    rng = np.random.default_rng(8)
    x = 2 * rng.standard_normal((N, Cn))
    if case["soft"]:
        y = rng.dirichlet(np.ones(Cn), N)
    else:
        y = rng.integers(0, Cn, N)
        y[[1, 4]] = 2
    kw = dict(label_smoothing=case["eps"])
    if case["cw"]:
        kw["class_weight"] = rng.uniform(0.2, 2.0, Cn)
    if case["ii"] is not None:
        kw["ignore_index"] = case["ii"]
    sw = rng.uniform(0.1, 2.0, N) if case["sw"] else None
    return y, x, kw, sw


def _ce_torch_grad_hess(y, x, kw, sw):
    xt = torch.tensor(x, requires_grad=True)
    tk = dict(label_smoothing=kw["label_smoothing"], ignore_index=kw.get("ignore_index", -100))
    if "class_weight" in kw:
        tk["weight"] = torch.tensor(kw["class_weight"])
    per = F.cross_entropy(xt, torch.tensor(y), reduction="none", **tk)
    s = torch.ones(x.shape[0], dtype=torch.float64) if sw is None else torch.tensor(sw)
    (g,) = torch.autograd.grad((s * per).sum(), xt, create_graph=True)
    h = np.stack(
        [
            torch.autograd.grad(g[:, j].sum(), xt, retain_graph=True)[0][:, j].numpy()
            for j in range(x.shape[1])
        ],
        axis=1,
    )
    return g.detach().numpy(), h


@pytest.mark.parametrize("case", CE, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_cross_entropy_derivatives(case):
    y, x, kw, sw = _ce_setup(case)
    L = fl.cross_entropy
    g, H = L.grad_hess(y, x, reduction="sum", sample_weight=sw, backend="serial", **kw)
    tg, th = _ce_torch_grad_hess(y, x, kw, sw)
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(H, th, rtol=1e-10, atol=1e-14)
    # finite differences, one class column at a time (rows are independent)
    h = 1e-4
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = 1.0

        def val(t, e=e):
            return L(y, x + t * e, reduction="none", sample_weight=sw, **kw)

        def grad(t, e=e, j=j):
            return L.grad(y, x + t * e, reduction="sum", sample_weight=sw, **kw)[:, j]

        fd_g = (8 * (val(h) - val(-h)) - (val(2 * h) - val(-2 * h))) / (12 * h)
        fd_h = (8 * (grad(h) - grad(-h)) - (grad(2 * h) - grad(-2 * h))) / (12 * h)
        np.testing.assert_allclose(g[:, j], fd_g, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(H[:, j], fd_h, rtol=1e-7, atol=1e-9)
    gm, Hm = L.grad_hess(y, x, reduction="mean", sample_weight=sw, **kw)
    v_sum = L(y, x, reduction="sum", sample_weight=sw, **kw)
    v_mean = L(y, x, reduction="mean", sample_weight=sw, **kw)
    np.testing.assert_allclose(Hm * v_sum, H * v_mean, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(gm * v_sum, g * v_mean, rtol=1e-13, atol=1e-300)
