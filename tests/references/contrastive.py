"""NumPy references for the contrastive losses, written from their definitions.

Each reference returns what ``reduction="none"`` returns: one loss per anchor (row). Rows
are normalised as ``torch.nn.functional.normalize`` does: ``x / max(||x||, 1e-12)``.
"""

import numpy as np


def _normalize(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))).squeeze(axis)


def info_nce(query, key, temperature=0.1):
    s = _normalize(query) @ _normalize(key).T / temperature
    return _logsumexp(s, 1) - np.diag(s)


def nt_xent(z1, z2, temperature=0.5):
    n = np.asarray(z1).shape[0]
    z = _normalize(np.concatenate([np.asarray(z1, float), np.asarray(z2, float)]))
    s = z @ z.T / temperature
    np.fill_diagonal(s, -np.inf)
    pos = np.concatenate([np.arange(n, 2 * n), np.arange(0, n)])
    return _logsumexp(s, 1) - s[np.arange(2 * n), pos]


def _dist(x, y, p, eps):
    u = np.asarray(x, float) - np.asarray(y, float) + eps
    return np.sum(np.abs(u) ** p, axis=-1) ** (1.0 / p)


def triplet_margin(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False):
    dap = _dist(anchor, positive, p, eps)
    dan = _dist(anchor, negative, p, eps)
    if swap:
        dan = np.minimum(dan, _dist(positive, negative, p, eps))
    return np.maximum(margin + dap - dan, 0.0)


def cosine_embedding(x1, x2, y, margin=0.0):
    x1 = np.asarray(x1, float)
    x2 = np.asarray(x2, float)
    cos = np.sum(x1 * x2, -1) / np.sqrt((np.sum(x1 * x1, -1) + 1e-12)
                                        * (np.sum(x2 * x2, -1) + 1e-12))
    return np.where(np.asarray(y) == 1, 1.0 - cos, np.maximum(cos - margin, 0.0))


REFERENCES = {
    "info_nce": info_nce,
    "nt_xent": nt_xent,
    "triplet_margin": triplet_margin,
    "cosine_embedding": cosine_embedding,
}

_I2 = [[1.0, 0.0], [0.0, 1.0]]

# (args, params, expected value with the default reduction "mean"), checked by hand; the
# 1e-12 that torch's cosine_embedding_loss adds inside the norms moves some by < 1e-12
HAND_VALUES = {
    "info_nce": [
        # each row: logsumexp(1, 0) - 1 = log(1 + e^-1)
        ((_I2, _I2), {"temperature": 1.0}, 0.31326168751822286),
        # scaling the embeddings changes nothing (cosines)
        (([[3.0, 0.0], [0.0, 0.5]], _I2), {"temperature": 1.0}, 0.31326168751822286),
    ],
    "nt_xent": [
        (([[1.0, 0.0]], [[1.0, 0.0]]), {}, 0.0),  # one other view: it is the positive
        # 4 views, each anchor sees cosines (0, 1, 0): log(2 + e) - 1
        ((_I2, _I2), {"temperature": 1.0}, 0.5514447139320511),
    ],
    "triplet_margin": [
        (([[0.0, 0.0]], [[1.0, 0.0]], [[3.0, 0.0]]), {"eps": 0.0}, 0.0),
        (([[0.0, 0.0]], [[1.0, 0.0]], [[1.5, 0.0]]), {"eps": 0.0}, 0.5),
        (([[0.0, 0.0]], [[1.0, 1.0]], [[2.0, 2.0]]), {"eps": 0.0, "p": 1.0, "margin": 3.0}, 1.0),
        (([[0.0, 0.0]], [[2.0, 0.0]], [[2.5, 0.0]]), {"eps": 0.0}, 0.5),
        (([[0.0, 0.0]], [[2.0, 0.0]], [[2.5, 0.0]]), {"eps": 0.0, "swap": True}, 2.5),
    ],
    "cosine_embedding": [
        (([[1.0, 0.0]], [[0.0, 1.0]], [1]), {}, 1.0),
        (([[1.0, 0.0]], [[0.0, 1.0]], [-1]), {}, 0.0),
        (([[2.0, 0.0]], [[3.0, 0.0]], [1]), {}, 0.0),  # up to the 1e-12 inside the norms
        (([[1.0, 0.0]], [[1.0, 1.0]], [-1]), {"margin": 0.5}, 0.20710678118654757),  # idem
    ],
}
