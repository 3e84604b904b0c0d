"""The public loss objects: calls and methods, no maths."""

from __future__ import annotations

import inspect
import types
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from . import _pointwise

Reduction = Literal["mean", "sum", "none"]
Backend = Literal["auto", "serial", "parallel", "cuda"] | None


class Loss:
    """Base of every loss object: ``L(...)``, ``L.grad``, ``L.value_and_grad``,
    ``L.grad_hess``. Each loss is an instance of its own subclass, whose docstring
    (``help(fastloss.<name>)``) carries the formula."""

    spec: Any = None

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.__name__ = spec.name
        self.__doc__ = spec.docstring()

    def __repr__(self) -> str:
        return f"<fastloss loss {self.spec.name}>"

    def __reduce__(self):  # pickles by name (for multiprocessing and Dask)
        return (_by_name, (self.spec.name,))

    def grad_hess(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        raise NotImplementedError(f"{self.spec.name} has no grad_hess (no diagonal Hessian)")


def _by_name(name):
    import fastloss

    return getattr(fastloss, name)


class PointwiseLoss(Loss):
    """A loss of one term per element of ``(y_true, y_pred)``."""

    def _dask(self, op, y_true, y_pred, kw):
        from .integrations import dask as fl_dask

        return fl_dask.pointwise(self, op, y_true, y_pred, **kw)

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                 sample_weight: ArrayLike | None = None, axis: int | None = None,
                 backend: Backend = None, **params: Any) -> Any:
        """The loss value: a float (``mean``/``sum``), an array (``none`` or ``axis=-1``)."""
        if sample_weight is None and axis is None and not params:
            v = _pointwise.fast_value(self.spec, y_true, y_pred, reduction, backend)
            if v is not None:
                return v
        pl = _pointwise.fast_plan(self.spec, y_true, y_pred, reduction, sample_weight, axis,
                                  params)
        if pl is None:
            if _is_dask(y_true, y_pred):
                return self._dask("value", y_true, y_pred, dict(
                    reduction=reduction, sample_weight=sample_weight, axis=axis,
                    backend=backend, **params))
            pl = _pointwise.plan(self.spec, y_true, y_pred, reduction=reduction,
                                 sample_weight=sample_weight, axis=axis, params=params)
        v, _, _ = _pointwise.run(self.spec, pl, backend, want_value=True, want_grad=False)
        return v

    def grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
             sample_weight: ArrayLike | None = None, axis: int | None = None,
             backend: Backend = None, out: np.ndarray | None = None, **params: Any) -> Any:
        """Gradient of the value with respect to ``y_pred`` (shape and dtype of ``y_pred``);
        written into ``out`` when given (``out=y_pred`` works in place)."""
        pl = _pointwise.fast_plan(self.spec, y_true, y_pred, reduction, sample_weight, axis,
                                  params)
        if pl is None:
            if _is_dask(y_true, y_pred):
                return self._dask("grad", y_true, y_pred, dict(
                    reduction=reduction, sample_weight=sample_weight, axis=axis,
                    backend=backend,
                    out=out, **params))
            pl = _pointwise.plan(self.spec, y_true, y_pred, reduction=reduction,
                                 sample_weight=sample_weight, axis=axis, params=params)
        _, g, _ = _pointwise.run(self.spec, pl, backend, want_value=False, want_grad=True,
                                 out=out)
        return g

    def value_and_grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                       sample_weight: ArrayLike | None = None, axis: int | None = None,
                       backend: Backend = None, out: np.ndarray | None = None,
                       **params: Any) -> tuple[Any, Any]:
        """``(value, grad)`` computed in one pass over the data."""
        pl = _pointwise.fast_plan(self.spec, y_true, y_pred, reduction, sample_weight, axis,
                                  params)
        if pl is None:
            if _is_dask(y_true, y_pred):
                return self._dask("value_and_grad", y_true, y_pred, dict(
                    reduction=reduction, sample_weight=sample_weight, axis=axis,
                    backend=backend,
                    out=out, **params))
            pl = _pointwise.plan(self.spec, y_true, y_pred, reduction=reduction,
                                 sample_weight=sample_weight, axis=axis, params=params)
        v, g, _ = _pointwise.run(self.spec, pl, backend, want_value=True, want_grad=True,
                                 out=out)
        return v, g

    def grad_hess(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                  sample_weight: ArrayLike | None = None, axis: int | None = None,
                  backend: Backend = None, **params: Any) -> tuple[Any, Any]:
        """``(grad, hess)``: the gradient and the diagonal of the Hessian of the reduced
        value (with ``mean`` both carry the ``w_i / sum(w)`` factor)."""
        pl = _pointwise.fast_plan(self.spec, y_true, y_pred, reduction, sample_weight, axis,
                                  params)
        if pl is None:
            if _is_dask(y_true, y_pred):
                return self._dask("grad_hess", y_true, y_pred, dict(
                    reduction=reduction, sample_weight=sample_weight, axis=axis,
                    backend=backend,
                    **params))
            pl = _pointwise.plan(self.spec, y_true, y_pred, reduction=reduction,
                                 sample_weight=sample_weight, axis=axis, params=params)
        _, g, h = _pointwise.run(self.spec, pl, backend, want_value=False, want_grad=True,
                                 want_hess=True)
        return g, h


