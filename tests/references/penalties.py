"""NumPy references for the penalties (per-weight terms, what ``reduction="none"``
returns) and for the proximal operators."""

import numpy as np


def l1_penalty(w):
    return np.abs(np.asarray(w, float))


def l2_penalty(w):
    return 0.5 * np.asarray(w, float) ** 2


def elastic_net(w, l1_ratio=0.5):
    w = np.asarray(w, float)
    return l1_ratio * np.abs(w) + 0.5 * (1.0 - l1_ratio) * w**2


def prox_l1(w, t):
    w = np.asarray(w)
    return np.sign(w) * np.maximum(np.abs(w) - t, 0)


def prox_elastic_net(w, t, l1_ratio=0.5):
    w = np.asarray(w)
    return prox_l1(w, t * l1_ratio) / (1.0 + t * (1.0 - l1_ratio))


REFERENCES = {
    "l1_penalty": l1_penalty,
    "l2_penalty": l2_penalty,
    "elastic_net": elastic_net,
}

PROX_REFERENCES = {"prox_l1": prox_l1, "prox_elastic_net": prox_elastic_net}

# (args, params, expected value with the default reduction "sum"), checked by hand
HAND_VALUES = {
    "l1_penalty": [((([1.0, -2.0, 0.0]),), {}, 3.0), (([[0.5, -0.5], [1.0, 0.0]],), {}, 2.0)],
    "l2_penalty": [(([1.0, -2.0],), {}, 2.5), (([3.0, 4.0],), {}, 12.5)],
    "elastic_net": [
        (([1.0, -2.0],), {}, 2.75),  # 0.5 * 3 + 0.25 * 5
        (([1.0, -2.0],), {"l1_ratio": 1.0}, 3.0),
        (([1.0, -2.0],), {"l1_ratio": 0.0}, 2.5),
    ],
}
