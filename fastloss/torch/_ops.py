"""The custom ops: one per fastloss loss, each one ``value_and_grad`` call of the public
loss object (arguments in fastloss's ``(y_true, y_pred)`` order inside ``run``)."""

from __future__ import annotations

from types import SimpleNamespace

import fastloss

from ._bridge import OpDef, scale

OPS: dict[str, OpDef] = {}


def _pointwise(
    name,
    loss,
    params=(),
    *,
    weight=True,
    target_grad=False,
    tensor_params=(),
    weight_mean="elements",
):
    """``(input, target[, weight], reduction, *params)``: the loss of ``input - target`` or
    of ``input`` given ``target``, elementwise."""
    L = getattr(fastloss, loss)
    names = [p for p, _ in params] + list(tensor_params)
    args = ["Tensor input", "Tensor target"] + (["Tensor? weight"] if weight else [])
    args += ["str reduction"] + [f"{t} {p}" for p, t in params]
    args += [f"Tensor? {p}" for p in tensor_params]
    first = 4 if weight else 3

    def run(input, target, *rest):
        kw = {k: v for k, v in zip(names, rest[first - 2 :], strict=False) if v is not None}
        return L.value_and_grad(target, input, reduction=rest[first - 3], **kw)

    OPS[loss] = OpDef(
        name,
        ", ".join(args),
        (0,),
        run,
        lambda x, *a: x.shape,
        target=(1, 0) if target_grad else None,
        weight=2 if weight else None,
        weight_mean=weight_mean,
    )


def _rowwise(name, loss, args, kw_names):
    """``(input (N, C), target, ..., reduction, ...)``: one loss per row."""
    L = getattr(fastloss, loss)
    names = [a.split()[1] for a in args.split(",")]

    def run(*a):
        kw = dict(zip(names, a, strict=False))
        x, t = kw.pop("input"), kw.pop("target")
        kw = {kw_names.get(k, k): v for k, v in kw.items()}
        return L.value_and_grad(t, x, **kw)

    OPS[loss] = OpDef(name, args, (0,), run, lambda x, *a: x.shape[:1])


def _multi(name, loss, args, grads, value_shape, *, data=None, backward=None):
    """A loss of several arrays, called in its own argument order."""
    L = getattr(fastloss, loss)
    names = [a.split()[1] for a in args.split(",")]
    tensors = [n for a, n in zip(args.split(","), names, strict=False) if a.split()[0] == "Tensor"]

    def run(*a):
        kw = dict(zip(names, a, strict=False))
        arrays = [kw.pop(n) for n in tensors]
        return L.value_and_grad(*arrays, **kw)

    OPS[loss] = OpDef(name, args, grads, run, value_shape, data=data or grads, backward=backward)


def _split(ctx, go, saved):
    """``reduction='none'`` of a GAN loss: the value is the real terms then the fake ones."""
    if go.dim() == 0:
        return [go * g for g in saved]
    out, at = [], 0
    for g in saved:
        out.append(go[at : at + g.numel()].reshape(g.shape) * g)
        at += g.numel()
    return out


def _all_rows(name, why="each anchor's loss depends on every row"):
    def backward(ctx, go, saved):
        if go.dim() != 0:
            raise RuntimeError(
                f"fastloss.torch.{name}: reduction='none' has no backward ({why}); use "
                "reduction='mean' or 'sum' to differentiate"
            )
        return [scale(go, g) for g in saved]

    return backward


