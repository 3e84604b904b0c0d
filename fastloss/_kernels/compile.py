"""How fastloss compiles: fastmath flags, disk caching that never breaks import, source hashes."""

from __future__ import annotations

import hashlib
import inspect
import os

import numba

# No fastmath at all: with `reassoc`/`contract` LLVM rounds differently in loops it
# versions for aliasing (out=y_pred) and in kernels of different ops, and nnan/ninf break
# NaN propagation. Sums are vectorised through explicit lanes instead (cpu.py).
FASTMATH = False


def njit(fn, *, parallel: bool = False):
    """``numba.njit`` with the house options; without a writable cache folder, no cache."""
    opts = dict(parallel=parallel, fastmath=FASTMATH, nogil=True, error_model="numpy")
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
