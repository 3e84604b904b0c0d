r"""Adversarial (GAN) losses on discriminator logits.

Conventions, for every loss here:

* Inputs are **logits** (raw discriminator outputs ``D_logit``, before any sigmoid); the
  discriminator's probability that a sample is real is :math:`D = \sigma(\text{logit})`.
  For ``wasserstein`` the logit is the critic's score itself.
* Every loss is **minimised** (the discriminator's loss by the discriminator, the
  generator's by the generator), and the two batches are averaged **separately**:
  :math:`\mathbb{E}_r` is the mean over ``real_logits``, :math:`\mathbb{E}_f` over
  ``fake_logits`` (their sizes may differ). ``reduction="sum"`` sums instead of
  averaging; ``"none"`` returns the per-element terms.
* With :math:`r` the real logits, :math:`f` the fake logits and
  :math:`\operatorname{sp}(x) = \log(1 + e^x)` (softplus):

  * ``standard`` discriminator: :math:`\mathbb{E}_r \operatorname{sp}(-r) +
    \mathbb{E}_f \operatorname{sp}(f)`; ``non_saturating`` generator:
    :math:`\mathbb{E}_f \operatorname{sp}(-f)`; ``minimax`` generator:
    :math:`-\mathbb{E}_f \operatorname{sp}(f) = \mathbb{E}_f \log(1 - D(G(z)))`;
  * ``least_squares``: discriminator :math:`\tfrac12\mathbb{E}_r (r-1)^2 +
    \tfrac12\mathbb{E}_f f^2`, generator :math:`\tfrac12\mathbb{E}_f (f-1)^2`;
  * ``hinge``: discriminator :math:`\mathbb{E}_r \max(0, 1-r) + \mathbb{E}_f \max(0, 1+f)`,
    generator :math:`-\mathbb{E}_f f`;
  * ``wasserstein``: critic :math:`\mathbb{E}_f f - \mathbb{E}_r r`, generator
    :math:`-\mathbb{E}_f f`;
  * ``adversarial_value``: :math:`V = \mathbb{E}_r \log D(x) + \mathbb{E}_f \log(1 - D(G(z)))
    = -\mathbb{E}_r \operatorname{sp}(-r) - \mathbb{E}_f \operatorname{sp}(f)`.

Every term is a softplus, a square, a ReLU or a linear function of one logit: each is a
stable scalar function of its own run through the house pointwise kernels, so values and
gradients are exact for any logit (no ``log(sigmoid)``, no overflow).
"""

from __future__ import annotations

from numba.extending import register_jitable

from .._kernels.scalar import like, log1pexp, sigmoid
from .._spec import Choice, MultiSpec, PointwiseSpec, register

# The terms: each a pointwise spec of its own (its kernels hold one formula, which LLVM
# vectorises), whose scalar reads the term's factor ``a = prm[0]``. Gradients follow
# PyTorch autograd: ReLU has derivative 0 at its kink and for NaN.


@register_jitable(forceinline=True)
def _softplus_parts(x, a):
    """``(a sp(x), a sigmoid(x), a sigmoid(x) sigmoid(-x))`` in ``x``'s precision (the
    helpers' exps are one and the same: LLVM computes it once)."""
    s = sigmoid(x)
    return a * log1pexp(x), a * s, a * (s * sigmoid(-x))


@register_jitable(forceinline=True)
def softplus_neg_term(y, p, prm, c):
    """``a sp(-x) = -a log sigmoid(x)`` of the logit ``x = p`` (``y`` and ``c`` unused)."""
    v, g, h = _softplus_parts(-p, like(p, prm[0]))
    return v, -g, h


@register_jitable(forceinline=True)
def softplus_term(y, p, prm, c):
    """``a sp(x) = -a log(1 - sigmoid(x))``."""
    return _softplus_parts(p, like(p, prm[0]))


@register_jitable(forceinline=True)
def half_square_m1_term(y, p, prm, c):
    """``a (x - 1)^2 / 2``."""
    a = like(p, prm[0])
    d = p - like(p, 1.0)
    return a * like(p, 0.5) * d * d, a * d, a


