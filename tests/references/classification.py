"""NumPy references of the classification family, written from the formulas (not from the
kernels).

Pointwise losses: ``REFERENCES[name](y_true, y_pred, **params)`` gives the per-element
values. Row-wise losses give one value per row *before* the reduction, class weights
included (what ``reduction="none"`` returns without sample weights); the denominators of
``"mean"`` are in :func:`cross_entropy_mean_denominator`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logsumexp, xlogy


def binary_cross_entropy(y, p):
    y, p = np.asarray(y, float), np.asarray(p, float)
    with np.errstate(divide="ignore"):
        return -(y * np.maximum(np.log(p), -100.0) + (1 - y) * np.maximum(np.log1p(-p), -100.0))


def binary_cross_entropy_with_logits(y, x, pos_weight=None):
    y, x = np.asarray(y, float), np.asarray(x, float)
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight, float)
    # softplus written with logaddexp: l = pw y softplus(-x) + (1 - y) softplus(x)
    return pw * y * np.logaddexp(0.0, -x) + (1 - y) * np.logaddexp(0.0, x)


def focal(y, x, alpha=0.25, gamma=2.0):
    y, x = np.asarray(y, float), np.asarray(x, float)
    p = expit(x)
    ce = binary_cross_entropy_with_logits(y, x)
    pt = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - pt) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _signs(y):
    y = np.asarray(y, float)
    return np.where(y > 0, 1.0, -1.0)


def hinge(y, p):
    return np.maximum(0.0, 1.0 - _signs(y) * np.asarray(p, float))


def squared_hinge(y, p):
    return hinge(y, p) ** 2


def cross_entropy(y, x, class_weight=None, ignore_index=-100, label_smoothing=0.0):
    """Per-row loss (PyTorch's reduction='none' semantics, class weights included)."""
    x = np.asarray(x, float)
    y = np.asarray(y)
    N, C = x.shape
    logp = x - logsumexp(x, axis=1, keepdims=True)
    w = np.ones(C) if class_weight is None else np.asarray(class_weight, float)
    eps = label_smoothing
    if y.shape == x.shape:  # probability targets
        t = (1 - eps) * np.asarray(y, float) + eps / C
        return -(t * w * logp).sum(axis=1)
    kept = y != ignore_index
    yy = np.where(kept, y, 0)
    nll = -w[yy] * logp[np.arange(N), yy]
    smooth = -(w * logp).sum(axis=1)
    return np.where(kept, (1 - eps) * nll + eps / C * smooth, 0.0)


def cross_entropy_mean_denominator(y, x, class_weight=None, ignore_index=-100,
                                   sample_weight=None):
    x = np.asarray(x, float)
    y = np.asarray(y)
    s = np.ones(x.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    if y.shape == x.shape:
        return s.sum()
    w = np.ones(x.shape[1]) if class_weight is None else np.asarray(class_weight, float)
    kept = y != ignore_index
    return (s * np.where(kept, w[np.where(kept, y, 0)], 0.0)).sum()


def kl_divergence(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xlogy(p, p) - xlogy(p, q)).sum(axis=1)


def log_loss(y, q):
    q = np.asarray(q, float)
    y = np.asarray(y)
    eps = np.finfo(np.asarray(q).dtype if np.asarray(q).dtype.kind == "f" else float).eps
    if q.ndim == 1:
        q = np.stack([1 - q, q], axis=1)
    q = np.clip(q, eps, 1 - eps)
    return -np.log(q[np.arange(len(y)), y])


REFERENCES = {
    "binary_cross_entropy": binary_cross_entropy,
    "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
    "focal": focal,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "cross_entropy": cross_entropy,
    "kl_divergence": kl_divergence,
    "log_loss": log_loss,
}

_L2 = np.log(2.0)

# (args, params, expected value with the default reduction "mean"), worked out by hand.
HAND_VALUES = {
    "binary_cross_entropy": [
        (([1.0], [0.5]), {}, _L2),
        (([0.0, 1.0], [0.5, 1.0]), {}, _L2 / 2),
        (([1.0], [0.0]), {}, 100.0),  # log clamped at -100
    ],
    "binary_cross_entropy_with_logits": [
        (([1.0], [0.0]), {}, _L2),
        (([0.0, 1.0], [0.0, 0.0]), {"pos_weight": 2.0}, 1.5 * _L2),
    ],
    "focal": [
        # p = 1/2: (1 - p_t)^2 = 1/4, alpha_t = 1/4, ce = log 2
        (([1.0], [0.0]), {}, _L2 / 16),
        (([0.0], [0.0]), {"alpha": -1.0, "gamma": 0.0}, _L2),
    ],
    "hinge": [
        (([1, 0], [0.5, 0.5]), {}, 1.0),
        (([-1, 1], [2.0, 2.0]), {}, 1.5),
    ],
    "squared_hinge": [
        (([1, -1], [0.5, 0.5]), {}, 1.25),
    ],
    "cross_entropy": [
        (([0], [[0.0, 0.0]]), {}, _L2),
        (([1], [[0.0, np.log(3.0)]]), {}, np.log(4.0 / 3.0)),
        (([1, -100], [[0.0, np.log(3.0)], [5.0, 1.0]]), {}, np.log(4.0 / 3.0)),
    ],
    "kl_divergence": [
        (([[0.5, 0.5]], [[0.25, 0.75]]), {}, 0.5 * np.log(4.0 / 3.0)),
        (([[1.0, 0.0]], [[0.5, 0.5]]), {}, _L2),  # 0 log 0 = 0
    ],
    "log_loss": [
        (([1, 0], [0.8, 0.3]), {}, -(np.log(0.8) + np.log(0.7)) / 2),
        (([2], [[0.2, 0.3, 0.5]]), {}, _L2),
    ],
}
