"""fastloss losses as scikit-learn scorers, against scikit-learn's own scorers."""

import pickle

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import get_scorer, mean_pinball_loss
from sklearn.metrics import make_scorer as sk_make_scorer
from sklearn.model_selection import cross_val_score

import fastloss
from fastloss.integrations.sklearn import make_scorer

RNG = np.random.default_rng(3)
X = RNG.standard_normal((120, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + RNG.standard_normal(120)
W = RNG.random(120)
MODEL = LinearRegression().fit(X[:80], Y[:80])


def test_mse_scorer_matches_neg_mean_squared_error():
    ours = make_scorer(fastloss.mse)
    ref = get_scorer("neg_mean_squared_error")
    np.testing.assert_allclose(ours(MODEL, X, Y), ref(MODEL, X, Y), rtol=1e-12)
    np.testing.assert_allclose(ours(MODEL, X, Y, sample_weight=W),
                               ref(MODEL, X, Y, sample_weight=W), rtol=1e-12)
    np.testing.assert_allclose(cross_val_score(LinearRegression(), X, Y, scoring=ours, cv=3),
                               cross_val_score(LinearRegression(), X, Y, scoring=ref, cv=3),
                               rtol=1e-12)


def test_quantile_scorer_matches_pinball_and_pickles():
    ours = pickle.loads(pickle.dumps(make_scorer("quantile", quantile=0.9)))
    ref = sk_make_scorer(mean_pinball_loss, alpha=0.9, greater_is_better=False)
    np.testing.assert_allclose(ours(MODEL, X, Y, sample_weight=W),
                               ref(MODEL, X, Y, sample_weight=W), rtol=1e-12)


def test_errors():
    with pytest.raises(TypeError, match="unknown parameter"):
        make_scorer(fastloss.huber, alpha=1.0)
    with pytest.raises(ValueError, match="unknown fastloss loss"):
        make_scorer("l2")
