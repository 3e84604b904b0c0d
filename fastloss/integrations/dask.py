"""Dask arrays through the fastloss kernels.

A pointwise loss given Dask arrays (``y_true`` or ``y_pred``; ``sample_weight`` may be one
too) builds a lazy Dask graph, on whatever scheduler is in use (the local threaded one, or
a ``dask.distributed`` cluster), instead of computing:

* ``L(y_true, y_pred)`` with ``reduction="mean"`` or ``"sum"`` gives a 0-d Dask array (a
  lazy scalar; with ``axis=-1`` a lazy array of one loss per row). Each block runs the
  fastloss kernel, which hands back its float64 partial sums, one per chunk of
  :data:`fastloss._kernels.cpu.CHUNK` elements, instead of their total; the partials of all
  blocks are then added in block order by the kernels' own ordered sum. The blocks are first
  rechunked so that their boundaries fall on multiples of ``CHUNK`` elements of the flat
  array (and on row boundaries): every partial is then the one the in-memory kernel
  computes, and the result is **bit for bit the in-memory result**, whatever the scheduler,
  the number of workers or the order in which tasks finish. The weighted mean divides by
  ``sum(sample_weight)`` computed exactly as ``numpy.sum`` computes it in memory (its
  pairwise summation tree, evaluated across blocks).
* ``reduction="none"``, ``.grad`` and ``.grad_hess`` map the kernel over the blocks and give
  Dask arrays shaped like ``y_pred`` (``grad_hess``: a pair of them, from one pass). With
  ``reduction="mean"`` the gradient's ``1/sum(w)`` factor is a lazy scalar computed first.
* ``.value_and_grad`` gives ``(lazy value, lazy gradient)`` from one pass per block.

Bad arguments (shapes, reduction, parameters, ``out=``) raise at once; checks that need the
data (negative weights, targets outside a loss's domain, weights summing to zero) raise
when the result is computed. Blocks must be NumPy arrays; the reductions run the CPU
kernels (``backend="cuda"`` is refused for them).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from functools import partial

import numpy as np

from .. import _arrays as A
from .. import _backend
from .._kernels import cpu
from .._kinds import multi as _multi
from .._kinds import pointwise as _pointwise
from .._kinds import rowwise as _rowwise
from .._spec import REGISTRY, check_params
from . import require

dask = require("dask", "dask")  # an ImportError naming the extra when it is missing
da = require("dask.array", "dask")

OPS = ("value", "grad", "grad_hess", "value_and_grad")

#: NumPy's pairwise-summation block (``PW_BLOCKSIZE`` in numpy/_core/src/umath/loops_utils.h.src)
PW_BLOCKSIZE = 128


def handle(spec, op, args, kw):
    """The loss call on Dask arrays (registered with the dispatcher for types of ``dask.``):
    pointwise and row-wise losses build lazy graphs; the losses of several arrays read
    their (small) inputs into memory and run as usual."""
    kw = dict(kw)
    params = kw.pop("params", {})
    if spec.kind == "pointwise":
        return pointwise(spec, op, *args, **kw, **params)
    if spec.kind == "rowwise":
        if op == "grad_hess" and not spec.has_hess:
            raise NotImplementedError(f"{spec.name} has no grad_hess (no diagonal Hessian)")
        return rowwise(spec, op, *args, **kw, **params)
    return _multi.call(spec, op, args, kw)


def pointwise(spec, op, y_true, y_pred, *, reduction="mean", sample_weight=None, axis=None,
              backend=None, out=None, **params):
    """Run ``op`` (``"value"``, ``"grad"``, ``"grad_hess"`` or ``"value_and_grad"``) of a
    pointwise loss on Dask arrays, lazily. Called by the loss objects; the keyword
    arguments are theirs."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if out is not None:
        raise ValueError("out= is not supported with Dask arrays: the gradient is a lazy "
                         "Dask array (call .compute() or dask.array.store on it)")
    job = _Job(spec, y_true, y_pred, sample_weight, reduction, axis, backend, params)
    if op == "value":
        return job.map("value") if job.reduction == "none" else job.reduce()
    if op == "grad":
        return job.map("grad")
    if op == "grad_hess":
        return job.map("grad_hess")
    if job.reduction == "none":
        return job.map("value"), job.map("grad")
    return job.value_and_grad()


