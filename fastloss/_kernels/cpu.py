"""CPU kernel factories (serial and parallel) built from one scalar definition per loss.

Pointwise kernels see ``y_pred`` as ``R`` rows of ``n`` elements (flat, C order). Every sum
runs over fixed chunks of :data:`CHUNK` elements into float64 partials that are added in a
fixed order, so the serial and parallel kernels give the same bits for any thread count.
Each chunk goes through in parts of :data:`SUB` elements, each in two passes: an elementwise
pass that writes every weighted loss into a buffer that stays in L1 (and the outputs), then
:func:`lanes_add`, which adds element ``k`` of the chunk into lane ``k % 32`` (the lanes
carry over from part to part); :func:`lanes_total` then adds the 32 lanes as a fixed tree.
The elementwise pass holds no reduction, so LLVM vectorises it whatever the scalar's body;
the order of every addition is written out, so the result depends neither on the SIMD
width, nor on aliasing (``out=y_pred``), nor on the op. Without ``rows`` the chunks tile
the flat array; with ``rows`` each row is cut into its own chunks and gives its own sum. A
parallel kernel splits the chunks into at most :data:`MAXBLK` runs of consecutive chunks,
one buffer each.
"""

from __future__ import annotations

import inspect
import types as pytypes
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable

from . import lanes as _lanes_mod
from . import rows as _rows_mod
from . import scalar as _scalar_mod
from .compile import KERNELS, borrowed, memo, njit, source_hash, wide_vectors

CHUNK = 4096
#: How many runs of consecutive chunks a parallel kernel splits its chunks into.
MAXBLK = 256



@register_jitable(fastmath=False)
def ordered_sum(a, lo, hi):
    """``((a[lo] + a[lo+1]) + ...) + a[hi-1]``, strictly in this order (no fastmath, so LLVM
    cannot reassociate it whatever the caller's flags): how every kernel adds its partials,
    and how :data:`combine_partials` adds partials computed apart (the same bits)."""
    acc = 0.0
    for q in range(lo, hi):
        acc += a[q]
    return acc



#: Lanes of the chunk sums: four independent chains of 8 adds, so that the adds overlap
#: (one chain of 8 waits on each add: 0.17 ns per element; four: 0.03).
LANES = 32
#: Elements per pass of a chunk: the elementwise pass fills a buffer of SUB values, then
#: the lanes take them (a float64 buffer of a whole chunk, 32 KB, leaves L1).
SUB = 1024


@intrinsic
def _lane_add(typingctx, b, n, acc):
    """``_lane_add(b, n, acc)``: lane ``j`` of the 32 float64 lanes ``acc`` adds ``b[j],
    b[j + 32], ...`` in order, over ``b[:n]`` (float32 or float64, 1-D C-contiguous; ``n`` a
    multiple of :data:`LANES`). Vector IR with plain IEEE adds: LLVM keeps the four chains
    of 8 in registers, and the bits do not depend on the machine's vector width."""
    ok = (isinstance(b, types.Array) and b.ndim == 1 and b.layout == "C"
          and b.dtype in (types.float32, types.float64) and isinstance(n, types.Integer)
          and isinstance(acc, types.Array) and acc.dtype == types.float64
          and acc.layout == "C")
    if not ok:
        return None

    def codegen(context, builder, signature, args):
        tb, tn, ta = signature.args
        ary = context.make_array(tb)(context, builder, args[0])
        lanes_ = context.make_array(ta)(context, builder, args[2])
        intp = context.get_value_type(types.intp)
        count = builder.sdiv(context.cast(builder, args[1], tn, types.intp),
                             ir.Constant(intp, LANES))
        f64, elt = ir.DoubleType(), context.get_value_type(tb.dtype)
        vec, vin = ir.VectorType(f64, 8), ir.VectorType(elt, 8)
        homes = [builder.bitcast(builder.gep(lanes_.data, [ir.Constant(intp, 8 * q)]),
                                 vec.as_pointer()) for q in range(4)]
        chains = [cgutils.alloca_once_value(builder, builder.load(h, align=8)) for h in homes]
        align = context.get_abi_sizeof(elt)
        with cgutils.for_range(builder, count) as loop:
            base = builder.mul(loop.index, ir.Constant(intp, LANES))
            for q, chain in enumerate(chains):  # lanes 8q .. 8q+7
                at = builder.gep(ary.data, [builder.add(base, ir.Constant(intp, 8 * q))])
                v = builder.load(builder.bitcast(at, vin.as_pointer()), align=align)
                v = v if elt == f64 else builder.fpext(v, vec)
                builder.store(builder.fadd(builder.load(chain), v), chain)
        for h, chain in zip(homes, chains, strict=True):
            builder.store(builder.load(chain), h, align=8)
        return context.get_dummy_value()

    return types.none(b, n, acc), codegen


