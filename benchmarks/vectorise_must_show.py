"""Vectorised pointwise kernels: ns/element, roofline and per-call overhead, peers in one run.

Prints three tables (run on a quiet machine; the load average is printed first):

1. serial, n = 1e6: ns/element of every pointwise loss, ``value`` and ``value_and_grad``,
   float64 and float32, beside NumPy (``fastloss._numpy_baselines``) and PyTorch CPU
   (``torch.set_num_threads(1)``); the goal for the exp/log losses is <= 3 ns (float64) and
   <= 1.5 ns (float32).
2. the memory-light losses at n = 1e5, 1e6, 1e7 (``backend="auto"``) against a streaming
   kernel that moves the same bytes (% of that roofline; goal >= 80%).
3. the per-call overhead at n = 100 of ``mse``, ``huber(delta=1.0)``,
   ``mse(sample_weight=w)`` (and ``value_and_grad(out=)``, ``axis=-1``, float32, a GAN
   loss) against the bare kernel call (goal: within 2 us).

Usage: ``python benchmarks/vectorise_must_show.py [--quick]`` (about 2-3 minutes).
"""

from __future__ import annotations

import os
import sys
import timeit

import numpy as np

import fastloss
from fastloss import bench as B
from fastloss._kernels import cpu
from fastloss._numpy_baselines import BASELINES
from fastloss._spec import REGISTRY

EXPLOG = (
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "focal",
    "poisson_nll",
    "tweedie",
    "log_cosh",
)
LIGHT = ("mse", "mae", "huber", "smooth_l1", "quantile", "hinge", "squared_hinge")


