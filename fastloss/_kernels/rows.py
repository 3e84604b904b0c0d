"""CPU row-kernel factory (serial and parallel) built from one row function per loss.

A row-wise loss (cross-entropy, KL divergence, log loss on a probability matrix) sees its
differentiable input as ``N`` rows of ``C`` values. Its maths is one *row function*

    row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace) -> loss of the row (float64)

with ``x`` the row (a zero-based view), ``t`` the target row (probabilities; a length-1
dummy when the loss takes labels), ``lab`` the row's integer label (-1 when none), ``cw``
per-class weights (length-1 dummy when none), ``prm`` the loss's parameters as a tuple,
``gs`` the factor of this row's gradient (sample weight times 1/denominator for "mean"),
``g``/``h`` the gradient and Hessian-diagonal rows to write when ``wg``/``wh``, and
``inplace`` true when ``g`` is ``x`` itself (``out=y_pred``). Row functions use ``math``,
the helpers of :mod:`fastloss._kernels.scalar`, the row helpers below and plain loops (no
NumPy beyond scalar casts), so that a CUDA factory can compile the same function with its
own versions of the helpers (:func:`lse_row` keeps SIMD lanes in small local arrays: on a
GPU it would be a block-wide reduction).

The kernel runs the rows in a ``prange`` (parallel) or ``range`` (serial) loop and writes
one float64 per row; the caller reduces them with one NumPy sum, whatever the kernel: the
serial and the parallel kernel give the same bits for any thread count.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np
from numba import prange
from numba.extending import register_jitable

from . import scalar as _scalar_mod
from .compile import njit, source_hash
from .scalar import fexp, like

_this_mod = sys.modules[__name__]
_lock = threading.Lock()
_kernels: dict = {}


def row_kernel(row, *, parallel: bool, write_g: bool, write_h: bool, has_t: bool,
               has_lab: bool, has_sw: bool):
    """A kernel ``k(X, T, LAB, CW, SW, prm, scale, C, lout, gout, hout, inplace)``.

    ``X`` (and ``T``) are flat C-contiguous ``N * C`` arrays; ``LAB`` int64 labels; ``SW``
    float64 sample weights (each row's loss and gradient are multiplied by it). Writes
    ``sw * loss`` of each row to the float64 ``lout`` (the caller reduces it), the gradient
    rows to ``gout`` and the Hessian rows to ``hout``. One kernel serves every reduction.
    """
    key = (row, parallel, write_g, write_h, has_t, has_lab, has_sw)
    k = _kernels.get(key)
    if k is None:
        with _lock:
            k = _kernels.get(key)
            if k is None:
                k = _kernels[key] = _make(*key)
    return k


def _make(row, parallel, write_g, write_h, has_t, has_lab, has_sw):
    f = row
    # in the closure: an edited row function or helper invalidates the kernel on disk
    SRC = source_hash(row, _scalar_mod, _this_mod)  # noqa: F841
    PAR = parallel  # noqa: F841 (Numba's cache key ignores compile flags: keep them apart)
    WG, WH, HAS_T, HAS_LAB, HAS_SW = write_g, write_h, has_t, has_lab, has_sw

    def kernel(X, T, LAB, CW, SW, prm, scale, C, lout, gout, hout, inplace):
        SRC  # noqa: B018
        PAR  # noqa: B018
        N = X.shape[0] // C
        for r in prange(N):
            a = r * C
            x = X[a:a + C]
            t = T[a:a + C] if HAS_T else T[0:1]
            lab = LAB[r] if HAS_LAB else -1
            sw = SW[r] if HAS_SW else 1.0
            g = gout[a:a + C] if WG else gout[0:1]
            h = hout[a:a + C] if WH else hout[0:1]
            lout[r] = sw * f(x, t, lab, CW, prm, sw * scale, g, h, WG, WH, inplace)

    kernel.__name__ = kernel.__qualname__ = f"rows_{row.__name__}"
    return njit(kernel, parallel=parallel)


# ---------------------------------------------------------------------------------------
# Row helpers shared by row functions. Their bodies carry their own fastmath flags:
# "reassoc" only where a plain sum must vectorise, never around compensated arithmetic.

_FM = {"contract", "nsz"}
_FM_SUM = {"contract", "nsz", "reassoc"}
LANES = 32


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def lse_row_serial(x):
    """:func:`lse_row` in one lane: the online log-sum-exp of short rows, and the whole of
    it on targets without local arrays (CUDA: see :data:`PORTABLE`)."""
    ninf = like(x[0], -math.inf)
    zero = like(x[0], 0.0)
    m = ninf
    s = 0.0
    for j in range(x.shape[0]):
        v = x[j]
        d = v - m
        d = zero if v == m else d
        e = fexp(-abs(d))
        s = s * e + 1.0 if v > m else s + e
        m = max(m, v)
    return np.float64(m), math.log(s)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def lse_row(x):
    """``(m, log s)`` with ``logsumexp(x) = m + log s``, ``m = max(x)``, in one pass.

    An online log-sum-exp over ``LANES`` independent lanes (so that the loop vectorises):
    each lane keeps its running max ``M`` and the sum ``S`` of ``exp(x - M)``; a new value
    either adds ``exp(x - M)`` or, when it is the new max, rescales ``S`` by
    ``exp(M - x)``: one exp per element either way, ``exp(-|x - M|)``. ``S`` is float64.
    NaN propagates; ``-inf`` entries count zero; a row of ``-inf`` gives ``m = -inf``.
    """
    C = x.shape[0]
    if C < 2 * LANES:
        return lse_row_serial(x)
    ninf = like(x[0], -math.inf)
    zero = like(x[0], 0.0)
    M = np.full(LANES, ninf)
    S = np.zeros(LANES, np.float64)
    nb = C // LANES
    for b in range(nb):
        xb = x[b * LANES:(b + 1) * LANES]
        for k in range(LANES):
            v = xb[k]
            mk = M[k]
            d = v - mk
            d = zero if v == mk else d
            e = fexp(-abs(d))
            S[k] = S[k] * e + 1.0 if v > mk else S[k] + e
            M[k] = max(mk, v)
    for j in range(nb * LANES, C):  # the tail goes to lane 0
        v = x[j]
        mk = M[0]
        d = v - mk
        d = zero if v == mk else d
        e = fexp(-abs(d))
        S[0] = S[0] * e + 1.0 if v > mk else S[0] + e
        M[0] = max(mk, v)
    m = M[0]
    for k in range(1, LANES):
        m = max(m, M[k])
    s = 0.0
    for k in range(LANES):
        f = 1.0 if M[k] == m else math.exp(np.float64(M[k]) - np.float64(m))
        s += S[k] * f
    return np.float64(m), math.log(s)


@register_jitable(fastmath=_FM_SUM, error_model="numpy", forceinline=True)
def sum_shift(x, m):
    """``sum(m - x)`` (float64, vectorised)."""
    s = 0.0
    for j in range(x.shape[0]):
        s += m - np.float64(x[j])
    return s


@register_jitable(fastmath=_FM_SUM, error_model="numpy", forceinline=True)
def wsum_shift(w, x, m):
    """``sum(w * (m - x))`` (float64, vectorised)."""
    s = 0.0
    for j in range(x.shape[0]):
        s += w[j] * (m - np.float64(x[j]))
    return s


# The gradient loops come in pairs: from ``src`` into ``g``, and in place in ``g`` alone.
# Passing ``g`` twice to the first does not vectorise: the callee's loop is versioned on a
# runtime overlap check before it is inlined, and in place that check always fails.


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad(src, g, m, logs, ca, cu):
    """``g = ca * softmax(src) - cu``, ``softmax = exp((src - m) - logs)``, in ``src``'s
    precision."""
    x0 = src[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    u = like(x0, cu)
    for j in range(src.shape[0]):
        g[j] = a * fexp((src[j] - mm) - ls) - u


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_inplace(g, m, logs, ca, cu):
    """:func:`softmax_grad` with ``src`` = ``g``."""
    x0 = g[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    u = like(x0, cu)
    for j in range(g.shape[0]):
        g[j] = a * fexp((g[j] - mm) - ls) - u


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_w(src, g, m, logs, ca, cu, w):
    """``g = ca * softmax(src) - cu * w`` (``w`` float64 per class)."""
    x0 = src[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    for j in range(src.shape[0]):
        g[j] = a * fexp((src[j] - mm) - ls) - like(x0, cu * w[j])


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_w_inplace(g, m, logs, ca, cu, w):
    """:func:`softmax_grad_w` with ``src`` = ``g``."""
    x0 = g[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    for j in range(g.shape[0]):
        g[j] = a * fexp((g[j] - mm) - ls) - like(x0, cu * w[j])


# Twins for targets where a body above does not compile (CUDA has no np.full/np.zeros in
# device code): the CUDA factory rebinds these names to them.
PORTABLE = {"lse_row": lse_row_serial}
