"""CPU row-kernel factory (serial and parallel) built from one row function per loss.

A row-wise loss (cross-entropy, KL divergence, log loss on a probability matrix) sees its
differentiable input as ``N`` rows of ``C`` values. Its maths is one *row function*

    row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w) -> loss of the row (float64)

with ``x`` the row (a zero-based view), ``t`` the target row (probabilities; when the loss
takes labels, a dummy not to be read: empty on the CPU), ``lab`` the row's integer label
(-1 when none), ``cw`` per-class weights (length-1 dummy when none), ``prm`` the loss's
parameters as a tuple,
``gs`` the factor of this row's gradient (sample weight times 1/denominator for "mean"),
``g``/``h`` the gradient and Hessian-diagonal rows to write when ``wg``/``wh``, and
``inplace`` true when ``g`` is ``x`` itself (``out=y_pred``), and ``w`` a float64 scratch
of :data:`SCRATCH` values (on CUDA a shared scratch of the block's reductions). Row
functions use ``math``, the helpers of :mod:`fastloss._kernels.scalar`, the row helpers
below and plain loops over :func:`cols` (no NumPy beyond scalar casts), and open with
``wide_vectors()`` when they hold a loop (as the row helpers do), so that a CUDA
factory can compile the same function with its own versions of the helpers: one row per
block there, the cooperative primitives below (:func:`cols`, :func:`row_total`,
:func:`row_sync`, :func:`owns`) and the row helpers becoming block-wide.

The kernel runs tasks of :data:`ROWS_PER_TASK` rows (each allocates one scratch) in a
``prange`` (parallel) or ``range`` (serial) loop and writes
one float64 per row; the caller reduces them with one NumPy sum, whatever the kernel: the
serial and the parallel kernel give the same bits for any thread count.
"""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import numpy as np
from numba import prange, types
from numba.extending import overload, register_jitable

from . import lanes as _lanes_mod
from . import scalar as _scalar_mod
from . import sums as _sums_mod
from .compile import KERNELS, borrowed, memo, njit, source_hash, wide_vectors
from .lanes import contiguous_row, keymax, shift32, sum32, wshift32
from .scalar import fexp, like, single


class RowArgs(NamedTuple):
    """The arguments of a :func:`row_kernel` kernel, by name (in its order)."""

    X: object  # flat (N * C) scores
    T: object  # flat target probabilities
    LAB: object  # int64 labels
    CW: object  # float64 class weights
    SW: object  # float64 sample weights
    prm: tuple  # the loss's row parameters
    scale: float  # multiplies the gradient
    C: int  # row length
    lout: object  # float64 value of each row (times its weight)
    gout: object  # gradient
    hout: object  # Hessian diagonal
    inplace: bool  # gout is X itself


def row_kernel(row, *, parallel: bool, write_g: bool, write_h: bool, has_t: bool,
               has_lab: bool, has_sw: bool):
    """A kernel ``k(X, T, LAB, CW, SW, prm, scale, C, lout, gout, hout, inplace) -> float``.

    ``X`` (and ``T``) are flat C-contiguous ``N * C`` arrays; ``LAB`` int64 labels; ``SW``
    float64 sample weights (each row's loss and gradient are multiplied by it). Writes
    ``sw * loss`` of each row to the float64 ``lout``, the gradient rows to ``gout`` and the
    Hessian rows to ``hout``, and returns the sum of ``lout`` in NumPy's pairwise order
    (:func:`fastloss._kernels.sums.pairwise`). One kernel serves every reduction. ``T``,
    ``LAB`` and ``SW`` may be None where the kernel does not read them (cheaper to pass
    than a dummy array).
    """
    key = (row, parallel, write_g, write_h, has_t, has_lab, has_sw)
    return KERNELS.get(("rows",) + key) or memo(("rows",) + key, lambda: _make(*key))


