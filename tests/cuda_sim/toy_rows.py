"""A row function written like the CPU ones (``math``, plain loops, zero-based row views)
and the cooperative row helpers (``cols``, ``row_total``, ``row_sync``, ``lse_row``), for
testing the CUDA row-kernel factory apart from the row-wise losses."""

from __future__ import annotations

import math

from fastloss._kernels.rows import cols, lse_row, row_sync, row_total
from fastloss._kernels.scalar import log1pexp


def toy_ce_row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w):
    C = x.shape[0]
    m, logs = lse_row(x, w)  # the row's threads together (CUDA: one row per block)
    lse = m + logs
    s = 0.0
    for j in cols(C):  # this thread's columns ...
        s += math.exp(x[j] - lse)
    s = row_total(s, w)  # ... then the whole row's sum (1 up to rounding)
    xl = x[lab]
    if inplace:  # other threads may still read x[lab]
        row_sync()
    if wg or wh:
        for j in cols(C):
            p = math.exp(x[j] - lse) / s
            if wh:
                h[j] = gs * p * (1.0 - p)
            if wg:
                g[j] = gs * (p - (1.0 if j == lab else 0.0))
    # a fastloss helper in a row function is rebound to its device version
    return lse - xl + 0.0 * log1pexp(prm[0])