@register_jitable(fastmath=False)
def lanes_add(b, L, acc):
    """``b[:L]`` into the 32 lanes ``acc``: element ``k`` into lane ``k % 32`` (``L`` a
    multiple of 32, except for the last part of a chunk). Pads ``b`` with zeros up to a
    multiple of 32 (``b`` holds at least ``L + 31`` elements); adding +0.0 changes no lane."""
    Lp = (L + LANES - 1) // LANES * LANES
    for t in range(L, Lp):
        b[t] = 0.0
    _lane_add(b, Lp, acc)


@register_jitable(fastmath=False)
def lanes_total(acc):
    """The 32 lanes as a fixed tree: ``v_j = (l_j + l_{j+8}) + (l_{j+16} + l_{j+24})``,
    then ``((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))``."""
    for j in range(8):
        acc[j] = (acc[j] + acc[j + 8]) + (acc[j + 16] + acc[j + 24])
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


def value_buffer(n, v):
    """An empty chunk buffer of ``n`` values of ``v``'s precision (float32 or float64)."""
    return np.empty(n, np.float32 if isinstance(v, np.float32) else np.float64)


@overload(value_buffer, jit_options={"forceinline": True})
def _value_buffer_ov(n, v):
    if isinstance(v, types.Float) and v.bitwidth == 32:
        return lambda n, v: np.empty(n, np.float32)
    return lambda n, v: np.empty(n, np.float64)


class PointwiseArgs(NamedTuple):
    """The arguments of a :func:`pointwise_kernel` kernel, by name (in its order)."""

    yt: object  # flat targets (one row of them where ybcast)
    yp: object  # flat predictions
    w: object  # float64 weights (wmode 1: per column, 2: per row)
    cp: object  # float64 per-column parameter
    prm: tuple  # the loss's parameters
    scale: float  # multiplies the gradient and Hessian
    n: int  # row length
    lout: object  # elementwise values
    gout: object  # gradient
    hout: object  # Hessian diagonal
    res: object  # float64 sums (per row with rows; per chunk with partials)


def pointwise_kernel(
    scalar,
    *,
    parallel: bool,
    reduce: bool,
    rows: bool,
    write_l: bool,
    write_g: bool,
    write_h: bool,
    wmode: int,
    ybcast: bool,
    has_cp: bool,
    partials: bool = False,
    flags=None,
):
    """A kernel ``k(yt, yp, w, cp, prm, scale, n, lout, gout, hout, res) -> int``.

    ``scalar(y, p, prm, c) -> (loss, dloss/dp, d2loss/dp2)``. ``wmode``: 0 no weights,
    1 one weight per column (``w[j]``), 2 one per row (``w[r]``). ``ybcast``: ``yt`` holds
    one row shared by all rows. ``cp``: a per-column parameter passed as ``c``.
    Writes ``w*l`` to ``lout``, ``w*scale*g`` to ``gout``, ``w*scale*h`` to ``hout``; the
    sum of ``w*l`` (per row with ``rows``) goes to ``res``. With ``partials`` (and
    ``reduce``), ``res`` receives the per-chunk partial sums instead (:func:`n_partials` of
    them, row-major with ``rows``), for callers that add them up later with
    :data:`combine_partials` (the Dask integration), giving the same bits. ``flags``: a
    ``register_jitable`` ``flags(y, p, prm) -> int`` (a spec's ``input_flags``) whose OR
    over the elements the kernel returns (0 without ``flags``). An array the kernel does
    not use may be None (and costs Numba 40 ns less to pass than a dummy array): ``w``
    without weights, ``cp`` without ``has_cp``, an output not written, ``res`` without
    ``reduce``.
    """
    key = (scalar, parallel, reduce, rows, write_l, write_g, write_h, wmode, ybcast, has_cp,
           partials, flags)
    return KERNELS.get(("pointwise",) + key) or memo(("pointwise",) + key,
                                                     lambda: _make_pointwise(*key))


@register_jitable(forceinline=True)
def _no_flags(y, p, prm):
    return np.int32(0)


