"""The scalar helpers against NumPy/SciPy over the whole float range.

Each helper runs inside a loop compiled with the house flags (``fastmath`` with
``reassoc``), as the kernels run it. Inputs: random bit patterns (every exponent, both
signs, subnormals, inf and NaN included), dense grids across the overflow and underflow
thresholds, and hand-picked special values.
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
import scipy.special as ss

from fastloss._kernels import scalar as S
from fastloss._kernels.compile import FASTMATH, njit


def _vectorised(helper):
    def loop(x, o):
        for i in range(x.shape[0]):
            o[i] = helper(x[i])

    loop.__name__ = f"loop_{helper.__name__}"
    return njit(loop)


def _vectorised2(helper):
    def loop(x, y, o):
        for i in range(x.shape[0]):
            o[i] = helper(x[i], y[i])

    loop.__name__ = f"loop2_{helper.__name__}"
    return njit(loop)


LOOPS = {name: _vectorised(getattr(S, name))
         for name in ("fexp", "flog", "flog1p", "flog1p_unit", "flog1m_unit", "fexpm1", "ftanh",
                      "flogcosh",
                      "log1pexp",
                      "log_sigmoid", "sigmoid", "sign")}
LOOPS2 = {name: _vectorised2(getattr(S, name)) for name in ("xlogy", "fpow", "flog1p_frac")}

def _logcosh_ref(x):
    """log(cosh x) in long double without cancellation: log1p(2 sinh^2(x/2)), and
    |x| - log 2 + log1p(exp(-2|x|)) where cosh overflows."""
    a = np.abs(x)
    with np.errstate(over="ignore"):
        return np.where(a > 20, a - np.log(np.longdouble(2)) + np.log1p(np.exp(-2 * a)),
                        np.log1p(2 * np.sinh(x / 2) ** 2))


REFS = {"fexp": np.exp, "flog": np.log, "flog1p": np.log1p, "fexpm1": np.expm1,
        "ftanh": np.tanh, "flogcosh": _logcosh_ref}
# ulp bounds: expm1's 2^k p + (2^k - 1) rounds once more than exp; tanh = -e / (2 + e)
# adds two roundings; log_cosh squares expm1 (below |x| = 1) or loses a little to the
# cancellation of |x| - log 2 (above)
ULP = {"fexp": 2.0, "flog": 2.0, "flog1p": 2.0, "fexpm1": 2.5, "ftanh": 3.0,
       "flogcosh": 6.0}
DTYPES = [np.float64, np.float32]


def _run(name, x):
    o = np.empty_like(x)
    LOOPS[name](x, o)
    return o


def ulp_error(got, x, ref, dtype):
    """|got - ref| in units of the dtype's spacing at the reference (ref in long double)."""
    with np.errstate(all="ignore"):
        r = ref(x.astype(np.longdouble))
        rr = r.astype(dtype)
        same = (got == rr) | (np.isnan(got) & np.isnan(rr))
        spacing = np.spacing(np.abs(rr)).astype(np.longdouble)
        err = np.abs(got.astype(np.longdouble) - r) / spacing
    err[same] = 0
    return err.astype(np.float64)


def _random_bits(dtype, n, seed):
    ib = np.int64 if dtype == np.float64 else np.int32
    info = np.iinfo(ib)
    return np.random.default_rng(seed).integers(info.min, info.max, n, dtype=ib).view(dtype)


def _grid(name, dtype):
    fi = np.finfo(dtype)
    if name in ("fexp", "fexpm1"):
        lo = np.log(np.float64(fi.smallest_subnormal)) - 2
        hi = np.log(np.float64(fi.max)) + 2
        g = np.concatenate([np.linspace(lo, hi, 200_001), np.linspace(-1, 1, 20_001)])
    elif name in ("ftanh", "flogcosh"):  # both signs, tiny to beyond saturation/overflow
        t = np.exp(np.linspace(np.log(np.float64(fi.smallest_subnormal)),
                               np.log(np.float64(fi.max)), 100_001))
        g = np.concatenate([t, -t, np.linspace(-30, 30, 100_001)])
    else:
        e = np.linspace(np.log(np.float64(fi.smallest_subnormal)), np.log(np.float64(fi.max)),
                        200_001)
        g = np.exp(e)
        if name == "flog1p":
            g = np.concatenate([g, -np.exp(np.linspace(-700, -1e-12, 100_001)), g - 1.0])
    return g.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ULP))
