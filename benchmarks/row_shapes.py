"""Row-wise losses across row lengths, against PyTorch on the same number of threads (not a
test): ``cross_entropy`` value and value_and_grad (plain, and with ``label_smoothing=0.1``),
``kl_divergence`` and ``info_nce``, float32 and float64, best of interleaved samples.

    python benchmarks/row_shapes.py [--threads 1]
    PYTHONPATH=/path/to/old/tree python benchmarks/row_shapes.py ...   # the same, before

With ``--threads 1`` fastloss runs its serial kernels and PyTorch one thread; with 2, the
parallel kernels (``backend="parallel"``) against PyTorch's two threads.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from rows_must_show import best  # (the script's folder is on sys.path)

import fastloss

SHAPES = ((4096, 10), (4096, 100), (316, 316), (4096, 1000), (128, 32000))


def timed(fns: dict, budget: float = 0.4) -> dict:
    """Best seconds per call of each callable (``rows_must_show.best``), with as many calls
    per sample and samples as about ``budget`` seconds each allow."""
    f0 = next(iter(fns.values()))
    f0()
    t0 = time.perf_counter()
    f0()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(0.02 / one))
    return best(fns, repeat=max(3, int(budget / (one * number))), number=number)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    backend = "serial" if a.threads == 1 else "parallel"
    rng = np.random.default_rng(0)
    print(f"fastloss {fastloss.__file__} backend={backend}, torch {torch.__version__} "
          f"threads={a.threads}, load {os.getloadavg()[0]:.2f}")
    print("| loss | N x C | dtype | op | fastloss us | torch us | x torch |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: |")
    for N, C in SHAPES:
        for dt in (np.float32, np.float64):
            x = (2 * rng.standard_normal((N, C))).astype(dt)
            y = rng.integers(0, C, N)
            p = rng.random((N, C)).astype(dt)
            p /= p.sum(1, keepdims=True)
            q = np.exp(x - x.max(1, keepdims=True))
            q /= q.sum(1, keepdims=True)
            xt, yt, pt, qt = (torch.from_numpy(v) for v in (x, y, p, q))

            def t_vg(ls=0.0, xt=xt, yt=yt):
                a_ = xt.detach().requires_grad_(True)
                F.cross_entropy(a_, yt, label_smoothing=ls).backward()
                return a_.grad

            cases = {
                ("cross_entropy", "value"): (
                    lambda x=x, y=y: fastloss.cross_entropy(y, x, backend=backend),
                    lambda xt=xt, yt=yt: F.cross_entropy(xt, yt)),
                ("cross_entropy", "value_and_grad"): (
                    lambda x=x, y=y: fastloss.cross_entropy.value_and_grad(y, x,
                                                                           backend=backend),
                    t_vg),
                ("cross_entropy(label_smoothing=0.1)", "value_and_grad"): (
                    lambda x=x, y=y: fastloss.cross_entropy.value_and_grad(
                        y, x, label_smoothing=0.1, backend=backend),
                    lambda: t_vg(0.1)),
                ("kl_divergence", "value"): (
                    lambda p=p, q=q: fastloss.kl_divergence(p, q, backend=backend),
                    lambda pt=pt, qt=qt: F.kl_div(qt.log(), pt, reduction="batchmean")),
            }
            if N * C <= 1 << 20 and N == C:
                z = x.copy()

                def tnce(xt=xt):
                    a_ = F.normalize(xt, dim=1)
                    return F.cross_entropy(a_ @ F.normalize(xt.flip(0), dim=1).T / 0.1,
                                           torch.arange(xt.shape[0]))

                cases[("info_nce", "value")] = (
                    lambda x=x, z=z: fastloss.info_nce(x, z[::-1].copy(), backend=backend),
                    tnce)
            for (name, op), (fl, tr) in cases.items():
                r = timed({"fl": fl, "torch": tr})
                print(f"| {name} | {N} x {C} | {np.dtype(dt).name} | {op} | "
                      f"{r['fl'] * 1e6:.1f} | {r['torch'] * 1e6:.1f} | "
                      f"{r['torch'] / r['fl']:.2f} |")


if __name__ == "__main__":
    main()
