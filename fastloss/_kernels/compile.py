"""How fastloss compiles: fastmath flags, a disk cache that never breaks a call, source hashes.

Every kernel goes through :func:`njit`, which gives it a Numba disk cache of our own
(:class:`KernelCache`) and an interrupt-safe, process-safe first compile:

* each kernel variant gets its own cache files: factories build many variants of one
  function (value, grad, serial, parallel, ...) that differ only in closure values, and
  Numba names the cache files after the qualname, so the variants would share one index
  file; a hash of the closure values goes into the qualname instead;
* a data file records the index key it was written for, and a load whose key differs, or
  that fails in any way (a truncated, empty or garbage file), is a miss: the kernel is
  compiled again and the entry overwritten;
* compiling and saving one kernel happens under a file lock (``lockf``) next to its cache files, so
  processes that compile into one fresh cache at once cannot interleave their index
  writes (Numba's own save is unlocked: https://github.com/numba/numba/issues/4807);
  the waiting process then loads what the first one saved;
* a save that fails (a full disk, a read-only folder) turns the cache off for that kernel
  only: it runs compiled in memory;
* the cache folder is ``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` next to the
  sources, else Numba's user cache; a read-only folder that already holds a kernel's
  files is read (a site-wide warm cache), see :func:`cache_dir`;
* SIGINT (Ctrl-C) that arrives while the main thread compiles is held back until the
  compile has finished, then raised as usual: an interrupted compile could leave Numba's
  typing registry half updated for the rest of the process.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import inspect
import os
import signal
import sys
import threading
import time

import numba
from numba.core import caching, serialize, types
from numba.extending import intrinsic

# No fastmath at all: with `reassoc`/`contract` LLVM rounds differently in loops it
# versions for aliasing (out=y_pred) and in kernels of different ops, and nnan/ninf break
# NaN propagation. Sums are vectorised through explicit lanes instead (cpu.py).
FASTMATH = False

#: Vector width (bits) LLVM is asked to vectorise the CPU kernels with. LLVM's tuning for
#: many AVX-512 CPUs prefers 256-bit vectors; the exp/log bodies run 1.3-1.5x faster with
#: 512 (binary_cross_entropy_with_logits float64 3.9 -> 2.9 ns/element serial). A CPU with
#: narrower vectors uses its own width. The bits do not depend on it (no reassociation).
PREFER_VECTOR_WIDTH = 512

LOCK_TIMEOUT = 600.0  # seconds to wait for another process's compile of the same kernel


# ---------------------------------------------------------------------------
# where the cache lives


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _candidates(py_file: str) -> list[str]:
    """The cache folders for functions of ``py_file``, in order of preference."""
    sub = caching._CacheLocator.get_suitable_cache_subpath(py_file)
    out = []
    if numba.config.CACHE_DIR:
        out.append(os.path.join(numba.config.CACHE_DIR, sub))
    out.append(os.path.join(os.path.dirname(os.path.abspath(py_file)), "__pycache__"))
    appdirs = caching.AppDirs(appname="numba", appauthor=False)
    out.append(os.path.join(appdirs.user_cache_dir, sub))
    return out


def choose_dir(py_file: str, index_name: str | None = None) -> tuple[str | None, bool]:
    """``(folder, writable)``: the first candidate folder that can be written, unless an
    earlier, read-only one already holds ``index_name`` (a warm cache to read)."""
    for path in _candidates(py_file):
        if _writable_dir(path):
            return path, True
        if index_name is not None and os.access(os.path.join(path, index_name), os.R_OK):
            return path, False
    return None, False


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """Numba's cache locator, choosing the folder as :func:`choose_dir` says."""

    def __init__(self, py_func, py_file, path, writable):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = path
        self.writable = writable

    def ensure_cache_path(self):
        if not self.writable:
            raise OSError(errno.EROFS, "read-only cache folder", self._cache_path)
        super().ensure_cache_path()

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.exists(py_file):
            return None
        index = _index_name(py_func, py_file, cls)
        path, writable = choose_dir(py_file, index)
        return None if path is None else cls(py_func, py_file, path, writable)


def _index_name(py_func, py_file, locator_cls) -> str:
    modname = os.path.splitext(os.path.basename(py_file))[0]
    fullname = f"{modname}.{py_func.__qualname__}".replace("<", "").replace(">", "")
    line = py_func.__code__.co_firstlineno
    py = f"{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    return f"{fullname}-{line}.py{py}.nbi"


