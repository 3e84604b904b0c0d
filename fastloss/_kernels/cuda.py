"""CUDA kernel factories, built from the same plain-Python scalar definitions as the CPU ones.

Importing this module imports ``numba.cuda`` (up to 1 s): only the CUDA road does.

**One definition.** A loss's scalar function (``scalar(y, p, prm, c) -> (l, dl, d2l)``) and the
helpers of :mod:`fastloss._kernels.scalar` are plain Python functions registered with
``register_jitable`` for the CPU. :func:`device_fn` makes a copy of such a function whose
global names for other fastloss functions are rebound to their device versions, and wraps it
with ``cuda.jit(device=True, inline="always")``. Inlined device functions are spliced into
the kernel's IR before typing, so a kernel compiles to PTX (``numba.cuda.compile_ptx``) on a
machine without a CUDA driver, and the GPU runs the very formula the CPU runs.

**Deterministic reductions.** The data are cut into *tasks*: segments of ``SEG = BLOCK *
ITEMS`` elements (with ``axis=-1`` each row is cut into its own segments). One block
reduces one task: each thread sums its strided elements in float64, then a fixed shared-
memory tree gives the task's partial. Blocks take tasks in a grid-stride loop, so the
partials, and hence the result, depend only on the data shape and ``(BLOCK, ITEMS)``,
never on the grid size or the device. A second small launch adds each row's partials in a
fixed order (skipped when a row is a single task: batch evaluation of ``B`` rows of up to
``SEG`` elements is one launch). No floating-point atomics anywhere.

**Row-wise losses** (cross-entropy, KL divergence, log loss) run one row per block: the
block's threads split the row's columns, and the row function's sums (log-sum-exp, weighted
sums) meet in fixed shared-memory trees, through block-wide twins of the row helpers
(:data:`COOPERATIVE`). Each row's value goes to its own slot; :func:`finalize_kernel` adds
them in a fixed order. The threads per row depend on the row length (:func:`row_threads`).

``BLOCK`` (threads per block, a power of two, default 256) and ``ITEMS`` (elements per
thread and task, default 16) are tuned constants; set ``FASTLOSS_CUDA_BLOCK`` /
``FASTLOSS_CUDA_ITEMS`` or call :func:`set_launch_config` to override them (results may
then differ in the last bits, as with any other summation order).
"""

from __future__ import annotations

import math
import os
import re
import types
from typing import NamedTuple

import numpy as np
from numba import cuda, float64
from numba import types as nt
from numba.np.numpy_support import from_dtype as _from_dtype

from . import scalar as _scalar
from .compile import memo, source_hash, wide_vectors
from .scalar import fexp, like

DEFAULT_BLOCK = 256
DEFAULT_ITEMS = 16
DEFAULT_MAX_GRID = 65535  # blocks per launch at most; results do not depend on it
# blocks per launch at least (idle blocks exit at once): Numba warns below 128 blocks on a
# GPU; the simulator (NUMBA_ENABLE_CUDASIM=1) runs every thread of every block in Python
SIMULATOR = not hasattr(cuda, "as_cuda_array")
MIN_GRID = 1 if SIMULATOR else 128

_config: dict = {}


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    if not v:
        return default
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {v!r}") from None


def _check_block(block: int) -> int:
    if not isinstance(block, int) or block < 1 or block > 1024 or block & (block - 1):
        raise ValueError(f"CUDA block size must be a power of two in [1, 1024], got {block!r}")
    return block


def _check_items(items: int, what: str = "CUDA items per thread") -> int:
    if not isinstance(items, int) or items < 1:
        raise ValueError(f"{what} must be a positive integer, got {items!r}")
    return items


def launch_config() -> tuple[int, int]:
    """``(BLOCK, ITEMS)`` in use: :func:`set_launch_config`, else the environment, else the
    defaults."""
    block = _config.get("block") or _check_block(_env_int("FASTLOSS_CUDA_BLOCK", DEFAULT_BLOCK))
    items = _config.get("items") or _check_items(_env_int("FASTLOSS_CUDA_ITEMS", DEFAULT_ITEMS))
    return block, items


def set_launch_config(block: int | None = None, items: int | None = None,
                      max_grid: int | None = None) -> None:
    """Override the threads per block, the elements per thread and the most blocks a launch
    uses (None: back to the environment or the default)."""
    _config["block"] = None if block is None else _check_block(block)
    _config["items"] = None if items is None else _check_items(items)
    _config["max_grid"] = None if max_grid is None else _check_items(max_grid, "max_grid")


def grid_for(work: int) -> int:
    """Blocks for a launch with ``work`` tasks (or blocks' worth of elements): between
    :data:`MIN_GRID` and :func:`max_grid`."""
    return max(1, min(max_grid(), max(work, MIN_GRID)))


def max_grid() -> int:
    """The most blocks one launch uses (``FASTLOSS_CUDA_MAX_GRID``, default 65535). Blocks
    take tasks in a grid-stride loop, so this changes the speed, never the result."""
    return _config.get("max_grid") or _check_items(
        _env_int("FASTLOSS_CUDA_MAX_GRID", DEFAULT_MAX_GRID), "FASTLOSS_CUDA_MAX_GRID")


# ---------------------------------------------------------------------------
# device functions from the shared scalar definitions


def _is_fastloss_function(obj) -> bool:
    return isinstance(obj, types.FunctionType) and (
        getattr(obj, "__module__", "") or ""
    ).startswith("fastloss")


