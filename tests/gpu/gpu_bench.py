"""A small GPU benchmark for fastloss's CUDA backend (run by tests/gpu/run_on_gpu.sh).

Prints the device, its measured device-to-device copy bandwidth (the roofline), then for a
few losses the GB/s of one call on device arrays and its fraction of that roofline, the
batch evaluation of ``(B, n)`` predictions with ``axis=-1`` (B losses in one launch) against
B separate calls, the contrastive losses against the CPU, a check of large-input results
against the CPU, and first-call compile times. Budget: about a minute on an H100.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import fastloss
from fastloss._exec import cuda as road
from fastloss._kernels import cuda as K

REPEAT = int(os.environ.get("FASTLOSS_BENCH_REPEAT", 10))


def main() -> int:
    from numba import cuda

    fastloss._backend.require_cuda()
    dev = cuda.get_current_device()
    name = getattr(dev, "name", "?")
    name = name.decode() if isinstance(name, bytes) else str(name)
    sms = getattr(dev, "MULTIPROCESSOR_COUNT", "?")
    try:
        total = f"{cuda.current_context().get_memory_info()[1] / 2**30:.0f} GiB"
    except Exception:  # the simulator
        total = "? GiB"
    print(f"device: {name}, cc {dev.compute_capability}, {sms} SMs, {total}; "
          f"(block, items) = {K.launch_config()}, max grid {K.max_grid()}")
    results: dict = {"device": name, "cc": list(dev.compute_capability)}

    n = int(os.environ.get("FASTLOSS_BENCH_N", 1 << 26))
    copy_gbs = road.device_copy_bandwidth(nbytes=8 * n)
    results["copy_gbs"] = copy_gbs
    print(f"device-to-device copy: {copy_gbs:.0f} GB/s (read + write)")

    rows = []
    print(f"\n{'loss':<10} {'op':<15} {'dtype':<8} {'n':>10} {'ms':>8} {'GB/s':>7} {'roof':>5}")
    for lname in ("mse", "huber", "log_cosh", "tweedie"):
        for dt in (np.float32, np.float64):
            for op in ("value", "value_and_grad"):
                r = road.bench_cuda(getattr(fastloss, lname), n=n, dtype=dt, op=op,
                                    copy_gbs=copy_gbs, repeat=REPEAT)
                rows.append(r)
                print(f"{lname:<10} {op:<15} {r['dtype']:<8} {r['n']:>10} "
                      f"{r['seconds'] * 1e3:>8.3f} {r['gbs']:>7.0f} {r['fraction']:>5.0%}")
    results["single"] = rows

    # batch evaluation: B losses (and their gradients) in one launch
    print(f"\n{'batch (B x n)':<18} {'op':<15} {'ms':>8} {'GB/s':>7} {'roof':>5}  "
          f"{'B calls of n (ms)':>17}")
    batch = []
    for B, m in ((1024, n // 1024), (n // 1000, 1000), (16, n // 16)):
        for op in ("value", "value_and_grad"):
            r = road.bench_cuda(fastloss.huber, n=B * m, rows=B, dtype=np.float32, op=op,
                                copy_gbs=copy_gbs, repeat=REPEAT)
            loop_ms = None
            if B <= 1024:  # the same work as B separate calls on (m,) rows
                rng = np.random.default_rng(1)
                y = cuda.to_device(rng.standard_normal(m).astype(np.float32))
                P = cuda.to_device(rng.standard_normal((B, m)).astype(np.float32))
                rows_ = [P[i] for i in range(B)]
                f = fastloss.huber if op == "value" else fastloss.huber.value_and_grad
                f(y, rows_[0])
                cuda.synchronize()
                t0 = time.perf_counter()
                for i in range(B):
                    f(y, rows_[i])
                cuda.synchronize()
                loop_ms = (time.perf_counter() - t0) * 1e3
            r["loop_ms"] = loop_ms
            batch.append(r)
            loop = f"{loop_ms:>17.1f}" if loop_ms is not None else f"{'-':>17}"
            print(f"{f'{B} x {m}':<18} {op:<15} {r['seconds'] * 1e3:>8.3f} {r['gbs']:>7.0f} "
                  f"{r['fraction']:>5.0%}  {loop}")
    results["batch"] = batch

    # row-wise: softmax cross-entropy on (N, C) logits with integer labels, one row a thread
    print(f"\n{'cross_entropy (N x C)':<22} {'op':<15} {'ms':>8} {'GB/s':>7} {'roof':>5}")
    ce = []
    for N, C in ((n // 10, 10), (n // 1000, 1000)):
        for op in ("value", "value_and_grad"):
            r = road.bench_cuda(fastloss.cross_entropy, n=N * C, rows=N, dtype=np.float32,
                                op=op, copy_gbs=copy_gbs, repeat=REPEAT)
            ce.append(r)
            print(f"{f'{N} x {C}':<22} {op:<15} {r['seconds'] * 1e3:>8.3f} {r['gbs']:>7.0f} "
                  f"{r['fraction']:>5.0%}")
    results["cross_entropy"] = ce

    results["contrastive"] = bench_contrastive(n)

    # large inputs: the GPU gives the CPU's answer (float64 sums in another order)
    rng = np.random.default_rng(2)
    y = rng.standard_normal(n // 4)
    p = rng.standard_normal(n // 4)
    dy, dp = cuda.to_device(y), cuda.to_device(p)
    checks = {}
    for lname in ("mse", "log_cosh", "huber"):
        L = getattr(fastloss, lname)
        v_gpu, g_gpu = L.value_and_grad(dy, dp)
        v_cpu, g_cpu = L.value_and_grad(y, p, backend="parallel")
        rel = abs(v_gpu - v_cpu) / abs(v_cpu)
        gerr = float(np.max(np.abs(g_gpu.copy_to_host() - g_cpu)) / np.max(np.abs(g_cpu)))
        again = L(dy, dp)
        checks[lname] = {"value_rel_err": rel, "grad_max_rel_err": gerr,
                         "bitwise_repeatable": again == L(dy, dp)}
        assert rel < 1e-12 and gerr < 1e-12, (lname, rel, gerr)
        assert checks[lname]["bitwise_repeatable"]
    results["checks"] = checks
    print(f"\nlarge-input parity with the CPU (n={n // 4} float64): " + ", ".join(
        f"{k} value {v['value_rel_err']:.1e} grad {v['grad_max_rel_err']:.1e}"
        for k, v in checks.items()))

    # compile time of a fresh kernel on the first call (a loss not timed above)
    t0 = time.perf_counter()
    fastloss.quantile.value_and_grad(dy, dp, quantile=0.3)
    cuda.synchronize()
    results["first_call_compile_s"] = time.perf_counter() - t0
    print(f"first call (compiles one kernel): {results['first_call_compile_s']:.2f} s")

    out = os.environ.get("FASTLOSS_BENCH_JSON")
    if out:
        with open(out, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return 0


def bench_contrastive(n: int) -> list:
    """value_and_grad of the contrastive losses on float32 device arrays (N = 4096, d = 128
    for the default n), against the CPU's parallel backend in the same run."""
    from numba import cuda

    # contrastive: the row bodies one row per thread and the tiled matrix product; the
    # products' flops (2 N M d each) against the time, and the CPU's time in the same run
    N = 4096 if n >= 1 << 24 else max(16, int(np.sqrt(n // 16)))
    d = 128 if n >= 1 << 24 else 32
    rng = np.random.default_rng(3)
    con = []
    print(f"\n{'contrastive (N x d)':<24} {'op':<15} {'ms':>8} {'GFLOP/s':>8} {'CPU ms':>8}")
    for lname, flops in (("info_nce", 3 * 2 * N * N * d), ("nt_xent", 2 * 2 * 4 * N * N * d),
                         ("triplet_margin", 0), ("cosine_embedding", 0)):
        spec = fastloss.REGISTRY[lname]
        L = getattr(fastloss, lname)
        args, params = spec.sample(rng, (N, d), np.dtype(np.float32))
        dargs = [cuda.to_device(a) for a in args]

        def gpu(L=L, dargs=dargs, params=params):
            L.value_and_grad(*dargs, **params)
            cuda.synchronize()

        def cpu(L=L, args=args, params=params):
            L.value_and_grad(*args, backend="parallel", **params)

        best = {}
        for label, f in (("gpu", gpu), ("cpu", cpu)):
            f()
            best[label] = min(_timed(f) for _ in range(REPEAT if label == "gpu" else 3))
        v_gpu, v_cpu = L(*dargs, **params), L(*args, backend="parallel", **params)
        r = {"loss": lname, "N": N, "d": d, "op": "value_and_grad", "dtype": "float32",
             "seconds": best["gpu"], "cpu_seconds": best["cpu"],
             "gflops": flops / best["gpu"] / 1e9, "value_rel_err": abs(v_gpu - v_cpu) /
             max(abs(v_cpu), 1e-300)}
        con.append(r)
        print(f"{lname + f' ({N} x {d})':<24} {'value_and_grad':<15} "
              f"{best['gpu'] * 1e3:>8.3f} {r['gflops']:>8.0f} {best['cpu'] * 1e3:>8.2f}")
        assert r["value_rel_err"] < 1e-4, r  # float32 products summed in another order
    return con


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
