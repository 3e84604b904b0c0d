"""GPU check of the XGBoost objective's device path (run on a machine with a CUDA GPU).

1. ``device="cuda"`` training with fastloss's objective against ``reg:squarederror`` and
   ``multi:softprob`` (same predictions within float32 rounding), reporting which arrays
   the objective received and returned (NumPy or CUDA).
2. With CuPy installed: a ``DMatrix`` built from device arrays, so that XGBoost hands the
   objective CuPy labels and the gradients stay on the GPU.
3. The objective's time per call for 1e6 rows, host NumPy objective against fastloss.

    python benchmarks/xgboost_gpu_check.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import xgboost as xgb

import fastloss
from fastloss.integrations.xgboost import objective


class Spy:
    def __init__(self, obj):
        self.obj, self.seen = obj, set()

    def __call__(self, predt, dtrain):
        g, h = self.obj(predt, dtrain)
        lab = dtrain.get_label()
        self.seen.add((type(predt).__name__, type(lab).__name__, type(g).__name__))
        return g, h


def train(X, y, params, obj=None, rounds=10, make=xgb.DMatrix):
    d = make(X, label=y)
    b = xgb.train({"tree_method": "hist", "device": "cuda", "max_depth": 4, "seed": 0,
                   **params}, d, rounds, obj=obj)
    return b.predict(d, output_margin=True)


def main():
    print(fastloss.info()["backends"])
    rng = np.random.default_rng(0)
    n = 20_000
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y = (X[:, 0] + np.sin(2 * X[:, 1]) + 0.2 * rng.standard_normal(n)).astype(np.float32)
    same = {"base_score": 0.0, "lambda": 0.0, "min_child_weight": 0.0}
    ref = train(X, y, {"objective": "reg:squarederror", **same})
    for backend in (None, "cuda"):
        spy = Spy(objective(fastloss.mse, backend=backend))
        got = train(X, y, same, obj=spy)
        print(f"mse backend={backend}: max |diff| {np.abs(got - ref).max():.3g}, arrays "
              f"(predt, label, grad) seen: {sorted(spy.seen)}")
    yc = np.digitize(y, [-1.0, 0.0, 1.0]).astype(np.float32)
    ref = train(X, yc, {"objective": "multi:softprob", "num_class": 4, "base_score": 0.0})
    spy = Spy(objective(fastloss.cross_entropy))
    got = train(X, yc, {"num_class": 4, "base_score": 0.0}, obj=spy)
    print(f"cross_entropy: max |diff| {np.abs(got - ref).max():.3g}, seen {sorted(spy.seen)}")

    try:
        import cupy as cp
    except ImportError:
        print("CuPy not installed: the DMatrix-from-device-arrays check is skipped")
        return
    Xd, yd = cp.asarray(X), cp.asarray(y)
    ref = train(Xd, yd, {"objective": "reg:squarederror", **same})
    spy = Spy(objective(fastloss.mse))
    got = train(Xd, yd, same, obj=spy)
    print(f"device DMatrix, mse: max |diff| {float(abs(got - ref).max()):.3g}, seen "
          f"{sorted(spy.seen)}")

    m = 1_000_000
    Xm = cp.asarray(rng.standard_normal((m, 4)).astype(np.float32))
    ym = cp.asarray(rng.standard_normal(m).astype(np.float32))
    d = xgb.DMatrix(Xm, label=ym)
    predt = rng.standard_normal(m).astype(np.float32)

    def numpy_obj(p, dtrain):
        lab = dtrain.get_label()
        lab = lab.get() if hasattr(lab, "get") else lab
        dd = p - lab
        return np.clip(dd, -1.0, 1.0), np.ones_like(dd)

    fl = objective(fastloss.huber)
    for name, obj in (("NumPy (host)", numpy_obj), ("fastloss (device)", fl)):
        obj(predt, d)
        ts = []
        for _ in range(20):
            cp.cuda.runtime.deviceSynchronize()
            t0 = time.perf_counter()
            obj(predt, d)
            cp.cuda.runtime.deviceSynchronize()
            ts.append(time.perf_counter() - t0)
        print(f"huber objective, 1e6 rows, {name}: {1e3 * statistics.median(ts):.2f} ms")


if __name__ == "__main__":
    main()
