"""The road of a row-wise loss: check and coerce, plan the (N x C) rows, run a row kernel.

A row-wise spec (:class:`RowwiseSpec`) declares its row function (see
:mod:`fastloss._kernels.rows`) and a ``prepare`` function that turns ``(y_true, y_pred,
params)`` into the arrays the kernel reads (:class:`Rows`), raising ValueError/TypeError
that name the argument. This module does the rest, the same for every row-wise loss:
reductions, ``sample_weight``, the denominator of ``"mean"``, ``out=`` (in place too),
the backend, and the shapes of what comes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _arrays as A
from . import _backend, _kinds, _spec
from ._kernels import rows
from ._loss import Backend, Loss, Reduction, _is_dask
from ._spec import LossSpec


@dataclass(frozen=True)
class RowwiseSpec(LossSpec):
    """A loss of one term per row of ``C`` values (class scores or probabilities)."""

    kind: str = "rowwise"
    row: Callable | None = None  # row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w)
    # prepare(y_true, y_pred, params) -> Rows (validates, names the bad argument)
    prepare: Callable | None = None
    cost: float = 8.0  # relative cost per value (exp/log per element)
    # fast_prm(C) -> prm: the row parameters of the commonest call (int64 labels in [0, C),
    # float logits (N, C), default parameters), which then skips prepare (see fast_value);
    # None: no such call
    fast_prm: Callable | None = None


@dataclass
class Rows:
    """What a row kernel reads, as prepared by a spec's ``prepare``."""

    x: np.ndarray  # (N, C) C-contiguous, the differentiable input in the compute dtype
    t: np.ndarray | None = None  # (N, C) target probabilities, same dtype
    # (x and t are CUDA device arrays where the inputs were; everything else is on the host)
    lab: np.ndarray | None = None  # (N,) int64 labels
    cw: np.ndarray | None = None  # (C,) float64 class weights
    prm: tuple = (0.0,)
    roww: np.ndarray | None = None  # (N,) float64: each row's weight in the mean's denominator
    gshape: tuple = ()  # shape of the gradient (that of y_pred)
    vshape: tuple = ()  # shape of the values for reduction="none"


@dataclass
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
        from ._kernels import cuda_road as road

        sample_weight = road.to_host(sample_weight)
        params = {k: road.to_host(v) if A.is_device_array(v) else v for k, v in params.items()}
    r = spec.prepare(y_true, y_pred, params)
    N, C = r.x.shape
    sw = None
    if sample_weight is not None:
        sw = A.check_weights(sample_weight, N)
    if reduction == "mean":
        if N == 0:
            raise ValueError(f"{spec.name}: empty input with reduction='mean' has no value")
        if sw is not None and not np.sum(sw) > 0.0:
            raise ValueError("sample_weight sums to zero: the weighted mean is undefined")
    if sw is None:
        denom = float(N) if r.roww is None else float(np.sum(r.roww))
    else:
        denom = float(np.sum(sw)) if r.roww is None else float(np.sum(sw * r.roww))
    pl = Plan(rows=r, dtype=r.x.dtype, N=N, C=C, sw=sw, reduction=reduction, denom=denom)
    if on_device:
        pl.on_device = True
    return pl


_DUMMY: dict = {}


def _dummy(dtype):
    d = _DUMMY.get(np.dtype(dtype))
    if d is None:
        d = _DUMMY[np.dtype(dtype)] = np.zeros(1, dtype=dtype)
    return d


_LAB_DUMMY = np.full(1, -1, np.int64)


