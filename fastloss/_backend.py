"""The dispatcher: which backend runs a call, and how parallel kernels run safely.

Precedence: the per-call ``backend=`` argument, then :func:`use_backend`, then
:func:`set_backend`, then the ``FASTLOSS_BACKEND`` environment variable, then ``"auto"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import glob
import os
import sys
import threading
from collections.abc import Iterator

BACKENDS = ("auto", "serial", "parallel", "cuda")

# From how many elements x cost "auto" runs the parallel kernel, per cost class of the loss
# (``spec.cost`` is the relative cost of one element): "cheap" (cost <= 1: mse, huber, the
# hinges, the penalties), "exp-log" (1 < cost < 8: a few transcendentals per element) and
# "row-wise" (cost >= 8: cross_entropy, kl_divergence, linear_cross_entropy: a max, an exp
# per class and a log per row). Within a class the cost still scales the size: a loss of
# cost 4 goes parallel from a quarter of the elements a loss of cost 1 of its class needs.
# Measured with benchmarks/threshold_must_show.py (value_and_grad, float64, serial,
# parallel and auto interleaved at 1e3-3e6 elements, 2 cores, load 1.6): parallel faster
# from about 2.1e4-2.7e4 elements for mse and huber (x cost 1), 1.0e4 for
# binary_cross_entropy_with_logits (x cost 4), 9.4e3 for log_cosh (x 6), 1.7e4 for
# poisson_nll (x 4), 2e3 for cross_entropy (x 8). Re-measured after the cheaper log1p
# (three runs, load 0.1-0.5): 2.1e4-2.4e4 for binary_cross_entropy_with_logits (now cost
# 2.2), 1.1e4 for log_cosh (now 4.5); 2.0e4-3.7e4 for mse and huber (median 2.8e4: the
# cheap class moved from 32768 to 28672). The row kernels without per-row reference counting
# run 2-4x faster on one thread: cross_entropy's crossover moved to 1.4e4-1.6e4 elements (two
# runs, load 0.8-1.0; kl_divergence's 7e3-1e4), so the row-wise class moved from 16384 to
# 114688 (1.43e4 x 8). The chunk sums in 32 lanes made every serial pointwise kernel
# faster (three runs, load 0.9-1.0): mse and huber cross at 3.4e4-4.5e4 elements (the cheap
# class moved to 36864), binary_cross_entropy_with_logits at 1.2e4 (now cost 3.5),
# poisson_nll at 2.3e4-3.0e4 (now cost 2.0). On a loaded machine parallel gains nothing
# and every crossover moves up. FASTLOSS_PARALLEL_THRESHOLD overrides all three.
# A row-wise loss counts its work per row, ``row_fixed`` values more than the row's own,
# a float64 value as ``float64_factor`` float32 ones (``_kinds.rowwise.work``): measured on
# cross_entropy and kl_divergence from 9 x 1000 to 4000 x 10, float32 and float64, serial,
# parallel and auto interleaved (load 0.3-0.7), the crossover lies at about 3e4 such values
# for cross_entropy (x cost 8) in both ops, and auto now stays within 8% of the better of
# the two there; counted as N x C, short rows went parallel too late (1200 x 10 float32:
# 24% lost) and long ones too early (16 x 1000 value_and_grad: 43% lost).
PARALLEL_THRESHOLDS = {"cheap": 36864, "exp-log": 49152, "row-wise": 240000}
# A pass that only reduces (the value with reduction "mean" or "sum") writes nothing per
# element, so its serial loop is quicker and parallel pays off later: it has thresholds of
# its own. Measured with threshold_must_show.py --op value (float64, load 0.3): parallel
# faster from 8.0e4 elements for mse, 7.0e4 for huber, 5.6e4-1e5 for l1_penalty (a later
# run), 1.9e4 for binary_cross_entropy_with_logits (x 3.5), 1.3e4 for log_cosh
# (x 4.5), 2.7e4 for poisson_nll (x 2), 1.9e4 for cross_entropy (x 8). With the
# value_and_grad thresholds above, auto lost up to 1.66x (l1_penalty), 1.48x (mse).
VALUE_THRESHOLDS = {"cheap": 98304, "exp-log": 61440, "row-wise": 240000}
#: The threshold of the cheap class (what the docs quote).
DEFAULT_PARALLEL_THRESHOLD = PARALLEL_THRESHOLDS["cheap"]
# The thresholds count float64 elements. A float32 element of a cheap loss (cost <= 1) counts
# as FLOAT32_CHEAP of one: its serial loop runs 16 lanes where float64 runs 8, and nothing
# else bounds it, while the parallel launch costs the same. Measured with
# threshold_must_show.py --dtype float32 (load 0.4-0.6): mse, huber and l1_penalty cross
# over at 6.2e4-7.1e4 float32 elements in value_and_grad (threshold 36864) and at 1.1e5-2.7e5
# in value (98304); counted whole, auto lost up to 1.25x at 1e5 (l1_penalty value). The
# exp/log losses crossed at 0.8-1.3x their float64 thresholds in float32: they count 1.
FLOAT32_CHEAP = 0.6


def cost_class(cost: float) -> str:
    """"cheap", "exp-log" or "row-wise": the class of a loss of relative cost ``cost``."""
    if cost <= 1.0:
        return "cheap"
    return "exp-log" if cost < 8.0 else "row-wise"


class BackendUnavailableError(RuntimeError):
    """A backend was asked for that cannot run here; the message says why."""


# The use_backend entries of the current context (thread, asyncio task), innermost last.
_stack: contextvars.ContextVar[tuple] = contextvars.ContextVar("fastloss_backend", default=())
_global_backend: str | None = None
_launch_lock = threading.Lock()
_parallel_ran = False
_parallel_began = False  # a parallel call has begun (it may be compiling, starting the pool)
_forked_after_parallel = False
_tbb_tried = False


#: os.environ's own dict of encoded names and values (POSIX): read without the
#: encode/decode round trip of os.environ.get, on every call
_ENVIRON = getattr(os.environ, "_data", None)
if os.name != "posix" or type(_ENVIRON) is not dict:
    _ENVIRON = None


def _env(key: str) -> str | None:
    if _ENVIRON is not None:
        v = _ENVIRON.get(key.encode())
        return None if v is None else v.decode()
    return os.environ.get(key)


def _check_name(name: object, what: str = "backend") -> str:
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"{what} must be one of {BACKENDS}, got {name!r}")
    return name


def set_backend(name: str | None) -> None:
    """Set the process-wide backend (``None`` returns to the environment/auto default)."""
    global _global_backend
    _global_backend = None if name is None else _check_name(name)


def get_backend() -> str:
    """The backend a call without ``backend=`` would use now (before "auto" resolves)."""
    stack = _stack.get()
    if stack:
        return stack[-1][1]
    if _global_backend is not None:
        return _global_backend
    env = _env("FASTLOSS_BACKEND")
    if env:
        return _check_name(env, "FASTLOSS_BACKEND")
    return "auto"


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager selecting the backend for calls made inside it, in this context
    only: the thread, or the asyncio task (each task runs in a copy of its creator's
    context, so a task's choice never leaks into another task).

    Contexts left out of order each remove their own entry. A generator that yields inside
    ``use_backend`` shares its caller's context (Python's rule for context variables), so
    the caller sees that backend while the generator is suspended.
    """
    _check_name(name)
    entry = (object(), name)
    new = _stack.get() + (entry,)
    token = _stack.set(new)
    try:
        yield
    finally:
        _leave(token, new, entry)