def _make_pointwise(scalar, parallel, reduce, rows, write_l, write_g, write_h, wmode, ybcast,
                    has_cp, partials, flags=None):
    f = scalar
    FL = flags is not None
    flagf = _no_flags if flags is None else flags
    CH = CHUNK
    SUB_ = SUB
    MAXBLK_ = MAXBLK
    # (edits invalidate the disk cache)
    SRC = source_hash(scalar, _scalar_mod, *(() if flags is None else (flags,)))  # noqa: F841
    # Numba's disk-cache key hashes the bytecode and closure cells, not the compile flags:
    # without PAR in the closure the serial and parallel kernels share one cache entry.
    PAR = parallel
    REDUCE, ROWS, WL, WG, WH, WMODE, YB, HAS_CP, PARTIALS = (
        reduce, rows, write_l, write_g, write_h, wmode, ybcast, has_cp, partials
    )

    def kernel(yt, yp, w, cp, prm, scale, n, lout, gout, hout, res):
        SRC  # noqa: B018
        N = yp.shape[0]
        R = N // n
        if ROWS:
            kpr = (n + CH - 1) // CH
            nparts = R * kpr
        else:
            kpr = 1
            nparts = (N + CH - 1) // CH
        # runs of consecutive chunks, one chunk buffer each (not one per chunk); not
        # numba.get_num_threads(): it would make the kernel uncacheable
        nblk = min(nparts, MAXBLK_) if PAR else 1
        if PARTIALS:
            partials = res
        else:
            partials = np.empty(nparts, np.float64)
        if FL:
            seen = np.zeros(nblk, np.int64)  # each run's OR of the flags
        # borrowed: the views of a chunk cost no atomic reference counting (the caller holds
        # these arrays for the whole call)
        yt = borrowed(yt)
        yp = borrowed(yp)
        # an array the kernel does not use may be None (an array costs 40 ns more to pass)
        if WMODE:
            w = borrowed(w)
        if HAS_CP:
            cp = borrowed(cp)
        if WL:
            lout = borrowed(lout)
        if WG:
            gout = borrowed(gout)
        if WH:
            hout = borrowed(hout)
        for blk in prange(nblk):
            wide_vectors()
            if WMODE == 0:  # the values as they come (w*l would be l itself): a float32
                # loss keeps a float32 loop (twice the lanes), the sum is float64 anyway
                buf = value_buffer(min(SUB_, N) + LANES,
                                   f(yt[0], yp[0], prm, cp[0] if HAS_CP else 0.0)[0])
            else:
                buf = np.empty(min(SUB_, N) + LANES, np.float64)
            # (each run its own: in one array, neighbouring runs' lanes share cache lines)
            acc = np.empty(LANES, np.float64)
            if FL:
                fbuf = np.empty(min(SUB_, N), np.int32)
            fb = np.int32(0)
            for q in range(blk * nparts // nblk, (blk + 1) * nparts // nblk):
                if ROWS:
                    rq = q // kpr
                    start = rq * n + (q - rq * kpr) * CH
                    end = rq * n + min(n, (q - rq * kpr + 1) * CH)
                else:
                    start = q * CH
                    end = min(N, start + CH)
                if REDUCE:
                    for j in range(LANES):
                        acc[j] = 0.0
                sb = start
                while sb < end:  # the chunk in parts of SUB elements
                    se = min(end, sb + SUB_)
                    pos = sb
                    while pos < se:  # the runs of the part within one row
                        r = pos // n
                        c0 = pos - r * n
                        m = min(n - c0, se - pos)
                        wr = 1.0
                        if WMODE == 2:
                            wr = np.float64(w[r])
                        # views starting at 0: LLVM vectorises these loops, not range(pos, end)
                        ypv = yp[pos:pos + m]
                        ytv = yt[c0:c0 + m] if YB else yt[pos:pos + m]
                        if WMODE == 1:
                            wv = w[c0:c0 + m]
                        if HAS_CP:
                            cpv = cp[c0:c0 + m]
                        bv = borrowed(buf)[pos - sb:pos - sb + m]  # (buf: held by the task)
                        if WL:
                            lv_ = lout[pos:pos + m]
                        if WG:
                            gv_ = gout[pos:pos + m]
                        if WH:
                            hv_ = hout[pos:pos + m]
                        if FL:
                            fv = borrowed(fbuf)[pos - sb:pos - sb + m]
                        for t in range(m):
                            c = cpv[t] if HAS_CP else 0.0
                            lv, gv, hv = f(ytv[t], ypv[t], prm, c)
                            # float64: float32 weights give their float64 copy's bits
                            wi = np.float64(wv[t]) if WMODE == 1 else wr
                            if REDUCE:
                                bv[t] = lv if WMODE == 0 else wi * lv
                            if WL:
                                lv_[t] = lv if WMODE == 0 else wi * lv
                            if WG:
                                gv_[t] = (wi * scale) * gv
                            if WH:
                                hv_[t] = (wi * scale) * hv
                            if FL:
                                fv[t] = flagf(ytv[t], ypv[t], prm)
                        pos += m
                    if REDUCE:
                        lanes_add(buf, se - sb, acc)
                    if FL:  # (a reduction of its own: in the pass above, an OR reduction
                        # made LLVM halve a float32 loop's vectors)
                        for t in range(se - sb):
                            fb |= fbuf[t]
                    sb = se
                if REDUCE:
                    partials[q] = lanes_total(acc)
            if FL:
                seen[blk] = fb
        if REDUCE and not PARTIALS:
            if ROWS:
                for r in range(R):
                    res[r] = ordered_sum(partials, r * kpr, (r + 1) * kpr)
            else:
                res[0] = ordered_sum(partials, 0, nparts)
        fl = 0
        if FL:
            for b in range(nblk):
                fl |= seen[b]
        return fl

    kernel.__name__ = kernel.__qualname__ = f"pointwise_{scalar.__name__}"
    return njit(kernel, parallel=parallel)


def n_partials(N: int, n: int, rows: bool) -> int:
    """How many partials a kernel over ``N`` elements in rows of ``n`` writes."""
    if N == 0:
        return 0
    if rows:
        return (N // n) * ((n + CHUNK - 1) // CHUNK)
    return (N + CHUNK - 1) // CHUNK


def _combine_partials(partials, kpr, res):
    for r in range(res.shape[0]):
        res[r] = ordered_sum(partials, r * kpr, (r + 1) * kpr)


#: ``combine_partials(partials, kpr, res)``: ``res[r]`` = the ordered sum of the ``r``-th run
#: of ``kpr`` partials, added exactly as the kernels add theirs.
combine_partials = njit(_combine_partials)


def body_kernel(body, parallel: bool, scratch: bool = False):
    """``k(*args)``: ``body(i, *args)`` for every row ``i`` of ``args[0]`` (a ``prange``),
    the CPU twin of :func:`fastloss._kernels.cuda.rows_kernel` (one row per thread there).
    ``body`` is a ``register_jitable`` row function of a loss module. With ``scratch`` the
    body takes one more argument, a float64 scratch array, of which each task of
    :data:`fastloss._kernels.rows.ROWS_PER_TASK` rows gets its own."""
    key = ("body", body, parallel, scratch)
    return KERNELS.get(key) or memo(key, lambda: _make_body(body, parallel, scratch))


def _make_body(body, parallel, scratch):
    f = body
    # the body's whole module: an edited helper of the body invalidates the cached kernel
    SRC = source_hash(inspect.getmodule(body), _scalar_mod, _rows_mod, _lanes_mod)  # noqa: F841
    PAR = parallel  # noqa: F841
    RPT = _rows_mod.ROWS_PER_TASK
    SCR = _rows_mod.SCRATCH

    # the body gets borrowed arrays: no atomic reference counting per row (see borrowed)
    if scratch:
        def rows(*args):
            SRC  # noqa: B018
            PAR  # noqa: B018
            a = borrowed(args)
            M = args[0].shape[0]
            for q in prange((M + RPT - 1) // RPT):
                wide_vectors()
                w = np.empty(SCR, np.float64)
                for i in range(q * RPT, min((q + 1) * RPT, M)):
                    f(np.int64(i), *a, borrowed(w))
    else:
        def rows(*args):
            SRC  # noqa: B018
            PAR  # noqa: B018
            a = borrowed(args)
            for i in prange(args[0].shape[0]):
                wide_vectors()
                # (prange may index with uint64, and uint64 +- int64 types as float64)
                f(np.int64(i), *a)

    rows.__name__ = rows.__qualname__ = f"rows_{body.__name__}"
    return njit(rows, parallel=parallel)


def whole_kernel(fn, parallel: bool):
    """``fn`` itself compiled as a kernel (its loops may be ``prange``): a loss's own CPU
    kernel where one row body per row is not the fast layout (tiles). ``fn`` is a plain
    function of a loss module; an edit of that module invalidates its cached code."""
    return memo(("whole", fn, parallel), lambda: _make_whole(fn, parallel))


def _make_whole(fn, parallel):
    name = f"{fn.__name__}_{'par' if parallel else 'ser'}"
    g = pytypes.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    g.__module__ = fn.__module__
    return njit(g, parallel=parallel)


def map_kernel(fn, parallel: bool):
    """``k(x, a, b, out)``: ``out[i] = fn(x[i], a, b)`` over flat arrays, chunk by chunk
    (an elementwise map: no reduction, so serial and parallel agree; ``out`` may be ``x``)."""
    key = ("map", fn, parallel)
    return KERNELS.get(key) or memo(key, lambda: _make_map(fn, parallel))


def _make_map(fn, parallel):
    f = fn
    CH = CHUNK
    SRC = source_hash(fn, _scalar_mod)  # noqa: F841
    PAR = parallel  # noqa: F841

    def elementwise(x, a, b, out):
        SRC  # noqa: B018
        PAR  # noqa: B018
        N = x.shape[0]
        for q in prange((N + CH - 1) // CH):
            wide_vectors()
            s = q * CH
            e = min(N, s + CH)
            xv = x[s:e]
            ov = out[s:e]
            for i in range(e - s):
                ov[i] = f(xv[i], a, b)

    elementwise.__name__ = elementwise.__qualname__ = f"map_{fn.__name__}"
    return njit(elementwise, parallel=parallel)
