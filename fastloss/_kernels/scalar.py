"""Maths helpers of one element, usable in every kernel (CPU and CUDA).

Each is a plain Python function registered with ``register_jitable`` (or an ``overload``
that picks the float32 or float64 body): it pickles by reference (so kernels that use it
hit the disk cache) and the CUDA factory rebinds it as a device function. Use ``math``
functions and these helpers only.

Fast exp and log
----------------
``fexp``, ``flog`` and ``flog1p`` are written as branch-free arithmetic (range reduction,
a near-minimax polynomial, the exponent built with integer bit operations, selects for
inf/NaN/zero/subnormal) so that LLVM vectorises every loop that calls them; Numba's
``math.exp`` is a scalar libm call because llvmlite's wheels ship no SVML. They are
accurate to about one ulp over the whole float range (``tests/test_scalar_helpers.py``
checks them against NumPy, overflow, underflow, subnormals, inf and NaN included). A float32
argument runs a float32 body (twice the SIMD width), a float64 one a float64 body.

Their bodies are compiled with ``fastmath={"contract"}`` only, whatever the calling
kernel's flags: ``reassoc`` would undo the Cody-Waite range reduction and the log1p
correction term. For a target without bit casts (CUDA, where ``math.exp`` is already a
fast device function) :data:`PORTABLE` gives plain-``math`` twins of the same names.

The polynomial coefficients come from ``tools/fit_scalar_polys.py`` (mpmath ``chebyfit``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

_FM = {"contract"}  # never reassoc/afn/nnan/ninf inside these bodies
_JIT = {"fastmath": _FM, "error_model": "numpy", "forceinline": True}

# ---------------------------------------------------------------------------------------
# exp: x = k ln2 + r, |r| <= ln2/2, exp(r) = 1 + r + r^2 P(r), result P * 2^k1 * 2^k2
# (two factors so that overflow to inf and gradual underflow round correctly).

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_LN2HI = 6.93147180369123816490e-01  # 32 significant bits: k * _LN2HI is exact
_LN2LO = 1.90821492927058770002e-10
_E0 = 0.5000000000000001
_E1 = 0.16666666666666669
_E2 = 0.041666666666624164
_E3 = 0.008333333333330065
_E4 = 0.0013888888917196719
_E5 = 0.00019841269863040545
_E6 = 2.4801521322368692e-05
_E7 = 2.7557268480310024e-06
_E8 = 2.7620075879983367e-07
_E9 = 2.5100375832561234e-08

_f32 = np.float32
_LOG2E_F = _f32(1.4426950408889634)
_LN2HI_F = _f32(0.693359375)  # 9 significant bits
_LN2LO_F = _f32(-2.12194440e-4)
_E0_F = _f32(0.5)
_E1_F = _f32(0.1666657702559799)
_E2_F = _f32(0.041666554662050534)
_E3_F = _f32(0.008363173074513711)
_E4_F = _f32(0.001392617611993558)
_HALF_F = _f32(0.5)
_ONE_F = _f32(1.0)
_ZERO_F = _f32(0.0)
_EXP_LO_F = _f32(-104.0)
_EXP_HI_F = _f32(89.0)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _expm1_reduced64(xc):
    """``x = k ln2 + r`` (|r| <= ln2/2): ``(k, expm1(r))`` with ``expm1(r) = r + r^2 P(r)``,
    and the two scales ``2^k1``, ``2^k2`` (k1 + k2 = k) that apply ``2^k`` without overflow."""
    k = np.floor(xc * _LOG2E + 0.5)
    r = xc - k * _LN2HI
    r = r - k * _LN2LO
    p = _E9 * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + _E1
    p = p * r + _E0
    ki = np.int64(k)
    k1 = ki >> 1
    k2 = ki - k1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((k2 + 1023) << 52).view(np.float64)
    return ki, r + (r * r) * p, s1, s2


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _expm1_reduced32(xc):
    """:func:`_expm1_reduced64` in float32 (a degree-4 polynomial)."""
    k = np.floor(xc * _LOG2E_F + _HALF_F)
    r = xc - k * _LN2HI_F
    r = r - k * _LN2LO_F
    p = _E4_F * r + _E3_F
    p = p * r + _E2_F
    p = p * r + _E1_F
    p = p * r + _E0_F
    ki = np.int32(k)
    k1 = ki >> 1
    k2 = ki - k1
    s1 = np.int32((k1 + 127) << 23).view(np.float32)
    s2 = np.int32((k2 + 127) << 23).view(np.float32)
    return ki, r + (r * r) * p, s1, s2


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _exp64(x):
    xc = -746.0 if x < -746.0 else x
    xc = 710.0 if xc > 710.0 else xc
    xc = xc if x == x else 0.0
    _, em, s1, s2 = _expm1_reduced64(xc)
    res = ((1.0 + em) * s1) * s2
    return res if x == x else x


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _exp32(x):
    xc = _EXP_LO_F if x < _EXP_LO_F else x
    xc = _EXP_HI_F if xc > _EXP_HI_F else xc
    xc = xc if x == x else _ZERO_F
    _, em, s1, s2 = _expm1_reduced32(xc)
    res = ((_ONE_F + em) * s1) * s2
    return res if x == x else x


# ---------------------------------------------------------------------------------------
# log: x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f),
# log(m) = f - (f^2/2 - s (f^2/2 + R(s^2))) as in fdlibm; subnormals scaled first.

_LOG_OFF = 0x3FE6A09E667F3BCD  # bits of sqrt(1/2)
_L1 = 0.666666666666667
_L2 = 0.39999999999899505
_L3 = 0.28571428625975487
_L4 = 0.2222221113479508
_L5 = 0.18182889125261723
_L6 = 0.15331721600556042
_L7 = 0.14616449685043406
_TINY = 2.2250738585072014e-308
_TWO54 = 18014398509481984.0

_LOG_OFF_F = 0x3F3504F3  # bits of sqrt(1/2) in float32
_L1_F = _f32(0.6666666655449709)
_L2_F = _f32(0.40000121839806124)
_L3_F = _f32(0.28550820815960665)
_L4_F = _f32(0.23330467216303835)
_LN2HI_FL = _f32(0.693145751953125)  # 16 significant bits
_LN2LO_FL = _f32(1.4286068203094172e-06)
_TINY_F = _f32(1.1754943508222875e-38)
_TWO25_F = _f32(33554432.0)
_TWO_F = _f32(2.0)
_INF_F = _f32(np.inf)
_NAN_F = _f32(np.nan)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log_q64(z):
    """``Q(z)`` of ``2 atanh(s) = 2s + s z Q(z)``, ``z = s^2``, ``|s| <= 3 - 2 sqrt 2``."""
    R = _L7 * z + _L6
    R = R * z + _L5
    R = R * z + _L4
    R = R * z + _L3
    R = R * z + _L2
    return R * z + _L1


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log_q32(z):
    """:func:`_log_q64` in float32 (degree 3)."""
    R = _L4_F * z + _L3_F
    R = R * z + _L2_F
    return R * z + _L1_F


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log_kf64(k, f, lo):
    """``k log 2 + log(1 + f)`` for ``f`` in ``[sqrt(1/2) - 1, sqrt(2) - 1]`` (fdlibm's
    kernel), ``lo`` a correction of the order of ``f``'s last bit (added with ``k``'s low
    part of log 2)."""
    s = f / (2.0 + f)
    z = s * s
    R = _log_q64(z) * z
    hfsq = 0.5 * f * f
    return k * _LN2HI - ((hfsq - (s * (hfsq + R) + (k * _LN2LO + lo))) - f)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log_kf32(k, f, lo):
    """:func:`_log_kf64` in float32."""
    s = f / (_TWO_F + f)
    z = s * s
    R = _log_q32(z) * z
    hfsq = _HALF_F * f * f
    return k * _LN2HI_FL - ((hfsq - (s * (hfsq + R) + (k * _LN2LO_FL + lo))) - f)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log64(x):
    sub = x < _TINY
    xs = x * _TWO54 if sub else x
    kadj = -54.0 if sub else 0.0
    bits = np.float64(xs).view(np.int64)
    k = (bits - _LOG_OFF) >> 52
    m = np.int64(bits - (k << 52)).view(np.float64)
    res = _log_kf64(np.float64(k) + kadj, m - 1.0, 0.0)
    res = res if x > 0.0 else (-math.inf if x == 0.0 else math.nan)
    return res if x < math.inf else x


@register_jitable(forceinline=True)
def _ashr23(b):
    """``b >> 23`` of an int32, as an int32 (Numba computes integer arithmetic in int64:
    each step is cast back, so that LLVM keeps 32-bit lanes, 16 to a 512-bit vector)."""
    return np.int32(b >> 23)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log32(x):
    sub = x < _TINY_F
    xs = x * _TWO25_F if sub else x
    kadj = _f32(-25.0) if sub else _ZERO_F
    bits = np.float32(xs).view(np.int32)
    k = _ashr23(np.int32(bits - _LOG_OFF_F))
    m = np.int32(bits - np.int32(k << 23)).view(np.float32)
    res = _log_kf32(np.float32(k) + kadj, m - _ONE_F, _ZERO_F)
    res = res if x > _ZERO_F else (-_INF_F if x == _ZERO_F else _NAN_F)
    return res if x < _INF_F else x


# log1p(x) = log(u) + (x - (u - 1)) / u with u = 1 + x: the second term restores what the
# rounding of u lost (exact for u in [1/2, 2] by Sterbenz, negligible beyond).


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1p64(x):
    u = 1.0 + x
    c = (x - (u - 1.0)) / u
    c = c if (u > 0.0) & (u < 9.0e15) else 0.0
    return _log64(u) + c


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1p32(x):
    u = _ONE_F + x
    c = (x - (u - _ONE_F)) / u
    c = c if (u > _ZERO_F) & (u < _f32(1.6e7)) else _ZERO_F
    return _log32(u) + c


# log1p of x in [0, 1] (the softplus tail log1p(exp(-|z|)), log_cosh's arguments): u = 1 + x
# in [1, 2] needs no exponent extraction and no special values beyond NaN, and f = u - 1
# (or u/2 - 1 from sqrt 2 on) is known exactly, so no correction division either.
# 0.5 x - 0.5 rounds below x = 1/2; its rounding error is added back (times ~1/(1 + f)).

_SQRT2M1 = 0.41421356237309503
_SQRT2M1_F = _f32(0.41421356)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1p_unit64(x):
    big = x >= _SQRT2M1  # 1 + x >= sqrt 2: log(1 + x) = log 2 + log((1 + x) / 2)
    f = (0.5 * x - 0.5) if big else x
    k = 1.0 if big else 0.0
    lo = (0.5 * x - (f + 0.5)) * (1.0 - f) if big else 0.0
    return _log_kf64(k, f, lo)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1p_unit32(x):
    big = x >= _SQRT2M1_F
    f = (_HALF_F * x - _HALF_F) if big else x
    k = _ONE_F if big else _ZERO_F
    lo = (_HALF_F * x - (f + _HALF_F)) * (_ONE_F - f) if big else _ZERO_F
    return _log_kf32(k, f, lo)


# log(1 - p) for p in [0, 1] (binary cross-entropy's other log): up to p = 1/2 the reduced
# argument is known exactly (f = -p, or 1 - 2p with k = -1 below 1 - p = sqrt(1/2)); above,
# 1 - p is exact (Sterbenz) and normal, so only its exponent is read. No correction
# division, no subnormal scaling.

_1MSQRTH = 0.29289321881345254  # 1 - sqrt(1/2)
_1MSQRTH_F = _f32(0.29289323)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1m_unit64(p):
    u = 1.0 - p
    bits = np.float64(u).view(np.int64)
    kb = (bits - _LOG_OFF) >> 52
    mb = np.int64(bits - (kb << 52)).view(np.float64)
    big = p > 0.5
    near = p <= _1MSQRTH
    f = (mb - 1.0) if big else (-p if near else 1.0 - 2.0 * p)
    k = np.float64(kb) if big else (0.0 if near else -1.0)
    res = _log_kf64(k, f, 0.0)
    return res if u > 0.0 else (-math.inf if u == 0.0 else math.nan)


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1m_unit32(p):
    u = _ONE_F - p
    bits = np.float32(u).view(np.int32)
    kb = _ashr23(np.int32(bits - _LOG_OFF_F))
    mb = np.int32(bits - np.int32(kb << 23)).view(np.float32)
    big = p > _HALF_F
    near = p <= _1MSQRTH_F
    f = (mb - _ONE_F) if big else (-p if near else _ONE_F - _TWO_F * p)
    k = np.float32(kb) if big else (_ZERO_F if near else _f32(-1.0))
    res = _log_kf32(k, f, _ZERO_F)
    return res if u > _ZERO_F else (-_INF_F if u == _ZERO_F else _NAN_F)


# expm1: x = k ln2 + r as in exp; expm1(r) = r + r^2 P(r) (exp's polynomial without its
# leading 1, so tiny |x| keeps full relative precision), then
# expm1(x) = 2^k expm1(r) + (2^k - 1): both terms exact, one rounding. From k = 57 (26 in
# float32) the -1 is lost in rounding: there the result is exp's (1 + expm1(r)) 2^k1 2^k2,
# which overflows to inf where exp does. Below -40 (-18 in float32) it rounds to -1.


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _expm164(x):
    xc = -40.0 if x < -40.0 else x
    xc = 710.0 if xc > 710.0 else xc
    xc = xc if x == x else 0.0
    ki, p, s1, s2 = _expm1_reduced64(xc)
    big = ((1.0 + p) * s1) * s2
    res = big if ki > 56 else (p * s1) * s2 + ((s1 * s2) - 1.0)
    return res if x == x else x


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _expm132(x):
    xc = _f32(-18.0) if x < _f32(-18.0) else x
    xc = _EXP_HI_F if xc > _EXP_HI_F else xc
    xc = xc if x == x else _ZERO_F
    ki, p, s1, s2 = _expm1_reduced32(xc)
    big = ((_ONE_F + p) * s1) * s2
    res = big if ki > 25 else (p * s1) * s2 + ((s1 * s2) - _ONE_F)
    return res if x == x else x


def _is_f32(x) -> bool:
    return isinstance(x, types.Float) and x.bitwidth == 32


def fexp(x):
    """``exp(x)``, vectorisable, about 1 ulp; float32 in, float32 out."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