_pointwise("mse_loss", "mse", target_grad=True, weight_mean="weights")  # as PyTorch 2.13
_pointwise("l1_loss", "mae", target_grad=True, weight_mean="weights")
_pointwise("huber_loss", "huber", [("delta", "float")], target_grad=True)
_pointwise("smooth_l1_loss", "smooth_l1", [("beta", "float")], target_grad=True)
_pointwise("binary_cross_entropy", "binary_cross_entropy")
_pointwise(
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits",
    tensor_params=("pos_weight",),
)
_pointwise(
    "poisson_nll_loss", "poisson_nll", [("log_input", "bool"), ("full", "bool"), ("eps", "float")]
)
_pointwise("log_cosh", "log_cosh", weight=False, target_grad=True)
_pointwise("quantile", "quantile", [("quantile", "float")], weight=False, target_grad=True)
_pointwise("tweedie", "tweedie", [("power", "float")], weight=False)
_pointwise("focal", "focal", [("alpha", "float"), ("gamma", "float")], weight=False)
_pointwise("hinge", "hinge", weight=False)
_pointwise("squared_hinge", "squared_hinge", weight=False)
_pointwise("rmse", "rmse", weight=False, target_grad=True)

_rowwise(
    "cross_entropy",
    "cross_entropy",
    "Tensor input, Tensor target, Tensor? weight, str reduction, int ignore_index, "
    "float label_smoothing",
    {"weight": "class_weight"},
)
_rowwise("kl_divergence", "kl_divergence", "Tensor input, Tensor target, str reduction", {})
_rowwise("log_loss", "log_loss", "Tensor input, Tensor target, str reduction", {})

_multi(
    "triplet_margin_loss",
    "triplet_margin",
    "Tensor anchor, Tensor positive, Tensor negative, float margin, float p, float eps, "
    "bool swap, str reduction",
    (0, 1, 2),
    lambda a, *r: a.shape[:-1],
)
_multi(
    "cosine_embedding_loss",
    "cosine_embedding",
    "Tensor input1, Tensor input2, Tensor target, float margin, str reduction",
    (0, 1),
    lambda a, *r: a.shape[:-1],
)
_multi(
    "gan_discriminator",
    "gan_discriminator",
    "Tensor real_logits, Tensor fake_logits, str kind, str reduction",
    (0, 1),
    lambda r, f, *a: (r.numel() + f.numel(),),
    backward=_split,
)
_multi(
    "adversarial_value",
    "adversarial_value",
    "Tensor real_logits, Tensor fake_logits, str reduction",
    (0, 1),
    lambda r, f, *a: (r.numel() + f.numel(),),
    backward=_split,
)
_multi(
    "gan_generator",
    "gan_generator",
    "Tensor fake_logits, str kind, str reduction",
    (0,),
    lambda f, *a: f.shape,
)
_multi(
    "nt_xent",
    "nt_xent",
    "Tensor z1, Tensor z2, float temperature, str reduction",
    (0, 1),
    lambda z1, *a: (2 * z1.shape[0],),
    backward=_all_rows("nt_xent"),
)
_multi(
    "info_nce",
    "info_nce",
    "Tensor query, Tensor key, float temperature, str reduction",
    (0, 1),
    lambda q, *a: q.shape[:1],
    backward=_all_rows("info_nce"),
)
_multi("l1_penalty", "l1_penalty", "Tensor w, str reduction", (0,), lambda w, *a: w.shape)
_multi("l2_penalty", "l2_penalty", "Tensor w, str reduction", (0,), lambda w, *a: w.shape)
_multi(
    "elastic_net",
    "elastic_net",
    "Tensor w, float l1_ratio, str reduction",
    (0,),
    lambda w, *a: w.shape,
)

_multi(
    "linear_cross_entropy",
    "linear_cross_entropy",
    "Tensor target, Tensor hidden, Tensor weight, Tensor bias, str reduction, "
    "Tensor? class_weight, int ignore_index, float label_smoothing, float z_loss, "
    "float? softcap",
    (1, 2, 3),
    lambda t, h, *a: h.shape[:1],
    data=(1, 2),
    backward=_all_rows("linear_cross_entropy", "every row's loss depends on all of weight"),
)

CALL = SimpleNamespace(**{d.name: d for d in OPS.values()})

assert set(OPS) <= set(fastloss.LOSSES), set(OPS) - set(fastloss.LOSSES)
