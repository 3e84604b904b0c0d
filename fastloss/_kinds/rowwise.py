"""The row-wise kind: one term per row of ``C`` values (class scores or probabilities).

A row-wise spec (:class:`RowwiseSpec`) declares its row function (see
:mod:`fastloss._kernels.rows`) and a ``prepare`` function that turns ``(y_true, y_pred,
params)`` into the arrays the kernel reads (:class:`Rows`), raising ValueError/TypeError
that name the argument. This module does the rest, the same for every row-wise loss:
reductions, ``sample_weight``, the denominator of ``"mean"``, ``out=`` (in place too),
the backend, and the shapes of what comes back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import _arrays as A
from .. import _backend, _spec
from .. import _checks as check_kernels
from .._exec import executor_for
from .._exec.cpu import _dummy, finish_rows
from .._kernels import rows
from .._kernels.compile import compiled_for
from .._spec import Rows
from .pointwise import WANTS, _pack

__all__ = ["Plan", "Rows", "plan", "run", "run_rows", "fast", "call"]


def work(spec, N: int, C: int, dtype) -> float:
    """The work of ``N`` rows of ``C`` values of ``dtype`` for the serial/parallel choice:
    each row costs ``spec.row_fixed`` values more than its own, a float64 value
    ``spec.float64_factor`` float32 ones (the row's fixed cost does not depend on it)."""
    if dtype is _F64 or dtype == np.float64:
        return N * (spec.row_fixed + C * spec.float64_factor)
    return N * (spec.row_fixed + C)


@dataclass(slots=True)
class Plan:
    rows: Rows
    dtype: np.dtype
    N: int
    C: int
    sw: np.ndarray | None
    reduction: str
    denom: float
    on_device: bool = False  # an input is a CUDA array (rows.x / rows.t may be on the device)

    @property
    def scale(self) -> float:
        if self.reduction != "mean":
            return 1.0
        return 1.0 / self.denom if self.denom != 0.0 else np.inf


def plan(spec, y_true, y_pred, *, reduction, sample_weight, params) -> Plan:
    reduction = A.check_reduction(reduction)
    params = _spec.check_params(spec.name, spec.params, params)
    on_device = A.is_device_array(y_pred) or A.is_device_array(y_true)
    if on_device:  # prepare keeps CUDA matrices on the device (labels and weights: host)
        _backend.require_cuda()
        sample_weight = A.on_host(sample_weight)
        params = {k: A.on_host(v) for k, v in params.items()}
    r = spec.prepare(y_true, y_pred, params)
    N, C = r.x.shape
    sw = None
    if sample_weight is not None:
        sw = A.check_weights(sample_weight, N)
    if reduction == "mean":
        if N == 0:
            raise ValueError(f"{spec.name}: empty input with reduction='mean' has no value")
        if sw is not None and not np.add.reduce(sw) > 0.0:
            raise ValueError("sample_weight sums to zero: the weighted mean is undefined")
    if sw is None:
        denom = float(N) if r.roww is None else float(np.add.reduce(r.roww))
    else:
        denom = float(np.add.reduce(sw)) if r.roww is None else float(np.add.reduce(sw * r.roww))
    pl = Plan(r, r.x.dtype, N, C, sw, reduction, denom)  # (positionally: keywords cost)
    if on_device:
        pl.on_device = True
    return pl


def run(spec, pl: Plan, backend, *, want_value: bool, want_grad: bool, want_hess: bool = False,
        out=None):
    """One pass over the rows; returns (value or None, grad or None, hess or None)."""
    ex = executor_for(backend, work(spec, pl.N, pl.C, pl.dtype), spec.cost, pl.on_device,
                      not (want_grad or want_hess) and pl.reduction != "none")
    if pl.on_device and not ex.device:  # CUDA inputs on a CPU backend asked for by name
        pl = dataclasses.replace(pl, rows=dataclasses.replace(
            pl.rows, x=A.on_host(pl.rows.x), t=A.on_host(pl.rows.t)), on_device=False)
    return ex.rowwise(spec, pl, want_value=want_value, want_grad=want_grad,
                      want_hess=want_hess, out=out)


def run_rows(spec, pl: Plan, backend, *, want_grad: bool, want_hess: bool = False, out=None):
    """The CPU pass: ``(lout, grad or None, hess or None)``, ``lout`` the float64 value of
    each row (times its weights), for callers that add rows up themselves (Dask)."""
    ex = executor_for(backend, work(spec, pl.N, pl.C, pl.dtype), spec.cost)
    if ex.device:
        raise ValueError("run_rows is the CPU pass; the cuda executor goes through run()")
    return ex.row_losses(spec, pl, want_grad=want_grad, want_hess=want_hess, out=out)


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = _FAST_DTYPES
_I64 = np.dtype(np.int64)
#: (loss name, C, dtype, parallel, want_grad, has_sw) -> [kernel, default prm, dummy output,
#: None or the serial kernel's machine code for the default prm (compiled_for)] of fast_value
#: (and fast_targets' entries, keyed (name, "t", dtype, parallel, want_grad))
_fast_value: dict = {}
_D64 = _dummy(np.float64)


def _common(spec, y_true, y_pred) -> bool:
    """Whether a call is the commonest one: int64 labels ``(N,)`` all in ``[0, C)``, float
    logits ``(N, C)`` C-contiguous, N and C not zero (and the spec has ``fast_prm``)."""
    if spec.fast_prm is None or type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray:
        return False
    dt, lt = y_pred.dtype, y_true.dtype
    if (y_pred.ndim != 2 or (dt is not _F32 and dt is not _F64 and dt not in _FAST_DTYPES)
            or (lt is not _I64 and lt != _I64)
            or not y_pred.flags.c_contiguous or not y_true.flags.c_contiguous):
        return False
    N, C = y_pred.shape
    return N > 0 and C > 0 and y_true.shape == (N,) and rows.labels_in_range(y_true, C)


def fast_value(spec, y_true, y_pred, reduction, backend, params, op="value", out=None,
               sample_weight=None):
    """``op`` ("value", "grad" or "value_and_grad") of a common call (see :func:`_common`;
    parameters that ``spec.fast_prm`` accepts; no weights, or a float64 or float32 weight
    per row; ``out`` a C-contiguous array like ``y_pred`` that is ``y_pred`` itself or
    shares no memory with the inputs) without plan()'s generality: the same kernel and the
    same sums, with a few hundred nanoseconds of Python before it. None when the call is
    not that one (the full road then checks it)."""
    if (reduction != "mean" and reduction != "sum") or not _common(spec, y_true, y_pred):
        return None
    dt = y_pred.dtype
    N, C = y_pred.shape
    sw, denom = None, float(N)
    if sample_weight is not None:
        sw = sample_weight
        if (type(sw) is not np.ndarray or sw.shape != (N,) or not sw.flags.c_contiguous
                or (sw.dtype is not _F64 and sw.dtype is not _F32)):
            return None
        if sw.dtype is _F32:  # (the full road's float64 copy: the same bits)
            sw = sw.astype(np.float64)
        if reduction == "mean":
            denom = check_kernels.weight_total(sw)  # -1.0: a bad weight
            if not denom > 0.0:
                return None  # plan() names the bad weight, or the zero sum
        elif check_kernels.count_bad_weights(sw):
            return None
    if out is not None and not (A.plain_out(out, y_pred, y_true, sample_weight)
                                if sample_weight is not None
                                else A.plain_out(out, y_pred, y_true)):
        return None  # plan() explains it or takes it
    want_grad = op != "value"
    # work(), inlined (dt is float32 or float64 here)
    wk = N * (spec.row_fixed + (C * spec.float64_factor if dt is _F64 else C))
    ex = executor_for(backend, wk, spec.cost, False, not want_grad)
    if ex.device:
        return None
    has_sw = sample_weight is not None
    key = (spec.name, C, dt, ex.parallel, want_grad, has_sw)
    entry = _fast_value.get(key)
    if entry is None:
        kernel = rows.row_kernel(spec.row, parallel=ex.parallel, write_g=want_grad,
                                 write_h=False, has_t=False, has_lab=True, has_sw=has_sw)
        entry = [kernel, spec.fast_prm(C, {}), _dummy(dt), None]
        if len(_fast_value) < 4096:
            _fast_value[key] = entry
    kernel, prm, d, known = entry
    if params:
        prm = spec.fast_prm(C, params)
        if prm is None:
            return None
    lout = np.empty(N, np.float64)
    g = d
    if want_grad:
        g = np.empty((N, C), dt) if out is None else out
    # rows.RowArgs in order, positionally (keywords would cost ~1 us a call)
    args = (y_pred.reshape(-1), None, y_true, _D64, sw, prm,
            1.0 / denom if reduction == "mean" else 1.0, C, lout,
            g.reshape(-1) if want_grad else d, d, out is y_pred)
    # the kernel returns the pairwise sum of lout: the bits of run()
    if ex.parallel:
        total = ex.launch(kernel, *args)
    elif known is not None and not params:  # (the default prm's types)
        total = known(*args)
    else:
        total = kernel(*args)
        if not params and _fast_value.get(key) is entry:
            entry[3] = compiled_for(kernel, args)
    if op == "grad":
        return g
    value = total / denom if reduction == "mean" else total
    return (value, g) if want_grad else value


def fast_targets(spec, y_true, y_pred, reduction, backend, op="value"):
    """``op`` ("value", "grad" or "value_and_grad") of a common call of a loss whose targets
    are rows shaped like ``y_pred`` (``spec.fast_range``: NumPy float arrays (N, C) of one
    dtype, C-contiguous, not empty, every value in the range; default parameters; ``mean``
    or ``sum``; no weights, no ``out``): one compiled check of both arrays, then the kernel
    and the sums of the full road. None for any other call (prepare then names what is
    wrong)."""
    if (spec.fast_range is None or (reduction != "mean" and reduction != "sum")
            or type(y_pred) is not np.ndarray or type(y_true) is not np.ndarray):
        return None
    dt = y_pred.dtype
    if (y_true.dtype is not dt or (dt is not _F64 and dt is not _F32) or y_pred.ndim != 2
            or y_true.shape != y_pred.shape or not y_pred.flags.c_contiguous
            or not y_true.flags.c_contiguous):
        return None
    N, C = y_pred.shape
    if N == 0 or C == 0:
        return None
    want_grad = op != "value"
    # work(), inlined (dt is float32 or float64 here)
    wk = N * (spec.row_fixed + (C * spec.float64_factor if dt is _F64 else C))
    ex = executor_for(backend, wk, spec.cost, False, not want_grad)
    if ex.device:
        return None
    x, t = y_pred.reshape(-1), y_true.reshape(-1)
    lo, hi = spec.fast_range
    if not check_kernels.pair_inside(t, x, lo, hi, backend):
        return None
    key = (spec.name, "t", dt, ex.parallel, want_grad)
    entry = _fast_value.get(key)
    if entry is None:
        kernel = rows.row_kernel(spec.row, parallel=ex.parallel, write_g=want_grad,
                                 write_h=False, has_t=True, has_lab=False, has_sw=False)
        # (the default row parameters: what prepare gives these losses)
        entry = _fast_value[key] = [kernel, Rows(x=y_pred).prm, _dummy(dt), None]
    kernel, prm, d, known = entry
    lout = np.empty(N, np.float64)
    g = np.empty(N * C, dt) if want_grad else d
    # rows.RowArgs in order, positionally
    args = (x, t, None, _D64, None, prm, 1.0 / N if reduction == "mean" else 1.0, C, lout,
            g, d, False)
    # the kernel returns the pairwise sum of lout: the bits of run()
    if ex.parallel:
        total = ex.launch(kernel, *args)
    elif known is not None:
        total = known(*args)
    else:
        total = kernel(*args)
        entry[3] = compiled_for(kernel, args)
    if op == "grad":
        return g.reshape(N, C)
    value = total / N if reduction == "mean" else total
    return (value, g.reshape(N, C)) if want_grad else value


def fast_prepared(spec, y_true, y_pred, reduction, backend, op="value"):
    """``op`` ("value", "grad" or "value_and_grad") of a call that ``spec.prepare`` takes as
    it is (NumPy arrays, the default parameters, ``mean`` or ``sum``, no weights, no
    ``out``; probability targets, labels with ``ignore_index``): prepare's checks, then the
    kernel, the sums and the denominator of the full road without plan()'s generality.
    None for any other call (and for an empty one, which plan() explains)."""
    if ((reduction != "mean" and reduction != "sum") or type(y_pred) is not np.ndarray
            or type(y_true) is not np.ndarray):
        return None
    r = spec.prepare(y_true, y_pred, _spec.check_params(spec.name, spec.params, {}))
    x = r.x
    if type(x) is not np.ndarray or x.size == 0:
        return None
    N, C = x.shape
    denom = float(N) if r.roww is None else float(np.add.reduce(r.roww))
    want_grad = op != "value"
    ex = executor_for(backend, work(spec, N, C, x.dtype), spec.cost, False, not want_grad)
    if ex.device:
        return None
    dt = x.dtype
    d = _dummy(dt)
    kernel = rows.row_kernel(spec.row, parallel=ex.parallel, write_g=want_grad, write_h=False,
                             has_t=r.t is not None, has_lab=r.lab is not None, has_sw=False)
    lout = np.zeros(N, np.float64)
    g = np.empty(N * C, dt) if want_grad else d
    scale = 1.0 if reduction == "sum" else (1.0 / denom if denom != 0.0 else np.inf)
    # rows.RowArgs in order, positionally (keywords would cost ~1 us a call)
    ex.launch(kernel, x.reshape(-1), None if r.t is None else r.t.reshape(-1), r.lab,
              _D64 if r.cw is None else r.cw, None, r.prm,
              scale, C, lout, g, d, False)
    if op == "grad":
        return g.reshape(r.gshape)
    value = finish_rows(lout, reduction, dt, denom)
    return (value, g.reshape(r.gshape)) if want_grad else value


_fast_prm: dict = {}


def fast_plan(spec, y_true, y_pred, reduction, params):
    """The :class:`Plan` of a common call (see :func:`fast_value`), the one :func:`plan`
    makes, without its checks; None for any other call."""
    if (reduction != "mean" and reduction != "sum" and reduction != "none") \
            or not _common(spec, y_true, y_pred):
        return None
    N, C = y_pred.shape
    if params:
        prm = spec.fast_prm(C, params)
        if prm is None:
            return None
    else:
        prm = _fast_prm.get((spec.name, C))
        if prm is None:
            prm = spec.fast_prm(C, {})
            if len(_fast_prm) < 4096:
                _fast_prm[(spec.name, C)] = prm
    r = Rows(x=y_pred, lab=y_true, prm=prm, gshape=y_pred.shape, vshape=(N,))
    return Plan(r, y_pred.dtype, N, C, None, reduction, float(N))


def fast(spec, op, args, kw):
    """The result of a common call on NumPy arrays, or None (then :func:`call`)."""
    if spec.fast_range is not None and op != "grad_hess" and not kw["params"] \
            and kw.get("out") is None and kw["sample_weight"] is None:
        v = fast_targets(spec, args[0], args[1], kw["reduction"], kw["backend"], op)
        if v is not None:
            return v
    if op != "grad_hess":
        v = fast_value(spec, args[0], args[1], kw["reduction"], kw["backend"], kw["params"],
                       op, kw.get("out"), kw["sample_weight"])
        if v is not None:
            return v
    if kw["sample_weight"] is not None:
        return None
    if op != "grad_hess" and not kw["params"] and kw.get("out") is None:
        v = fast_prepared(spec, args[0], args[1], kw["reduction"], kw["backend"], op)
        if v is not None:
            return v
    if op == "grad_hess" and not spec.has_hess:
        return None
    pl = fast_plan(spec, args[0], args[1], kw["reduction"], kw["params"])
    if pl is None:
        return None
    wv, wg, wh = WANTS[op]
    v, g, h = run(spec, pl, kw["backend"], want_value=wv, want_grad=wg, want_hess=wh,
                  out=kw.get("out"))
    return _pack(op, v, g, h)


def call(spec, op, args, kw):
    if op == "grad_hess" and not spec.has_hess:
        raise NotImplementedError(f"{spec.name} has no grad_hess (no diagonal Hessian)")
    pl = plan(spec, args[0], args[1], reduction=kw["reduction"],
              sample_weight=kw["sample_weight"], params=kw["params"])
    wv, wg, wh = WANTS[op]
    v, g, h = run(spec, pl, kw["backend"], want_value=wv, want_grad=wg, want_hess=wh,
                  out=kw.get("out"))
    return _pack(op, v, g, h)
