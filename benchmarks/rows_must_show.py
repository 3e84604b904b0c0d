"""Row-wise kernels, the bench's peers and the boosting objectives, against their peers in
one run (fastloss and each peer interleaved, best of the samples), on 2 threads.

1. ``cross_entropy`` value, 4096 x 1000 float32, against ``torch.nn.functional.cross_entropy``;
2. ``cross_entropy.value_and_grad`` (``out=`` preallocated, and without), 4096 x 32000
   float32, against PyTorch forward + backward;
3. ``binary_cross_entropy_with_logits.value_and_grad`` (``out=``), n = 1e7 float64, against
   scikit-learn ``HalfBinomialLoss.loss_gradient(n_threads=2)`` and jitted JAX on the CPU;
4. per-call overhead: ``cross_entropy`` on N = 10, C = 10 against its bare serial kernel;
5. the XGBoost objective (``obj(predt, dtrain)``, weighted float32 rows) against a plain
   NumPy objective, 1e5 and 1e6 rows.

    python benchmarks/rows_must_show.py            # about 2-3 minutes
    OMP_WAIT_POLICY=PASSIVE python benchmarks/rows_must_show.py

PyTorch's OpenMP threads spin after each call; on 2 cores fastloss's parallel kernels that
run next share the cores with them, in some processes and not others (item 1 took 0.74-0.80
or 1.4-1.8 ms). ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep at once.
"""

from __future__ import annotations

import os
import time

import numpy as np

import fastloss

THREADS = 2


def best(fns: dict, repeat: int, number: int = 1) -> dict:
    """Best seconds per call of each callable, sampled round-robin."""
    out = {k: np.inf for k in fns}
    for f in fns.values():
        f()  # warm: compile, caches, thread pools
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            out[k] = min(out[k], (time.perf_counter() - t0) / number)
    return out


def row(what, t_fl, peers):
    cells = "  ".join(f"{name} {t * 1e3:9.3f} ms ({t / t_fl:5.2f}x)" for name, t in peers.items())
    print(f"{what:58s} fastloss {t_fl * 1e3:9.3f} ms  {cells}")


def torch_part():
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    x = (2 * rng.standard_normal((4096, 1000))).astype(np.float32)
    y = rng.integers(0, 1000, 4096)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        np.testing.assert_allclose(
            fastloss.cross_entropy(y, x), F.cross_entropy(xt, yt).item(), rtol=1e-5
        )
    t = best(
        {"fl": lambda: fastloss.cross_entropy(y, x), "torch": lambda: F.cross_entropy(xt, yt)},
        repeat=30,
    )
    row("1. cross_entropy value 4096x1000 f32", t["fl"], {"torch": t["torch"]})

    x = (2 * rng.standard_normal((4096, 32000))).astype(np.float32)
    y = rng.integers(0, 32000, 4096)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xr = xt.clone().requires_grad_(True)
    out = np.empty_like(x)

    def torch_fb():
        xr.grad = None
        F.cross_entropy(xr, yt).backward()

    t = best(
        {
            "fl_out": lambda: fastloss.cross_entropy.value_and_grad(y, x, out=out),
            "fl": lambda: fastloss.cross_entropy.value_and_grad(y, x),
            "torch": torch_fb,
        },
        repeat=3,
    )
    row(
        "2. cross_entropy value_and_grad 4096x32000 f32 (out=)",
        t["fl_out"],
        {"torch fwd+bwd": t["torch"]},
    )
    row("   same, gradient allocated per call", t["fl"], {"torch fwd+bwd": t["torch"]})


def bce_part():
    rng = np.random.default_rng(1)
    n = 10_000_000
    y = (rng.random(n) < 0.5).astype(np.float64)
    x = 2 * rng.standard_normal(n)
    out = np.empty_like(x)
    fns = {"fl": lambda: fastloss.binary_cross_entropy_with_logits.value_and_grad(y, x, out=out)}
    peers = {}
    try:
        from sklearn._loss.loss import HalfBinomialLoss

        hb = HalfBinomialLoss()
        lo, go = np.empty_like(x), np.empty_like(x)
        fns["sklearn"] = lambda: hb.loss_gradient(
            y, x, loss_out=lo, gradient_out=go, n_threads=THREADS
        )
    except ImportError:
        print("   (scikit-learn not installed)")
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def f(yy, xx):
            return jnp.mean(
                (1.0 - yy) * xx + jnp.maximum(-xx, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(xx)))
            )

        vg = jax.jit(jax.value_and_grad(f, 1))
        yj, xj = jnp.asarray(y), jnp.asarray(x)
        fns["jax"] = lambda: vg(yj, xj)[1].block_until_ready()
    except ImportError:
        print("   (JAX not installed: pip install jax)")
    t = best(fns, repeat=5)
    for k in fns:
        if k != "fl":
            peers[k] = t[k]
    row("3. BCE-with-logits value_and_grad n=1e7 f64 (out=)", t["fl"], peers)