def best(fn, budget=0.15, repeat=5):
    """Best time of one call (seconds), each sample at least ``budget / repeat`` long."""
    fn()
    t = timeit.timeit(fn, number=1)
    number = max(1, int(budget / repeat / max(t, 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def _bind(fn, args, kw):
    return lambda: fn(*args, **kw)


def pointwise_names():
    return [n for n, s in REGISTRY.items() if s.kind == "pointwise"]


def table_ns(n, quick):
    import torch

    torch.set_num_threads(1)
    refs = B._torch_refs()
    print(f"\n## serial, n = {n:.0e}: ns/element (fastloss | NumPy | PyTorch 1 thread)\n")
    print(
        f"{'loss':34s} {'op':15s} {'dtype':8s} {'fastloss':>9s} {'numpy':>9s} "
        f"{'torch':>9s} {'xNumPy':>7s} {'xtorch':>7s}"
    )
    for name in pointwise_names():
        spec = REGISTRY[name]
        loss = getattr(fastloss, name)
        for op in ("value", "value_and_grad"):
            for dt in (np.float64, np.float32):
                args, params = B.make_inputs(spec, n, dt)
                t_fl = best(B.call_op(loss, op, args, params, "serial"))
                base = BASELINES.get(name)
                f_np = base.op(op) if base is not None else None
                t_np = best(_bind(f_np, args, params)) if f_np else None
                f_t = refs.get(name, {}).get(op)
                t_t = best(_bind(f_t, args, params)) if f_t else None
                cells = [t_fl, t_np, t_t]
                ns = [f"{t / n * 1e9:9.2f}" if t else f"{'-':>9s}" for t in cells]
                rn = f"{t_np / t_fl:7.2f}" if t_np else f"{'-':>7s}"
                rt = f"{t_t / t_fl:7.2f}" if t_t else f"{'-':>7s}"
                mark = ""
                if name in EXPLOG:
                    goal = 3.0 if dt == np.float64 else 1.5
                    mark = "  ok" if t_fl / n * 1e9 <= goal else f"  > {goal} goal"
                print(f"{name:34s} {op:15s} {np.dtype(dt).name:8s} {' '.join(ns)} {rn} {rt}{mark}")
            if quick:
                break


def table_roofline(sizes):
    print("\n## memory-light losses, backend='auto': % of the streaming roofline\n")
    print(f"{'loss':16s} {'op':15s} {'n':>8s} {'time':>10s} {'roofline':>10s} {'%':>6s}")
    for name in LIGHT:
        spec = REGISTRY[name]
        loss = getattr(fastloss, name)
        for n in sizes:
            args, params = B.make_inputs(spec, n, np.float64)
            out = np.empty(n)
            for op in ("value", "value_and_grad"):
                kw = dict(params) if op == "value" else dict(params, out=out)
                t = best(_bind(loss if op == "value" else loss.value_and_grad, args, kw))
                backend = fastloss._backend.resolve(None, n, spec.cost)
                roof = best(B.roofline_call(16 * n, 8 * n if op != "value" else 0, backend))
                print(
                    f"{name:16s} {op:15s} {n:8.0e} {t * 1e6:8.1f}us {roof * 1e6:8.1f}us "
                    f"{100 * roof / t:5.0f}%"
                )


def table_overhead():
    print("\n## per-call overhead at n = 100 (us; bare = the kernel called directly)\n")
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal(100), rng.standard_normal(100)
    w = rng.uniform(0.5, 1.5, 100)
    g = np.empty(100)
    W = np.zeros(1)
    res = np.zeros(1)

    def kern(name, wmode=0, write_g=False):
        return cpu.pointwise_kernel(
            REGISTRY[name].scalar,
            parallel=False,
            reduce=True,
            rows=False,
            write_l=False,
            write_g=write_g,
            write_h=False,
            wmode=wmode,
            ybcast=False,
            has_cp=False,
        )

    k_mse, k_hub, k_w, k_vg = kern("mse"), kern("huber"), kern("mse", 1), kern("mse", 0, True)
    prm0, prm1 = (np.float64(0.0),), (np.float64(1.0),)
    y32, p32 = y.astype(np.float32), p.astype(np.float32)
    g32 = np.empty(100, np.float32)
    k32 = kern("mse")
    rows = (y.reshape(10, 10), p.reshape(10, 10))
    res10 = np.zeros(10)
    k_rows = cpu.pointwise_kernel(
        REGISTRY["mse"].scalar,
        parallel=False,
        reduce=True,
        rows=True,
        write_l=False,
        write_g=False,
        write_h=False,
        wmode=0,
        ybcast=False,
        has_cp=False,
    )
    cases = [
        (
            "mse(y, p)",
            lambda: fastloss.mse(y, p),
            lambda: k_mse(y, p, W, W, prm0, 1.0, 100, p, p, p, res),
        ),
        (
            "huber(y, p, delta=1.0)",
            lambda: fastloss.huber(y, p, delta=1.0),
            lambda: k_hub(y, p, W, W, prm1, 1.0, 100, p, p, p, res),
        ),
        (
            "mse(y, p, sample_weight=w)",
            lambda: fastloss.mse(y, p, sample_weight=w),
            lambda: k_w(y, p, w, W, prm0, 1.0, 100, p, p, p, res),
        ),
        (
            "mse.value_and_grad(out=g)",
            lambda: fastloss.mse.value_and_grad(y, p, out=g),
            lambda: k_vg(y, p, W, W, prm0, 0.01, 100, p, g, p, res),
        ),
        (
            "mse(axis=-1), 10x10",
            lambda: fastloss.mse(*rows, axis=-1),
            lambda: k_rows(y, p, W, W, prm0, 1.0, 10, p, p, p, res10),
        ),
        (
            "mse float32",
            lambda: fastloss.mse(y32, p32),
            lambda: k32(y32, p32, W, W, (np.float32(0.0),), 1.0, 100, p32, g32, p32, res),
        ),
        ("gan_discriminator(r, f)", lambda: fastloss.gan_discriminator(y, p), None),
    ]
    print(f"{'call':30s} {'public':>9s} {'bare':>9s} {'overhead':>9s}")
    for label, pub, bare in cases:
        tp = best(pub, 0.2, 7) * 1e6
        tb = best(bare, 0.2, 7) * 1e6 if bare else float("nan")
        print(f"{label:30s} {tp:9.2f} {tb:9.2f} {tp - tb:9.2f}")


def main():
    quick = "--quick" in sys.argv
    print(f"load average: {os.getloadavg()}")
    print(B.machine_info())
    table_overhead()
    table_ns(10**6, quick)
    table_roofline((10**5, 10**6) if quick else (10**5, 10**6, 10**7))
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
