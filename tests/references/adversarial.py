"""NumPy references for the adversarial (GAN) losses, written from the formulas of their
API pages (the specs' ``formula`` fields, shown in docs/api/adversarial).

Each reference returns what ``reduction="none"`` returns: the per-element terms, as a tuple
``(real_terms, fake_terms)`` for losses of two arrays. ``sp`` is ``np.logaddexp(0, x)``.
"""

import numpy as np


def _sp(x):
    return np.logaddexp(0.0, np.asarray(x, dtype=np.float64))


def _f(x):
    return np.asarray(x, dtype=np.float64)


def gan_discriminator(real_logits, fake_logits, kind="standard"):
    r, f = _f(real_logits), _f(fake_logits)
    if kind == "standard":
        return _sp(-r), _sp(f)
    if kind == "least_squares":
        return 0.5 * (r - 1.0) ** 2, 0.5 * f**2
    if kind == "hinge":
        return np.maximum(1.0 - r, 0.0), np.maximum(1.0 + f, 0.0)
    if kind == "wasserstein":
        return -r, f
    raise ValueError(kind)


def gan_generator(fake_logits, kind="non_saturating"):
    f = _f(fake_logits)
    if kind == "non_saturating":
        return _sp(-f)
    if kind == "minimax":
        return -_sp(f)
    if kind == "least_squares":
        return 0.5 * (f - 1.0) ** 2
    if kind in ("hinge", "wasserstein"):
        return -f
    raise ValueError(kind)


def adversarial_value(real_logits, fake_logits):
    # log D(x) = log sigmoid(r) = -sp(-r); log(1 - D(G(z))) = log sigmoid(-f) = -sp(f)
    return -_sp(-_f(real_logits)), -_sp(_f(fake_logits))


REFERENCES = {
    "gan_discriminator": gan_discriminator,
    "gan_generator": gan_generator,
    "adversarial_value": adversarial_value,
}

LOG2 = 0.6931471805599453

# (args, params, expected value with the default reduction "mean"), checked by hand
HAND_VALUES = {
    "gan_discriminator": [
        (([0.0], [0.0]), {}, 2 * LOG2),  # log 2 + log 2
        (([0.0, 0.0, 0.0], [0.0]), {}, 2 * LOG2),  # means taken per batch
        (([2.0], [-2.0]), {"kind": "hinge"}, 0.0),
        (([0.5], [0.5]), {"kind": "hinge"}, 2.0),  # 0.5 + 1.5
        (([1.0], [0.0]), {"kind": "least_squares"}, 0.0),
        (([0.0], [1.0]), {"kind": "least_squares"}, 1.0),  # 0.5 + 0.5
        (([1.0, 3.0], [2.0]), {"kind": "wasserstein"}, 0.0),  # 2 - 2
        (([1.0, 3.0], [5.0, 7.0]), {"kind": "wasserstein"}, 4.0),  # 6 - 2
    ],
    "gan_generator": [
        (([0.0],), {}, LOG2),
        (([0.0],), {"kind": "minimax"}, -LOG2),
        (([3.0],), {"kind": "least_squares"}, 2.0),
        (([2.0, 4.0],), {"kind": "hinge"}, -3.0),
        (([2.0, 4.0],), {"kind": "wasserstein"}, -3.0),
        (([1000.0],), {}, 0.0),  # sp(-1000) underflows to exactly 0
        (([-1000.0],), {}, 1000.0),  # sp(1000) = 1000, no overflow
    ],
    "adversarial_value": [
        (([0.0], [0.0]), {}, -4 * LOG2 / 2),  # log(1/2) + log(1/2) = -log 4
        (([-1000.0], [1000.0]), {}, -2000.0),  # the naive log(sigmoid) gives -inf here
    ],
}
