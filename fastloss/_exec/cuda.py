"""The CUDA executor: device arrays in, kernels launched, results shaped (and copied back only
where the inputs came from the host).

* CUDA inputs are any object with ``__cuda_array_interface__`` (Numba device arrays, CuPy,
  PyTorch CUDA tensors; under ``NUMBA_ENABLE_CUDASIM=1`` the simulator's device arrays).
  They are viewed without a copy; a non-contiguous or non-float input is copied to a
  contiguous array of the computing dtype *on the device*.
* Where any input array is on the device, array results stay there as Numba device arrays
  (CuPy and PyTorch take them without a copy: ``cupy.asarray(g)``, ``torch.as_tensor(g,
  device="cuda")``); a reduction is a Python float. Host inputs sent to ``"cuda"`` are copied
  over and their results come back as NumPy arrays.
* Input-domain checks count on the device where they are range checks
  (``checks.first_outside``: probabilities in [0, 1], tweedie's ``y_true >= 0``); the others
  read host copies of what they check, never of ``y_pred``: hinge's ``y_true`` labels, the
  row-wise losses' integer labels (one per row).

Importing this module imports ``numba.cuda`` (as :mod:`fastloss._kernels.device` does):
fastloss imports it only when an input is a CUDA array or the ``"cuda"`` backend is used.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import cuda

from .. import _arrays as A
from .. import _backend
from .._kernels import cuda as K
from .._kernels import device as D

SIMULATOR = K.SIMULATOR  # NUMBA_ENABLE_CUDASIM=1
_grid = D.grid
_dummy = D.dummy
_check_out_device = D.check_out
device_view, is_device, to_device = D.device_view, D.is_device, D.to_device
as_contiguous = D.as_contiguous


def to_host(a):
    """A NumPy array with the contents of ``a`` (``a`` itself if it is one)."""
    return D.to_host(a)


def as_input(x, name: str):
    """A CUDA array as a device view (dtype checked), anything else as a host array."""
    return A.as_input(x, name)


def as_flat(a, dtype):
    """A C-contiguous 1-D array of ``dtype`` with ``a``'s elements: for a device array, on the
    device (``a`` itself when nothing needs changing; never ``a`` when it is cast)."""
    return D.as_flat(a, dtype) if is_device(a) else A.as_flat(a, np.dtype(dtype))


# ---------------------------------------------------------------------------
# arrays


# ---------------------------------------------------------------------------
# pointwise


def _unfolded(spec, prm, dt):
    """``prm`` with each folded parameter (None: see ``Param.fold``) back as its value: a
    device kernel takes plain floats (a warp branches on the value at no cost)."""
    if None not in prm:
        return prm
    return tuple(dt.type(p.fold) if v is None else v for p, v in zip(spec.params, prm,
                                                                   strict=True))


def run_pointwise(spec, pl, *, want_value: bool, want_grad: bool, want_hess: bool = False,
                  out=None, grad_scale: float | None = None, reads=()):
    """The CUDA twin of :meth:`fastloss._exec.cpu.HostExecutor.pointwise`; same returns."""
    _backend.require_cuda()
    dt = pl.dtype
    N = pl.size
    on_dev = pl.on_device
    block, items = K.launch_config()
    elementwise = pl.reduction == "none"
    reduce = want_value and not elementwise
    nres = pl.R if pl.rows else 1

    host_out = None
    if want_grad and out is not None:
        if on_dev:
            gout = _check_out_device(out, pl.shape, dt).reshape(N)
        else:
            host_out = A.check_out(out, pl.shape, dt, reads=reads, own=pl.yp)
            gout = cuda.device_array(N, dtype=dt)
    elif want_grad:
        gout = cuda.device_array(N, dtype=dt)
    else:
        gout = _dummy(dt)
    lout = cuda.device_array(N, dtype=dt) if (want_value and elementwise) else _dummy(dt)
    hout = cuda.device_array(N, dtype=dt) if want_hess else _dummy(dt)
    scale = (pl.scale if grad_scale is None else grad_scale) * spec.grad_factor
    res64 = cuda.device_array(max(nres, 1), dtype=np.float64) if reduce else _dummy(np.float64)
    resdt = cuda.device_array(max(nres, 1), dtype=dt) if reduce else _dummy(dt)
    denom = pl.denom if (pl.rows and pl.reduction == "mean") else 0.0

    if N > 0:
        kern = K.pointwise_kernel(
            spec.scalar, value=want_value, write_g=want_grad, write_h=want_hess,
            wmode=pl.wmode, ybcast=pl.ybcast, has_cp=pl.cp is not None, block=block,
        )
        yt = to_device(pl.yt)
        yp = to_device(pl.yp)
        w = _dummy(np.float64) if pl.w is None else to_device(pl.w)
        cp = _dummy(np.float64) if pl.cp is None else to_device(pl.cp)
        seg, G, kpr = K.task_shape(N, pl.n, pl.rows, block, items)
        ntasks = (pl.R if pl.rows else 1) * kpr
        partials = cuda.device_array(ntasks, np.float64) if (reduce and kpr > 1) else \
            _dummy(np.float64)
        kern[K.grid_for((ntasks + block // G - 1) // (block // G)), block](*K.PointwiseArgs(
            yt=yt, yp=yp, w=w, cp=cp, prm=_unfolded(spec, pl.prm, dt), scale=float(scale),
            n=pl.n, seg=seg,
            rows=int(pl.rows), G=G, red=int(reduce), wl=int(want_value and elementwise),
            lout=lout, gout=gout, hout=hout, partials=partials, res64=res64, resdt=resdt,
            denom=float(denom)))
        if reduce and kpr > 1:
            K.finalize_kernel(block)[K.grid_for(nres), block](
                partials, kpr, nres, res64, resdt, float(denom))
    elif reduce:
        res64 = cuda.to_device(np.zeros(max(nres, 1), np.float64))
        resdt = cuda.to_device(np.zeros(max(nres, 1), dt))

    value = None
    if want_value:
        if elementwise:
            value = lout.reshape(pl.shape) if N else cuda.device_array(pl.shape, dt)
            if not on_dev:
                value = value.copy_to_host()
        elif pl.rows:
            value = resdt.reshape(pl.shape[:-1]) if nres else \
                cuda.device_array(pl.shape[:-1], dt)
            if not on_dev:
                value = value.copy_to_host()
        else:
            total = float(res64.copy_to_host()[0])
            value = total / pl.denom if pl.reduction == "mean" else total
    g = h = None
    if want_grad:
        if host_out is not None:
            if N:
                gout.copy_to_host(host_out.reshape(N))
            g = out
        elif out is not None:
            g = out
        else:
            g = _shaped(gout, pl.shape, dt, N, on_dev)
    if want_hess:
        h = _shaped(hout, pl.shape, dt, N, on_dev)
    return value, g, h


def _shaped(d, shape, dt, N, on_dev):
    if N == 0:
        return cuda.device_array(shape, dt) if on_dev else np.empty(shape, dt)
    d = d.reshape(shape)
    return d if on_dev else d.copy_to_host()


def rmse_finish(pl, msev, g):
    """RMSE from the mean squared error on the device: ``(sqrt(M), g * 0.5/sqrt(M))``
    (0 where ``M == 0``), ``g`` rescaled in place. ``msev`` is a float (``axis=None``) or a
    device array of per-row values."""
    block = K.launch_config()[0]
    if pl.rows:
        m = msev.reshape(msev.size) if msev.size else msev
        r = cuda.device_array(m.size, dtype=pl.dtype)
        f = cuda.device_array(m.size, dtype=pl.dtype)
        if m.size:
            K.rmse_rows_kernel()[_grid(m.size, block), block](m, r, f)
        r = r.reshape(msev.shape)
    else:
        r = float(np.sqrt(msev))
        f = cuda.to_device(np.asarray([0.5 / r if r > 0 else 0.0], dtype=pl.dtype))
    if g is not None and pl.size:
        flat = device_view(g).reshape(pl.size)
        n = pl.n if pl.rows else pl.size
        K.scale_rows_kernel()[_grid(pl.size, block), block](flat, f, n)
    return r


# ---------------------------------------------------------------------------
# row-wise


_lab_dummies: dict = {}


def _lab_dummy():
    key = id(cuda.current_context())
    d = _lab_dummies.get(key)
    if d is None:
        d = _lab_dummies[key] = cuda.to_device(np.full(1, -1, np.int64))
    return d


def _span(d):
    """``(first byte, end byte)`` of a contiguous device array."""
    p = d.device_ctypes_pointer.value if not SIMULATOR else d._ary.ctypes.data
    return p, p + d.size * d.dtype.itemsize


def run_rows(spec, pl, *, want_value: bool, want_grad: bool, want_hess: bool = False,
             out=None):
    """The CUDA twin of :meth:`fastloss._exec.cpu.HostExecutor.rowwise`: the loss's own row
    function, one row per block (its threads split the columns), deterministic sums. Same
    returns (on the device where the inputs were)."""
    _backend.require_cuda()
    r = pl.rows
    dt = pl.dtype
    N, C = pl.N, pl.C
    on_dev = pl.on_device
    block = K.launch_config()[0]
    elementwise = pl.reduction == "none"
    reduce = want_value and not elementwise
    X = to_device(r.x.reshape(-1))
    T = _dummy(dt) if r.t is None else to_device(r.t.reshape(-1))
    LAB = _lab_dummy() if r.lab is None else cuda.to_device(r.lab)
    CW = _dummy(np.float64) if r.cw is None else cuda.to_device(r.cw)
    SW = _dummy(np.float64) if pl.sw is None else cuda.to_device(pl.sw)
    lout = cuda.device_array(N, dtype=dt) if (want_value and elementwise) else _dummy(dt)

    inplace = False
    host_out = None
    if want_grad:
        if out is not None and on_dev:
            gout = _check_out_device(out, r.gshape, dt).reshape(N * C)
            if N * C:
                (a0, a1), (b0, b1) = _span(gout), _span(X)
                if a0 < b1 and b0 < a1:
                    if (a0, a1) != (b0, b1):
                        raise ValueError("out overlaps y_pred without being y_pred itself")
                    inplace = True
        elif out is not None:
            host_out = A.check_out(out, r.gshape, dt, own=r.x, reads=[
                ("y_pred", r.x), ("y_true", r.t), ("y_true", r.lab), ("class_weight", r.cw),
                ("sample_weight", pl.sw)])
            gout = cuda.device_array(N * C, dtype=dt)
        else:
            gout = cuda.device_array(N * C, dtype=dt)
    else:
        gout = _dummy(dt)
    hout = cuda.device_array(N * C, dtype=dt) if want_hess else _dummy(dt)
    res64 = cuda.device_array(1, dtype=np.float64)
    if N > 0:
        kern = K.row_kernel(spec.row, write_g=want_grad, write_h=want_hess,
                            has_t=r.t is not None, has_lab=r.lab is not None,
                            has_sw=pl.sw is not None, block=block)
        partials = cuda.device_array(N, np.float64) if (reduce and N > 1) else \
            _dummy(np.float64)
        kern[K.grid_for(N), K.row_threads(C)](*K.RowArgs(
            X=X, T=T, LAB=LAB, CW=CW, SW=SW, prm=r.prm, scale=float(pl.scale), C=C,
            red=int(reduce), wl=int(want_value and elementwise), lout=lout, gout=gout,
            hout=hout, partials=partials, res64=res64, inplace=inplace))
        if reduce and N > 1:  # the rows' values, added in a fixed order
            K.finalize_kernel(block)[1, block](partials, N, 1, res64, _dummy(np.float64), 0.0)
    value = None
    if want_value:
        if elementwise:
            value = _shaped(lout, r.vshape, dt, N, on_dev)
        else:
            total = float(res64.copy_to_host()[0]) if N > 0 else 0.0
            if pl.reduction == "sum":
                value = total
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    value = float(np.float64(total) / np.float64(pl.denom))
    g = h = None
    if want_grad:
        if host_out is not None:
            if N * C:
                gout.copy_to_host(host_out.reshape(N * C))
            g = out
        elif out is not None:
            g = out
        else:
            g = _shaped(gout, r.gshape, dt, N * C, on_dev)
    if want_hess:
        h = _shaped(hout, r.gshape, dt, N * C, on_dev)
    return value, g, h


# ---------------------------------------------------------------------------
# benchmark helpers (wired into `fastloss bench --backend cuda`)


def device_copy_bandwidth(nbytes: int = 1 << 28, repeat: int = 10) -> float:
    """The device's measured device-to-device copy bandwidth in GB/s (bytes read + written
    per second, best of ``repeat``), the roofline that :func:`bench_cuda` compares with."""
    _backend.require_cuda()
    n = nbytes // 8
    a = cuda.device_array(n, dtype=np.float64)
    b = cuda.device_array(n, dtype=np.float64)
    K.fill_kernel()[_grid(n, 256), 256](a, 1.0)
    cuda.synchronize()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        b.copy_to_device(a)
        cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n * 8 / best / 1e9


def device_roofline_call(bytes_in: int, bytes_out: int):
    """A call (synchronised) that streams ``bytes_in`` bytes in and ``bytes_out`` out of
    device memory (float64 buffers): the GPU twin of ``fastloss.bench.roofline_call``, the
    bandwidth bound of a kernel moving those bytes. Buffers are allocated once here."""
    _backend.require_cuda()
    rd = cuda.device_array(max(1, math.ceil(bytes_in / 8)), np.float64)
    wr = cuda.device_array(math.ceil(bytes_out / 8), np.float64)
    sink = cuda.device_array(1, np.float64)
    block = K.launch_config()[0]
    K.fill_kernel()[_grid(rd.size, block), block](rd, 1.0)
    kern = K.roof_kernel()
    grid = _grid(max(rd.size, wr.size, 1), block)

    def call():
        kern[grid, block](rd, wr, sink)
        cuda.synchronize()

    return call


def bench_cuda(loss, *, n: int = 1 << 24, dtype=np.float32, op: str = "value_and_grad",
               rows: int | None = None, repeat: int = 20, params: dict | None = None,
               copy_gbs: float | None = None) -> dict:
    """Time one loss on device arrays; return the time, the bytes moved and GB/s.

    ``op``: ``"value"``, ``"grad"``, ``"value_and_grad"`` or ``"grad_hess"``. Pointwise: with
    ``rows``, ``y_pred`` has shape ``(rows, n // rows)`` against a ``(n // rows,)``
    ``y_true`` and ``axis=-1`` (batch evaluation: ``rows`` losses in one launch). Row-wise
    (cross_entropy, ...): ``y_pred`` is ``(rows, n // rows)`` with the loss's own sampled
    targets (``rows`` required). Bytes moved: ``y_pred`` and ``y_true`` read once, plus each
    array written (gradient into a preallocated ``out``).
    ``copy_gbs`` (default: :func:`device_copy_bandwidth`) is the roofline; ``fraction`` is
    GB/s over it. Best of ``repeat`` timed calls after one warm-up (which compiles).
    """
    _backend.require_cuda()
    dtype = np.dtype(dtype)
    spec = loss.spec
    rng = np.random.default_rng(0)
    rowwise = spec.kind == "rowwise"
    if rows:
        m = max(1, n // rows)
        (y, p), sp = spec.sample(rng, (rows, m), dtype)
        if not rowwise:
            y = y[0]
        n = rows * m
    else:
        (y, p), sp = spec.sample(rng, (n,), dtype)
    sp = {**sp, **(params or {})}
    dy, dp = cuda.to_device(y), cuda.to_device(p)
    dout = cuda.device_array(p.shape, p.dtype)
    kw = dict(backend="cuda", **sp)
    if not rowwise:
        kw["axis"] = -1 if rows else None
    if op == "value":
        def call():
            return loss(dy, dp, **kw)
        written = rows or 0
    elif op == "grad":
        def call():
            return loss.grad(dy, dp, out=dout, **kw)
        written = n
    elif op == "value_and_grad":
        def call():
            return loss.value_and_grad(dy, dp, out=dout, **kw)
        written = n + (rows or 0)
    elif op == "grad_hess":
        def call():
            return loss.grad_hess(dy, dp, **kw)
        written = 2 * n
    else:
        raise ValueError(f"op must be value, grad, value_and_grad or grad_hess, got {op!r}")
    call()
    cuda.synchronize()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    if rowwise:  # one value per row written (reduction "none"), not per element
        written = (rows or 0) if op == "value" else written
    nbytes = p.nbytes + y.nbytes + written * dtype.itemsize
    if copy_gbs is None:
        copy_gbs = device_copy_bandwidth()
    gbs = nbytes / best / 1e9
    return {"loss": spec.name, "op": op, "dtype": dtype.name, "n": n, "rows": rows,
            "seconds": best, "bytes": nbytes, "gbs": gbs, "copy_gbs": copy_gbs,
            "fraction": gbs / copy_gbs}


# ---------------------------------------------------------------------------
# the executor


class CudaExecutor:
    """Runs the kernels of :mod:`fastloss._kernels.cuda`; the methods of
    :class:`fastloss._exec.cpu.HostExecutor`, with buffers on the device."""

    name = "cuda"
    device = True
    parallel = False

    def __repr__(self) -> str:
        return "<fastloss executor cuda>"

    def rows(self, body, *args, scratch: bool = False, cpu_kernel=None):
        """``body(i, *args)`` for each row ``i`` of ``args[0]``, one row per thread (the
        bodies that take a scratch array get an unused one: they run a portable path)."""
        M = args[0].shape[0]
        if scratch:
            args = (*args, _dummy(np.float64))
        if M:
            block = K.launch_config()[0]
            K.rows_kernel(body)[_grid(M, block), block](M, *args)

    def map(self, fn, x, a, b, out):
        N = x.shape[0]
        if N:
            block = K.launch_config()[0]
            K.map_kernel(fn)[_grid(N, block), block](x, a, b, out)
        return out

    def empty(self, shape, dtype):
        return cuda.device_array(shape, dtype)

    def zeros(self, shape, dtype):
        return cuda.to_device(np.zeros(shape, dtype))

    def dummy(self, dtype, ndim: int = 1):
        return cuda.device_array((1,) * ndim, dtype)

    def to(self, a):
        return to_device(a)

    def host(self, a):
        return to_host(a)

    def assign(self, dst, src):
        """``dst[...] = src`` (``src`` a host array copied to the device array ``dst``)."""
        cuda.to_device(np.ascontiguousarray(src), to=dst)

    def place(self, arrs, dtype):
        """The inputs, C-contiguous in ``dtype``, on the device (cast or copied there)."""
        return [as_contiguous(a, dtype) if is_device(a)
                else to_device(np.ascontiguousarray(a, dtype=dtype)) for a in arrs]

    def grads(self, outs, shapes, dtype, names, *, device: bool = False, inputs=None):
        """Device gradients for device inputs (``out`` checked there); host inputs get host
        arrays, written from device buffers by ``done()``."""
        from .cpu import Grads, host_grad_buffers

        if device:
            if outs is None:
                return Grads([cuda.device_array(s, dtype) for s in shapes])
            for o, s in zip(outs, shapes, strict=True):
                _check_out_device(o, s, np.dtype(dtype))
            return Grads(list(outs))
        user = host_grad_buffers(outs, shapes, dtype, names, inputs=inputs)
        return Grads(user, [cuda.device_array(s, dtype) for s in shapes])

    def losses(self, n: int):
        return cuda.device_array(n, np.float64) if n else np.zeros(0, np.float64)

    def value(self, loss, reduction, dtype, *, device=False, denom=None, scalar=False):
        """The value from the per-row float64 losses: reduced on the host (the same sum as
        the CPU's); with CUDA inputs, ``"none"`` stays on the device."""
        from .cpu import finish_rows

        if type(loss) is not np.ndarray:
            if reduction == "none" and device:
                out = as_flat(loss, dtype)
                return out.reshape(()) if scalar else out
            loss = loss.copy_to_host()
        v = finish_rows(loss, reduction, dtype, denom)
        return v.reshape(()) if scalar and reduction == "none" else v

    def matmul(self, a, b, out=None, ta=False, tb=False):
        """``op(a) @ op(b)`` by fastloss's tiled kernel (deterministic, not cuBLAS)."""
        m = a.shape[1] if ta else a.shape[0]
        n = b.shape[0] if tb else b.shape[1]
        if out is None:
            out = cuda.device_array((m, n), a.dtype)
        if m and n:
            T = K.MM_TILE
            tiles = ((m + T - 1) // T) * ((n + T - 1) // T)
            K.matmul_kernel(a.dtype)[K.grid_for(tiles), (T, T)](a, b, out, ta, tb)
        return out

    def matmul_thin(self, a, b, out, tmp):
        self.matmul(a, b, out)
        return tmp

    def matmul_add(self, a, b, out, first: bool, tmp, add_body=None):
        """``out (+)= a.T @ b`` through one buffer of ``out``'s shape and ``add_body``."""
        if first:
            self.matmul(a, b, out, ta=True)
            return tmp
        if tmp is None:
            tmp = cuda.device_array(out.shape, out.dtype)
        self.matmul(a, b, tmp, ta=True)
        self.rows(add_body, out, tmp)
        return tmp

    def pointwise(self, spec, pl, want_value, want_grad, want_hess=False, out=None,
                  grad_scale=None, reads=()):
        return run_pointwise(spec, pl, want_value=want_value, want_grad=want_grad,
                             want_hess=want_hess, out=out, grad_scale=grad_scale, reads=reads)

    def rowwise(self, spec, pl, **kw):
        return run_rows(spec, pl, **kw)


CUDA = CudaExecutor()
