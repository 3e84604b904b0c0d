"""``fastloss bench``: time every loss and op on every usable backend, against NumPy, the
machine's memory bandwidth, and scikit-learn / PyTorch when they are installed.

What a row means (one loss, op, backend, dtype and size ``n`` elements):

* ``time``: best of ``repeat`` samples of the mean time of one call (each sample runs the
  call enough times to last ``min_time``); all candidates of one row group (the backends,
  NumPy, the roofline, the other libraries) are sampled interleaved, round after round, so
  that a load spike on a shared machine hits them alike.
* ``GB/s``: the bytes of the inputs plus the bytes of the arrays returned, over ``time``.
* ``roof``: the time of a Numba kernel that only streams the same bytes (reads as many,
  writes as many, with the same backend: serial or parallel) over ``time``; 100% is the
  memory-bandwidth bound.
* ``ns/el``: ``time`` over ``n``, in nanoseconds per element.
* ``xNumPy``, ``xtorch``, ``xsklearn``, ``xjax``: the other library's time over fastloss's
  time (above 1: fastloss is faster). NumPy is :mod:`fastloss._numpy_baselines`; PyTorch and
  scikit-learn run with as many threads as the backend (1 for serial); JAX (jitted, on the
  CPU) runs with XLA's own thread pool, which cannot be resized once started.
* backend ``auto``: the call as a user makes it, the dispatcher choosing serial or parallel.

Inputs come only from each loss's ``spec.sample(rng, shape, dtype)``: ``shape`` is ``(n,)``
for pointwise losses and about ``(sqrt(n), sqrt(n))`` for the others (a spec may define
``bench_shape(n)`` returning its own). The calls are ``L(*args, **params)``, ``L.grad``,
``L.value_and_grad`` and ``L.grad_hess``.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

OPS = ("value", "grad", "value_and_grad", "grad_hess")
CPU_BACKENDS = ("serial", "parallel", "auto")
FULL_SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (1_000_000,)
QUICK_OPS = ("value", "value_and_grad")
# the grid of --grid: each size with the backend it is timed on
GRID = {1_000: ("auto",), 100_000: ("auto",), 1_000_000: ("serial",), 10_000_000: ("auto",)}
COMPARE = ("numpy", "torch", "sklearn", "jax")


# ----------------------------------------------------------------------------- inputs


def shape_for(spec, n: int) -> tuple:
    """The ``shape`` given to ``spec.sample`` for a size of ``n`` elements."""
    custom = getattr(spec, "bench_shape", None)
    if callable(custom):
        return tuple(custom(n))
    if spec.kind == "pointwise":
        return (n,)
    # square: rows x columns = n whatever the loss does with them, so that a pairwise loss
    # (an N x N similarity matrix) still holds O(n) memory
    c = max(1, math.isqrt(n))
    return (max(1, n // c), c)


def make_inputs(spec, n: int, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    args, params = spec.sample(rng, shape_for(spec, n), np.dtype(dtype))
    return tuple(args), dict(params)


def ops_of(spec) -> tuple:
    return tuple(op for op in OPS if op != "grad_hess" or getattr(spec, "has_hess", False))


def call_op(loss, op: str, args, params, backend: str | None):
    kw = dict(params)
    if backend is not None:
        kw["backend"] = backend
    if op == "value":
        return lambda: loss(*args, **kw)
    return lambda: getattr(loss, op)(*args, **kw)


def nbytes_of(obj) -> int:
    """Bytes of the arrays in a result (a float, an array, or tuples of them)."""
    if isinstance(obj, (tuple, list)):
        return sum(nbytes_of(o) for o in obj)
    nb = getattr(obj, "nbytes", None)
    if nb is not None and getattr(obj, "ndim", 0) > 0:
        return int(nb)
    return 0


# -------------------------------------------------------------------------- roofline

_ROOF: dict = {}
_ROOF_CHUNK = 16384


def _roof_kernel(parallel: bool):
    k = _ROOF.get(parallel)
    if k is None:
        import numba
        from numba import prange

        CH = _ROOF_CHUNK
        PAR = parallel  # noqa: F841 (in the closure: serial and parallel cache apart)

        def roof(rd, wr):
            PAR  # noqa: B018
            n = rd.shape[0]
            m = wr.shape[0]
            nch = (n + CH - 1) // CH
            parts = np.empty(nch, np.float64)
            for q in prange(nch):
                s = 0.0
                # zero-based views: LLVM vectorises these loops, not range(a, b)
                v = rd[q * CH:min(n, (q + 1) * CH)]
                for i in range(v.shape[0]):
                    s += v[i]
                w = wr[(m * q) // nch:(m * (q + 1)) // nch]
                for j in range(w.shape[0]):
                    w[j] = s
                parts[q] = s
            return parts.sum()

        roof.__name__ = roof.__qualname__ = "roofline_parallel" if parallel else "roofline"
        # its own flags: `reassoc` vectorises the read (the loss kernels' house flags need
        # not); the sum it returns is never used
        opts = dict(parallel=parallel, fastmath={"reassoc", "contract", "nsz"}, nogil=True)
        try:
            k = numba.njit(cache=True, **opts)(roof)
        except RuntimeError:  # no writable cache folder
            k = numba.njit(cache=False, **opts)(roof)
        _ROOF[parallel] = k
    return k


_ROOF_BUFS: dict = {}


def roofline_call(bytes_in: int, bytes_out: int, backend: str) -> Callable:
    """A call streaming ``bytes_in`` bytes in and ``bytes_out`` out (float64 buffers) with
    the serial or parallel Numba backend: the bandwidth bound of a kernel moving them."""
    key = (bytes_in, bytes_out)
    bufs = _ROOF_BUFS.get(key)
    if bufs is None:
        while len(_ROOF_BUFS) >= 4:  # keep the memory bounded (1e7 elements: 240 MB a pair)
            _ROOF_BUFS.pop(next(iter(_ROOF_BUFS)))
        rd = np.random.default_rng(0).random(max(1, math.ceil(bytes_in / 8)))
        wr = np.empty(math.ceil(bytes_out / 8))
        bufs = _ROOF_BUFS[key] = (rd, wr)
    rd, wr = bufs
    k = _roof_kernel(backend == "parallel")
    if backend == "parallel":
        from . import _backend

        def call():
            with _backend.parallel_launch():
                k(rd, wr)

        return call
    return lambda: k(rd, wr)


# ------------------------------------------------------------------ other libraries


def _threads(n: int | None):
    """Context for the other libraries' thread count (torch; sklearn takes n_threads)."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        torch = sys.modules.get("torch")
        old = torch.get_num_threads() if torch is not None else None
        if torch is not None and n is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None and old is not None:
                torch.set_num_threads(old)

    return ctx()