def _leave(token, new: tuple, entry) -> None:
    if _stack.get() is new:
        try:
            _stack.reset(token)
            return
        except ValueError:  # entered in another context
            pass
    _stack.set(tuple(e for e in _stack.get() if e is not entry))


def parallel_threshold(cost: float = 1.0, value_only: bool = False) -> int:
    """Elements x cost from which "auto" runs a loss of relative cost ``cost`` in parallel
    (its class's entry of :data:`PARALLEL_THRESHOLDS`, or of :data:`VALUE_THRESHOLDS` for a
    pass that only reduces; FASTLOSS_PARALLEL_THRESHOLD overrides both)."""
    env = _env("FASTLOSS_PARALLEL_THRESHOLD")
    if env:
        try:
            return int(env)
        except ValueError:
            raise ValueError(
                f"FASTLOSS_PARALLEL_THRESHOLD must be an integer, got {env!r}"
            ) from None
    return (VALUE_THRESHOLDS if value_only else PARALLEL_THRESHOLDS)[cost_class(cost)]


def work(size: int, cost: float, dtype) -> float:
    """``size`` elements of a pointwise pass in ``dtype`` as the serial/parallel choice
    counts them (:data:`FLOAT32_CHEAP`); the fast paths inline it."""
    return size * FLOAT32_CHEAP if cost <= 1.0 and dtype == "float32" else size


