"""XGBoost custom objectives from fastloss losses.

>>> import xgboost as xgb
>>> import fastloss
>>> from fastloss.integrations.xgboost import objective
>>> obj = objective(fastloss.huber, delta=2.0)
>>> booster = xgb.train({"tree_method": "hist"}, dtrain, 100, obj=obj)  # doctest: +SKIP
>>> model = xgb.XGBRegressor(objective=obj).fit(X, y, sample_weight=w)  # doctest: +SKIP

The objective returns, for every sample, the gradient and the Hessian of the loss with
respect to the raw score (the margin), multiplied by the sample's weight: XGBoost does not
weight the gradients of a custom objective itself, so the objective reads the weights from
the ``DMatrix`` (native API; read in place, without XGBoost's copies) or takes
``sample_weight`` (scikit-learn API) and applies them inside the fastloss kernel, in the same
pass (or, for a floored or secant Hessian, in one pass over the derivatives after it).

* Pointwise losses (``mse``, ``mae``, ``huber``, ``smooth_l1``, ``log_cosh``, ``quantile``,
  ``poisson_nll``, ``tweedie``, ``binary_cross_entropy_with_logits``, ``focal``, ``hinge``,
  ``squared_hinge``) take ``y_pred`` of shape ``(n,)``, or ``(n, n_targets)`` for
  multi-output regression. Binary classification on margins:
  ``binary_cross_entropy_with_logits`` (``binary_cross_entropy`` wants probabilities, which
  raw scores are not: it is refused when the objective is made).
* ``cross_entropy`` is the multiclass softmax objective: scores ``(n, n_classes)``
  (``num_class`` in the parameters), labels ``0 .. n_classes - 1``. XGBoost before 2.1
  passed the scores flat, row by row; that layout is recognised and kept.

Hessian conventions (``hessian=``):

``"exact"``
    The diagonal of the loss's Hessian, as ``loss.grad_hess`` gives it.
``"constant"``
    1 for every sample (times its weight): gradient boosting with unit Newton weights.
``"auto"`` (default)
    What XGBoost's built-in objective for the same loss uses, where it has one, else
    ``"exact"``, except where the exact Hessian vanishes or goes negative while the gradient
    does not (a Newton step would divide by almost nothing): ``"constant"`` for ``mae``,
    ``quantile``, ``huber``, ``smooth_l1``, ``hinge`` and ``focal``, and the secant Hessian
    ``tanh(d) / d`` (a quadratic majorizer's curvature: every step decreases the loss) for
    ``log_cosh``, whose exact Hessian ``sech^2 d`` vanishes for large residuals.

==================================== =========================== ===========================
fastloss loss                        XGBoost built-in            ``"auto"`` Hessian
==================================== =========================== ===========================
``mse``                              ``reg:squarederror``        exact, ``2`` (XGBoost's
                                                                 loss is ``d**2 / 2``:
                                                                 gradient and Hessian are
                                                                 half fastloss's)
``binary_cross_entropy_with_logits`` ``binary:logistic``         ``max(p(1-p), 1e-16)``, as
                                                                 XGBoost
``cross_entropy``                    ``multi:softprob``          ``max(2 p(1-p), 1e-16)``,
                                                                 as XGBoost
``mae``                              ``reg:absoluteerror``       constant
``quantile``                         ``reg:quantileerror``       constant
``poisson_nll``                      ``count:poisson``           exact, ``exp(p)``
``tweedie``                          ``reg:tweedie``             exact
==================================== =========================== ===========================

What a custom objective cannot reproduce: XGBoost's absolute-error and quantile objectives
(1.7 to 3.2) also refit every leaf to the weighted median or quantile of its residuals
after the tree is built; with a custom objective the leaves keep their Newton values
(``-sum(g) / (sum(h) + lambda)``), so predictions differ from the built-in ones.
``count:poisson`` (<= 3.2) uses ``exp(p + max_delta_step)`` as its Hessian (set
``max_delta_step=0`` for the exact one). Boosting ``mse`` with ``reg_lambda > 0`` regularises
half as strongly as ``reg:squarederror`` does, since fastloss's gradients are twice as large.
``base_score`` with a custom objective: ``xgboost.train`` and ``XGBRegressor`` use it as the
starting raw score as given (``0.0`` for logits); ``XGBClassifier`` reads it as a
probability (``0.5`` is a raw score of 0; ``0.0`` would start every sample at 1e-6).

``min_hessian=m`` floors every Hessian at ``m`` times the sample weight (useful for
``poisson_nll`` with large negative scores). ``backend=`` selects fastloss's backend per
call. ``None``: the backend in force (``fastloss.set_backend``), except that "auto" runs the
host kernels serially: XGBoost calls the objective between its own OpenMP regions, whose
threads still spin on the cores, and a parallel kernel there was no faster at 1e6 rows and
slower at 1e5. CUDA arrays still go to the GPU.

CUDA: when XGBoost hands the objective CUDA arrays (on ``device="cuda"`` the labels of a
``DMatrix`` built from device data come as CuPy arrays), the gradients are computed by
fastloss's CUDA kernels and returned as CUDA arrays (Numba device arrays), which XGBoost
(>= 2.1) takes without a copy back to the host; the scores XGBoost passes from the host are
copied over. With host arrays only, ``backend="cuda"`` runs the kernels on the GPU and gives
host arrays back.
"""