def _torch_refs():
    try:
        import torch
        import torch.nn.functional as F
    except Exception:
        return {}

    t = torch.from_numpy

    def vg(fn, diff=(1,)):
        """value_and_grad through autograd; ``diff`` are the indices of float inputs."""

        def run(*args, **kw):
            ts = [t(np.ascontiguousarray(a)) for a in args]
            for i in diff:
                ts[i] = ts[i].detach().requires_grad_(True)
            v = fn(*ts, **kw)
            v.backward()
            g = tuple(ts[i].grad.numpy() for i in diff)
            return v.item(), g[0] if len(g) == 1 else g

        return run

    def val(fn):
        def run(*args, **kw):
            with torch.no_grad():
                return fn(*[t(np.ascontiguousarray(a)) for a in args], **kw).item()

        return run

    def pair(fn, diff=(1,)):
        return {"value": val(fn), "value_and_grad": vg(fn, diff)}

    refs = {
        "mse": pair(lambda y, p: F.mse_loss(p, y)),
        "rmse": pair(lambda y, p: torch.sqrt(F.mse_loss(p, y))),
        "mae": pair(lambda y, p: F.l1_loss(p, y)),
        "huber": pair(lambda y, p, delta=1.0: F.huber_loss(p, y, delta=delta)),
        "smooth_l1": pair(lambda y, p, beta=1.0: F.smooth_l1_loss(p, y, beta=beta)),
        "poisson_nll": pair(lambda y, p, log_input=True, full=False, eps=1e-8:
                            F.poisson_nll_loss(p, y, log_input=log_input, full=full,
                                               eps=eps)),
        "binary_cross_entropy": pair(lambda y, p: F.binary_cross_entropy(p, y)),
        "binary_cross_entropy_with_logits": pair(
            lambda y, x, pos_weight=None: F.binary_cross_entropy_with_logits(
                x, y, pos_weight=None if pos_weight is None
                else torch.as_tensor(pos_weight, dtype=x.dtype))),
        "kl_divergence": pair(lambda p, q: F.kl_div(torch.log(q), p, reduction="batchmean")),
        "triplet_margin": pair(
            lambda a, pos, neg, margin=1.0, p=2, eps=1e-6, swap=False:
            F.triplet_margin_loss(a, pos, neg, margin=margin, p=p, eps=eps, swap=swap),
            diff=(0, 1, 2)),
        "cosine_embedding": pair(
            lambda x1, x2, y, margin=0.0: F.cosine_embedding_loss(x1, x2, y, margin=margin),
            diff=(0, 1)),
        "info_nce": pair(
            lambda q, k, temperature=0.1: F.cross_entropy(
                F.normalize(q) @ F.normalize(k).T / temperature,
                torch.arange(q.shape[0])),
            diff=(0, 1)),
    }

    def ce(target, x, class_weight=None, ignore_index=-100, label_smoothing=0.0):
        if target.dtype in (torch.int32, torch.int64, torch.uint8, torch.int16):
            target = target.long()
        w = None if class_weight is None else torch.as_tensor(class_weight, dtype=x.dtype)
        return F.cross_entropy(x, target, weight=w, ignore_index=ignore_index,
                               label_smoothing=label_smoothing)

    refs["cross_entropy"] = pair(ce)

    def lce(target, h, w, b=None, **kw):
        z = h @ w.T
        return ce(target, z if b is None else z + b, **kw)

    refs["linear_cross_entropy"] = pair(lce, diff=(1, 2, 3))
    return refs


