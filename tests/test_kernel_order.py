"""The pointwise kernels add in a fixed order, written out here independently.

The reference below is the one-pass formula: in each chunk of ``CHUNK`` elements (per row
with ``axis=-1``), element ``k`` of the chunk is added into lane ``k % 32``, the 32 lanes are
folded into 8 as ``v_j = (l_j + l_{j+8}) + (l_{j+16} + l_{j+24})`` and added as
``((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))``, and the chunk partials are added
left to right. The kernels must give exactly its bits: serial, parallel (any thread
count), in place (``out=y_pred``) or not.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import fastloss
from fastloss._kernels.cpu import CHUNK


@numba.njit(cache=False)
def _chunked_lane_sum(v, n, rows):
    """Sum of ``v`` (rows of ``n`` with ``rows``) in the kernels' order, from the terms."""
    N = v.shape[0]
    R = N // n if rows else 1
    L = n if rows else N
    res = np.zeros(R)
    for r in range(R):
        total = 0.0
        for s in range(0, L, CHUNK):
            lane = np.zeros(32)
            for k in range(min(CHUNK, L - s)):
                lane[k & 31] += v[r * L + s + k]
            f = np.zeros(8)
            for j in range(8):
                f[j] = (lane[j] + lane[j + 8]) + (lane[j + 16] + lane[j + 24])
            total += ((f[0] + f[1]) + (f[2] + f[3])) + ((f[4] + f[5]) + (f[6] + f[7]))
        res[r] = total
    return res


CASES = [("huber", {"delta": 0.7}), ("binary_cross_entropy_with_logits", {})]


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("shape", [(3 * CHUNK + 5,), (7, 1001), (2, CHUNK + 13)])
def test_sums_in_the_fixed_order(name, params, shape):
    loss = getattr(fastloss, name)
    rng = np.random.default_rng(7)
    (y, p), _ = loss.spec.sample(rng, shape, np.float64)
    w = rng.uniform(0.0, 2.0, shape[-1])
    terms = loss(y, p, reduction="none", backend="serial", **params).reshape(-1)
    wterms = np.tile(w, terms.size // w.size) * terms
    n = shape[-1]
    for axis in (None, -1):
        rows = axis == -1 and len(shape) > 1
        want = _chunked_lane_sum(terms, n, rows)
        for backend in ("serial", "parallel"):
            got = loss(y, p, reduction="sum", axis=axis, backend=backend, **params)
            np.testing.assert_array_equal(np.atleast_1d(got), want if rows else want[:1])
        if rows or len(shape) == 1:  # one weight per element of the last axis
            want = _chunked_lane_sum(wterms, n, rows)
            for backend in ("serial", "parallel"):
                got = loss(
                    y, p, reduction="sum", axis=axis, backend=backend, sample_weight=w, **params
                )
                np.testing.assert_array_equal(np.atleast_1d(got), want if rows else want[:1])


@pytest.mark.parametrize("threads", [1, 2])
def test_value_and_grad_in_place_and_any_thread_count(threads):
    loss = fastloss.binary_cross_entropy_with_logits
    rng = np.random.default_rng(8)
    (y, p), _ = loss.spec.sample(rng, (5 * CHUNK + 3,), np.float64)
    v0, g0 = loss.value_and_grad(y, p, reduction="sum", backend="serial")
    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        q = p.copy()
        v1, g1 = loss.value_and_grad(y, q, reduction="sum", backend="parallel", out=q)
    finally:
        numba.set_num_threads(old)
    assert v1 == v0 and g1 is q
    np.testing.assert_array_equal(g1, g0)
    want = _chunked_lane_sum(loss(y, p, reduction="none", backend="serial"), p.size, False)
    assert v0 == want[0]
