"""NumPy references for the regression family, written from the formulas, not the kernels.

Each takes ``(y_true, y_pred, **params)`` as float64 arrays and returns the per-element
loss (before weighting and reduction).
"""

import numpy as np


def mse(y, p):
    return (p - y) ** 2


def mae(y, p):
    return np.abs(p - y)


def huber(y, p, delta=1.0):
    d = np.abs(p - y)
    return np.where(d <= delta, 0.5 * d**2, delta * (d - 0.5 * delta))


def smooth_l1(y, p, beta=1.0):
    d = np.abs(p - y)
    if beta == 0:
        return d
    return np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)


def log_cosh(y, p):
    d = p - y
    # log(cosh d) = logaddexp(d, -d) - log 2 for large |d|; log1p(cosh d - 1) near 0
    with np.errstate(over="ignore"):
        small = np.log1p(2 * np.sinh(d / 2) ** 2)
    return np.where(np.abs(d) < 1, small, np.logaddexp(d, -d) - np.log(2.0))


def quantile(y, p, quantile=0.5):
    diff = y - p
    return np.where(diff >= 0, quantile * diff, (quantile - 1) * diff)


def poisson_nll(y, p, log_input=True, full=False, eps=1e-8):
    if log_input:
        out = np.exp(p) - y * p
    else:
        out = p - y * np.log(p + eps)
    if full:
        with np.errstate(divide="ignore", invalid="ignore"):
            st = y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y)
        out = out + np.where(y > 1, st, 0.0)
    return out


def tweedie(y, p, power=1.5):
    mu = np.exp(p)
    if power == 0:
        return 0.5 * (mu - y) ** 2
    if power == 1:
        return mu - y * p
    if power == 2:
        return p + y / mu
    return mu ** (2 - power) / (2 - power) - y * mu ** (1 - power) / (1 - power)


def rmse(y, p):
    """Per-element squared error; the test takes the square root of its weighted mean."""
    return (p - y) ** 2


REFERENCES = {
    "mse": mse,
    "rmse": rmse,
    "mae": mae,
    "huber": huber,
    "smooth_l1": smooth_l1,
    "log_cosh": log_cosh,
    "quantile": quantile,
    "poisson_nll": poisson_nll,
    "tweedie": tweedie,
}

# (args, params, expected), worked out by hand.
HAND_VALUES = {
    "mse": [(([0.0, 1.0], [1.0, 3.0]), {}, 2.5)],  # (1 + 4) / 2
    "rmse": [(([0.0, 0.0], [3.0, 4.0]), {}, np.sqrt(12.5))],  # sqrt((9 + 16) / 2)
    "mae": [(([0.0, 1.0], [1.0, 3.0]), {}, 1.5)],
    # |d| = 0.5 -> 0.125 ; |d| = 3 -> 1 * (3 - 0.5) = 2.5 ; mean 1.3125
    "huber": [(([0.0, 0.0], [0.5, 3.0]), {"delta": 1.0}, 1.3125)],
    # beta = 2: |d| = 1 -> 0.25 ; |d| = 4 -> 4 - 1 = 3 ; mean 1.625
    "smooth_l1": [(([0.0, 0.0], [1.0, -4.0]), {"beta": 2.0}, 1.625)],
    "log_cosh": [(([0.0], [0.0]), {}, 0.0), (([0.0], [1.0]), {}, np.log(np.cosh(1.0)))],
    # q = 0.9: y - p = 2 -> 1.8 ; y - p = -1 -> 0.1 ; mean 0.95
    "quantile": [(([2.0, 0.0], [0.0, 1.0]), {"quantile": 0.9}, 0.95)],
    # log input: exp(0) - 3 * 0 = 1 ; exp(log 2) - 1 * log 2 = 2 - log 2
    "poisson_nll": [(([3.0, 1.0], [0.0, np.log(2.0)]), {}, (1 + 2 - np.log(2.0)) / 2)],
    # power 1.5, raw 0: 1/0.5 - y * 1/(-0.5) = 2 + 2y ; y = 1 -> 4
    "tweedie": [(([1.0], [0.0]), {"power": 1.5}, 4.0)],
}
