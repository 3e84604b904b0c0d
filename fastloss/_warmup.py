"""Compile kernels ahead of time into the disk cache (``fastloss warmup``).

A cold first call compiles its kernel (about a second each, per op, backend and dtype);
warming up does it once, for example when building a container image or after installing
fastloss into a shared (later read-only) environment, so that later processes only load
kernels from the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

BACKENDS = ("serial", "parallel")
DTYPES = ("float32", "float64")


def plan(
    losses: Sequence[str] | None = None,
    *,
    ops: Sequence[str] | None = None,
    backends: Sequence[str] = BACKENDS,
    dtypes: Sequence[str] = DTYPES,
) -> list[tuple]:
    """The ``(loss name, op, backend, dtype)`` calls a warm-up makes; ValueError naming an
    unknown loss, op, backend or dtype."""
    from . import REGISTRY, bench

    names = list(REGISTRY) if not losses else list(losses)
    for n in names:
        if n not in REGISTRY:
            raise ValueError(f"loss: unknown fastloss loss {n!r}")
    for b in backends:
        if b not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {b!r}")
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {d!r}")
    for op in ops or ():
        if op not in bench.OPS:
            raise ValueError(f"op must be one of {bench.OPS}, got {op!r}")
    calls = []
    for n in names:
        have = bench.ops_of(REGISTRY[n])
        for op in have if not ops else [o for o in ops if o in have]:
            for b in backends:
                for d in dtypes:
                    calls.append((n, op, b, d))
    return calls


def warmup(
    losses: Sequence[str] | None = None,
    *,
    ops: Sequence[str] | None = None,
    backends: Sequence[str] = BACKENDS,
    dtypes: Sequence[str] = DTYPES,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run each call of :func:`plan` once on small inputs (which compiles and caches its
    kernels); ``progress(label)`` after each. Returns the number of calls made."""
    import fastloss

    from . import REGISTRY, bench

    calls = plan(losses, ops=ops, backends=backends, dtypes=dtypes)
    for name, op, backend, dtype in calls:
        args, params = bench.make_inputs(REGISTRY[name], 64, dtype)
        bench.call_op(getattr(fastloss, name), op, args, params, backend)()
        if progress is not None:
            progress(f"{name} {op} {backend} {dtype}")
    return len(calls)
