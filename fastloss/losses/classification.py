"""Classification losses.

Pointwise ones (``binary_cross_entropy``, ``binary_cross_entropy_with_logits``, ``focal``,
``hinge``, ``squared_hinge``) declare one scalar ``f(y, p, prm, c) -> (loss, dloss/dp,
d2loss/dp2)`` and run on the pointwise kernels. Row-wise ones (``cross_entropy``,
``kl_divergence``, ``log_loss``) declare one row function (see
:mod:`fastloss._kernels.rows`) and a ``prepare`` that validates the inputs.

Where a reference library's formula loses digits at extreme inputs (PyTorch's
``binary_cross_entropy_with_logits`` computes ``(1 - y) x - log_sigmoid(x)``, whose two
terms cancel for ``y = 0`` and ``x << 0``), the kernels follow that formula so that they
match it on every input, as the contract asks; the values and gradients stay finite for
logits of any magnitude.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from numba.extending import register_jitable

from .. import _arrays as A
from .._checks import check_range, check_sign_labels
from .._kernels.lanes import sum32
from .._kernels.rows import (
    BLOCK,
    cols,
    labels_in_range,
    lse_kept,
    lse_row,
    owns,
    row_sync,
    row_total,
    scratch_like,
    softmax_grad,
    softmax_grad_inplace,
    softmax_grad_kept,
    softmax_grad_kept_w,
    softmax_grad_w,
    softmax_grad_w_inplace,
    sum_shift,
    vector_split,
    wide_vectors,
    wsum_shift,
)
from .._kernels.scalar import (
    SIGN_NEG,
    SIGN_ONE,
    SIGN_ZERO,
    fexp,
    flog,
    flog1m_unit,
    flog1p_unit,
    fold,
    fpow,
    like,
    outside,
    sign_flags,
    single,
)
from .._spec import Param, PointwiseSpec, Rows, RowwiseSpec, register

# PyTorch's binary_cross_entropy backward divides by max(p (1 - p), EPSILON), EPSILON the
# float 1e-12 (static const float in ATen/native/Loss.cpp).
BCE_EPS = float(np.float32(1e-12))
_I64 = np.dtype(np.int64)

_ROW_JIT = dict(fastmath={"contract", "nsz"}, error_model="numpy", forceinline=True)


# ---------------------------------------------------------------------------------------
# pointwise scalars


@register_jitable(forceinline=True)
def binary_cross_entropy_scalar(y, p, prm, c):
    # constants through like(): a float32 p runs a float32 body (twice the SIMD width)
    one = like(p, 1.0)
    lo = like(p, -100.0)
    eps = like(p, BCE_EPS)
    lp = max(flog(p), lo)
    l1p = max(flog1m_unit(p), lo)
    loss = (y - one) * l1p - y * lp
    q = one - p
    g = (p - y) / max(q * p, eps)
    h = y / max(p * p, eps) + (one - y) / max(q * q, eps)
    return loss, g, h


@register_jitable(forceinline=True)
def binary_cross_entropy_with_logits_scalar(y, x, prm, c):
    # In the input's precision (a float32 x: twice the SIMD width). float64 follows
    # PyTorch's formulas, (1 - y) x - a log_sigmoid(x) and a sigmoid(x) - pw y, which
    # cancel for y = 0, x << 0 (value) and y = 1, x >> 0 (gradient) as PyTorch's float64
    # does. float32 would show those cancellations: there the value splits at x = 0 into
    # two non-negative terms and 1 - sigmoid(x) comes as e / (1 + e), so nothing cancels
    one = like(x, 1.0)
    zero = like(x, 0.0)
    pw = like(x, c) if prm[0] != prm[0] else like(x, prm[0])
    e = fexp(-abs(x))
    r = one / (one + e)
    er = e * r
    pos = x >= zero
    s = r if pos else er  # sigmoid(x)
    py = pw * y
    a = one + (pw - one) * y
    lg = flog1p_unit(e)
    if single(x):
        loss = ((one - y) * x if pos else -py * x) + a * lg
        g = (one - y) * s - py * (er if pos else r)
    else:
        loss = (one - y) * x - a * (min(x, zero) - lg)
        g = a * s - py
    h = a * (er * r)  # s (1 - s)
    return loss, g, h


@register_jitable(forceinline=True)
def _focal_parts(at, ce, mg, gamma, p, y, s1, q, u):
    loss = at * ce * mg
    g = at * ((p - y) * mg + ce * gamma * mg * q * u)
    h = at * (s1 * mg + 2.0 * (p - y) * gamma * mg * q * u
              + ce * gamma * (gamma - 1.0) * mg * q * q * u * u
              + ce * gamma * mg * q * (1.0 - 2.0 * p) * u)
    return loss, g, h


@register_jitable(forceinline=True)
def focal_scalar(y, x, prm, c):
    # In the input's precision, as binary_cross_entropy_with_logits: float64 follows
    # torchvision's formulas (its bce and 1 - p_t cancel where the sigmoid saturates);
    # float32 takes forms without cancellation (1 - p_t = y (1 - p) + (1 - y) p)
    one = like(x, 1.0)
    zero = like(x, 0.0)
    alpha = like(x, prm[0])
    gamma = like(x, fold(prm[1], 2.0))  # a constant 2 where the call has gamma = 2
    e = fexp(-abs(x))
    r = one / (one + e)
    er = e * r
    pos = x >= zero
    p = r if pos else er
    s1 = er * r  # p (1 - p)
    lg = flog1p_unit(e)
    if single(x):
        ce = ((one - y) * x if pos else -y * x) + lg
        m = y * (er if pos else r) + (one - y) * p
    else:
        ce = (one - y) * x - (min(x, zero) - lg)
        m = one - (p * y + (one - p) * (one - y))
    q = s1 / m if m > zero else zero  # m^(gamma-1) m' = mg * q * (1 - 2y); 0 when m = 0
    u = one - like(x, 2.0) * y
    at = alpha * y + (one - alpha) * (one - y) if alpha >= zero else one
    # gamma = 2 folds this branch away (its kernel pays for no power: an exp and a log);
    # otherwise the loop computes both sides and selects
    if gamma == 2.0:
        return _focal_parts(at, ce, m * m, gamma, p, y, s1, q, u)
    return _focal_parts(at, ce, fpow(m, gamma), gamma, p, y, s1, q, u)


@register_jitable(forceinline=True)
def hinge_scalar(y, p, prm, c):
    one, zero = like(p, 1.0), like(p, 0.0)  # (float32 stays float32: twice the lanes)
    t = one if y > zero else -one
    z = one - t * p
    return max(z, zero), -t if z > zero else zero * z, zero * z


@register_jitable(forceinline=True)
def squared_hinge_scalar(y, p, prm, c):
    one, zero, two = like(p, 1.0), like(p, 0.0), like(p, 2.0)  # (as hinge_scalar)
    t = one if y > zero else -one
    z = one - t * p
    k = max(z, zero)
    return k * k, -two * t * k, two if z > zero else zero * z


# ---------------------------------------------------------------------------------------
# input checks of the pointwise losses


def _unit(name, what):
    def check(y_true, y_pred, params):
        if name == "y_true" or name == "both":
            check_range(y_true, 0.0, 1.0, "y_true", "target probabilities")
        if name == "y_pred" or name == "both":
            check_range(y_pred, 0.0, 1.0, "y_pred", what)

    return check


def _check_signs(y_true, y_pred, params):
    check_sign_labels(np.asarray(y_true), "y_true")


# what the kernels of common calls check while they compute (input_flags of the specs)


@register_jitable(forceinline=True)
def _unit_y_flags(y, p, prm):  # (bounds in y's precision: a float32 loop stays float32)
    return outside(y, like(y, 0.0), like(y, 1.0))


@register_jitable(forceinline=True)
def _unit_both_flags(y, p, prm):
    return outside(y, like(y, 0.0), like(y, 1.0)) | outside(p, like(p, 0.0), like(p, 1.0))


@register_jitable(forceinline=True)
def _sign_y_flags(y, p, prm):
    return sign_flags(y)


# one convention: 1s and -1s, or 1s and 0s (any of them alone)
_SIGNS_FINE = (SIGN_ONE, SIGN_NEG, SIGN_ZERO, SIGN_ONE | SIGN_NEG, SIGN_ONE | SIGN_ZERO)


# ---------------------------------------------------------------------------------------
# samplers


def sample_probabilities(rng, shape, dtype):
    """Targets and predictions in (0, 1)."""
    y = rng.uniform(0.0, 1.0, shape).astype(dtype)
    p = rng.uniform(0.02, 0.98, shape).astype(dtype)
    return (y, p), {}


def sample_binary_logits(rng, shape, dtype):
    """Binary targets in {0, 1}, logits from a normal of scale 2."""
    y = rng.integers(0, 2, shape).astype(dtype)
    x = (2.0 * rng.standard_normal(shape)).astype(dtype)
    return (y, x), {}


def sample_signs(rng, shape, dtype):
    """Labels in {-1, 1} and raw scores."""
    y = (2 * rng.integers(0, 2, shape) - 1).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    return (y, x), {}


def _rows_shape(shape):
    shape = tuple(shape)
    if len(shape) == 2:
        return shape
    n = int(np.prod(shape))
    return (max(n // 10, 1), 10)


def sample_logits_labels(rng, shape, dtype):
    """Integer labels and logits of shape ``(N, C)`` (a 1-D ``shape`` gives ``(n/10, 10)``)."""
    N, C = _rows_shape(shape)
    x = (2.0 * rng.standard_normal((N, C))).astype(dtype)
    return (rng.integers(0, C, N), x), {}


def sample_distributions(rng, shape, dtype):
    """Two ``(N, C)`` matrices whose rows are probability distributions."""
    N, C = _rows_shape(shape)
    p = rng.dirichlet(np.ones(C), N).astype(dtype)
    q = rng.dirichlet(np.ones(C), N).astype(dtype)
    return (p, q), {}


def sample_proba_labels(rng, shape, dtype):
    """Integer labels and an ``(N, C)`` matrix of predicted class probabilities."""
    N, C = _rows_shape(shape)
    q = rng.dirichlet(np.ones(C), N).astype(dtype)
    return (rng.integers(0, C, N), q), {}


# ---------------------------------------------------------------------------------------
# pointwise declarations

_LOGIT = r"\sigma(x) = 1/(1 + e^{-x})"

binary_cross_entropy = register(PointwiseSpec(
    name="binary_cross_entropy", family="classification", scalar=binary_cross_entropy_scalar,
    target_domain="[0, 1] (labels 0/1 or target probabilities); ``y_pred`` in [0, 1] too",
    cost=4.0, sample=sample_probabilities, check_inputs=_unit("both", "probabilities"),
    input_flags=_unit_both_flags, checks_on_device=True, boosting="",
    boosting_hint="takes probabilities in [0, 1], but a booster's raw scores leave [0, 1] "
                  "after one round; use binary_cross_entropy_with_logits (the same loss on "
                  "raw scores, as the built-in logistic objectives)",
    summary="Binary cross-entropy on probabilities.",
    formula=r"\ell_i = -\big(y_i \max(\log p_i, -100) + (1 - y_i)\max(\log(1 - p_i), -100)\big)",
    grad_formula=r"(p_i - y_i) / \max(p_i (1 - p_i), 10^{-12})",
    hess_formula=r"y_i / \max(p_i^2, 10^{-12}) + (1 - y_i) / \max((1 - p_i)^2, 10^{-12})",
    matches="``torch.nn.functional.binary_cross_entropy`` (logs clamped at -100, the "
            "gradient's denominator at 1e-12, as PyTorch does, so it is finite at 0 and 1)",
    notes="``y_true`` and ``y_pred`` must lie in [0, 1] (ValueError otherwise; NaN "
          "propagates).",
    example=">>> import fastloss\n>>> round(fastloss.binary_cross_entropy([1.0], [0.5]), 6)"
            "\n0.693147",
))

binary_cross_entropy_with_logits = register(PointwiseSpec(
    name="binary_cross_entropy_with_logits", family="classification",
    target_domain="[0, 1] (labels 0/1 or target probabilities)",
    scalar=binary_cross_entropy_with_logits_scalar, cost=3.5,  # (parallel from 1.2e4-1.8e4)
    sample=sample_binary_logits, check_inputs=_unit("y_true", ""), checks_on_device=True,
    input_flags=_unit_y_flags,
    params=(Param("pos_weight", None, ">= 0", lo=0.0, lo_open=False, kind="float_or_array",
                  doc="Weight of the positive term: a scalar, or an array broadcasting "
                      "against the last axis (one per class). None means 1."),),
    summary="Binary cross-entropy on logits, stable for any logit.",
    formula=r"\ell_i = (1 - y_i) x_i - (1 + (w_p - 1) y_i) \log \sigma(x_i), \quad " + _LOGIT,
    grad_formula=r"(1 - y_i + w_p y_i)\,\sigma(x_i) - w_p y_i",
    hess_formula=r"(1 - y_i + w_p y_i)\,\sigma(x_i)(1 - \sigma(x_i))",
    matches="``torch.nn.functional.binary_cross_entropy_with_logits`` (with ``pos_weight``)",
    notes="Computed with one exp and one log1p per element, as PyTorch writes it "
          "(``log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|))``); ``y_true`` must lie in "
          "[0, 1].",
    example=">>> import fastloss\n>>> round(fastloss.binary_cross_entropy_with_logits("
            "[1.0], [0.0]), 6)\n0.693147",
))

focal = register(PointwiseSpec(
    name="focal", family="classification", scalar=focal_scalar, cost=6.0,
    target_domain="[0, 1] (labels 0/1 or target probabilities)",
    sample=sample_binary_logits, check_inputs=_unit("y_true", ""), checks_on_device=True,
    input_flags=_unit_y_flags,
    params=(
        Param("alpha", 0.25, "a real number (< 0 turns the class weighting off)",
              doc="Weight of the positive class; negative values disable it."),
        Param("gamma", 2.0, ">= 0", lo=0.0, lo_open=False, doc="Focusing exponent.",
              fold=2.0),
    ),
    summary="Sigmoid focal loss on logits (RetinaNet).",
    formula=r"\ell_i = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{bce}(x_i, y_i), \quad "
            r"p_t = \sigma(x_i) y_i + (1 - \sigma(x_i))(1 - y_i), \quad "
            r"\alpha_t = \alpha y_i + (1 - \alpha)(1 - y_i)",
    grad_formula=r"\alpha_t\big[(\sigma - y)(1-p_t)^\gamma + \mathrm{bce}\,\gamma(1-p_t)^"
                 r"{\gamma-1}(1 - 2y)\sigma(1 - \sigma)\big]",
    hess_formula=r"\partial^2 \ell_i / \partial x_i^2 \text{ (closed form, finite where "
                 r"} 1 - p_t = 0)",
    matches="``torchvision.ops.sigmoid_focal_loss`` (``reduction='mean'`` averages over "
            "elements)",
    example=">>> import fastloss\n>>> # y = 1, logit 0: p_t = 1/2, 0.25 * (1/2)**2 * log 2\n"
            ">>> round(fastloss.focal([1.0], [0.0]), 6)\n0.043322",
))

hinge = register(PointwiseSpec(
    name="hinge", family="classification", scalar=hinge_scalar,
    target_domain="labels in {-1, 1} or in {0, 1}",
    sample=sample_signs, check_inputs=_check_signs, input_flags=_sign_y_flags,
    flags_fine=_SIGNS_FINE,
    summary="Hinge loss on raw scores; labels in {-1, 1} or {0, 1} (0 is the negative class).",
    formula=r"\ell_i = \max(0, 1 - t_i \hat y_i), \quad t_i = \pm 1",
    grad_formula=r"-t_i \,\mathbb{1}[t_i \hat y_i < 1]",
    hess_formula="0",
    matches="``sklearn.metrics.hinge_loss`` (binary)",
    example=">>> import fastloss\n>>> fastloss.hinge([1, 0], [0.5, 0.5])\n1.0",
))

squared_hinge = register(PointwiseSpec(
    name="squared_hinge", family="classification", scalar=squared_hinge_scalar,
    target_domain="labels in {-1, 1} or in {0, 1}",
    sample=sample_signs, check_inputs=_check_signs, input_flags=_sign_y_flags,
    flags_fine=_SIGNS_FINE,
    summary="Squared hinge loss on raw scores; labels in {-1, 1} or {0, 1}.",
    formula=r"\ell_i = \max(0, 1 - t_i \hat y_i)^2, \quad t_i = \pm 1",
    grad_formula=r"-2 t_i \max(0, 1 - t_i \hat y_i)",
    hess_formula=r"2\,\mathbb{1}[t_i \hat y_i < 1]",
    matches="``keras.losses.squared_hinge`` (the square of ``sklearn.metrics.hinge_loss``'s "
            "terms)",
    example=">>> import fastloss\n>>> # (1 - 0.5)**2 and (1 + 0.5)**2, averaged\n"
            ">>> fastloss.squared_hinge([1, -1], [0.5, 0.5])\n1.25",
))


# ---------------------------------------------------------------------------------------
# row functions


@register_jitable(**_ROW_JIT)
def cross_entropy_row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w):
    wide_vectors()
    ii = prm[0]
    eps = prm[1]
    has_cw = prm[2] != 0.0
    soft = prm[3] != 0.0
    wsum = prm[4]
    C = x.shape[0]
    if (not soft) and lab == ii:  # ignored: no loss, no gradient
        if wg:
            for j in cols(C):
                g[j] = 0.0
        if wh:
            for j in cols(C):
                h[j] = 0.0
        return 0.0
    m, logs = lse_row(x, w)  # one pass, online log-sum-exp
    # loss = sum_c a_c (lse - x_c) = A logs + sum_c a_c (m - x_c), A = sum_c a_c
    if soft:
        A = 0.0
        B = 0.0
        for c in cols(C):
            a = (1.0 - eps) * t[c] + eps / C
            if has_cw:
                a *= cw[c]
            A += a
            B += a * (m - x[c])
        A = row_total(A, w)
        B = row_total(B, w)
        loss = B + A * logs
    else:
        wy = cw[lab] if has_cw else 1.0
        A = (1.0 - eps) * wy
        loss = A * ((m - x[lab]) + logs)
        if eps > 0.0:
            B = row_total(wsum_shift(cw, x, m) if has_cw else sum_shift(x, m), w)
            loss += eps / C * (B + wsum * logs)
            A += eps / C * wsum
    if inplace:  # the row's other threads may still read x[lab]
        row_sync()
    if wh:  # gradient and Hessian diagonal: A p (1 - p)
        mm = like(x[0], m)
        ls = like(x[0], logs)
        for j in cols(C):
            p = np.float64(fexp((x[j] - mm) - ls))
            a = eps / C
            if soft:
                a += (1.0 - eps) * t[j]
            elif j == lab:
                a += 1.0 - eps
            if has_cw:
                a *= cw[j]
            g[j] = gs * (A * p - a)
            h[j] = gs * A * p * (1.0 - p)
        return loss
    if wg:
        ca = gs * A
        if soft:
            for j in cols(C):  # scalar loop: soft targets are the slow path
                a = (1.0 - eps) * t[j] + eps / C
                if has_cw:
                    a *= cw[j]
                src = g[j] if inplace else x[j]
                g[j] = ca * fexp((np.float64(src) - m) - logs) - gs * a
            return loss
        cu = gs * eps / C
        if lse_kept(C):
            if has_cw:
                softmax_grad_kept_w(x, w, g, logs, ca, cu, cw)
            else:
                softmax_grad_kept(x, w, g, logs, ca, cu)
        elif has_cw:
            if inplace:
                softmax_grad_w_inplace(g, m, logs, ca, cu, cw)
            else:
                softmax_grad_w(x, g, m, logs, ca, cu, cw)
        elif inplace:
            softmax_grad_inplace(g, m, logs, ca, cu)
        else:
            softmax_grad(x, g, m, logs, ca, cu)
        if owns(lab):  # the thread that wrote g[lab] above
            g[lab] -= gs * (1.0 - eps) * (cw[lab] if has_cw else 1.0)
    return loss


@register_jitable(fastmath={"contract", "nsz"}, error_model="numpy", forceinline=True)
def _kl_term(p, q):
    """``p (log p - log q)`` in the inputs' precision (float32 terms of float32 inputs, as
    accurate as their logs; the row adds them in float64); 0 where p = 0."""
    zero = like(q, 0.0)
    term = p * (flog(p) - flog(q))
    return zero if p == zero else term


@register_jitable(fastmath={"contract", "nsz"}, error_model="numpy", forceinline=True)
def kl_terms_sum(t, x, w):
    """``sum_j t_j (log t_j - log x_j)`` over the row: the terms (in the row's precision)
    into the scratch ``w`` a block at a time, then added in float64 in 32 lanes (an order
    fixed by the row's length; CUDA: this thread's columns in order, see
    :data:`PORTABLE`)."""
    wide_vectors()
    C = x.shape[0]
    e = scratch_like(w, x[0])
    s = 0.0
    for lo in range(0, C, BLOCK):
        n = min(BLOCK, C - lo)
        tb = t[lo:lo + n]
        xb = x[lo:lo + n]
        # whole vectors (a KL term costs less than an exp: from longer remainders)
        n1, a2 = vector_split(xb, 6, 3)
        for part in range(1 if a2 < 0 else 2):  # (one copy of the loop: less fixed cost)
            _kl_terms(tb, xb, e, 0 if part == 0 else a2, n1 if part == 0 else n)
        s += sum32(e, n)
    return s


@register_jitable(fastmath={"contract", "nsz"}, error_model="numpy", forceinline=True)
def _kl_terms(tb, xb, e, a, b):
    """``e[j]`` = the KL term of ``(tb[j], xb[j])`` for ``j`` in ``[a, b)``, in the row's
    precision."""
    wide_vectors()
    for k in range(b - a):
        j = np.uint64(a + k)  # (unsigned: no wraparound select, which defeats the vectors)
        e[j] = _kl_term(tb[j], xb[j])


@register_jitable(forceinline=True)
def _kl_terms_sum_cols(t, x, w):
    s = 0.0
    for j in cols(x.shape[0]):
        s += np.float64(_kl_term(t[j], x[j]))
    return s


#: The CUDA twins of this module's row helpers (the device factory rebinds the names).
PORTABLE = {"kl_terms_sum": _kl_terms_sum_cols}


@register_jitable(fastmath={"contract", "nsz"}, error_model="numpy", forceinline=True)
def kl_divergence_row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w):
    wide_vectors()
    C = x.shape[0]
    loss = row_total(kl_terms_sum(t, x, w), w)
    if wg:
        x0 = x[0]
        ng = like(x0, -gs)
        zero = like(x0, 0.0)
        if inplace:
            for j in cols(C):
                q = ng * t[j] / g[j]
                g[j] = zero if t[j] == zero else q
        else:
            for j in cols(C):
                q = ng * t[j] / x[j]
                g[j] = zero if t[j] == zero else q
    return loss


@register_jitable(**_ROW_JIT)
def log_loss_row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w):
    wide_vectors()
    C = x.shape[0]
    x0 = x[0]
    eps = like(x0, prm[0])
    one = like(x0, 1.0)
    if C == 1:  # probability of the positive class; sklearn stacks [1 - p, p]
        q = x[0] if lab == 1 else one - x[0]
        dq = -1.0 if lab == 1 else 1.0
        j = 0
    else:
        q = x[lab]
        dq = -1.0
        j = lab
    qc = min(max(q, eps), one - eps)
    loss = -math.log(np.float64(qc))
    if wg:
        inside = (q >= eps) & (q <= one - eps)
        gj = gs * dq / np.float64(q) if inside else 0.0 * np.float64(q)
        if inplace:  # the row's other threads may still read q
            row_sync()
        for k in cols(C):
            g[k] = 0.0
        if owns(j):  # the thread that zeroed g[j]
            g[j] = gj
    return loss


# ---------------------------------------------------------------------------------------
# preparing the rows (validation; every message names the argument)


def _as_rows(a, dtype):
    """C-contiguous in ``dtype``: a CUDA array stays on the device (cast there if need be)."""
    return A.contiguous(a, dtype)


def _labels(y, n_rows, C, name, ignore_index=None, shape=None):
    """int64 labels of shape ``(n_rows,)`` in [0, C) (``ignore_index`` excepted), on the
    host (CUDA labels are copied: one value per row)."""
    y = A.on_host(y)
    shape = (n_rows,) if shape is None else shape
    if y.shape != shape:
        raise ValueError(f"{name} has shape {y.shape}; expected integer labels of shape {shape}")
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(y) & (y == np.floor(y))
        if not integral.all():
            i = int(np.argmin(integral.reshape(-1)))
            raise ValueError(f"{name} must hold integer class labels; it holds "
                             f"{y.reshape(-1)[i]!r} at position {i}")
        if y.size and (np.abs(y) >= 2.0**62).any():
            i = int(np.argmax((np.abs(y) >= 2.0**62).reshape(-1)))
            raise ValueError(f"{name} holds {y.reshape(-1)[i]!r} at position {i}, "
                             f"outside [0, {C})")
    if not (y.dtype == _I64 and y.ndim == 1 and y.flags.c_contiguous
            and labels_in_range(y, C)):  # one compiled pass for the common labels
        A.check_labels(y, C, name, ignore_index)
    return np.ascontiguousarray(y, dtype=np.int64).reshape(n_rows)


def _check_class_weight(cw, C):
    if cw is None:
        return None
    w = A.as_array(cw, "class_weight")
    if w.shape != (C,):
        raise ValueError(f"class_weight must have one weight per class ({C}), got shape "
                         f"{w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("class_weight must be finite")
    if np.any(w < 0):
        raise ValueError("class_weight must be non-negative")
    return w


def _check_ignore_index(v):
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"ignore_index must be an integer, got {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"ignore_index must be an integer, got {v!r}") from None


def _prepare_cross_entropy(y_true, y_pred, params):
    x = A.as_any(y_pred, "y_pred")
    if x.ndim not in (1, 2):
        raise ValueError(f"y_pred (logits) must have shape (N, C) or (C,), got {x.shape}")
    unbatched = x.ndim == 1
    x2 = x.reshape(1, -1) if unbatched else x
    N, C = x2.shape
    if C == 0:
        raise ValueError("y_pred (logits) has no classes (C = 0)")
    yt = A.as_any(y_true, "y_true")
    ii = _check_ignore_index(params["ignore_index"])
    eps = _LABEL_SMOOTHING.check(params["label_smoothing"])
    cw = _check_class_weight(params["class_weight"], C)
    soft = yt.dtype.kind == "f" and yt.shape == x.shape
    if soft:
        dtype = A.float_dtype(x, yt)
        check_range(yt, 0.0, 1.0, "y_true", "target class probabilities")
        t = _as_rows(yt.reshape(N, C), dtype)
        lab, roww = None, None
    else:
        dtype = A.float_dtype(x)
        t = None
        lab = _labels(yt, N, C, "y_true", ii, shape=() if unbatched else (N,))
        kept = lab != ii
        if cw is None:
            roww = None if kept.all() else kept.astype(np.float64)
        else:
            roww = np.where(kept, cw[np.where(kept, lab, 0)], 0.0)
    wsum = float(C) if cw is None else float(np.sum(cw))
    prm = (float(ii), eps, 0.0 if cw is None else 1.0, 1.0 if soft else 0.0, wsum)
    return Rows(x=_as_rows(x2, dtype), t=t, lab=lab, cw=cw, prm=prm, roww=roww,
                gshape=x.shape, vshape=() if unbatched else (N,))


def _prepare_kl_divergence(y_true, y_pred, params):
    p = A.as_any(y_true, "y_true")
    q = A.as_any(y_pred, "y_pred")
    if q.ndim != 2:
        raise ValueError(f"y_pred must be rows of probabilities of shape (N, C), got {q.shape}"
                         " (reshape a single distribution with q[None])")
    if p.shape != q.shape:
        raise ValueError(f"y_true has shape {p.shape}, which does not match y_pred's shape "
                         f"{q.shape}")
    if q.shape[1] == 0:
        raise ValueError("y_pred has no classes (C = 0)")
    dtype = A.float_dtype(p, q)
    check_range(p, 0.0, 1.0, "y_true", "probabilities")
    check_range(q, 0.0, 1.0, "y_pred", "probabilities")
    return Rows(x=_as_rows(q, dtype), t=_as_rows(p, dtype),
                gshape=q.shape, vshape=(q.shape[0],))


def _prepare_log_loss(y_true, y_pred, params):
    q = A.as_any(y_pred, "y_pred")
    if q.ndim not in (1, 2):
        raise ValueError(f"y_pred must be probabilities of shape (N,) or (N, C), got {q.shape}")
    x2 = q.reshape(-1, 1) if q.ndim == 1 else q
    N, C = x2.shape
    if C == 0:
        raise ValueError("y_pred has no classes (C = 0)")
    dtype = A.float_dtype(q)
    check_range(q, 0.0, 1.0, "y_pred", "probabilities")
    yt = A.as_any(y_true, "y_true")
    lab = _labels(yt, N, 2 if C == 1 else C, "y_true")
    eps = float(np.finfo(dtype).eps)
    return Rows(x=_as_rows(x2, dtype), lab=lab, prm=(eps,), gshape=q.shape,
                vshape=(N,))


def _cross_entropy_fast_prm(C, params):
    """``prepare``'s ``prm`` for int64 labels in ``[0, C)``, no class weights: the default
    parameters, or a valid ``label_smoothing`` and an ``ignore_index`` no label equals;
    None for anything else (prepare checks it)."""
    ii = params.get("ignore_index", -100)
    eps = params.get("label_smoothing", 0.0)
    if (len(params) > ("ignore_index" in params) + ("label_smoothing" in params)
            or type(ii) is not int or 0 <= ii < C
            or type(eps) is not float or not 0.0 <= eps <= 1.0):
        return None
    return (float(ii), eps, 0.0, 0.0, float(C))


_LABEL_SMOOTHING = Param("label_smoothing", 0.0, "in [0, 1]", lo=0.0, hi=1.0, lo_open=False,
                         hi_open=False, doc="Mass moved from the target to the uniform "
                                            "distribution.")

cross_entropy = register(RowwiseSpec(
    name="cross_entropy", family="classification", row=cross_entropy_row,
    target_domain=("integer labels in [0, C) (or ``ignore_index``), or rows of target "
                   "probabilities in [0, 1] shaped like ``y_pred``"),
    prepare=_prepare_cross_entropy, has_hess=True, cost=8.0, sample=sample_logits_labels,
    fast_prm=_cross_entropy_fast_prm, single_row=True, boosting="multiclass",
    params=(
        Param("class_weight", None, "None or C non-negative weights", kind="array",
              doc="One weight per class, as PyTorch's ``weight``."),
        Param("ignore_index", -100, "an integer", kind="int",
              doc="Rows whose label equals it have no loss and no gradient, and do not "
                  "count in the mean (labels only)."),
        _LABEL_SMOOTHING,
    ),
    summary="Softmax cross-entropy on logits ``(N, C)``, with integer labels ``(N,)`` or "
            "target probabilities ``(N, C)``.",
    formula=r"\ell_i = \sum_c a_{ic} \big(\operatorname{lse}(x_i) - x_{ic}\big), \quad "
            r"a_{ic} = w_c\big((1-\varepsilon)\,t_{ic} + \varepsilon / C\big)",
    grad_formula=r"A_i\,\operatorname{softmax}(x_i)_c - a_{ic}, \quad A_i = \sum_c a_{ic}",
    hess_formula=r"A_i\,p_{ic}(1 - p_{ic}), \quad p_i = \operatorname{softmax}(x_i)",
    matches="``torch.nn.functional.cross_entropy`` (``weight``, ``ignore_index``, "
            "``label_smoothing``, probability targets, and their combinations)",
    notes="With integer labels, ``t`` is one-hot and PyTorch's label smoothing gives "
          "``a_ic = (1 - eps) w_{y_i} [c = y_i] + eps w_c / C``; ``mean`` divides by "
          "``sum_i s_i w_{y_i}`` over rows not ignored (``s`` the sample weights; NaN if that "
          "is 0, as PyTorch). With probability targets ``mean`` divides by ``sum_i s_i`` (N). "
          "One pass over each row: an online log-sum-exp by blocks of 1024 logits (one exp "
          "per logit, sums in a fixed pairwise order); the gradient reuses those exps for "
          "rows of up to 1024 classes and takes one more per logit beyond; ``out=y_pred`` "
          "computes it in place.",
    example=">>> import fastloss\n>>> round(fastloss.cross_entropy([0], [[0.0, 0.0]]), 6)\n"
            "0.693147",
))

kl_divergence = register(RowwiseSpec(
    name="kl_divergence", family="classification", row=kl_divergence_row,
    target_domain="rows of probabilities in [0, 1], shaped like ``y_pred``",
    prepare=_prepare_kl_divergence, cost=14.0, sample=sample_distributions,
    fast_range=(0.0, 1.0),
    summary="Kullback-Leibler divergence KL(p || q) of rows of probabilities.",
    formula=r"\ell_i = \sum_c p_{ic} \big(\log p_{ic} - \log q_{ic}\big), \quad 0 \log 0 = 0",
    grad_formula=r"\partial \ell_i / \partial q_{ic} = -p_{ic} / q_{ic} \;(0 \text{ where } "
                 r"p_{ic} = 0)",
    matches="``torch.nn.functional.kl_div(log(q), p, reduction='batchmean')`` for ``mean`` "
            "(``none`` gives one value per row)",
    notes="Where ``p = 0`` the term is 0 whatever ``q`` (PyTorch gives NaN for p = q = 0).",
    example=">>> import fastloss\n>>> # 0.5 log(0.5 / 0.25) + 0.5 log(0.5 / 0.75)\n"
            ">>> round(fastloss.kl_divergence([[0.5, 0.5]], [[0.25, 0.75]]), 6)\n0.143841",
))

log_loss = register(RowwiseSpec(
    name="log_loss", family="classification", row=log_loss_row,
    target_domain="integer labels in [0, C) ({0, 1} for a 1-D ``y_pred``)",
    prepare=_prepare_log_loss, cost=1.0, sample=sample_proba_labels, row_fixed=0,
    float64_factor=1.0,
    summary="Log loss (negative log-likelihood) of predicted probabilities.",
    formula=r"\ell_i = -\log \operatorname{clip}(q_{i, y_i}, \epsilon, 1 - \epsilon)",
    grad_formula=r"-1 / q_{i, y_i} \text{ at the true class inside the clip, else } 0",
    matches="``sklearn.metrics.log_loss`` (``labels=range(C)``; ``reduction='sum'`` is "
            "``normalize=False``)",
    notes="``y_pred`` is 1-D (the probability of class 1, labels in {0, 1}) or an ``(N, C)`` "
          "matrix with integer labels in [0, C). ``eps`` is the machine epsilon of "
          "``y_pred``'s dtype, as scikit-learn.",
    example=">>> import fastloss\n>>> # -(log 0.8 + log 0.6) / 2\n"
            ">>> round(fastloss.log_loss([1, 0], [0.8, 0.4]), 6)\n0.366985",
))
