"""Losses of several arrays (adversarial, contrastive) or of one weight array (penalties).

A :class:`MultiSpec` declares such a loss once: its inputs (and which of them take a
gradient), parameters, formulas, sources and a ``compute`` function. :class:`MultiLoss` is the
public object: ``L(*arrays)``, ``L.grad(*arrays)`` (a tuple, one gradient per differentiable
input, or one array when there is only one), ``L.value_and_grad`` (one pass) and
``L.grad_hess`` (``NotImplementedError``: these losses have no diagonal Hessian contract).

The helpers below are shared by the three families: input coercion, ``out=`` checks, backend
resolution, and :func:`pointwise_pass`, which runs a sum of per-element terms of one array
through the house pointwise kernels (``fastloss._kernels.cpu.pointwise_kernel``), so the
same fixed-chunk reductions give serial == parallel bits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _arrays as A
from . import _backend
from ._kernels.compile import njit
from ._loss import Backend, Loss, Reduction
from ._pointwise import Plan, run
from ._spec import LossSpec, Param, check_params


@dataclass(frozen=True)
class Choice(Param):
    """A string parameter taking one of ``choices``."""

    choices: tuple = ()
    kind: str = "str"

    def check(self, value):
        if not isinstance(value, str):
            raise TypeError(f"{self.name} must be a string, one of {self.choices}, got {value!r}")
        if value not in self.choices:
            raise ValueError(f"{self.name} must be one of {self.choices}, got {value!r}")
        return value


@dataclass(frozen=True)
class MultiSpec(LossSpec):
    """A loss whose inputs are several arrays (or one weight array).

    ``compute(spec, arrays, params, reduction, backend, want_value, want_grad, outs)``
    returns ``(value, grads)``: ``grads`` a list with one array per ``diff_inputs`` entry
    (or None without ``want_grad``); ``outs`` is None or a list of checked-later arrays.
    """

    diff_inputs: tuple = ()
    default_reduction: str = "mean"
    reductions: tuple = ("mean", "sum", "none")
    input_docs: tuple = ()  # (name, text) pairs
    reduction_doc: str = ""
    returns_doc: str = ""
    references: tuple = ()
    compute: Callable | None = None
    cost: float = 1.0
    extra: dict = field(default_factory=dict)

    def docstring(self) -> str:
        docs = dict(self.input_docs)
        lines = [self.summary, "", ".. math::", "", f"    {self.formula}", ""]
        if self.grad_formula:
            lines += ["Gradient:", "", ".. math::", "", f"    {self.grad_formula}", ""]
        lines += ["Parameters", "----------"]
        for a in self.inputs:
            text = docs.get(a, "Input array.")
            if a == "y_true" and self.target_domain:
                text += f" Domain: {self.target_domain}."
            lines += [f"{a} : array_like", f"    {text}"]
        for p in self.params:
            lines += [f"{p.name} : {p.kind}, default {p.default!r}",
                      f"    {p.doc} Domain: {p.domain}."]
        red = "{" + ", ".join(repr(r) for r in self.reductions) + "}"
        lines += [f"reduction : {red}, default {self.default_reduction!r}",
                  f"    {self.reduction_doc}",
                  "backend : {None, 'auto', 'serial', 'parallel', 'cuda'}",
                  "    Overrides the current backend for this call.",
                  "out : ndarray" + (" or tuple of ndarrays" if len(self.diff_inputs) > 1 else "")
                  + ", optional (``grad`` and ``value_and_grad`` only)",
                  "    Where to write the gradient"
                  + ("s, one C-contiguous array per differentiable input"
                     if len(self.diff_inputs) > 1 else " (C-contiguous, shape and dtype of "
                     f"``{self.diff_inputs[0]}``)" if self.diff_inputs else "")
                  + "; may be the input itself (in place).",
                  "", "Returns", "-------", self.returns_doc,
                  "", "Notes", "-----", f"Matches {self.matches}."]
        if self.notes:
            lines += ["", self.notes]
        if self.references:
            lines += ["", "References", "----------"]
            lines += [f".. [{i}] {r}" for i, r in enumerate(self.references, 1)]
        if self.example:
            lines += ["", "Examples", "--------", self.example]
        return "\n".join(lines)


class MultiLoss(Loss):
    """A loss of several arrays: ``L(*arrays, **opts)``, ``L.grad``, ``L.value_and_grad``."""

    def _bind(self, args, kw):
        spec = self.spec
        names = spec.inputs
        if len(args) > len(names):
            raise TypeError(f"{spec.name}() takes {len(names)} array(s) ({', '.join(names)}), "
                            f"got {len(args)}")
        arrays = list(args)
        for nm in names[: len(args)]:
            if nm in kw:
                raise TypeError(f"{spec.name}() got {nm!r} both by position and by keyword")
        for nm in names[len(args):]:
            if nm not in kw:
                raise TypeError(f"{spec.name}() is missing the array {nm!r}")
            arrays.append(kw.pop(nm))
        given = check_params(spec.name, spec.params, kw)
        params = {p.name: p.check(given[p.name]) for p in spec.params}
        return arrays, params

    def _reduction(self, reduction):
        spec = self.spec
        r = spec.default_reduction if reduction is None else reduction
        if not isinstance(r, str) or r not in spec.reductions:
            raise ValueError(f"reduction must be one of {spec.reductions}, got {reduction!r}")
        return r

    def _outs(self, out):
        if out is None:
            return None
        k = len(self.spec.diff_inputs)
        if k == 1:
            return [out]
        if not isinstance(out, (tuple, list)) or len(out) != k:
            raise TypeError(f"out must be a tuple of {k} arrays (for "
                            f"{', '.join(self.spec.diff_inputs)}), got {type(out).__name__}")
        return list(out)

    def _run(self, args, kw, reduction, backend, want_value, want_grad, out=None):
        arrays, params = self._bind(args, kw)
        reduction = self._reduction(reduction)
        outs = self._outs(out)
        v, g = self.spec.compute(self.spec, arrays, params, reduction, backend,
                                 want_value, want_grad, outs)
        if outs is not None and g is not None:
            g = outs  # the caller's own objects (the kernels wrote plain views of them)
        return v, g

    def _pack(self, grads):
        return grads[0] if len(grads) == 1 else tuple(grads)

    # Each loss's subclass shows its arrays by name and its own default reduction
    # (``fastloss._loss.make_loss``); ``reduction=None`` here means that default.
    def __call__(self, *arrays: ArrayLike, reduction: Reduction | None = None,
                 backend: Backend = None, **kw: Any) -> Any:
        return self._run(arrays, kw, reduction, backend, True, False)[0]

    def grad(self, *arrays: ArrayLike, reduction: Reduction | None = None,
             backend: Backend = None, out: Any = None, **kw: Any) -> Any:
        return self._pack(self._run(arrays, kw, reduction, backend, False, True, out)[1])

    def value_and_grad(self, *arrays: ArrayLike, reduction: Reduction | None = None,
                       backend: Backend = None, out: Any = None,
                       **kw: Any) -> tuple[Any, Any]:
        v, g = self._run(arrays, kw, reduction, backend, True, True, out)
        return v, self._pack(g)


# ---------------------------------------------------------------------------
# helpers for the family modules


def sample_logits(rng, shape, dtype):
    """Real and fake logits drawn from N(1, 2) and N(-1, 2) (one array per logit input)."""
    real = (1.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    fake = (-1.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    return (real, fake), {}


def sample_fake_logits(rng, shape, dtype):
    return (sample_logits(rng, shape, dtype)[0][1],), {}


def _rows(shape):
    return (shape[0], shape[1]) if len(shape) > 1 else (shape[0], 4)


def sample_views(rng, shape, dtype):
    """Two correlated views (N, d) of N samples (``shape`` (N,) gives d = 4)."""
    a = rng.standard_normal(_rows(shape))
    return (a.astype(dtype), (a + 0.5 * rng.standard_normal(a.shape)).astype(dtype)), {}


def sample_triplets(rng, shape, dtype):
    return tuple(rng.standard_normal(_rows(shape)).astype(dtype) for _ in range(3)), {}


def sample_pairs_labels(rng, shape, dtype):
    n, d = _rows(shape)
    x1, x2 = (rng.standard_normal((n, d)).astype(dtype) for _ in range(2))
    return (x1, x2, np.where(rng.random(n) < 0.5, 1, -1)), {}


def sample_weights(rng, shape, dtype):
    return (rng.standard_normal(shape).astype(dtype),), {}


def float_arrays(arrays, names):
    """``as_array`` each, and the common float dtype (NumPy promotion, docs/conventions.md).
    CUDA arrays stay on the device (as Numba device arrays)."""
    if any(A.is_device_array(a) for a in arrays):
        _backend.require_cuda()
        from ._kernels import cuda_road

        arrs = [cuda_road.as_input(a, nm) for a, nm in zip(arrays, names, strict=True)]
    else:
        arrs = [A.as_array(a, nm) for a, nm in zip(arrays, names, strict=True)]
    return arrs, A.float_dtype(*arrs)


def on_device(arrays) -> bool:
    """Whether any of the (coerced) arrays is a CUDA array."""
    return any(type(a) is not np.ndarray and A.is_device_array(a) for a in arrays)


def contiguous(a: np.ndarray, dtype) -> np.ndarray:
    """C-contiguous in ``dtype``; the input itself when it already is (never written to)."""
    return np.ascontiguousarray(a, dtype=dtype)


def grad_buffers(outs, shapes, dtype, names, device: bool = False, inputs=None):
    """The arrays gradients go into: ``outs`` checked (named ``out`` / ``out[i]``) or new
    (on the device with ``device``: CUDA inputs give CUDA gradients).

    ``inputs``: the arrays the kernels read (all of them, the differentiable ones first, in
    the order of ``names``): ``out[i]`` may be exactly input ``i`` (in place) and must not
    share memory with any other input or with another ``out``."""
    if device:
        from ._kernels import cuda_road

        if outs is None:
            return [cuda_road.cuda.device_array(s, dtype) for s in shapes]
        for o, s in zip(outs, shapes, strict=True):
            cuda_road._check_out_device(o, s, np.dtype(dtype))
        return list(outs)
    if outs is None:
        return [np.empty(s, dtype) for s in shapes]
    many = len(shapes) > 1
    res = []
    arrays = list(inputs or ())
    for i, (o, s) in enumerate(zip(outs, shapes, strict=True)):
        label = f"out[{i}] (for {names[i]})" if many else "out"
        reads = [(names[k] if k < len(names) else f"input {k}", a)
                 for k, a in enumerate(arrays)]
        reads += [(f"out[{k}]", r) for k, r in enumerate(res)]
        own = arrays[i] if i < len(arrays) else None
        res.append(A.check_out(o, s, dtype, name=label, reads=reads, own=own))
    return res


class kernel_cache:  # noqa: N801 (used like a function: kernel = kernel_cache(...))
    """``kernel(name, parallel)``: the CPU kernel ``factories[name](parallel)``, compiled once
    per process and named ``{prefix}{name}_par`` or ``_ser``; ``compiled`` maps
    ``(name, parallel)`` to the kernels built so far."""

    def __init__(self, factories: dict, prefix: str = ""):
        self.factories, self.prefix = factories, prefix
        self.compiled: dict = {}
        self._lock = threading.Lock()

    def __call__(self, name: str, parallel: bool):
        key = (name, parallel)
        k = self.compiled.get(key)
        if k is None:
            with self._lock:
                k = self.compiled.get(key)
                if k is None:
                    fn = self.factories[name](parallel)
                    fn.__name__ = fn.__qualname__ = (
                        f"{self.prefix}{name}_{'par' if parallel else 'ser'}")
                    k = self.compiled[key] = njit(fn, parallel=parallel)
        return k


def launch_rows(be: str, body, kernel, *args) -> None:
    """Run the row body ``body`` over the rows of ``args[0]``: on ``"cuda"`` one row per
    thread (the body compiled for the device), else the CPU kernel ``kernel(parallel)``."""
    if be == "cuda":
        from ._kernels import cuda as K
        from ._kernels import cuda_road

        M = args[0].shape[0]
        if M:
            block = K.launch_config()[0]
            K.rows_kernel(body)[cuda_road._grid(M, block), block](M, *args)
        return
    k = kernel(be == "parallel")
    if be == "parallel":
        with _backend.parallel_launch():
            k(*args)
    else:
        k(*args)


def backend_for(spec, backend, size, *, device: bool = False) -> str:
    """"serial" | "parallel" | "cuda" for this call (``device``: the inputs are CUDA
    arrays, which "auto" sends to "cuda"); BackendUnavailableError saying why where
    "cuda" is asked for and not usable."""
    name = _backend.resolve(backend, size, spec.cost, on_device=device)
    if name == "cuda":
        _backend.require_cuda()
        try:
            from ._kernels import cuda_road  # noqa: F401
        except ImportError as exc:
            raise _backend.BackendUnavailableError(
                f'backend "cuda" is not usable for {spec.name}: {exc}') from None
    return name


def check_nonempty(a: np.ndarray, name: str, reduction: str, what: str = "") -> None:
    if reduction == "mean" and a.size == 0:
        raise ValueError(f"{name} is empty{what}: reduction='mean' has no value")


def pointwise_pass(term, x: np.ndarray, dtype, prm: tuple, reduction: str, backend: str,
                   want_value: bool, want_grad: bool, out=None):
    """Sum (or mean, or elementwise values) of ``term.scalar`` over the elements of ``x``,
    and its gradient, through the house pointwise kernels. ``backend`` is resolved already.

    Returns ``(value, grad)``: a float (an array shaped like ``x`` for "none") and an
    array shaped like ``x`` (``out`` itself when given) or None.
    """
    N = int(x.size)
    device = type(x) is not np.ndarray and A.is_device_array(x)
    if device:
        from ._kernels import cuda_road

        flat = cuda_road.as_flat(cuda_road.device_view(x), dtype)
    else:
        flat = A.as_flat(x, dtype)
    pl = Plan(shape=tuple(x.shape), dtype=np.dtype(dtype), yt=flat, yp=flat, R=1, n=N,
              ybcast=False, w=None, wmode=0, cp=None,
              prm=tuple(np.dtype(dtype).type(v) for v in prm), rows=False,
              reduction=reduction, denom=float(N), params={}, on_device=device)
    v, g, _ = run(term, pl, backend, want_value=want_value, want_grad=want_grad, out=out)
    return v, g


def finish_rows(losses: np.ndarray, reduction: str, dtype, denom: float | None = None):
    """The value from per-row float64 losses: a float for mean/sum (summed in order, so
    the same bits for any thread count), the rows in ``dtype`` for "none"."""
    if reduction == "none":
        return losses.astype(dtype)
    total = float(np.sum(losses))
    if reduction == "sum":
        return total
    return total / (losses.shape[0] if denom is None else denom)
