"""scikit-learn scorers from fastloss losses.

>>> from sklearn.model_selection import cross_val_score
>>> import fastloss
>>> from fastloss.integrations.sklearn import make_scorer
>>> scorer = make_scorer(fastloss.huber, delta=2.0)
>>> cross_val_score(model, X, y, scoring=scorer)  # doctest: +SKIP

A loss is better when smaller, so the scorer returns ``-loss`` (scikit-learn maximises
scores), like ``"neg_mean_squared_error"``; ``sample_weight`` given to the scorer (or routed
to it) reaches the loss.
"""

from __future__ import annotations

__all__ = ["make_scorer"]


class _LossScore:
    """``score(y_true, y_pred, sample_weight=None) = loss(y_true, y_pred, ...)``: a
    picklable function for ``sklearn.metrics.make_scorer``."""

    def __init__(self, loss, params):
        self.loss, self.params = loss, params
        self.__name__ = loss.spec.name

    def __call__(self, y_true, y_pred, sample_weight=None):
        return float(self.loss(y_true, y_pred, sample_weight=sample_weight, **self.params))


def make_scorer(loss, *, response_method="predict", greater_is_better=False, **params):
    """A scikit-learn scorer computing ``loss`` on an estimator's predictions.

    Parameters
    ----------
    loss : fastloss loss or str
        A loss taking ``(y_true, y_pred)`` and giving a float (pointwise losses,
        ``cross_entropy`` on logits, ``log_loss`` on probabilities, ...).
    response_method : str, default 'predict'
        Which estimator method makes ``y_pred``: ``"predict"`` (regression),
        ``"decision_function"`` (logits: ``binary_cross_entropy_with_logits``, ``hinge``,
        ``cross_entropy``) or ``"predict_proba"`` (probabilities: ``binary_cross_entropy``,
        ``log_loss``).
    greater_is_better : bool, default False
        False (a loss): the scorer returns ``-loss``.
    **params
        The loss's parameters (``delta``, ``quantile``, ...).

    Returns
    -------
    scorer
        ``scorer(estimator, X, y, sample_weight=None)``, usable as ``scoring=`` anywhere.
    """
    from sklearn.metrics import make_scorer as sk_make_scorer

    from ._boosting import resolve_any_loss

    loss = resolve_any_loss(loss)
    from .._spec import check_params

    check_params(loss.spec.name, loss.spec.params, params)
    return sk_make_scorer(_LossScore(loss, params), response_method=response_method,
                          greater_is_better=greater_is_better)