def device_fn(pyfunc, cooperative: bool = False):
    """The CUDA device version of a plain-Python scalar function.

    Global names the function uses that refer to other fastloss Python functions (the
    helpers of :data:`fastloss._kernels.scalar.HELPERS`, or a family's own helpers) are
    rebound, recursively, to their device versions in a copy of the function's globals;
    ``math`` and constants stay as they are. With ``cooperative`` (a row function that the
    threads of a block run together on one row) the row helpers of :data:`COOPERATIVE` are
    rebound to their block-wide twins first. Memoised per function.
    """
    return memo(("device_fn", pyfunc, cooperative),
                lambda: _make_device_fn(pyfunc, cooperative))


def _portable_twin(obj, cooperative=False):
    """The twin of ``obj`` for the device: its block-wide twin in :data:`COOPERATIVE` (with
    ``cooperative``), else the plain-``math`` twin that ``obj``'s module declares for targets
    where its CPU body does not compile (a module-level ``PORTABLE`` dict keyed by function
    name), or None."""
    name = getattr(obj, "__name__", None)
    twin = COOPERATIVE.get((getattr(obj, "__module__", None), name)) if cooperative else None
    if twin is None:
        twin = obj.__globals__.get("PORTABLE", {}).get(name)
    return twin if twin is not None and twin is not obj else None


def _make_device_fn(pyfunc, cooperative=False):
    helpers = {id(f): f for f in _scalar.HELPERS.values()}
    g = dict(pyfunc.__globals__)
    for name in pyfunc.__code__.co_names:
        obj = g.get(name)
        if obj is wide_vectors:  # a CPU compiler hint: nothing to do on the device
            g[name] = _no_hint()
        elif obj is not None and (id(obj) in helpers or _is_fastloss_function(obj)):
            if obj is pyfunc:
                raise ValueError(f"{pyfunc.__name__} is recursive; device functions cannot be")
            twin = _portable_twin(obj, cooperative)
            g[name] = device_fn(twin if twin is not None else obj, cooperative)
    f2 = types.FunctionType(pyfunc.__code__, g, pyfunc.__name__, pyfunc.__defaults__,
                            pyfunc.__closure__)
    f2.__qualname__ = pyfunc.__qualname__
    f2.__doc__ = pyfunc.__doc__
    return cuda.jit(device=True, inline="always")(f2)


def _no_hint():
    def no_hint():
        return None

    return memo(("no_hint",), lambda: cuda.jit(device=True, inline="always")(no_hint))


def _memo(key, make):
    return memo(("cuda",) + key, make)


def _jit(fn, name: str):
    fn.__name__ = fn.__qualname__ = name
    return cuda.jit(fn)


# ---------------------------------------------------------------------------
# pointwise: one scalar function of one element


def task_shape(N: int, n: int, rows: bool, block: int, items: int) -> tuple[int, int, int]:
    """``(seg, G, kpr)``: elements per task, threads per task, tasks per row (per array
    without ``rows``), from the sizes alone, so that the summation order (and the bits of
    every result) depends on the shape and ``(BLOCK, ITEMS)`` only.

    Long rows (and ``axis=None``) are cut into tasks of ``BLOCK * ITEMS`` elements, one per
    block. A row of ``n <= BLOCK * ITEMS`` elements is one task of ``G`` threads, ``G`` the
    power of two nearest above ``n / ITEMS``: a block of ``BLOCK`` threads then evaluates
    ``BLOCK / G`` short rows at once (batch evaluation of many short rows, one launch).
    """
    seg = block * items
    if rows and n <= seg:
        G = 1
        while G * items < n and G < block:
            G *= 2
        return max(n, 1), G, 1
    kpr = (n + seg - 1) // seg if rows else (N + seg - 1) // seg
    return seg, block, kpr


class PointwiseArgs(NamedTuple):
    """The arguments of a CUDA :func:`pointwise_kernel` kernel, by name (in its order)."""

    yt: object
    yp: object
    w: object
    cp: object
    prm: tuple
    scale: float
    n: int
    seg: int  # elements per task
    rows: int  # 1: one result per row
    G: int  # threads per task
    red: int  # 1: reduce the values
    wl: int  # 1: write the elementwise values
    lout: object
    gout: object
    hout: object
    partials: object  # float64 per-task sums (finalize_kernel adds them)
    res64: object  # float64 total(s)
    resdt: object  # the total(s) in the dtype (per-row means)
    denom: float  # per-row mean's denominator (0: none)


class RowArgs(NamedTuple):
    """The arguments of a CUDA :func:`row_kernel` kernel, by name (in its order)."""

    X: object
    T: object
    LAB: object
    CW: object
    SW: object
    prm: tuple
    scale: float
    C: int
    red: int
    wl: int
    lout: object
    gout: object
    hout: object
    partials: object
    res64: object
    inplace: bool


