"""The pointwise kind: one term per element of ``(y_true, y_pred)``.

Checks and coerces the inputs, plans the kernel's (rows x n) view (broadcast targets,
weights per column or per row, ``axis=-1``), and runs ``spec.scalar`` through an executor;
``rmse`` is the mse pass and a square root."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .. import _arrays as A
from .. import _backend
from .. import _checks as check_kernels
from .._exec import _HOST, executor_for
from .._kernels import cpu
from .._kernels.compile import compiled_for
from .._spec import check_params


@dataclass(slots=True)
class Plan:
    shape: tuple  # y_pred's shape
    dtype: np.dtype
    yt: np.ndarray  # flat
    yp: np.ndarray  # flat
    R: int  # rows of the kernel's view
    n: int  # row length of the kernel's view
    ybcast: bool
    w: np.ndarray | None  # float64, per column (wmode 1) or per row (wmode 2)
    wmode: int
    cp: np.ndarray | None
    prm: tuple
    rows: bool  # axis=-1
    reduction: str
    denom: float  # what "mean" divides by (per row when rows)
    params: dict
    on_device: bool = False  # an input is a CUDA array: yt/yp may be device arrays

    @property
    def size(self) -> int:
        return self.R * self.n

    @property
    def scale(self) -> float:
        return 1.0 / self.denom if self.reduction == "mean" else 1.0


def plan(spec, y_true, y_pred, *, reduction, sample_weight, axis, params, backend=None) -> Plan:
    """Every check of a call (each error names the argument) and the kernel's view of it."""
    reduction = A.check_reduction(reduction)
    axis = A.check_axis(axis)
    params = check_params(spec.name, spec.params, params)
    on_device = A.is_device_array(y_pred) or A.is_device_array(y_true)
    if on_device:  # keep CUDA arrays on the device; plan from their shape and dtype
        _backend.require_cuda()
        sample_weight = A.on_host(sample_weight)
    yt = A.as_input(y_true, "y_true")
    yp = A.as_input(y_pred, "y_pred")
    dtype = A.float_dtype(yt, yp)
    shape = yp.shape
    yt, yp, ybcast = _layout(yt, yp, shape, on_device)
    if spec.check_inputs is not None:
        if on_device and not spec.checks_on_device:
            # such checks read y_true only (labels): on a host copy of it
            _check_inputs(spec, A.on_host(yt), yp, params, backend)
        else:
            _check_inputs(spec, yt, yp, params, backend)

    n = yp.shape[yp.ndim - 1]
    R = int(np.prod(yp.shape[:-1], dtype=np.int64))
    rows = axis == -1 and reduction != "none"
    prm, cp = _kernel_params(spec, params, dtype, n)
    w, wmode = None, 0
    if sample_weight is not None:
        if rows or yp.ndim == 1 or ybcast:
            w, wmode = A.check_weights(sample_weight, n), 1
        else:  # one weight per sample along axis 0 (scikit-learn's multi-output layout)
            w, wmode = A.check_weights(sample_weight, yp.shape[0]), 2
            n = int(np.prod(yp.shape[1:], dtype=np.int64))
            R = yp.shape[0]
            if cp is not None and cp.shape[0] != n:  # rows of several last-axis runs
                cp = np.tile(cp, n // cp.shape[0])

    denom = mean_denominator(rows, w, wmode, R, n)
    if reduction == "mean":
        if R * n == 0 and not (rows and R == 0):
            raise ValueError(f"{spec.name}: empty input with reduction='mean' has no value")
        if w is not None and denom == 0.0 and R * n > 0:
            raise ValueError("sample_weight sums to zero: the weighted mean is undefined")
    return Plan(shape=tuple(shape), dtype=dtype, yt=_flat(yt, dtype), yp=_flat(yp, dtype), R=R,
                n=n, ybcast=ybcast, w=w, wmode=wmode, cp=cp, prm=prm, rows=rows,
                reduction=reduction, denom=denom, params=params, on_device=on_device)


def _check_inputs(spec, yt, yp, params, backend):
    """The spec's input checks, their range-count kernels on the call's backend."""
    if backend is None:
        spec.check_inputs(yt, yp, params)
    else:
        with _backend.use_backend(backend):
            spec.check_inputs(yt, yp, params)


def _layout(yt, yp, shape, on_device):
    """``(y_true, y_pred, ybcast)``: 0-d inputs as 1-d; a ``y_true`` of ``y_pred``'s last axis
    read per column (``ybcast``, no copy); other NumPy broadcasts of ``y_true`` as a view."""
    if yp.ndim == 0:
        yp = yp.reshape(1)
        yt = yt.reshape(1) if yt.ndim == 0 else yt
    if yt.shape == yp.shape:
        return yt, yp, False
    if yp.ndim >= 2 and yt.shape == yp.shape[-1:]:
        return yt, yp, True
    if not on_device and _broadcasts_to(yt.shape, yp.shape):
        return np.broadcast_to(yt, yp.shape), yp, False  # NumPy rules, y_true side only
    raise ValueError(
        f"y_true has shape {yt.shape}, which does not broadcast to y_pred's shape "
        f"{shape} (y_true follows NumPy broadcasting; y_pred is never broadcast: the "
        f"gradient has its shape)"
    )


def _kernel_params(spec, params, dtype, n):
    """``(prm, cp)``: the scalar parameters in ``dtype`` (NaN for an array parameter) and a
    per-column float64 array of the last axis (or None)."""
    prm, cp = [], None
    for p in spec.params:
        v = params[p.name]
        if p.kind == "float_or_array":  # a scalar goes in prm; an array in cp, prm gets NaN
            val, cp = _column_param(p, A.on_host(v), n)
            prm.append(p.kernel_value(val, dtype))
        else:
            prm.append(p.kernel_value(p.check(v), dtype))
    return tuple(prm) or (dtype.type(0.0),), cp


def _flat(a, dtype):
    """``a`` flat and C-contiguous in ``dtype`` (a CUDA array on the device)."""
    if type(a) is not np.ndarray and A.is_device_array(a):
        from .._kernels import device

        return device.as_flat(a, dtype)
    return A.as_flat(a, dtype)


def mean_denominator(rows: bool, w, wmode: int, R: int, n: int) -> float:
    """What ``mean`` divides by: per row with ``rows``, else over everything (a weight per
    column counts once per row, a weight per row once per column)."""
    if rows:
        denom = float(n) if w is None else check_kernels.pairwise_sum(w)
    elif w is None:
        denom = float(R * n)
    else:
        denom = check_kernels.pairwise_sum(w) * (R if wmode == 1 else n)
    return denom


def _broadcasts_to(src: tuple, dst: tuple) -> bool:
    """Whether an array of shape ``src`` broadcasts to exactly ``dst`` (NumPy rules)."""
    if len(src) > len(dst):
        return False
    return all(s in (1, d) for s, d in zip(src[::-1], dst[::-1], strict=False))


def _column_param(p, v, n):
    """``(value, None)`` for None (1.0) or a scalar, ``(nan, per-column float64 array)`` for
    an array along the last axis: the kernel passes ``cp[col]`` as ``c``, and the scalar
    takes ``c`` where its ``prm`` entry is NaN."""
    if v is None:
        v = 1.0
    a = A.as_array(v, p.name)
    if a.ndim == 0 or a.shape == (1,):
        return p.check(a.reshape(()).item()), None
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{p.name} must be a scalar or broadcast against the last axis ({n}),"
                         f" got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{p.name} must be finite")
    if np.any(a < p.lo) or (p.lo_open and np.any(a == p.lo)):
        raise ValueError(f"{p.name} must be {p.domain}")
    return math.nan, a


