"""fastloss.torch against PyTorch's own losses, forward + backward on the CPU, in one run.

1. ``cross_entropy`` 4096 x 32000 float32 logits, int64 labels (goal >= 5x).
2. ``binary_cross_entropy_with_logits`` n = 1e6 float32 (goal >= 2x).
3. ``mse_loss`` n = 1e6 float32 (goal >= 2x).
4. ``nt_xent`` N = 4096, d = 128 float32 against SimCLR written with PyTorch ops
   (normalise, similarity matrix, diagonal masked, cross-entropy; goal >= 2x).
5. Per-call overhead at n = 100 (``mse_loss``, ``cross_entropy`` 10 x 10): the bridge's
   forward + backward against PyTorch's, and the bare fastloss ``value_and_grad`` call.

Each step is ``loss = f(x, t); loss.backward()`` on a leaf tensor that requires grad.
Timings are the best (and median) of interleaved repeats after a warm-up call (Numba
compilation and PyTorch's first-call costs excluded); both sides use the same threads.

    PYTHONPATH=. python benchmarks/torch_bridge_must_show.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numba
import torch
import torch.nn.functional as F

import fastloss
import fastloss.torch as ft


def torch_nt_xent(z1, z2, temperature=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]))


def step(fn, leaves, *rest, **kw):
    def run():
        for x in leaves:
            x.grad = None
        fn(*leaves, *rest, **kw).backward()

    return run


def bare(loss, *tensors, **kw):
    arrays = [t.detach().numpy() for t in tensors]
    return lambda: loss.value_and_grad(*arrays, **kw)


def timeit(fns: dict, repeats: int, inner: int = 1) -> dict:
    for f in fns.values():  # warm-up
        f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def check(a_fn, b_fn, leaves, *rest, rtol=1e-4, **kw):
    """The bridge and PyTorch agree (value and gradient) on these inputs."""
    out = []
    for fn in (a_fn, b_fn):
        for x in leaves:
            x.grad = None
        v = fn(*leaves, *rest, **kw)
        v.backward()
        out.append((v.item(), [x.grad.clone() for x in leaves]))
    (va, ga), (vb, gb) = out
    assert abs(va - vb) <= rtol * max(1.0, abs(vb)), (va, vb)
    for a, b in zip(ga, gb, strict=False):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * float(b.abs().max()))


def row(name, res, ours="bridge", theirs="torch", goal=None, unit="ms", scale=1e3):
    (b_best, b_med), (t_best, t_med) = res[ours], res[theirs]
    sp = t_best / b_best
    g = f"  goal >= {goal:g}x: {'met' if sp >= goal else 'NOT met'}" if goal else ""
    bare = f"{res['fastloss'][0] * scale:10.3f}" if "fastloss" in res else " " * 10
    print(
        f"{name:<46s} {t_best * scale:10.3f} {b_best * scale:10.3f} {bare} {unit:<3s}"
        f"  {sp:6.2f}x (median {t_med / b_med:5.2f}x){g}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    g = torch.Generator().manual_seed(0)
    f32 = torch.float32

    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), fastloss "
        f"{fastloss.__version__} (numba {numba.__version__}, {numba.get_num_threads()} "
        f"threads, {numba.threading_layer() if numba.config.THREADING_LAYER else ''}), "
        f"load average {os.getloadavg()}"
    )
    print(
        f"{'forward + backward':<46s} {'PyTorch':>10s} {'bridge':>10s} {'fastloss':>10s}"
        "      speed-up of the bridge over PyTorch (fastloss: value_and_grad on NumPy views)"
    )

    x = torch.randn(4096, 32000, generator=g, dtype=f32).requires_grad_()
    y = torch.randint(0, 32000, (4096,), generator=g)
    check(ft.cross_entropy, F.cross_entropy, [x], y)
    res = timeit(
        {
            "bridge": step(ft.cross_entropy, [x], y),
            "torch": step(F.cross_entropy, [x], y),
            "fastloss": bare(fastloss.cross_entropy, y, x),
        },
        args.repeats,
    )
    row("cross_entropy 4096 x 32000 float32", res, goal=5)
    del x, y

    x = torch.randn(10**6, generator=g, dtype=f32).requires_grad_()
    t = torch.rand(10**6, generator=g, dtype=f32)
    check(ft.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, [x], t)
    res = timeit(
        {
            "bridge": step(ft.binary_cross_entropy_with_logits, [x], t),
            "torch": step(F.binary_cross_entropy_with_logits, [x], t),
            "fastloss": bare(fastloss.binary_cross_entropy_with_logits, t, x),
        },
        4 * args.repeats,
    )
    row("binary_cross_entropy_with_logits n=1e6 f32", res, goal=2)

    check(ft.mse_loss, F.mse_loss, [x], t)
    res = timeit(
        {
            "bridge": step(ft.mse_loss, [x], t),
            "torch": step(F.mse_loss, [x], t),
            "fastloss": bare(fastloss.mse, t, x),
        },
        4 * args.repeats,
    )
    row("mse_loss n=1e6 float32", res, goal=2)

    z1 = torch.randn(4096, 128, generator=g, dtype=f32).requires_grad_()
    z2 = (z1.detach() + 0.3 * torch.randn(4096, 128, generator=g, dtype=f32)).requires_grad_()
    check(ft.nt_xent, torch_nt_xent, [z1, z2], temperature=0.5)
    res = timeit(
        {
            "bridge": step(ft.nt_xent, [z1, z2], temperature=0.5),
            "torch": step(torch_nt_xent, [z1, z2], temperature=0.5),
            "fastloss": bare(fastloss.nt_xent, z1, z2, temperature=0.5),
        },
        args.repeats,
    )
    row("nt_xent N=4096 d=128 float32 (vs PyTorch ops)", res, goal=2)

    print(f"\nper call at n = 100 (forward + backward; {'us':>3s})")
    x = torch.randn(100, generator=g, dtype=f32).requires_grad_()
    t = torch.randn(100, generator=g, dtype=f32)
    xn, tn = x.detach().numpy(), t.numpy()
    res = timeit(
        {
            "bridge": step(ft.mse_loss, [x], t),
            "torch": step(F.mse_loss, [x], t),
            "fastloss": lambda: fastloss.mse.value_and_grad(tn, xn),
        },
        args.repeats,
        inner=500,
    )
    row("mse_loss n=100", res, unit="us", scale=1e6)
    print(
        f"{'  bare fastloss.mse.value_and_grad (NumPy)':<46s} "
        f"{res['fastloss'][0] * 1e6:21.3f} us; the bridge adds "
        f"{(res['bridge'][0] - res['fastloss'][0]) * 1e6:.1f} us"
    )
    x = torch.randn(10, 10, generator=g, dtype=f32).requires_grad_()
    y = torch.randint(0, 10, (10,), generator=g)
    res = timeit(
        {
            "bridge": step(ft.cross_entropy, [x], y),
            "torch": step(F.cross_entropy, [x], y),
            "fastloss": bare(fastloss.cross_entropy, y, x),
        },
        args.repeats,
        inner=500,
    )
    row("cross_entropy 10 x 10", res, unit="us", scale=1e6)
    print(f"\nload average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