# ---------------------------------------------------------------------------
# the job: inputs checked and described once, at graph-building time


class _Job:
    def __init__(self, spec, y_true, y_pred, sample_weight, reduction, axis, backend, params):
        self.spec = spec
        self.reduction = A.check_reduction(reduction)
        self.axis = A.check_axis(axis)
        # The backend in force now, not when (and in which thread) the graph runs.
        self.backend = _backend.get_backend() if backend is None else _backend._check_name(
            backend)
        params = check_params(spec.name, spec.params, params)

        ref = y_pred if _is_dask(y_pred) else y_true
        yp = _as_dask(y_pred, "y_pred", ref)
        yt = _as_dask(y_true, "y_true", ref)
        for x, name in ((yt, "y_true"), (yp, "y_pred")):
            A._kind_check(x, name)
            if any(math.isnan(s) for s in x.shape):
                raise ValueError(f"{name} has unknown chunk sizes; call "
                                 f"{name}.compute_chunk_sizes() first")
        self.dtype = A.float_dtype(yt, yp)
        self.shape = yp.shape
        if yp.ndim == 0:
            yp = yp.reshape(1)
            yt = yt.reshape(1) if yt.ndim == 0 else yt
        if yt.shape == yp.shape:
            self.ybcast = False
        elif yp.ndim >= 2 and yt.shape == yp.shape[-1:]:
            self.ybcast = True
        else:
            raise ValueError(
                f"y_true has shape {yt.shape}, which does not match y_pred's shape "
                f"{self.shape} (it must be the same shape, or that of y_pred's last axis)"
            )
        self.ndim = yp.ndim
        self.ind = tuple(f"i{k}" for k in range(self.ndim))
        n_last = yp.shape[-1]
        self.rows = self.axis == -1 and self.reduction != "none"

        # Parameters: scalars checked now; arrays (pos_weight) checked now and, when they
        # run along the last axis, chunked with it.
        self.params, self.cp_names, cps = {}, [], []
        for p in spec.params:
            v = params[p.name]
            if p.kind == "float_or_array" and v is not None and np.ndim(v) > 0:
                arr = np.asarray(v.compute() if _is_dask(v) else v)
                _pointwise._column_param(p, arr, n_last)  # raises if bad
                if arr.shape[0] == n_last and n_last != 1:
                    self.cp_names.append(p.name)
                    cps.append(da.from_array(arr, chunks=(yp.chunks[-1],)))
                    continue
                v = arr
            elif p.kind == "float_or_array":
                if v is not None:
                    p.check(v)
            else:
                p.check(v)
            self.params[p.name] = v

        # Weights, laid out as the in-memory plan lays them out.
        self.R = int(np.prod(yp.shape[:-1], dtype=np.int64))
        self.n = n_last
        self.wmode, w = 0, None
        if sample_weight is not None:
            wref = yp[(0,) * (self.ndim - 1)] if (self.rows or self.ndim == 1 or self.ybcast) \
                else yp[(slice(None),) + (0,) * (self.ndim - 1)]
            w = _as_dask(sample_weight, "sample_weight", wref)
            A._kind_check(w, "sample_weight")
            if w.ndim != 1:
                raise ValueError(f"sample_weight must be 1-D, got shape {w.shape}")
            if self.rows or self.ndim == 1 or self.ybcast:
                self.wmode, expected = 1, n_last
            else:
                self.wmode, expected = 2, yp.shape[0]
                self.n = int(np.prod(yp.shape[1:], dtype=np.int64))
                self.R = yp.shape[0]
            if w.shape[0] != expected:
                raise ValueError(f"sample_weight has {w.shape[0]} entries, expected {expected}")
        self.size = self.R * self.n
        if self.reduction == "mean" and self.size == 0 and not (self.rows and self.R == 0):
            raise ValueError(f"{spec.name}: empty input with reduction='mean' has no value")
        self.yt, self.yp, self.w, self.cps = yt, yp, w, cps

    # -- pieces shared by the maps and the reductions

    def _args(self, yt, yp, w, cps):
        ind = self.ind
        args = [yt, ind[-1:] if self.ybcast else ind, yp, ind]
        if w is None:
            args += [None, None]
        else:
            args += [w, ind[-1:] if self.wmode == 1 else ind[:1]]
        return args, [a for cp in cps for a in (cp, ind[-1:])]

    def _ctx(self, what, block_reduction):
        return (self.spec.name, what, block_reduction, self.axis, self.backend, self.params,
                tuple(self.cp_names))

    def _denominator(self):
        """What "mean" divides by: a Python float, or a lazy 0-d array (weighted)."""
        if self.w is None:
            return float(self.n) if self.rows else float(self.R * self.n)
        factor = 1 if self.rows else (self.R if self.wmode == 1 else self.n)
        return da.blockwise(_times, (), numpy_sum(self.w), (), factor, None, self.size, None,
                            dtype=np.float64, meta=np.empty((), np.float64))

    def _scale(self):
        """The gradient's factor (``1/denominator`` for "mean"), literal or lazy 0-d."""
        if self.reduction != "mean":
            return 1.0, None
        d = self._denominator()
        if isinstance(d, float):
            return 1.0 / d, None
        return da.blockwise(_inverse, (), d, (), dtype=np.float64,
                            meta=np.empty((), np.float64)), ()

    def _finish_shape(self, x):
        return x.reshape(self.shape) if len(self.shape) == 0 else x

    # -- maps: reduction="none" values, gradients, Hessians

    def map(self, what):
        block_reduction = "none" if self.reduction == "none" else "sum"
        scale, scale_ind = (1.0, None) if what == "value" else self._scale()
        args, cp_args = self._args(self.yt, self.yp, self.w, self.cps)
        fn = partial(_map_block, self._ctx(what, block_reduction))
        out_ind, new_axes = self.ind, {}
        if what == "grad_hess":
            out_ind, new_axes = ("gh",) + self.ind, {"gh": 2}
        res = da.blockwise(fn, out_ind, *args, scale, scale_ind, *cp_args, new_axes=new_axes,
                           dtype=self.dtype, meta=np.empty((0,) * len(out_ind), self.dtype))
        if what == "grad_hess":
            return self._finish_shape(res[0]), self._finish_shape(res[1])
        return self._finish_shape(res)

    # -- reductions

    def _aligned(self):
        """yt, yp, w, cps rechunked so that every block starts on a multiple of CHUNK
        elements of the kernel's flat view and on a row boundary."""
        yp = self.yp
        CH = cpu.CHUNK
        if self.rows or self.ndim == 1:
            target = {self.ndim - 1: _aligned_chunks(yp.chunks[-1], CH)}
        else:
            rowsize = int(np.prod(yp.shape[1:], dtype=np.int64))
            unit = CH // math.gcd(rowsize, CH) if rowsize else 1
            target = {0: _aligned_chunks(yp.chunks[0], unit)}
            target.update({k: -1 for k in range(1, self.ndim)})
        yp = yp.rechunk(target)
        yt = self.yt.rechunk((yp.chunks[-1],) if self.ybcast else yp.chunks)
        w = self.w
        if w is not None:
            w = w.rechunk((yp.chunks[-1],) if self.wmode == 1 else (yp.chunks[0],))
        cps = [cp.rechunk((yp.chunks[-1],)) for cp in self.cps]
        return yt, yp, w, cps

    def _partials_layout(self, yp):
        """(output index, adjusted chunks) of the partials array of the aligned blocks."""
        CH = cpu.CHUNK
        if self.rows:
            kprs = tuple(-(-c // CH) for c in yp.chunks[-1])
            return self.ind, {self.ind[-1]: kprs}
        rowsize = int(np.prod(yp.shape[1:], dtype=np.int64))
        nparts = tuple(-(-(c * rowsize) // CH) for c in yp.chunks[0])
        return self.ind[:1], {self.ind[0]: nparts}

    def _check_cuda(self):
        if self.backend == "cuda":
            raise NotImplementedError(
                "reductions of Dask arrays run the CPU kernels; backend='cuda' is not "
                "supported for them (the elementwise maps: .grad, reduction='none', are)")

    def _finish(self, parts):
        """The partials (in block order) to the reduced value, as the in-memory call gives."""
        if self.rows:
            last = self.ndim - 1
            sums = da.blockwise(_combine_rows, self.ind[:-1], parts.rechunk({last: -1}),
                                self.ind, concatenate=True, dtype=np.float64,
                                meta=np.empty((0,) * last, np.float64))
            if self.reduction == "sum":
                return sums.astype(self.dtype)
            d = self._denominator()
            if isinstance(d, float):
                return (sums / d).astype(self.dtype)
            return da.blockwise(_rows_mean, self.ind[:-1], sums, self.ind[:-1], d, (),
                                self.dtype, None, dtype=self.dtype,
                                meta=np.empty((0,) * last, self.dtype))
        total = da.blockwise(_combine_flat, (), parts.rechunk(-1), self.ind[:1],
                             concatenate=True, dtype=np.float64, meta=np.empty((), np.float64))
        if self.reduction == "sum":
            return total
        d = self._denominator()
        if isinstance(d, float):
            return da.blockwise(_divide, (), total, (), d, None, dtype=np.float64,
                                meta=np.empty((), np.float64))
        return da.blockwise(_divide_checked, (), total, (), d, (), dtype=np.float64,
                            meta=np.empty((), np.float64))

    def _empty_value(self):
        if self.rows:  # sum over empty rows: zeros; no rows: an empty array
            return da.zeros(self.shape[:-1], dtype=self.dtype)
        return da.from_array(np.array(0.0))

    def reduce(self):
        self._check_cuda()
        if self.size == 0:
            return self._empty_value()
        yt, yp, w, cps = self._aligned()
        args, cp_args = self._args(yt, yp, w, cps)
        out_ind, adjust = self._partials_layout(yp)
        fn = partial(_partials_block, self._ctx("value", "sum"))
        parts = da.blockwise(fn, out_ind, *args, *cp_args, adjust_chunks=adjust,
                             concatenate=True, dtype=np.float64,
                             meta=np.empty((0,) * len(out_ind), np.float64))
        return self._finish(parts)

    def value_and_grad(self):
        self._check_cuda()
        if self.size == 0:
            return self._empty_value(), self.map("grad")
        yt, yp, w, cps = self._aligned()
        args, cp_args = self._args(yt, yp, w, cps)
        scale, scale_ind = self._scale()
        fn = partial(_partials_block, self._ctx("value_and_grad", "sum"))
        both = da.blockwise(fn, self.ind, *args, scale, scale_ind, *cp_args,
                            dtype=object, meta=np.empty((0,) * self.ndim, object))
        grad = both.map_blocks(_second, dtype=self.dtype,
                               meta=np.empty((0,) * self.ndim, self.dtype))
        out_ind, adjust = self._partials_layout(yp)
        parts = da.blockwise(_first, out_ind, both, self.ind, adjust_chunks=adjust,
                             dtype=np.float64, meta=np.empty((0,) * len(out_ind), np.float64))
        return self._finish(parts), self._finish_shape(grad)


# ---------------------------------------------------------------------------
# helpers run at graph-building time


def _is_dask(x) -> bool:
    return type(x).__module__.startswith("dask.")


def _as_dask(x, name, ref):
    """``x`` as a Dask array; NumPy data is cut like ``ref`` where their shapes agree."""
    if _is_dask(x):
        if not isinstance(x, da.Array):
            raise TypeError(f"{name} must be a Dask array (not {type(x).__name__}) or array_like")
        return x
    a = A.as_array(x, name)
    if _is_dask(ref) and a.shape == ref.shape:
        return da.from_array(a, chunks=ref.chunks)
    if _is_dask(ref) and ref.ndim and a.shape == ref.shape[-1:]:
        return da.from_array(a, chunks=(ref.chunks[-1],))
    return da.from_array(a, chunks=-1)


def _aligned_chunks(chunks, unit):
    """``chunks`` if every inner boundary is a multiple of ``unit``, else a regular size
    that is (near the current mean block length)."""
    edge = 0
    for c in chunks[:-1]:
        edge += c
        if edge % unit:
            break
    else:
        return chunks
    mean = sum(chunks) / len(chunks)
    return max(1, round(mean / unit)) * unit


def numpy_sum(w):
    """``float(numpy.sum(w.astype(float64)))`` of a 1-D Dask array, lazily and bit for bit:
    NumPy's pairwise summation tree over the whole array, its subtrees that fall inside one
    block summed there by ``numpy.sum`` and the rest assembled in the same order."""
    nblocks = len(w.chunks[0])
    edges = [0]
    for c in w.chunks[0]:
        edges.append(edges[-1] + c)
    wants: list = [[] for _ in range(nblocks)]
    tree = _pairwise_tree(0, edges[-1], edges, wants)
    blocks = w.to_delayed().ravel()
    got = [dask.delayed(_block_pieces, pure=True)(blocks[b], tuple(wants[b]))
           if wants[b] else () for b in range(nblocks)]
    total = dask.delayed(_eval_tree, pure=True)(tree, got)
    return da.from_delayed(total, shape=(), dtype=np.float64)


def _pairwise_tree(lo, hi, edges, wants):
    """NumPy's ``pairwise_sum`` recursion over ``[lo, hi)``, cut where a node lies in one
    block (``("sum", block, k)``: the k-th piece asked of that block) or is a small leaf
    spanning blocks (``("leaf", [(block, k), ...])``: raw values, summed as NumPy would)."""
    b = bisect_right(edges, lo) - 1
    if hi <= edges[b + 1] or hi == lo:
        wants[b].append(("sum", lo - edges[b], hi - edges[b]))
        return ("sum", b, len(wants[b]) - 1)
    n = hi - lo
    if n <= PW_BLOCKSIZE:
        refs = []
        while lo < hi:
            e = min(hi, edges[b + 1])
            if e > lo:
                wants[b].append(("raw", lo - edges[b], e - edges[b]))
                refs.append((b, len(wants[b]) - 1))
            lo = e
            b += 1
        return ("leaf", refs)
    n2 = n // 2
    n2 -= n2 % 8
    return ("add", _pairwise_tree(lo, lo + n2, edges, wants),
            _pairwise_tree(lo + n2, hi, edges, wants))


# ---------------------------------------------------------------------------
# functions run on the workers (module level: they pickle by reference)


def _block_pieces(block, wants):
    x = np.ascontiguousarray(block, dtype=np.float64)
    return [float(np.sum(x[a:b])) if kind == "sum" else x[a:b].copy() for kind, a, b in wants]


def _eval_tree(node, got):
    kind = node[0]
    if kind == "sum":
        return got[node[1]][node[2]]
    if kind == "leaf":
        return float(np.sum(np.concatenate([got[b][k] for b, k in node[1]])))
    return _eval_tree(node[1], got) + _eval_tree(node[2], got)


def _block_plan(ctx, yt, yp, w, cps):
    name, _, block_reduction, axis, _, params, cp_names = ctx
    spec = REGISTRY[name]
    if cp_names:
        params = {**params, **dict(zip(cp_names, cps, strict=True))}
    pl = _pointwise.plan(spec, yt, yp, reduction=block_reduction, sample_weight=w, axis=axis,
                         params=params)
    return spec, pl


def _map_block(ctx, yt, yp, w, scale, *cps):
    what, backend = ctx[1], ctx[4]
    spec, pl = _block_plan(ctx, yt, yp, w, cps)
    if what == "value":
        v, _, _ = _pointwise.run(spec, pl, backend, want_value=True, want_grad=False)
        return v
    _, g, h = _pointwise.run(spec, pl, backend, want_value=False, want_grad=True,
                             want_hess=what == "grad_hess", grad_scale=float(scale))
    return g if h is None else np.stack((g, h))


def _partials_block(ctx, yt, yp, w, *rest):
    what, backend = ctx[1], ctx[4]
    if what == "value_and_grad":
        scale, cps = float(rest[0]), rest[1:]
    else:
        scale, cps = 1.0, rest
    spec, pl = _block_plan(ctx, yt, yp, w, cps)
    parts, g = _pointwise.run_partials(spec, pl, backend, want_grad=what == "value_and_grad",
                                       grad_scale=scale)
    if pl.rows:
        parts = parts.reshape(yp.shape[:-1] + parts.shape[-1:])
    return parts if g is None else (parts, g)


def _unwrap(t):
    while isinstance(t, list):
        t = t[0]
    return t


def _first(t):
    return _unwrap(t)[0]


def _second(t):
    return _unwrap(t)[1]


def _combine_flat(parts):
    res = np.zeros(1)
    cpu.combine_partials(np.ascontiguousarray(parts, dtype=np.float64).reshape(-1),
                         parts.size, res)
    return np.float64(res[0])


def _combine_rows(parts):
    lead, kpr = parts.shape[:-1], parts.shape[-1]
    res = np.zeros(int(np.prod(lead, dtype=np.int64)))
    cpu.combine_partials(np.ascontiguousarray(parts, dtype=np.float64).reshape(-1), kpr, res)
    return res.reshape(lead)


def _times(wsum, factor, size):
    d = float(wsum) * factor
    if d == 0.0 and size > 0:
        raise ValueError("sample_weight sums to zero: the weighted mean is undefined")
    return np.float64(d)


def _inverse(d):
    return np.float64(1.0 / float(d))


def _divide(total, d):
    return np.float64(float(total) / d)


def _divide_checked(total, d):
    return np.float64(float(total) / float(d))


def _rows_mean(sums, d, dtype):
    return (sums / float(d)).astype(dtype)


# ---------------------------------------------------------------------------
# row-wise losses (cross_entropy, kl_divergence, log_loss): blocks of whole rows


def rowwise(spec, op, y_true, y_pred, *, reduction="mean", sample_weight=None, backend=None,
            out=None, **params):
    """Run ``op`` of a row-wise loss on Dask arrays, lazily (see the module docstring).

    Each block of whole rows runs the row kernel, which gives one float64 value per row;
    the reductions add them (and the weights of "mean") with :func:`numpy_sum`, exactly as
    the in-memory call adds them with ``numpy.sum``: no rechunking along the rows needed.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if out is not None:
        raise ValueError("out= is not supported with Dask arrays: the gradient is a lazy "
                         "Dask array (call .compute() or dask.array.store on it)")
    job = _RowJob(spec, y_true, y_pred, sample_weight, reduction, backend, params)
    if op == "value":
        return job.values() if job.reduction == "none" else job.reduce()
    if op == "grad":
        return job.grads(False)
    if op == "grad_hess":
        return job.grads(True)
    if job.reduction == "none":
        return job.values(), job.grads(False)
    return job.reduce(), job.grads(False)


class _RowJob:
    def __init__(self, spec, y_true, y_pred, sample_weight, reduction, backend, params):
        self.spec = spec
        self.reduction = A.check_reduction(reduction)
        self.backend = _backend.get_backend() if backend is None else _backend._check_name(
            backend)
        if self.backend == "cuda":
            raise NotImplementedError(f"{spec.name}: no CUDA row kernel for Dask arrays; use "
                                      "the CPU backends")
        self.params = check_params(spec.name, spec.params, params)
        ref = y_pred if _is_dask(y_pred) else y_true
        yp = _as_dask(y_pred, "y_pred", ref)
        yt = _as_dask(y_true, "y_true", ref)
        for x, name in ((yt, "y_true"), (yp, "y_pred")):
            A._kind_check(x, name)
            if any(math.isnan(s) for s in x.shape):
                raise ValueError(f"{name} has unknown chunk sizes; call "
                                 f"{name}.compute_chunk_sizes() first")
        self.gshape = yp.shape
        # cross_entropy's single row of C logits: one row of a batch
        self.unbatched = spec.single_row and yp.ndim == 1
        if self.unbatched:
            yp, yt = yp[None, :], yt[None] if yt.ndim == 0 else yt[None, :]
        if yp.ndim == 0 or yt.ndim == 0:
            raise ValueError(f"y_pred has shape {yp.shape}; {spec.name} takes rows")
        if yt.shape[0] != yp.shape[0]:
            raise ValueError(f"y_true has {yt.shape[0]} rows, y_pred has {yp.shape[0]}")
        # Shapes, dtypes and parameters checked now, on empty stand-ins.
        meta_t = np.empty((0,) + yt.shape[1:], yt.dtype)
        meta_p = np.empty((0,) + yp.shape[1:], yp.dtype)
        pl = _rowwise.plan(spec, meta_t, meta_p, reduction="sum", sample_weight=None,
                           params=self.params)
        self.dtype = pl.dtype
        self.N = yp.shape[0]
        if self.reduction == "mean" and self.N == 0:
            raise ValueError(f"{spec.name}: empty input with reduction='mean' has no value")
        # whole rows in every block
        yp = yp.rechunk({k: -1 for k in range(1, yp.ndim)})
        rows_chunks = yp.chunks[0]
        yt = yt.rechunk((rows_chunks,) + tuple((-1,) * (yt.ndim - 1)) if yt.ndim > 1
                        else (rows_chunks,))
        w = None
        if sample_weight is not None:
            w = _as_dask(sample_weight, "sample_weight", yp[:, 0] if yp.ndim > 1 else yp)
            A._kind_check(w, "sample_weight")
            if w.ndim != 1:
                raise ValueError(f"sample_weight must be 1-D, got shape {w.shape}")
            if w.shape[0] != self.N:
                raise ValueError(f"sample_weight has {w.shape[0]} entries, expected {self.N}")
            w = w.rechunk((rows_chunks,))
        self.yt, self.yp, self.w = yt, yp, w
        self.pind = ("r",) + tuple(f"c{k}" for k in range(1, yp.ndim))
        self.tind = ("r",) + tuple(f"t{k}" for k in range(1, yt.ndim))

    def _args(self):
        return [self.yt, self.tind, self.yp, self.pind,
                *((None, None) if self.w is None else (self.w, ("r",)))]

    def _ctx(self, what):
        return (self.spec.name, what, self.reduction, self.backend, self.params)

    def _per_row(self, what):
        """A (N,) float64 Dask array of each row's ``what`` ("lout" or "rw")."""
        fn = partial(_row_block, self._ctx(what))
        return da.blockwise(fn, ("r",), *self._args(), concatenate=True, dtype=np.float64,
                            meta=np.empty((0,), np.float64))

    def _denominator(self):
        """``pl.denom`` of the in-memory plan, lazily (a 0-d array), and the ``sum(w)``
        check."""
        denom = numpy_sum(self._per_row("rw"))
        if self.w is None:
            return denom
        return da.blockwise(_checked_denominator, (), denom, (), numpy_sum(self.w), (),
                            dtype=np.float64, meta=np.empty((), np.float64))

    def reduce(self):
        total = numpy_sum(self._per_row("lout"))
        if self.reduction == "sum":
            return total
        return da.blockwise(_row_mean, (), total, (), self._denominator(), (),
                            dtype=np.float64, meta=np.empty((), np.float64))

    def values(self):
        fn = partial(_row_block, self._ctx("values"))
        v = da.blockwise(fn, ("r",), *self._args(), concatenate=True, dtype=self.dtype,
                         meta=np.empty((0,), self.dtype))
        return v.reshape(()) if self.unbatched else v

    def grads(self, hess):
        denom = self._denominator() if self.reduction == "mean" else None
        fn = partial(_row_block, self._ctx("grad_hess" if hess else "grad"))
        out_ind, new_axes = self.pind, {}
        if hess:
            out_ind, new_axes = ("gh",) + self.pind, {"gh": 2}
        d_args = (None, None) if denom is None else (denom, ())
        r = da.blockwise(fn, out_ind, *self._args(), *d_args, concatenate=True,
                         new_axes=new_axes, dtype=self.dtype,
                         meta=np.empty((0,) * len(out_ind), self.dtype))
        shape = self.gshape
        if hess:
            g, h = r[0], r[1]
            return (g.reshape(shape), h.reshape(shape)) if self.unbatched else (g, h)
        return r.reshape(shape) if self.unbatched else r


def _row_block(ctx, yt, yp, w, denom=None):
    name, what, reduction, backend, params = ctx
    spec = REGISTRY[name]
    pl = _rowwise.plan(spec, yt, yp, reduction="sum", sample_weight=w, params=params)
    if what == "rw":  # each row's weight in the mean's denominator
        roww = pl.rows.roww
        if pl.sw is None:
            return np.ones(pl.N) if roww is None else roww
        return pl.sw if roww is None else pl.sw * roww
    if what in ("lout", "values"):
        lout, _, _ = _rowwise.run_rows(spec, pl, backend, want_grad=False)
        return lout if what == "lout" else lout.astype(pl.dtype)
    pl.reduction = reduction  # the gradient's scale: 1, or 1/denominator of the whole array
    if reduction == "mean":
        pl.denom = float(denom)
    _, g, h = _rowwise.run_rows(spec, pl, backend, want_grad=True,
                                want_hess=what == "grad_hess")
    return g if h is None else np.stack((g, h))


def _checked_denominator(denom, wsum):
    if not float(wsum) > 0.0:
        raise ValueError("sample_weight sums to zero: the weighted mean is undefined")
    return denom


def _row_mean(total, denom):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(np.float64(total) / np.float64(denom))
