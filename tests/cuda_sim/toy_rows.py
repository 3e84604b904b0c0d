"""A row function written like the CPU ones (``math``, plain loops, zero-based row views), for
testing the CUDA row-kernel factory before the row-wise losses use it."""

from __future__ import annotations

import math

from fastloss._kernels.scalar import log1pexp


def toy_ce_row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w):
    C = x.shape[0]
    m = x[0]
    for j in range(1, C):
        m = max(m, x[j])
    s = 0.0
    for j in range(C):
        s += math.exp(x[j] - m)
    lse = m + math.log(s)
    xl = x[lab]
    if wg or wh:
        for j in range(C):
            p = math.exp(x[j] - lse)
            if wh:
                h[j] = gs * p * (1.0 - p)
            if wg:
                g[j] = gs * (p - (1.0 if j == lab else 0.0))
    # a fastloss helper in a row function is rebound to its device version
    return lse - xl + 0.0 * log1pexp(prm[0])
