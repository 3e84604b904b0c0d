"""Sparse logistic regression by proximal gradient descent (FISTA), in pure NumPy.

    python examples/l1_logistic_regression.py

Minimises ``mean_i logloss(y_i, x_i . w) + lam * ||w||_1`` on synthetic data whose true
weights have 6 non-zeros out of 60. Each iteration takes the gradient of the smooth part
from fastloss (the logistic loss's gradient with respect to the logits, then ``X.T @ g``)
and applies the proximal operator of the L1 penalty, ``fastloss.prox_l1`` (soft
thresholding, in place). The weights that come out are exactly sparse: soft thresholding
sets them to 0.0, not to something small. If scikit-learn is installed, its L1 logistic
regression (same objective, ``C = 1 / (n * lam)``) is fitted for comparison.
"""

from __future__ import annotations

import numpy as np

import fastloss


def logistic_value_and_grad(z, y):
    """Mean logistic loss of the logits ``z`` for labels ``y`` in {0, 1}, and its gradient
    with respect to ``z``, in one pass."""
    return fastloss.binary_cross_entropy_with_logits.value_and_grad(y, z)


def objective(X, y, w, lam):
    return logistic_value_and_grad(X @ w, y)[0] + lam * fastloss.l1_penalty(w)


def fista(X, y, lam, iters=500):
    n, p = X.shape
    step = 4.0 * n / np.linalg.norm(X, 2) ** 2  # 1 / Lipschitz constant of the smooth part
    w = np.zeros(p)
    v = w.copy()
    t = 1.0
    for _ in range(iters):
        _, g = logistic_value_and_grad(X @ v, y)
        w_new = v - step * (X.T @ g)
        fastloss.prox_l1(w_new, step * lam, out=w_new)  # soft thresholding, in place
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        v = w_new + ((t - 1.0) / t_new) * (w_new - w)
        w, t = w_new, t_new
    return w


def main():
    rng = np.random.default_rng(0)
    n, p, k = 400, 60, 6
    X = rng.standard_normal((n, p))
    w_true = np.zeros(p)
    support = rng.choice(p, k, replace=False)
    w_true[support] = rng.choice([-1.0, 1.0], k) * rng.uniform(1.0, 2.0, k)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-X @ w_true))).astype(np.float64)
    lam = 0.05

    w = fista(X, y, lam)
    zeros = int(np.sum(w == 0.0))
    found = set(np.flatnonzero(w)) >= set(support)
    acc = float(np.mean((X @ w > 0) == (y == 1)))
    print(f"FISTA, 500 iterations, lambda={lam}: objective {objective(X, y, w, lam):.6f}")
    print(f"exact zeros: {zeros} of {p} weights (true model: {p - k} zeros); "
          f"true support recovered: {found}; training accuracy {acc:.3f}")
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return
    import sklearn

    # scikit-learn >= 1.8 selects the L1 penalty with l1_ratio=1 (penalty= is deprecated)
    l1 = ({"l1_ratio": 1.0} if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 8)
          else {"penalty": "l1"})
    clf = LogisticRegression(C=1.0 / (n * lam), solver="liblinear", fit_intercept=False,
                             tol=1e-10, max_iter=10_000, **l1).fit(X, y)
    w_sk = clf.coef_.ravel()
    print(f"scikit-learn liblinear: objective {objective(X, y, w_sk, lam):.6f}, "
          f"exact zeros: {int(np.sum(w_sk == 0.0))}, "
          f"max |w - w_sklearn| = {np.abs(w - w_sk).max():.2e}")


if __name__ == "__main__":
    main()
