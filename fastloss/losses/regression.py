"""Regression losses. Each scalar returns ``(loss, dloss/dp, d2loss/dp2)`` of one element,
with ``d = p - y``; ``prm`` holds the parameters in declaration order."""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from .._checks import check_range, first_outside
from .._kernels.scalar import fexp, fexpm1, flog, flog1p_frac, like, outside, sign
from .._spec import Param, PointwiseSpec, register, sample_counts

LOG2 = math.log(2.0)
LOG2PI = math.log(2.0 * math.pi)


@register_jitable(forceinline=True)
def mse_scalar(y, p, prm, c):
    """``(d**2, d, 1)``: the derivatives halved (the spec's ``grad_factor`` is 2)."""
    d = p - y
    return d * d, 1.0 * d, 1.0


@register_jitable(forceinline=True)
def mae_scalar(y, p, prm, c):
    d = p - y
    return abs(d), sign(d), like(d, 0.0) * d


@register_jitable(forceinline=True)
def huber_scalar(y, p, prm, c):
    # (constants in p's precision: a float32 input runs a float32 body, twice the lanes)
    delta = prm[0]
    d = p - y
    k = min(max(d, -delta), delta)
    return k * (d - like(d, 0.5) * k), k, like(d, 1.0) if abs(d) <= delta else like(d, 0.0)


@register_jitable(forceinline=True)
def smooth_l1_scalar(y, p, prm, c):
    beta = prm[0]
    d = p - y
    zero = like(d, 0.0)
    if beta > 0.0:
        k = min(max(d, -beta), beta)
        ib = like(d, 1.0) / beta  # one division per call (beta is the same for every element)
        return k * (d - like(d, 0.5) * k) * ib, k * ib, ib if abs(d) < beta else zero
    return abs(d), sign(d), zero * d


@register_jitable(forceinline=True)
def log_cosh_scalar(y, p, prm, c):
    # one expm1 for all three: em = e^-a - 1, a = |d|; tanh a = -e2 / (2 + e2) with
    # e2 = expm1(-2a) = em (2 + em); 1 - tanh^2 a = 4u / (1 + u)^2 with u = e^-2a
    d = p - y
    a = abs(d)
    one = like(d, 1.0)
    two = one + one
    em = fexpm1(-a)
    ex = one + em
    # log1p(cosh a - 1) = log1p(em^2 / (2 ex)) below a = 1 (no cancellation near 0),
    # a - log 2 + log1p(e^-2a) above: one log1p of the selected fraction (in [0, 0.55])
    u = ex * ex
    small = a < one
    lp = flog1p_frac(em * em if small else u, two * ex if small else one)
    e2 = em * (two + em)
    return (lp if small else (a - like(d, LOG2)) + lp), math.copysign(-e2 / (two + e2), d), \
        (two + two) * u / ((one + u) * (one + u))


@register_jitable(forceinline=True)
def quantile_scalar(y, p, prm, c):
    q = prm[0]
    d = p - y
    zero = like(d, 0.0)
    if y >= p:
        return -q * d, -q + zero * d, zero * d
    return (like(d, 1.0) - q) * d, like(d, 1.0) - q + zero * d, zero * d


@register_jitable(forceinline=True)
def poisson_nll_scalar(y, p, prm, c):
    # Each of the four cases of the parameters returns on its own path: LLVM then keeps one
    # vector loop per case (the loop is unswitched) and a case pays only for its own exp or
    # logs; code shared after the branches makes every element pay for every case.
    # Constants through like(): a float32 input runs a float32 body, rounded as PyTorch's
    # float32 formula; the Stirling term (where y > 1, a select: log 0 is never computed)
    # in float64.
    zero = like(p, 0.0)
    one = like(p, 1.0)
    if prm[1] == zero:
        if prm[0] != zero:
            e = fexp(p)
            return np.float64(e - y * p), e - y, e
        q = p + prm[2]
        return np.float64(p - y * flog(q)), one - y / q, y / (q * q)
    big = y > one
    ly = np.float64(flog(y if big else one))
    stirling = (np.float64(y) * ly - y) + 0.5 * (ly + LOG2PI) if big else 0.0
    if prm[0] != zero:
        e = fexp(p)
        return np.float64(e - y * p) + stirling, e - y, e
    q = p + prm[2]
    return np.float64(p - y * flog(q)) + stirling, one - y / q, y / (q * q)


@register_jitable(forceinline=True)
def tweedie_scalar(y, p, prm, c):
    # branches on the power only: one vector loop per case (see poisson_nll_scalar)
    rho = prm[0]
    one = like(p, 1.0)
    two = one + one
    if rho == like(p, 0.0):
        m = fexp(p)
        return like(p, 0.5) * (m - y) * (m - y), (m - y) * m, (two * m - y) * m
    if rho == one:
        m = fexp(p)
        return m - y * p, m - y, m
    if rho == two:
        e = y * fexp(-p)
        return p + e, one - e, e
    a = fexp((one - rho) * p)
    b = fexp((two - rho) * p)
    return b / (two - rho) - y * a / (one - rho), b - y * a, (two - rho) * b - (one - rho) * y * a


