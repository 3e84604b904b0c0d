"""The four kinds of loss. Each kind module has ``fast(spec, op, args, kw)`` (the result of
a common call in microseconds, or None) and ``call(spec, op, args, kw)`` (any call: every
check, then one pass through an executor).

* ``pointwise``: one term per element (``spec.scalar``); ``rmse`` is its mse and a root;
* ``rowwise``: one term per row of class scores (``spec.row``, ``spec.prepare``);
* ``terms``: a sum over input arrays of a declared pointwise term (GAN losses, penalties);
* ``matrix``: a program over row bodies and matrix products (contrastive, fused linear).
"""

from __future__ import annotations

from . import multi, pointwise, rowwise

KINDS = {"pointwise": pointwise, "rowwise": rowwise, "terms": multi, "matrix": multi}


def _no_fast(spec, op, args, kw):
    return None


FAST = {"pointwise": pointwise.fast, "rowwise": rowwise.fast, "terms": multi.fast,
        "matrix": _no_fast}