def _make(row, parallel, write_g, write_h, has_t, has_lab, has_sw):
    f = row
    # in the closure: an edited row function or helper invalidates the kernel on disk
    SRC = source_hash(row, _scalar_mod, _lanes_mod, _sums_mod,  # noqa: F841
                      inspect.getmodule(_make))
    PAR = parallel  # noqa: F841 (Numba's cache key ignores compile flags: keep them apart)
    WG, WH, HAS_T, HAS_LAB, HAS_SW = write_g, write_h, has_t, has_lab, has_sw

    def kernel(X, T, LAB, CW, SW, prm, scale, C, lout, gout, hout, inplace):
        SRC  # noqa: B018
        PAR  # noqa: B018
        N = X.shape[0] // C
        nq = (N + ROWS_PER_TASK - 1) // ROWS_PER_TASK
        # borrowed: the views of a row cost no atomic reference counting (the caller holds
        # these arrays for the whole call)
        X = borrowed(X)
        if HAS_T:
            T = borrowed(T)
        gout = borrowed(gout)
        hout = borrowed(hout)
        CW = borrowed(CW)
        for q in prange(nq):
            wide_vectors()
            w = np.empty(SCRATCH, np.float64)
            for r in range(q * ROWS_PER_TASK, min((q + 1) * ROWS_PER_TASK, N)):
                a = r * C
                x = X[a:a + C]
                t = T[a:a + C] if HAS_T else X[0:0]
                lab = LAB[r] if HAS_LAB else -1
                sw = SW[r] if HAS_SW else 1.0
                g = gout[a:a + C] if WG else gout[0:1]
                h = hout[a:a + C] if WH else hout[0:1]
                lout[r] = sw * f(x, t, lab, CW, prm, sw * scale, g, h, WG, WH, inplace,
                                 borrowed(w))  # (w: held by the task)
        return _sums_mod.pairwise(lout)

    kernel.__name__ = kernel.__qualname__ = f"rows_{row.__name__}"
    return njit(kernel, parallel=parallel)


def _labels_in_range(lab, C):
    for i in range(lab.shape[0]):
        if lab[i] < 0 or lab[i] >= C:
            return False
    return True


labels_in_range = njit(_labels_in_range)
"""True when every int64 label lies in ``[0, C)`` (a fast path's check; the full road
names a bad label)."""


# ---------------------------------------------------------------------------------------
# Row helpers shared by row functions. Their bodies carry their own fastmath flags, never
# "reassoc": a sum's order is written out (lse_row, sum_shift: the lanes of
# fastloss._kernels.lanes), so it cannot change with the build or the SIMD width.

_FM = {"contract", "nsz"}
BLOCK = 1024  # values per block of lse_row
SHORT = 16  # rows shorter than this: lse_row sums in order (less fixed cost than lanes)
SCRATCH = BLOCK + BLOCK // 2  # float64 scratch per task (lse_row uses BLOCK of it)
ROWS_PER_TASK = 16  # rows per parallel task, which allocates one scratch


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def lse_row_serial(x, w):
    """:func:`lse_row` in one lane (no scratch: ``w`` is unused), an online log-sum-exp
    for targets without local arrays (CUDA: see :data:`PORTABLE`)."""
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
def _float_max(x):
    """``max(x)`` of a short non-empty row by float compares (a NaN is skipped unless it is
    ``x[0]``; it propagates through the sum of exponentials anyway)."""
    wide_vectors()
    m = x[0]
    for j in range(1, x.shape[0]):
        v = x[j]
        m = v if v > m else m
    return m


def _key_max(xb):
    """``max(xb)`` of a non-empty float array, computed on the floats' bits read as signed
    integers with the negative ones' magnitude bits flipped (an order-preserving map), so
    that the reduction is an integer max that LLVM vectorises without fast-math flags. A
    positive NaN is above ``+inf`` (it comes back); any NaN propagates anyway through the
    sum of exponentials that follows."""
    raise NotImplementedError


@overload(_key_max, jit_options={"fastmath": _FM, "error_model": "numpy",
                                 "forceinline": True})
