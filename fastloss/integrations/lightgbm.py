"""LightGBM custom objectives from fastloss losses.

>>> import lightgbm as lgb
>>> import fastloss
>>> from fastloss.integrations.lightgbm import objective
>>> obj = objective(fastloss.huber, delta=2.0)
>>> booster = lgb.train({"objective": obj}, lgb.Dataset(X, y))  # doctest: +SKIP
>>> model = lgb.LGBMRegressor(objective=obj).fit(X, y, sample_weight=w)  # doctest: +SKIP

The objective returns, for every sample, the gradient and the Hessian of the loss with
respect to the raw score, multiplied by the sample's weight: LightGBM does not weight the
gradients of a custom objective itself, so the objective reads the weights from the
``Dataset`` (native API) or takes them as its third argument (scikit-learn API) and applies
them inside the fastloss kernel, in the same pass.

* Pointwise losses take scores of shape ``(n,)``. Binary classification on raw scores:
  ``binary_cross_entropy_with_logits``.
* ``cross_entropy`` is the multiclass softmax objective (``num_class`` in the parameters):
  LightGBM >= 4.0 passes scores ``(n, n_classes)``; older versions passed them flat and
  class-major (all samples' class-0 scores first), a layout that is recognised and kept.

Hessian conventions (``hessian=``):

``"exact"``
    The diagonal of the loss's Hessian, as ``loss.grad_hess`` gives it.
``"constant"``
    1 for every sample (times its weight): gradient boosting with unit Newton weights.
``"auto"`` (default)
    What LightGBM's built-in objective for the same loss uses, where it has one, else
    ``"exact"``, except where the exact Hessian vanishes or goes negative while the gradient
    does not (a Newton step would divide by almost nothing): ``"constant"`` for ``mae``,
    ``quantile``, ``huber``, ``smooth_l1``, ``hinge`` and ``focal``, and the secant Hessian
    ``tanh(d) / d`` (a quadratic majorizer's curvature: every step decreases the loss) for
    ``log_cosh``, whose exact Hessian ``sech^2 d`` vanishes for large residuals.

==================================== =========================== ===========================
fastloss loss                        LightGBM built-in           ``"auto"`` Hessian
==================================== =========================== ===========================
``mse``                              ``regression`` (l2)         exact, ``2`` (LightGBM's
                                                                 gradient and Hessian are
                                                                 half fastloss's)
``mae``                              ``regression_l1``           constant
``huber(delta)``                     ``huber(alpha=delta)``      constant, as LightGBM
``quantile(quantile)``               ``quantile(alpha=...)``     constant
``binary_cross_entropy_with_logits`` ``binary``                  exact, ``p(1-p)``
``cross_entropy``                    ``multiclass``              ``K/(K-1) p(1-p)`` for
                                                                 ``K`` classes, as LightGBM
``poisson_nll``                      ``poisson``                 exact, ``exp(p)``
``tweedie``                          ``tweedie``                 exact
==================================== =========================== ===========================

What a custom objective cannot reproduce: LightGBM's ``regression_l1`` and ``quantile``
renew every leaf's output to the weighted median or quantile of its residuals after the
tree is built; with a custom objective the leaves keep their Newton values. ``poisson``
uses ``exp(p + poisson_max_delta_step)`` (0.7 by default) as its Hessian. The built-in
objectives start from the label average (``boost_from_average``); a custom objective
starts from 0 (or ``init_score``). With a custom objective ``LGBMClassifier.predict_proba``
returns raw scores, not probabilities: apply the softmax (or logistic) function yourself.

``min_hessian=m`` floors every Hessian at ``m`` times the sample weight. ``backend=``
selects fastloss's backend per call (``None``: the one in force, except that "auto" runs
serially: LightGBM calls the objective between its own OpenMP regions, as XGBoost does).
"""

from __future__ import annotations

from . import require
from ._boosting import BoostingObjective

__all__ = ["LightGBMObjective", "objective"]

require("lightgbm", "lightgbm", load=False)  # the objective is for lightgbm: say how to get it


def _lightgbm_multiclass_factor(num_class):
    return num_class / (num_class - 1.0)


class LightGBMObjective(BoostingObjective):
    """A fastloss loss as a LightGBM custom objective (see :func:`objective`)."""

    library = "lightgbm"
    flat_layout = "class"

    def _library_hessian(self, name):
        if name == "cross_entropy":  # multiclass: factor * p (1 - p), factor = K / (K - 1)
            return _lightgbm_multiclass_factor, 0.0
        return 1.0, 0.0

    def __call__(self, preds, train_data, weight=None):
        """``obj(preds, train_data)`` for ``lightgbm.train`` (``params["objective"]``), or
        ``obj(y_true, y_pred, weight)`` for the scikit-learn wrappers."""
        return super().__call__(preds, train_data, weight)


def objective(loss, *, hessian="auto", min_hessian=None, backend=None, **params):
    """A LightGBM custom objective from a fastloss loss.

    Parameters
    ----------
    loss : fastloss loss or str
        A pointwise loss (``fastloss.huber``, ``"quantile"``, ...) or ``cross_entropy``.
    hessian : {'auto', 'exact', 'constant'}, default 'auto'
        The Hessian convention (table in the module documentation).
    min_hessian : float, optional
        Floor every Hessian at ``min_hessian`` times the sample weight.
    backend : {None, 'auto', 'serial', 'parallel', 'cuda'}
        fastloss backend of each call (LightGBM's arrays are on the host; results too).
        None: the one in force, "auto" as "serial" (between LightGBM's OpenMP regions).
    **params
        The loss's parameters (``delta``, ``quantile``, ``class_weight``, ...).

    Returns
    -------
    LightGBMObjective
        Callable as ``obj(preds, train_data) -> (grad, hess)`` (``lightgbm.train`` with
        ``params={"objective": obj}``) and as ``obj(y_true, y_pred, weight)``
        (``LGBMRegressor(objective=obj)``); gradients and Hessians come weighted by the
        sample weights, shaped like ``preds``.
    """
    return LightGBMObjective(loss, hessian=hessian, min_hessian=min_hessian, backend=backend,
                             **params)
