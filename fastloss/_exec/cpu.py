"""The CPU executors ("serial", "parallel"): buffers, kernel launches and ``out=`` on the host.

Every kernel launch goes through :meth:`HostExecutor.launch`, which takes the
parallel-launch lock where the threading layer needs it. The CUDA executor
(:mod:`fastloss._exec.cuda`) has the same methods.
"""

from __future__ import annotations

import numpy as np

from .. import _arrays as A
from .. import _backend
from .._checks import pairwise_sum
from .._kernels import cpu, rows
from .._kernels.compile import KERNELS

_DUMMY: dict = {}
_W_DUMMY = np.zeros(1, np.float64)


def _dummy(dtype):
    """A length-1 array of ``dtype`` for a kernel output that is not written."""
    d = _DUMMY.get(dtype)
    if d is None:
        dtype = np.dtype(dtype)
        d = _DUMMY.setdefault(dtype, np.zeros(1, dtype=dtype))
        _DUMMY[dtype.type] = d
    return d


def finish_value(pl, res, lout):
    """A pointwise plan's value from the kernel's float64 sums (``res``) or its elementwise
    values (``lout``)."""
    if pl.reduction == "none":
        return lout.reshape(pl.shape)
    if pl.rows:
        v = res if pl.reduction == "sum" else res / pl.denom
        return v.astype(pl.dtype).reshape(pl.shape[:-1])
    total = float(res[0])
    return total / pl.denom if pl.reduction == "mean" else total


def finish_rows(losses: np.ndarray, reduction: str, dtype, denom: float | None = None):
    """The value from per-row float64 losses: a float for mean/sum (``numpy.sum``, in
    order: the same bits for any thread count), the rows in ``dtype`` for "none"."""
    if reduction == "none":
        return losses.astype(dtype)
    total = pairwise_sum(losses)  # numpy.sum's order, in one compiled call
    if reduction == "sum":
        return total
    if denom is None:  # one per row (never zero rows: "mean" of nothing is refused)
        return total / losses.shape[0]
    if denom != 0.0:
        return total / denom
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero weight sum: inf or nan
        return float(np.float64(total) / np.float64(denom))


class Grads:
    """The gradient arrays: ``out`` (checked) or new ones, where the caller gets them; an
    executor whose buffers live elsewhere (host inputs sent to "cuda") writes ``bufs`` and
    :meth:`done` copies them back."""

    def __init__(self, user, bufs=None):
        self.user = user
        self.bufs = user if bufs is None else bufs

    def done(self):
        if self.bufs is not self.user:
            for d, h in zip(self.bufs, self.user, strict=True):
                if h.size:
                    d.copy_to_host(h)
        return self.user


def host_grad_buffers(outs, shapes, dtype, names, inputs=None):
    """``outs`` checked (named ``out`` / ``out[i]``) or new host arrays. ``inputs``: the
    arrays the kernels read (the differentiable ones first, in the order of ``names``):
    ``out[i]`` may be exactly input ``i`` (in place) and must not share memory with any
    other input or with another ``out``."""
    if outs is None:
        return [np.empty(s, dtype) for s in shapes]
    many = len(shapes) > 1
    res = []
    arrays = list(inputs or ())
    for i, (o, s) in enumerate(zip(outs, shapes, strict=True)):
        label = f"out[{i}] (for {names[i]})" if many else "out"
        reads = [(names[k] if k < len(names) else f"input {k}", a)
                 for k, a in enumerate(arrays)]
        reads += [(f"out[{k}]", r) for k, r in enumerate(res)]
        own = arrays[i] if i < len(arrays) else None
        res.append(A.check_out(o, s, dtype, name=label, reads=reads, own=own))
    return res


# matmul_add: ``out`` is updated through blocks of this size. NumPy's BLAS only: SciPy's
# gemm would add in place, but SciPy ships its own OpenBLAS, and the two libraries' thread
# pools, called in turn, fight over the cores (products 5-10x slower on 2 cores)
GW_BLOCK_BYTES = 4 << 20


