"""fastloss losses as differentiable PyTorch ops (``import fastloss.torch``; needs PyTorch).

Every function takes ``(input, target)`` in PyTorch's order and returns a tensor; where
PyTorch has the loss it has PyTorch's name, arguments, defaults and behaviour
(``fastloss.torch.cross_entropy`` is a drop-in for ``torch.nn.functional.cross_entropy``),
otherwise fastloss's name. Each is a ``torch.library`` custom op (``torch.ops.fastloss.*``):
its forward computes the value and the gradient in one fastloss pass and saves the gradient,
its backward multiplies that by ``grad_output``; ``torch.compile`` traces it without graph
breaks (eager calls run the same forward and backward through an ``autograd.Function``,
skipping the custom op's dispatcher). CPU tensors are shared with NumPy and CUDA tensors
with fastloss's CUDA kernels (``__cuda_array_interface__``) without copies. float32 and
float64 are computed natively; float16 and bfloat16 raise ``TypeError`` (cast with
``.float()``). A second derivative raises ``RuntimeError``. ``FUNCTIONS`` and ``MODULES``
map each fastloss loss name to its function and ``torch.nn.Module`` class; ``DROP_IN`` maps
PyTorch's names to this module's.
"""

from __future__ import annotations

import inspect

import torch

from . import _ops
from ._bridge import legacy_reduction as _legacy
from ._bridge import no_grad_for as _no_grad
from ._modules import make_modules as _make_modules

_op = _ops.CALL  # each op by its name: torch.ops.fastloss.<name>, or its eager road

__all__ = ["DROP_IN", "FUNCTIONS", "MODULES"]


def _red(reduction, allowed=("mean", "sum", "none")):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _same_size(input, weight):
    if weight is not None and weight.size() != input.size():
        raise ValueError("Weights and input must have the same size.")


# -- PyTorch's losses ---------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``torch.nn.functional.mse_loss``: ``(input - target)^2``; ``weight`` (the shape of
    ``input``) rescales each element and ``mean`` is ``sum(weight * l) / sum(weight)``."""
    _no_grad("mse_loss", weight=weight)
    _same_size(input, weight)
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.mse_loss(input, target, weight, r)[0]


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``torch.nn.functional.l1_loss``: ``|input - target|``; ``weight`` as in mse_loss."""
    _no_grad("l1_loss", weight=weight)
    _same_size(input, weight)
    return _op.l1_loss(input, target, weight, _red(_legacy(size_average, reduce, reduction)))[0]


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``torch.nn.functional.huber_loss`` (fastloss ``huber``); ``weight`` (the shape of
    ``input``) rescales each element and ``mean`` is ``mean(weight * l)``."""
    _no_grad("huber_loss", weight=weight)
    _same_size(input, weight)
    return _op.huber_loss(input, target, weight, _red(reduction), float(delta))[0]


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``torch.nn.functional.smooth_l1_loss`` (fastloss ``smooth_l1``)."""
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.smooth_l1_loss(input, target, None, r, float(beta))[0]


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean"
):
    """``torch.nn.functional.binary_cross_entropy`` on probabilities; ``weight`` rescales
    each element's loss (``mean`` is ``mean(weight * l)``)."""
    _no_grad("binary_cross_entropy", target=target, weight=weight)
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.binary_cross_entropy(input, target, weight, r)[0]


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """``torch.nn.functional.binary_cross_entropy_with_logits``; ``weight`` as in
    binary_cross_entropy, ``pos_weight`` weighs the positive term (broadcast over the last
    axis)."""
    _no_grad(
        "binary_cross_entropy_with_logits", target=target, weight=weight, pos_weight=pos_weight
    )
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.binary_cross_entropy_with_logits(input, target, weight, r, pos_weight)[0]