class RMSELoss(Loss):
    """``sqrt(mean(w * d**2))``: the mse kernels, then a square root (and a rescaled grad)."""

    def _plan(self, y_true, y_pred, reduction, sample_weight, axis, params):
        if reduction != "mean":
            raise ValueError(
                f"rmse has only reduction='mean' (one RMSE, or one per row with axis=-1), "
                f"got reduction={reduction!r}"
            )
        return _pointwise.plan(self.spec, y_true, y_pred, reduction=reduction,
                               sample_weight=sample_weight, axis=axis, params=params)

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                 sample_weight: ArrayLike | None = None, axis: int | None = None,
                 backend: Backend = None, **params: Any) -> Any:
        pl = self._plan(y_true, y_pred, reduction, sample_weight, axis, params)
        v, _, _ = _pointwise.run(self.spec, pl, backend, want_value=True, want_grad=False)
        if pl.rows and not isinstance(v, np.ndarray):  # per-row values on the device
            from ._kernels import cuda_road

            return cuda_road.rmse_finish(pl, v, None)
        return np.sqrt(v) if pl.rows else float(np.sqrt(v))

    def grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
             sample_weight: ArrayLike | None = None, axis: int | None = None,
             backend: Backend = None, out: np.ndarray | None = None, **params: Any) -> Any:
        return self.value_and_grad(y_true, y_pred, reduction=reduction,
                                   sample_weight=sample_weight, axis=axis, backend=backend,
                                   out=out, **params)[1]

    def value_and_grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                       sample_weight: ArrayLike | None = None, axis: int | None = None,
                       backend: Backend = None, out: np.ndarray | None = None,
                       **params: Any) -> tuple[Any, Any]:
        pl = self._plan(y_true, y_pred, reduction, sample_weight, axis, params)
        msev, g, _ = _pointwise.run(self.spec, pl, backend, want_value=True, want_grad=True,
                                    out=out)
        if not isinstance(g, np.ndarray):  # the gradient is on the device: rescale it there
            from ._kernels import cuda_road

            return cuda_road.rmse_finish(pl, msev, g), g
        # d sqrt(M) = dM / (2 sqrt(M)); 0 where M == 0 (a subgradient).
        r = np.sqrt(msev)
        with np.errstate(divide="ignore"):
            f = np.where(r > 0, 0.5 / np.where(r > 0, r, 1.0), 0.0).astype(pl.dtype)
        ga = np.asarray(g)  # out= may be an ndarray subclass (np.matrix): its memory
        if pl.rows and ga.size:
            ga.reshape(-1, pl.n)[...] *= f.reshape(-1, 1)
        elif not pl.rows:
            ga *= f
        return (r if pl.rows else float(r)), g


def _is_dask(*arrays) -> bool:
    return any(type(a).__module__.startswith("dask.") for a in arrays)


METHODS = ("__call__", "grad", "value_and_grad", "grad_hess")


def signature(spec, fn) -> inspect.Signature:
    """``fn``'s signature as this loss takes it: its arrays by name, then its parameters with
    their defaults (keyword-only), then ``fn``'s own options; ``default_reduction`` where the
    loss declares one. ``self`` stays first (the signature of the method on the class)."""
    P = inspect.Parameter
    base = inspect.signature(fn)
    own = list(base.parameters.values())
    reduction = getattr(spec, "default_reduction", None)
    params = [own[0]]
    params += [P(a, P.POSITIONAL_OR_KEYWORD, annotation="ArrayLike") for a in spec.inputs]
    params += [P(p.name, P.KEYWORD_ONLY, default=p.default, annotation=_PARAM_TYPES.get(
        p.kind, "Any")) for p in spec.params]
    for q in own[1:]:
        if q.kind is not P.KEYWORD_ONLY:
            continue
        if q.name == "reduction" and reduction is not None:
            q = q.replace(default=reduction)
        params.append(q)
    return base.replace(parameters=params)


_PARAM_TYPES = {"float": "float", "bool": "bool", "int": "int", "str": "str",
                "float_or_array": "float | ArrayLike | None", "array": "ArrayLike | None"}


def _renamed(fn, qualname: str, sig: inspect.Signature, spec):
    """A copy of ``fn`` whose code is named ``qualname`` (so Python's own errors say
    ``huber()`` or ``huber.grad()``), with ``sig`` as its signature and, where the loss
    declares a default reduction, that default in place of ``None``."""
    code = fn.__code__.replace(co_name=qualname.rsplit(".", 1)[-1], co_qualname=qualname)
    f = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__,
                           fn.__closure__)
    kw = dict(fn.__kwdefaults__ or {})
    if "reduction" in kw and getattr(spec, "default_reduction", None) is not None:
        kw["reduction"] = spec.default_reduction
    f.__kwdefaults__ = kw or None
    f.__doc__, f.__module__, f.__qualname__ = fn.__doc__, "fastloss", qualname
    f.__annotations__ = dict(fn.__annotations__)
    f.__signature__ = sig
    return f


def make_loss(spec) -> Loss:
    """One object of a subclass named after the loss, so that ``help()`` shows its formula
    and ``inspect.signature`` (editors, ``help()``) its arrays and parameters by name."""
    if spec.kind == "pointwise":
        base = RMSELoss if getattr(spec, "rmse", False) else PointwiseLoss
    else:
        from ._kinds import base_for

        base = base_for(spec)
    ns: dict = {"__doc__": spec.docstring(), "__module__": "fastloss",
                "__qualname__": spec.name}
    for m in METHODS:
        fn = getattr(base, m)
        sig = signature(spec, fn)
        qual = spec.name if m == "__call__" else f"{spec.name}.{m}"
        ns[m] = _renamed(fn, qual, sig, spec)
    # the class's own signature is the call's: help() opens with ``huber(y_true, ...)``
    call_sig = ns["__call__"].__signature__
    ns["__signature__"] = call_sig.replace(parameters=list(call_sig.parameters.values())[1:])
    cls = type(spec.name, (base,), ns)
    return cls(spec)
