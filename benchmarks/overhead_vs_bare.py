"""Per-call overhead at n=100: each public call against the bare kernel it runs (the
compiled kernel called directly with ready buffers), best of 7 x 20000 calls, microseconds.

    python benchmarks/overhead_vs_bare.py
"""

from __future__ import annotations

import os
import timeit

import numpy as np

import fastloss as fl
from fastloss._exec.cpu import _dummy
from fastloss._kernels import cpu, rows

rng = np.random.default_rng(0)
y, p, w = rng.standard_normal(100), rng.standard_normal(100), rng.random(100)
lab, z = rng.integers(0, 10, 10), rng.standard_normal((10, 10))
W0 = np.zeros(1)
d = _dummy(np.dtype(np.float64))


def pointwise_bare(spec, prm, wmode=0, write_g=False):
    k = cpu.pointwise_kernel(spec.scalar, parallel=False, reduce=True, rows=False,
                             write_l=False, write_g=write_g, write_h=False, wmode=wmode,
                             ybcast=False, has_cp=False)
    res, g = np.zeros(1), np.empty(100)
    ww = w if wmode else W0
    prm = tuple(np.float64(v) for v in prm)
    return lambda: k(y, p, ww, W0, prm, 1.0, 100, d, g if write_g else d, d, res)


def ce_bare():
    spec = fl.cross_entropy.spec
    k = rows.row_kernel(spec.row, parallel=False, write_g=False, write_h=False, has_t=False,
                        has_lab=True, has_sw=False)
    prm, lout, zf = spec.fast_prm(10, {}), np.empty(10), z.reshape(-1)
    return lambda: k(zf, d, lab, W0, W0, prm, 0.1, 10, lout, d, d, False)


CASES = {
    "mse": (lambda: fl.mse(y, p), pointwise_bare(fl.mse.spec, (0.0,))),
    "huber(delta=1.0)": (lambda: fl.huber(y, p, delta=1.0),
                         pointwise_bare(fl.huber.spec, (1.0,))),
    "mse(sample_weight=w)": (lambda: fl.mse(y, p, sample_weight=w),
                             pointwise_bare(fl.mse.spec, (0.0,), wmode=1)),
    "mse.value_and_grad": (lambda: fl.mse.value_and_grad(y, p),
                           pointwise_bare(fl.mse.spec, (0.0,), write_g=True)),
    "cross_entropy (10x10)": (lambda: fl.cross_entropy(lab, z), ce_bare()),
}


def best(f, number=20000):
    f()
    f()
    return min(timeit.repeat(f, number=number, repeat=7)) / number * 1e6


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| call (n=100, serial) | public us | bare kernel us | overhead us |")
    print("| --- | --- | --- | --- |")
    for name, (pub, bare) in CASES.items():
        tp, tb = best(pub), best(bare)
        print(f"| {name} | {tp:.2f} | {tb:.2f} | {tp - tb:.2f} |")
