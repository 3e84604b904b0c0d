"""The public loss objects: calls and methods, no maths."""

from __future__ import annotations

import inspect
import types
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ._dispatch import call

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


#: every loss object made, by name (unpickling imports fastloss, which makes them all)
OBJECTS: dict = {}


def _by_name(name):
    return OBJECTS[name]


class PointwiseLoss(Loss):
    """A loss of one term per element of ``(y_true, y_pred)``."""

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                 sample_weight: ArrayLike | None = None, axis: int | None = None,
                 backend: Backend = None, **params: Any) -> Any:
        """The loss value: a float (``mean``/``sum``), an array (``none`` or ``axis=-1``)."""
        return call(self.spec, "value", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "axis": axis,
            "backend": backend, "params": params})

    def grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
             sample_weight: ArrayLike | None = None, axis: int | None = None,
             backend: Backend = None, out: np.ndarray | None = None, **params: Any) -> Any:
        """Gradient of the value with respect to ``y_pred`` (shape and dtype of ``y_pred``);
        written into ``out`` when given (``out=y_pred`` works in place)."""
        return call(self.spec, "grad", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "axis": axis,
            "backend": backend, "out": out, "params": params})

    def value_and_grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                       sample_weight: ArrayLike | None = None, axis: int | None = None,
                       backend: Backend = None, out: np.ndarray | None = None,
                       **params: Any) -> tuple[Any, Any]:
        """``(value, grad)`` computed in one pass over the data."""
        return call(self.spec, "value_and_grad", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "axis": axis,
            "backend": backend, "out": out, "params": params})

    def grad_hess(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                  sample_weight: ArrayLike | None = None, axis: int | None = None,
                  backend: Backend = None, **params: Any) -> tuple[Any, Any]:
        """``(grad, hess)``: the gradient and the diagonal of the Hessian of the reduced
        value (with ``mean`` both carry the ``w_i / sum(w)`` factor)."""
        return call(self.spec, "grad_hess", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "axis": axis,
            "backend": backend, "params": params})


class RMSELoss(PointwiseLoss):
    """``sqrt(mean(w * d**2))``: the mse kernels, then a square root (and a rescaled grad)."""

    def grad_hess(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        raise NotImplementedError(f"{self.spec.name} has no grad_hess (no diagonal Hessian)")


class RowwiseLoss(Loss):
    """A loss of one term per row: ``y_pred`` of shape ``(N, C)``."""

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                 sample_weight: ArrayLike | None = None, backend: Backend = None,
                 **params: Any) -> Any:
        return call(self.spec, "value", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "backend": backend,
            "params": params})

    def grad(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
             sample_weight: ArrayLike | None = None, backend: Backend = None,
             out: np.ndarray | None = None, **params: Any) -> Any:
        return call(self.spec, "grad", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "backend": backend,
            "out": out, "params": params})

    def value_and_grad(self, y_true: ArrayLike, y_pred: ArrayLike, *,
                       reduction: Reduction = "mean", sample_weight: ArrayLike | None = None,
                       backend: Backend = None, out: np.ndarray | None = None,
                       **params: Any) -> tuple[Any, Any]:
        return call(self.spec, "value_and_grad", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "backend": backend,
            "out": out, "params": params})

    def grad_hess(self, y_true: ArrayLike, y_pred: ArrayLike, *, reduction: Reduction = "mean",
                  sample_weight: ArrayLike | None = None, backend: Backend = None,
                  **params: Any) -> tuple[Any, Any]:
        return call(self.spec, "grad_hess", (y_true, y_pred), {
            "reduction": reduction, "sample_weight": sample_weight, "backend": backend,
            "params": params})


class MultiLoss(Loss):
    """A loss of several arrays: ``L(*arrays, **opts)``, ``L.grad`` (one gradient per
    differentiable input: a tuple, or one array), ``L.value_and_grad`` (one pass)."""

    # Each loss's subclass shows its arrays by name and its own default reduction
    # (``make_loss``); ``reduction=None`` here means that default.
    # (``kw`` is a new dict on every call: the options go into it)
    def __call__(self, *arrays: ArrayLike, reduction: Reduction | None = None,
                 backend: Backend = None, **kw: Any) -> Any:
        kw["reduction"], kw["backend"] = reduction, backend
        return call(self.spec, "value", arrays, kw)

    def grad(self, *arrays: ArrayLike, reduction: Reduction | None = None,
             backend: Backend = None, out: Any = None, **kw: Any) -> Any:
        kw["reduction"], kw["backend"], kw["out"] = reduction, backend, out
        return call(self.spec, "grad", arrays, kw)

    def value_and_grad(self, *arrays: ArrayLike, reduction: Reduction | None = None,
                       backend: Backend = None, out: Any = None,
                       **kw: Any) -> tuple[Any, Any]:
        kw["reduction"], kw["backend"], kw["out"] = reduction, backend, out
        return call(self.spec, "value_and_grad", arrays, kw)


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
        base = RMSELoss if spec.rmse else PointwiseLoss
    else:
        base = RowwiseLoss if spec.kind == "rowwise" else MultiLoss
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
    obj = OBJECTS[spec.name] = cls(spec)
    return obj
