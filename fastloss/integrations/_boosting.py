"""What the XGBoost and LightGBM objectives share: per-sample gradients and Hessians of a
fastloss loss, with a choice of Hessian convention."""

from __future__ import annotations

import numpy as np
from numba import prange

from .. import _arrays as A
from .._backend import get_backend

HESSIANS = ("auto", "exact", "constant")

# Losses whose exact Hessian is 0 wherever (or, for huber and smooth_l1, far from the
# target where) the gradient is not: a Newton step there divides by (nearly) nothing.
# "auto" gives them a constant Hessian, as XGBoost and LightGBM do for their own
# absolute-error, quantile (and, in LightGBM, Huber) objectives.
# focal joins them: its exact Hessian is negative for confidently wrong scores, where the
# gradient tends to a constant.
FLAT_HESSIAN = frozenset({"mae", "quantile", "huber", "smooth_l1", "hinge", "focal"})

# Losses whose exact Hessian vanishes for large residuals while the gradient does not
# (log_cosh: sech^2 d -> 0, tanh d -> +-1; a Newton step there divides by almost nothing and
# the booster diverges). "auto" gives them the secant Hessian l'(d) / d (tanh(d) / d for
# log_cosh): the curvature of the quadratic that touches the loss at d and lies above it
# everywhere (the loss is even with l'(d)/d decreasing), so each Newton step decreases the
# loss (the iteratively reweighted least squares step of robust regression). It is
# positive, equals the exact Hessian at d = 0, and a one-sample step is the full residual.
SECANT_HESSIAN = frozenset({"log_cosh"})

# XGBoost floors the Hessians of binary:logistic and multi:softprob at 1e-16.
XGB_EPS = 1e-16


def resolve_any_loss(loss):
    """A fastloss loss object from the object or its name."""
    import fastloss

    if isinstance(loss, str):
        if loss not in fastloss.REGISTRY:
            from .._spec import unknown_loss

            raise ValueError(f"loss: {unknown_loss(loss)}")
        loss = getattr(fastloss, loss)
    if not isinstance(loss, fastloss.Loss):
        raise TypeError(f"loss must be a fastloss loss or its name, got {loss!r}")
    return loss


def resolve_loss(loss):
    """A fastloss loss object from the object or its name; ValueError when the loss has
    no per-sample Hessian (it cannot drive Newton boosting)."""
    loss = resolve_any_loss(loss)
    spec = loss.spec
    if spec.boosting_hint:
        raise ValueError(f"loss: {spec.name} {spec.boosting_hint}")
    if not (spec.has_hess and spec.boosting):
        raise ValueError(
            f"loss: {spec.name} has no per-sample gradient and Hessian; boosting objectives "
            f"take a pointwise loss (mse, huber, quantile, ...) or cross_entropy"
        )
    return loss


