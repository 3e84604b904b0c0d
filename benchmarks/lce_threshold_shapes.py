"""``linear_cross_entropy``: serial, parallel and automatic across shapes (the backend choice).

    python benchmarks/lce_threshold_shapes.py          # the shapes below, both ops, both dtypes

Each line: the best of 7 repeats (each at least 20 ms of calls), microseconds, and auto's
time over the better backend's. The BLAS products run on BLAS's own threads under either
backend; only the row pass runs on fastloss's, so parallel pays off late (see
``fastloss.losses.linear.WORK_PER_LOGIT``).
"""

from __future__ import annotations

import os
import timeit

import numpy as np

import fastloss as fl

# (N, d, V): a few thousand logits up to millions
SHAPES = [(8, 64, 1024), (16, 64, 1024), (32, 64, 1024), (64, 64, 1024), (128, 31, 124),
          (128, 16, 256), (32, 128, 4096), (256, 64, 1024), (1024, 64, 1024),
          (2048, 64, 1024), (512, 256, 8192)]


def best(f):
    f()
    n = max(1, int(0.02 / (timeit.timeit(f, number=1) + 1e-9)))
    return min(timeit.repeat(f, number=n, repeat=7)) / n * 1e6


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| N x d x V | dtype | op | serial us | parallel us | auto / better |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    L = fl.linear_cross_entropy
    worst = 0.0
    for N, d, V in SHAPES:
        for dt in (np.float32, np.float64):
            h = rng.standard_normal((N, d)).astype(dt)
            w = (rng.standard_normal((V, d)) / np.sqrt(d)).astype(dt)
            b = (0.1 * rng.standard_normal(V)).astype(dt)
            y = rng.integers(0, V, N)
            args = (y, h, w, b)
            for op in ("value", "value_and_grad"):
                fn = L if op == "value" else L.value_and_grad
                ts, tp, ta = (best(lambda fn=fn, kw=kw, a=args: fn(*a, **kw))
                              for kw in ({"backend": "serial"}, {"backend": "parallel"}, {}))
                r = ta / min(ts, tp)
                worst = max(worst, r)
                print(f"| {N} x {d} x {V} | {np.dtype(dt).name} | {op} | {ts:.1f} | {tp:.1f} "
                      f"| {r:.2f} |", flush=True)
    print(f"worst auto / better: {worst:.2f}")
