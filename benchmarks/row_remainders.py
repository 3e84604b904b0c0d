"""Row losses at row lengths with and without a remainder after the whole vectors.

``cross_entropy`` and ``kl_divergence``, serial, nanoseconds per row over 2000 rows, at
row lengths around multiples of the vector width (float32: 16 values, float64: 8), then
the grid's square shapes (n = 1e3: 32 x 31, 1e5: 316 x 316, ``auto``). The minimum wall
time of a call. To compare two versions, run it on each in turn (for example with
``PYTHONPATH`` set to a git worktree of the other commit).

    python benchmarks/row_remainders.py
"""

from __future__ import annotations

import os
import time

import numpy as np

import fastloss


def wall_min(fn, samples=20, target=0.01):
    fn()
    t0 = time.perf_counter()
    fn()
    number = max(1, int(target / max(time.perf_counter() - t0, 1e-7)))
    best = float("inf")
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def inputs(name, N, C, dt, rng):
    if name == "cross_entropy":
        return rng.integers(0, C, N), rng.standard_normal((N, C)).astype(dt)
    return (rng.dirichlet(np.ones(C), N).astype(dt), rng.dirichlet(np.ones(C), N).astype(dt))


def main() -> None:
    print(f"fastloss from {os.path.dirname(fastloss.__file__)}, load average "
          f"{os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    N = 2000
    print("| loss | dtype | C | ns per row (serial, value) |\n| --- | --- | ---: | ---: |")
    for name in ("cross_entropy", "kl_divergence"):
        for dt in ("float32", "float64"):
            for C in (10, 15, 64, 96, 97, 100, 104, 111, 112, 128):
                args = inputs(name, N, C, dt, rng)
                loss = getattr(fastloss, name)
                t = wall_min(lambda f=loss, a=args: f(*a, backend="serial"))
                print(f"| {name} | {dt} | {C} | {t / N * 1e9:.1f} |")
    print("\n| loss | dtype | shape | op | us (auto) |\n| --- | --- | --- | --- | ---: |")
    for name in ("cross_entropy", "kl_divergence"):
        for dt in ("float32", "float64"):
            for N_, C in ((32, 31), (316, 316)):
                args = inputs(name, N_, C, dt, rng)
                loss = getattr(fastloss, name)
                for op in ("value", "value_and_grad"):
                    fn = loss if op == "value" else getattr(loss, op)
                    t = wall_min(lambda f=fn, a=args: f(*a))
                    print(f"| {name} | {dt} | {N_} x {C} | {op} | {t * 1e6:.2f} |")


if __name__ == "__main__":
    main()