def test_within_a_few_ulp_of_numpy_over_every_float(name, dtype):
    x = np.concatenate([_random_bits(dtype, 300_000, 1), _grid(name, dtype)])
    got = _run(name, x)
    assert got.dtype == dtype
    err = ulp_error(got, x, REFS[name], dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= ULP[name], (name, x[worst], got[worst], err[worst])
    # NaN exactly where NumPy gives NaN
    with np.errstate(all="ignore"):
        ref = REFS[name](x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))


SPECIALS = {
    "fexp": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, 0.0), (0.0, 1.0), (-0.0, 1.0),
             (1e4, np.inf), (-1e4, 0.0), (800.0, np.inf), (-800.0, 0.0)],
    "flog": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.nan), (0.0, -np.inf),
             (-0.0, -np.inf), (-1.0, np.nan), (1.0, 0.0)],
    "flog1p": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.nan), (-1.0, -np.inf),
               (-2.0, np.nan), (0.0, 0.0), (1e-30, 1e-30), (-1e-30, -1e-30)],
    "fexpm1": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0),
               (1e-30, 1e-30), (-1e-30, -1e-30), (1e4, np.inf), (-1e4, -1.0)],
    "ftanh": [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, -1.0), (0.0, 0.0), (-0.0, -0.0),
              (1e-30, 1e-30), (-1e-30, -1e-30), (1e4, 1.0), (-1e4, -1.0)],
    "flogcosh": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.inf), (0.0, 0.0),
                 (-0.0, 0.0), (1e-200, 0.0)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SPECIALS))