_CONCRETE = frozenset(BACKENDS)


def resolve(backend: str | None, size: int, cost: float = 1.0, on_device: bool = False,
            value_only: bool = False) -> str:
    """The concrete backend ("serial" | "parallel" | "cuda") for one call; ``value_only``:
    its pass only reduces (nothing written per element)."""
    global _parallel_began
    # get_backend() and parallel_threshold() inlined: this runs on every call
    if backend is None:
        stack = _stack.get()
        if stack:
            name = stack[-1][1]
        elif _global_backend is not None:
            name = _global_backend
        else:
            set_ = _ENVIRON is None or b"FASTLOSS_BACKEND" in _ENVIRON
            name = (_env("FASTLOSS_BACKEND") if set_ else None) or "auto"
            if name not in _CONCRETE:
                name = _check_name(name, "FASTLOSS_BACKEND")
    elif type(backend) is str and backend in _CONCRETE:
        name = backend
    else:
        name = _check_name(backend)
    if name == "auto":
        if on_device:
            return "cuda"
        if _ENVIRON is None or b"FASTLOSS_PARALLEL_THRESHOLD" in _ENVIRON:
            threshold = parallel_threshold(cost, value_only)
        else:
            threshold = (VALUE_THRESHOLDS if value_only else PARALLEL_THRESHOLDS)[
                "cheap" if cost <= 1.0 else cost_class(cost)]
        name = "parallel" if size * cost >= threshold else "serial"
    if name == "parallel":
        if _forked_after_parallel:
            return "serial"  # same bits; parallel runtimes are unsafe in such a child
        _parallel_began = True  # a child forked from now on runs serial kernels
    return name


# ---------------------------------------------------------------------------
# parallel launches: threading layer, lock, fork


def _user_chose_layer() -> bool:
    return bool(os.environ.get("NUMBA_THREADING_LAYER"))


def _load_tbb() -> None:
    """Make the PyPI ``tbb`` wheel's library visible to Numba (it looks in the wrong place)."""
    global _tbb_tried
    if _tbb_tried:
        return
    _tbb_tried = True
    if _user_chose_layer():
        return
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        for path in sorted(glob.glob(os.path.join(prefix, "lib", "libtbb.so.12*"))):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                return
            except OSError:
                continue


def _start_threads() -> None:
    """Start Numba's thread pool now: a kernel loaded from the disk cache runs without
    recording which layer it got, and the lock below must know it."""
    try:
        from numba.np.ufunc import parallel

        parallel._launch_threads()
    except Exception:  # pragma: no cover - private API moved: the lock stays on
        pass


def pool_started() -> bool:
    """Whether Numba's thread pool has started in this process, whoever started it (our
    kernels or the user's own ``parallel=True`` code)."""
    if _parallel_ran or _parallel_began:
        return True
    mod = sys.modules.get("numba.np.ufunc.parallel")
    return bool(getattr(mod, "_is_initialized", False))


def threading_layer() -> str | None:
    """Numba's threading layer, or None before the first parallel kernel ran."""
    if not _parallel_ran:
        return None
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return None


@contextlib.contextmanager
def parallel_launch() -> Iterator[None]:
    """Wrap one parallel kernel call: TBB preferred, workqueue serialised, fork recorded."""
    global _parallel_ran, _parallel_began
    _parallel_began = True
    try:
        if not _parallel_ran:
            _load_tbb()
            _start_threads()
        layer = threading_layer()
        if layer is None or layer == "workqueue":
            with _launch_lock:
                yield
        else:
            yield
    finally:  # also when the call was interrupted: the pool has started
        _parallel_ran = True


