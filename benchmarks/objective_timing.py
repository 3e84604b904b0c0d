"""Issue 8's example timing: a custom boosting objective written in plain NumPy against
fastloss's, for 1e6 rows, as the objective's own time per boosting round.

Two measurements, NumPy and fastloss interleaved in the same run:

1. the objective alone, called as XGBoost calls it (``obj(predt, dtrain)``: float32 scores,
   labels and weights read from a 1e6-row ``DMatrix``), median of repeats;
2. inside real training (``xgboost.train`` on 1e6 rows x 8 features): the time spent in the
   objective per boosting round, measured by a wrapper around it.

Both objectives compute the same thing (checked before timing): per-sample weighted
gradients and fastloss's "auto" Hessian convention.

    python benchmarks/objective_timing.py [--rows 1000000] [--rounds 5] [--no-train]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import xgboost as xgb

import fastloss
from fastloss.integrations.xgboost import objective


def numpy_objectives():
    """Plain NumPy objectives, written the usual vectorised way (weights applied)."""

    def mse(predt, dtrain):
        y, w = dtrain.get_label(), dtrain.get_weight()
        d = predt - y
        return 2.0 * d * w, 2.0 * w

    def huber(predt, dtrain, delta=1.0):  # constant Hessian, as fastloss's "auto"
        y, w = dtrain.get_label(), dtrain.get_weight()
        return np.clip(predt - y, -delta, delta) * w, w.copy()

    def log_cosh(predt, dtrain):  # secant Hessian tanh(d) / d, as fastloss's "auto"
        y, w = dtrain.get_label(), dtrain.get_weight()
        d = predt - y
        t = np.tanh(d)
        return t * w, np.divide(t, d, out=np.ones_like(t), where=d != 0) * w

    def poisson_nll(predt, dtrain):
        y, w = dtrain.get_label(), dtrain.get_weight()
        e = np.exp(predt)
        return (e - y) * w, e * w

    out = {"mse": mse, "huber": huber, "log_cosh": log_cosh, "poisson_nll": poisson_nll}
    if "binary_cross_entropy_with_logits" in fastloss.REGISTRY:

        def logistic(predt, dtrain):  # binary:logistic's convention
            y, w = dtrain.get_label(), dtrain.get_weight()
            p = 1.0 / (1.0 + np.exp(-predt))
            return (p - y) * w, np.maximum(p * (1.0 - p), 1e-16) * w

        out["binary_cross_entropy_with_logits"] = logistic
    return out


def labels_for(name, rng, n):
    if name == "poisson_nll":
        return rng.poisson(2.0, n).astype(np.float32)
    if name == "binary_cross_entropy_with_logits":
        return (rng.random(n) < 0.3).astype(np.float32)
    return rng.standard_normal(n).astype(np.float32)


def timed(fn, *args, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        ts.append(time.perf_counter() - t0)
    return ts


class Timer:
    """Wraps an objective; records the seconds of each call."""

    def __init__(self, obj):
        self.obj, self.times = obj, []

    def __call__(self, predt, dtrain):
        t0 = time.perf_counter()
        r = self.obj(predt, dtrain)
        self.times.append(time.perf_counter() - t0)
        return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-train", action="store_true")
    args = ap.parse_args()
    n = args.rows
    rng = np.random.default_rng(0)
    predt = (0.5 * rng.standard_normal(n)).astype(np.float32)
    w = (rng.random(n) + 0.5).astype(np.float32)
    info = fastloss.info()
    print(f"rows={n}  fastloss {info['fastloss']}  xgboost {xgb.__version__}  numba "
          f"{info['numba']}  threads={info['num_threads']}  layer={info['threading_layer']}")
    print("\n1. the objective alone, obj(predt, dtrain), float32, weighted: ms per call, "
          f"median (min) of {args.repeats}, NumPy and fastloss interleaved")
    print(f"{'loss':34s} {'NumPy':>15s} {'fastloss auto':>15s} {'fastloss serial':>15s} "
          f"{'speed-up':>9s}")
    refs = numpy_objectives()
    for name, np_obj in refs.items():
        y = labels_for(name, rng, n)
        d = xgb.DMatrix(predt[:, None], label=y, weight=w)
        fl_obj = objective(name)
        fl_serial = objective(name, backend="serial")
        g0, h0 = np_obj(predt, d)
        for obj in (fl_obj, fl_serial):  # the same work, and compiled before timing
            g1, h1 = obj(predt, d)
            np.testing.assert_allclose(g1, g0, rtol=2e-5, atol=1e-6)
            np.testing.assert_allclose(h1, h0, rtol=2e-5, atol=1e-6)
        t_np, t_fl, t_se = [], [], []
        for _ in range(args.repeats):  # interleaved
            t_np += timed(np_obj, predt, d, repeats=1)
            t_fl += timed(fl_obj, predt, d, repeats=1)
            t_se += timed(fl_serial, predt, d, repeats=1)
        m_np, m_fl, m_se = (1e3 * statistics.median(t) for t in (t_np, t_fl, t_se))
        b_np, b_fl, b_se = (1e3 * min(t) for t in (t_np, t_fl, t_se))
        print(f"{name:34s} {m_np:7.2f} ({b_np:5.2f}) {m_fl:7.2f} ({b_fl:5.2f}) "
              f"{m_se:7.2f} ({b_se:5.2f}) {m_np / m_fl:8.2f}x")

    if args.no_train:
        return
    print(f"\n2. inside xgboost.train ({n} rows x 8 features, hist, depth 6, {args.rounds} "
          "rounds): ms per round in the objective (median), and the round's total")
    X = rng.standard_normal((n, 8)).astype(np.float32)
    for name in ("huber", "log_cosh"):
        y = (X[:, 0] + np.sin(X[:, 1]) + 0.3 * rng.standard_normal(n)).astype(np.float32)
        d = xgb.DMatrix(X, label=y, weight=w)
        params = {"tree_method": "hist", "max_depth": 6, "base_score": 0.0, "nthread": 2}
        xgb.train(params, d, 1)  # builds the histogram index once, outside the timings
        rows = []
        pair = [("NumPy", refs[name]), ("fastloss", objective(name))]
        if name == "log_cosh":
            pair.reverse()  # alternate which one trains first
        for label, obj in pair:
            timer = Timer(obj)
            t0 = time.perf_counter()
            xgb.train(params, d, args.rounds, obj=timer)
            total = (time.perf_counter() - t0) / args.rounds
            rows.append((label, 1e3 * statistics.median(timer.times), 1e3 * total))
        for label, m, total in rows:
            print(f"{name:10s} {label:9s} objective {m:8.2f} ms/round   round total "
                  f"{total:8.1f} ms ({100 * m / total:4.1f}% in the objective)")


if __name__ == "__main__":
    main()