def test_special_values(name, dtype):
    xs, want = zip(*SPECIALS[name], strict=True)
    got = _run(name, np.array(xs, dtype))
    np.testing.assert_array_equal(got, np.array(want, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_unit_over_its_domain(dtype):
    """``flog1p_unit`` (``log1p`` for ``x`` in ``[0, 1]``) within one ulp of NumPy's
    ``log1p`` in long double: random values, every exponent down to the subnormals, a dense
    grid around sqrt(2) - 1 (where its reduction switches) and 1/2 (below which ``x/2 - 1/2``
    rounds), the end points, NaN."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(7)
    x = np.concatenate([
        rng.uniform(0, 1, 300_000),
        np.exp(rng.uniform(np.log(np.float64(fi.smallest_subnormal)), 0, 200_000)),
        np.linspace(0.40, 0.52, 200_001),
        [0.0, fi.smallest_subnormal, fi.smallest_normal, fi.eps, 0.5, 1.0],
    ]).astype(dtype)
    x = x[(x >= 0) & (x <= 1)]
    got = _run("flog1p_unit", x)
    assert got.dtype == dtype
    err = ulp_error(got, x, np.log1p, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= 1.0, (x[worst], got[worst], err[worst])
    assert got[x == 0].tolist() == [0.0] * int((x == 0).sum())
    assert np.isnan(_run("flog1p_unit", np.array([np.nan], dtype))[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_frac_over_its_domain(dtype):
    """``flog1p_frac(n, d)`` (``log(1 + n/d)`` with one division, for ``n/d`` in ``[0, 1]``)
    within two ulp of ``log1p`` of the exact quotient in long double: random fractions with
    denominators across the exponent range, every exponent of ``n/d`` down to the
    subnormals, a dense grid around sqrt(2) - 1 (where its reduction switches), the end
    points, NaN."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(11)
    m = 200_000
    q = np.concatenate([rng.uniform(0, 1, m),
                        np.exp(rng.uniform(np.log(np.float64(fi.smallest_normal)), 0, m)),
                        np.linspace(0.40, 0.43, m), [0.0, 1.0, fi.eps, np.sqrt(2) - 1]])
    d = np.exp(rng.uniform(-20, 20, q.size)).astype(dtype)
    n = (q * d).astype(dtype)
    keep = (n <= d) & np.isfinite(n)
    n, d = n[keep], d[keep]
    got = np.empty_like(n)
    LOOPS2["flog1p_frac"](n, d, got)
    assert got.dtype == dtype
    with np.errstate(all="ignore"):
        r = np.log1p(n.astype(np.longdouble) / d.astype(np.longdouble))
        err = np.abs(got.astype(np.longdouble) - r) / np.spacing(np.abs(r.astype(dtype)))
    err[got == r.astype(dtype)] = 0
    worst = int(np.argmax(err))
    assert err[worst] <= 2.0, (n[worst], d[worst], got[worst], float(err[worst]))
    assert got[n == 0].tolist() == [0.0] * int((n == 0).sum())
    nan = np.array([np.nan, 1.0], dtype)
    o = np.empty_like(nan)
    LOOPS2["flog1p_frac"](nan, nan[::-1], o)
    assert np.isnan(o).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1m_unit_over_its_domain(dtype):
    """``flog1m_unit`` (``log(1 - p)`` for ``p`` in ``[0, 1]``) within one ulp of NumPy's
    ``log1p(-p)`` in long double: random values, tiny ``p`` down to the subnormals, ``p``
    within ``e^-60`` of 1, dense grids where its reduction switches (1 - sqrt(1/2), 1/2),
    the end points; -inf at 1, NaN above 1 and for NaN."""
    fi = np.finfo(dtype)
    rng = np.random.default_rng(8)
    p = np.concatenate([
        rng.uniform(0, 1, 300_000),
        np.exp(rng.uniform(np.log(np.float64(fi.smallest_subnormal)), 0, 200_000)),
        1 - np.exp(rng.uniform(-60, 0, 100_000)),
        np.linspace(0.28, 0.31, 100_001), np.linspace(0.49, 0.51, 100_001),
        [0.0, fi.smallest_subnormal, fi.eps, 0.5, 1 - fi.epsneg],
    ]).astype(dtype)
    p = p[(p >= 0) & (p < 1)]
    got = _run("flog1m_unit", p)
    assert got.dtype == dtype
    err = ulp_error(got, p, lambda v: np.log1p(-v), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= 1.0, (p[worst], got[worst], err[worst])
    got = _run("flog1m_unit", np.array([1.0, np.nan, 1.5, 0.0], dtype))
    assert got[0] == -np.inf and np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_overflow_and_underflow_thresholds(dtype):
    fi = np.finfo(dtype)
    big = np.log(np.float64(fi.max))
    small = np.log(np.float64(fi.smallest_subnormal))
    x = np.array([np.nextafter(dtype(big), dtype(0)), dtype(big) + dtype(1),
                  dtype(small) + dtype(0.5), dtype(small) - dtype(1)], dtype)
    got = _run("fexp", x)
    assert np.isfinite(got[0]) and got[0] > fi.max / 2
    assert got[1] == np.inf
    assert 0 < got[2] < fi.smallest_normal  # a subnormal result, not flushed
    assert got[3] == 0.0
    x = np.array([fi.smallest_subnormal, fi.smallest_normal, fi.max], dtype)
    np.testing.assert_allclose(_run("flog", x), np.log(x.astype(np.float64)),
                               rtol=2 * fi.eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_derived_helpers(dtype):
    rng = np.random.default_rng(3)
    bound = 1e4 if dtype == np.float64 else 80.0
    x = np.concatenate([rng.standard_normal(50_000) * 10, np.linspace(-bound, bound, 20_001),
                        [0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)
    xd = x.astype(np.float64)
    rtol = 8e-16 if dtype == np.float64 else 4e-7
    np.testing.assert_allclose(_run("log1pexp", x), np.logaddexp(0.0, xd), rtol=rtol)
    np.testing.assert_allclose(_run("log_sigmoid", x), -np.logaddexp(0.0, -xd), rtol=rtol)
    np.testing.assert_allclose(_run("sigmoid", x), ss.expit(xd), rtol=rtol, atol=1e-300)
    np.testing.assert_array_equal(_run("sign", x), np.sign(xd))
    sp = np.array([np.inf, -np.inf, np.nan], dtype)
    np.testing.assert_array_equal(_run("log1pexp", sp), [np.inf, 0.0, np.nan])
    np.testing.assert_array_equal(_run("sigmoid", sp), [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(_run("log_sigmoid", sp), [0.0, -np.inf, np.nan])
    assert np.isnan(_run("sign", sp)[2])


def test_xlogy_and_fpow():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(0, 3, 1000), [0.0, 0.0, 0.0, 1.0, 2.0]])
    y = np.concatenate([rng.uniform(0, 3, 1000), [0.0, 5.0, np.nan, 0.0, 0.0]])
    o = np.empty_like(x)
    LOOPS2["xlogy"](x, y, o)
    np.testing.assert_allclose(o, ss.xlogy(x, y), rtol=1e-15)
    b = np.where(np.isnan(y), 0.5, y)
    a = np.concatenate([rng.uniform(0, 4, 1000), [0.0, 0.0, 2.0, 0.5, 0.0]])
    LOOPS2["fpow"](b, a, o)
    np.testing.assert_allclose(o, np.power(b, a), rtol=1e-14)
    assert o[-5] == 1.0 and o[-2] == 0.0  # 0 ** 0 = 1, 0 ** 2 = 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_fpow_over_every_float(dtype):
    """``fpow`` against ``np.power`` in long double: every non-negative float (subnormals,
    0, inf, NaN) to exponents of both signs, integer and not, small and large, within
    ``2 + 2 |a ln x|`` ulp (its documented bound); overflow to inf and underflow to 0 where
    NumPy's do (away from the thresholds by more than that bound), the exact cases exact."""
    x = np.abs(_random_bits(dtype, 40_000, 5))
    fi = np.finfo(dtype)
    special = np.array([0.0, fi.smallest_subnormal, fi.smallest_normal, 1.0, fi.max, np.inf,
                        np.nan], dtype)
    x = np.concatenate([x, special, np.linspace(0, 4, 2001).astype(dtype)])
    for a_val in (0.0, 1.0, 2.0, 3.0, 0.5, 1.5, 2.5, -0.5, -1.0, -2.5, 1e-3, 7.25, 40.0):
        a = np.full_like(x, a_val)
        o = np.empty_like(x)
        LOOPS2["fpow"](x, a, o)
        assert o.dtype == dtype
        with np.errstate(all="ignore"):
            ref = np.power(x.astype(np.longdouble), np.longdouble(a_val))
            rr = ref.astype(dtype)
            same = (o == rr) | (np.isnan(o) & np.isnan(rr))
            spacing = np.spacing(np.abs(rr)).astype(np.longdouble)
            err = np.abs(o.astype(np.longdouble) - ref) / spacing
            bound = 2.0 + 2.0 * np.abs(a_val * np.log(x.astype(np.float64)))
        err[same] = 0
        bad = err > bound
        assert not bad.any(), (a_val, x[bad][:3], o[bad][:3], rr[bad][:3])
        np.testing.assert_array_equal(np.isnan(o), np.isnan(rr))
        # overflow and underflow as NumPy's, except within the error bound of the thresholds
        clear = (np.abs(rr) < fi.max * (1 - bound * fi.eps)) | np.isinf(rr)
        np.testing.assert_array_equal(np.isinf(o)[clear], np.isinf(rr)[clear])
        clear = (rr == 0) | (rr > bound * fi.smallest_subnormal)
        np.testing.assert_array_equal((o == 0)[clear], (rr == 0)[clear])
    o = np.empty(6, dtype)
    LOOPS2["fpow"](np.array([0, 0, 0, np.inf, np.nan, 1], dtype),
                   np.array([0, 2, -2, 0, 0, np.inf], dtype), o)
    np.testing.assert_array_equal(o, [1, 0, np.inf, 1, 1, 1])


@pytest.mark.parametrize("name", ["fexp", "flog", "flog1p", "flog1p_unit", "flog1m_unit",
                                  "fexpm1", "ftanh", "flogcosh", "log1pexp", "sigmoid",
                                  "flog1p_frac"])
def test_loops_over_them_vectorise(name):
    """The point of these helpers: LLVM turns the loop into SIMD code (no libm calls)."""
    helper = getattr(S, name)

    if name == "flog1p_frac":  # two arguments
        def loop(x, o):
            for i in range(x.shape[0]):
                o[i] = helper(x[i], o[i])
    else:
        def loop(x, o):
            for i in range(x.shape[0]):
                o[i] = helper(x[i])

    fresh = numba.njit(cache=False, fastmath=FASTMATH, error_model="numpy")(loop)
    fresh(np.zeros(3), np.zeros(3))  # inspect_llvm says nothing useful about cached code
    ir = fresh.inspect_llvm(fresh.signatures[0])
    assert re.search(r"<\d+ x double>", ir), f"{name}: loop not vectorised"
    for fn in ("@exp(", "@log(", "@log1p(", "@expm1(", "@tanh(", "@cosh(", "@llvm.exp.f64",
               "@llvm.log.f64"):
        assert fn not in ir, f"{name}: scalar libm call {fn} left in the loop"


def test_python_fallbacks():
    assert S.fexp(1e4) == np.inf and S.fexp(0.0) == 1.0
    assert S.flog(0.0) == -np.inf and np.isnan(S.flog(-1.0)) and S.flog(np.e) == 1.0
    assert S.flog1p(-1.0) == -np.inf and S.flog1p(1e-30) == 1e-30
    assert S.fexpm1(1e4) == np.inf and S.fexpm1(1e-30) == 1e-30
    assert S.flog1p_unit(0.5) == np.log1p(0.5)
    assert S.flog1p_frac(1.0, 4.0) == np.log1p(0.25)
    assert S.flog1m_unit(0.25) == np.log1p(-0.25) and S.flog1m_unit(1.0) == -np.inf
    assert np.isnan(S.flog1m_unit(2.0))
    assert S.fold(None, 2.0) == 2.0 and S.fold(3.0, 2.0) == 3.0
    assert set(S.PORTABLE) <= set(S.HELPERS)
