"""nt_xent value_and_grad against the same computation in PyTorch (CPU, autograd), one run.

    python benchmarks/nt_xent_vs_torch.py [--n 4096] [--d 128] [--repeat 5] [--dtype float32]

Both sides get the same inputs and the same threads (Numba's and PyTorch's thread counts
are printed). PyTorch computes the SimCLR loss the usual way: normalise, similarity
matrix, diagonal masked to -inf, cross-entropy with targets i + N mod 2N, then backward.
Timings are interleaved (fastloss, torch, fastloss, torch, ...) after one warm-up call of
each (compilation excluded); the median and the minimum are printed, with the
agreement of the two results.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch
import torch.nn.functional as F

import fastloss


def torch_nt_xent(z1, z2, t):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = z @ z.T / t
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, target)


def torch_value_and_grad(z1n, z2n, t):
    z1 = torch.from_numpy(z1n).requires_grad_(True)
    z2 = torch.from_numpy(z2n).requires_grad_(True)
    loss = torch_nt_xent(z1, z2, t)
    loss.backward()
    return loss.item(), (z1.grad.numpy(), z2.grad.numpy())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--t", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--backend", default="parallel")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    z1 = rng.standard_normal((args.n, args.d)).astype(args.dtype)
    z2 = (z1 + 0.3 * rng.standard_normal((args.n, args.d))).astype(args.dtype)

    def fl():
        return fastloss.nt_xent.value_and_grad(z1, z2, temperature=args.t,
                                               backend=args.backend)

    def th():
        return torch_value_and_grad(z1, z2, args.t)

    print(f"nt_xent value_and_grad, N={args.n} (2N={2 * args.n} views), d={args.d}, "
          f"{args.dtype}, temperature={args.t}")
    print(f"numba threads {numba.get_num_threads()}, torch threads {torch.get_num_threads()},"
          f" torch {torch.__version__}, numpy {np.__version__}, backend {args.backend}")
    t0 = time.perf_counter()
    v_fl, g_fl = fl()
    print(f"fastloss first call (compile or cache load included): "
          f"{time.perf_counter() - t0:.3f} s")
    v_th, g_th = th()
    scale = max(float(np.abs(g_th[0]).max()), float(np.abs(g_th[1]).max()))
    err = max(float(np.abs(g_fl[0] - g_th[0]).max()), float(np.abs(g_fl[1] - g_th[1]).max()))
    rel = abs(v_fl - v_th) / abs(v_th)
    print(f"value fastloss {v_fl:.8f} torch {v_th:.8f} (rel diff {rel:.1e}); "
          f"grad max abs diff {err:.2e} (max |grad| {scale:.2e})")

    times = {"fastloss": [], "torch": []}
    for _ in range(args.repeat):
        for name, fn in (("fastloss", fl), ("torch", th)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        print(f"{name:9s} median {statistics.median(ts):.3f} s  min {min(ts):.3f} s  "
              f"({', '.join(f'{t:.3f}' for t in ts)})")
    ratio = statistics.median(times["torch"]) / statistics.median(times["fastloss"])
    print(f"speed-up (median torch / median fastloss): {ratio:.2f}x")


if __name__ == "__main__":
    main()
