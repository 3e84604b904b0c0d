"""Fast input checks: one read of the array, in fixed chunks (parallel for large arrays).

NumPy's ``np.any((a < lo) | (a > hi))`` makes four passes and two temporaries; on a
1e7-element input that costs as much as a whole loss kernel.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from . import _arrays as A
from . import _backend
from ._kernels.compile import njit

CHUNK = 65536
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _make(parallel):
    PAR = parallel  # in the closure: Numba's cache key ignores the compile flags

    def count_outside(a, lo, hi):
        """How many elements are below ``lo`` or above ``hi`` (NaN is not counted)."""
        PAR  # noqa: B018
        n = a.shape[0]
        nparts = (n + CHUNK - 1) // CHUNK
        parts = np.zeros(nparts, np.int64)
        for q in prange(nparts):
            v = a[q * CHUNK:min(n, (q + 1) * CHUNK)]
            c = 0
            for i in range(v.shape[0]):
                c += (v[i] < lo) | (v[i] > hi)
            parts[q] = c
        return parts.sum()

    return njit(count_outside, parallel=parallel)


_serial = _make(False)
_parallel = _make(True)


def first_outside(a: np.ndarray, lo: float, hi: float, backend: str | None = None) -> int:
    """Flat index of the first element of ``a`` outside ``[lo, hi]``, or -1 (NaN passes).
    A CUDA array is checked on the device. ``backend``: the call's (``"serial"`` never
    launches the parallel check; None: the backend in force, by size)."""
    if type(a) is not np.ndarray and A.is_device_array(a):
        from ._kernels.device import first_outside as first_outside_device

        return first_outside_device(a, lo, hi)
    flat = a.reshape(-1) if a.flags.c_contiguous else np.ravel(a)
    n = flat.size
    if n == 0:
        return -1
    if flat.dtype in _FLOATS:  # (Numba has no float16)
        if n > CHUNK and _backend.resolve(backend, n) == "parallel":  # (one chunk: serial)
            with _backend.parallel_launch():
                bad = _parallel(flat, lo, hi)
        else:
            bad = _serial(flat, lo, hi)
        if bad == 0:
            return -1
    outside = (flat < lo) | (flat > hi)
    return int(np.argmax(outside)) if outside.any() else -1


def check_range(a: np.ndarray, lo: float, hi: float, name: str, what: str,
                backend: str | None = None) -> None:
    """ValueError naming ``name``, the first bad position and value, when ``a`` leaves
    ``[lo, hi]`` (``backend`` as in :func:`first_outside`)."""
    i = first_outside(a, lo, hi, backend)
    if i >= 0:
        if type(a) is not np.ndarray and A.is_device_array(a):  # the message needs values
            from ._kernels.device import to_host

            a = to_host(a)
        pos = tuple(int(j) for j in np.unravel_index(i, a.shape)) if a.ndim else ()
        raise ValueError(f"{name} must be {what} in [{lo:g}, {hi:g}]; it holds "
                         f"{np.ravel(a)[i].item()!r} at position {pos}")


def _count_bad_weights(w):
    """How many entries of ``w`` are not finite and non-negative (NaN counted)."""
    c = 0
    for i in range(w.shape[0]):
        c += not (w[i] >= 0.0 and w[i] <= 1.7976931348623157e308)
    return c


#: ``count_bad_weights(w) -> int``: serial, for the small weight arrays of the fast path.
count_bad_weights = njit(_count_bad_weights)


def _make_signs(parallel):
    PAR = parallel  # in the closure: Numba's cache key ignores the compile flags

    def count_signs(a):
        """``(entries not in {-1, 0, 1} (NaN counted), entries equal to -1, entries equal
        to 0)`` in one vectorised pass, in fixed chunks (integer counts: any order)."""
        PAR  # noqa: B018
        n = a.shape[0]
        nparts = (n + CHUNK - 1) // CHUNK
        parts = np.zeros((nparts, 3), np.int64)
        for q in prange(nparts):
            v = a[q * CHUNK:min(n, (q + 1) * CHUNK)]
            bad = 0
            neg = 0
            zero = 0
            for i in range(v.shape[0]):
                x = v[i]
                bad += (x != 1) & (x != 0) & (x != -1)
                neg += x == -1
                zero += x == 0
            parts[q, 0] = bad
            parts[q, 1] = neg
            parts[q, 2] = zero
        return parts[:, 0].sum(), parts[:, 1].sum(), parts[:, 2].sum()

    return njit(count_signs, parallel=parallel)


_signs_serial = _make_signs(False)
_signs_parallel = _make_signs(True)


def check_sign_labels(y, name: str) -> None:
    """ValueError naming ``name`` (and the first bad position and value) unless ``y`` holds
    labels in ``{-1, 1}`` or in ``{0, 1}`` (parallel where the backend in force is, by
    size)."""
    flat = y.reshape(-1) if y.flags.c_contiguous else np.ravel(y)
    if flat.dtype.kind in "fiub" and flat.dtype != np.float16 and flat.size:
        if _backend.resolve(None, flat.size) == "parallel":
            with _backend.parallel_launch():
                bad, neg, zero = _signs_parallel(flat)
        else:
            bad, neg, zero = _signs_serial(flat)
    else:  # what Numba does not compile: NumPy's passes
        bad = int(((flat != 1) & (flat != 0) & (flat != -1)).sum())
        neg, zero = int((flat == -1).sum()), int((flat == 0).sum())
    if bad:
        i = int(np.argmax((flat != 1) & (flat != 0) & (flat != -1)))
        raise ValueError(f"{name} must hold labels in {{-1, 1}} or {{0, 1}}; it holds "
                         f"{flat[i]!r} at position "
                         f"{tuple(int(j) for j in np.unravel_index(i, y.shape))}")
    if neg and zero:
        raise ValueError(f"{name} mixes the label conventions {{-1, 1}} and {{0, 1}} "
                         "(it holds both -1 and 0)")
