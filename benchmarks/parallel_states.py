"""Parallel launches on this machine over time: fresh processes, one after another, each
timing ``mse`` float32 at 1e5 (parallel and serial, minimum wall time of a call) and a
parallel call at 1000 values (the launch), under the TBB and the OpenMP layer in turn.

On the 2-vCPU CI machine the parallel call's cost has two states that last minutes: a
parallel ``mse`` at 1e5 takes about 11 us in one and 18 us in the other (TBB), whatever the
code. Any A/B comparison of parallel timings must interleave its two sides.

    python benchmarks/parallel_states.py [ROUNDS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

CHILD = r"""
import time, numpy as np, fastloss, numba
def wall_min(fn, samples=30, number=200):
    fn(); best = 1e9
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best * 1e6
rng = np.random.default_rng(0)
y, p = rng.random(100_000, np.float32), rng.random(100_000, np.float32)
ys, ps = y[:1000].copy(), p[:1000].copy()
par = wall_min(lambda: fastloss.mse(y, p, backend="parallel"))
ser = wall_min(lambda: fastloss.mse(y, p, backend="serial"))
launch = wall_min(lambda: fastloss.mse(ys, ps, backend="parallel"))
print(f"{numba.threading_layer():5s} 1e5 parallel {par:5.1f} us  serial {ser:5.1f} us  "
      f"1e3 parallel {launch:4.1f} us")
"""


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    print(f"load average {os.getloadavg()[0]:.2f}")
    for r in range(rounds):
        for layer in ("tbb", "omp"):  # tbb: fastloss's own choice (the variable unset)
            env = dict(os.environ)
            env.pop("NUMBA_THREADING_LAYER", None)
            if layer != "tbb":
                env["NUMBA_THREADING_LAYER"] = layer
            out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()
            print(f"{time.strftime('%H:%M:%S')} round {r}: {out}", flush=True)


if __name__ == "__main__":
    main()
