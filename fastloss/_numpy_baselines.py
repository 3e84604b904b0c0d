"""Plain NumPy versions of the losses: what a user would write without fastloss.

``fastloss bench`` times them against the kernels. They follow docs/conventions.md
(default ``reduction="mean"``, no weights) and are written the obvious vectorised way, with the
numerically stable idioms a careful user would pick, in their fastest reasonable form
(softplus as ``max(x, 0) + log1p(exp(-|x|))`` rather than ``np.logaddexp``, one ``exp``
shared by a loss and its gradient, the label-indexed form of cross-entropy rather than a
dense one-hot matrix), so that a ratio against them does not flatter fastloss; no effort
beyond that to fuse passes. They are *not* the references the tests check the kernels
against (those live in ``tests/references``); ``tests/test_bench.py`` checks that these
agree with the losses, and flags every registered loss that has none.

``BASELINES[name]`` is a :class:`Baseline`; ``value(*args, **params)`` returns the reduced
value, ``value_and_grad`` returns ``(value, grad)`` where ``grad`` is an array, or a tuple
for losses with several differentiable inputs. ``grad`` and ``grad_hess`` are optional
(``grad`` defaults to the second item of ``value_and_grad``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LOG2 = math.log(2.0)


@dataclass(frozen=True)
class Baseline:
    value: Callable
    value_and_grad: Callable | None = None
    grad: Callable | None = None
    grad_hess: Callable | None = None

    def op(self, name: str) -> Callable | None:
        """The function for an op name ('value', 'grad', 'value_and_grad', 'grad_hess')."""
        if name == "grad" and self.grad is None and self.value_and_grad is not None:
            vg = self.value_and_grad
            return lambda *a, **k: vg(*a, **k)[1]
        return getattr(self, name, None)


BASELINES: dict[str, Baseline] = {}


def _add(name, value, value_and_grad=None, grad=None, grad_hess=None):
    BASELINES[name] = Baseline(value, value_and_grad, grad, grad_hess)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


# ---------------------------------------------------------------------------- regression


def mse(y, p):
    return np.mean((p - y) ** 2)


def mse_vg(y, p):
    d = p - y
    return np.mean(d * d), d * (2.0 / d.size)


def mse_gh(y, p):
    d = p - y
    return d * (2.0 / d.size), np.full_like(d, 2.0 / d.size)


_add("mse", mse, mse_vg, grad_hess=mse_gh)


def rmse(y, p):
    return np.sqrt(np.mean((p - y) ** 2))


def rmse_vg(y, p):
    d = p - y
    r = np.sqrt(np.mean(d * d))
    return r, d / (d.size * r) if r > 0 else np.zeros_like(d)


_add("rmse", rmse, rmse_vg)


def mae(y, p):
    return np.mean(np.abs(p - y))


def mae_vg(y, p):
    d = p - y
    return np.mean(np.abs(d)), np.sign(d) / d.size


def mae_gh(y, p):
    d = p - y
    return np.sign(d) / d.size, np.zeros_like(d)


_add("mae", mae, mae_vg, grad_hess=mae_gh)


def huber(y, p, delta=1.0):
    d = p - y
    a = np.abs(d)
    return np.mean(np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)))


def huber_vg(y, p, delta=1.0):
    d = p - y
    a = np.abs(d)
    v = np.mean(np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta)))
    return v, np.clip(d, -delta, delta) / d.size


def huber_gh(y, p, delta=1.0):
    d = p - y
    return np.clip(d, -delta, delta) / d.size, (np.abs(d) <= delta) / d.size


_add("huber", huber, huber_vg, grad_hess=huber_gh)


def smooth_l1(y, p, beta=1.0):
    d = p - y
    a = np.abs(d)
    if beta == 0:
        return np.mean(a)
    return np.mean(np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta))


def smooth_l1_vg(y, p, beta=1.0):
    d = p - y
    if beta == 0:
        return np.mean(np.abs(d)), np.sign(d) / d.size
    return smooth_l1(y, p, beta), np.clip(d, -beta, beta) / (beta * d.size)


_add("smooth_l1", smooth_l1, smooth_l1_vg)


def _log_cosh(d):
    a = np.abs(d)
    return a + np.log1p(np.exp(-2.0 * a)) - LOG2


def log_cosh(y, p):
    return np.mean(_log_cosh(p - y))


def log_cosh_vg(y, p):
    d = p - y
    return np.mean(_log_cosh(d)), np.tanh(d) / d.size


def log_cosh_gh(y, p):
    d = p - y
    t = np.tanh(d)
    return t / d.size, (1.0 - t * t) / d.size


_add("log_cosh", log_cosh, log_cosh_vg, grad_hess=log_cosh_gh)


def pinball(y, p, quantile=0.5):
    e = y - p
    return np.mean(np.maximum(quantile * e, (quantile - 1.0) * e))


def pinball_vg(y, p, quantile=0.5):
    g = np.where(y >= p, -quantile, 1.0 - quantile) / p.size
    return pinball(y, p, quantile), g.astype(p.dtype)


_add("quantile", pinball, pinball_vg)


def poisson_nll(y, p, log_input=True, full=False, eps=1e-8):
    if log_input:
        lv = np.exp(p) - y * p
    else:
        lv = p - y * np.log(p + eps)
    if full:
        safe = np.where(y > 1, y, 1.0)
        lv = lv + np.where(y > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe), 0)
    return np.mean(lv)


def poisson_nll_vg(y, p, log_input=True, full=False, eps=1e-8):
    v = poisson_nll(y, p, log_input, full, eps)
    g = np.exp(p) - y if log_input else 1.0 - y / (p + eps)
    return v, g / p.size


_add("poisson_nll", poisson_nll, poisson_nll_vg)


def _tweedie_terms(y, p, power):
    rho = power
    if rho == 0:
        m = np.exp(p)
        return 0.5 * (m - y) ** 2, (m - y) * m
    if rho == 1:
        m = np.exp(p)
        return m - y * p, m - y
    if rho == 2:
        e = y * np.exp(-p)
        return p + e, 1.0 - e
    a = np.exp((1.0 - rho) * p)
    b = np.exp((2.0 - rho) * p)
    return b / (2.0 - rho) - y * a / (1.0 - rho), b - y * a


def tweedie(y, p, power=1.5):
    return np.mean(_tweedie_terms(y, p, power)[0])


def tweedie_vg(y, p, power=1.5):
    lv, g = _tweedie_terms(y, p, power)
    return np.mean(lv), g / p.size


_add("tweedie", tweedie, tweedie_vg)

# ------------------------------------------------------------------------ classification


def binary_cross_entropy(y, p):
    lp = np.maximum(np.log(p), -100.0)
    l1p = np.maximum(np.log1p(-p), -100.0)
    return -np.mean(y * lp + (1.0 - y) * l1p)


def binary_cross_entropy_vg(y, p):
    g = (p - y) / np.maximum(p * (1.0 - p), 1e-12)
    return binary_cross_entropy(y, p), g / p.size


_add("binary_cross_entropy", binary_cross_entropy, binary_cross_entropy_vg)


def _pw(pos_weight, x):
    return 1.0 if pos_weight is None else np.asarray(pos_weight, dtype=x.dtype)


def bce_logits(y, x, pos_weight=None):
    lw = 1.0 + (_pw(pos_weight, x) - 1.0) * y
    return np.mean((1.0 - y) * x + lw * _softplus(-x))


def bce_logits_vg(y, x, pos_weight=None):
    lw = 1.0 + (_pw(pos_weight, x) - 1.0) * y
    e = np.exp(-np.abs(x))  # one exp for softplus(-x) and sigmoid(-x)
    v = np.mean((1.0 - y) * x + lw * (np.maximum(-x, 0.0) + np.log1p(e)))
    sig_neg = np.where(x >= 0, e, 1.0) / (1.0 + e)
    return v, ((1.0 - y) - lw * sig_neg) / x.size


_add("binary_cross_entropy_with_logits", bce_logits, bce_logits_vg)


def _focal_parts(y, x, alpha, gamma):
    p = _sigmoid(x)
    ce = (1.0 - y) * x + _softplus(-x)
    pt = p * y + (1.0 - p) * (1.0 - y)
    at = alpha * y + (1.0 - alpha) * (1.0 - y) if alpha >= 0 else 1.0
    return p, ce, pt, at


def focal(y, x, alpha=0.25, gamma=2.0):
    _, ce, pt, at = _focal_parts(y, x, alpha, gamma)
    return np.mean(at * ce * (1.0 - pt) ** gamma)


def focal_vg(y, x, alpha=0.25, gamma=2.0):
    p, ce, pt, at = _focal_parts(y, x, alpha, gamma)
    q = 1.0 - pt
    v = np.mean(at * ce * q**gamma)
    dpt = (2.0 * y - 1.0) * p * (1.0 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        dq = np.where(q > 0, gamma * q ** (gamma - 1.0), 0.0) * -dpt
    return v, at * ((p - y) * q**gamma + ce * dq) / x.size


_add("focal", focal, focal_vg)


def _pm1(y):
    return np.where(y > 0, 1.0, -1.0)


def hinge(y, s):
    return np.mean(np.maximum(0.0, 1.0 - _pm1(y) * s))


def hinge_vg(y, s):
    t = _pm1(y)
    m = 1.0 - t * s
    return np.mean(np.maximum(0.0, m)), (np.where(m > 0, -t, 0.0) / s.size).astype(s.dtype)


_add("hinge", hinge, hinge_vg)


def squared_hinge(y, s):
    return np.mean(np.maximum(0.0, 1.0 - _pm1(y) * s) ** 2)


def squared_hinge_vg(y, s):
    t = _pm1(y)
    m = np.maximum(0.0, 1.0 - t * s)
    return np.mean(m * m), (-2.0 * t * m / s.size).astype(s.dtype)


_add("squared_hinge", squared_hinge, squared_hinge_vg)


def log_loss(y, p):
    eps = np.finfo(p.dtype).eps
    if p.ndim == 1:
        q = np.clip(p, eps, 1 - eps)
        return -np.mean(y * np.log(q) + (1.0 - y) * np.log1p(-q))
    q = np.clip(p, eps, 1 - eps)
    q = q / q.sum(axis=1, keepdims=True)
    return -np.mean(np.log(q[np.arange(len(y)), np.asarray(y, dtype=np.intp)]))


_add("log_loss", log_loss)


def _log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _ce_coeffs(target, x, class_weight, ignore_index, label_smoothing):
    """Per-row coefficients a (N, C) and the divisor so that loss = sum(-a*logp)/den."""
    N, C = x.shape
    cw = np.ones(C) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    t = np.asarray(target)
    if t.ndim == 2:  # probabilities
        tt = t * (1.0 - label_smoothing) + label_smoothing / C
        return cw * tt, float(N)
    lab = t.astype(np.intp)
    keep = lab != ignore_index
    safe = np.where(keep, lab, 0)
    wi = np.where(keep, cw[safe], 0.0)
    a = np.zeros((N, C))
    a[np.arange(N), safe] = (1.0 - label_smoothing) * wi
    a += (label_smoothing / C) * keep[:, None] * cw[None, :]
    return a, float(wi.sum())


def _plain_labels(target, class_weight, ignore_index, label_smoothing):
    """Integer labels, none ignored, no weights or smoothing: the label-indexed form."""
    t = np.asarray(target)
    return (t.ndim == 1 and t.dtype.kind in "iu" and class_weight is None
            and label_smoothing == 0.0 and not (t == ignore_index).any())


def _lse_rows(x):
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    return m, e, s


def cross_entropy(target, x, class_weight=None, ignore_index=-100, label_smoothing=0.0):
    if _plain_labels(target, class_weight, ignore_index, label_smoothing):
        m, _, s = _lse_rows(x)
        xl = np.take_along_axis(x, np.asarray(target)[:, None], axis=1)
        return float(np.mean((m - xl) + np.log(s)))
    a, den = _ce_coeffs(target, x, class_weight, ignore_index, label_smoothing)
    return float(-(a * _log_softmax(x)).sum() / den)


def cross_entropy_vg(target, x, class_weight=None, ignore_index=-100, label_smoothing=0.0):
    if _plain_labels(target, class_weight, ignore_index, label_smoothing):
        t = np.asarray(target)[:, None]
        m, e, s = _lse_rows(x)
        xl = np.take_along_axis(x, t, axis=1)
        v = float(np.mean((m - xl) + np.log(s)))
        N = x.shape[0]
        g = e * (1.0 / (s * N)).astype(x.dtype)
        np.put_along_axis(g, t, np.take_along_axis(g, t, axis=1) - x.dtype.type(1.0 / N),
                          axis=1)
        return v, g
    a, den = _ce_coeffs(target, x, class_weight, ignore_index, label_smoothing)
    lp = _log_softmax(x)
    g = (a.sum(axis=1, keepdims=True) * np.exp(lp) - a) / den
    return float(-(a * lp).sum() / den), g.astype(x.dtype)


_add("cross_entropy", cross_entropy, cross_entropy_vg)


def kl_divergence(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return float(t.sum() / (p.shape[0] if p.ndim > 1 else 1))


def kl_divergence_vg(p, q):
    rows = p.shape[0] if p.ndim > 1 else 1
    return kl_divergence(p, q), (-p / q / rows).astype(q.dtype)


_add("kl_divergence", kl_divergence, kl_divergence_vg)

# ----------------------------------------------------------------------------- adversarial

_DISC = {
    # kind: (value terms of r, of f; derivative terms of r, of f), each averaged
    "standard": (lambda r: _softplus(-r), _softplus, lambda r: -_sigmoid(-r), _sigmoid),
    "least_squares": (lambda r: 0.5 * (r - 1) ** 2, lambda f: 0.5 * f * f,
                      lambda r: r - 1.0, lambda f: f),
    "hinge": (lambda r: np.maximum(0.0, 1.0 - r), lambda f: np.maximum(0.0, 1.0 + f),
              lambda r: np.where(r < 1, -1.0, 0.0), lambda f: np.where(f > -1, 1.0, 0.0)),
    "wasserstein": (lambda r: -r, lambda f: f, lambda r: -np.ones_like(r),
                    lambda f: np.ones_like(f)),
}
_GEN = {
    "non_saturating": (lambda f: _softplus(-f), lambda f: -_sigmoid(-f)),
    "minimax": (lambda f: -_softplus(f), lambda f: -_sigmoid(f)),
    "least_squares": (lambda f: 0.5 * (f - 1) ** 2, lambda f: f - 1.0),
    "hinge": (lambda f: -f, lambda f: -np.ones_like(f)),
    "wasserstein": (lambda f: -f, lambda f: -np.ones_like(f)),
}


def gan_discriminator(r, f, kind="standard"):
    vr, vf, _, _ = _DISC[kind]
    return float(np.mean(vr(r)) + np.mean(vf(f)))


def gan_discriminator_vg(r, f, kind="standard"):
    vr, vf, gr, gf = _DISC[kind]
    v = float(np.mean(vr(r)) + np.mean(vf(f)))
    return v, ((gr(r) / r.size).astype(r.dtype), (gf(f) / f.size).astype(f.dtype))


_add("gan_discriminator", gan_discriminator, gan_discriminator_vg)


def gan_generator(f, kind="non_saturating"):
    return float(np.mean(_GEN[kind][0](f)))


def gan_generator_vg(f, kind="non_saturating"):
    v, g = _GEN[kind]
    return float(np.mean(v(f))), (g(f) / f.size).astype(f.dtype)


_add("gan_generator", gan_generator, gan_generator_vg)


def adversarial_value(r, f):
    return float(-np.mean(_softplus(-r)) - np.mean(_softplus(f)))


def adversarial_value_vg(r, f):
    v = adversarial_value(r, f)
    return v, ((_sigmoid(-r) / r.size).astype(r.dtype), (-_sigmoid(f) / f.size).astype(f.dtype))


_add("adversarial_value", adversarial_value, adversarial_value_vg)

# ----------------------------------------------------------------------------- contrastive


def _normalize(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / n, n


def _normalize_back(xh, n, g):
    return (g - xh * (xh * g).sum(axis=1, keepdims=True)) / n


def _ce_rows(S, pos):
    """Mean cross-entropy of rows of S with positives at columns pos, and dL/dS."""
    lp = _log_softmax(S)
    N = S.shape[0]
    v = -lp[np.arange(N), pos].mean()
    G = np.exp(lp)
    G[np.arange(N), pos] -= 1.0
    return float(v), G / N


def info_nce(q, k, temperature=0.1):
    qh, _ = _normalize(q)
    kh, _ = _normalize(k)
    return _ce_rows(qh @ kh.T / temperature, np.arange(len(q)))[0]


def info_nce_vg(q, k, temperature=0.1):
    qh, nq = _normalize(q)
    kh, nk = _normalize(k)
    v, G = _ce_rows(qh @ kh.T / temperature, np.arange(len(q)))
    G /= temperature
    gq = _normalize_back(qh, nq, G @ kh)
    gk = _normalize_back(kh, nk, G.T @ qh)
    return v, (gq.astype(q.dtype), gk.astype(k.dtype))


_add("info_nce", info_nce, info_nce_vg)


def _nt_xent_S(z1, z2, temperature):
    zh, nz = _normalize(np.concatenate([z1, z2]))
    S = zh @ zh.T / temperature
    np.fill_diagonal(S, -np.inf)
    N = len(z1)
    pos = np.concatenate([np.arange(N, 2 * N), np.arange(N)])
    return zh, nz, S, pos


def nt_xent(z1, z2, temperature=0.5):
    _, _, S, pos = _nt_xent_S(z1, z2, temperature)
    return _ce_rows(S, pos)[0]


def nt_xent_vg(z1, z2, temperature=0.5):
    zh, nz, S, pos = _nt_xent_S(z1, z2, temperature)
    v, G = _ce_rows(S, pos)
    G /= temperature
    gz = _normalize_back(zh, nz, (G + G.T) @ zh)
    N = len(z1)
    return v, (gz[:N].astype(z1.dtype), gz[N:].astype(z2.dtype))


_add("nt_xent", nt_xent, nt_xent_vg)


def _linear_logits(h, w, b):
    z = h @ w.T
    return z if b is None else z + b


def linear_cross_entropy(y, h, w, b=None):
    """Unfused: the (N, V) logits, then the cross-entropy of their rows."""
    return _ce_rows(_linear_logits(h, w, b), np.asarray(y))[0]


def linear_cross_entropy_vg(y, h, w, b=None):
    v, G = _ce_rows(_linear_logits(h, w, b), np.asarray(y))
    G = G.astype(h.dtype)
    g = (G @ w, G.T @ h) + (() if b is None else (G.sum(axis=0),))
    return v, tuple(x.astype(h.dtype) for x in g)


_add("linear_cross_entropy", linear_cross_entropy, linear_cross_entropy_vg)


def _pdist(x, y, p, eps):
    return np.sum(np.abs(x - y + eps) ** p, axis=-1) ** (1.0 / p)


def _pdist_grad(x, y, p, eps, d):
    u = x - y + eps
    dd = np.where(d > 0, d, 1.0)[:, None]
    return np.sign(u) * np.abs(u) ** (p - 1) / dd ** (p - 1) * (d > 0)[:, None]


def triplet_margin(a, pos, neg, margin=1.0, p=2, eps=1e-6, swap=False):
    dap = _pdist(a, pos, p, eps)
    dan = _pdist(a, neg, p, eps)
    if swap:
        dan = np.minimum(dan, _pdist(pos, neg, p, eps))
    return float(np.mean(np.maximum(dap - dan + margin, 0.0)))


def triplet_margin_vg(a, pos, neg, margin=1.0, p=2, eps=1e-6, swap=False):
    dap = _pdist(a, pos, p, eps)
    dan = _pdist(a, neg, p, eps)
    dpn = _pdist(pos, neg, p, eps) if swap else None
    use_pn = swap & (dpn < dan) if swap else np.zeros(len(a), bool)
    dneg = np.where(use_pn, dpn, dan) if swap else dan
    act = (dap - dneg + margin > 0) / len(a)
    ga_p = _pdist_grad(a, pos, p, eps, dap)  # d dap / d a  (= -d dap / d pos)
    g_an = _pdist_grad(a, neg, p, eps, dan)
    ga = ga_p - np.where(use_pn[:, None], 0.0, g_an)
    gp = -ga_p
    gn = np.where(use_pn[:, None], 0.0, g_an)
    if swap:
        g_pn = _pdist_grad(pos, neg, p, eps, dpn)
        gp = gp - np.where(use_pn[:, None], g_pn, 0.0)
        gn = gn + np.where(use_pn[:, None], g_pn, 0.0)
    c = act[:, None]
    v = float(np.mean(np.maximum(dap - dneg + margin, 0.0)))
    return v, ((c * ga).astype(a.dtype), (c * gp).astype(pos.dtype), (c * gn).astype(neg.dtype))


_add("triplet_margin", triplet_margin, triplet_margin_vg)


def _cos(x1, x2):
    m1 = (x1 * x1).sum(axis=1) + 1e-12
    m2 = (x2 * x2).sum(axis=1) + 1e-12
    d = np.sqrt(m1 * m2)
    return (x1 * x2).sum(axis=1) / d, m1, m2, d


def cosine_embedding(x1, x2, y, margin=0.0):
    c, _, _, _ = _cos(x1, x2)
    return float(np.mean(np.where(y > 0, 1.0 - c, np.maximum(0.0, c - margin))))


def cosine_embedding_vg(x1, x2, y, margin=0.0):
    c, m1, m2, d = _cos(x1, x2)
    v = float(np.mean(np.where(y > 0, 1.0 - c, np.maximum(0.0, c - margin))))
    dl = np.where(y > 0, -1.0, np.where(c - margin > 0, 1.0, 0.0))[:, None] / len(x1)
    g1 = dl * (x2 / d[:, None] - c[:, None] * x1 / m1[:, None])
    g2 = dl * (x1 / d[:, None] - c[:, None] * x2 / m2[:, None])
    return v, (g1.astype(x1.dtype), g2.astype(x2.dtype))


_add("cosine_embedding", cosine_embedding, cosine_embedding_vg)

# ------------------------------------------------------------------------------ penalties


def l1_penalty(w):
    return float(np.sum(np.abs(w)))


_add("l1_penalty", l1_penalty, lambda w: (l1_penalty(w), np.sign(w)))


def l2_penalty(w):
    return float(0.5 * np.sum(w * w))


_add("l2_penalty", l2_penalty, lambda w: (l2_penalty(w), w.copy()))


def elastic_net(w, l1_ratio=0.5):
    return float(l1_ratio * np.sum(np.abs(w)) + 0.5 * (1.0 - l1_ratio) * np.sum(w * w))


_add("elastic_net", elastic_net,
     lambda w, l1_ratio=0.5: (elastic_net(w, l1_ratio),
                              l1_ratio * np.sign(w) + (1.0 - l1_ratio) * w))