def _after_fork_in_child() -> None:
    """In a forked child: parallel runtimes started in the parent are unusable (GNU
    OpenMP kills the child, a workqueue lock may be held by a thread that is gone), so
    run serial kernels; and a lock held by another parent thread would stay held."""
    global _forked_after_parallel
    _fresh_module_locks()
    if pool_started():
        _forked_after_parallel = True
    _release_compiler_lock()


_LOCK_TYPES = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


def _fresh_module_locks() -> None:
    """Replace every module-level lock of fastloss (the launch lock, the kernel factories'
    locks) with a new one: another parent thread may have held it at the fork."""
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name == "fastloss" or name.startswith("fastloss.")):
            continue
        for attr, value in list(vars(mod).items()):
            make = _LOCK_TYPES.get(type(value))
            if make is not None:
                setattr(mod, attr, make())


def _release_compiler_lock() -> None:
    """Numba's compiler lock, held in the parent by a thread that does not exist in this
    child, would hang every compile (and cache load) here: give the child a fresh one."""
    mod = sys.modules.get("numba.core.compiler_lock")
    lock = getattr(mod, "global_compiler_lock", None)
    inner = getattr(lock, "_lock", None)
    if inner is None:
        return
    try:
        if inner._is_owned():  # this thread forked inside a compile: keep it
            return
        if inner.acquire(blocking=False):
            inner.release()
            return
        lock._lock = threading.RLock()
    except Exception:  # pragma: no cover - numba internals moved
        pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------
# CUDA availability (imports numba.cuda only when asked)


_cuda_reason: list = []  # memo: [reason or None], once probed


def cuda_unavailable_reason() -> str | None:
    """None when a CUDA GPU (or the simulator) is usable, else why not.

    Imports ``numba.cuda`` (up to 1 s) only when numba-cuda is installed; the answer is
    memoised for the process.
    """
    if _cuda_reason:
        return _cuda_reason[0]
    reason = _probe_cuda()
    _cuda_reason.append(reason)
    return reason


def _probe_cuda() -> str | None:
    import importlib.util

    try:
        found = importlib.util.find_spec("numba_cuda") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return ("numba-cuda is not installed: pip install 'fastloss[cuda12]' or "
                "'fastloss[cuda13]' (matching the CUDA driver's major version)")
    try:
        from numba import cuda
    except Exception as exc:  # numba-cuda broken
        return f"numba.cuda cannot be imported ({exc}); reinstall fastloss[cuda12] or [cuda13]"
    try:
        if cuda.is_available():
            return None
        err = cuda.cuda_error()
    except Exception as exc:
        return f"CUDA driver error: {exc}"
    detail = (": " + " ".join(str(err).split())) if err else ""
    return f"no usable CUDA GPU or driver (numba.cuda.is_available() is False){detail}"


def require_cuda() -> None:
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise BackendUnavailableError(f'backend "cuda" is not usable: {reason}')


# ---------------------------------------------------------------------------


def info() -> dict:
    """Versions, threading, backends usable (and why not), the auto threshold, the cache."""
    import numba
    import numpy as np

    from ._kernels.compile import cache_dir
    from ._version import __version__

    _load_tbb()
    cuda_reason = cuda_unavailable_reason()
    try:
        import numba_cuda  # noqa: F401

        numba_cuda_version = getattr(numba_cuda, "__version__", "installed")
    except Exception:
        numba_cuda_version = None
    layer = threading_layer()
    return {
        "fastloss": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_cuda": numba_cuda_version,
        "threading_layer": layer or numba.config.THREADING_LAYER + " (no parallel call yet)",
        "num_threads": numba.get_num_threads(),
        "backend": get_backend(),
        "backends": {
            "serial": "usable",
            "parallel": "usable" if not _forked_after_parallel else "serial fallback (forked)",
            "cuda": "usable" if cuda_reason is None else f"unusable: {cuda_reason}",
        },
        "parallel_threshold": parallel_threshold(),
        "cache_dir": cache_dir(),
    }


# TBB visible from import on: whatever starts Numba's thread pool first (a parallel kernel,
# fastloss.info(), the user's own numba.set_num_threads) then finds it, rather than settling
# the process on OpenMP, whose spinning threads slow the BLAS calls between our kernels.
_load_tbb()
