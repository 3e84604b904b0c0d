"""``torch.nn.Module`` classes for the functions: PyTorch's class names and constructor
arguments where PyTorch has the loss, ``<Name>Loss`` otherwise."""

from __future__ import annotations

import inspect

import torch

from ._bridge import legacy_reduction

_SA, _RD, _MEAN = ("size_average", None), ("reduce", None), ("reduction", "mean")
_W = ("weight", None)

TORCH_CLASSES = {  # loss -> (PyTorch's class name, its constructor's arguments in order)
    "mse": ("MSELoss", [_SA, _RD, _MEAN]),
    "mae": ("L1Loss", [_SA, _RD, _MEAN]),
    "huber": ("HuberLoss", [_MEAN, ("delta", 1.0)]),
    "smooth_l1": ("SmoothL1Loss", [_SA, _RD, _MEAN, ("beta", 1.0)]),
    "binary_cross_entropy": ("BCELoss", [_W, _SA, _RD, _MEAN]),
    "binary_cross_entropy_with_logits": (
        "BCEWithLogitsLoss",
        [_W, _SA, _RD, _MEAN, ("pos_weight", None)],
    ),
    "cross_entropy": (
        "CrossEntropyLoss",
        [_W, _SA, ("ignore_index", -100), _RD, _MEAN, ("label_smoothing", 0.0)],
    ),
    "poisson_nll": (
        "PoissonNLLLoss",
        [("log_input", True), ("full", False), _SA, ("eps", 1e-8), _RD, _MEAN],
    ),
    "triplet_margin": (
        "TripletMarginLoss",
        [("margin", 1.0), ("p", 2.0), ("eps", 1e-6), ("swap", False), _SA, _RD, _MEAN],
    ),
    "cosine_embedding": ("CosineEmbeddingLoss", [("margin", 0.0), _SA, _RD, _MEAN]),
    "kl_div": ("KLDivLoss", [_SA, _RD, _MEAN, ("log_target", False)]),
}

OWN_CLASSES = {
    "log_cosh": "LogCoshLoss",
    "quantile": "QuantileLoss",
    "tweedie": "TweedieLoss",
    "focal": "FocalLoss",
    "hinge": "HingeLoss",
    "squared_hinge": "SquaredHingeLoss",
    "rmse": "RMSELoss",
    "kl_divergence": "KLDivergenceLoss",
    "log_loss": "LogLoss",
    "gan_discriminator": "GANDiscriminatorLoss",
    "gan_generator": "GANGeneratorLoss",
    "adversarial_value": "AdversarialValue",
    "nt_xent": "NTXentLoss",
    "info_nce": "InfoNCELoss",
    "l1_penalty": "L1Penalty",
    "l2_penalty": "L2Penalty",
    "elastic_net": "ElasticNet",
    "linear_cross_entropy": "LinearCrossEntropyLoss",
}


class _BridgeLoss(torch.nn.Module):
    """Holds the loss's options; ``forward(*inputs)`` calls the function with them."""

    _fn = None
    _sig: inspect.Signature
    torch_name = None

    def __init__(self, *args, **kwargs):
        super().__init__()
        b = self._sig.bind(*args, **kwargs)
        b.apply_defaults()
        opts = dict(b.arguments)
        if "size_average" in opts:
            opts["reduction"] = legacy_reduction(
                opts.pop("size_average"), opts.pop("reduce"), opts["reduction"]
            )
        self._opts = []
        for k, v in opts.items():
            if isinstance(v, torch.Tensor) or (v is None and k in ("weight", "pos_weight")):
                self.register_buffer(k, v)
            else:
                setattr(self, k, v)
            self._opts.append(k)

    def forward(self, *inputs):
        return type(self)._fn(*inputs, **{k: getattr(self, k) for k in self._opts})

    def extra_repr(self) -> str:
        return ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in self._opts
            if not isinstance(getattr(self, k), torch.Tensor)
        )


def _cls(name, fn, params, torch_name=None):
    sig = inspect.Signature(
        [
            inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
            for k, d in params
        ]
    )
    doc = (
        f"``nn.Module`` of :func:`fastloss.torch.{fn.__name__}`"
        + (f", a drop-in for ``torch.nn.{torch_name}``" if torch_name else "")
        + f".\n\nConstructor: ``{name}{sig}``; ``forward`` takes the loss's tensors."
    )
    return type(
        name,
        (_BridgeLoss,),
        {
            "_fn": staticmethod(fn),
            "_sig": sig,
            "torch_name": torch_name,
            "__doc__": doc,
            "__module__": "fastloss.torch",
        },
    )


def make_modules(functions: dict, kl_div) -> dict:
    """loss name -> its class (``kl_div``: PyTorch's KLDivLoss, on log-probabilities)."""
    out = {}
    for loss, fn in functions.items():
        if loss in TORCH_CLASSES:
            name, params = TORCH_CLASSES[loss]
            out[loss] = _cls(name, fn, params, name)
        else:
            kw = [
                (p.name, p.default)
                for p in inspect.signature(fn).parameters.values()
                if p.kind == p.KEYWORD_ONLY
            ]
            out[loss] = _cls(OWN_CLASSES[loss], fn, kw)
    name, params = TORCH_CLASSES["kl_div"]
    out["kl_div"] = _cls(name, kl_div, params, name)
    return out