class BoostingObjective:
    """A custom objective: per-sample gradient and Hessian of ``loss`` at the raw scores.

    Call it the way the library calls a custom objective: ``obj(preds, data)`` with the
    library's training data object (labels and weights read from it), or
    ``obj(y_true, y_pred, sample_weight)`` as the scikit-learn wrappers do.
    """

    library = ""

    def __init__(self, loss, *, hessian="auto", min_hessian=None, backend=None, **params):
        from .._spec import check_params

        self.loss = resolve_loss(loss)
        spec = self.loss.spec
        if not isinstance(hessian, str) or hessian not in HESSIANS:
            raise ValueError(f"hessian must be one of {HESSIANS}, got {hessian!r}")
        self.hessian = hessian
        self.min_hessian = None
        if min_hessian is not None:
            m = A.check_finite_scalar(min_hessian, "min_hessian")
            if m < 0:
                raise ValueError(f"min_hessian must be >= 0, got {min_hessian!r}")
            self.min_hessian = m
        self.backend = backend
        if backend is not None:
            from .._backend import _check_name

            _check_name(backend)
        given = check_params(spec.name, spec.params, params)
        for p in spec.params:  # domains checked now, not in the first round
            v = given[p.name]
            if v is None:
                continue
            if p.kind == "array":  # one entry per class: the count is checked per call
                _check_array_param(v, p.name)
            elif p.kind != "float_or_array" or np.ndim(v) == 0:
                p.check(v)
        self.params = params
        self.multiclass = spec.boosting == "multiclass"
        self.mode, self.factor, self.floor = self._convention()

    # -- conventions

    def _convention(self):
        """(mode, Hessian factor, Hessian floor per unit weight) for this library."""
        name = self.loss.spec.name
        mode, factor, floor = self.hessian, 1.0, 0.0
        if mode == "auto":
            mode = ("constant" if name in FLAT_HESSIAN
                    else "secant" if name in SECANT_HESSIAN else "exact")
            factor, floor = self._library_hessian(name)
        if self.min_hessian is not None:
            floor = max(floor, self.min_hessian)
        return mode, factor, floor

    def _library_hessian(self, name):
        """(factor, floor) of the library's own objective for this loss; the factor may be
        a function of the number of classes. Overridden per library."""
        return 1.0, 0.0

    # -- the call

    def __repr__(self):
        opts = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return (f"<fastloss {self.library} objective {self.loss.spec.name}{opts}, "
                f"hessian={self.hessian!r}>")

    def __call__(self, a, b, sample_weight=None):
        if hasattr(b, "get_label"):  # the native API: (preds, training data)
            preds, data = a, b
            labels, weights = self._labels_and_weights(data)
            if weights is not None and np.size(weights) == 0:
                weights = None
        else:  # the scikit-learn wrappers: (y_true, y_pred, sample_weight)
            labels, preds, weights = a, b, sample_weight
        return self.gradient_hessian(labels, preds, weights)

    def _labels_and_weights(self, data):
        """The labels and weights of the library's training data (read for this call only:
        they may be views of the library's own buffers)."""
        return data.get_label(), data.get_weight()

    def gradient_hessian(self, y_true, y_pred, sample_weight=None):
        """Per-sample ``(grad, hess)`` of the loss at the raw scores ``y_pred``, each
        multiplied by the sample's weight, in ``y_pred``'s layout."""
        if A.is_device_array(y_pred) or A.is_device_array(y_true):
            if self.mode == "secant":  # computed on the host (small: one array per round)
                y_true, y_pred, sample_weight = map(A.on_host, (y_true, y_pred, sample_weight))
            else:
                from . import _device

                return _device.gradient_hessian(self, y_true, y_pred, sample_weight)
        preds = np.asarray(y_pred)
        labels = np.asarray(y_true)
        w = None if sample_weight is None else np.asarray(sample_weight)
        preds2, restore = self._layout(preds, labels)
        y = self._targets(labels, preds2)
        g, h = self._compute(y, preds2, w)
        return restore(g), restore(h)

    def _targets(self, labels, preds):
        if self.multiclass:  # float labels (XGBoost, LightGBM) are checked and cast there
            return labels.reshape(-1)
        if labels.size == preds.size and labels.shape != preds.shape:
            return labels.reshape(preds.shape)  # multi-output: labels come flat
        return labels

    #: how an old-style flat multiclass score vector is laid out: "row" ((N, C) in C
    #: order: XGBoost < 2.1) or "class" (class-major, all samples of class 0 first:
    #: LightGBM < 4.0)
    flat_layout = "row"

    def _layout(self, preds, labels):
        """Scores as the loss takes them, and how to give gradients back in the caller's
        layout: multiclass scores come as (N, C), or flat from older library versions."""
        if not self.multiclass or preds.ndim == 2:
            if self.multiclass and preds.shape[0] != np.size(labels):
                raise ValueError(f"y_pred has {preds.shape[0]} rows for {np.size(labels)} "
                                 f"labels")
            return preds, _same
        n = np.size(labels)
        if preds.ndim != 1 or n == 0 or preds.size % n or preds.size // n < 2:
            raise ValueError(
                f"y_pred: multiclass scores must be (n_samples, n_classes) or a flat vector "
                f"of n_samples * n_classes; got shape {preds.shape} for {n} labels"
            )
        c = preds.size // n
        if self.flat_layout == "class":
            return preds.reshape(c, n).T, _class_major
        return preds.reshape(n, c), _flat

    def _compute(self, y, p, w):
        # one score per sample, a plain convention: the weights go into the loss's own pass
        # (checked there, read as they are). Otherwise computed unweighted in the scores'
        # precision; the weights then go in, checked, in one pass over (g, h) that reads
        # each weight once (no converted copy)
        backend = self.backend
        if backend is None and get_backend() == "auto":
            # the booster calls the objective between its own OpenMP regions, whose threads
            # still spin on the cores: a parallel kernel there ran no faster than a serial one
            # at 1e6 rows and 1.4x slower at 1e5 (xgboost.train, 2 cores)
            backend = "serial"
        kw = dict(reduction="sum", backend=backend, **self.params)
        if w is not None:
            w = _as_weights(w, p.shape[0])
            if (p.ndim == 1 and not self.multiclass and self.floor == 0.0
                    and self.factor == 1.0 and self.mode in ("exact", "constant")):
                if self.mode == "exact":
                    return self.loss.grad_hess(y, p, sample_weight=w, **kw)
                g = self.loss.grad(y, p, sample_weight=w, **kw)
                return g, w.astype(g.dtype)  # (a copy: the caller may write it)
        if self.mode == "constant":
            g = self.loss.grad(y, p, **kw)
            h = np.ones_like(g) if w is None else np.empty_like(g)
        elif self.mode == "secant":  # h = l'(d) / d, its limit l''(0) = 1 at d = 0
            g = self.loss.grad(y, p, **kw)
            yd, pd = np.asarray(y, dtype=g.dtype), np.asarray(p, dtype=g.dtype)
            if w is not None:  # h computed in the weights' pass
                h = np.empty_like(g)
                _weigh(g, h, w, "secant", self.floor, backend, yd, pd)
                return g, h
            h = np.divide(g, pd - yd, out=np.ones_like(g), where=pd != yd)
        else:
            g, h = self.loss.grad_hess(y, p, **kw)
            factor = self.factor(p.shape[-1]) if callable(self.factor) else self.factor
            if factor != 1.0:
                h *= factor
        if w is not None:
            _weigh(g, h, w, self.mode, self.floor, backend)
        elif self.floor > 0.0:
            np.maximum(h, self.floor, out=h)
        return g, h