def poisson_nll_loss(
    input,
    target,
    log_input=True,
    full=False,
    size_average=None,
    eps=1e-8,
    reduce=None,
    reduction="mean",
):
    """``torch.nn.functional.poisson_nll_loss`` (fastloss ``poisson_nll``)."""
    _no_grad("poisson_nll_loss", target=target)
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.poisson_nll_loss(input, target, None, r, bool(log_input), bool(full), float(eps))[0]


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
):
    """``torch.nn.functional.cross_entropy`` on logits ``(N, C)``, ``(C,)`` or
    ``(N, C, d1, ...)``, with class indices or class probabilities as targets; ``weight``
    is one weight per class."""
    _no_grad("cross_entropy", target=target, weight=weight)
    r = _red(_legacy(size_average, reduce, reduction))
    probs = target.is_floating_point()
    if input.dim() == 1:  # one sample
        v = cross_entropy(
            input[None], target[None], weight, None, ignore_index, None, r, label_smoothing
        )
        return v[0] if r == "none" else v
    if input.dim() > 2:  # (N, C, d1, ...): the class axis last, one row per position
        c = input.shape[1]
        rows = input.movedim(1, -1).reshape(-1, c)
        t = target.movedim(1, -1).reshape(-1, c) if probs else target.reshape(-1)
        v = cross_entropy(rows, t, weight, None, ignore_index, None, r, label_smoothing)
        return v.reshape(input.shape[:1] + input.shape[2:]) if r == "none" else v
    return _op.cross_entropy(input, target, weight, r, int(ignore_index), float(label_smoothing))[0]


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """``torch.nn.functional.kl_div``: ``input`` holds log-probabilities, ``target``
    probabilities (log-probabilities with ``log_target``); the pointwise terms
    ``target * (log(target) - input)`` reduced by ``mean`` (over elements), ``batchmean``
    (over ``input.size(0)``), ``sum`` or ``none``. Computed as fastloss ``kl_divergence`` of
    ``exp(input)``, so ``input`` must be at most 0 and ``target`` in [0, 1]."""
    _no_grad("kl_div", target=target)
    r = _red(_legacy(size_average, reduce, reduction), ("mean", "batchmean", "sum", "none"))
    p = target.exp() if log_target else target
    q = input.exp()
    terms = kl_divergence(
        q.reshape(-1, 1), p.reshape(-1, 1), reduction="none" if r == "none" else "sum"
    )
    if r == "none":
        return terms.reshape(input.shape)
    if r == "mean":
        return terms / max(input.numel(), 1)
    if r == "batchmean" and input.dim() > 0:
        return terms / input.shape[0]
    return terms


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin=1.0,
    p=2,
    eps=1e-6,
    swap=False,
    size_average=None,
    reduce=None,
    reduction="mean",
):
    """``torch.nn.functional.triplet_margin_loss`` (fastloss ``triplet_margin``)."""
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.triplet_margin_loss(
        anchor, positive, negative, float(margin), float(p), float(eps), bool(swap), r
    )[0]


def cosine_embedding_loss(
    input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"
):
    """``torch.nn.functional.cosine_embedding_loss`` (fastloss ``cosine_embedding``)."""
    r = _red(_legacy(size_average, reduce, reduction))
    return _op.cosine_embedding_loss(input1, input2, target, float(margin), r)[0]


# -- fastloss's own losses ----------------------------------------------------------------
def _pointwise_fn(name, params, doc, target_grad):
    def fn(input, target, *, reduction="mean", **kw):
        if not target_grad:
            _no_grad(name, target=target)
        unknown = set(kw) - set(params)
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword arguments {sorted(unknown)}")
        vals = [type(d)(kw.get(k, d)) for k, d in params.items()]
        return getattr(_op, name)(input, target, _red(reduction), *vals)[0]

    fn.__name__ = fn.__qualname__ = name
    opts = "".join(f", {k}={d!r}" for k, d in params.items())
    fn.__doc__ = (
        f"fastloss ``{name}`` on ``(input, target)``: {doc}\n\n"
        f"Signature: ``{name}(input, target, *, reduction='mean'{opts})``."
    )
    P = inspect.Parameter
    fn.__signature__ = inspect.Signature(
        [P("input", P.POSITIONAL_OR_KEYWORD), P("target", P.POSITIONAL_OR_KEYWORD)]
        + [P(k, P.KEYWORD_ONLY, default=d) for k, d in {"reduction": "mean", **params}.items()]
    )
    return fn


