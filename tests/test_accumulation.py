"""Sums are accumulated in float64, whatever the input dtype and the backend; inputs longer
than any internal block (targets broadcast over rows, per-column parameters, range checks,
weights) behave exactly as short ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastloss as fl


@pytest.fixture(scope="module")
def big32():
    rng = np.random.default_rng(2024)
    n = 10_000_000
    return rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_float32_inputs_accumulate_in_float64(big32, backend):
    """1e7 float32 terms: float64 accumulation stays within 1e-12 of the exact sum of the
    float32 terms (a float32 accumulator anywhere in the reduction gives about 1e-9)."""
    y, p = big32
    terms = fl.mse(y, p, reduction="none", backend=backend)  # each term, as computed
    assert terms.dtype == np.float32
    exact = math.fsum(terms.astype(np.float64))
    got = fl.mse(y, p, reduction="sum", backend=backend)
    assert abs(got - exact) <= 1e-12 * exact, (got, exact, abs(got - exact) / exact)
    v, _ = fl.mse.value_and_grad(y, p, backend=backend)
    assert abs(v - exact / y.size) <= 1e-12 * exact / y.size
    # one sum per row (axis=-1): each row accumulated in float64 too
    rows = fl.mse(y.reshape(2, -1), p.reshape(2, -1), axis=-1, reduction="sum", backend=backend)
    assert rows.dtype == np.float32  # the per-row result is rounded to the input dtype ...
    half = terms.reshape(2, -1).astype(np.float64)
    for r in range(2):  # ... so compare at float32's resolution of the exact row sum
        exact_r = math.fsum(half[r])
        assert abs(float(rows[r]) - exact_r) <= (2.0**-24 + 1e-12) * exact_r


def test_float32_weighted_sum_accumulates_in_float64(big32):
    y, p = big32
    n = 1_000_003
    w = np.random.default_rng(3).uniform(0.5, 2.0, n)
    terms = fl.mse(y[:n], p[:n], reduction="none").astype(np.float64)  # unweighted terms
    exact = math.fsum(w * terms)  # the products w * l are float64, exact to 1 ulp each
    got = fl.mse(y[:n], p[:n], reduction="sum", sample_weight=w)
    assert abs(got - exact) <= 1e-12 * exact


# ---------------------------------------------------------------------------------------
# blocks: targets broadcast over rows, per-column parameters


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_broadcast_targets_longer_than_a_block(backend):
    """y_true of shape (n,) against y_pred (R, n), n not a multiple of any block size."""
    rng = np.random.default_rng(5)
    R, n = 3, 10007
    y = rng.standard_normal(n)
    p = rng.standard_normal((R, n))
    d = p - y
    L = fl.mse
    np.testing.assert_allclose(L(y, p, reduction="sum", backend=backend), (d * d).sum(), rtol=1e-12)
    np.testing.assert_allclose(
        L(y, p, axis=-1, reduction="sum", backend=backend), (d * d).sum(axis=1), rtol=1e-12
    )
    np.testing.assert_array_equal(L(y, p, reduction="none", backend=backend), d * d)
    np.testing.assert_array_equal(L.grad(y, p, reduction="sum", backend=backend), 2 * d)


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_per_column_pos_weight_longer_than_a_block(backend):
    rng = np.random.default_rng(6)
    R, n = 3, 10007
    y = rng.integers(0, 2, (R, n)).astype(float)
    x = 2 * rng.standard_normal((R, n))
    pw = rng.uniform(0.0, 3.0, n)
    # -(pw y log s(x) + (1 - y) log(1 - s(x))), written apart from the kernel's formula
    want = pw * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    got = fl.binary_cross_entropy_with_logits(
        y, x, pos_weight=pw, reduction="none", backend=backend
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        fl.binary_cross_entropy_with_logits(
            y, x, pos_weight=pw, axis=-1, reduction="sum", backend=backend
        ),
        want.sum(axis=1),
        rtol=1e-12,
    )


# ---------------------------------------------------------------------------------------
# checks of long inputs: a bad value anywhere is found, and named with its position

N_LONG = 300_001
POSITIONS = [0, 4095, 4096, 65535, 65536, 131071, 131072, 262143, N_LONG - 1]


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_range_check_finds_a_bad_value_anywhere(backend):
    p = np.full(N_LONG, 0.5)
    y = np.full(N_LONG, 0.5)
    assert np.isfinite(fl.binary_cross_entropy(y, p, backend=backend))
    fl.set_backend(backend)  # the checks run on the current backend
    for i in POSITIONS:
        q = p.copy()
        q[i] = 1.5
        with pytest.raises(ValueError, match=rf"y_pred .*1\.5 at position \({i},\)"):
            fl.binary_cross_entropy(y, q)
        t = y.copy()
        t[i] = -0.25
        with pytest.raises(ValueError, match=rf"y_true .*-0\.25 at position \({i},\)"):
            fl.binary_cross_entropy(t, p)


def test_sample_weight_checked_everywhere():
    y = np.zeros(N_LONG)
    for i in (0, 65535, N_LONG - 1):
        for bad, msg in ((-1.0, "non-negative"), (np.nan, "finite"), (np.inf, "finite")):
            w = np.ones(N_LONG)
            w[i] = bad
            with pytest.raises(ValueError, match=f"sample_weight must be {msg}"):
                fl.mse(y, y, sample_weight=w)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 300, 4097, 65541, 1_000_003])
def test_weight_sums_in_numpys_pairwise_order(n):
    """The weights' total that ``mean`` divides by: one compiled call that checks and adds
    them (the fast path) and the full road's sum give numpy.add.reduce's bits; a negative,
    NaN or infinite weight gives -1 (the fast path then leaves it to the full road)."""
    from fastloss._checks import pairwise_sum, weight_total

    rng = np.random.default_rng(n)
    w = rng.random(n) * 10.0 ** rng.uniform(-8, 8, n)
    want = float(np.add.reduce(w))
    assert pairwise_sum(w) == want
    assert weight_total(w) == want
    if n:
        for bad in (-1e-300, np.nan, np.inf):
            v = w.copy()
            v[n // 2] = bad
            assert weight_total(v) == -1.0
