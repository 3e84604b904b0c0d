"""Serial float32 and float64 times of the losses whose float32 kernels run a float32 body
since their constants took the input's precision (``like``): ``hinge``, ``squared_hinge``,
``huber``, ``smooth_l1``, ``quantile``, ``mae``, the penalties and the GAN losses of the
kinds ``least_squares``, ``hinge`` and ``wasserstein``. The minimum wall time of
a call at n = 1e5 and 1e6, in microseconds. To compare two versions, run it on each in turn
(for example with ``PYTHONPATH`` set to a git worktree of the other commit); at 1e6 the
float64 times, memory-bound, move by up to 20% between runs.

    python benchmarks/float32_bodies.py
"""

from __future__ import annotations

import os

import numpy as np
from row_remainders import wall_min  # (this folder: run as a script)

import fastloss

LOSSES = ("hinge", "squared_hinge", "huber", "smooth_l1", "quantile", "mae", "l1_penalty",
          "l2_penalty", "elastic_net")
ONE_ARRAY = ("l1_penalty", "l2_penalty", "elastic_net")
GAN_KINDS = ("least_squares", "hinge", "wasserstein")


def main() -> None:
    print(f"fastloss from {os.path.dirname(fastloss.__file__)}, load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| loss | dtype | n | value us | value_and_grad us |\n| --- | --- | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    for name in LOSSES:
        loss = getattr(fastloss, name)
        for dt in ("float32", "float64"):
            for n in (100_000, 1_000_000):
                p = rng.standard_normal(n).astype(dt)
                if name in ONE_ARRAY:
                    args = (p,)
                elif "hinge" in name:
                    args = (np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(dt), p)
                else:
                    args = (rng.standard_normal(n).astype(dt), p)
                v = wall_min(lambda a=args, f=loss: f(*a, backend="serial"))
                vg = wall_min(lambda a=args, f=loss: f.value_and_grad(*a, backend="serial"))
                print(f"| {name} | {dt} | {n:.0e} | {v * 1e6:.1f} | {vg * 1e6:.1f} |")
    for name in ("gan_discriminator", "gan_generator"):
        loss = getattr(fastloss, name)
        for kind in GAN_KINDS:
            for dt in ("float32", "float64"):
                n = 1_000_000
                args = tuple(rng.standard_normal(n).astype(dt)
                             for _ in loss.spec.inputs)
                v = wall_min(lambda a=args, f=loss, k=kind: f(*a, kind=k, backend="serial"))
                vg = wall_min(lambda a=args, f=loss, k=kind: f.value_and_grad(
                    *a, kind=k, backend="serial"))
                print(f"| {name}({kind}) | {dt} | {n:.0e} | {v * 1e6:.1f} | {vg * 1e6:.1f} |")


if __name__ == "__main__":
    main()