def overhead_part():
    from fastloss._kinds import rowwise as _rowwise
    from fastloss.losses import classification as cl

    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 10))
    y = rng.integers(0, 10, 10)
    spec = fastloss.REGISTRY["cross_entropy"]
    pl = _rowwise.plan(
        spec,
        y,
        x,
        reduction="mean",
        sample_weight=None,
        params={"class_weight": None, "ignore_index": -100, "label_smoothing": 0.0},
    )
    r = pl.rows
    k = _rowwise.rows.row_kernel(
        cl.cross_entropy_row,
        parallel=False,
        write_g=False,
        write_h=False,
        has_t=False,
        has_lab=True,
        has_sw=False,
    )
    lout = np.zeros(10)
    d, d64 = np.zeros(1), np.zeros(1)
    args = (r.x.reshape(-1), d, r.lab, d64, d64, r.prm, pl.scale, 10, lout, d, d, False)
    t = best(
        {"call": lambda: fastloss.cross_entropy(y, x), "bare": lambda: k(*args)},
        repeat=7,
        number=2000,
    )
    print(
        f"{'4. overhead cross_entropy N=10 C=10':58s} call {t['call'] * 1e6:7.2f} us  bare "
        f"kernel {t['bare'] * 1e6:7.2f} us  overhead {(t['call'] - t['bare']) * 1e6:7.2f} us"
    )


def boosting_part():
    try:
        import xgboost as xgb
    except ImportError:
        print("5. (xgboost not installed)")
        return
    from fastloss.integrations.xgboost import objective

    def np_logistic(predt, dtrain):
        y, w = dtrain.get_label(), dtrain.get_weight()
        e = np.exp(-np.abs(predt))
        p = np.where(predt >= 0, 1.0, e) / (1.0 + e)
        return (p - y) * w, np.maximum(p * (1.0 - p), 1e-16) * w

    def np_mse(predt, dtrain):
        y, w = dtrain.get_label(), dtrain.get_weight()
        return 2.0 * (predt - y) * w, np.full_like(predt, 2.0) * w

    rng = np.random.default_rng(3)
    for n in (100_000, 1_000_000):
        predt = (0.5 * rng.standard_normal(n)).astype(np.float32)
        w = (rng.random(n) + 0.5).astype(np.float32)
        for name, ref, y in (
            ("mse", np_mse, rng.standard_normal(n).astype(np.float32)),
            (
                "binary_cross_entropy_with_logits",
                np_logistic,
                (rng.random(n) < 0.3).astype(np.float32),
            ),
        ):
            d = xgb.DMatrix(predt[:, None], label=y, weight=w)
            obj = objective(name)
            obj_serial = objective(name, backend="serial")
            g0, h0 = ref(predt, d)
            for o in (obj, obj_serial):
                g1, h1 = o(predt, d)
                np.testing.assert_allclose(g1, g0, rtol=2e-5, atol=1e-6)
                np.testing.assert_allclose(h1, h0, rtol=2e-5, atol=1e-6)
            # single-threaded candidates apart: idle OpenMP workers would slow them
            t = best(
                {
                    "serial": lambda obj=obj_serial, d=d, p=predt: obj(p, d),
                    "np": lambda ref=ref, d=d, p=predt: ref(p, d),
                },
                repeat=9,
            )
            t.update(best({"fl": lambda obj=obj, d=d, p=predt: obj(p, d)}, repeat=9))
            row(
                f"5. xgboost objective {name[:20]} n={n:.0e} f32 weighted",
                t["fl"],
                {"NumPy": t["np"]},
            )
            row("   same, backend='serial'", t["serial"], {"NumPy": t["np"]})


def main():
    import numba

    numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
    t0 = time.time()
    print(
        f"fastloss {fastloss.__version__}, numba threads {numba.get_num_threads()}, "
        f"load average at start {os.getloadavg()}"
    )
    print("(x: the peer's time over fastloss's; above 1, fastloss is faster)")
    for part in (torch_part, bce_part, overhead_part, boosting_part):
        try:
            part()
        except ImportError as exc:
            print(f"   skipped {part.__name__}: {exc}")
    print(f"load average at end {os.getloadavg()}, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