@register_jitable(forceinline=True)
def half_square_term(y, p, prm, c):
    """``a x^2 / 2``."""
    a = like(p, prm[0])
    return a * like(p, 0.5) * p * p, a * p, a


@register_jitable(forceinline=True)
def _relu(u, du, a):
    zero = like(u, 0.0)
    if u > zero:
        return a * u, a * du, zero
    if u <= zero:
        return zero, zero, zero
    return u, zero, zero  # NaN: the value stays NaN, the derivative is 0 as in torch.relu


@register_jitable(forceinline=True)
def relu_1m_term(y, p, prm, c):
    """``a max(0, 1 - x)``."""
    return _relu(like(p, 1.0) - p, like(p, -1.0), like(p, prm[0]))


@register_jitable(forceinline=True)
def relu_1p_term(y, p, prm, c):
    """``a max(0, 1 + x)``."""
    return _relu(like(p, 1.0) + p, like(p, 1.0), like(p, prm[0]))


@register_jitable(forceinline=True)
def linear_term(y, p, prm, c):
    """``a x``."""
    a = like(p, prm[0])
    return a * p, a, like(p, 0.0)


def _term(scalar, cost):
    return PointwiseSpec(name=scalar.__name__, family="adversarial", summary="", formula="",
                         matches="", scalar=scalar, cost=cost)


SP_NEG = _term(softplus_neg_term, 4.0)  # sp(-x) = -log sigmoid(x)
SP_POS = _term(softplus_term, 4.0)  # sp(x) = -log(1 - sigmoid(x))
HSQ_M1 = _term(half_square_m1_term, 1.0)  # (x - 1)^2 / 2
HSQ = _term(half_square_term, 1.0)  # x^2 / 2
RELU_1M = _term(relu_1m_term, 1.0)  # max(0, 1 - x)
RELU_1P = _term(relu_1p_term, 1.0)  # max(0, 1 + x)
LINEAR = _term(linear_term, 1.0)  # x
TERMS = (SP_NEG, SP_POS, HSQ_M1, HSQ, RELU_1M, RELU_1P, LINEAR)

# (term, (factor,)) for each input
DISCRIMINATOR = {
    "standard": ((SP_NEG, (1.0,)), (SP_POS, (1.0,))),
    "least_squares": ((HSQ_M1, (1.0,)), (HSQ, (1.0,))),
    "hinge": ((RELU_1M, (1.0,)), (RELU_1P, (1.0,))),
    "wasserstein": ((LINEAR, (-1.0,)), (LINEAR, (1.0,))),
}
GENERATOR = {
    "non_saturating": ((SP_NEG, (1.0,)),),
    "minimax": ((SP_POS, (-1.0,)),),
    "least_squares": ((HSQ_M1, (1.0,)),),
    "hinge": ((LINEAR, (-1.0,)),),
    "wasserstein": ((LINEAR, (-1.0,)),),
}
VALUE_FUNCTION = ((SP_NEG, (-1.0,)), (SP_POS, (-1.0,)))  # E log D(x) + E log(1 - D(G(z)))