def _key_max_ov(xb):
    if contiguous_row(xb):  # vector IR (LLVM's own loop leaves a scalar tail of up to 63)
        return lambda xb: keymax(xb)
    # Numba widens int32 arithmetic to int64: every step is cast back so the lanes stay
    # 32 bits wide
    if xb.dtype.bitwidth == 32:
        def impl(xb):
            wide_vectors()
            xi = xb.view(np.int32)
            km = np.int32(-2147483648)
            for j in range(xi.shape[0]):
                b = xi[j]
                k = np.int32(b ^ np.int32(np.int32(b >> 31) & np.int32(0x7FFFFFFF)))
                km = k if k > km else km
            b = np.int32(km ^ np.int32(np.int32(km >> 31) & np.int32(0x7FFFFFFF)))
            return b.view(np.float32)
    else:
        def impl(xb):
            wide_vectors()
            xi = xb.view(np.int64)
            km = np.int64(-9223372036854775807 - 1)
            for j in range(xi.shape[0]):
                b = xi[j]
                k = b ^ ((b >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))
                km = k if k > km else km
            return np.int64(km ^ ((km >> 63) & np.int64(0x7FFFFFFFFFFFFFFF))).view(np.float64)
    return impl


def scratch_like(w, x0):
    """The float64 scratch ``w`` seen as an array of ``x0``'s precision (float32: twice as
    many values)."""
    return w.view(np.float32) if isinstance(x0, np.float32) else w


@overload(scratch_like, jit_options={"forceinline": True})
def _scratch_like_ov(w, x0):
    if isinstance(x0, types.Float) and x0.bitwidth == 32:
        return lambda w, x0: w.view(np.float32)
    return lambda w, x0: w


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _exp_shift_loop(xb, e, m, a, b):
    """``e[j] = exp(xb[j] - m)`` for ``j`` in ``[a, b)``, in ``xb``'s precision (``exp(0)``
    where ``xb[j] == m``, so that a row of ``-inf`` or one ``+inf`` counts 1 rather than
    NaN)."""
    wide_vectors()
    zero = like(xb[0], 0.0)
    for k in range(b - a):
        j = np.uint64(a + k)  # (unsigned: no wraparound select, which defeats the vectors)
        v = xb[j]
        d = v - m
        d = zero if v == m else d
        e[j] = fexp(d)


@register_jitable(forceinline=True)
def _exp_shift(xb, e, m):
    """:func:`_exp_shift_loop` over all of ``xb`` in whole vectors (:func:`vector_split`;
    a remainder of 1-3 float32 values or one float64 costs less in scalar code)."""
    n1, a2 = vector_split(xb, 4, 2)
    for part in range(1 if a2 < 0 else 2):  # (one copy of the loop: less fixed cost)
        _exp_shift_loop(xb, e, m, 0 if part == 0 else a2, n1 if part == 0 else xb.shape[0])


