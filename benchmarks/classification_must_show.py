"""The classification family's must-show numbers, measured in one run (not a test).

1. ``cross_entropy.value_and_grad``, 4096 x 32000 float32 logits, int64 labels, against
   PyTorch's ``cross_entropy`` forward + backward on the CPU and scikit-learn's
   ``HalfMultinomialLoss.loss_gradient(n_threads=T)``; then the same with ``out=logits``.
2. Peak resident memory of ``cross_entropy.value_and_grad(y, x, out=x)`` above the inputs,
   measured in a fresh subprocess (VmHWM reset through /proc/self/clear_refs, and
   tracemalloc), against the size of the logits.
3. ``binary_cross_entropy_with_logits.value_and_grad`` at n = 1e7 float64 against
   ``HalfBinomialLoss().loss_gradient(n_threads=T)``.

Timings are the best of interleaved repeats (all contenders run in turn in each round, so
load on a shared machine hits them alike); the median is printed too.

    PYTHONPATH=. python benchmarks/classification_must_show.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np


def _timeit(fns: dict, repeats: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: (min(v), float(np.median(v))) for k, v in times.items()}


def _show(title, res, ours, others):
    print(f"\n{title}")
    for k, (best, med) in res.items():
        print(f"  {k:<44s} best {best * 1e3:9.1f} ms   median {med * 1e3:9.1f} ms")
    for o in others:
        print(f"  speed-up of {ours} over {o}: best {res[o][0] / res[ours][0]:.2f}x, "
              f"median {res[o][1] / res[ours][1]:.2f}x")


def bench_cross_entropy(threads: int, repeats: int, N=4096, C=32000):
    import torch
    from sklearn._loss import HalfMultinomialLoss

    import fastloss

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C), dtype=np.float32)
    y = rng.integers(0, C, N)
    work = x.copy()
    gbuf = np.empty_like(x)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    hm = HalfMultinomialLoss(n_classes=C)
    yf = y.astype(np.float32)
    lbuf = np.empty(N, np.float32)

    def torch_fb():
        xx = xt.detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(xx, yt)
        loss.backward()
        return loss.item(), xx.grad

    def fl_vg():
        return fastloss.cross_entropy.value_and_grad(y, x)

    def fl_vg_out():
        return fastloss.cross_entropy.value_and_grad(y, x, out=gbuf)

    def fl_inplace():
        np.copyto(work, x)  # timed separately below and subtracted
        return fastloss.cross_entropy.value_and_grad(y, work, out=work)

    def copy_only():
        np.copyto(work, x)

    def sk():
        hm.loss_gradient(yf, x, loss_out=lbuf, gradient_out=gbuf, n_threads=threads)
        return float(np.mean(lbuf))

    # warm up (compiles), and check that everybody computes the same thing
    v_fl, g_fl = fl_vg()
    v_t, g_t = torch_fb()
    v_sk = sk()
    print(f"cross_entropy {N}x{C} float32: value fastloss {v_fl:.7f}, torch {v_t:.7f}, "
          f"sklearn {v_sk:.7f}; max |grad - torch grad| "
          f"{float(np.abs(g_fl - g_t.numpy()).max()):.2e}")
    fl_vg_out()
    fl_inplace()
    res = _timeit({"fastloss value_and_grad": fl_vg,
                   "fastloss value_and_grad(out=buffer)": fl_vg_out,
                   "torch cross_entropy fwd+bwd": torch_fb,
                   f"sklearn HalfMultinomialLoss n_threads={threads}": sk,
                   "copy of the logits (for in-place)": copy_only,
                   "copy + fastloss value_and_grad(out=logits)": fl_inplace}, repeats)
    c_best, c_med = res["copy of the logits (for in-place)"]
    ib, im = res.pop("copy + fastloss value_and_grad(out=logits)")
    res["fastloss value_and_grad(out=logits), copy subtracted"] = (ib - c_best, im - c_med)
    _show("cross_entropy.value_and_grad", res, "fastloss value_and_grad",
          ["torch cross_entropy fwd+bwd", f"sklearn HalfMultinomialLoss n_threads={threads}"])
    r = res["fastloss value_and_grad(out=logits), copy subtracted"]
    t = res["torch cross_entropy fwd+bwd"]
    print(f"  speed-up of the in-place call over torch: best {t[0] / r[0]:.2f}x, "
          f"median {t[1] / r[1]:.2f}x")


_MEM_CHILD = textwrap.dedent("""
    import json, sys, tracemalloc
    import numpy as np
    import fastloss

    N, C, inplace = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    rng = np.random.default_rng(0)
    small = rng.standard_normal((8, 64), dtype=np.float32)
    ys = rng.integers(0, 64, 8)
    fastloss.cross_entropy.value_and_grad(ys, small, out=small if inplace else None)
    x = rng.standard_normal((N, C), dtype=np.float32)
    y = rng.integers(0, C, N)
    rss0 = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    hwm_reset = status("VmHWM")
    tracemalloc.start()
    v, g = fastloss.cross_entropy.value_and_grad(y, x, out=x if inplace else None)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    hwm = status("VmHWM")
    print(json.dumps(dict(logits=x.nbytes, rss_before=rss0, hwm_reset=hwm_reset, hwm=hwm,
                          traced_peak=traced_peak, value=float(v), same=bool(g is x))))