def run(spec, pl: Plan, backend, *, want_value: bool, want_grad: bool, want_hess: bool = False,
        out=None, grad_scale: float | None = None):
    """Run one pass; returns (value or None, grad or None, hess or None).

    The value is the reduced float (or per-row / elementwise array); grad and hess are
    shaped like ``y_pred``.
    """
    ex = executor_for(backend, _backend.work(pl.size, spec.cost, pl.dtype), spec.cost,
                      pl.on_device, not (want_grad or want_hess) and pl.reduction != "none")
    if pl.on_device and not ex.device:  # CUDA inputs on a CPU backend asked for by name
        pl = dataclasses.replace(pl, yt=A.on_host(pl.yt), yp=A.on_host(pl.yp),
                                 on_device=False)
    return ex.pointwise(spec, pl, want_value, want_grad, want_hess, out, grad_scale,
                        reads_of(spec, pl) if out is not None else ())


def reads_of(spec, pl: Plan) -> list:
    """What the kernel reads while it writes the gradient, for ``out=`` checks."""
    reads = [("y_pred", pl.yp)]
    if pl.yt is not pl.yp:
        reads.append(("y_true", pl.yt))
    if pl.w is not None:
        reads.append(("sample_weight", pl.w))
    if pl.cp is not None:
        reads += [(p.name, pl.cp) for p in spec.params if p.kind == "float_or_array"][:1]
    return reads


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = _FAST_DTYPES
#: (loss name, dtype, parallel, wmode, op, fuse, rows) -> [kernel, (default prm, its types),
#: want value, want grad, None or (prm's types, weights' dtype or None, serial machine
#: code)]
_fast_value: dict = {}


