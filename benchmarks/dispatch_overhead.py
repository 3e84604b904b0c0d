"""Per-call overhead at n=100 of common calls (best of 7 x 2000 calls, microseconds).

Compare two checkouts in turn on a quiet machine, e.g. a worktree of an older commit:

    (cd /tmp/base && PYTHONPATH=/tmp/base python /path/to/benchmarks/dispatch_overhead.py base)
    python benchmarks/dispatch_overhead.py head
"""

from __future__ import annotations

import os
import sys
import timeit

import numpy as np

import fastloss as fl

rng = np.random.default_rng(0)
y, p, w = rng.standard_normal(100), rng.standard_normal(100), rng.random(100)
lab, z = rng.integers(0, 10, 10), rng.standard_normal((10, 10))
a, b = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
CASES = {
    "mse": lambda: fl.mse(y, p),
    "mse.vg": lambda: fl.mse.value_and_grad(y, p),
    "huber(delta)": lambda: fl.huber(y, p, delta=1.0),
    "mse(w)": lambda: fl.mse(y, p, sample_weight=w),
    "mse(axis)": lambda: fl.mse(y.reshape(10, 10), p.reshape(10, 10), axis=-1),
    "ce": lambda: fl.cross_entropy(lab, z),
    "ce.vg": lambda: fl.cross_entropy.value_and_grad(lab, z),
    "gan_d": lambda: fl.gan_discriminator(y, p),
    "l1": lambda: fl.l1_penalty(p),
    "prox": lambda: fl.prox_l1(p, 0.1),
    "nt_xent": lambda: fl.nt_xent(a, b),
}

if __name__ == "__main__":
    for f in CASES.values():
        f()
        f()
    out = {k: min(timeit.repeat(f, number=2000, repeat=7)) / 2000 * 1e6 for k, f in CASES.items()}
    label = sys.argv[1] if len(sys.argv) > 1 else fl.__file__
    print(label, f"(load {os.getloadavg()[0]:.2f})",
          " ".join(f"{k}={v:.2f}" for k, v in out.items()))
