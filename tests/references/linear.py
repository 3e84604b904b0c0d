"""NumPy reference for the fused linear + cross-entropy, written apart from the kernels:
the (N, V) logits in full, then the per-row terms of the loss."""

import numpy as np


def linear_cross_entropy(
    y,
    hidden,
    weight,
    bias=None,
    class_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
):
    """Per-row values ``l_i`` (0 for ignored rows), before any sample weight or reduction."""
    h = np.asarray(hidden, np.float64)
    w = np.asarray(weight, np.float64)
    z = h @ w.T
    if bias is not None:
        z = z + np.asarray(bias, np.float64)
    if softcap is not None:
        z = softcap * np.tanh(z / softcap)
    y = np.asarray(y)
    N, V = z.shape
    cw = np.ones(V) if class_weight is None else np.asarray(class_weight, np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    nll = lse[:, None] - z  # -log softmax
    kept = y != ignore_index
    yk = np.where(kept, y, 0)
    eps = label_smoothing
    rows = (
        (1 - eps) * cw[yk] * nll[np.arange(N), yk]
        + eps / V * (nll * cw).sum(axis=1)
        + z_loss * lse**2
    )
    return np.where(kept, rows, 0.0)


REFERENCES = {"linear_cross_entropy": linear_cross_entropy}

# (args, params, expected value with the default reduction "mean"), checked by hand
HAND_VALUES = {
    "linear_cross_entropy": [
        (([0], [[1.0]], [[0.0], [0.0]]), {}, 0.6931471805599453),  # logits (0, 0): log 2
        # logits (0, 1), label 1: log(1 + e^-1)
        (([1], [[1.0]], [[0.0], [1.0]]), {}, 0.31326168751822286),
        # the bias gives the same logits
        (([1], [[1.0]], [[0.0], [0.0]], [0.0, 1.0]), {}, 0.31326168751822286),
        # + 0.1 lse^2, lse = log(1 + e)
        (([1], [[1.0]], [[0.0], [1.0]]), {"z_loss": 0.1}, 0.4857273135085439),
        # softcap 1: logits (0, tanh 1)
        (([1], [[1.0]], [[0.0], [1.0]]), {"softcap": 1.0}, 0.38316597879371517),
        # the ignored row counts for nothing
        (([1, -100], [[1.0], [5.0]], [[0.0], [1.0]]), {}, 0.31326168751822286),
    ],
}