def pointwise_kernel(
    scalar,
    *,
    value: bool,
    write_g: bool,
    write_h: bool,
    wmode: int,
    ybcast: bool,
    has_cp: bool,
    block: int | None = None,
):
    """A kernel ``k[grid, BLOCK](yt, yp, w, cp, prm, scale, n, seg, rows, G, red, wl, lout,
    gout, hout, partials, res64, resdt, denom)`` with the semantics of
    :func:`fastloss._kernels.cpu.pointwise_kernel`.

    ``value``: the kernel evaluates the loss (and, as the runtime flags ``red`` and ``wl``
    say, reduces it and/or writes ``w*l`` to ``lout``): one kernel serves every reduction.
    ``seg`` is the task length and ``G`` the threads per task (see :func:`task_shape`);
    ``rows`` (0 or 1, a runtime argument, unlike on the CPU: it only changes integer task
    arithmetic) cuts each row of ``n`` elements into its own tasks. With ``red``, the sum
    of ``w*l`` of each task goes to ``partials[task]``; where a row (or, without ``rows``,
    the whole array) is one task, the kernel writes the final sum directly to
    ``res64[row]`` and ``resdt[row] = sum / denom`` (``denom <= 0``: no division) in the
    output dtype. Runtime flags are the same for every thread: their branches cost nothing.
    """
    if block is None:
        block = launch_config()[0]
    key = ("pointwise", scalar, value, write_g, write_h, wmode, ybcast, has_cp, block)
    return _memo(key, lambda: _make_pointwise(scalar, value, write_g, write_h, wmode, ybcast,
                                              has_cp, block))


def _make_pointwise(scalar, value, write_g, write_h, wmode, ybcast, has_cp, block):
    f = device_fn(scalar)
    SRC = source_hash(scalar)  # noqa: F841 (kernels are named and keyed by their source)
    BLOCK = block
    VALUE, WG, WH, WMODE, YB, HAS_CP = (value, write_g, write_h, wmode, ybcast, has_cp)
    # the column (and row) index is tracked only where a kernel needs it
    NEED_C = YB or WMODE == 1 or HAS_CP
    NEED_R = WMODE == 2

    def kernel(yt, yp, w, cp, prm, scale, n, seg, rows, G, red, wl, lout, gout, hout,
               partials, res64, resdt, denom):
        sh = cuda.shared.array(BLOCK, float64)
        tid = cuda.threadIdx.x
        lane = tid % G  # G threads (a power of two dividing BLOCK) work on one task
        gpb = BLOCK // G
        N = yp.shape[0]
        if rows:
            nrows = N // n
            kpr = (n + seg - 1) // seg
        else:
            nrows = 1
            kpr = (N + seg - 1) // seg
        ntasks = nrows * kpr
        base = cuda.blockIdx.x * gpb
        while base < ntasks:  # the same trip count for every thread of the block
            task = base + tid // G
            start = 0
            end = 0
            r0 = 0
            if task < ntasks:
                if rows:
                    r0 = task // kpr
                    q = task - r0 * kpr
                    start = r0 * n + q * seg
                    end = r0 * n + min(n, (q + 1) * seg)
                else:
                    start = task * seg
                    end = min(N, start + seg)
            i = start + lane
            r = 0
            c = 0
            if NEED_C or NEED_R:
                r = i // n
                c = i - r * n
            s = 0.0
            while i < end:
                wi = 1.0
                if WMODE == 1:
                    wi = w[c]
                elif WMODE == 2:
                    wi = w[r]
                cc = 0.0
                if HAS_CP:
                    cc = cp[c]
                if YB:
                    y = yt[c]
                else:
                    y = yt[i]
                lv, gv, hv = f(y, yp[i], prm, cc)
                if VALUE:
                    if red:
                        s += wi * lv
                    if wl:
                        lout[i] = wi * lv
                if WG:
                    gout[i] = (wi * scale) * gv
                if WH:
                    hout[i] = (wi * scale) * hv
                i += G
                if NEED_C or NEED_R:
                    c += G
                    while c >= n:
                        c -= n
                        r += 1
            if VALUE and red:
                sh[tid] = s
                cuda.syncthreads()
                stride = G // 2
                while stride > 0:
                    if lane < stride:
                        sh[tid] += sh[tid + stride]
                    cuda.syncthreads()
                    stride //= 2
                if lane == 0 and task < ntasks:
                    acc = sh[tid]
                    if kpr == 1:
                        res64[r0] = acc
                        resdt[r0] = acc / denom if denom > 0.0 else acc
                    else:
                        partials[task] = acc
                cuda.syncthreads()
            base += cuda.gridDim.x * gpb

    return _jit(kernel, f"pointwise_{scalar.__name__}_{SRC}")


# ---------------------------------------------------------------------------
# row-wise: one row function per loss (cross_entropy, kl_divergence, log_loss on matrices),
# one row per block. The row helpers of fastloss._kernels.rows get block-wide twins here:
# thread t of a block of T (a power of two) takes the columns t, t + T, ... of the row, and
# the threads' partials meet in a fixed shared-memory tree (in the scratch w that the
# kernel passes as the row function's last argument), so that the order of every sum is
# fixed by C and T alone. Every thread of the block runs the row function on the same row,
# so its branches are uniform and every thread meets every syncthreads.


def _cols_block(C):
    return range(cuda.threadIdx.x, C, cuda.blockDim.x)


def _row_total_block(v, w):
    tid = cuda.threadIdx.x
    stride = cuda.blockDim.x
    w[tid] = v
    cuda.syncthreads()
    while stride > 1:
        stride //= 2
        if tid < stride:
            w[tid] += w[tid + stride]
        cuda.syncthreads()
    s = w[0]
    cuda.syncthreads()  # w is free again once every thread has read the total
    return s


def _row_sync_block():
    cuda.syncthreads()


def _owns_block(j):
    return j % cuda.blockDim.x == cuda.threadIdx.x