log_cosh = _pointwise_fn("log_cosh", {}, "``log(cosh(input - target))``.", True)
quantile = _pointwise_fn("quantile", {"quantile": 0.5}, "the pinball loss.", True)
tweedie = _pointwise_fn(
    "tweedie", {"power": 1.5}, "half Tweedie deviance, log link, on raw predictions.", False
)
focal = _pointwise_fn(
    "focal", {"alpha": 0.25, "gamma": 2.0}, "sigmoid focal loss on logits (torchvision's).", False
)
hinge = _pointwise_fn("hinge", {}, "``max(0, 1 - y * input)``, labels in {-1, 1} or {0, 1}.", False)
squared_hinge = _pointwise_fn("squared_hinge", {}, "``max(0, 1 - y * input)^2``.", False)


def rmse(input, target, *, reduction="mean"):
    """fastloss ``rmse``: ``sqrt(mean((input - target)^2))`` (``reduction='mean'`` only)."""
    if reduction != "mean":
        raise ValueError(f"rmse has only reduction='mean', got {reduction!r}")
    return _op.rmse(input, target, reduction)[0]


def kl_divergence(input, target, *, reduction="mean"):
    """fastloss ``kl_divergence``: KL(target || input) of rows of probabilities (``input``
    the predicted probabilities ``q``, ``target`` ``p``); ``mean`` averages over rows."""
    _no_grad("kl_divergence", target=target)
    return _op.kl_divergence(input, target, _red(reduction))[0]


def log_loss(input, target, *, reduction="mean"):
    """fastloss ``log_loss``: ``-log q[y]`` of predicted probabilities (1-D, the positive
    class, or ``(N, C)``) with integer labels."""
    _no_grad("log_loss", target=target)
    return _op.log_loss(input, target, _red(reduction))[0]


def _pair(v, real, fake, reduction):
    if reduction != "none":
        return v
    return v[: real.numel()].reshape(real.shape), v[real.numel() :].reshape(fake.shape)


def gan_discriminator(real_logits, fake_logits, *, kind="standard", reduction="mean"):
    """fastloss ``gan_discriminator`` (``kind``: standard, least_squares, hinge,
    wasserstein); ``reduction='none'`` gives ``(real_terms, fake_terms)``."""
    v = _op.gan_discriminator(real_logits, fake_logits, kind, _red(reduction))[0]
    return _pair(v, real_logits, fake_logits, reduction)


def adversarial_value(real_logits, fake_logits, *, reduction="mean"):
    """fastloss ``adversarial_value``: ``E[log D(x)] + E[log(1 - D(G(z)))]`` from logits;
    ``reduction='none'`` gives ``(real_terms, fake_terms)``."""
    v = _op.adversarial_value(real_logits, fake_logits, _red(reduction))[0]
    return _pair(v, real_logits, fake_logits, reduction)


def gan_generator(fake_logits, *, kind="non_saturating", reduction="mean"):
    """fastloss ``gan_generator`` (``kind``: non_saturating, minimax, least_squares, hinge,
    wasserstein)."""
    return _op.gan_generator(fake_logits, kind, _red(reduction))[0]


def nt_xent(z1, z2, *, temperature=0.5, reduction="mean"):
    """fastloss ``nt_xent`` (SimCLR) of two views ``(N, d)``; ``reduction='none'`` (2N
    losses) has no backward."""
    return _op.nt_xent(z1, z2, float(temperature), _red(reduction))[0]


