"""Issue 2's measured figures, each against a reference timed in the same run (interleaved,
median of repeats): mse vs the read roofline and NumPy, huber.value_and_grad vs the
read-2-write-1 roofline, per-call overhead at n=100, import + first call in a fresh process.

    python benchmarks/foundation_must_show.py
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from numba import njit, prange

import fastloss
from fastloss._kernels import cpu
from fastloss._kinds.pointwise import plan


@njit(parallel=True)
def read2(a, b):  # the read roofline: reads the same bytes, 8 lanes so it vectorises
    nch = (a.shape[0] + 4095) // 4096
    part = np.empty(nch)
    for q in prange(nch):
        acc = np.zeros(8)
        s, e = q * 4096, min(a.shape[0], q * 4096 + 4096)
        for i in range(s, e):
            acc[i & 7] += a[i] + b[i]
        part[q] = acc.sum()
    return part.sum()


@njit(parallel=True)
def triad(a, b, c):  # read 2, write 1
    for i in prange(a.shape[0]):
        c[i] = a[i] - b[i]


def interleaved(fns, repeat=15):
    times = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeat):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    rng = np.random.default_rng(0)
    n = 10**7
    y, p = rng.standard_normal((2, n))
    out = np.empty(n)
    t = interleaved({
        "read2": lambda: read2(y, p),
        "mse": lambda: fastloss.mse(y, p),
        "numpy": lambda: np.mean((y - p) ** 2),
        "triad": lambda: triad(y, p, out),
        "huber_vg": lambda: fastloss.huber.value_and_grad(y, p, out=out),
    })
    gb = 2 * n * 8 / 1e9
    print(f"read roofline   {t['read2'] * 1e3:7.2f} ms  ({gb / t['read2']:.1f} GB/s)")
    print(f"mse 1e7 f64     {t['mse'] * 1e3:7.2f} ms  = {t['read2'] / t['mse']:.0%} of the read "
          f"roofline; NumPy {t['numpy'] * 1e3:.2f} ms = {t['numpy'] / t['mse']:.1f}x slower")
    print(f"triad roofline  {t['triad'] * 1e3:7.2f} ms  ({3 * n * 8 / 1e9 / t['triad']:.1f} GB/s)")
    print(f"huber v&g 1e7   {t['huber_vg'] * 1e3:7.2f} ms  = {t['triad'] / t['huber_vg']:.0%} of "
          f"the read-2-write-1 roofline")

    # per-call overhead at n=100: the public call against the bare kernel it runs
    ys, ps = y[:100].copy(), p[:100].copy()
    pl = plan(fastloss.REGISTRY["mse"], ys, ps, reduction="mean", sample_weight=None,
              axis=None, params={})
    k = cpu.pointwise_kernel(fastloss.REGISTRY["mse"].scalar, parallel=False, reduce=True,
                             rows=False, write_l=False, write_g=False, write_h=False, wmode=0,
                             ybcast=False, has_cp=False)
    d, res = np.zeros(1), np.zeros(1)
    args = (pl.yt, pl.yp, d, d, pl.prm, 1.0, 100, d, d, d, res)
    reps = 2000

    def loop(f):
        def run():
            for _ in range(reps):
                f()
        return run

    t = interleaved({"bare": loop(lambda: k(*args)), "call": loop(lambda: fastloss.mse(ys, ps)),
                     "numpy": loop(lambda: np.mean((ys - ps) ** 2))}, repeat=9)
    bare, call = t["bare"] / reps * 1e6, t["call"] / reps * 1e6
    print(f"n=100: bare kernel {bare:.2f} us, fastloss.mse {call:.2f} us -> overhead "
          f"{call - bare:.2f} us (NumPy {t['numpy'] / reps * 1e6:.2f} us)")

    # import + first call in a fresh process, warm and cold cache
    code = ("import time; t=time.perf_counter(); import numpy as np, fastloss; "
            "fastloss.mse(np.ones(10), np.zeros(10)); print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = lambda: float(subprocess.run([sys.executable, "-c", code], env=env,  # noqa: E731
                                           capture_output=True, text=True).stdout)
        cold = run()
        warm = statistics.median(run() for _ in range(5))
    print(f"import + first mse call: warm cache {warm:.2f} s, cold cache {cold:.2f} s")


if __name__ == "__main__":
    main()
