"""The public loss objects: calls and methods, no maths."""

from __future__ import annotations

import numpy as np

from . import _pointwise


class Loss:
    """Base of every loss object: ``L(...)``, ``L.grad``, ``L.value_and_grad``,
    ``L.grad_hess``. Each loss is an instance of its own subclass, whose docstring
    (``help(fastloss.<name>)``) carries the formula."""

    spec = None

    def __init__(self, spec):
        self.spec = spec
        self.__name__ = spec.name
        self.__doc__ = spec.docstring()

    def __repr__(self) -> str:
        return f"<fastloss loss {self.spec.name}>"

    def __reduce__(self):  # pickles by name (for multiprocessing and Dask)
        return (_by_name, (self.spec.name,))

    def grad_hess(self, *args, **kwargs):
        raise NotImplementedError(f"{self.spec.name} has no grad_hess (no diagonal Hessian)")


def _by_name(name):
    import fastloss

    return getattr(fastloss, name)


class PointwiseLoss(Loss):
    """A loss of one term per element of ``(y_true, y_pred)``."""

    def _dask(self, op, y_true, y_pred, kw):
        from .integrations import dask as fl_dask

        return fl_dask.pointwise(self, op, y_true, y_pred, **kw)

    def __call__(self, y_true, y_pred, *, reduction="mean", sample_weight=None, axis=None,
                 backend=None, **params):
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

    def grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None, axis=None,
             backend=None, out=None, **params):
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

    def value_and_grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                       axis=None, backend=None, out=None, **params):
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

    def grad_hess(self, y_true, y_pred, *, reduction="mean", sample_weight=None, axis=None,
                  backend=None, **params):
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

    def __call__(self, y_true, y_pred, *, reduction="mean", sample_weight=None, axis=None,
                 backend=None, **params):
        pl = self._plan(y_true, y_pred, reduction, sample_weight, axis, params)
        v, _, _ = _pointwise.run(self.spec, pl, backend, want_value=True, want_grad=False)
        if pl.rows and not isinstance(v, np.ndarray):  # per-row values on the device
            from ._kernels import cuda_road

            return cuda_road.rmse_finish(pl, v, None)
        return np.sqrt(v) if pl.rows else float(np.sqrt(v))

    def grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None, axis=None,
             backend=None, out=None, **params):
        return self.value_and_grad(y_true, y_pred, reduction=reduction,
                                   sample_weight=sample_weight, axis=axis, backend=backend,
                                   out=out, **params)[1]

    def value_and_grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                       axis=None, backend=None, out=None, **params):
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
        if pl.rows and g.size:
            g.reshape(-1, pl.n)[...] *= f.reshape(-1, 1)
        elif not pl.rows:
            g *= f
        return (r if pl.rows else float(r)), g


def _is_dask(*arrays) -> bool:
    return any(type(a).__module__.startswith("dask.") for a in arrays)


def make_loss(spec) -> Loss:
    """One object of a subclass named after the loss, so that ``help()`` shows its formula."""
    if spec.kind == "pointwise":
        base = RMSELoss if getattr(spec, "rmse", False) else PointwiseLoss
    else:
        from ._kinds import base_for

        base = base_for(spec)
    cls = type(spec.name, (base,), {"__doc__": spec.docstring(), "__module__": "fastloss"})
    return cls(spec)
