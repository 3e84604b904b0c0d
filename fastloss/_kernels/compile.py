"""How fastloss compiles: fastmath flags, disk caching that never breaks import, source hashes."""

from __future__ import annotations

import hashlib
import inspect
import os

import numba

# No nnan/ninf (they make isnan always False and drop NaN from max), no arcp/afn
# (approximate division and functions), and no `reassoc`: with it LLVM chose another order
# for the same chunk sum in the parallel build loaded from the disk cache than in the fresh
# one or the serial one (1 ulp apart: serial != parallel). Sums are written in a fixed
# order that vectorises without it (fastloss._kernels.cpu_math.sum8).
FASTMATH = frozenset({"contract", "nsz"})


def njit(fn, *, parallel: bool = False, fastmath=None):
    """``numba.njit`` with the house options; without a writable cache folder, no cache.
    ``fastmath`` overrides the house flags (``False``: strict IEEE arithmetic)."""
    fm = set(FASTMATH) if fastmath is None else fastmath
    opts = dict(parallel=parallel, fastmath=fm, nogil=True, error_model="numpy")
    try:
        return numba.njit(cache=True, **opts)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(cache=False, **opts)(fn)


def source_hash(*fns) -> str:
    """A hash of the functions' source: put it in a kernel's closure so that an edited
    formula invalidates the kernel cached on disk."""
    h = hashlib.sha1()
    for fn in fns:
        try:
            h.update(inspect.getsource(fn).encode())
        except (OSError, TypeError):
            h.update(repr(fn).encode())
    return h.hexdigest()[:16]


def cache_dir() -> str:
    if numba.config.CACHE_DIR:
        return numba.config.CACHE_DIR
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "__pycache__") + " (or Numba's user cache if not writable)"
