r"""Sparsity and regularisation penalties on a weight array, and their proximal operators.

The penalties are sums of one term per weight, run through the house pointwise kernels
(fixed-chunk float64 sums: serial == parallel bits). Their default reduction is ``"sum"``
(a penalty is a sum); ``"mean"`` divides by the number of weights; ``"none"`` gives the
terms.

The proximal operators solve, elementwise,

.. math::

    \operatorname{prox}_{t g}(v) = \arg\min_w \tfrac12 \lVert w - v \rVert^2 + t\, g(w),

which is what proximal gradient descent (ISTA, FISTA) applies after each gradient step on
the smooth part of an objective.
"""

from __future__ import annotations

from numba.extending import register_jitable

from .._kernels.scalar import like, sign
from .._spec import MultiSpec, Param, PointwiseSpec, register, register_map


@register_jitable(forceinline=True)
def penalty_term(y, p, prm, c):
    """``prm[0] |w| + prm[1] w^2 / 2`` of the weight ``p`` (``y``, ``c`` unused), its
    derivative (the subgradient ``sign(w)``, 0 at 0, for the absolute value) and second
    derivative. A zero coefficient drops its term entirely (so ``l1`` of inf is inf)."""
    a = prm[0]  # (prm and the constants in p's precision: a float32 body, twice the lanes)
    b = prm[1]
    x = p
    zero = like(x, 0.0)
    v = zero
    g = zero
    if a != zero:
        v = a * abs(x)
        g = a * sign(x)
    if b != zero:
        v += like(x, 0.5) * b * x * x
        g += b * x
    return v, g, b


# relative cost 1, as mse's: one input array to read where mse reads two, but the kernel's
# passes per element, not the bytes, set the time around the crossover (measured float64,
# load 0.6: parallel faster from 5.6e4-1e5 elements for the value and 3.2e4-5.6e4 with the
# gradient, where cost 0.6 lost 12% and 16%)
_COST = 1.0
_TERM = PointwiseSpec(name="penalty_term", family="penalties", summary="", formula="",
                      matches="", scalar=penalty_term, cost=_COST)


def sample_weights(rng, shape, dtype):
    return (rng.standard_normal(shape).astype(dtype),), {}


_W_DOC = (("w", "Weights (any shape); float32 and float64 are computed natively."),)
_RED_DOC = ("``sum`` (the default) is the penalty; ``mean`` divides it by the number of "
            "weights; ``none`` returns the term of each weight.")
_RET = ("value : float (an array shaped like ``w`` for ``reduction='none'``). ``grad`` gives "
        "the (sub)gradient, shaped like ``w``.")
_SOURCES = (
    "R. Tibshirani, *Regression Shrinkage and Selection via the Lasso*, J. R. Statist. Soc. "
    "B 58 (1996) (the L1 penalty).",
    "H. Zou and T. Hastie, *Regularization and variable selection via the elastic net*, "
    "J. R. Statist. Soc. B 67 (2005).",
    "N. Parikh and S. Boyd, *Proximal Algorithms*, Foundations and Trends in Optimization "
    "1(3), 2014, section 6.5 (soft thresholding, elastic net).",
)

l1_penalty = register(MultiSpec(
    name="l1_penalty", family="penalties", kind="terms", sample=sample_weights,
    cost=_COST, term=_TERM, term_params=2, terms_of=lambda params: ((_TERM, (1.0, 0.0)),),
    inputs=("w",), diff_inputs=("w",), input_docs=_W_DOC, default_reduction="sum",
    summary="L1 (lasso) penalty: the sum of absolute values of the weights.",
    formula=r"\Omega(w) = \sum_i |w_i|",
    grad_formula=r"\partial \Omega / \partial w_i = \operatorname{sign}(w_i) \;"
                 r"(0 \text{ at } w_i = 0, \text{ a subgradient})",
    reduction_doc=_RED_DOC, returns_doc=_RET,
    matches="``torch.abs(w).sum()`` and its autograd gradient (subgradient 0 at 0)",
    notes="Its proximal operator is :func:`fastloss.prox_l1` (soft thresholding).",
    references=_SOURCES[:1] + _SOURCES[2:],
    example=">>> import fastloss\n>>> fastloss.l1_penalty([1.0, -2.0, 0.0])\n3.0\n"
            ">>> fastloss.l1_penalty.grad([1.0, -2.0, 0.0])\narray([ 1., -1.,  0.])",
))

