"""Shared machinery of the asv suite: which losses, which inputs, and the generated classes.

The suite is generated from ``fastloss.REGISTRY``: a loss registered in a family module is
benchmarked with no edit here. asv imports this suite once against the newest commit
(discovery) and again against every commit it measures, so the *names* of the generated
classes must not depend on the installed fastloss alone (a loss missing from an older
commit would be "not found" there and abort ``asv continuous``). The names are therefore the
union of ``CATALOGUE`` (every loss of the public API) and the
registry of the fastloss installed in this environment; or, when ``FASTLOSS_ASV_LOSSES`` is
set (comma separated; the CI gate sets it to HEAD's registry), exactly those names: the
same classes on both commits, no idle "n/a" ones.

A loss, backend or op that the measured commit cannot run raises ``NotImplementedError`` in
``setup``, which asv shows as "n/a". Class parameters never depend on the installed fastloss
(asv addresses parameter combinations by index).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

POINTWISE = (
    "mse", "mae", "huber", "smooth_l1", "log_cosh", "quantile", "poisson_nll", "tweedie",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "focal", "hinge",
    "squared_hinge", "rmse",
)
CATALOGUE = POINTWISE + (
    # classification (row-wise)
    "log_loss", "cross_entropy", "kl_divergence",
    # adversarial
    "gan_discriminator", "gan_generator", "adversarial_value",
    # contrastive
    "info_nce", "nt_xent", "triplet_margin", "cosine_embedding",
    # penalties
    "l1_penalty", "l2_penalty", "elastic_net",
    # fused
    "linear_cross_entropy",
)

OPS = ("value", "grad", "value_and_grad", "grad_hess")
BACKENDS = ("serial", "parallel", "cuda")
DTYPES = ("float32", "float64")
# 1e4 and 1e5 elements are cache-sized (the CI gate uses 1e5 float64, serial); 1e6 is
# memory-bound and kept for information (it understates code slowdowns).
SIZES = (10_000, 100_000, 1_000_000)


def loss_names() -> list[str]:
    env = os.environ.get("FASTLOSS_ASV_LOSSES", "")
    if env:  # the CI gate: exactly HEAD's losses, the same classes on both commits
        return list(dict.fromkeys(n.strip() for n in env.split(",") if n.strip()))
    names = list(CATALOGUE)
    try:
        import fastloss

        names += list(fastloss.REGISTRY)
    except Exception:  # an unbuildable commit: every setup below will say so
        pass
    return list(dict.fromkeys(names))


def pointwise_names() -> list[str]:
    names = list(POINTWISE)
    try:
        import fastloss

        names += [k for k, s in fastloss.REGISTRY.items() if s.kind == "pointwise"]
    except Exception:
        pass
    env = os.environ.get("FASTLOSS_ASV_POINTWISE", "")
    names += [n.strip() for n in env.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def get_loss(name: str):
    """The loss object and its spec, or NotImplementedError (asv: n/a)."""
    import fastloss

    reg = getattr(fastloss, "REGISTRY", {})
    spec = reg.get(name)
    if spec is None:
        raise NotImplementedError(f"{name} is not registered in this commit")
    if getattr(spec, "sample", None) is None:
        raise NotImplementedError(f"{name} has no sampler in this commit")
    return getattr(fastloss, name), spec


def check_backend(backend: str) -> None:
    if backend == "cuda":
        from fastloss import _backend

        reason = _backend.cuda_unavailable_reason()
        if reason is not None:
            raise NotImplementedError(f"cuda not usable here: {reason}")


def shape_for(spec, n: int) -> tuple:
    custom = getattr(spec, "bench_shape", None)
    if callable(custom):
        return tuple(custom(n))
    if spec.kind == "pointwise":
        return (n,)
    c = max(1, math.isqrt(n))  # square, as fastloss bench: O(n) memory for pairwise losses
    return (max(1, n // c), c)


def make_inputs(spec, n: int, dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    args, params = spec.sample(rng, shape_for(spec, n), np.dtype(dtype))
    return tuple(args), dict(params)


def bind(loss, spec, op: str, args, params, backend: str):
    """A no-argument callable running ``op`` once, or NotImplementedError."""
    kw = dict(params, backend=backend)
    if op == "value":
        return lambda: loss(*args, **kw)
    if op == "grad":
        return lambda: loss.grad(*args, **kw)
    if op == "value_and_grad":
        return lambda: loss.value_and_grad(*args, **kw)
    if op == "grad_hess":
        if not getattr(spec, "has_hess", False):
            raise NotImplementedError(f"{spec.name} has no grad_hess")
        return lambda: loss.grad_hess(*args, **kw)
    raise ValueError(op)


def make_time_class(name: str, op: str):
    """``<module op>.<loss>.time_<op>(backend, dtype, n)``."""

    def setup(self, backend, dtype, n):
        loss, spec = get_loss(name)
        check_backend(backend)
        args, params = make_inputs(spec, n, dtype)
        self.fn = bind(loss, spec, op, args, params, backend)
        self.fn()  # compile (or load from Numba's disk cache) outside the timing
        t0 = time.perf_counter()
        self.fn()
        if time.perf_counter() - t0 > 0.5:
            raise NotImplementedError(f"{name} {op} takes over 0.5 s a call at n={n}")

    def run(self, backend, dtype, n):
        self.fn()

    run.__name__ = f"time_{op}"
    attrs = {
        "params": [list(BACKENDS), list(DTYPES), list(SIZES)],
        "param_names": ["backend", "dtype", "n"],
        "setup": setup,
        f"time_{op}": run,
        "warmup_time": 0.05,
        "repeat": (3, 10, 1.0),
        "rounds": 2,
        "timeout": 120,
        "__module__": f"asv_benchmarks.{op}",
    }
    return type(name, (), attrs)


def classes_for(op: str) -> dict:
    return {name: make_time_class(name, op) for name in loss_names()}