# losses whose sklearn "value" column is a sklearn.metrics function (the same quantity);
# the other sklearn columns time sklearn._loss objects, half-scaled twins doing the same work
SKLEARN_METRIC_VALUES = ("mse", "rmse", "mae", "quantile", "log_loss", "hinge")


def _sklearn_refs():
    try:
        from sklearn import metrics
        from sklearn._loss import loss as skl
    except Exception:
        return {}

    def lossobj(make, y_as=np.float64):
        def value(*args, n_threads=1, **kw):
            y, raw = args[0], args[1]
            obj = make(raw, **kw)
            return float(obj(np.asarray(y, raw.dtype), raw, n_threads=n_threads))

        def value_and_grad(*args, n_threads=1, **kw):
            y, raw = args[0], args[1]
            obj = make(raw, **kw)
            lv, g = obj.loss_gradient(np.asarray(y, raw.dtype), raw, n_threads=n_threads)
            return float(lv.mean()), g

        return {"value": value, "value_and_grad": value_and_grad}

    def metric(fn):
        return {"value": lambda *a, n_threads=1, **kw: float(fn(*a, **kw))}

    refs = {
        "mse": {**lossobj(lambda r: skl.HalfSquaredError()),
                **metric(metrics.mean_squared_error)},
        "rmse": metric(metrics.root_mean_squared_error),
        "mae": {**lossobj(lambda r: skl.AbsoluteError()), **metric(metrics.mean_absolute_error)},
        "quantile": {**lossobj(lambda r, quantile=0.5: skl.PinballLoss(quantile=quantile)),
                     **metric(lambda y, p, quantile=0.5:
                              metrics.mean_pinball_loss(y, p, alpha=quantile))},
        "poisson_nll": lossobj(lambda r, **kw: skl.HalfPoissonLoss()),
        "tweedie": lossobj(lambda r, power=1.5: skl.HalfTweedieLoss(power=power)),
        "binary_cross_entropy_with_logits": lossobj(lambda r, **kw: skl.HalfBinomialLoss()),
        "log_loss": metric(lambda y, p: metrics.log_loss(
            y, p, labels=np.arange(p.shape[1]) if np.ndim(p) == 2 else None)),
        "hinge": metric(metrics.hinge_loss),
    }

    def multinomial(target, x, n_threads=1, **kw):
        obj = skl.HalfMultinomialLoss(n_classes=x.shape[1])
        return obj, np.asarray(target, x.dtype), np.ascontiguousarray(x)

    def ce_value(target, x, n_threads=1, **kw):
        obj, y, x = multinomial(target, x)
        return float(obj(y, x, n_threads=n_threads))

    def ce_vg(target, x, n_threads=1, **kw):
        obj, y, x = multinomial(target, x)
        lv, g = obj.loss_gradient(y, x, n_threads=n_threads)
        return float(lv.mean()), g

    refs["cross_entropy"] = {"value": ce_value, "value_and_grad": ce_vg}
    return refs