from __future__ import annotations

import ctypes
import json
import math

import numpy as np

from . import require
from ._boosting import XGB_EPS, BoostingObjective

__all__ = ["XGBoostObjective", "objective"]

require("xgboost", "xgboost", load=False)  # the objective is for xgboost: say how to get it


class XGBoostObjective(BoostingObjective):
    """A fastloss loss as an XGBoost custom objective (see :func:`objective`)."""

    library = "xgboost"
    flat_layout = "row"

    def _library_hessian(self, name):
        if name == "cross_entropy":  # multi:softprob: max(2 p (1 - p), eps)
            return 2.0, XGB_EPS
        if name == "binary_cross_entropy_with_logits":  # binary:logistic: max(p(1-p), eps)
            return 1.0, XGB_EPS
        return 1.0, 0.0

    def _labels_and_weights(self, data):
        return _info(data, "label"), _info(data, "weight")

    def __call__(self, predt, dtrain, sample_weight=None):
        """``obj(predt, dtrain)`` for ``xgboost.train(obj=...)``, or
        ``obj(y_true, y_pred, sample_weight=None)`` for the scikit-learn wrappers."""
        return super().__call__(predt, dtrain, sample_weight)


class _Buffer:
    """An ``__array_interface__`` holder: NumPy wraps its memory without a copy."""

    __slots__ = ("__array_interface__",)

    def __init__(self, iface):
        self.__array_interface__ = iface


def _info(dmatrix, field: str):
    """A float field of a ``DMatrix`` (``"label"``, ``"weight"``) as a read-only view of
    XGBoost's own host buffer, in 4 us: ``get_label()`` and ``get_weight()`` copy it and
    build a class per call (19 us each at 1e5 rows, half the objective's time). Device
    data, or an XGBoost without this C function: the copy, as XGBoost gives it."""
    try:
        from xgboost.core import _LIB, _check_call, c_str

        get_ref = _LIB.XGDMatrixGetInfoRef
        handle = dmatrix.handle
    except (ImportError, AttributeError):
        return dmatrix.get_float_info(field)
    ref = ctypes.c_char_p()
    _check_call(get_ref(handle, c_str(field), ctypes.byref(ref)))
    iface = json.loads(ref.value) if ref.value else None
    if (not isinstance(iface, dict) or "stream" in iface
            or not isinstance(iface.get("data"), list)):
        return dmatrix.get_float_info(field)
    shape = tuple(iface["shape"])
    if math.prod(shape) == 0:
        return np.empty(shape, np.dtype(iface["typestr"]))
    view = {"shape": shape, "typestr": iface["typestr"], "data": (iface["data"][0], True),
            "version": 3}
    if iface.get("strides") is not None:
        view["strides"] = tuple(iface["strides"])
    return np.asarray(_Buffer(view))  # read-only: XGBoost's memory, the kernels only read it


def objective(loss, *, hessian="auto", min_hessian=None, backend=None, **params):
    """An XGBoost custom objective from a fastloss loss.

    Parameters
    ----------
    loss : fastloss loss or str
        A pointwise loss (``fastloss.huber``, ``"quantile"``, ...) or ``cross_entropy``.
    hessian : {'auto', 'exact', 'constant'}, default 'auto'
        The Hessian convention (table in the module documentation).
    min_hessian : float, optional
        Floor every Hessian at ``min_hessian`` times the sample weight.
    backend : {None, 'auto', 'serial', 'parallel', 'cuda'}
        fastloss backend of each call (None: the one in force, "auto" as "serial" on the
        host).
    **params
        The loss's parameters (``delta``, ``quantile``, ``class_weight``, ...).

    Returns
    -------
    XGBoostObjective
        Callable as ``obj(predt, dtrain) -> (grad, hess)`` (``xgboost.train(obj=obj)``) and
        as ``obj(y_true, y_pred, sample_weight=None)`` (``XGBRegressor(objective=obj)``);
        gradients and Hessians come weighted by the sample weights, shaped like ``predt``.
    """
    return XGBoostObjective(loss, hessian=hessian, min_hessian=min_hessian, backend=backend,
                            **params)