def _lse_row_block(x, w):
    """``(m, log s)`` of the row, to every thread: an online log-sum-exp over this thread's
    columns (as ``lse_row_serial``), then the threads' ``(m, s)`` pairs merged in a fixed
    tree (``w[:T]`` the maxima, ``w[T:2T]`` the sums)."""
    tid = cuda.threadIdx.x
    T = cuda.blockDim.x
    ninf = like(x[0], -math.inf)
    zero = like(x[0], 0.0)
    mt = ninf
    st = 0.0
    for j in range(tid, x.shape[0], T):
        v = x[j]
        d = v - mt
        d = zero if v == mt else d
        e = fexp(-abs(d))
        st = st * e + 1.0 if v > mt else st + e
        mt = max(mt, v)
    w[tid] = mt
    w[T + tid] = st
    cuda.syncthreads()
    stride = T
    while stride > 1:
        stride //= 2
        if tid < stride:
            m1 = w[tid]
            m2 = w[tid + stride]
            mm = max(m1, m2)
            e1 = 1.0 if m1 == mm else math.exp(m1 - mm)  # 1, not NaN, where both are -inf
            e2 = 1.0 if m2 == mm else math.exp(m2 - mm)
            w[T + tid] = w[T + tid] * e1 + w[T + tid + stride] * e2
            w[tid] = mm
        cuda.syncthreads()
    m = w[0]
    s = w[T]
    cuda.syncthreads()
    return m, math.log(s)


_ROWS = "fastloss._kernels.rows"
COOPERATIVE = {
    (_ROWS, "cols"): _cols_block,
    (_ROWS, "row_total"): _row_total_block,
    (_ROWS, "row_sync"): _row_sync_block,
    (_ROWS, "owns"): _owns_block,
    (_ROWS, "lse_row"): _lse_row_block,
}
"""The block-wide twins of the row primitives of :mod:`fastloss._kernels.rows` (by module
and name), for row functions compiled by :func:`row_kernel`; elsewhere (one row per thread,
:func:`rows_kernel`) the CPU versions serve (``rows.PORTABLE`` for ``lse_row``). The row
helpers that loop over ``cols`` (``softmax_grad*``, and the ``rows.PORTABLE`` twins of
``sum_shift`` and ``wsum_shift``) need no other twin: through ``cols`` they cover this
thread's columns (the sums give this thread's part, which a row function adds with
``row_total``). ``lse_kept`` stays false on CUDA, so the
kept-exps gradient is never taken."""

ROW_MIN_THREADS = 32  # a warp: fewer threads per row would leave the rest of it idle


def row_threads(C: int, block: int | None = None, items: int | None = None) -> int:
    """Threads per row (the row kernel's block size) for rows of ``C`` values: the power of
    two nearest above ``C / ITEMS``, at least :data:`ROW_MIN_THREADS` and at most
    ``BLOCK``. It fixes the order of the row's sums: results depend on ``C``, ``BLOCK`` and
    ``ITEMS`` only, never on the grid."""
    b, it = launch_config()
    block = block or b
    items = items or it
    T = 1
    while T * items < C and T < block:
        T *= 2
    return min(block, max(T, ROW_MIN_THREADS))


def row_kernel(
    row,
    *,
    write_g: bool,
    write_h: bool,
    has_t: bool,
    has_lab: bool,
    has_sw: bool,
    block: int | None = None,
):
    """A kernel ``k[grid, T](X, T, LAB, CW, SW, prm, scale, C, red, wl, lout, gout, hout,
    partials, res64, inplace)`` with the semantics of the CPU ``rows.row_kernel``: the same
    row function ``row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w) -> float64`` on
    zero-based row views, one row per block of ``T = row_threads(C)`` threads (at most
    ``BLOCK``), blocks taking rows in a grid-stride loop. The threads split the row's
    columns and meet in shared-memory trees (the row helpers' block-wide twins,
    :data:`COOPERATIVE`; ``w`` is a shared scratch of ``2 * BLOCK`` float64).

    Thread 0 writes row ``r``'s ``sw * loss`` to ``lout[r]`` when ``wl`` and, when ``red``,
    to ``partials[r]`` (``res64[0]`` for a single row), which :func:`finalize_kernel` adds
    in a fixed order: the result does not depend on the grid.
    """
    if block is None:
        block = launch_config()[0]
    key = ("rows", row, write_g, write_h, has_t, has_lab, has_sw, block)
    return _memo(key, lambda: _make_rows(row, write_g, write_h, has_t, has_lab, has_sw,
                                         block))


def _make_rows(row, write_g, write_h, has_t, has_lab, has_sw, block):
    f = device_fn(row, cooperative=True)
    SRC = source_hash(row)
    SCRATCH = 2 * block
    WG, WH, HAS_T, HAS_LAB, HAS_SW = (write_g, write_h, has_t, has_lab, has_sw)

    def kernel(X, T, LAB, CW, SW, prm, scale, C, red, wl, lout, gout, hout, partials, res64,
               inplace):
        w = cuda.shared.array(SCRATCH, float64)  # the row's reductions
        N = X.shape[0] // C
        r = cuda.blockIdx.x
        while r < N:  # one row per block: the same trip count for every thread
            a = r * C
            x = X[a:a + C]
            t = T[a:a + C] if HAS_T else T[0:1]
            lab = LAB[r] if HAS_LAB else -1
            sw = SW[r] if HAS_SW else 1.0
            g = gout[a:a + C] if WG else gout[0:1]
            h = hout[a:a + C] if WH else hout[0:1]
            lv = f(x, t, lab, CW, prm, sw * scale, g, h, WG, WH, inplace, w)
            if cuda.threadIdx.x == 0:
                v = sw * lv
                if wl:
                    lout[r] = v
                if red:
                    if N == 1:
                        res64[0] = v
                    else:
                        partials[r] = v
            r += cuda.gridDim.x

    return _jit(kernel, f"rows_{row.__name__}_{SRC}")