def _jax_refs():
    """Jitted JAX (CPU) twins: ``value`` and ``value_and_grad`` (``jax.value_and_grad`` with
    respect to the prediction). Turns on ``jax_enable_x64`` so that float64 stays float64."""
    try:
        import jax
        import jax.numpy as jnp
    except Exception:
        return {}
    jax.config.update("jax_enable_x64", True)

    def softplus_neg_abs(x):
        return jnp.log1p(jnp.exp(-jnp.abs(x)))

    def bce_logits(y, x):
        return jnp.mean((1.0 - y) * x - (jnp.minimum(x, 0.0) - softplus_neg_abs(x)))

    def ce(t, x):
        lse = jax.nn.logsumexp(x, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(x, t[:, None], axis=1)[:, 0])

    fns = {
        "mse": lambda y, p: jnp.mean((p - y) ** 2),
        "mae": lambda y, p: jnp.mean(jnp.abs(p - y)),
        "huber": lambda y, p, delta=1.0: jnp.mean(jnp.where(
            jnp.abs(p - y) <= delta, 0.5 * (p - y) ** 2, delta * (jnp.abs(p - y) - 0.5 * delta))),
        "log_cosh": lambda y, p: jnp.mean(jnp.abs(p - y) + jnp.log1p(jnp.exp(-2.0 * jnp.abs(
            p - y))) - jnp.log(2.0)),
        "binary_cross_entropy_with_logits": bce_logits,
        "binary_cross_entropy": lambda y, p: -jnp.mean(
            y * jnp.maximum(jnp.log(p), -100.0) + (1.0 - y) * jnp.maximum(jnp.log1p(-p), -100.0)),
        "hinge": lambda y, p: jnp.mean(jnp.maximum(0.0, 1.0 - jnp.where(y > 0, 1.0, -1.0) * p)),
        "cross_entropy": ce,
        "kl_divergence": lambda p, q: jnp.sum(jnp.where(p > 0, p * (jnp.log(p) - jnp.log(q)),
                                                        0.0)) / p.shape[0],
    }
    jitted: dict = {}

    def get(name, op, kw):
        key = (name, op, tuple(sorted(kw.items())))
        f = jitted.get(key)
        if f is None:
            base = fns[name]

            def fn(a, b):
                return base(a, b, **kw)

            f = jitted[key] = jax.jit(fn if op == "value" else jax.value_and_grad(fn, 1))
        return f

    def pair(name):
        def value(*args, **kw):
            return float(get(name, "value", kw)(*args).block_until_ready())

        def value_and_grad(*args, **kw):
            v, g = get(name, "value_and_grad", kw)(*args)
            return float(v), np.asarray(g.block_until_ready())

        return {"value": value, "value_and_grad": value_and_grad}

    return {name: pair(name) for name in fns}


# --------------------------------------------------------------------------- timing


def _calibrate(fn: Callable, min_time: float) -> tuple[int, float]:
    """Calls per sample (enough to last ``min_time``) and the fastest of a few single calls
    (one call can stall for milliseconds waking a thread pool on a loaded machine)."""
    best = math.inf
    spent = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > min_time:
            break
    return max(1, int(math.ceil(min_time / max(best, 1e-7)))), best


def _sample(fn: Callable, number: int) -> float:
    gcold = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if gcold:
            gc.enable()


def time_interleaved(cands: dict, repeat: int, min_time: float, group=None,
                     max_call: float = math.inf) -> dict:
    """Best-of-``repeat`` seconds per call for each candidate, sampled round-robin.

    A candidate is a callable, or ``(callable, context_factory)`` where the context (a
    thread setting) wraps its samples. Candidates that raise are reported as the exception.
    ``group(name)`` splits the candidates into groups timed one after the other (each
    interleaved within itself): single-threaded candidates apart from multi-threaded ones,
    whose idle worker threads (spinning, or slow to wake on a loaded machine) would
    otherwise slow whatever runs next (measured: a serial kernel 1.8x slower right after a
    2-thread PyTorch call). Before each sample of a short call, one untimed call wakes the
    candidate's thread pool. A candidate whose first call takes longer than ``max_call``
    seconds is timed by that one call (after its warm-up call).
    """
    out: dict = {}
    groups: dict = {}
    for name in cands:
        groups.setdefault(None if group is None else group(name), []).append(name)
    for names in groups.values():
        prepared = {}
        for name in names:
            c = cands[name]
            fn, ctx = (c if isinstance(c, tuple) else (c, None))
            try:
                if ctx is not None:
                    with ctx():
                        fn()
                        number, one = _calibrate(fn, min_time)
                else:
                    fn()  # warm (compile, caches)
                    number, one = _calibrate(fn, min_time)
            except Exception as exc:  # the reference cannot run this input
                out[name] = exc
                continue
            out[name] = one
            if one <= max_call:  # else too slow to repeat: that timed call is its number
                prepared[name] = (fn, ctx, number)
        for _ in range(repeat):
            for name, (fn, ctx, number) in prepared.items():
                if ctx is not None:
                    with ctx():
                        fn()  # absorbs a thread-pool resize and wake-up, untimed
                        t = _sample(fn, number)
                else:
                    if number > 1:
                        fn()  # wakes a sleeping thread pool, untimed
                    t = _sample(fn, number)
                out[name] = min(out[name], t)
    return out


def _thread_group(name) -> str:
    """Candidates keyed ``(lib, backend)``: NumPy ('any') runs with the serial group."""
    return "serial" if name[1] in ("serial", "any") else name[1]


# ---------------------------------------------------------------------------- driver


@dataclass
class Row:
    loss: str
    op: str
    backend: str
    dtype: str
    n: int
    shape: tuple
    time_s: float | None = None
    bytes: int = 0
    gbps: float | None = None
    roof_s: float | None = None
    roof_frac: float | None = None
    numpy_s: float | None = None
    torch_s: float | None = None
    sklearn_s: float | None = None
    jax_s: float | None = None
    note: str = ""

    @property
    def ns_per_el(self) -> float | None:
        return None if not self.time_s else self.time_s / max(self.n, 1) * 1e9

    def ratio(self, other: str) -> float | None:
        t = getattr(self, f"{other}_s")
        if t is None or not self.time_s:
            return None
        return t / self.time_s