@overload(fexp, jit_options=_JIT)
def _fexp_ov(x):
    if _is_f32(x):
        return lambda x: _exp32(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: _exp64(np.float64(x))
    return None


def flog(x):
    """Natural ``log(x)``, vectorisable, about 1 ulp (``-inf`` at 0, NaN below)."""
    x = float(x)
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


@overload(flog, jit_options=_JIT)
def _flog_ov(x):
    if _is_f32(x):
        return lambda x: _log32(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: _log64(np.float64(x))
    return None


def flog1p(x):
    """``log(1 + x)`` accurate for tiny ``x``, vectorisable, about 1 ulp."""
    x = float(x)
    if x > -1.0:
        return math.log1p(x)
    return -math.inf if x == -1.0 else math.nan


@overload(flog1p, jit_options=_JIT)
def _flog1p_ov(x):
    if _is_f32(x):
        return lambda x: _log1p32(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: _log1p64(np.float64(x))
    return None


def flog1p_unit(x):
    """``log(1 + x)`` for ``x`` in ``[0, 1]`` (or NaN), vectorisable, under one ulp: half the
    cost of :func:`flog1p`, whose range it does not check."""
    return math.log1p(x)


@overload(flog1p_unit, jit_options=_JIT)
def _flog1p_unit_ov(x):
    if _is_f32(x):
        return lambda x: _log1p_unit32(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: _log1p_unit64(np.float64(x))
    return None


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1p_frac64(n, d):
    big = n >= _SQRT2M1 * d  # 1 + n/d >= sqrt 2: log 2 + log(1 + f), f = (n - d) / (2d)
    s = ((n - d) if big else n) / ((3.0 * d + n) if big else (2.0 * d + n))  # f / (2 + f)
    z = s * s
    k = 1.0 if big else 0.0
    return k * _LN2HI + (2.0 * s + (s * (_log_q64(z) * z) + k * _LN2LO))


@register_jitable(fastmath=_FM, error_model="numpy", forceinline=True)
def _log1p_frac32(n, d):
    big = n >= _SQRT2M1_F * d
    s = ((n - d) if big else n) / ((_f32(3.0) * d + n) if big else (_TWO_F * d + n))
    z = s * s
    k = _ONE_F if big else _ZERO_F
    return k * _LN2HI_FL + (_TWO_F * s + (s * (_log_q32(z) * z) + k * _LN2LO_FL))


def flog1p_frac(n, d):
    """``log(1 + n/d)`` for ``n/d`` in ``[0, 1]`` (``d > 0``; NaN stays NaN), vectorisable,
    about two ulp, with one division: ``2 atanh(s)``, ``s = n / (2d + n)``, reduced by
    ``log 2`` above ``n/d = sqrt 2 - 1``. For a quotient that would cost a division of its
    own before :func:`flog1p_unit`."""
    return math.log1p(n / d)


@overload(flog1p_frac, jit_options=_JIT)
def _flog1p_frac_ov(n, d):
    if _is_f32(n) and _is_f32(d):
        return lambda n, d: _log1p_frac32(n, d)
    if isinstance(n, (types.Float, types.Integer)) and isinstance(d, (types.Float, types.Integer)):
        return lambda n, d: _log1p_frac64(np.float64(n), np.float64(d))
    return None


def flog1m_unit(p):
    """``log(1 - p)`` for ``p`` in ``[0, 1]`` (``-inf`` at 1, NaN above or for NaN),
    vectorisable, about one ulp: cheaper than :func:`flog1p` of ``-p``."""
    p = float(p)
    if p < 1.0:
        return math.log1p(-p)
    return -math.inf if p == 1.0 else math.nan


@overload(flog1m_unit, jit_options=_JIT)
def _flog1m_unit_ov(x):
    if _is_f32(x):
        return lambda x: _log1m_unit32(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: _log1m_unit64(np.float64(x))
    return None


def fexpm1(x):
    """``exp(x) - 1`` accurate for tiny ``x``, vectorisable, about 1 ulp."""
    try:
        return math.expm1(x)
    except OverflowError:
        return math.inf


@overload(fexpm1, jit_options=_JIT)
def _fexpm1_ov(x):
    if _is_f32(x):
        return lambda x: _expm132(x)
    if isinstance(x, (types.Float, types.Integer, types.Boolean)):
        return lambda x: _expm164(np.float64(x))
    return None


def like(x, v):
    """``v`` as a float of ``x``'s precision (float32 stays float32, else float64)."""
    return float(v)


@overload(like, jit_options={"forceinline": True})
def _like_ov(x, v):
    if _is_f32(x):
        return lambda x, v: np.float32(v)
    return lambda x, v: np.float64(v)


def single(x):
    """True where ``x`` is a float32 (a constant of the compiled body: the other branch of
    ``if single(x):`` is folded away)."""
    return False


@overload(single, jit_options={"forceinline": True})
def _single_ov(x):
    if _is_f32(x):
        return lambda x: True
    return lambda x: False


# ---------------------------------------------------------------------------------------
# Helpers built on them. Branch-free where it matters (selects, not jumps).


@register_jitable(forceinline=True)
def log1pexp(x):
    """softplus ``log(1 + exp(x))`` without overflow or loss of precision."""
    return max(x, like(x, 0.0)) + flog1p_unit(fexp(-abs(x)))


@register_jitable(forceinline=True)
def log_sigmoid(x):
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` (PyTorch's formula)."""
    return min(x, like(x, 0.0)) - flog1p_unit(fexp(-abs(x)))


@register_jitable(forceinline=True)
def sigmoid(x):
    """``1 / (1 + exp(-x))`` stable for any ``x`` (one exp)."""
    e = fexp(-abs(x))
    one = like(x, 1.0)
    r = one / (one + e)
    return r if x >= like(x, 0.0) else e * r


@register_jitable(forceinline=True)
def sign(x):
    """-1, 0 or 1 in ``x``'s precision (NaN stays NaN)."""
    if x > 0.0:
        return like(x, 1.0)
    if x < 0.0:
        return like(x, -1.0)
    return x * like(x, 0.0)


@register_jitable(forceinline=True)
def xlogy(x, y):
    """``x * log(y)`` with ``0 * log(0) = 0`` (NaN ``y`` still gives NaN)."""
    return 0.0 * y if x == 0.0 else x * flog(y)


@register_jitable(forceinline=True)
def fpow(x, a):
    """``x ** a`` for ``x >= 0`` as ``exp(a log x)``, vectorisable: ``x ** 0 = 1`` and
    ``1 ** a = 1`` (NaN and inf included), ``0 ** a`` is 0 for ``a > 0`` and inf for
    ``a < 0``, NaN for ``x < 0``. The rounding of ``a log x`` is amplified by exp: about
    ``2 + |a log x|`` ulp. A float32 ``x`` and ``a`` give a float32 result."""
    r = fexp(a * flog(x))
    one = like(r, 1.0)
    return one if (a == 0.0) | (x == one) else r


@register_jitable(forceinline=True)
def ftanh(x):
    """``tanh(x) = -expm1(-2|x|) / (2 + expm1(-2|x|))`` with the sign of ``x``: one expm1,
    no cancellation near 0, exactly +-1 for large ``|x|``; NaN stays NaN."""
    two = like(x, 2.0)
    e = fexpm1(-two * abs(x))
    return math.copysign(-e / (two + e), x)


@register_jitable(forceinline=True)
def flogcosh(x):
    """``log(cosh(x))`` accurate for every ``x``: ``log1p(expm1(-a)^2 / (2 (1 + expm1(-a))))``
    (that is ``log1p(cosh(a) - 1)``, ``a = |x|``) below ``a = 1``, where the value is
    about ``a^2/2``; ``a - log 2 + log1p(exp(-2a))`` above. Branch-free."""
    a = abs(x)
    one = like(x, 1.0)
    em = fexpm1(-a)
    ex = one + em
    small = a < one  # one log1p, of the selected fraction (in [0, 0.55])
    lp = flog1p_frac(em * em if small else ex * ex, (one + one) * ex if small else one)
    return lp if small else (a - like(x, _LN2)) + lp


@register_jitable(forceinline=True)
def fold(v, default):
    """A parameter of ``prm`` that may be None (see ``Param.fold``): ``default`` where it is
    None (a compile-time constant), else ``v``."""
    return default if v is None else v


# Plain-``math`` twins, for targets where the bit-level bodies do not compile (CUDA).


def _exp_math(x):
    return math.exp(x)


def _log_math(x):
    return math.log(x)


def _log1p_math(x):
    return math.log1p(x)


def _log1p_frac_math(n, d):
    return math.log1p(n / d)


def _log1m_math(x):
    return math.log1p(-x)


def _expm1_math(x):
    return math.expm1(x)


def _like_math(x, v):
    return v


PORTABLE = {
    "fexp": _exp_math,
    "flog": _log_math,
    "flog1p": _log1p_math,
    "flog1p_unit": _log1p_math,
    "flog1p_frac": _log1p_frac_math,
    "flog1m_unit": _log1m_math,
    "fexpm1": _expm1_math,
    "like": _like_math,
}

HELPERS = {
    "fexp": fexp,
    "flog": flog,
    "flog1p": flog1p,
    "flog1p_unit": flog1p_unit,
    "flog1p_frac": flog1p_frac,
    "flog1m_unit": flog1m_unit,
    "fexpm1": fexpm1,
    "like": like,
    "ftanh": ftanh,
    "flogcosh": flogcosh,
    "log1pexp": log1pexp,
    "log_sigmoid": log_sigmoid,
    "sigmoid": sigmoid,
    "sign": sign,
    "xlogy": xlogy,
    "fpow": fpow,
    "fold": fold,
}


# ---------------------------------------------------------------------------
# input flags: what the check kernels (fastloss._checks) count, and what a loss kernel ORs
# over its inputs while it computes (a PointwiseSpec's ``input_flags``)


@register_jitable(forceinline=True)
def outside(x, lo, hi):
    """1 where ``x`` is below ``lo`` or above ``hi``, else 0 (NaN: 0). Flags are int32: a
    float32 loop keeps its 16 lanes (int64 flags would halve them)."""
    return np.int32((x < lo) | (x > hi))


#: The bits of :func:`sign_flags`: 1, -1, 0, none of them.
SIGN_ONE, SIGN_NEG, SIGN_ZERO, SIGN_BAD = 1, 2, 4, 8


@register_jitable(forceinline=True)
def sign_flags(x):
    """Which label ``x`` is: :data:`SIGN_ONE`, :data:`SIGN_NEG` (-1), :data:`SIGN_ZERO`, or
    :data:`SIGN_BAD` for anything else (NaN included). (One select chain: cheaper in a
    vector loop than three flags shifted into place.)"""
    one, z = like(x, 1.0), like(x, 0.0)
    return np.int32(SIGN_ONE if x == one else (SIGN_NEG if x == -one else (
        SIGN_ZERO if x == z else SIGN_BAD)))
