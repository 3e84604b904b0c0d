"""NumPy's pairwise summation order, compiled: how every road adds per-row losses and
weights, so that a row kernel, the executors and the fast paths give the bits of
``numpy.add.reduce`` whatever NumPy version runs."""

from __future__ import annotations

import numpy as np

from .compile import njit


def _pairwise_block(a, lo, n):
    """The sum of ``a[lo:lo + n]``, ``n <= 128``, as NumPy adds a block: in order below 8
    values, else 8 accumulators, their tree, then the rest in order; in float64 (float32
    values give the bits of their float64 copy)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    f = np.float64
    r0, r1, r2, r3 = f(a[lo]), f(a[lo + 1]), f(a[lo + 2]), f(a[lo + 3])
    r4, r5, r6, r7 = f(a[lo + 4]), f(a[lo + 5]), f(a[lo + 6]), f(a[lo + 7])
    m = lo + n - n % 8
    i = lo + 8
    while i < m:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


_block = njit(_pairwise_block)


def _pairwise(a):
    """The sum of ``a`` in NumPy's pairwise order (``numpy.add.reduce`` of a contiguous
    float64 array): blocks of up to 128 (:func:`_pairwise_block`), and above that the sum of
    the two halves, the first one ``n // 2`` rounded down to a multiple of 8. The recursion
    runs on an explicit stack (Numba's disk cache does not hold recursive functions)."""
    n = a.shape[0]
    if n <= 128:
        return _block(a, 0, n)
    frames = np.empty((192, 3), np.int64)  # (start, length, halves done): depth < 64
    vals = np.empty(96, np.float64)
    frames[0, 0], frames[0, 1], frames[0, 2] = 0, n, 0
    sp, nv = 1, 0
    while sp > 0:
        sp -= 1
        lo, m, done = frames[sp, 0], frames[sp, 1], frames[sp, 2]
        if m <= 128:
            vals[nv] = _block(a, lo, m)
            nv += 1
        elif done:  # both halves computed: the first is below the second
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
        else:
            n2 = m // 2
            n2 -= n2 % 8
            frames[sp, 0], frames[sp, 1], frames[sp, 2] = lo, m, 1
            frames[sp + 1, 0], frames[sp + 1, 1], frames[sp + 1, 2] = lo + n2, m - n2, 0
            frames[sp + 2, 0], frames[sp + 2, 1], frames[sp + 2, 2] = lo, n2, 0
            sp += 3
    return vals[0]


pairwise = njit(_pairwise)