def _check_tweedie(y_true, y_pred, params):
    rho = params["power"]
    if 1.0 <= rho < 2.0 and first_outside(y_true, 0.0, math.inf) >= 0:
        raise ValueError(f"y_true must be >= 0 for tweedie with power={rho}")
    # the least positive double: y > 0 for any float dtype (denormals included)
    if rho >= 2.0 and first_outside(y_true, 5e-324, math.inf) >= 0:
        raise ValueError(f"y_true must be > 0 for tweedie with power={rho}")




def _check_poisson(y_true, y_pred, params):
    check_range(y_true, 0.0, math.inf, "y_true", "non-negative counts or rates")
    if not params["log_input"]:  # the rate itself
        check_range(y_pred, 0.0, math.inf, "y_pred", "a non-negative rate (log_input=False)")


@register_jitable(forceinline=True)
def _poisson_flags(y, p, prm):  # (prm[0]: log_input)
    zero, inf = like(y, 0.0), like(y, math.inf)
    return outside(y, zero, inf) | (outside(p, zero, inf) & np.int32(prm[0] == zero))




class _TweediePower(Param):
    def check(self, value):
        v = Param.check(self, value)
        if 0.0 < v < 1.0:
            raise ValueError(f"power must be <= 0 or >= 1 (no Tweedie distribution), got {value!r}")
        return v


_D = r"d_i = \hat y_i - y_i"

mse = register(PointwiseSpec(
    name="mse", family="regression", scalar=mse_scalar, grad_factor=2.0,
    target_domain="any real number",
    summary="Mean squared error.",
    formula=rf"\ell_i = d_i^2, \quad {_D}",
    grad_formula=r"\partial \ell_i / \partial \hat y_i = 2 d_i",
    hess_formula=r"\partial^2 \ell_i / \partial \hat y_i^2 = 2",
    matches="``torch.nn.functional.mse_loss`` (and ``sklearn.metrics.mean_squared_error``)",
    example=">>> import fastloss\n>>> fastloss.mse([0.0, 1.0], [1.0, 3.0])\n2.5",
))

rmse = register(PointwiseSpec(
    name="rmse", family="regression", scalar=mse_scalar, grad_factor=2.0, rmse=True,
    has_hess=False, target_domain="any real number",
    summary="Root mean squared error (one per row with ``axis=-1``).",
    formula=r"\sqrt{\textstyle\sum_i w_i d_i^2 / \sum_i w_i}",
    grad_formula=r"w_i d_i / (\mathrm{rmse} \sum_j w_j) \;(0 \text{ where rmse} = 0)",
    matches="``sklearn.metrics.root_mean_squared_error``",
    notes="``reduction='none'`` (and ``'sum'``) raise ValueError; no ``grad_hess``.",
    example=">>> import fastloss\n>>> fastloss.rmse([0.0, 0.0], [3.0, 4.0])\n3.5355339059327378",
))

mae = register(PointwiseSpec(
    name="mae", family="regression", scalar=mae_scalar,
    target_domain="any real number",
    summary="Mean absolute error.",
    formula=rf"\ell_i = |d_i|, \quad {_D}",
    grad_formula=r"\operatorname{sign}(d_i) \;(0 \text{ at } 0)",
    hess_formula="0",
    matches="``torch.nn.functional.l1_loss``",
    example=">>> import fastloss\n>>> fastloss.mae([0.0, 1.0], [1.0, 3.0])\n1.5",
))

huber = register(PointwiseSpec(
    name="huber", family="regression", scalar=huber_scalar,
    target_domain="any real number",
    params=(Param("delta", 1.0, "> 0", lo=0.0, doc="Where the quadratic becomes linear."),),
    summary="Huber loss.",
    formula=r"\ell_i = \begin{cases} \tfrac12 d_i^2 & |d_i| \le \delta \\ "
            r"\delta(|d_i| - \tfrac12\delta) & \text{otherwise} \end{cases}",
    grad_formula=r"\operatorname{clip}(d_i, -\delta, \delta)",
    hess_formula=r"\mathbb{1}[|d_i| \le \delta]",
    matches="``torch.nn.functional.huber_loss`` (not scaled by 1/delta, unlike smooth_l1)",
    example=">>> import fastloss\n>>> fastloss.huber([0.0, 0.0], [0.5, 3.0], delta=1.0)\n1.3125",
))

smooth_l1 = register(PointwiseSpec(
    name="smooth_l1", family="regression", scalar=smooth_l1_scalar,
    target_domain="any real number",
    params=(Param("beta", 1.0, ">= 0", lo=0.0, lo_open=False,
                  doc="Width of the quadratic zone; 0 gives the absolute error."),),
    summary="Smooth L1 loss (Huber divided by beta).",
    formula=r"\ell_i = \begin{cases} \tfrac12 d_i^2/\beta & |d_i| < \beta \\ "
            r"|d_i| - \tfrac12\beta & \text{otherwise} \end{cases}",
    grad_formula=r"\operatorname{clip}(d_i, -\beta, \beta)/\beta",
    hess_formula=r"\mathbb{1}[|d_i| < \beta]/\beta",
    matches="``torch.nn.functional.smooth_l1_loss``",
    example=">>> import fastloss\n>>> fastloss.smooth_l1([0.0, 0.0], [0.5, 3.0], beta=1.0)\n1.3125",
))

