"""The serial/parallel choice of the row-wise losses across row lengths.

``cross_entropy`` (float32 and float64) and ``kl_divergence`` (float64) on rows of 10 to
1000 values, 9000 to 40000 values in all: serial, parallel and auto (``backend=None``)
times in microseconds (best of 7 x 100 calls), and auto's time over the better of the two
(the goal: at most 1.10). Run on a quiet machine; the load average is printed.

    python benchmarks/row_threshold_shapes.py
"""

from __future__ import annotations

import os
import timeit

import numpy as np

import fastloss as fl


def best(f, number=100):
    f()
    f()
    return min(timeit.repeat(f, number=number, repeat=7)) / number * 1e6


def row(name, loss, args, worst):
    out = []
    for op in ("value", "value_and_grad"):
        g = loss if op == "value" else loss.value_and_grad
        ts = best(lambda g=g: g(*args, backend="serial"))
        tp = best(lambda g=g: g(*args, backend="parallel"))
        ta = best(lambda g=g: g(*args))
        r = ta / min(ts, tp)
        worst.append((r, name, op))
        out.append(f"{op}: serial {ts:.1f} parallel {tp:.1f} auto {ta:.1f} ({r:.2f})")
    print(name, " | ".join(out), flush=True)


def main():
    rng = np.random.default_rng(0)
    print("load average", os.getloadavg())
    worst = []
    shapes = [(C, n) for C in (10, 30, 100, 300, 1000) for n in (9000, 16000, 24000, 40000)]
    for dt in (np.float32, np.float64):
        for C, n in shapes:
            N = max(1, n // C)
            z = rng.standard_normal((N, C)).astype(dt)
            row(f"cross_entropy {dt.__name__} {N}x{C}", fl.cross_entropy,
                (rng.integers(0, C, N), z), worst)
    for C, n in shapes[::2]:
        N = max(1, n // C)
        p, q = rng.random((N, C)), rng.random((N, C))
        p /= p.sum(1, keepdims=True)
        q /= q.sum(1, keepdims=True)
        row(f"kl_divergence float64 {N}x{C}", fl.kl_divergence, (p, q), worst)
    worst.sort(reverse=True)
    print("worst auto/best:", ", ".join(f"{n} {op} {r:.2f}" for r, n, op in worst[:5]))
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main()
