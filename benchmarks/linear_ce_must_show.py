"""Fused linear + cross-entropy on the CPU: time and peak memory of value_and_grad.

    python benchmarks/linear_ce_must_show.py            # N=4096, d=512, V=32000 and 128000
    python benchmarks/linear_ce_must_show.py --big      # + the N=8192, d=1024 sweep over V
    python benchmarks/linear_ce_must_show.py --vocab 32000 --repeat 3

float32, gradients for hidden, weight and bias. Three variants, each measured in its own
subprocess (so that one's peak memory cannot hide another's):

* ``fused``: ``fastloss.linear_cross_entropy.value_and_grad`` (default chunk size);
* ``unfused``: fastloss unfused: ``Z = h @ W.T + b`` (NumPy), ``cross_entropy.value_and_grad``
  in place (``out=Z``), then ``G @ W``, ``G.T @ h`` and ``G.sum(0)``;
* ``torch``: PyTorch CPU ``F.cross_entropy(h @ W.T + b, y)``, forward and backward.

Extra memory is the peak resident set during a call (VmHWM, reset before each call) minus
the resident set just before it (inputs allocated, kernels compiled), minus the outputs
(the three gradients): what the call needs beyond its inputs and outputs. The goal is at
most 10% of the N x V float32 logits. The table shows the last of ``--repeat`` calls (a
training loop's steady state) and, apart, the first call, which also touches OpenBLAS's
per-process work buffers (about 30 MiB, once, whatever the variant).

``--big`` measures N=8192, d=1024 at two moderate V, fits each variant's memory (inputs +
outputs + extra) as a line in V and gives the largest V within ``--budget-gib`` (24 GiB):
nothing is run near the memory limit. For the fused call the line is an upper bound: past
256 MiB of logits per chunk its chunk shrinks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _status(key: str) -> int:
    """A field of /proc/self/status in bytes (VmRSS: resident now, VmHWM: its peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak() -> None:
    """Reset VmHWM to the current resident set (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def child(variant: str, N: int, d: int, V: int, repeat: int, threads: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)

    def inputs(n, dd, v):
        h = rng.standard_normal((n, dd), dtype=np.float32)
        w = rng.standard_normal((v, dd), dtype=np.float32) / np.float32(np.sqrt(dd))
        b = (0.1 * rng.standard_normal(v)).astype(np.float32)
        y = rng.integers(0, v, n)
        return y, h, w, b

    if variant == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)

        def run(y, h, w, b):
            ht, wt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (h, w, b))
            loss = F.cross_entropy(ht @ wt.T + bt, torch.from_numpy(y))
            loss.backward()
            return loss.item(), (ht.grad, wt.grad, bt.grad)
    else:
        import fastloss

        if variant == "fused":

            def run(y, h, w, b):
                return fastloss.linear_cross_entropy.value_and_grad(y, h, w, b)
        else:

            def run(y, h, w, b):
                Z = np.matmul(h, w.T)
                Z += b
                v, G = fastloss.cross_entropy.value_and_grad(y, Z, out=Z)
                return v, (G @ w, G.T @ h, G.sum(axis=0))

    run(*inputs(256, 32, 4096))  # compile / load the (parallel) kernels on a small case
    args = inputs(N, d, V)
    times, extras, cpus = [], [], []
    for _ in range(repeat):
        _reset_peak()
        base = _status("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        v, g = run(*args)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        extras.append(_status("VmHWM") - base)
        del g
    out_bytes = (N * d + V * d + V) * 4
    in_bytes = (N * d + V * d + V) * 4 + N * 8
    return {
        "variant": variant,
        "N": N,
        "d": d,
        "V": V,
        "time": min(times),
        "cpu": min(cpus),
        "value": float(v),
        "extra": extras[-1] - out_bytes,
        "extra_first": extras[0] - out_bytes,
        "times": times,
        "in_bytes": in_bytes,
        "out_bytes": out_bytes,
    }


def measure(variant, N, d, V, repeat, threads, timeout=900):
    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        str(N),
        str(d),
        str(V),
        str(repeat),
        str(threads),
    ]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        return {
            "variant": variant,
            "N": N,
            "d": d,
            "V": V,
            "error": (p.stderr or p.stdout).strip().splitlines()[-1:],
        }
    return json.loads(p.stdout.strip().splitlines()[-1])


def _mib(x):
    return x / 2**20


def table(rows, goals=True):
    print(
        f"{'V':>7} {'variant':>8} {'time s':>8} {'x fused':>8} {'extra MiB':>10} "
        f"{'% logits':>9} {'1st call':>9} {'cpu s':>7} {'value':>10}"
    )
    by = {}
    for r in rows:
        by.setdefault(r["V"], {})[r["variant"]] = r
    for V, group in by.items():
        f = group.get("fused")
        for name in ("fused", "unfused", "torch"):
            r = group.get(name)
            if r is None:
                continue
            if "error" in r:
                print(f"{V:>7} {name:>8} error: {r['error']}")
                continue
            logits = r["N"] * V * 4
            ratio = r["time"] / f["time"] if f and "time" in f else float("nan")
            print(
                f"{V:>7} {name:>8} {r['time']:8.2f} {ratio:8.2f} {_mib(r['extra']):10.1f} "
                f"{100 * r['extra'] / logits:8.1f}% {_mib(r['extra_first']):9.1f} "
                f"{r['cpu']:7.2f} "
                f"{r['value']:10.5f}"
            )
        if goals and f and "time" in f:
            u, t = group.get("unfused", {}), group.get("torch", {})
            print(
                f"        goals: extra <= 10% of logits: {f['extra'] <= 0.1 * f['N'] * V * 4}"
                f"; faster than torch: {'time' in t and f['time'] < t['time']}"
                f"; within 1.3x unfused: {'time' in u and f['time'] <= 1.3 * u['time']}"
            )


def big(args):
    """N=8192, d=1024: the per-V memory of each variant from two moderate V, then the
    largest V within the machine's memory."""
    N, d = 8192, 1024
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    budget = args.budget_gib * 2**30 if args.budget_gib else total
    print(
        f"\nN={N}, d={d}, float32: memory budget {budget / 2**30:.1f} GiB "
        f"(machine {total / 2**30:.1f} GiB)"
    )
    Vs = (8000, 16000)
    rows = [measure(v, N, d, V, 1, args.threads) for V in Vs for v in args.variants]
    table(rows, goals=False)  # one call: the extra includes the one-time BLAS buffers
    print(f"\n{'variant':>8} {'bytes/V':>10} {'fixed MiB':>10} {'largest V':>12}")
    for name in args.variants:
        pts = [r for r in rows if r["variant"] == name and "error" not in r]
        if len(pts) < 2:
            continue
        # total = inputs + outputs + extra, linear in V
        tot = [r["in_bytes"] + r["out_bytes"] + max(r["extra"], 0) for r in pts]
        slope = (tot[1] - tot[0]) / (pts[1]["V"] - pts[0]["V"])
        fixed = tot[0] - slope * pts[0]["V"]
        vmax = int((budget - fixed) / slope)
        print(f"{name:>8} {slope:10.0f} {_mib(fixed):10.1f} {vmax:12,d}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, nargs="*", default=[32000, 128000])
    ap.add_argument("--N", type=int, default=4096)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--variants", nargs="*", default=["fused", "unfused", "torch"])
    ap.add_argument("--big", action="store_true", help="also the N=8192, d=1024 sweep")
    ap.add_argument("--budget-gib", type=float, default=24.0)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs, threads {args.threads}")
    rows = [
        measure(v, args.N, args.d, V, args.repeat, args.threads)
        for V in args.vocab
        for v in args.variants
    ]
    print(
        f"N={args.N}, d={args.d}, float32, value_and_grad (hidden, weight, bias); "
        f"best of {args.repeat} calls; extra memory of the last call (1st call: its "
        f"one-time BLAS buffers included), MiB"
    )
    table(rows)
    if args.big:
        big(args)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        v, n, d, V, rep, th = sys.argv[2:8]
        print(json.dumps(child(v, int(n), int(d), int(V), int(rep), int(th))))
    else:
        main()