""")


def bench_memory(N=4096, C=32000):
    env = dict(os.environ)
    out = {}
    for inplace in (True, False):
        p = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(N), str(C),
                            "1" if inplace else "0"],
                           capture_output=True, text=True, env=env, check=True)
        out[inplace] = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"\npeak resident memory of cross_entropy.value_and_grad, {N}x{C} float32 "
          f"(logits {out[True]['logits'] / 2**20:.0f} MiB), in a fresh process:")
    for inplace, d in out.items():
        extra = d["hwm"] - max(d["rss_before"], d["hwm_reset"])
        what = "out=logits (in place)" if inplace else "out=None (new gradient)"
        print(f"  {what:<26s} peak RSS above the inputs {extra / 2**20:8.2f} MiB = "
              f"{100 * extra / d['logits']:6.2f}% of the logits; tracemalloc peak "
              f"{d['traced_peak'] / 2**20:8.2f} MiB ({100 * d['traced_peak'] / d['logits']:.2f}%)"
              f"; returned out itself: {d['same']}")


def bench_bce_logits(threads: int, repeats: int, n=10**7):
    from sklearn._loss import HalfBinomialLoss

    import fastloss

    rng = np.random.default_rng(0)
    x = 2.0 * rng.standard_normal(n)
    y = rng.integers(0, 2, n).astype(np.float64)
    gbuf = np.empty(n)
    lbuf = np.empty(n)
    hb = HalfBinomialLoss()
    L = fastloss.binary_cross_entropy_with_logits

    def fl_vg():
        return L.value_and_grad(y, x)

    def fl_vg_out():
        return L.value_and_grad(y, x, out=gbuf)

    def sk():
        hb.loss_gradient(y, x, loss_out=lbuf, gradient_out=gbuf, n_threads=threads)
        return float(np.mean(lbuf))

    v1, _ = fl_vg()
    fl_vg_out()
    v2 = sk()
    print(f"\nbinary_cross_entropy_with_logits n={n:.0e} float64: value fastloss {v1:.12f}, "
          f"sklearn {v2:.12f}")
    res = _timeit({"fastloss value_and_grad": fl_vg,
                   "fastloss value_and_grad(out=buffer)": fl_vg_out,
                   f"sklearn HalfBinomialLoss n_threads={threads}": sk}, repeats)
    skname = f"sklearn HalfBinomialLoss n_threads={threads}"
    _show("binary_cross_entropy_with_logits.value_and_grad", res,
          "fastloss value_and_grad(out=buffer)", [skname])
    print(f"  (fastloss allocating its gradient: best "
          f"{res[skname][0] / res['fastloss value_and_grad'][0]:.2f}x)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["ce", "mem", "bce"], default=None)
    a = ap.parse_args()
    import numba

    import fastloss

    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    info = fastloss.info()
    print(f"fastloss {info['fastloss']} numba {info['numba']} threads {numba.get_num_threads()}"
          f" cpu count {os.cpu_count()} load average {os.getloadavg()}")
    if a.only in (None, "ce"):
        bench_cross_entropy(a.threads, a.repeats)
    if a.only in (None, "mem"):
        bench_memory()
    if a.only in (None, "bce"):
        bench_bce_logits(a.threads, a.repeats)
    print(f"\nthreading layer {fastloss.info()['threading_layer']}; load average at the end "
          f"{os.getloadavg()}")


if __name__ == "__main__":
    main()