def run(spec, pl: Plan, backend, *, want_value: bool, want_grad: bool, want_hess: bool = False,
        out=None):
    """One pass over the rows; returns (value or None, grad or None, hess or None)."""
    if _backend.resolve(backend, pl.N * pl.C, spec.cost, on_device=pl.on_device) == "cuda":
        _backend.require_cuda()
        from ._kernels import cuda_road

        return cuda_road.run_rows(spec, pl, want_value=want_value, want_grad=want_grad,
                                  want_hess=want_hess, out=out)
    if pl.on_device:  # CUDA inputs on a CPU backend asked for by name
        from ._kernels.cuda_road import to_host

        pl = dataclasses.replace(pl, rows=dataclasses.replace(
            pl.rows, x=to_host(pl.rows.x), t=to_host(pl.rows.t)), on_device=False)
    lout, g, h = run_rows(spec, pl, backend, want_grad=want_grad, want_hess=want_hess, out=out)
    value = None
    if want_value:
        if pl.reduction == "none":
            value = lout.astype(pl.dtype).reshape(pl.rows.vshape)
        elif pl.reduction == "sum":
            value = float(np.sum(lout))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = float(np.sum(lout) / np.float64(pl.denom))
    return value, g, h


def run_rows(spec, pl: Plan, backend, *, want_grad: bool, want_hess: bool = False, out=None):
    """The kernel pass: ``(lout, grad or None, hess or None)``, ``lout`` the float64 value of
    each row (times its weights) that every reduction adds with ``numpy.sum`` (the Dask
    integration adds them across blocks the same way)."""
    r = pl.rows
    dt = pl.dtype
    N, C = pl.N, pl.C
    name = _backend.resolve(backend, N * C, spec.cost, on_device=pl.on_device)
    if name == "cuda":
        raise ValueError("run_rows is the CPU pass; the cuda road goes through run()")
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
            spec.row, parallel=name == "parallel", write_g=want_grad, write_h=want_hess,
            has_t=r.t is not None, has_lab=r.lab is not None, has_sw=pl.sw is not None,
        )
        args = (r.x.reshape(-1), _dummy(dt) if r.t is None else r.t.reshape(-1),
                _LAB_DUMMY if r.lab is None else r.lab,
                _dummy(np.float64) if r.cw is None else r.cw,
                _dummy(np.float64) if pl.sw is None else pl.sw,
                r.prm, pl.scale, C, lout, gout, hout, inplace)
        if name == "parallel":
            with _backend.parallel_launch():
                kernel(*args)
        else:
            kernel(*args)
    g = (out if out is not None else gout.reshape(r.gshape)) if want_grad else None
    h = hout.reshape(r.gshape) if want_hess else None
    return lout, g, h


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_I64 = np.dtype(np.int64)
_fast_prm: dict = {}


def fast_value(spec, y_true, y_pred, reduction, backend):
    """The value of the commonest call (int64 labels ``(N,)`` all in ``[0, C)``, float
    logits ``(N, C)`` C-contiguous, default parameters, no weights) without plan()'s
    generality: the same kernel and the same sums, with a few hundred nanoseconds of Python
    before it. None when the call is not that one (the full road then checks it)."""
    if (spec.fast_prm is None or type(y_pred) is not np.ndarray
            or type(y_true) is not np.ndarray or (reduction != "mean" and reduction != "sum")):
        return None
    if (y_pred.ndim != 2 or y_pred.dtype not in _FAST_DTYPES or y_true.dtype != _I64
            or not y_pred.flags.c_contiguous or not y_true.flags.c_contiguous):
        return None
    N, C = y_pred.shape
    if N == 0 or C == 0 or y_true.shape != (N,) or not rows.labels_in_range(y_true, C):
        return None
    name = _backend.resolve(backend, N * C, spec.cost)
    if name == "cuda":
        return None
    prm = _fast_prm.get((spec.name, C))
    if prm is None:
        prm = _fast_prm[(spec.name, C)] = spec.fast_prm(C)
    kernel = rows.row_kernel(spec.row, parallel=name == "parallel", write_g=False,
                             write_h=False, has_t=False, has_lab=True, has_sw=False)
    lout = np.empty(N, np.float64)
    d = _dummy(y_pred.dtype)
    d64 = _dummy(np.float64)
    args = (y_pred.reshape(-1), d, y_true, d64, d64, prm, 1.0 / N if reduction == "mean"
            else 1.0, C, lout, d, d, False)
    if name == "parallel":
        with _backend.parallel_launch():
            kernel(*args)
    else:
        kernel(*args)
    total = np.add.reduce(lout)  # numpy.sum's own reduction: the bits of run()
    return float(total / np.float64(N)) if reduction == "mean" else float(total)


