"""One road for every call: ``call(spec, op, args, kw)``.

1. the kind's fast path (a common call on NumPy arrays, in microseconds);
2. a registered handler for foreign arrays (Dask), found by the module of the arrays'
   types, imported only when such an array arrives;
3. the kind's full call: every check, then one pass through the executor that
   :func:`fastloss._exec.executor_for` picks (serial, parallel or CUDA).

``map_call`` runs an elementwise map (the proximal operators) the same way.
"""

from __future__ import annotations

import importlib

import numpy as np

from . import _arrays as A
from ._exec import executor_for
from ._kinds import FAST, KINDS

#: (type-module prefix, "module:function") of the foreign-array handlers
_HANDLERS: list = []


def register_array_handler(module_prefix: str, target: str) -> None:
    """Send calls whose arrays are of a type defined under ``module_prefix`` (e.g.
    ``"dask."``) to ``target`` (``"package.module:function"``, imported on first use), which
    is called as ``function(spec, op, args, kw)``."""
    _HANDLERS.append((module_prefix, target))


def handler_for(args):
    """The handler of the first foreign array among ``args``, or None."""
    for a in args:
        if type(a) is np.ndarray:
            continue
        mod = type(a).__module__
        for prefix, target in _HANDLERS:
            if mod.startswith(prefix):
                modname, fn = target.split(":")
                return getattr(importlib.import_module(modname), fn)
    return None


def call(spec, op: str, args: tuple, kw: dict):
    """The result of ``op`` ("value", "grad", "value_and_grad", "grad_hess") of the loss
    ``spec`` on ``args`` with the options and parameters ``kw``."""
    v = FAST[spec.kind](spec, op, args, kw)
    if v is not None:
        return v
    if _HANDLERS:
        h = handler_for(args)
        if h is not None:
            return h(spec, op, args, kw)
    return KINDS[spec.kind].call(spec, op, args, kw)


def map_call(fn, x, a: float, b: float, *, out=None, backend=None, name: str = "x"):
    """``fn(x_i, a, b)`` for every element of ``x`` (``a`` and ``b`` rounded to the dtype of
    ``x`` first, as NumPy does with Python floats), into ``out`` (which may be ``x``) or a
    new array; CUDA in, CUDA out."""
    xa = A.as_input(x, name)
    dtype = A.float_dtype(xa)
    dev = type(xa) is not np.ndarray
    ex = executor_for(backend, xa.size, 1.0, dev)
    typ = np.dtype(dtype).type
    a, b = typ(a), typ(b)
    shape = tuple(xa.shape)
    N = int(xa.size)
    if ex.device:
        from ._kernels import device as D

        if dev:
            flat = D.as_flat(xa, dtype)
            res = D.check_out(out, shape, np.dtype(dtype)).reshape(N) if out is not None \
                else ex.empty(N, dtype)
            ex.map(fn, flat, a, b, res)
            return out if out is not None else res.reshape(shape)
        host = np.empty(shape, dtype) if out is None else A.check_out(out, shape, dtype)
        res = ex.empty(N, dtype)
        ex.map(fn, ex.to(A.as_flat(xa, dtype)), a, b, res)
        if N:
            res.copy_to_host(host.reshape(N))
        return host if out is None else out
    xa = A.on_host(xa)  # CUDA input, a CPU backend by name: a host result
    res = np.empty(shape, dtype) if out is None else \
        A.check_out(out, shape, dtype, reads=[(name, xa)], own=xa)
    if N:
        # may be `out` itself (in place): each element is read before it is written
        ex.map(fn, A.as_flat(xa, dtype), a, b, res.reshape(-1))
    return res if out is None else out
