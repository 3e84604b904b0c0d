"""The CUDA road: device arrays in, kernels launched, results shaped (and copied back only
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

Importing this module imports ``numba.cuda``; nothing else in fastloss does, except
:func:`fastloss._backend.cuda_unavailable_reason`.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from numba import cuda

from .. import _arrays as A
from .. import _backend
from . import cuda as K

SIMULATOR = K.SIMULATOR  # NUMBA_ENABLE_CUDASIM=1
if SIMULATOR:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as _DeviceArray
else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray as _DeviceArray

_dummies: dict = {}


# ---------------------------------------------------------------------------
# arrays


def device_view(x):
    """A Numba device array viewing ``x`` (no copy); ``x`` must be a CUDA array."""
    if isinstance(x, _DeviceArray):
        return x
    try:
        return cuda.as_cuda_array(x)
    except RuntimeError:  # a PyTorch tensor that requires grad
        detach = getattr(x, "detach", None)
        if detach is None:
            raise
        return cuda.as_cuda_array(detach())


def as_input(x, name: str):
    """A CUDA array as a device view (dtype checked), anything else through
    :func:`fastloss._arrays.as_array` (a host array)."""
    if x is None:
        raise TypeError(f"{name} is required, got None")
    if not A.is_device_array(x):
        return A.as_array(x, name)
    d = device_view(x)
    A._kind_check(d, name)
    return d


def is_device(a) -> bool:
    return isinstance(a, _DeviceArray)


def to_host(a):
    """A NumPy array with the contents of ``a`` (``a`` itself if it is one)."""
    if a is None or isinstance(a, np.ndarray):
        return a
    if is_device(a) or A.is_device_array(a):
        return device_view(a).copy_to_host()
    return a


def _grid(work: int, block: int) -> int:
    return K.grid_for((work + block - 1) // block)


def as_flat(a, dtype):
    """A C-contiguous 1-D array of ``dtype`` with ``a``'s elements: for a device array, on the
    device (``a`` itself when nothing needs changing; never ``a`` when it is cast)."""
    dtype = np.dtype(dtype)
    if not is_device(a):
        return A.as_flat(a, dtype)
    if a.dtype == dtype and a.is_c_contiguous():
        return a.reshape(a.size)
    block = K.launch_config()[0]
    out = cuda.device_array(a.size, dtype=dtype)
    if a.size:
        src = a if a.ndim > 0 else a.reshape(1)
        K.copy_kernel(src.ndim)[_grid(a.size, block), block](src, out)
    return out


def as_contiguous(a, dtype):
    """A device array ``a`` C-contiguous in ``dtype``, its shape kept (``a``'s own view when
    nothing needs changing; cast or copied on the device otherwise)."""
    return as_flat(a, dtype).reshape(tuple(a.shape))


def to_device(a):
    """``a`` on the device (a device array stays as it is)."""
    if is_device(a):
        return a
    return cuda.to_device(np.ascontiguousarray(a))


def _dummy(dtype):
    """A 1-element device array standing for an unused argument (one per dtype and
    context: each GPU gets its own)."""
    key = (np.dtype(dtype), id(cuda.current_context()))
    d = _dummies.get(key)
    if d is None:
        d = _dummies[key] = cuda.device_array(1, dtype=key[0])
    return d


def plan_to_host(pl):
    """The same plan with host arrays (a device input run on a CPU backend)."""
    return dataclasses.replace(pl, yt=to_host(pl.yt), yp=to_host(pl.yp), on_device=False)


def _check_out_device(out, shape, dtype):
    if not A.is_device_array(out):
        raise TypeError(
            f"out must be a CUDA array (the inputs are on the device), got {type(out).__name__}"
        )
    d = device_view(out)
    if tuple(d.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(d.shape)}, expected {tuple(shape)}")
    if d.dtype != dtype:
        raise ValueError(f"out has dtype {d.dtype}, expected {np.dtype(dtype)}")
    if not d.is_c_contiguous():
        raise ValueError("out must be C-contiguous")
    return d


def first_outside(a, lo: float, hi: float) -> int:
    """Flat index of the first element of the CUDA array ``a`` outside ``[lo, hi]``, or -1
    (NaN passes): counted on the device; only a bad input is copied to the host to find
    the position."""
    d = device_view(a)
    if d.size == 0:
        return -1
    flat = as_flat(d, d.dtype) if d.dtype.kind in "fiu" else as_flat(d, np.float64)
    count = cuda.to_device(np.zeros(1, np.int64))
    block = K.launch_config()[0]
    K.count_outside_kernel()[_grid(flat.size, block), block](flat, float(lo), float(hi), count)
    if int(count.copy_to_host()[0]) == 0:
        return -1
    host = flat.copy_to_host()
    outside = (host < lo) | (host > hi)
    return int(np.argmax(outside))


# ---------------------------------------------------------------------------
# pointwise


def run_pointwise(spec, pl, *, want_value: bool, want_grad: bool, want_hess: bool = False,
                  out=None, grad_scale: float | None = None):
    """The CUDA twin of :func:`fastloss._pointwise.run`'s CPU branch; same returns."""
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
            from .._pointwise import reads_of

            host_out = A.check_out(out, pl.shape, dt, reads=reads_of(spec, pl), own=pl.yp)
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
        kern[K.grid_for((ntasks + block // G - 1) // (block // G)), block](
            yt, yp, w, cp, pl.prm, float(scale), pl.n, seg, int(pl.rows), G, int(reduce),
            int(want_value and elementwise), lout, gout, hout, partials, res64, resdt,
            float(denom),
        )
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
# proximal operators (elementwise maps)


def prox(w, dtype, thr: float, den: float, out):
    """``soft_threshold(w, thr) / den`` elementwise on the device (the CPU kernel's line,
    with its helper compiled for the device); ``thr`` and ``den`` rounded to ``dtype`` first
    as on the CPU. Device in, device out; host in, host out (``out`` where given)."""
    dtype = np.dtype(dtype)
    on_dev = is_device(w) or A.is_device_array(w)
    src = device_view(w) if on_dev else w
    if out is not None:
        dout = _check_out_device(out, src.shape, dtype) if on_dev else \
            A.check_out(out, src.shape, dtype)
    N = int(np.prod(src.shape, dtype=np.int64))
    flat = as_flat(src, dtype) if on_dev else to_device(A.as_flat(src, dtype))
    if on_dev and out is not None:
        res = dout.reshape(N)
    else:
        res = cuda.device_array(N, dtype)
    if N:
        block = K.launch_config()[0]
        typ = dtype.type
        K.prox_kernel()[_grid(N, block), block](flat, typ(thr), typ(den), res)
    if on_dev:
        return out if out is not None else res.reshape(tuple(src.shape))
    host = out if out is not None else np.empty(src.shape, dtype)
    if N:
        res.copy_to_host(host.reshape(N))
    return host


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
    """The CUDA twin of :func:`fastloss._rowwise.run`: the loss's own row function, one row
    per thread, deterministic block sums. Same returns (on the device where the inputs
    were)."""
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
        ntasks = (N + block - 1) // block
        partials = cuda.device_array(ntasks, np.float64) if (reduce and ntasks > 1) else \
            _dummy(np.float64)
        kern[K.grid_for(ntasks), block](X, T, LAB, CW, SW, r.prm, float(pl.scale), C,
                                        int(reduce), int(want_value and elementwise), lout,
                                        gout, hout, partials, res64, inplace)
        if reduce and ntasks > 1:
            K.finalize_kernel(block)[1, block](partials, ntasks, 1, res64, _dummy(np.float64),
                                               0.0)
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