def fast_value(spec, y_true, y_pred, reduction, backend, params=None, sample_weight=None,
               op="value", out=None, rows=False):
    """``op`` ("value", "grad" or "value_and_grad") of the commonest call (same-dtype
    C-contiguous float arrays of one shape, scalar parameters, no weights or a float64 or
    float32 weight per element of 1-D inputs; ``out`` a C-contiguous array like ``y_pred``
    that is ``y_pred`` itself or shares no memory with the inputs) with none of plan()'s
    generality: a few hundred nanoseconds of Python before the kernel, the bits of the full
    road. ``rows``: ``axis=-1`` (one value per row of the last axis; weights then one per
    element of that axis, for inputs of any rank). None when the call is not that one."""
    if (type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray
            or (reduction != "mean" and reduction != "sum")):
        return None
    dt = y_pred.dtype
    # identity: NumPy's float32/float64 descriptors are singletons (any other equal dtype
    # takes plan(), with the same result)
    if (y_true.dtype is not dt or (dt is not _F64 and dt is not _F32)
            or y_true.shape != y_pred.shape
            or not (y_pred.flags.c_contiguous and y_true.flags.c_contiguous)
            or (params and not spec.params)):
        return None
    N = y_pred.size
    if N == 0:
        return None
    shape = y_pred.shape
    n = shape[-1] if rows else N
    w, wmode, wsum = None, 0, 0.0
    if sample_weight is not None:
        if (type(sample_weight) is not np.ndarray
                or (sample_weight.dtype is not _F64 and sample_weight.dtype is not _F32)
                or not (rows or len(shape) == 1) or sample_weight.shape != (n,)
                or not sample_weight.flags.c_contiguous):
            return None
        if reduction == "mean":
            wsum = check_kernels.weight_total(sample_weight)  # -1.0: a bad weight
            if wsum < 0.0:
                return None
        elif check_kernels.count_bad_weights(sample_weight):
            return None
        w, wmode = sample_weight, 1
    if out is not None and not (A.plain_out(out, y_pred, y_true, w) if wmode
                                else A.plain_out(out, y_pred, y_true)):
        return None  # plan() explains it or takes it (a partial overlap, a subclass)
    # (_backend.work, inlined)
    wk = N * _backend.FLOAT32_CHEAP if dt is _F32 and spec.cost <= 1.0 else N
    ex = _HOST.get(_backend.resolve(backend, wk, spec.cost, False, op == "value"))
    if ex is None:
        return None  # cuda: plan()
    # the kernel checks the inputs as it reads them (in place, y_pred is gone by then)
    fuse = spec.input_flags is not None and out is not y_pred
    entry = _fast_value.get((spec.name, dt, ex.parallel, wmode, op, fuse, rows)) \
        or _fast_entry(spec, dt, ex.parallel, wmode, op, fuse, rows)
    if entry is None:
        return None
    kernel, prm_sig, want_value, want_grad, known = entry
    if params:
        prm_sig = _scalar_prm(spec, dt, params)
        if prm_sig is None:
            return None
    prm, sig = prm_sig
    if spec.check_inputs is not None and not fuse:
        _check_inputs(spec, y_true, y_pred, _full_params(spec, params), backend)
    denom = float(n)  # (an int divisor costs a NumPy division 0.15 us more)
    if wmode:
        denom = wsum
        if denom == 0.0 and reduction == "mean":
            return None  # plan() raises the error
    res = np.zeros(N // n if rows else 1)
    yt0, yp0 = y_true, y_pred
    if len(shape) != 1:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    g, scale = None, 1.0  # (None: an array the kernel does not use)
    if want_grad:  # the scale of the full road's pass (Plan.scale times grad_factor)
        g = np.empty(shape, dt) if out is None else out  # (in place: each element is read
        # before it is written)
        scale = (1.0 / denom if reduction == "mean" else 1.0) * spec.grad_factor
    # cpu.PointwiseArgs in order, positionally (keywords would cost ~1 us a call)
    gf = g if g is None or len(shape) == 1 else g.reshape(-1)
    if ex.parallel:
        flags = ex.launch(kernel, y_true, y_pred, w, None, prm, scale, n, None, gf, None, res)
    else:
        args = (y_true, y_pred, w, None, prm, scale, n, None, gf, None, res)
        wdt = w.dtype if wmode else None
        # the machine code of the first call, for calls of its types (prm's, the weights')
        if known is not None and known[0] is sig and known[1] is wdt:
            flags = known[2](*args)
        else:
            flags = kernel(*args)
            if known is None:
                entry[4] = (sig, wdt, compiled_for(kernel, args))
    if flags and flags not in spec.flags_fine:  # the check's pass, for its message
        _check_inputs(spec, yt0, yp0, _full_params(spec, params), backend)
    if not want_value:
        return g
    if rows:  # finish_value's steps (the rows' float64 sums, divided, in y_pred's dtype)
        if reduction == "mean":
            res /= denom  # (res is this call's own)
        value = res if dt is _F64 else res.astype(dt)
        if len(shape) != 2:
            value = value.reshape(shape[:-1])
    else:
        total = res.item()
        value = total / denom if reduction == "mean" else total
    return (value, g) if want_grad else value


def _fast_entry(spec, dt, parallel, wmode, op, fuse, rows):
    """The entry of :data:`_fast_value` for this key, made once; None where the spec's
    default parameters need :func:`plan`."""
    default = _scalar_prm(spec, dt, {}) if spec.params else _with_sig((dt.type(0.0),))
    if default is None:
        return None
    want_value, want_grad = op != "grad", op != "value"
    kernel = cpu.pointwise_kernel(spec.scalar, parallel=parallel, reduce=want_value,
                                  rows=rows, write_l=False, write_g=want_grad, write_h=False,
                                  wmode=wmode, ybcast=False, has_cp=False,
                                  flags=spec.input_flags if fuse else None)
    # the last slot: (prm's types, the weights' dtype, the serial kernel's machine code for
    # the types of the first call) (compiled_for: no dispatcher on later calls)
    entry = _fast_value[(spec.name, dt, parallel, wmode, op, fuse, rows)] = [
        kernel, default, want_value, want_grad, None]
    return entry


#: The first slot of the machine code's entry that fast_terms set: its terms' ``prm`` are
#: tuples of the arrays' dtype, so the key gives their types
_TERMS = "terms"


def fast_terms(terms, arrays, dt, reduction, backend, op):
    """``op`` ("value", "grad" or "value_and_grad") of a common call of a "terms" loss: each
    array (NumPy, of ``dt``, float32 or float64, as the first one is; C-contiguous, not
    empty) through the kernel of :func:`fast_value` of its term ``(term, prm)`` (``prm`` in
    ``dt``; as many terms as arrays, none with input checks); the value is the sum of the
    terms' values, the gradients one per array (a tuple, or one array). The bits of
    :func:`fast_value` term by term; one serial or parallel choice for the arrays of one
    size and cost. None for any other call."""
    if reduction != "mean" and reduction != "sum":
        return None
    want_grad = op != "value"
    mean = reduction == "mean"
    total = 0  # (an int start, as the full road's sum: 0 + -0.0 is +0.0 there too)
    g = ex = None
    res = np.empty(1)  # (each kernel writes it)
    for i, (term, prm) in enumerate(terms):
        a = arrays[i]  # (checked here, not all first: one loop costs less; a later array
        # that fails wastes the kernels before it, and the full road answers)
        if type(a) is not np.ndarray or a.dtype is not dt or not a.flags.c_contiguous:
            return None
        N = a.size
        if N == 0:
            return None
        if ex is None or N != arrays[i - 1].size or term.cost != terms[i - 1][0].cost:
            wk = N * _backend.FLOAT32_CHEAP if dt is _F32 and term.cost <= 1.0 else N
            ex = _HOST.get(_backend.resolve(backend, wk, term.cost, False, not want_grad))
            if ex is None:
                return None  # cuda: the full road
        entry = _fast_value.get((term.name, dt, ex.parallel, 0, op, False, False)) \
            or _fast_entry(term, dt, ex.parallel, 0, op, False, False)
        kernel, _, want_value, _, known = entry
        flat = a if a.ndim == 1 else a.reshape(-1)
        gf, scale = None, 1.0
        if want_grad:
            gi = np.empty(a.shape, dt)
            gf = gi if a.ndim == 1 else gi.reshape(-1)
            scale = (1.0 / N if mean else 1.0) * term.grad_factor
            g = gi if g is None else (*g, gi) if type(g) is tuple else (g, gi)
        # cpu.PointwiseArgs in order, positionally
        if ex.parallel:
            ex.launch(kernel, flat, flat, None, None, prm, scale, N, None, gf, None, res)
        elif known is not None and known[0] is _TERMS:
            known[2](flat, flat, None, None, prm, scale, N, None, gf, None, res)
        else:
            args = (flat, flat, None, None, prm, scale, N, None, gf, None, res)
            kernel(*args)
            if known is None:
                entry[4] = (_TERMS, None, compiled_for(kernel, args))
        if want_value:
            total += res.item() / N if mean else res.item()
    if op == "value":
        return float(total)
    return g if op == "grad" else (float(total), g)


_fast_params: dict = {}
_defaults: dict = {}


def _full_params(spec, params):
    """``{name: value}`` of every parameter of the spec: ``params``, then the defaults."""
    if params:
        return {p.name: params.get(p.name, p.default) for p in spec.params}
    d = _defaults.get(spec.name)
    if d is None:
        d = _defaults[spec.name] = {p.name: p.default for p in spec.params}
    return d


_SIGS: dict = {}


def _with_sig(prm):
    """``(prm, its element types)``, the types one shared tuple per distinct combination
    (compared by identity: which kernel machine code takes this ``prm``)."""
    types = tuple(map(type, prm))
    return prm, _SIGS.setdefault(types, types)


def _scalar_prm(spec, dt, params):
    """``(prm, its types)`` (:func:`_with_sig`): the kernel's ``prm`` for scalar parameters
    (memoised per value and type: the checks run once per distinct call), or None where
    only :func:`plan` can tell."""
    try:
        if len(params) == 1:  # the commonest call with a parameter: a flat key is cheaper
            ((name, v),) = params.items()
            key = (spec.name, dt, name, v, type(v))
        else:
            key = (spec.name, dt, *params.items(), *map(type, params.values()))
        prm = _fast_params.get(key)
    except TypeError:  # an unhashable value (an array parameter)
        return None
    if prm is None:
        given = check_params(spec.name, spec.params, params)
        vals = []
        for p in spec.params:
            v = given[p.name]
            if p.kind == "float_or_array":
                if not (v is None or isinstance(v, (int, float, np.integer, np.floating))):
                    return None
                v = _column_param(p, v, 1)[0]
            else:
                v = p.check(v)
            vals.append(p.kernel_value(v, dt))
        prm = _with_sig(tuple(vals) or (dt.type(0.0),))
        if len(_fast_params) < 4096:
            _fast_params[key] = prm
    return prm


def fast_plan(spec, y_true, y_pred, reduction, sample_weight, axis, params, backend=None):
    """The :class:`Plan` of a common call (same-dtype C-contiguous float arrays of one
    shape, scalar parameters, a float64 or float32 weight per element of the last axis,
    ``axis`` None or -1, ``reduction`` mean or sum) in about a microsecond; None for any
    other call, which :func:`plan` then handles (and explains, when it is wrong)."""
    if (type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray
            or (reduction != "mean" and reduction != "sum")
            or (axis is not None and (type(axis) is not int or axis != -1))):
        return None
    dt = y_pred.dtype
    shape = y_pred.shape
    if (y_true.dtype is not dt or (dt is not _F64 and dt is not _F32) or y_true.shape != shape
            or not y_pred.ndim or not (y_pred.flags.c_contiguous and y_true.flags.c_contiguous)):
        return None
    N = y_pred.size
    if N == 0 or (params and not spec.params):
        return None
    n = shape[-1]
    rows = axis == -1
    w, wmode = None, 0
    if sample_weight is not None:
        if (type(sample_weight) is not np.ndarray
                or (sample_weight.dtype is not _F64 and sample_weight.dtype is not _F32)
                or sample_weight.shape != (n,) or not (rows or y_pred.ndim == 1)
                or not sample_weight.flags.c_contiguous
                or check_kernels.count_bad_weights(sample_weight)):
            return None
        w, wmode = sample_weight, 1
    prm_sig = _scalar_prm(spec, dt, params) if spec.params else ((dt.type(0.0),), None)
    if prm_sig is None:
        return None
    prm = prm_sig[0]
    full = {p.name: params.get(p.name, p.default) for p in spec.params} if spec.params \
        else params
    if spec.check_inputs is not None:
        _check_inputs(spec, y_true, y_pred, full, backend)
    R = N // n
    denom = mean_denominator(rows, w, wmode, R, n) if reduction == "mean" else 1.0
    if reduction == "mean" and w is not None and denom == 0.0:
        return None  # plan() raises the error
    if y_pred.ndim != 1:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    # Plan's fields in order, positionally (keywords cost 0.5 us a call)
    return Plan(shape, dt, y_true, y_pred, R, n, False, w, wmode, None, prm, rows, reduction,
                denom, full)


def run_partials(spec, pl: Plan, backend, *, want_grad: bool = False, grad_scale: float = 1.0):
    """The kernel's float64 partial sums and the gradient from one pass (see
    :meth:`fastloss._exec.cpu.HostExecutor.pointwise_partials`); CPU backends only."""
    ex = executor_for(backend, _backend.work(pl.size, spec.cost, pl.dtype), spec.cost)
    if ex.device:
        raise NotImplementedError("partial sums are computed by the CPU kernels only")
    return ex.pointwise_partials(spec, pl, want_grad=want_grad, grad_scale=grad_scale)


# ---------------------------------------------------------------------------
# the kind: what the dispatcher calls

#: what each operation wants of a pass: (value, grad, hess)
WANTS = {"value": (True, False, False), "grad": (False, True, False),
         "value_and_grad": (True, True, False), "grad_hess": (False, True, True)}


def _pack(op, v, g, h):
    if op == "value":
        return v
    if op == "grad":
        return g
    if op == "value_and_grad":
        return v, g
    return g, h


def _execute(spec, pl, op, kw):
    if spec.rmse:
        return _rmse(spec, pl, op, kw)
    wv, wg, wh = WANTS[op]
    v, g, h = run(spec, pl, kw["backend"], want_value=wv, want_grad=wg, want_hess=wh,
                  out=kw.get("out"))
    if op == "value":
        return v
    return g if op == "grad" else ((v, g) if wv else (g, h))


def fast(spec, op, args, kw):
    """The result of a common call on NumPy arrays, or None (then :func:`call`)."""
    y_true, y_pred = args
    params = kw["params"]
    if spec.rmse:
        if op == "grad_hess" or kw["axis"] is not None or kw.get("out") is not None \
                or kw["reduction"] != "mean":
            return None
        v = fast_value(spec, y_true, y_pred, "mean", kw["backend"], params,
                       kw["sample_weight"], op=op if op == "value" else "value_and_grad")
        return None if v is None else _rmse_finish(op, v, y_pred.dtype)
    axis = kw["axis"]
    if op != "grad_hess" and (axis is None or (type(axis) is int and axis == -1)):
        # (arguments by position: cheaper than keywords)
        v = fast_value(spec, y_true, y_pred, kw["reduction"], kw["backend"], params,
                       kw["sample_weight"], op, kw.get("out"), axis is not None)
        if v is not None:
            return v
    pl = fast_plan(spec, y_true, y_pred, kw["reduction"], kw["sample_weight"], kw["axis"],
                   params, kw["backend"])
    return None if pl is None else _execute(spec, pl, op, kw)


def call(spec, op, args, kw):
    """Any call: plan (every check, with its message), then one pass."""
    y_true, y_pred = args
    if spec.rmse and kw["reduction"] != "mean":
        raise ValueError(
            f"rmse has only reduction='mean' (one RMSE, or one per row with axis=-1), "
            f"got reduction={kw['reduction']!r}"
        )
    pl = plan(spec, y_true, y_pred, reduction=kw["reduction"], sample_weight=kw["sample_weight"],
              axis=kw["axis"], params=kw["params"], backend=kw["backend"])
    return _execute(spec, pl, op, kw)


def _rmse_finish(op, v, dtype):
    """rmse from the mse pass of the fast road: the bits of :func:`_rmse`."""
    if op == "value":
        return math.sqrt(v)
    msev, g = v
    r = math.sqrt(msev)
    g *= dtype.type(0.5 / r if r > 0 else 0.0)
    return g if op == "grad" else (r, g)


def _rmse(spec, pl, op, kw):
    """``sqrt(mean(w * d**2))``: the mse pass, then a square root (and a rescaled grad)."""
    backend = kw["backend"]
    if op == "value":
        v, _, _ = run(spec, pl, backend, want_value=True, want_grad=False)
        if pl.rows and not isinstance(v, np.ndarray):  # per-row values on the device
            from .._exec.cuda import rmse_finish

            return rmse_finish(pl, v, None)
        return np.sqrt(v) if pl.rows else float(np.sqrt(v))
    if op == "grad_hess":
        raise NotImplementedError("rmse has no grad_hess (no diagonal Hessian)")
    out = kw.get("out")
    msev, g, _ = run(spec, pl, backend, want_value=True, want_grad=True, out=out)
    if not isinstance(g, np.ndarray):  # the gradient is on the device: rescale it there
        from .._exec.cuda import rmse_finish

        r = rmse_finish(pl, msev, g)
    else:
        # d sqrt(M) = dM / (2 sqrt(M)); 0 where M == 0 (a subgradient).
        r = np.sqrt(msev)
        with np.errstate(divide="ignore"):
            f = np.where(r > 0, 0.5 / np.where(r > 0, r, 1.0), 0.0).astype(pl.dtype)
        ga = np.asarray(g)  # out= may be an ndarray subclass (np.matrix): its memory
        if pl.rows and ga.size:
            ga.reshape(-1, pl.n)[...] *= f.reshape(-1, 1)
        elif not pl.rows:
            ga *= f
        r = r if pl.rows else float(r)
    return g if op == "grad" else (r, g)