log_cosh = register(PointwiseSpec(
    name="log_cosh", family="regression", scalar=log_cosh_scalar, cost=4.5,
    target_domain="any real number",
    summary="Log-cosh loss, stable and accurate for any d (log1p(cosh d - 1) through expm1"
            " below 1, |d| + softplus(-2|d|) - log 2 above).",
    formula=rf"\ell_i = \log\cosh d_i, \quad {_D}",
    grad_formula=r"\tanh d_i",
    hess_formula=r"1 - \tanh^2 d_i",
    matches="``keras.losses.log_cosh`` (averaged over all elements)",
    example=">>> import fastloss\n>>> round(fastloss.log_cosh([0.0, 0.0], [1.0, -1.0]), 12)\n"
            "0.433780830483",
))

quantile = register(PointwiseSpec(
    name="quantile", family="regression", scalar=quantile_scalar,
    target_domain="any real number",
    params=(Param("quantile", 0.5, "in (0, 1)", lo=0.0, hi=1.0,
                  doc="The quantile q predicted."),),
    summary="Pinball (quantile) loss.",
    formula=r"\ell_i = \begin{cases} q (y_i - \hat y_i) & y_i \ge \hat y_i \\ "
            r"(1 - q)(\hat y_i - y_i) & \text{otherwise} \end{cases}",
    grad_formula=r"-q \text{ if } y_i \ge \hat y_i \text{ else } 1 - q",
    hess_formula="0",
    matches="``sklearn.metrics.mean_pinball_loss(alpha=quantile)``",
    example=">>> import fastloss\n>>> fastloss.quantile([1.0, 1.0], [0.0, 2.0], quantile=0.9)\n0.5",
))

poisson_nll = register(PointwiseSpec(
    # cost: one vectorised exp (or log) per element (its crossover to parallel: 2.3e4-3e4)
    name="poisson_nll", family="regression", scalar=poisson_nll_scalar, cost=2.0,
    target_domain=(">= 0 (counts or rates); with ``log_input=False`` ``y_pred`` (the "
                   "rate) must be >= 0 too"),
    sample=sample_counts,
    check_inputs=_check_poisson, input_flags=_poisson_flags, checks_on_device=True,
    params=(
        Param("log_input", True, "bool", kind="bool",
              doc="If True the prediction is log(rate), else the rate itself."),
        Param("full", False, "bool", kind="bool",
              doc="Add the Stirling term y log y - y + log(2 pi y)/2 where y > 1."),
        Param("eps", 1e-8, "> 0", lo=0.0,
              doc="Added to the rate inside the log (log_input=False)."),
    ),
    summary="Poisson negative log likelihood.",
    formula=r"\ell_i = e^{\hat y_i} - y_i \hat y_i \text{ (log input)}, \quad "
            r"\hat y_i - y_i \log(\hat y_i + \epsilon) \text{ (otherwise)}",
    grad_formula=r"e^{\hat y_i} - y_i \text{ or } 1 - y_i/(\hat y_i + \epsilon)",
    hess_formula=r"e^{\hat y_i} \text{ or } y_i/(\hat y_i + \epsilon)^2",
    matches="``torch.nn.functional.poisson_nll_loss``",
    example=">>> import fastloss\n>>> fastloss.poisson_nll([1.0, 2.0], [0.0, 0.0])\n1.0",
))

tweedie = register(PointwiseSpec(
    name="tweedie", family="regression", scalar=tweedie_scalar, cost=6.0,
    target_domain=(">= 0 for 1 <= power < 2, > 0 for power >= 2, any real number for "
                   "power <= 0"),
    sample=sample_counts,
    # (no input_flags: checking in its kernel made it slower, 2.3 -> 2.8 ns per element
    # serial float64: its loop is unswitched per power, and the flags' code defeats it)
    check_inputs=_check_tweedie, checks_on_device=True,
    params=(_TweediePower("power", 1.5, "<= 0 or >= 1", doc="The Tweedie power rho."),),
    summary="Half Tweedie deviance with a log link, on raw predictions (log of the mean).",
    formula=r"\ell_i = \frac{e^{(2-\rho)\hat y_i}}{2-\rho} - "
            r"y_i\frac{e^{(1-\rho)\hat y_i}}{1-\rho} \quad (\rho \notin \{0, 1, 2\})",
    grad_formula=r"e^{(2-\rho)\hat y_i} - y_i e^{(1-\rho)\hat y_i}",
    hess_formula=r"(2-\rho)e^{(2-\rho)\hat y_i} - (1-\rho) y_i e^{(1-\rho)\hat y_i}",
    matches="``sklearn._loss.HalfTweedieLoss(power).loss`` (terms constant in y_pred dropped;"
            " rho = 0, 1, 2 give half squared error of exp, Poisson and Gamma)",
    example=">>> import fastloss\n>>> fastloss.tweedie([1.0, 2.0], [0.0, 0.0], power=1.5)\n5.0",
))
