"""The eight-lane row sums (``fastloss._kernels.lanes``): the CPU's vector IR gives the bits
of the plain chains (the CUDA twins), both follow the lane order written out here in NumPy,
strided rows take the chains, and the IR is packed SIMD (x86-64)."""

from __future__ import annotations

import platform

import numba
import numpy as np
import pytest

from fastloss._kernels import lanes as L

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