@register_jitable(forceinline=True)
def vector_split(x, r32, r64):
    """``(n1, a2)``: a loop over ``x`` (``n`` values) as whole vectors of ``V`` values (the
    values in 64 bytes) in two loops, ``[0, n1)`` and ``[a2, n)`` (``a2 = n - V``: the
    last vector again, over the remainder; ``a2 = -1``: no second loop). An element
    computed twice gets the same bits, whatever the vector width. LLVM's own vector loop
    ends in a scalar loop over the remainder, where one float64 exp costs about as much as
    a vector of eight. A remainder under ``r32`` float32 (``r64`` float64) values, or
    ``n < V``, stays in that scalar loop."""
    n = x.shape[0]
    V = 16 if single(x[0]) else 8
    r = n % V
    if r < (r32 if V == 16 else r64) or n < V:
        return n, -1
    return n - r, n - V


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def lse_row(x, w):
    """``(m, log s)`` with ``logsumexp(x) = m + log s``, ``m = max(x)``, in one pass over
    the row (blocks of ``BLOCK`` values, each read twice from L1 cache).

    An online log-sum-exp by blocks: the block's max (an integer max over the bits, see
    :func:`_key_max`), a rescale of the running sum by ``exp(m_old - m_new)`` when the max
    grows, the block's ``exp(x - m)`` written to the scratch ``w`` (``w[:BLOCK]`` in x's
    precision) and added in float64 in 32 lanes (:func:`~fastloss._kernels.lanes.sum32`).
    Every loop vectorises and the order of every sum is fixed by ``C`` alone. For a row of at most
    ``BLOCK`` values ``w[:C]`` keeps ``exp(x - m)`` for the gradient. NaN propagates;
    ``-inf`` entries count zero; a row of ``-inf`` gives ``m = -inf``. Rows of fewer than
    :data:`SHORT` values take a float max and a sum in order instead (their exps are
    still one vectorised loop, kept in ``w`` too).
    """
    C = x.shape[0]
    e = scratch_like(w, x[0])[:BLOCK]  # in x's precision
    if C < SHORT:  # a float max and a sum in order: less fixed cost than the lanes
        m = _float_max(x)
        _exp_shift(x, e, m)
        s = 0.0
        for j in range(C):
            s += np.float64(e[j])
        return np.float64(m), math.log(s)
    if C <= BLOCK:  # one block, without the running rescale
        m = _key_max(x)
        _exp_shift(x, e, m)
        return np.float64(m), math.log(sum32(e, C))
    m = like(x[0], -math.inf)
    s = 0.0
    for lo in range(0, C, BLOCK):
        xb = x[lo:min(lo + BLOCK, C)]
        bm = _key_max(xb)
        if bm > m:
            s *= fexp(np.float64(m) - np.float64(bm))
            m = bm
        _exp_shift(xb, e, m)
        s += sum32(e, xb.shape[0])
    return np.float64(m), math.log(s)


def sum_shift(x, m):
    """``sum(m - x)`` in float64: in 32 lanes (:mod:`~fastloss._kernels.lanes`' order) on
    the CPU; this thread's columns in order on CUDA (see :func:`cols`)."""
    raise NotImplementedError


def wsum_shift(w, x, m):
    """``sum(w * (m - x))`` in float64, as :func:`sum_shift`."""
    raise NotImplementedError


@register_jitable(forceinline=True)
def _sum_shift_cols(x, m):
    s = 0.0
    for j in cols(x.shape[0]):
        s += m - np.float64(x[j])
    return s


@register_jitable(forceinline=True)
def _wsum_shift_cols(w, x, m):
    s = 0.0
    for j in cols(x.shape[0]):
        s += w[j] * (m - np.float64(x[j]))
    return s


@overload(sum_shift, jit_options={"forceinline": True})
def _sum_shift_ov(x, m):
    if contiguous_row(x):
        return lambda x, m: shift32(x, x, np.float64(m))
    return lambda x, m: _sum_shift_cols(x, m)


@overload(wsum_shift, jit_options={"forceinline": True})
def _wsum_shift_ov(w, x, m):
    if contiguous_row(w) and contiguous_row(x):
        return lambda w, x, m: wshift32(w[:x.shape[0]], x, np.float64(m))
    return lambda w, x, m: _wsum_shift_cols(w, x, m)