def sample_logits(rng, shape, dtype):
    """Real and fake logits drawn from N(1, 2) and N(-1, 2) (one array per logit input)."""
    real = (1.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    fake = (-1.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    return (real, fake), {}


def sample_fake_logits(rng, shape, dtype):
    return (sample_logits(rng, shape, dtype)[0][1],), {}


_LOGIT_DOC = "{} logits of the discriminator (any shape; float32 or float64)."
_KIND_DOC_D = ("standard", "least_squares", "hinge", "wasserstein")
_KIND_DOC_G = ("non_saturating", "minimax", "least_squares", "hinge", "wasserstein")

_SOURCES = (
    "I. Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014, eq. (1) (value "
    "function, minimax) and section 3 (the non-saturating generator loss).",
    "X. Mao et al., *Least Squares Generative Adversarial Networks*, ICCV 2017, eq. (2) with "
    "a=0, b=c=1.",
    "J. H. Lim and J. C. Ye, *Geometric GAN*, arXiv:1705.02894, 2017, and T. Miyato et al., "
    "*Spectral Normalization for Generative Adversarial Networks*, ICLR 2018 (hinge loss).",
    "M. Arjovsky, S. Chintala and L. Bottou, *Wasserstein GAN*, ICML 2017, Algorithm 1 "
    "(critic and generator losses).",
    "K. Kurach et al., *A Large-Scale Study on Regularization and Normalization in GANs*, "
    "ICML 2019 (these losses side by side).",
)

_RED_DOC = ("``mean`` averages the real and the fake terms separately and adds the two "
            "means; ``sum`` adds all terms; ``none`` returns the terms.")

gan_discriminator = register(MultiSpec(
    name="gan_discriminator", family="adversarial", kind="terms", sample=sample_logits,
    term=TERMS, term_params=1, cost=4.0,
    inputs=("real_logits", "fake_logits"), diff_inputs=("real_logits", "fake_logits"),
    input_docs=(("real_logits", _LOGIT_DOC.format("Real-sample")),
                ("fake_logits", _LOGIT_DOC.format("Generated-sample"))),
    params=(Choice("kind", "standard", "one of " + ", ".join(map(repr, _KIND_DOC_D)),
                   choices=_KIND_DOC_D, doc="Which GAN objective."),),
    terms_of=lambda params: DISCRIMINATOR[params["kind"]],
    summary="The discriminator's (critic's) GAN loss, on logits; minimised by the "
            "discriminator.",
    formula=r"\text{standard: } \mathbb{E}_r \operatorname{sp}(-r) + \mathbb{E}_f "
            r"\operatorname{sp}(f); \; \text{least\_squares: } \tfrac12\mathbb{E}_r(r-1)^2 + "
            r"\tfrac12\mathbb{E}_f f^2; \; \text{hinge: } \mathbb{E}_r\max(0,1-r) + "
            r"\mathbb{E}_f\max(0,1+f); \; \text{wasserstein: } \mathbb{E}_f f - \mathbb{E}_r r",
    grad_formula=r"\text{standard: } \partial/\partial r_i = -\sigma(-r_i)/n_r, \; "
                 r"\partial/\partial f_j = \sigma(f_j)/n_f \;(\text{others alike; ReLU has "
                 r"derivative 0 at its kink})",
    reduction_doc=_RED_DOC,
    returns_doc="value : float (a tuple ``(real_terms, fake_terms)`` for "
                "``reduction='none'``). ``grad`` and ``value_and_grad`` give the gradient as "
                "``(grad_real, grad_fake)``, shaped like the inputs.",
    matches="the formulas above; ``standard`` is binary cross-entropy "
            "with logits with real labelled 1 and fake 0, each batch averaged on its own "
            "(``F.binary_cross_entropy_with_logits(r, ones) + "
            "F.binary_cross_entropy_with_logits(f, zeros)``)",
    notes="Conventions: inputs are logits (``D = sigmoid(logit)``; raw critic scores for "
          "``wasserstein``); the loss is minimised; the real and fake batches are averaged "
          "separately and may differ in size. ``sp`` is softplus, computed stably.",
    references=_SOURCES,
    example=">>> import fastloss\n"
            ">>> fastloss.gan_discriminator([2.0], [-2.0], kind='hinge')\n0.0\n"
            ">>> fastloss.gan_discriminator.grad([0.0], [0.0])\n"
            "(array([-0.5]), array([0.5]))",
))

gan_generator = register(MultiSpec(
    name="gan_generator", family="adversarial", kind="terms", sample=sample_fake_logits,
    term=TERMS, term_params=1, cost=4.0,
    inputs=("fake_logits",), diff_inputs=("fake_logits",),
    input_docs=(("fake_logits", _LOGIT_DOC.format("Generated-sample")),),
    params=(Choice("kind", "non_saturating", "one of " + ", ".join(map(repr, _KIND_DOC_G)),
                   choices=_KIND_DOC_G, doc="Which GAN objective."),),
    terms_of=lambda params: GENERATOR[params["kind"]],
    summary="The generator's GAN loss, on the discriminator's logits of generated samples; "
            "minimised by the generator.",
    formula=r"\text{non\_saturating: } \mathbb{E}_f \operatorname{sp}(-f) = "
            r"-\mathbb{E}_f\log D(G(z)); \; \text{minimax: } -\mathbb{E}_f\operatorname{sp}(f) "
            r"= \mathbb{E}_f \log(1 - D(G(z))); \; \text{least\_squares: } "
            r"\tfrac12\mathbb{E}_f(f-1)^2; \; \text{hinge, wasserstein: } -\mathbb{E}_f f",
    grad_formula=r"\text{non\_saturating: } -\sigma(-f_j)/n_f; \; \text{minimax: } "
                 r"-\sigma(f_j)/n_f; \; \text{least\_squares: } (f_j - 1)/n_f; \; "
                 r"\text{hinge, wasserstein: } -1/n_f",
    reduction_doc="``mean`` averages the terms, ``sum`` adds them, ``none`` returns them.",
    returns_doc="value : float (an array shaped like ``fake_logits`` for "
                "``reduction='none'``). ``grad`` gives the gradient with respect to "
                "``fake_logits``.",
    matches="the formulas above; ``non_saturating`` is "
            "``F.binary_cross_entropy_with_logits(f, ones)``",
    notes="``minimax`` is the generator's side of Goodfellow et al.'s value function; its "
          "gradient vanishes when the discriminator rejects fakes confidently, which is why "
          "``non_saturating`` (the default) is used in practice. Inputs are logits; the loss "
          "is minimised.",
    references=_SOURCES,
    example=">>> import fastloss\n"
            ">>> fastloss.gan_generator([0.0, 0.0])\n0.6931471805599453\n"
            ">>> fastloss.gan_generator.grad([0.0, 0.0], kind='wasserstein')\n"
            "array([-0.5, -0.5])",
))

adversarial_value = register(MultiSpec(
    name="adversarial_value", family="adversarial", kind="terms", sample=sample_logits,
    term=TERMS, term_params=1, cost=4.0,
    inputs=("real_logits", "fake_logits"), diff_inputs=("real_logits", "fake_logits"),
    input_docs=(("real_logits", _LOGIT_DOC.format("Real-sample")),
                ("fake_logits", _LOGIT_DOC.format("Generated-sample"))),
    terms_of=lambda params: VALUE_FUNCTION,
    summary="The GAN value function V(D, G) of Goodfellow et al., from logits, computed "
            "stably (the discriminator maximises it, the generator minimises it).",
    formula=r"V = \mathbb{E}_r \log D(x) + \mathbb{E}_f \log(1 - D(G(z))) = "
            r"-\mathbb{E}_r \operatorname{sp}(-r) - \mathbb{E}_f \operatorname{sp}(f), "
            r"\quad D = \sigma(\text{logit})",
    grad_formula=r"\partial V/\partial r_i = \sigma(-r_i)/n_r, \quad "
                 r"\partial V/\partial f_j = -\sigma(f_j)/n_f",
    reduction_doc=_RED_DOC,
    returns_doc="value : float, at most 0 (a tuple ``(real_terms, fake_terms)`` for "
                "``reduction='none'``). ``grad`` gives ``(grad_real, grad_fake)``.",
    matches="the formula above; it is ``-gan_discriminator(r, f, "
            "kind='standard')``, and at the optimum discriminator it equals "
            "``-log 4 + 2 JSD(p_data || p_g)``",
    notes="``log D`` and ``log(1 - D)`` are computed as ``-softplus(-logit)`` and "
          "``-softplus(logit)``: finite for every finite logit, where the naive formula "
          "gives ``log(0) = -inf`` from about ``|logit| > 37`` (float64) or ``17`` (float32).",
    references=_SOURCES[:1],
    example=">>> import fastloss\n"
            ">>> fastloss.adversarial_value([0.0], [0.0])  # -log 4\n-1.3862943611198906",
))
