"""The kinds of several arrays: "terms" (GAN losses, penalties) and "matrix" (contrastive
losses, the fused linear + cross-entropy).

Both bind their arrays by name (``L(*arrays)``, one gradient per differentiable input:
a tuple, or one array where there is one), check the reduction and ``out``, then:

* "terms": the loss is a sum over its inputs of a declared pointwise term (the term and
  its parameters that ``spec.terms_of(params)`` gives for each input), run through the
  pointwise executors: the same fixed-chunk sums, so serial and
  parallel give the same bits. A loss module declares the term and nothing else.
* "matrix": ``spec.program(call, arrays)`` computes the loss with a :class:`Call`, which
  checks and places the arrays and gives the executor (row bodies, matrix products,
  buffers); the program holds the loss's steps and no backend code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _arrays as A
from .. import _backend
from .._exec import executor_for
from .._spec import check_params
from .pointwise import Plan, fast_terms, run

_DEFAULTS: dict = {}  # name -> (spec.params, their checked defaults)


def bind(spec, args, kw):
    """The arrays in the order of ``spec.inputs`` (by position, then by name; the optional
    ones None where not given) and the checked parameters."""
    names = spec.inputs
    if not kw and len(args) == len(names):  # every array by position, default parameters
        d = _DEFAULTS.get(spec.name)
        if d is None or d[0] is not spec.params:
            d = _DEFAULTS[spec.name] = (spec.params,
                                        {p.name: p.check(p.default) for p in spec.params})
        return list(args), dict(d[1])
    if len(args) > len(names):
        raise TypeError(f"{spec.name}() takes {len(names)} array(s) ({', '.join(names)}), "
                        f"got {len(args)}")
    arrays = list(args)
    for nm in names[: len(args)]:
        if nm in kw:
            raise TypeError(f"{spec.name}() got {nm!r} both by position and by keyword")
    for nm in names[len(args):]:
        if nm in kw:
            arrays.append(kw.pop(nm))
        elif nm in spec.optional_inputs:
            arrays.append(None)
        else:
            raise TypeError(f"{spec.name}() is missing the array {nm!r}")
    given = check_params(spec.name, spec.params, kw)
    params = {p.name: p.check(given[p.name]) for p in spec.params}
    return arrays, params


def check_reduction(spec, reduction) -> str:
    r = spec.default_reduction if reduction is None else reduction
    if not isinstance(r, str) or r not in spec.reductions:
        raise ValueError(f"reduction must be one of {spec.reductions}, got {reduction!r}")
    return r


def outs_of(spec, out):
    """``out`` as a list (one array per differentiable input), or None."""
    if out is None:
        return None
    k = len(spec.diff_inputs)
    if spec.optional_inputs:  # as many as the inputs given: counted by the program
        if not isinstance(out, (tuple, list)):
            raise TypeError(f"out must be a tuple of arrays (for {', '.join(spec.diff_inputs)}"
                            f", the optional ones where given), got {type(out).__name__}")
        return list(out)
    if k == 1:
        return [out]
    if not isinstance(out, (tuple, list)) or len(out) != k:
        raise TypeError(f"out must be a tuple of {k} arrays (for "
                        f"{', '.join(spec.diff_inputs)}), got {type(out).__name__}")
    return list(out)


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def float_arrays(arrays, names):
    """``as_array`` each (CUDA arrays as device views) and the common float dtype (NumPy
    promotion)."""
    dt = arrays[0].dtype if type(arrays[0]) is np.ndarray else None
    if dt is _F64 or dt is _F32:  # NumPy arrays of one float dtype: themselves
        for a in arrays:
            if type(a) is not np.ndarray or a.dtype is not dt:
                break
        else:
            return list(arrays), dt
    if any(A.is_device_array(a) for a in arrays):
        _backend.require_cuda()
    arrs = [A.as_input(a, nm) for a, nm in zip(arrays, names, strict=True)]
    return arrs, A.float_dtype(*arrs)


def on_device(arrays) -> bool:
    """Whether any of the (coerced) arrays is a CUDA array."""
    for a in arrays:
        if type(a) is not np.ndarray and A.is_device_array(a):
            return True
    return False


def check_nonempty(a, name: str, reduction: str, what: str = "") -> None:
    if reduction == "mean" and a.size == 0:
        raise ValueError(f"{name} is empty{what}: reduction='mean' has no value")


@dataclass
class Call:
    """One call of a "matrix" loss, as its program sees it: the parameters, the reduction,
    what is wanted, the ``out`` arrays, and :meth:`executor`."""

    spec: object
    params: dict
    reduction: str
    backend: object
    want_value: bool
    want_grad: bool
    outs: list | None

    def floats(self, arrays, names):
        """The arrays coerced (CUDA arrays stay on the device), their common float dtype, and
        whether any is a CUDA array."""
        arrs, dtype = float_arrays(arrays, names)
        return arrs, dtype, on_device(arrs)

    def executor(self, work: int, device: bool):
        """The executor for ``work`` elements of this loss (CUDA inputs: "cuda" under
        "auto")."""
        return executor_for(self.backend, work, self.spec.cost, device)

    def check_nonempty(self, a, name: str, what: str = "") -> None:
        check_nonempty(a, name, self.reduction, what)


def _terms(spec, arrays, params, reduction, backend, want_value, want_grad, outs):
    """A sum over each input of its term (``(term, prm)`` from ``spec.terms_of``)."""
    names = spec.inputs
    arrs, dtype = float_arrays(arrays, names)
    terms = spec.terms_of(params)
    for a, nm in zip(arrs, names, strict=True):
        check_nonempty(a, nm, reduction)
    dev = on_device(arrs)
    gbufs = None
    if want_grad:
        ex = executor_for(backend, 0, spec.cost, dev)
        gbufs = ex.grads(outs, [a.shape for a in arrs], dtype, names, device=dev,
                         inputs=arrs).user
    values, grads = [], []
    for i, (a, (term, prm)) in enumerate(zip(arrs, terms, strict=True)):
        v, g = _term_pass(term, a, dtype, prm, reduction, backend, want_value, want_grad,
                          gbufs[i] if want_grad else None)
        values.append(v)
        grads.append(g)
    value = None
    if want_value:
        value = tuple(values) if reduction == "none" else float(sum(values))
        if reduction == "none" and len(values) == 1:
            value = values[0]
    return value, (grads if want_grad else None)


def _term_pass(term, x, dtype, prm, reduction, backend, want_value, want_grad, out):
    """Sum (or mean, or elementwise values) of ``term.scalar`` over the elements of ``x``,
    and its gradient, through the pointwise executors."""
    N = int(x.size)
    device = type(x) is not np.ndarray and A.is_device_array(x)
    if device:
        from .._kernels import device as D

        flat = D.as_flat(D.device_view(x), dtype)
    else:
        flat = A.as_flat(x, dtype)
    typ = np.dtype(dtype).type
    # Plan's fields in order, positionally (keywords cost 0.5 us a call)
    pl = Plan(tuple(x.shape), np.dtype(dtype), flat, flat, 1, N, False, None, 0, None,
              tuple(typ(v) for v in prm), False, reduction, float(N), {}, device)
    v, g, _ = run(term, pl, backend, want_value=want_value, want_grad=want_grad, out=out)
    return v, g


#: name -> the default ((term, prm in float64), ...) and ((term, prm in float32), ...); ()
#: for a loss with a term that checks its inputs
_default_terms: dict = {}


def fast(spec, op, args, kw):
    """The value, gradient or both of a common call of a "terms" loss (NumPy arrays of one
    float dtype, C-contiguous and not empty, given by position; default parameters; ``mean``
    or ``sum``; no ``out``) through the pointwise fast path of each term, or None (then
    :func:`call`)."""
    # (kw: reduction, backend and, but for values, out; more: a parameter was given)
    if len(kw) != (2 if op == "value" else 3) or len(args) != len(spec.inputs) \
            or op == "grad_hess" or type(args[0]) is not np.ndarray:
        return None
    if op != "value" and kw.get("out") is not None:
        return None
    reduction = kw["reduction"]
    if reduction is None:
        reduction = spec.default_reduction
    dt = args[0].dtype  # (fast_terms checks the other arrays)
    if dt is not _F64 and dt is not _F32:
        return None
    terms = _default_terms.get(spec.name)
    if terms is None:  # the kernels' parameters in float64 and in float32, made once
        defaults = spec.terms_of({p.name: p.check(p.default) for p in spec.params})
        terms = _default_terms[spec.name] = tuple(
            tuple((term, tuple(typ(v) for v in prm)) for term, prm in defaults)
            for typ in (np.float64, np.float32))
        if any(t.check_inputs is not None or t.input_flags is not None for t, _ in defaults):
            terms = _default_terms[spec.name] = ()  # the full road checks them
    if not terms:
        return None
    return fast_terms(terms[dt is _F32], args, dt, reduction, kw["backend"], op)


def call(spec, op, args, kw):
    """``value``, ``grad`` or ``value_and_grad`` of a loss of several arrays."""
    if op == "grad_hess":
        raise NotImplementedError(f"{spec.name} has no grad_hess (no diagonal Hessian)")
    kw = dict(kw)
    reduction = check_reduction(spec, kw.pop("reduction", None))
    backend = kw.pop("backend", None)
    out = kw.pop("out", None)
    arrays, params = bind(spec, args, kw)
    outs = outs_of(spec, out)
    want_value = op != "grad"
    want_grad = op != "value"
    if spec.kind == "terms":
        v, g = _terms(spec, arrays, params, reduction, backend, want_value, want_grad, outs)
    else:
        v, g = spec.program(Call(spec, params, reduction, backend, want_value, want_grad,
                                 outs), arrays)
    if outs is not None and g is not None:
        g = outs  # the caller's own objects (the kernels wrote plain views of them)
    if op == "value":
        return v
    g = g[0] if len(g) == 1 else tuple(g)
    return g if op == "grad" else (v, g)
