"""The eight-lane row sums (``fastloss._kernels.lanes``): the CPU's vector IR gives the bits
of the plain chains (the CUDA twins), both follow the lane order written out here in NumPy,
strided rows take the chains, and the IR is packed SIMD (x86-64)."""

from __future__ import annotations

import platform

import numba
import numpy as np
import pytest

import fastloss
from fastloss._kernels import lanes as L
from fastloss._kernels.rows import BLOCK as ROW_BLOCK
from fastloss._kernels.rows import sum_shift, wsum_shift
from fastloss.losses.classification import _kl_term as C_kl_term

from .simd_rows import packed_ops


def _lane_order(terms):
    """Element ``j`` into lane ``j % 8`` (in order) for the ``8 * (n // 8)`` first terms, the
    lanes as ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``, then the tail in order."""
    n = len(terms)
    lanes = [0.0] * 8
    for j in range(8 * (n // 8)):
        lanes[j % 8] += float(terms[j])
    s = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
        ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    for j in range(8 * (n // 8), n):
        s += float(terms[j])
    return s


@numba.njit(cache=False)
def _rows_ir(x, y, eps, P, n_sum, out):
    for i in range(x.shape[0]):
        out[i, 0] = L.dot8(x[i], y[i])
        out[i, 1] = L.pdist8(x[i], y[i], eps, P)
        out[i, 2] = L.sum8(x[i], n_sum)


@numba.njit(cache=False)
def _rows_chains(x, y, eps, P, n_sum, out):
    for i in range(x.shape[0]):
        out[i, 0] = L.dot8_chains(x[i], y[i])
        out[i, 1] = L.pdist8_chains(x[i], y[i], eps, P)
        out[i, 2] = L.sum8_chains(x[i], n_sum)


def _terms(x, y, eps, P):
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    u = (x64 - y64) + eps
    if P not in (1.0, 2.0):  # the C library's pow, as the kernels call it (not NumPy's)
        return x64 * y64, np.array([abs(float(v)) ** P for v in u])
    return x64 * y64, (u * u if P == 2.0 else np.abs(u))


@pytest.mark.parametrize("dx", [np.float32, np.float64])
@pytest.mark.parametrize("dy", [np.float32, np.float64])
def test_vector_ir_gives_the_chains_bits_in_the_lane_order(dx, dy):
    rng = np.random.default_rng(3)
    for d in (0, 1, 7, 8, 9, 15, 16, 17, 63, 130, 1001):
        x = (rng.standard_normal((6, d)) * 10.0 ** rng.integers(-3, 4, (6, d))).astype(dx)
        y = rng.standard_normal((6, d)).astype(dy)
        if d > 2:
            x[1, 2], y[2, 1], x[3, d - 1] = np.nan, np.inf, -np.inf  # NaN and inf propagate
        for eps, P in ((1e-6, 2.0), (0.0, 1.0), (1e-6, 1.0), (1e-6, 1.5)):
            n_sum = max(0, d - 1)
            got, ref = np.empty((6, 3)), np.empty((6, 3))
            _rows_ir(x, y, eps, P, n_sum, got)
            _rows_chains(x, y, eps, P, n_sum, ref)
            np.testing.assert_array_equal(got, ref)
            for i in range(6):
                dot, dist = _terms(x[i], y[i], eps, P)
                want = [_lane_order(dot), _lane_order(dist), _lane_order(x[i, :n_sum])]
                np.testing.assert_array_equal(got[i], want, err_msg=f"d={d} row {i} P={P}")


def test_strided_rows_take_the_chains():
    """Rows of a Fortran-ordered array are not contiguous: the chains sum them, same bits."""
    rng = np.random.default_rng(4)
    x = np.asfortranarray(rng.standard_normal((5, 37)))
    y = np.asfortranarray(rng.standard_normal((5, 37)))
    got, ref = np.empty((5, 3)), np.empty((5, 3))
    _rows_ir(x, y, 1e-6, 2.0, 37, got)
    _rows_chains(np.ascontiguousarray(x), np.ascontiguousarray(y), 1e-6, 2.0, 37, ref)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="the assembly patterns are x86-64")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_sums_are_packed_simd(dtype):
    """The IR's loop is vector arithmetic; the chains (what Numba makes of eight scalar
    sums, its SLP vectoriser being off) are not, which is why the IR exists."""
    a2 = numba.types.Array(numba.from_dtype(np.dtype(dtype)), 2, "C")
    sig = (a2, a2, numba.float64, numba.float64, numba.int64, numba.float64[:, ::1])
    for fn, packed in ((_rows_ir, True), (_rows_chains, False)):
        k = numba.njit(cache=False)(fn.py_func)
        k.compile(sig)
        n = packed_ops(k.inspect_asm(sig))
        assert (n > 0) == packed, f"{fn.__name__} {np.dtype(dtype)}: {n} packed ops"


def _lane32_order(terms):
    """Element ``j`` into lane ``j % 32`` for the ``32 * (n // 32)`` first terms, the next
    full blocks of eight into lanes 0-7, lane ``k`` of eight as ``(l[k] + l[k+8]) +
    (l[k+16] + l[k+24])``, those eight as in :func:`_lane_order`, then the tail in order."""
    n = len(terms)
    lanes = [0.0] * 32
    n32, end = 32 * (n // 32), 8 * (n // 8)
    for j in range(n32):
        lanes[j % 32] += float(terms[j])
    for j in range(n32, end):
        lanes[j % 8] += float(terms[j])
    a = [(lanes[k] + lanes[k + 8]) + (lanes[k + 16] + lanes[k + 24]) for k in range(8)]
    s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
    for j in range(end, n):
        s += float(terms[j])
    return s


@numba.njit(cache=False)
def _sum32_rows(x, n, out):
    for i in range(x.shape[0]):
        out[i, 0] = L.sum32(x[i], n)
        out[i, 1] = L.sum32_chains(x[i], n)
        out[i, 2] = L.sum8(x[i], n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum32_ir_gives_the_chains_bits_in_its_lane_order(dtype):
    """The 32-lane sum (log-sum-exp's): IR == chains == the order written out above, bit
    for bit, at every length class (blocks of 32, of 8, a tail), NaN and inf included; it
    equals the 8-lane sum below 32 elements."""
    rng = np.random.default_rng(5)
    for d in (0, 1, 7, 8, 15, 31, 32, 33, 39, 40, 63, 64, 71, 316, 1001, 1024):
        x = (rng.standard_normal((5, d)) * 10.0 ** rng.integers(-4, 5, (5, d))).astype(dtype)
        if d > 3:
            x[1, 3], x[2, d - 1], x[3, 0] = np.nan, np.inf, -np.inf
        for n in {d, max(0, d - 3)}:
            got = np.empty((5, 3))
            _sum32_rows(x, n, got)
            for i in range(5):
                want = _lane32_order(x[i, :n])
                np.testing.assert_array_equal(got[i, :2], [want, want], err_msg=f"d={d} n={n}")
                if n < 32:
                    np.testing.assert_array_equal(got[i, 2], want)


def _key_max_ref(x):
    """The max of the order-preserving integer keys of ``x``'s bits, back as a float."""
    it = np.int32 if x.dtype == np.float32 else np.int64
    b = x.view(it)
    mx = it(np.iinfo(it).max)
    keys = b ^ ((b >> (8 * x.itemsize - 1)) & mx)
    k = keys.max()
    return np.array([k ^ ((k >> (8 * x.itemsize - 1)) & mx)], it).view(x.dtype)[0]


@numba.njit(cache=False)
def _keymax_rows(x, out):
    for i in range(x.shape[0]):
        out[i] = L.keymax(x[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keymax_is_the_max_of_the_keys(dtype):
    """The vector-IR max over a row: the largest value (+0.0 above -0.0), a positive NaN
    above everything, at every length (vector blocks and a tail)."""
    rng = np.random.default_rng(6)
    for d in (1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 316, 1001):
        x = (rng.standard_normal((6, d)) * 100).astype(dtype)
        x[1] = -np.abs(x[1])  # all negative
        x[2, d // 2] = np.inf
        x[3] = -1.0
        x[3, d - 1] = -0.0
        if d > 1:
            x[3, 0] = 0.0  # +0.0 above -0.0
            x[4, d - 2] = np.nan  # a positive NaN wins
            x[5, 0] = -np.nan  # a negative NaN loses to everything else
        got = np.empty(6, dtype)
        _keymax_rows(x, got)
        for i in range(6):
            want = _key_max_ref(x[i])
            assert got[i].tobytes() == want.tobytes(), (d, i, got[i], want)
        np.testing.assert_array_equal(got[:4], x[:4].max(axis=1))
        assert np.signbit(got[3]) == (d == 1)  # -0.0 only where no +0.0 is in the row
        if d > 1:
            assert np.isnan(got[4]) and got[5] == x[5, 1:].max()


@numba.njit(cache=False)
def _shift_sums(x, w, m, out):
    for i in range(x.shape[0]):
        out[i, 0] = sum_shift(x[i], m[i])
        out[i, 1] = wsum_shift(w, x[i], m[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_shift_sums_in_the_32_lane_order(dtype):
    """``sum(m - x)`` and ``sum(w (m - x))`` of the row kernels (label smoothing): each term
    in float64 as NumPy computes it, added in the 32 lanes' order, at every length class."""
    rng = np.random.default_rng(7)
    for C in (1, 7, 8, 31, 32, 33, 40, 100, 1000):
        x = (rng.standard_normal((4, C)) * 5).astype(dtype)
        w = rng.random(C)
        m = x.max(axis=1).astype(np.float64)
        got = np.empty((4, 2))
        _shift_sums(x, w, m, got)
        for i in range(4):
            d = m[i] - x[i].astype(np.float64)
            assert got[i, 0] == _lane32_order(d), (C, i)
            assert got[i, 1] == _lane32_order(w * d), (C, i)


@numba.njit(cache=False)
def _kl_terms(t, x, out):
    for j in range(t.shape[0]):
        out[j] = np.float64(C_kl_term(t[j], x[j]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_kl_divergence_rows_add_their_terms_in_the_32_lane_order(dtype, backend):
    """Each row of ``kl_divergence(..., reduction="none")`` is its terms (the kernel's own
    term function, computed elementwise here) added block by block (1024 terms), each block
    in the 32 lanes' order: the same bits whatever the build or the SIMD width."""
    rng = np.random.default_rng(8)
    for C in (5, 31, 100, 2500):
        p, q = rng.random((3, C)), rng.random((3, C))
        p[0, : C // 3] = 0.0  # zero targets: zero terms
        p = (p / p.sum(1, keepdims=True)).astype(dtype)
        q = (q / q.sum(1, keepdims=True)).astype(dtype)
        got = fastloss.kl_divergence(p, q, reduction="none", backend=backend)
        for i in range(3):
            terms = np.empty(C)
            _kl_terms(p[i], q[i], terms)
            want = 0.0
            for lo in range(0, C, ROW_BLOCK):
                want += _lane32_order(terms[lo:lo + ROW_BLOCK])
            assert got[i] == np.array(want).astype(dtype), (C, i, got[i], want)