class _Impl(caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _IndexFile(caching.IndexDataCacheFile):
    """Numba's index + data files, where any unreadable file is a miss and a data file
    must hold the key it is loaded for."""

    def _load_index(self):
        try:
            return super()._load_index()
        except Exception:  # truncated, empty or garbage: start a fresh index
            return {}

    def save(self, key, data):
        super().save(key, (key, data))

    def load(self, key):
        try:
            got = super().load(key)
        except Exception:
            return None
        if not (isinstance(got, tuple) and len(got) == 2 and got[0] == key):
            return None  # written for another key (or by another version): a miss
        return got[1]


class KernelCache(caching.FunctionCache):
    """Numba's function cache with the behaviour described in the module docstring."""

    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _IndexFile(
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp(),
        )
        self.lock_path = os.path.join(self._cache_path, self._impl.filename_base + ".lock")
        self.writable = self._impl.locator.writable

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # a payload that cannot be rebuilt: compile instead
            return None

    def save_overload(self, sig, data):
        if not self.writable:
            return
        try:
            super().save_overload(sig, data)
        except OSError:  # full disk, read-only, gone: this kernel runs uncached
            self.writable = False


@intrinsic
def wide_vectors(typingctx):
    """``wide_vectors()`` at the top of a kernel's loop body, and of every jitted helper
    that holds a loop: the function it is lowered into (the kernel, the outlined body of a
    ``prange``, the helper) gets LLVM's ``"prefer-vector-width"`` attribute
    (:data:`PREFER_VECTOR_WIDTH`). A helper needs its own call: Numba optimises each
    jitted function, loops vectorised included, before it is inlined into its caller. No
    code at run time; a compiler that refuses the attribute, or a GPU target, gets none."""
    def codegen(context, builder, signature, args):
        if "nvptx" not in str(builder.module.triple):
            try:  # llvmlite lists the attributes it knows; this is a string attribute
                set.add(builder.function.attributes,
                        f'"prefer-vector-width"="{PREFER_VECTOR_WIDTH}"')
            except Exception:  # pragma: no cover - llvmlite changed: default width
                pass
        return context.get_dummy_value()

    return types.none(), codegen


def _borrow(context, builder, typ, value):
    if not isinstance(typ, types.Array):
        return value  # a number or a boolean: no reference count
    src = context.make_array(typ)(context, builder, value)
    out = context.make_array(typ)(context, builder)
    for field in ("nitems", "itemsize", "data", "shape", "strides"):
        setattr(out, field, getattr(src, field))
    out.meminfo = out.meminfo.type(None)
    out.parent = out.parent.type(None)
    return out._getvalue()


@intrinsic
def borrowed(typingctx, arr):
    """``borrowed(a)``: the array ``a`` without its reference count (a null meminfo), so
    that taking views of it (a row, a block) costs no atomic increment and decrement; of a
    tuple of arrays and numbers, the same tuple with every array borrowed. Only for arrays
    that outlive every use of the view: a kernel's arguments, held by its caller for the
    whole call."""
    items = arr.types if isinstance(arr, types.BaseTuple) else (arr,)
    if not all(isinstance(t, (types.Array, types.Number, types.Boolean)) for t in items):
        return None

    def codegen(context, builder, signature, args):
        typ = signature.args[0]
        if not isinstance(typ, types.BaseTuple):
            return _borrow(context, builder, typ, args[0])
        vals = [_borrow(context, builder, t, builder.extract_value(args[0], i))
                for i, t in enumerate(typ.types)]
        return context.make_tuple(builder, typ, vals)

    return arr(arr), codegen


# ---------------------------------------------------------------------------
# one compile at a time per kernel, Ctrl-C held back


@contextlib.contextmanager
def _file_lock(path: str | None):
    """An exclusive lock on the file ``path`` between processes (no lock where it cannot be
    made, and none after :data:`LOCK_TIMEOUT` seconds of waiting: a stuck process must not
    stall others forever). POSIX record locks (``lockf``) belong to the process: a forked
    child does not inherit them, so it can neither hold nor wait on its parent's lock."""
    fd = None
    if path is not None:
        try:
            import fcntl

            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except (ImportError, OSError):
            fd = None
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (BlockingIOError, PermissionError):  # held by another process
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            except OSError:
                break
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _sigint_held():
    """Hold SIGINT back (main thread only) and deliver it when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        old = signal.getsignal(signal.SIGINT)
    except (ValueError, TypeError):
        old = None
    if old is None or old is signal.SIG_IGN:
        yield
        return
    caught: list = []

    def hold(signum, frame):
        caught.append(frame)

    try:
        signal.signal(signal.SIGINT, hold)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught:
            if callable(old):
                old(signal.SIGINT, caught[-1])
            else:
                raise KeyboardInterrupt


_compile_locks: dict = {}
_compile_locks_guard = threading.Lock()
_compiling = threading.local()  # the kernels this thread is compiling now


def _thread_lock(key) -> threading.Lock:
    with _compile_locks_guard:
        lk = _compile_locks.get(key)
        if lk is None:
            lk = _compile_locks[key] = threading.Lock()
        return lk


def _reset_locks_after_fork() -> None:
    """A lock held by a thread of the parent stays held forever in a forked child."""
    global _compile_locks_guard
    _compile_locks_guard = threading.Lock()
    _compile_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_after_fork)


def _guard_compile(disp) -> None:
    """Wrap ``disp.compile`` (what Numba calls for a signature it has not compiled yet)."""
    compile_ = disp.compile
    cache = disp._cache
    lock_path = getattr(cache, "lock_path", None) if getattr(cache, "writable", False) else None

    def compile(sig):
        busy = _compiling.__dict__.setdefault("ids", set())
        if id(disp) in busy:  # a recursive compile of the same kernel: locks held already
            return compile_(sig)
        with _sigint_held(), _thread_lock(id(disp)), _file_lock(lock_path):
            busy.add(id(disp))
            try:
                return compile_(sig)
            finally:
                busy.discard(id(disp))

    disp.compile = compile


# ---------------------------------------------------------------------------


def variant_id(fn) -> str:
    """A hash of ``fn``'s closure values (what tells the variants of one factory apart)."""
    if not fn.__closure__:
        return ""
    cells = tuple(c.cell_contents for c in fn.__closure__)
    try:
        blob = serialize.dumps(cells)
    except Exception:
        blob = repr(cells).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


def njit(fn, *, parallel: bool = False):
    """``numba.njit`` with the house options and the cache of :class:`KernelCache` (no
    cache where no folder can hold one)."""
    opts = dict(parallel=parallel, fastmath=FASTMATH, nogil=True, error_model="numpy")
    vid = variant_id(fn)
    if vid:
        fn.__qualname__ = f"{fn.__qualname__}_{vid}"
    disp = numba.njit(cache=False, **opts)(fn)
    try:
        disp._cache = KernelCache(fn)
    except Exception:  # "no locator available": compile without a cache
        pass
    _guard_compile(disp)
    return disp


def compiled_for(kernel, args):
    """``kernel``'s machine code for exactly the Numba types of ``args`` (compiled by an
    earlier call with them), callable without the dispatcher's lookup of each argument's
    type (0.2 us of a call of 11 arguments); ``kernel`` itself where Numba holds no such
    entry. Only for a caller that passes arguments of these very types every time."""
    try:
        return kernel.overloads[tuple(numba.typeof(a) for a in args)].entry_point
    except (AttributeError, KeyError, TypeError, ValueError):
        return kernel


_memo: dict = {}
_memo_lock = threading.RLock()
#: the kernels made so far by key; hot paths read it first (``KERNELS.get(key) or memo(...)``)
#: so that a hit costs one dict lookup and no closure
KERNELS = _memo


def memo(key, make):
    """The one kernel cache of the process: ``make()`` once per ``key`` (a tuple whose first
    entry names the factory), then the same kernel; safe across threads."""
    k = _memo.get(key)
    if k is None:
        with _memo_lock:
            k = _memo.get(key)
            if k is None:
                k = _memo[key] = make()
    return k


def compiled(factory: str) -> dict:
    """``{key: kernel}`` of the kernels made so far by ``factory`` (the first entry of their
    :func:`memo` key: "pointwise", "rows", "body", "whole", "map", "cuda", ...), keyed by the
    rest of the key."""
    return {k[1:]: v for k, v in list(_memo.items()) if k[0] == factory}


def source_hash(*fns) -> str:
    """A hash of the source of the functions (and of the modules that define them, where
    their helpers live) or modules: put it in a kernel's closure so that an edited formula
    invalidates the kernel cached on disk."""
    h = hashlib.sha1()
    for fn in fns:
        parts = [fn]
        mod = None if inspect.ismodule(fn) else inspect.getmodule(fn)
        if mod is not None:
            parts.append(mod)
        for part in parts:
            try:
                h.update(inspect.getsource(part).encode())
            except (OSError, TypeError):
                h.update(repr(part).encode())
    return h.hexdigest()[:16]


def cache_dir() -> str:
    """The folder kernels are cached in (and read from): ``"... (read-only)"`` for a
    read-only one that already holds kernels, ``"none (...)"`` when nothing can be cached."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu.py")
    for path in _candidates(here):
        if _writable_dir(path):
            return path
        try:
            if any(n.endswith(".nbi") for n in os.listdir(path)):
                return path + " (read-only)"
        except OSError:
            pass
    return "none (no writable cache folder: kernels compile in every process)"