@dataclass
class BenchConfig:
    losses: Sequence[str] | None = None
    ops: Sequence[str] | None = None
    backends: Sequence[str] | None = None
    dtypes: Sequence[str] = ("float64",)
    sizes: Sequence[int] = FULL_SIZES
    repeat: int = 5
    min_time: float = 0.02
    max_call: float = 2.0
    compare: Sequence[str] = ("numpy", "torch", "sklearn")
    seed: int = 0
    # {n: backends}: time size n on those backends only (the sizes are its keys); see GRID
    size_backends: dict | None = None
    extra: dict = field(default_factory=dict)


class Progress:
    """A progress bar on a terminal; a line every ~10% otherwise; nothing if disabled."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total = max(1, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self._last_decile = -1

    def update(self, label: str, step: int = 1) -> None:
        self.done = min(self.total, self.done + step)
        if not self.enabled:
            return
        frac = self.done / self.total
        el = time.monotonic() - self.t0
        if self.tty:
            width = 30
            fill = int(round(width * frac))
            bar = "#" * fill + "-" * (width - fill)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {el:5.0f}s  {label[:50]:<50}")
            self.stream.flush()
        else:
            dec = int(frac * 10)
            if dec != self._last_decile:
                self._last_decile = dec
                self.stream.write(f"[{100 * frac:3.0f}%] {self.done}/{self.total} "
                                  f"{el:.0f}s {label}\n")
                self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def usable_backends(requested: Sequence[str] | None) -> tuple[list[str], dict]:
    """The backends to run, and {backend: reason} for those asked for but not usable."""
    from . import _backend

    wanted = list(requested) if requested else ["serial", "parallel", "cuda"]
    run, why = [], {}
    for b in wanted:
        if b == "cuda":
            reason = _backend.cuda_unavailable_reason()
            if reason is not None:
                why[b] = reason
                continue
        elif b not in CPU_BACKENDS:
            raise ValueError(f"unknown backend {b!r}; choose from serial, parallel, auto, cuda")
        run.append(b)
    return run, why


def _cuda_wrap(fn_factory, args):
    """Device copies of the inputs and a call that synchronises (for honest timing)."""
    from numba import cuda

    dargs = tuple(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args)

    def make(loss, op, params):
        f = fn_factory(loss, op, dargs, params, "cuda")

        def call():
            r = f()
            cuda.synchronize()
            return r

        return call

    return make


def run(config: BenchConfig, progress: Progress | None = None) -> list[Row]:
    """Run the benchmark; returns one :class:`Row` per (loss, op, backend, dtype, n)."""
    import fastloss

    from . import _numpy_baselines

    names = list(config.losses) if config.losses else list(fastloss.REGISTRY)
    unknown = [n for n in names if n not in fastloss.REGISTRY]
    if unknown:
        from ._spec import did_you_mean

        hint = did_you_mean(unknown[0], fastloss.REGISTRY)
        raise ValueError(f"unknown loss(es) {unknown}{hint} (registered: "
                         f"{', '.join(fastloss.REGISTRY)})")
    backends, _ = usable_backends(config.backends)
    nthreads = _numba_threads()
    refs = {"numpy": {k: v for k, v in _numpy_baselines.BASELINES.items()}}
    if "torch" in config.compare:
        refs["torch"] = _torch_refs()
    if "sklearn" in config.compare:
        refs["sklearn"] = _sklearn_refs()
    if "jax" in config.compare:
        refs["jax"] = _jax_refs()
    sizes = sorted(config.size_backends) if config.size_backends else sorted(config.sizes)

    plan = []
    for name in names:
        spec = fastloss.REGISTRY[name]
        if getattr(spec, "sample", None) is None:
            continue
        ops = [op for op in (config.ops or ops_of(spec)) if op in ops_of(spec)]
        for dtype in config.dtypes:
            for op in ops:
                plan.append((name, spec, dtype, op))
    total = len(plan) * len(sizes)
    if progress is None:
        progress = Progress(total, enabled=False)
    else:
        progress.total = max(1, total)

    rows: list[Row] = []
    too_slow: dict = {}
    all_backends = backends
    for name, spec, dtype, op in plan:
        loss = getattr(fastloss, name)
        for n in sizes:
            backends = all_backends
            if config.size_backends:
                backends = [b for b in config.size_backends[n] if b in all_backends]
            label = f"{name} {op} {dtype} n={n:.0e}"
            key = (name, op, dtype)
            if key in too_slow:
                for b in backends:
                    rows.append(Row(name, op, b, dtype, n, (), note=too_slow[key]))
                progress.update(label)
                continue
            args, params = make_inputs(spec, n, dtype, config.seed)
            shape = tuple(np.shape(args[0])) if args else ()
            bytes_in = sum(a.nbytes for a in args if isinstance(a, np.ndarray))
            probe = call_op(loss, op, args, params, "serial" if "serial" in backends
                            else backends[0] if backends else None)
            try:
                res = probe()
                t0 = time.perf_counter()
                res = probe()
                first = time.perf_counter() - t0
            except Exception as exc:
                for b in backends:
                    rows.append(Row(name, op, b, dtype, n, shape,
                                    note=f"error: {type(exc).__name__}: {exc}"[:200]))
                progress.update(label)
                continue
            bytes_out = nbytes_of(res)
            if first > config.max_call:
                too_slow[key] = f"skipped: one call took {first:.2f} s at n={n:.0e}"
                for b in backends:
                    rows.append(Row(name, op, b, dtype, n, shape, note=too_slow[key]))
                progress.update(label)
                continue
            cands: dict = {}
            for b in backends:
                if b == "cuda":
                    from ._exec import cuda as cuda_road

                    cands[("fastloss", b)] = _cuda_wrap(call_op, args)(loss, op, params)
                    cands[("roof", b)] = cuda_road.device_roofline_call(bytes_in, bytes_out)
                else:
                    cands[("fastloss", b)] = call_op(loss, op, args, params, b)
                    cands[("roof", b)] = roofline_call(bytes_in, bytes_out, b)
            for lib, table in refs.items():
                f = table.get(name)
                fn = (f.op(op) if lib == "numpy" else f.get(op)) if f is not None else None
                if fn is None:
                    continue
                for b in backends if lib != "numpy" else ["any"]:
                    if b == "cuda":
                        continue
                    th = 1 if b == "serial" else nthreads
                    if lib == "sklearn":
                        cands[(lib, b)] = (_bind(fn, args, dict(params, n_threads=th)),
                                           lambda th=th: _threads(th))
                    elif lib == "torch":
                        cands[(lib, b)] = (_bind(fn, args, params), lambda th=th: _threads(th))
                    elif lib == "jax" and b != backends[0]:
                        continue  # one thread pool whatever the backend: timed once

                    else:
                        cands[(lib, b)] = _bind(fn, args, params)
            times = time_interleaved(cands, config.repeat, config.min_time, _thread_group,
                                     max_call=config.max_call)
            for b in backends:
                t = times.get(("fastloss", b))
                row = Row(name, op, b, dtype, n, shape, bytes=bytes_in + bytes_out)
                if isinstance(t, Exception):
                    row.note = f"error: {type(t).__name__}: {t}"[:200]
                    rows.append(row)
                    continue
                row.time_s = t
                row.gbps = row.bytes / t / 1e9
                tr = times.get(("roof", b))
                if isinstance(tr, float):
                    row.roof_s = tr
                    row.roof_frac = tr / t
                for lib in refs:
                    tl = times.get((lib, "any" if lib == "numpy" else
                                    backends[0] if lib == "jax" else b))
                    if isinstance(tl, float):
                        setattr(row, f"{lib}_s", tl)
                rows.append(row)
            progress.update(label)
    progress.close()
    return rows


def _bind(fn, args, params):
    return lambda: fn(*args, **params)


def _numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


# ---------------------------------------------------------------------- calibration


@dataclass
class CalibrationPoint:
    loss: str
    n: int
    serial_s: float
    parallel_s: float

    @property
    def speedup(self) -> float:
        return self.serial_s / self.parallel_s


CAL_SIZES = tuple(int(round(10 ** (3 + k / 4))) for k in range(0, 13))  # 1e3 .. 1e6


def calibrate(losses: Sequence[str] | None = None, sizes: Sequence[int] = CAL_SIZES,
              repeat: int = 7, min_time: float = 0.005, progress: Progress | None = None,
              op: str = "value_and_grad") -> dict:
    """Serial against parallel time over ``sizes`` for a cheap and an expensive loss.

    Returns the points, the crossover size per loss (the smallest measured ``n`` from which
    parallel stays faster, interpolated on a log scale with the size below it) and the
    threshold in the units of ``FASTLOSS_PARALLEL_THRESHOLD`` (elements x ``spec.cost``).
    """
    import fastloss

    from . import _backend

    if losses is None:
        pw = [s for s in fastloss.REGISTRY.values() if s.kind == "pointwise"
              and not getattr(s, "rmse", False)]
        cheap = min(pw, key=lambda s: (s.cost, s.name != "mse"))
        dear = max(pw, key=lambda s: s.cost)
        losses = list(dict.fromkeys([cheap.name, dear.name]))
    sizes = sorted(int(s) for s in sizes)
    if progress is None:
        progress = Progress(len(losses) * len(sizes), enabled=False)
    else:
        progress.total = len(losses) * len(sizes)
    points, result = [], {}
    for name in losses:
        spec = fastloss.REGISTRY[name]
        loss = getattr(fastloss, name)
        pts = []
        for n in sizes:
            args, params = make_inputs(spec, n, "float64")
            t = time_interleaved(
                {b: call_op(loss, op, args, params, b) for b in CPU_BACKENDS},
                repeat, min_time, group=lambda b: b)
            pts.append(CalibrationPoint(name, n, t["serial"], t["parallel"]))
            progress.update(f"calibrate {name} n={n}")
        points += pts
        cross = _crossover(pts)
        cost = float(getattr(spec, "cost", 1.0))
        result[name] = {
            "cost": cost,
            "crossover_n": cross,
            "threshold": None if cross is None else int(round(cross * cost)),
        }
    progress.close()
    ths = [v["threshold"] for v in result.values() if v["threshold"] is not None]
    rec = int(round(math.exp(sum(math.log(t) for t in ths) / len(ths)))) if ths else None
    return {
        "op": op,
        "threads": _numba_threads(),
        "current_threshold": _backend.parallel_threshold(),
        "losses": result,
        "recommended_threshold": rec,
        "points": [dict(asdict(p), speedup=p.speedup) for p in points],
    }


def _crossover(pts: list[CalibrationPoint]) -> float | None:
    """Smallest n from which parallel is faster at every larger measured size."""
    faster = [p.parallel_s < p.serial_s for p in pts]
    if not faster or not faster[-1]:
        return None  # parallel never wins in the measured range
    i = len(pts) - 1
    while i > 0 and faster[i - 1]:
        i -= 1
    if i == 0:
        return float(pts[0].n)
    a, b = pts[i - 1], pts[i]
    # log-linear interpolation of log(speedup) = 0 between a (slower) and b (faster)
    la, lb = math.log(a.speedup), math.log(b.speedup)
    f = la / (la - lb) if la != lb else 0.5
    return float(math.exp(math.log(a.n) + f * (math.log(b.n) - math.log(a.n))))


def format_calibration(cal: dict) -> str:
    lines = [f"serial vs parallel, {cal['op']}, float64, {cal['threads']} threads",
             f"{'loss':<14} {'n':>9} {'serial':>10} {'parallel':>10} {'speedup':>8}"]
    for p in cal["points"]:
        lines.append(f"{p['loss']:<14} {p['n']:>9} {_fmt_t(p['serial_s']):>10} "
                     f"{_fmt_t(p['parallel_s']):>10} {p['speedup']:>8.2f}")
    lines.append("")
    for name, v in cal["losses"].items():
        if v["crossover_n"] is None:
            lines.append(f"{name} (cost {v['cost']:g}): parallel never faster in this range")
        else:
            lines.append(f"{name} (cost {v['cost']:g}): parallel faster from n ~ "
                         f"{v['crossover_n']:.0f} -> threshold {v['threshold']} "
                         "(elements x cost)")
    rec = cal["recommended_threshold"]
    lines.append("")
    if rec is None:
        lines.append("No crossover measured: keep the current threshold "
                     f"({cal['current_threshold']}), or measure larger sizes.")
    else:
        lines.append(f"Measured threshold: {rec} (current: {cal['current_threshold']}).")
        lines.append(f"Use it with:  export FASTLOSS_PARALLEL_THRESHOLD={rec}")
        lines.append("or set fastloss._backend.DEFAULT_PARALLEL_THRESHOLD for this machine.")
    return "\n".join(lines)


# ---------------------------------------------------------------------- reporting


def machine_info() -> dict:
    import fastloss

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        load = None
    info = fastloss.info()
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg": load,
        "platform": platform.platform(),
        **{k: info.get(k) for k in ("fastloss", "python", "numpy", "numba",
                                    "threading_layer", "num_threads", "parallel_threshold")},
    }
    for mod in ("torch", "sklearn", "jax"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


def _fmt_t(t: float | None) -> str:
    if t is None:
        return "-"
    for unit, f in (("s", 1.0), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if t * f >= 1.0 or unit == "ns":
            return f"{t * f:.3g} {unit}"
    return "-"


def _fmt_r(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def _fmt_ns(r: Row) -> str:
    v = r.ns_per_el
    return "-" if v is None else f"{v:.3g}"


def format_markdown(rows: list[Row], libs: Sequence[str] = COMPARE) -> str:
    """The table as a Markdown (MyST / GitHub) pipe table."""
    libs = [lib for lib in libs if lib == "numpy" or any(getattr(r, f"{lib}_s") for r in rows)]
    head = ["loss", "op", "backend", "dtype", "n", "time", "ns/el", "GB/s", "roof"]
    head += ["xNumPy" if lib == "numpy" else f"x{lib}" for lib in libs]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(
        "---" if i < 4 else "---:" for i in range(len(head))) + "|"]
    for r in rows:
        if r.time_s is None:
            cells = [r.loss, r.op, r.backend, r.dtype, f"{r.n:.0e}", r.note or "-"] + [""] * (
                len(head) - 6)
        else:
            cells = [r.loss, r.op, r.backend, r.dtype, f"{r.n:.0e}", _fmt_t(r.time_s),
                     _fmt_ns(r), f"{r.gbps:.1f}",
                     "-" if r.roof_frac is None else f"{100 * r.roof_frac:.0f}%"]
            cells += [_fmt_r(r.ratio(lib)) for lib in libs]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def format_table(rows: list[Row], libs: Sequence[str] = COMPARE) -> str:
    libs = [lib for lib in libs if lib == "numpy" or any(getattr(r, f"{lib}_s") for r in rows)]
    head = ["loss", "op", "backend", "dtype", "n", "time", "ns/el", "GB/s", "roof"]
    head += ["xNumPy" if lib == "numpy" else f"x{lib}" for lib in libs]
    body = []
    for r in rows:
        if r.time_s is None:
            body.append([r.loss, r.op, r.backend, r.dtype, f"{r.n:.0e}", r.note or "-"])
            continue
        cells = [r.loss, r.op, r.backend, r.dtype, f"{r.n:.0e}", _fmt_t(r.time_s), _fmt_ns(r),
                 f"{r.gbps:.2f}", "-" if r.roof_frac is None else f"{100 * r.roof_frac:.0f}%"]
        cells += [_fmt_r(r.ratio(lib)) for lib in libs]
        body.append(cells)
    widths = [max([len(head[i])] + [len(b[i]) for b in body if len(b) == len(head)])
              for i in range(len(head))]
    fmt_row = []
    for b in [head] + body:
        if len(b) != len(head):
            fmt_row.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(b[:5]))
                           + "  " + b[5])
        else:
            fmt_row.append("  ".join(c.ljust(widths[i]) if i < 4 else c.rjust(widths[i])
                                     for i, c in enumerate(b)))
    sep = "-" * len(fmt_row[0])
    return "\n".join([fmt_row[0], sep, *fmt_row[1:]])


def to_json(rows: list[Row], machine: dict, config: BenchConfig, skipped: dict) -> str:
    recs = []
    for r in rows:
        d = asdict(r)
        d["shape"] = list(r.shape)
        d["ns_per_el"] = r.ns_per_el
        for lib in COMPARE:
            d[f"x_{lib}"] = r.ratio(lib)
        recs.append(d)
    cfg = asdict(config)
    return json.dumps({"machine": machine, "config": cfg, "unusable_backends": skipped,
                       "results": recs}, indent=1, default=str)


def plot(rows: list[Row], path: str, op: str | None = None) -> str:
    """Throughput (GB/s) against n, one panel per loss, one line per backend, with NumPy
    and the roofline; returns the op drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib (pip install matplotlib)") from exc
    ok = [r for r in rows if r.time_s]
    if not ok:
        raise RuntimeError("nothing measured to plot")
    ops = list(dict.fromkeys(r.op for r in ok))
    op = op if op in ops else ("value_and_grad" if "value_and_grad" in ops else ops[0])
    ok = [r for r in ok if r.op == op]
    losses = list(dict.fromkeys(r.loss for r in ok))
    ncol = min(3, len(losses))  # three panels a row stay legible at the docs' column width
    nrow = math.ceil(len(losses) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False,
                             sharex=True)
    colors = {"serial": "C0", "parallel": "C1", "cuda": "C2"}
    for ax, name in zip(axes.flat, losses, strict=False):
        rs = [r for r in ok if r.loss == name]
        for dtype in dict.fromkeys(r.dtype for r in rs):
            ls = "-" if dtype == "float64" else "-."
            for b in dict.fromkeys(r.backend for r in rs):
                pts = sorted((r.n, r) for r in rs if r.backend == b and r.dtype == dtype)
                x = [n for n, _ in pts]
                ax.plot(x, [r.gbps for _, r in pts], ls, marker="o", color=colors.get(b),
                        label=f"fastloss {b} {dtype}")
                roof = [(n, r.bytes / r.roof_s / 1e9) for n, r in pts if r.roof_s]
                if roof:
                    ax.plot(*zip(*roof, strict=True), ":", color=colors.get(b), alpha=0.7,
                            label=f"roofline {b}")
            pts = sorted((r.n, r) for r in rs if r.dtype == dtype and r.backend == "serial"
                         and r.numpy_s)
            if pts:
                ax.plot([n for n, _ in pts], [r.bytes / r.numpy_s / 1e9 for _, r in pts],
                        ls, marker="s", color="C3", label=f"NumPy {dtype}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=14)
        ax.tick_params(labelsize=11)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(losses):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("n (elements)", fontsize=12)
    for ax in axes[:, 0]:
        ax.set_ylabel("GB/s", fontsize=12)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=12)
    fig.suptitle(f"fastloss {op}: throughput against n", fontsize=16)
    fig.tight_layout(rect=(0, 1.4 / fig.get_figheight(), 1, 1 - 0.6 / fig.get_figheight()))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return op