def info_nce(query, key, *, temperature=0.1, reduction="mean"):
    """fastloss ``info_nce`` of ``(N, d)`` queries and keys (positives on the diagonal);
    ``reduction='none'`` has no backward."""
    return _op.info_nce(query, key, float(temperature), _red(reduction))[0]


def l1_penalty(w, *, reduction="sum"):
    """fastloss ``l1_penalty``: ``sum(|w|)``."""
    return _op.l1_penalty(w, _red(reduction))[0]


def l2_penalty(w, *, reduction="sum"):
    """fastloss ``l2_penalty``: ``0.5 * sum(w^2)``."""
    return _op.l2_penalty(w, _red(reduction))[0]


def elastic_net(w, *, l1_ratio=0.5, reduction="sum"):
    """fastloss ``elastic_net``: ``l1_ratio * sum(|w|) + 0.5 (1 - l1_ratio) sum(w^2)``."""
    return _op.elastic_net(w, float(l1_ratio), _red(reduction))[0]


def linear_cross_entropy(
    target,
    hidden,
    weight,
    bias=None,
    *,
    reduction="mean",
    class_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
):
    """fastloss ``linear_cross_entropy``: ``cross_entropy(hidden @ weight.T + bias, target)``
    computed chunk by chunk without the (N, V) logits (``class_weight`` is PyTorch's
    ``weight``; ``z_loss`` and ``softcap`` as in fastloss); ``reduction='none'`` has no
    backward."""
    if bias is None:  # a zero bias (its gradient is computed and dropped)
        dt = torch.promote_types(hidden.dtype, weight.dtype)
        bias = torch.zeros(weight.shape[0], dtype=dt, device=weight.device)
    return _op.linear_cross_entropy(
        target,
        hidden,
        weight,
        bias,
        _red(reduction),
        class_weight,
        int(ignore_index),
        float(label_smoothing),
        float(z_loss),
        None if softcap is None else float(softcap),
    )[0]


FUNCTIONS = {
    "mse": mse_loss,
    "mae": l1_loss,
    "huber": huber_loss,
    "smooth_l1": smooth_l1_loss,
    "binary_cross_entropy": binary_cross_entropy,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "poisson_nll": poisson_nll_loss,
    "cross_entropy": cross_entropy,
    "kl_divergence": kl_divergence,
    "triplet_margin": triplet_margin_loss,
    "cosine_embedding": cosine_embedding_loss,
    "log_cosh": log_cosh,
    "quantile": quantile,
    "tweedie": tweedie,
    "focal": focal,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "rmse": rmse,
    "log_loss": log_loss,
    "gan_discriminator": gan_discriminator,
    "adversarial_value": adversarial_value,
    "gan_generator": gan_generator,
    "nt_xent": nt_xent,
    "info_nce": info_nce,
    "l1_penalty": l1_penalty,
    "l2_penalty": l2_penalty,
    "elastic_net": elastic_net,
    "linear_cross_entropy": linear_cross_entropy,
}
"""fastloss loss name -> its function here."""

DROP_IN = {
    f"torch.nn.functional.{f.__name__}": f.__name__
    for f in (
        mse_loss,
        l1_loss,
        huber_loss,
        smooth_l1_loss,
        binary_cross_entropy,
        binary_cross_entropy_with_logits,
        poisson_nll_loss,
        cross_entropy,
        kl_div,
        triplet_margin_loss,
        cosine_embedding_loss,
    )
}
"""PyTorch's functional name -> the drop-in here (same name, arguments and behaviour)."""

MODULES = _make_modules(FUNCTIONS, kl_div)
"""fastloss loss name -> its ``torch.nn.Module`` class here (and ``kl_div`` -> KLDivLoss)."""
globals().update({cls.__name__: cls for cls in MODULES.values()})
DROP_IN.update({f"torch.nn.{c.torch_name}": c.__name__ for c in MODULES.values() if c.torch_name})

__all__ += [f.__name__ for f in FUNCTIONS.values()] + ["kl_div"]
__all__ += [c.__name__ for c in MODULES.values()]
