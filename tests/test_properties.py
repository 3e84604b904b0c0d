"""Properties that hold for any input (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastloss

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
pairs = st.integers(1, 300).flatmap(
    lambda n: st.tuples(arrays(np.float64, n, elements=finite), arrays(np.float64, n,
                                                                        elements=finite)))
SETTINGS = settings(max_examples=60, deadline=None)
NONNEG = ("mse", "mae", "huber", "smooth_l1", "log_cosh", "quantile")


@SETTINGS
@given(pairs)
def test_nonnegative_and_zero_at_target(yp):
    y, p = yp
    for name in NONNEG:
        L = getattr(fastloss, name)
        assert L(y, p) >= 0
        assert L(y, y) == 0


@SETTINGS
@given(pairs)
def test_reductions_agree(yp):
    y, p = yp
    n = y.size
    for name in NONNEG:
        L = getattr(fastloss, name)
        none = L(y, p, reduction="none")
        s = L(y, p, reduction="sum")
        np.testing.assert_allclose(s, none.sum(), rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(L(y, p), s / n, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(L.grad(y, p), L.grad(y, p, reduction="sum") / n,
                                   rtol=1e-15, atol=0)


@SETTINGS
@given(pairs, st.floats(0.01, 100))
def test_huber_is_delta_times_smooth_l1(yp, delta):
    y, p = yp
    h = fastloss.huber(y, p, delta=delta, reduction="none")
    s = fastloss.smooth_l1(y, p, beta=delta, reduction="none")
    np.testing.assert_allclose(h, delta * s, rtol=1e-12, atol=1e-300)
    # (+1e-300: a subnormal square has no relative precision to compare at; hypothesis
    # found d = 1.4e-159, whose half square rounds a subnormal step apart in two orders)
    assert np.all(h <= 0.5 * (p - y) ** 2 * (1 + 1e-12) + 1e-300)


@SETTINGS
@given(pairs, st.randoms())
def test_permutation_invariant(yp, rnd):
    y, p = yp
    idx = np.arange(y.size)
    rnd.shuffle(idx)
    np.testing.assert_allclose(fastloss.mse(y, p), fastloss.mse(y[idx], p[idx]), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9000), st.integers(0, 2**32 - 1))
def test_serial_parallel_bits_any_shape(rows, n, seed):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n)
    p = rng.standard_normal((rows, n))
    for kw in ({}, {"axis": -1}):
        a = fastloss.huber.value_and_grad(y, p, backend="serial", **kw)
        b = fastloss.huber.value_and_grad(y, p, backend="parallel", **kw)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