def _as_weights(w, n):
    """Float weights as given (no copy when contiguous), one per sample; other kinds
    (integers, lists) checked and converted to float64 now. Float ones are checked in
    :func:`_weigh`'s pass."""
    a = np.asarray(w)
    if a.dtype in (np.float32, np.float64) and a.ndim == 1 and a.shape[0] == n:
        return np.ascontiguousarray(a)
    return A.check_weights(w, n)


def _make_weigh(parallel, mode, use_floor, flat):
    # the options are closure constants: each variant compiles to its own loop (a select
    # on them would keep LLVM from vectorising), and caches apart
    PAR, FLOOR, FLAT = parallel, use_floor, flat
    CONST, SECANT = mode == "constant", mode == "secant"

    def weigh(g, h, w, floor, inf, y, p, out):
        # g, h: 1-D with FLAT (one score per sample: a loop over the elements, which
        # vectorises), else one row per sample; y, p: the secant's targets and scores;
        # out[0]: weights NaN, negative or inf
        PAR, FLAT  # noqa: B018
        bad = 0
        for i in prange(w.shape[0]):
            wi = w[i]
            bad += not (wi >= 0.0 and wi < inf)  # inf: w's dtype, no conversion
            if FLAT:
                gi = g[i]
                if CONST:
                    hi = wi
                elif SECANT:
                    d = p[i] - y[i]
                    hi = (gi / d if d != 0.0 else 1.0) * wi
                else:
                    hi = h[i] * wi
                if FLOOR:
                    fw = floor * wi
                    hi = fw if fw > hi else hi  # NaN stays NaN
                g[i] = gi * wi
                h[i] = hi
            else:
                for j in range(g.shape[1]):
                    gi = g[i, j]
                    if CONST:
                        hi = wi
                    elif SECANT:
                        d = p[i, j] - y[i, j]
                        hi = (gi / d if d != 0.0 else 1.0) * wi
                    else:
                        hi = h[i, j] * wi
                    if FLOOR:
                        fw = floor * wi
                        hi = fw if fw > hi else hi
                    g[i, j] = gi * wi
                    h[i, j] = hi
        out[0] = bad

    from .._kernels.compile import njit

    return njit(weigh, parallel=parallel)


_weigh_kernels: dict = {}


def _weigh(g, h, w, mode, floor, backend, y=None, p=None):
    """In place, one weight per row of ``g`` and ``h``, in one pass: ``g *= w``, and ``h``
    times ``w``: ``h`` as given (``mode`` "exact"), 1 ("constant") or the secant
    ``g / (p - y)`` (1 where ``p = y``; "secant", ``h`` only written), then
    ``h = max(h, floor * w)``; ValueError (naming ``sample_weight``) when a weight is not
    finite or negative."""
    from .._backend import resolve

    rows = w.shape[0]
    cols = g.size // rows if rows else 1
    mode = mode if mode in ("constant", "secant") else "exact"
    key = (resolve(backend, g.size) == "parallel", mode, floor > 0.0, cols == 1)
    k = _weigh_kernels.get(key)
    if k is None:
        k = _weigh_kernels[key] = _make_weigh(*key)
    bad = np.zeros(1, np.int64)
    shape = (rows,) if cols == 1 else (rows, cols)
    if y is None:
        y = p = g
    k(g.reshape(shape), h.reshape(shape), w, h.dtype.type(floor), w.dtype.type(np.inf),
      y.reshape(shape), p.reshape(shape), bad)
    if bad[0]:
        if not np.all(np.isfinite(w)):
            raise ValueError("sample_weight must be finite")
        raise ValueError("sample_weight must be non-negative")


def _check_array_param(v, name: str) -> None:
    """A 1-D array of finite, non-negative reals (such as ``class_weight``)."""
    a = A.as_array(v, name)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    if np.any(a < 0):
        raise ValueError(f"{name} must be non-negative")


def _same(x):
    return x


def _flat(x):
    return x.reshape(-1)


def _class_major(x):
    return np.ascontiguousarray(x.T).reshape(-1)
