"""XGBoost/LightGBM objectives against a plain NumPy objective, weighted float32 rows.

For n = 1e5 and 1e6 rows (float32 scores, labels and weights read from an
``xgboost.DMatrix`` as XGBoost calls a custom objective, ``obj(predt, dtrain)``), the
milliseconds per call (median of repeats, the two interleaved) of fastloss's objective and of
the NumPy objective a user would write (the same gradients and Hessian convention, checked
before timing). With ``--before PATH`` another tree's fastloss (for example a checkout of
the main branch) is timed too, in its own subprocess, its NumPy column beside it.

Usage: ``python benchmarks/boosting_must_show.py [--before PATH] [--repeats 15] [--cold]``
(about a minute; run on a quiet machine, the load average is printed). ``--cold``: each
call after 64 MB of memory traffic, as a boosting round's call comes after the tree's build
(without it, each objective runs on the caches the other one left).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (100_000, 1_000_000)


def numpy_objectives():
    import numpy as np

    def mse(predt, dtrain):
        y, w = dtrain.get_label(), dtrain.get_weight()
        d = predt - y
        return 2.0 * d * w, 2.0 * w

    def huber(predt, dtrain, delta=1.0):  # constant Hessian, fastloss's "auto"
        y, w = dtrain.get_label(), dtrain.get_weight()
        return np.clip(predt - y, -delta, delta) * w, w.copy()

    def log_cosh(predt, dtrain):  # secant Hessian tanh(d) / d, fastloss's "auto"
        y, w = dtrain.get_label(), dtrain.get_weight()
        d = predt - y
        t = np.tanh(d)
        return t * w, np.divide(t, d, out=np.ones_like(t), where=d != 0) * w

    def poisson_nll(predt, dtrain):
        y, w = dtrain.get_label(), dtrain.get_weight()
        e = np.exp(predt)
        return (e - y) * w, e * w

    def logistic(predt, dtrain):  # binary:logistic's convention
        y, w = dtrain.get_label(), dtrain.get_weight()
        p = 1.0 / (1.0 + np.exp(-predt))
        return (p - y) * w, np.maximum(p * (1.0 - p), 1e-16) * w

    return {
        "mse": mse,
        "huber": huber,
        "log_cosh": log_cosh,
        "poisson_nll": poisson_nll,
        "binary_cross_entropy_with_logits": logistic,
    }


def worker(repeats, cold):
    import numpy as np
    import xgboost as xgb

    from fastloss.integrations.xgboost import objective

    # glibc's allocator, as a long-running process has it: until a large block is freed,
    # every array over 128 KB is fresh mmap pages (or the heap is trimmed back after each
    # call), and the NumPy objective at 1e5 rows takes 10x its steady time (0.78 against
    # 0.078 ms): whichever column happens to free a large block first looks faster
    del_me = np.ones(1 << 21)
    del del_me
    flush = np.empty(1 << 23) if cold else None  # 64 MB, more than the last-level cache

    out = []
    for n in SIZES:
        rng = np.random.default_rng(0)
        predt = (0.5 * rng.standard_normal(n)).astype(np.float32)
        w = (rng.random(n) + 0.5).astype(np.float32)
        for name, np_obj in numpy_objectives().items():
            if name == "poisson_nll":
                y = rng.poisson(2.0, n).astype(np.float32)
            elif name == "binary_cross_entropy_with_logits":
                y = (rng.random(n) < 0.3).astype(np.float32)
            else:
                y = rng.standard_normal(n).astype(np.float32)
            d = xgb.DMatrix(predt[:, None], label=y, weight=w)
            fl_obj = objective(name)
            g0, h0 = np_obj(predt, d)
            g1, h1 = fl_obj(predt, d)  # the same work, compiled before timing
            np.testing.assert_allclose(g1, g0, rtol=2e-5, atol=1e-6)
            np.testing.assert_allclose(h1, h0, rtol=2e-5, atol=1e-6)
            t_np, t_fl = [], []
            for _ in range(repeats):  # interleaved
                for obj, ts in ((np_obj, t_np), (fl_obj, t_fl)):
                    if cold:  # as a boosting round's call starts: after the tree's build
                        flush.fill(1.0)  # has gone through memory
                    t0 = time.perf_counter()
                    obj(predt, d)
                    ts.append(time.perf_counter() - t0)
            out.append([1e3 * statistics.median(t_np), 1e3 * statistics.median(t_fl)])
    print(json.dumps(out))


def _run(tree, repeats, cold):
    env = dict(os.environ, PYTHONPATH=tree)
    r = subprocess.run(
        [sys.executable, __file__, "--worker", str(repeats), str(int(cold))],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        sys.exit(f"{tree} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--worker":
        worker(int(argv[1]), argv[2] == "1")
        return
    before = argv[argv.index("--before") + 1] if "--before" in argv else None
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 15
    cold = "--cold" in argv
    print(f"load average: {os.getloadavg()}")
    after = _run(HERE, repeats, cold)
    old = _run(before, repeats, cold) if before else None
    print(
        "\nobj(predt, dtrain), float32, weighted: ms per call (median"
        f"{', each after 64 MB of memory traffic' if cold else ''}); speed-up = NumPy / "
        "fastloss\n"
    )
    head = f"{'loss':34s} {'rows':>8s} {'NumPy':>8s} {'fastloss':>9s} {'speed-up':>9s}"
    if old:
        head += f" {'NumPy':>8s} {'before':>8s} {'speed-up':>9s}"
    print(head)
    names = list(numpy_objectives())
    i = 0
    for n in SIZES:
        for name in names:
            a = after[i]
            row = f"{name:34s} {n:8.0e} {a[0]:8.3f} {a[1]:9.3f} {a[0] / a[1]:8.2f}x"
            if old:
                b = old[i]
                row += f" {b[0]:8.3f} {b[1]:8.3f} {b[0] / b[1]:8.2f}x"
            print(row)
            i += 1
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
