"""Maths helpers of one element, usable in every kernel (CPU and CUDA).

Each is a plain Python function registered with ``register_jitable``: it pickles by
reference (so kernels that use it hit the disk cache) and the CUDA factory rebinds it as
a device function. Use ``math`` functions only.
"""

from __future__ import annotations

import math

from numba.extending import register_jitable


@register_jitable
def log1pexp(x):
    """softplus ``log(1 + exp(x))`` without overflow or loss of precision."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@register_jitable
def sigmoid(x):
    """``1 / (1 + exp(-x))`` stable for any ``x``."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@register_jitable
def sign(x):
    """-1, 0 or 1 (NaN stays NaN)."""
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x * 0.0


@register_jitable
def xlogy(x, y):
    """``x * log(y)`` with ``0 * log(0) = 0``."""
    if x == 0.0:
        return 0.0 * y
    return x * math.log(y)


HELPERS = {
    "log1pexp": log1pexp,
    "sigmoid": sigmoid,
    "sign": sign,
    "xlogy": xlogy,
}