class HostExecutor:
    """Runs kernels on the CPU, serially or in parallel (the same bits either way)."""

    device = False

    def __init__(self, name: str):
        self.name = name
        self.parallel = name == "parallel"

    def __repr__(self) -> str:
        return f"<fastloss executor {self.name}>"

    # -- launches

    def launch(self, kernel, *args):
        """``kernel(*args)``, under the parallel-launch lock where it is a parallel one."""
        if self.parallel:
            with _backend.parallel_launch():
                return kernel(*args)
        return kernel(*args)

    def rows(self, body, *args, scratch: bool = False, cpu_kernel=None):
        """``body(i, *args)`` for each row ``i`` of ``args[0]``; ``cpu_kernel``: a loss's own
        whole CPU kernel taking the same arguments, run instead (a tiled layout)."""
        if cpu_kernel is not None:
            k = cpu.whole_kernel(cpu_kernel, self.parallel)
        else:
            k = KERNELS.get(("body", body, self.parallel, scratch)) \
                or cpu.body_kernel(body, self.parallel, scratch)
        if self.parallel:
            self.launch(k, *args)
        else:
            k(*args)

    def map(self, fn, x, a, b, out):
        """``out = fn(x, a, b)`` elementwise over flat arrays (``out`` may be ``x``)."""
        if x.shape[0]:
            self.launch(cpu.map_kernel(fn, self.parallel), x, a, b, out)
        return out

    # -- arrays

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def dummy(self, dtype, ndim: int = 1):
        return np.empty((1,) * ndim, dtype)

    def to(self, a):
        """``a`` (a host array) where this executor reads it."""
        return a

    def host(self, a):
        return a

    def assign(self, dst, src):
        """``dst[...] = src`` (``src`` a host array)."""
        dst[...] = src

    def place(self, arrs, dtype):
        """The inputs, C-contiguous in ``dtype`` (device inputs copied to the host)."""
        return [a if type(a) is np.ndarray and a.dtype is dtype and a.flags.c_contiguous
                else np.ascontiguousarray(A.on_host(a), dtype=dtype) for a in arrs]

    def grads(self, outs, shapes, dtype, names, *, device: bool = False, inputs=None):
        """Where the gradients go (:class:`Grads`)."""
        return Grads(host_grad_buffers(outs, shapes, dtype, names, inputs=inputs))

    def losses(self, n: int):
        """The float64 per-row losses (every entry is written by a kernel)."""
        return np.empty(n, np.float64)

    def value(self, loss, reduction, dtype, *, device=False, denom=None, scalar=False):
        """The value from the per-row float64 losses (:func:`finish_rows`)."""
        v = finish_rows(loss, reduction, dtype, denom)
        return v.reshape(()) if scalar and reduction == "none" else v

    # -- matrix products (NumPy's BLAS)

    def matmul(self, a, b, out=None, ta=False, tb=False):
        """``op(a) @ op(b)`` (``op`` transposes where asked, as a view), into ``out`` or a new
        array."""
        return np.matmul(a.T if ta else a, b.T if tb else b, out=out)

    def matmul_thin(self, a, b, out, tmp):
        """``out = a @ b`` for ``a`` with few rows and a long inner dimension, as ``(b.T @
        a.T).T`` through the buffer ``tmp`` (OpenBLAS runs that product up to ten times
        faster; the same bits). Returns the buffer for the next call."""
        m = a.shape[0]
        if tmp is None or tmp.shape[1] != m:
            tmp = np.empty((b.shape[1], m), b.dtype)
        np.matmul(b.T, a.T, out=tmp)
        out[...] = tmp.T
        return tmp

    def matmul_add(self, a, b, out, first: bool, tmp, add_body=None):
        """``out (+)= a.T @ b``: the first call writes ``out``; the next ones add block by
        block through ``tmp`` and ``add_body`` (a row body ``dst[i] += src[i]``). Returns
        the buffer."""
        if first:
            np.matmul(a.T, b, out=out)
            return tmp
        V, d = out.shape
        vb = max(1, min(V, GW_BLOCK_BYTES // max(1, d * out.itemsize)))
        if tmp is None:
            tmp = np.empty((vb, d), out.dtype)
        for v0 in range(0, V, vb):
            n = min(vb, V - v0)
            t = tmp[:n]
            np.matmul(a[:, v0:v0 + n].T, b, out=t)
            self.rows(add_body, out[v0:v0 + n], t)
        return tmp

    # -- the pointwise and row-wise kernels

    def pointwise(self, spec, pl, want_value: bool, want_grad: bool,
                  want_hess: bool = False, out=None, grad_scale: float | None = None,
                  reads=()):
        """One pass of ``spec.scalar`` over a pointwise plan: ``(value or None, grad or
        None, hess or None)``; the value reduced as the plan says, grad and hess shaped like
        ``y_pred``."""
        N = pl.size
        dt = pl.dtype
        elementwise = pl.reduction == "none"
        reduce = want_value and not elementwise
        # (an array the kernel does not use is None: cheaper to pass than a dummy)
        lout = np.empty(N, dt) if (want_value and elementwise) else None
        gout = None
        if want_grad:
            gout = (A.check_out(out, pl.shape, dt, reads=reads, own=pl.yp).reshape(-1)
                    if out is not None else np.empty(N, dt))
        hout = np.empty(N, dt) if want_hess else None
        scale = (pl.scale if grad_scale is None else grad_scale) * spec.grad_factor
        res = np.zeros(pl.R if pl.rows else 1, np.float64)
        if N > 0:
            wl, has_cp = want_value and elementwise, pl.cp is not None
            kernel = KERNELS.get(("pointwise", spec.scalar, self.parallel, reduce, pl.rows, wl,
                                  want_grad, want_hess, pl.wmode, pl.ybcast, has_cp, False))
            if kernel is None:
                kernel = cpu.pointwise_kernel(
                    spec.scalar, parallel=self.parallel, reduce=reduce, rows=pl.rows,
                    write_l=wl, write_g=want_grad, write_h=want_hess, wmode=pl.wmode,
                    ybcast=pl.ybcast, has_cp=has_cp)
            # cpu.PointwiseArgs in order, positionally: keywords would cost ~1 us a call
            self.launch(kernel, pl.yt, pl.yp, pl.w, pl.cp, pl.prm, scale, pl.n, lout, gout,
                        hout, res)
        value = finish_value(pl, res, lout) if want_value else None
        g = (out if out is not None else gout.reshape(pl.shape)) if want_grad else None
        h = hout.reshape(pl.shape) if want_hess else None
        return value, g, h

    def pointwise_partials(self, spec, pl, *, want_grad: bool = False,
                           grad_scale: float = 1.0):
        """The kernel's float64 partial sums of ``w*l`` instead of their total, and the
        gradient (times ``grad_scale``) when asked, from one pass: ``(partials, grad or
        None)``. One partial per chunk of ``cpu.CHUNK`` elements: shaped ``(R, kpr)`` with
        ``pl.rows``, ``(nparts,)`` without; ``cpu.combine_partials`` adds them as the kernel
        adds its own (the Dask integration adds the partials of many blocks in order and
        gets the bits of one in-memory call)."""
        N = pl.size
        dt = pl.dtype
        res = np.zeros(cpu.n_partials(N, pl.n, pl.rows), np.float64)
        gout = np.empty(N, dt) if want_grad else None
        if N > 0:
            kernel = cpu.pointwise_kernel(
                spec.scalar, parallel=self.parallel, reduce=True, rows=pl.rows,
                write_l=False, write_g=want_grad, write_h=False, wmode=pl.wmode,
                ybcast=pl.ybcast, has_cp=pl.cp is not None, partials=True)
            self.launch(kernel, *cpu.PointwiseArgs(
                yt=pl.yt, yp=pl.yp, w=pl.w, cp=pl.cp, prm=pl.prm,
                scale=grad_scale * spec.grad_factor, n=pl.n, lout=None, gout=gout,
                hout=None, res=res))
        if pl.rows:
            res = res.reshape(pl.R, -(-pl.n // cpu.CHUNK))
        return res, (gout.reshape(pl.shape) if want_grad else None)

    def rowwise(self, spec, pl, *, want_value: bool, want_grad: bool,
                want_hess: bool = False, out=None):
        """One pass of ``spec.row`` over a row-wise plan: ``(value or None, grad or None,
        hess or None)``."""
        lout, g, h = self.row_losses(spec, pl, want_grad=want_grad, want_hess=want_hess,
                                     out=out)
        value = None
        if want_value:
            if pl.reduction == "none":
                value = lout.astype(pl.dtype).reshape(pl.rows.vshape)
            else:
                value = finish_rows(lout, pl.reduction, pl.dtype, pl.denom)
        return value, g, h

    def row_losses(self, spec, pl, *, want_grad: bool, want_hess: bool = False, out=None):
        """The kernel pass: ``(lout, grad or None, hess or None)``, ``lout`` the float64 value
        of each row (times its weights) that every reduction adds with ``numpy.sum`` (the
        Dask integration adds them across blocks the same way)."""
        r = pl.rows
        dt = pl.dtype
        N, C = pl.N, pl.C
        lout = np.zeros(N, np.float64)
        inplace = False
        if want_grad:
            if out is not None:
                xf = r.x.reshape(-1)
                reads = [("y_pred", xf), ("y_true", r.t), ("y_true", r.lab),
                         ("class_weight", r.cw), ("sample_weight", pl.sw)]
                gout = A.check_out(out, r.gshape, dt, reads=reads, own=xf).reshape(-1)
                inplace = A.same_memory(gout, xf)
            else:
                gout = np.empty(N * C, dt)
        else:
            gout = _dummy(dt)
        hout = np.empty(N * C, dt) if want_hess else _dummy(dt)
        if N > 0:
            kernel = rows.row_kernel(
                spec.row, parallel=self.parallel, write_g=want_grad, write_h=want_hess,
                has_t=r.t is not None, has_lab=r.lab is not None, has_sw=pl.sw is not None)
            # rows.RowArgs in order, positionally (keywords would cost ~1 us a call)
            # (T, LAB, SW: None where the kernel does not read them)
            self.launch(kernel, r.x.reshape(-1), None if r.t is None else r.t.reshape(-1),
                        r.lab, _W_DUMMY if r.cw is None else r.cw, pl.sw,
                        r.prm, pl.scale, C, lout, gout, hout, inplace)
        g = (out if out is not None else gout.reshape(r.gshape)) if want_grad else None
        h = hout.reshape(r.gshape) if want_hess else None
        return lout, g, h


SERIAL = HostExecutor("serial")
PARALLEL = HostExecutor("parallel")