# The gradient loops come in pairs: from ``src`` into ``g``, and in place in ``g`` alone.
# Passing ``g`` twice to the first does not vectorise: the callee's loop is versioned on a
# runtime overlap check before it is inlined, and in place that check always fails.


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad(src, g, m, logs, ca, cu):
    """``g = ca * softmax(src) - cu``, ``softmax = exp((src - m) - logs)``, in ``src``'s
    precision."""
    wide_vectors()
    x0 = src[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    u = like(x0, cu)
    for j in cols(src.shape[0]):
        g[j] = a * fexp((src[j] - mm) - ls) - u


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_inplace(g, m, logs, ca, cu):
    """:func:`softmax_grad` with ``src`` = ``g``."""
    wide_vectors()
    x0 = g[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    u = like(x0, cu)
    for j in cols(g.shape[0]):
        g[j] = a * fexp((g[j] - mm) - ls) - u


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_w(src, g, m, logs, ca, cu, w):
    """``g = ca * softmax(src) - cu * w`` (``w`` float64 per class)."""
    wide_vectors()
    x0 = src[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    for j in cols(src.shape[0]):
        g[j] = a * fexp((src[j] - mm) - ls) - like(x0, cu * w[j])


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_w_inplace(g, m, logs, ca, cu, w):
    """:func:`softmax_grad_w` with ``src`` = ``g``."""
    wide_vectors()
    x0 = g[0]
    mm = like(x0, m)
    ls = like(x0, logs)
    a = like(x0, ca)
    for j in cols(g.shape[0]):
        g[j] = a * fexp((g[j] - mm) - ls) - like(x0, cu * w[j])


@register_jitable(forceinline=True)
def lse_kept(C):
    """True where :func:`lse_row` leaves ``exp(x - m)`` of a whole row of ``C`` values in
    its scratch (see :func:`softmax_grad_kept`)."""
    return C <= BLOCK


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_kept(x, w, g, logs, ca, cu):
    """``g = ca * softmax(x) - cu`` from the ``exp(x - m)`` that :func:`lse_row` kept in
    ``w`` (only where :func:`lse_kept`): ``softmax = exp(x - m) * exp(-logs)``; no exp per
    value, and ``g`` may be ``x`` itself."""
    wide_vectors()
    x0 = x[0]
    e = scratch_like(w, x0)
    r = like(x0, math.exp(-logs))
    a = like(x0, ca)
    u = like(x0, cu)
    for j in range(g.shape[0]):
        g[j] = a * (e[j] * r) - u


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def softmax_grad_kept_w(x, w, g, logs, ca, cu, cw):
    """:func:`softmax_grad_kept` with ``- cu * cw`` (``cw`` float64 per class)."""
    wide_vectors()
    x0 = x[0]
    e = scratch_like(w, x0)
    r = like(x0, math.exp(-logs))
    a = like(x0, ca)
    for j in range(g.shape[0]):
        g[j] = a * (e[j] * r) - like(x0, cu * cw[j])


# ---------------------------------------------------------------------------------------
# Cooperative primitives. On the CPU one thread runs a whole row and these are trivial; the
# CUDA row kernel runs one row per block, and its factory compiles a row function with
# block-wide twins of them (and of lse_row, sum_shift, wsum_shift and softmax_grad*: each
# thread covers its own columns, then row_total / lse_row combine the threads' partials in a
# fixed shared-memory tree). A row function loops over cols(C), sums with row_total, and
# writes a single value (g[lab]) only where owns(lab) (the thread that wrote that column
# in the cols loop before); it calls row_sync before overwriting its input in place, since
# other threads may still read it (x[lab]). Its branches depend on the row, never on the
# thread, so that every thread of the block meets every barrier.


@register_jitable(inline="always")
def cols(C):
    """The columns of a row of ``C`` values this thread handles: all of them (CUDA row
    kernel: thread ``t`` of ``T`` takes ``t, t + T, ...``)."""
    return range(C)


@register_jitable(inline="always")
def row_total(v, w):
    """The sum over the row's threads of their partials ``v`` (float64), to every thread:
    ``v`` itself here (CUDA: a fixed tree in the shared scratch ``w``)."""
    return v


@register_jitable(inline="always")
def row_sync():
    """A barrier between the row's threads: nothing here (CUDA: ``syncthreads``)."""
    return None


@register_jitable(inline="always")
def owns(j):
    """True where this thread handles column ``j`` of its row (here always)."""
    return True


# Twins for targets where a body above does not compile (CUDA has no np.full/np.zeros in
# device code): the CUDA factory rebinds these names to them.
def _never_kept(C):
    return False


PORTABLE = {"lse_row": lse_row_serial, "lse_kept": _never_kept,
            "sum_shift": _sum_shift_cols, "wsum_shift": _wsum_shift_cols}