def row_signature(dtype, nprm: int, prm_types=None):
    """The argument types of :func:`row_kernel` for ``dtype`` rows and ``nprm`` float
    parameters (``prm_types``: the parameter tuple's numba type, if not floats of
    ``dtype``)."""
    dt = _nbtype(dtype)
    a = nt.Array(dt, 1, "C")
    f = nt.Array(nt.float64, 1, "C")
    prm = prm_types if prm_types is not None else nt.UniTuple(dt, max(1, nprm))
    return (a, a, nt.Array(nt.int64, 1, "C"), f, f, prm, nt.float64, nt.int64, nt.int64,
            nt.int64, a, a, a, f, f, nt.boolean)


def finalize_kernel(block: int | None = None):
    """``k[grid, BLOCK](partials, kpr, nrows, res64, resdt, denom)``: row ``r``'s sum of
    ``partials[r*kpr:(r+1)*kpr]`` in a fixed order (strided per thread, then a fixed tree),
    to ``res64[r]`` and ``resdt[r] = sum / denom`` (no division when ``denom <= 0``)."""
    if block is None:
        block = launch_config()[0]
    return _memo(("finalize", block), lambda: _make_finalize(block))


def _make_finalize(block):
    BLOCK = block

    def finalize(partials, kpr, nrows, res64, resdt, denom):
        sh = cuda.shared.array(BLOCK, float64)
        tid = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < nrows:
            s = 0.0
            q = tid
            while q < kpr:
                s += partials[r * kpr + q]
                q += BLOCK
            sh[tid] = s
            cuda.syncthreads()
            stride = BLOCK // 2
            while stride > 0:
                if tid < stride:
                    sh[tid] += sh[tid + stride]
                cuda.syncthreads()
                stride //= 2
            if tid == 0:
                acc = sh[0]
                res64[r] = acc
                resdt[r] = acc / denom if denom > 0.0 else acc
            cuda.syncthreads()
            r += cuda.gridDim.x

    return _jit(finalize, "finalize_rows")


# ---------------------------------------------------------------------------
# row bodies (the contrastive losses): body(i, *args) for each row i, one row per thread


def rows_kernel(body):
    """``k[grid, BLOCK](M, *args)``: ``body(i, *args)`` for ``i`` in ``range(M)``, one row per
    thread in a grid-stride loop. ``body`` is the plain-Python row function the CPU kernels
    run in a ``prange`` (see :mod:`fastloss.losses.contrastive`), compiled for the device."""
    return _memo(("rows_of", body), lambda: _make_rows_of(body))


def _make_rows_of(body):
    f = device_fn(body)
    args = ", ".join(f"a{k}" for k in range(body.__code__.co_argcount - 1))
    src = "\n".join([
        f"def rows_of(M, {args}):",
        "    i = cuda.grid(1)",
        "    step = cuda.gridsize(1)",
        "    while i < M:",
        f"        f(i, {args})",
        "        i += step",
    ])
    ns = {"cuda": cuda, "f": f}
    exec(src, ns)  # noqa: S102 (the body's argument list only)
    return _jit(ns["rows_of"], f"rows_of_{body.__name__}_{source_hash(body)}")


MM_TILE = 16  # a (MM_TILE, MM_TILE) block computes one tile of the product


def matmul_kernel(dtype):
    """``k[grid, (MM_TILE, MM_TILE)](a, b, c, ta, tb)``: ``c = op(a) @ op(b)``, ``op``
    transposing where ``ta`` / ``tb``, for 2-D arrays of ``dtype``; products accumulate in
    ``dtype`` (as BLAS does) in a fixed order: the same bits for any grid. Blocks take tiles
    of ``c`` in a grid-stride loop, staging tiles of ``a`` and ``b`` in shared memory."""
    dtype = np.dtype(dtype)
    return _memo(("matmul", dtype), lambda: _make_matmul(dtype))


