"""Fast input checks: one read of the array, in fixed chunks (parallel for large arrays).

NumPy's ``np.any((a < lo) | (a > hi))`` makes four passes and two temporaries; on a
1e7-element input that costs as much as a whole loss kernel.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from . import _arrays as A
from . import _backend
from ._kernels.compile import njit, source_hash
from ._kernels.scalar import SIGN_BAD, SIGN_NEG, SIGN_ZERO, outside, sign_flags
from ._kernels.sums import pairwise

CHUNK = 65536
#: The relative cost of a check's pass against a cheap loss's (elements x cost against the
#: parallel threshold): a range or sign count goes parallel from about 2e5 elements (serial
#: against parallel, float64, 2 cores: 14 against 23 us at 1e5, 66 against 43 at 3e5).
CHECK_COST = 0.2
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = _FLOATS


def _make(parallel):
    PAR = parallel  # in the closure: Numba's cache key ignores the compile flags
    SRC = source_hash(outside)  # noqa: F841 (an edit of it invalidates the disk cache)

    def count_outside(a, lo, hi):
        """How many elements are below ``lo`` or above ``hi`` (NaN is not counted)."""
        PAR  # noqa: B018
        SRC  # noqa: B018
        n = a.shape[0]
        nparts = (n + CHUNK - 1) // CHUNK
        parts = np.zeros(nparts, np.int64)
        for q in prange(nparts):
            v = a[q * CHUNK:min(n, (q + 1) * CHUNK)]
            c = 0
            for i in range(v.shape[0]):
                c += outside(v[i], lo, hi)
            parts[q] = c
        return parts.sum()

    return njit(count_outside, parallel=parallel)


_serial = _make(False)
_parallel = _make(True)


def _make_pair():
    SRC = source_hash(outside)  # noqa: F841

    def count_outside_pair(a, b, lo, hi):
        """How many elements of ``a`` and ``b`` (one length) are outside ``[lo, hi]``."""
        SRC  # noqa: B018
        c = 0
        for i in range(a.shape[0]):
            c += outside(a[i], lo, hi) + outside(b[i], lo, hi)
        return c

    return njit(count_outside_pair)


_pair = _make_pair()


def pair_inside(a: np.ndarray, b: np.ndarray, lo: float, hi: float,
                backend: str | None = None) -> bool:
    """Whether every element of the flat NumPy float arrays ``a`` and ``b`` (one dtype, one
    length) lies in ``[lo, hi]`` (NaN passes): one compiled call for both where they are
    small, else :func:`first_outside` on each."""
    if a.shape[0] <= CHUNK:
        return _pair(a, b, lo, hi) == 0
    return first_outside(a, lo, hi, backend) < 0 and first_outside(b, lo, hi, backend) < 0


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
        if n > CHUNK and _backend.resolve(backend, n, CHECK_COST) == "parallel":
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


#: ``count_bad_weights(w) -> int``: serial, for the weight arrays of the fast path.
count_bad_weights = njit(_count_bad_weights)




def _weight_total(w):
    """-1.0 where an entry of ``w`` is not finite and non-negative, else its sum (pairwise)."""
    return -1.0 if count_bad_weights(w) else pairwise(w)  # (the count vectorises)


#: ``weight_total(w) -> float``: float64 or float32 weights checked and added in one call
#: (the fast path's ``mean``); the sum has the bits of :func:`pairwise_sum`.
weight_total = njit(_weight_total)


def pairwise_sum(a: np.ndarray) -> float:
    """The float64 sum of ``a`` (weights, per-row losses) in the pairwise order of
    :func:`weight_total`, which is ``numpy.add.reduce``'s: one order for every road,
    whatever NumPy does, and one compiled call (``add.reduce`` costs 0.5 us on 10 values)."""
    dt = a.dtype
    if (dt is not _F64 and dt is not _F32 and dt != np.float64 and dt != np.float32) \
            or a.ndim != 1 or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    return float(pairwise(a))


def _make_signs(parallel):
    PAR = parallel  # in the closure: Numba's cache key ignores the compile flags
    SRC = source_hash(sign_flags)  # noqa: F841

    def signs_of(a):
        """The OR of :func:`sign_flags` over ``a``, in fixed chunks (an OR: any order)."""
        PAR  # noqa: B018
        SRC  # noqa: B018
        n = a.shape[0]
        nparts = (n + CHUNK - 1) // CHUNK
        parts = np.zeros(nparts, np.int64)
        for q in prange(nparts):
            v = a[q * CHUNK:min(n, (q + 1) * CHUNK)]
            f = 0
            for i in range(v.shape[0]):
                f |= sign_flags(v[i])
            parts[q] = f
        f = 0
        for q in range(nparts):
            f |= parts[q]
        return f

    return njit(signs_of, parallel=parallel)


_signs_serial = _make_signs(False)
_signs_parallel = _make_signs(True)


def sign_label_flags(flat) -> int:
    """The OR of ``SIGN_BAD`` (a value not in ``{-1, 0, 1}``, NaN too), ``SIGN_NEG`` (a -1)
    and ``SIGN_ZERO`` (a 0) over the 1-D array ``flat``: one compiled pass (parallel where
    the backend in force is, by size)."""
    dt = flat.dtype
    if (dt is _F64 or dt is _F32 or (dt.kind in "fiub" and dt != np.float16)) and flat.size:
        # (one chunk: the serial pass, the same flags)
        if flat.size > CHUNK and _backend.resolve(None, flat.size, CHECK_COST) == "parallel":
            with _backend.parallel_launch():
                return _signs_parallel(flat)
        return _signs_serial(flat)
    # what Numba does not compile: NumPy's passes
    return (SIGN_BAD * bool(((flat != 1) & (flat != 0) & (flat != -1)).any())
            | SIGN_NEG * bool((flat == -1).any()) | SIGN_ZERO * bool((flat == 0).any()))


def check_sign_labels(y, name: str) -> None:
    """ValueError naming ``name`` (and the first bad position and value) unless ``y`` holds
    labels in ``{-1, 1}`` or in ``{0, 1}`` (parallel where the backend in force is, by
    size)."""
    flat = y.reshape(-1) if y.flags.c_contiguous else np.ravel(y)
    flags = sign_label_flags(flat)
    if flags & SIGN_BAD:
        i = int(np.argmax((flat != 1) & (flat != 0) & (flat != -1)))
        raise ValueError(f"{name} must hold labels in {{-1, 1}} or {{0, 1}}; it holds "
                         f"{flat[i]!r} at position "
                         f"{tuple(int(j) for j in np.unravel_index(i, y.shape))}")
    if flags & SIGN_NEG and flags & SIGN_ZERO:
        raise ValueError(f"{name} mixes the label conventions {{-1, 1}} and {{0, 1}} "
                         "(it holds both -1 and 0)")