l2_penalty = register(MultiSpec(
    name="l2_penalty", family="penalties", kind="terms", sample=sample_weights,
    cost=_COST, term=_TERM, term_params=2, terms_of=lambda params: ((_TERM, (0.0, 1.0)),),
    inputs=("w",), diff_inputs=("w",), input_docs=_W_DOC, default_reduction="sum",
    summary="L2 (ridge, weight decay) penalty: half the sum of squared weights.",
    formula=r"\Omega(w) = \tfrac12 \sum_i w_i^2",
    grad_formula=r"\partial \Omega / \partial w_i = w_i",
    reduction_doc=_RED_DOC, returns_doc=_RET,
    matches="``0.5 * (w ** 2).sum()`` (PyTorch autograd gives ``w``)",
    notes="Its proximal operator is the shrinkage ``v / (1 + t)`` "
          "(``prox_elastic_net(v, t, l1_ratio=0)``).",
    example=">>> import fastloss\n>>> fastloss.l2_penalty([1.0, -2.0])\n2.5",
))

elastic_net = register(MultiSpec(
    name="elastic_net", family="penalties", kind="terms", sample=sample_weights,
    cost=_COST, term=_TERM, term_params=2,
    terms_of=lambda params: ((_TERM, (params["l1_ratio"], 1.0 - params["l1_ratio"])),),
    inputs=("w",), diff_inputs=("w",), input_docs=_W_DOC, default_reduction="sum",
    params=(Param("l1_ratio", 0.5, "in [0, 1]", lo=0.0, hi=1.0, lo_open=False, hi_open=False,
                  doc="Weight of the L1 part; 1 gives l1_penalty, 0 gives l2_penalty."),),
    summary="Elastic-net penalty: a convex mix of the L1 and (half squared) L2 penalties.",
    formula=r"\Omega(w) = \rho \sum_i |w_i| + \tfrac12 (1 - \rho) \sum_i w_i^2, "
            r"\quad \rho = \text{l1\_ratio}",
    grad_formula=r"\rho \operatorname{sign}(w_i) + (1 - \rho) w_i",
    reduction_doc=_RED_DOC, returns_doc=_RET,
    matches="scikit-learn's ``ElasticNet`` penalty with ``alpha = 1`` "
            "(``l1_ratio * ||w||_1 + 0.5 * (1 - l1_ratio) * ||w||_2^2``)",
    notes="Its proximal operator is :func:`fastloss.prox_elastic_net`.",
    references=_SOURCES[1:],
    example=">>> import fastloss\n>>> fastloss.elastic_net([1.0, -2.0], l1_ratio=0.5)\n2.75",
))


# ---------------------------------------------------------------------------
# proximal operators: elementwise maps (no reduction, so serial and parallel agree)

@register_jitable(forceinline=True)
def soft_threshold(x, t):
    """``sign(x) max(|x| - t, 0)``; NaN stays NaN, and the zeros are +0.0."""
    a = abs(x) - t
    if a > 0:
        return a if x > 0 else -a
    if a <= 0:
        return a - a  # +0.0 (a * 0 would give -0.0)
    return a


@register_jitable(forceinline=True)
def prox_elastic(x, thr, den):
    """Soft thresholding at ``thr``, then division by ``den`` (the elastic-net shrinkage)."""
    return soft_threshold(x, thr) / den


register_map("prox", prox_elastic)