def _make_matmul(dtype):
    DT = _nbtype(dtype)
    T = MM_TILE

    def matmul(a, b, c, ta, tb):
        sa = cuda.shared.array((T, T), DT)
        sb = cuda.shared.array((T, T), DT)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        M = c.shape[0]
        N = c.shape[1]
        K = a.shape[0] if ta else a.shape[1]
        tn = (N + T - 1) // T
        ntiles = ((M + T - 1) // T) * tn
        zero = DT(0)
        tile = cuda.blockIdx.x
        while tile < ntiles:  # the same trip count for every thread of the block
            bi = tile // tn
            row = bi * T + ty
            col = (tile - bi * tn) * T + tx
            acc = zero
            for k0 in range(0, K, T):
                ka = k0 + tx
                if row < M and ka < K:
                    sa[ty, tx] = a[ka, row] if ta else a[row, ka]
                else:
                    sa[ty, tx] = zero
                kb = k0 + ty
                if kb < K and col < N:
                    sb[ty, tx] = b[col, kb] if tb else b[kb, col]
                else:
                    sb[ty, tx] = zero
                cuda.syncthreads()
                for kk in range(T):
                    acc += sa[ty, kk] * sb[kk, tx]
                cuda.syncthreads()
            if row < M and col < N:
                c[row, col] = acc
            tile += cuda.gridDim.x

    return _jit(matmul, f"matmul_{dtype.name}")


# ---------------------------------------------------------------------------
# small maps: copy/cast to a contiguous array, scale rows


def copy_kernel(ndim: int):
    """``k[grid, BLOCK](src, dst)``: ``dst`` (1-D, C order) = ``src`` (any strides, any
    numeric dtype) cast to ``dst``'s dtype. Generated per number of dimensions."""
    return _memo(("copy", ndim), lambda: _make_copy(ndim))


def _make_copy(ndim):
    idx = ", ".join(f"i{k}" for k in range(ndim))
    lines = [
        "def copy_nd(src, dst):",
        "    t = cuda.grid(1)",
        "    step = cuda.gridsize(1)",
        "    while t < dst.shape[0]:",
        "        rem = t",
    ]
    for k in range(ndim - 1, 0, -1):
        lines += [f"        i{k} = rem % src.shape[{k}]", f"        rem = rem // src.shape[{k}]"]
    lines += ["        i0 = rem", f"        dst[t] = src[{idx}]", "        t += step"]
    ns = {"cuda": cuda}
    exec("\n".join(lines), ns)  # noqa: S102 (generated index arithmetic only)
    return _jit(ns["copy_nd"], f"copy_{ndim}d")


def scale_rows_kernel():
    """``k[grid, BLOCK](g, f, n)``: ``g[i] *= f[i // n]`` (``f`` per row, in ``g``'s dtype)."""
    return _memo(("scale_rows",), _make_scale_rows)


def _make_scale_rows():
    def scale_rows(g, f, n):
        t = cuda.grid(1)
        step = cuda.gridsize(1)
        while t < g.shape[0]:
            g[t] = g[t] * f[t // n]
            t += step

    return _jit(scale_rows, "scale_rows")


def count_outside_kernel():
    """``k[grid, BLOCK](a, lo, hi, count)``: ``count[0] +=`` how many of ``a`` (1-D) lie
    below ``lo`` or above ``hi`` (NaN is not counted). Integer atomics: exact, whatever the
    order."""
    return _memo(("count_outside",), _make_count_outside)


def _make_count_outside():
    def count_outside(a, lo, hi, count):
        t = cuda.grid(1)
        step = cuda.gridsize(1)
        c = 0
        while t < a.shape[0]:
            v = a[t]
            if v < lo or v > hi:
                c += 1
            t += step
        if c:
            cuda.atomic.add(count, 0, c)

    return _jit(count_outside, "count_outside")


def map_kernel(fn):
    """``k[grid, BLOCK](x, a, b, out)``: ``out[i] = fn(x[i], a, b)``, the line of
    :func:`fastloss._kernels.cpu.map_kernel`, with ``fn`` compiled for the device."""
    return _memo(("map", fn), lambda: _make_map(fn))


def _make_map(fn):
    f = device_fn(fn)

    def elementwise(x, a, b, out):
        t = cuda.grid(1)
        step = cuda.gridsize(1)
        while t < x.shape[0]:
            out[t] = f(x[t], a, b)
            t += step

    return _jit(elementwise, f"map_{fn.__name__}")


def rmse_rows_kernel():
    """``k[grid, BLOCK](m, r, f)``: ``r = sqrt(m)``, ``f = 0.5 / r`` (0 where ``r == 0``)."""
    return _memo(("rmse_rows",), _make_rmse_rows)


def _make_rmse_rows():
    def rmse_rows(m, r, f):
        t = cuda.grid(1)
        step = cuda.gridsize(1)
        while t < m.shape[0]:
            v = math.sqrt(m[t])
            r[t] = v
            f[t] = 0.5 / r[t] if r[t] > 0 else 0.0
            t += step

    return _jit(rmse_rows, "rmse_rows")


def roof_kernel():
    """``k[grid, BLOCK](rd, wr, sink)``: read every element of ``rd`` and write every element
    of ``wr`` (grid-stride, coalesced): the bandwidth bound of a kernel moving those bytes.
    ``sink`` keeps the reads from being optimised away."""
    return _memo(("roof",), _make_roof)


def _make_roof():
    def roof(rd, wr, sink):
        t = cuda.grid(1)
        step = cuda.gridsize(1)
        s = 0.0
        i = t
        while i < rd.shape[0]:
            s += rd[i]
            i += step
        j = t
        while j < wr.shape[0]:
            wr[j] = s
            j += step
        if s == -1.2345e300:  # never: the reads have a use
            sink[0] = s

    return _jit(roof, "roofline")


def fill_kernel():
    """``k[grid, BLOCK](a, value)``: ``a[:] = value``."""
    return _memo(("fill",), _make_fill)


def _make_fill():
    def fill(a, value):
        t = cuda.grid(1)
        step = cuda.gridsize(1)
        while t < a.shape[0]:
            a[t] = value
            t += step

    return _jit(fill, "fill")


# ---------------------------------------------------------------------------
# signatures: the argument types the road launches each kernel with (for compile_ptx)


def _nbtype(dtype):
    return _from_dtype(np.dtype(dtype))


def pointwise_signature(dtype, nprm: int):
    """The argument types of :func:`pointwise_kernel` for ``dtype`` inputs and ``nprm``
    parameters, as the road passes them."""
    dt = _nbtype(dtype)
    a = nt.Array(dt, 1, "C")
    f = nt.Array(nt.float64, 1, "C")
    return (a, a, f, f, nt.UniTuple(dt, max(1, nprm)), nt.float64, nt.int64, nt.int64,
            nt.int64, nt.int64, nt.int64, nt.int64, a, a, a, f, f, a, nt.float64)


def finalize_signature(dtype):
    f = nt.Array(nt.float64, 1, "C")
    return (f, nt.int64, nt.int64, f, nt.Array(_nbtype(dtype), 1, "C"), nt.float64)


# the kernel each call launches: (value, write_g, write_h); every reduction shares it
OPS = {
    "value": (True, False, False),
    "grad": (False, True, False),
    "value_and_grad": (True, True, False),
    "grad_hess": (False, True, True),
}
DTYPES = ("float32", "float64")


def kernel_catalog(specs=None, block: int | None = None):
    """Every kernel the CUDA road launches for the registered losses, as
    ``(label, python_function, argument_types)`` for ``numba.cuda.compile_ptx``.

    Pointwise: each distinct scalar function x :data:`OPS` x float32/float64,
    unweighted (and value_and_grad with a per-column parameter array where the loss takes
    one); the sample-weight and broadcast-target layouts (their indexing does not depend on
    the loss) for one loss. Row-wise: each row function x the same write patterns x dtype,
    for each target layout its ``prepare`` gives (labels, probability targets); sample
    weights for one loss. Then the finalize, copy/cast, scale and fill kernels.
    """
    from .._spec import MAPS, REGISTRY

    if specs is None:
        specs = list(REGISTRY.values())
    block = block or launch_config()[0]
    out = []
    seen = set()
    pointwise = [s for s in specs if s.kind == "pointwise"]
    for spec in specs:  # losses of several arrays that run pointwise terms (GAN, penalties)
        if spec.kind == "terms":
            terms = spec.term_specs()
            pointwise += [_Named(spec, t, len(terms) > 1) for t in terms]
    for spec in pointwise:
        key = (spec.scalar, len(spec.params))
        if key in seen:
            continue
        seen.add(key)
        takes_cp = any(getattr(p, "kind", "") == "float_or_array" for p in spec.params)
        for op, (val, wg, wh) in OPS.items():
            if wh and not spec.has_hess:
                continue
            for has_cp in ((False, True) if takes_cp and op == "value_and_grad" else (False,)):
                k = pointwise_kernel(spec.scalar, value=val, write_g=wg, write_h=wh, wmode=0,
                                     ybcast=False, has_cp=has_cp, block=block)
                for dt in DTYPES:
                    out.append((f"{spec.name}.{op}{'.cp' if has_cp else ''}.{dt}", k.py_func,
                                pointwise_signature(dt, len(spec.params))))
    for i, spec in enumerate(s for s in specs if s.kind == "rowwise"):
        out.extend(_row_catalog(spec, block, with_sw=i == 0))
    out.extend(_body_catalog(specs))
    if pointwise:
        spec = pointwise[0]
        for wmode, yb in ((1, False), (2, False), (0, True), (1, True)):
            k = pointwise_kernel(spec.scalar, value=True, write_g=True, write_h=False,
                                 wmode=wmode, ybcast=yb, has_cp=True, block=block)
            for dt in DTYPES:
                out.append((f"{spec.name}.value_and_grad.w{wmode}.yb{int(yb)}.cp.{dt}",
                            k.py_func, pointwise_signature(dt, len(spec.params))))
    for dt in DTYPES:
        out.append((f"finalize.{dt}", finalize_kernel(block).py_func, finalize_signature(dt)))
        a = nt.Array(_nbtype(dt), 1, "C")
        out.append((f"scale_rows.{dt}", scale_rows_kernel().py_func, (a, a, nt.int64)))
        out.append((f"rmse_rows.{dt}", rmse_rows_kernel().py_func, (a, a, a)))
    f64 = nt.Array(nt.float64, 1, "C")
    out.append(("fill.float64", fill_kernel().py_func, (f64, nt.float64)))
    out.append(("roofline.float64", roof_kernel().py_func, (f64, f64, f64)))
    for name, fn in MAPS.items():
        for dt in DTYPES:
            a = nt.Array(_nbtype(dt), 1, "C")
            out.append((f"{name}.{dt}", map_kernel(fn).py_func,
                        (a, _nbtype(dt), _nbtype(dt), a)))
    for dt in DTYPES + ("int64",):
        out.append((f"count_outside.{dt}", count_outside_kernel().py_func,
                    (nt.Array(_nbtype(dt), 1, "C"), nt.float64, nt.float64,
                     nt.Array(nt.int64, 1, "C"))))
    casts = (("float32", "float32"), ("float64", "float64"), ("float64", "float32"),
             ("int64", "float64"), ("bool", "float64"))
    for ndim in (1, 2, 3):
        for src, dst in casts:
            out.append((f"copy_{ndim}d.{src}->{dst}", copy_kernel(ndim).py_func,
                        (nt.Array(_nbtype(src), ndim, "A"),
                         nt.Array(_nbtype(dst), 1, "C"))))
    return out


class _Named:
    """A pointwise term of a loss of kind "terms", under the loss's name (and the term's,
    where it has several) in the catalog labels; its scalar reads ``term_params`` entries of
    ``prm``."""

    has_hess = False  # the losses of several arrays offer no grad_hess

    def __init__(self, spec, term, several: bool):
        self._spec = term
        self.name = f"{spec.name}.{term.name}" if several else spec.name
        self.params = (None,) * spec.term_params

    def __getattr__(self, attr):
        return getattr(self._spec, attr)


def cuda_function(spec):
    """The scalar, row or row-body function a loss runs on the device, or None where it has
    no CUDA kernels."""
    if spec.kind == "pointwise":
        return spec.scalar
    if spec.kind == "rowwise":
        return spec.row
    if spec.kind == "terms":
        return spec.term_specs()[0].scalar
    return spec.device_body


def _body_catalog(specs):
    """The row-body and matrix-product kernels of the losses that declare them (a spec's
    ``device_kernels(dtype)``: ``(op labels, kernel name, row body or None for the matrix
    product, argument types)``, one kernel serving the ops its label names); each kernel
    once, under the first loss that runs it."""
    out, seen = [], set()
    for spec in specs:
        make = getattr(spec, "device_kernels", None)
        if make is None:
            continue
        for dt in DTYPES:
            for ops, kname, body, sig in make(dt):
                if (kname, body, dt) not in seen:  # a kernel of the same body once
                    seen.add((kname, body, dt))
                    k = matmul_kernel(dt) if body is None else rows_kernel(body)
                    out.append((f"{spec.name}.{ops}.{kname}.{dt}", k.py_func, sig))
    return out


def _row_layouts(spec, dtype):
    """``(has_t, has_lab, prm numba type)`` of each target layout the spec's ``prepare``
    accepts: its own sample (labels or probabilities), and probability targets of the
    predictions' shape where it takes those too."""
    import numba

    rng = np.random.default_rng(0)
    (y, p), params = spec.sample(rng, (4, 3), np.dtype(dtype))
    defaults = {q.name: q.default for q in spec.params}
    defaults.update(params)
    found = {}
    tries = [y]
    if np.ndim(p) == 2 and np.shape(y) != np.shape(p):
        tries.append(rng.dirichlet(np.ones(p.shape[1]), p.shape[0]).astype(dtype))
    for yt in tries:
        try:
            r = spec.prepare(yt, p, defaults)
        except (ValueError, TypeError):
            continue
        key = (r.t is not None, r.lab is not None)
        found.setdefault(key, numba.typeof(tuple(r.prm)))
    return [(t, lab, prm) for (t, lab), prm in found.items()]


def _row_catalog(spec, block, with_sw):
    out = []
    for dt in DTYPES:
        for has_t, has_lab, prm in _row_layouts(spec, dt):
            lay = ("t" if has_t else "") + ("lab" if has_lab else "")
            # a row kernel always evaluates the loss: grad and value_and_grad share one
            for op, (wg, wh) in (("value", (False, False)),
                                 ("grad.value_and_grad", (True, False)),
                                 ("grad_hess", (True, True))):
                if wh and not spec.has_hess:
                    continue
                for has_sw in ((False, True) if with_sw and wg and not wh else (False,)):
                    k = row_kernel(spec.row, write_g=wg, write_h=wh, has_t=has_t,
                                   has_lab=has_lab, has_sw=has_sw, block=block)
                    out.append((f"{spec.name}.{op}.{lay}{'.sw' if has_sw else ''}.{dt}",
                                k.py_func, row_signature(dt, 0, prm_types=prm)))
    return out


# ---------------------------------------------------------------------------
# PTX without a GPU


def compile_ptx_ccs(pyfunc, sig, ccs=((8, 0), (9, 0))) -> dict:
    """``{cc: ptx}`` for a kernel: typed and lowered once, as ``numba.cuda.compile_ptx``
    does, then PTX from NVVM for each compute capability (the PTX that ``compile_ptx(...,
    cc=cc)`` gives, up to unique ids in symbol names). Needs no GPU or driver. Falls back to
    ``compile_ptx`` per cc where numba-cuda's internals differ."""
    try:
        from numba.cuda.compiler import _compile_pyfunc_with_fixup
    except ImportError:  # pragma: no cover - another numba-cuda
        return {cc: cuda.compile_ptx(pyfunc, sig, cc=cc)[0] for cc in ccs}
    lib, _ = _compile_pyfunc_with_fixup(pyfunc, sig, device=False, abi="numba", cc=ccs[0])
    out = {}
    for cc in ccs:
        codes = lib.get_asm_strs(cc=cc)
        if len(codes) != 1:
            raise RuntimeError(f"{pyfunc.__name__}: {len(codes)} PTX modules for cc {cc}")
        out[cc] = codes[0]
    return out



FLOAT_ATOMIC = re.compile(r"\b(atom|red)\.[\w.]*\.f(32|64)\b")  # a float atomic in PTX


def ptx_report(labels=None, ccs=((8, 0), (9, 0))) -> dict:
    """Compile the :func:`kernel_catalog` kernels named in ``labels`` (all by default) to
    PTX; ``{label: {cc: {"target": bool, "entry": bool, "float_atomics": bool, "bytes":
    int}}}`` or ``{label: "error text"}`` (what the PTX compile test asserts on; runs in
    worker processes)."""
    pat = FLOAT_ATOMIC
    wanted = None if labels is None else set(labels)
    out = {}
    for label, fn, sig in kernel_catalog():
        if wanted is not None and label not in wanted:
            continue
        try:
            ptx = compile_ptx_ccs(fn, sig, ccs)
        except Exception as exc:  # reported per kernel by the caller
            out[label] = f"{type(exc).__name__}: {exc}"
            continue
        out[label] = {cc: {"target": f".target sm_{cc[0]}{cc[1]}" in code,
                           "entry": ".visible .entry" in code,
                           "float_atomics": bool(pat.search(code)),
                           "bytes": len(code)} for cc, code in ptx.items()}
    return out