class RowwiseLoss(Loss):
    """A loss of one term per row: ``y_pred`` of shape ``(N, C)``."""

    def _dask(self, op, y_true, y_pred, **kw):
        from .integrations import dask as fl_dask

        return fl_dask.rowwise(self, op, y_true, y_pred, **kw)

    def _plan(self, y_true, y_pred, reduction, sample_weight, params):
        return plan(self.spec, y_true, y_pred, reduction=reduction,
                    sample_weight=sample_weight, params=params)

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                 sample_weight: ArrayLike | None = None, backend: Backend = None,
                 **params: Any) -> Any:
        if sample_weight is None and not params:
            v = fast_value(self.spec, y_true, y_pred, reduction, backend)
            if v is not None:
                return v
        if _is_dask(y_true, y_pred):
            return self._dask("value", y_true, y_pred, reduction=reduction,
                              sample_weight=sample_weight, backend=backend, **params)
        pl = self._plan(y_true, y_pred, reduction, sample_weight, params)
        return run(self.spec, pl, backend, want_value=True, want_grad=False)[0]

    def grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
             sample_weight: ArrayLike | None = None, backend: Backend = None,
             out: np.ndarray | None = None, **params: Any) -> Any:
        if _is_dask(y_true, y_pred):
            return self._dask("grad", y_true, y_pred, reduction=reduction,
                              sample_weight=sample_weight, backend=backend, out=out, **params)
        pl = self._plan(y_true, y_pred, reduction, sample_weight, params)
        return run(self.spec, pl, backend, want_value=False, want_grad=True, out=out)[1]

    def value_and_grad(self, y_true: ArrayLike, y_pred: ArrayLike, *,
                       reduction: Reduction = "mean", sample_weight: ArrayLike | None = None,
                       backend: Backend = None, out: np.ndarray | None = None,
                       **params: Any) -> tuple[Any, Any]:
        if _is_dask(y_true, y_pred):
            return self._dask("value_and_grad", y_true, y_pred, reduction=reduction,
                              sample_weight=sample_weight, backend=backend, out=out, **params)
        pl = self._plan(y_true, y_pred, reduction, sample_weight, params)
        v, g, _ = run(self.spec, pl, backend, want_value=True, want_grad=True, out=out)
        return v, g

    def grad_hess(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                  sample_weight: ArrayLike | None = None, backend: Backend = None,
                  **params: Any) -> tuple[Any, Any]:
        if not self.spec.has_hess:
            return Loss.grad_hess(self)
        if _is_dask(y_true, y_pred):
            return self._dask("grad_hess", y_true, y_pred, reduction=reduction,
                              sample_weight=sample_weight, backend=backend, **params)
        pl = self._plan(y_true, y_pred, reduction, sample_weight, params)
        _, g, h = run(self.spec, pl, backend, want_value=False, want_grad=True, want_hess=True)
        return g, h


_kinds.BASES["rowwise"] = RowwiseLoss
_spec._COMMON_DOC.setdefault("rowwise", [
    "reduction : {'mean', 'sum', 'none'}, default 'mean'",
    "    ``mean`` is ``sum(w*l)/sum(w)`` over the rows (``w`` the sample weights; its",
    "    denominator is detailed in Notes where the loss has more), ``sum`` is",
    "    ``sum(w*l)``, ``none`` gives one value per row.",
    "sample_weight : array_like, optional",
    "    One non-negative weight per row (sample).",
    "out : ndarray, optional (``grad``, ``value_and_grad``)",
    "    Where to write the gradient; may be ``y_pred`` itself (in place, no allocation).",
    "backend : {None, 'auto', 'serial', 'parallel', 'cuda'}",
    "    Overrides the current backend for this call.",
])
