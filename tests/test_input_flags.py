"""Input checks fused into the kernels of common calls.

A pointwise loss with an ``input_flags`` function has the kernel of its common call OR
per-element flags while it computes, instead of a check pass before it. These tests hold
the flags against NumPy formulas written here, and the fused calls against the separate
check (``check_inputs``): a call raises exactly when the check refuses the inputs, with the
check's message, on both backends, in both dtypes, and across the parallel kernel's
blocks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastloss as fl
from fastloss._kernels import cpu
from fastloss._kinds import pointwise
from fastloss._spec import REGISTRY

from .helpers import DTYPES

FLAGGED = sorted(n for n, s in REGISTRY.items()
                 if s.kind == "pointwise" and s.input_flags is not None)


def _outside(x, lo, hi):
    with np.errstate(invalid="ignore"):
        return ((x < lo) | (x > hi)).astype(np.int64)


def _signs(y):
    """1 for a 1, 2 for a -1, 4 for a 0, 8 for anything else."""
    one, neg, zero = y == 1, y == -1, y == 0
    return one + 2 * neg + 4 * zero + 8 * ~(one | neg | zero)


def numpy_flags(name, y, p, params):
    """Each element's flags, as the spec's ``input_flags`` must give them."""
    if name in ("hinge", "squared_hinge"):
        return _signs(y)
    if name == "binary_cross_entropy":
        return _outside(y, 0, 1) | _outside(p, 0, 1)
    if name in ("binary_cross_entropy_with_logits", "focal"):
        return _outside(y, 0, 1)
    if name == "poisson_nll":
        f = _outside(y, 0, math.inf)
        return f | _outside(p, 0, math.inf) if not params.get("log_input", True) else f
    raise AssertionError(f"no NumPy flags for {name}: add them here")


def test_every_flagged_loss_has_numpy_flags():
    assert set(FLAGGED) == {"binary_cross_entropy", "binary_cross_entropy_with_logits",
                            "focal", "hinge", "squared_hinge", "poisson_nll"}


def _kernel_flags(name, y, p, params, parallel):
    """The OR of the flags the fused kernel returns (a value_and_grad kernel)."""
    spec = REGISTRY[name]
    prm, _ = pointwise._scalar_prm(spec, y.dtype, params)
    k = cpu.pointwise_kernel(spec.scalar, parallel=parallel, reduce=True, rows=False,
                             write_l=False, write_g=True, write_h=False, wmode=0,
                             ybcast=False, has_cp=False, flags=spec.input_flags)
    d = np.zeros(1, y.dtype)
    return int(k(y, p, np.zeros(1), np.zeros(1), prm, 1.0, y.size, d, np.empty_like(p), d,
                 np.zeros(1)))


SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -0.5, 5e-324, 1e-40, np.nan, np.inf, -np.inf,
           3.0)
PARAMS = {"poisson_nll": ({}, {"log_input": False})}


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_kernel_flags_are_numpys(data):
    """The fused kernel's flags are the OR of the NumPy flags, on both kernels, in both
    dtypes, for values at every edge of the checks (NaN, infinities, signed zero, the
    least double, a float32 subnormal)."""
    name = data.draw(st.sampled_from(FLAGGED))
    params = data.draw(st.sampled_from(PARAMS.get(name, ({},))))
    dtype = data.draw(st.sampled_from(DTYPES))
    n = data.draw(st.integers(1, 70))
    vals = st.one_of(st.sampled_from(SPECIAL), st.floats(-3, 3))
    y = np.array(data.draw(st.lists(vals, min_size=n, max_size=n)), dtype)
    p = np.array(data.draw(st.lists(vals, min_size=n, max_size=n)), dtype)
    want = int(np.bitwise_or.reduce(numpy_flags(name, y, p, params)))
    for parallel in (False, True):
        assert _kernel_flags(name, y, p, params, parallel) == want


def _outcome(fn):
    try:
        fn()
    except ValueError as e:
        return str(e)
    return None


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_fused_call_raises_when_the_check_does(data):
    """The fast path's call (its kernel checks) raises exactly when ``check_inputs``
    refuses the inputs, with the same message; and when it does not raise, it gives the
    value of the full road (a strided copy, checked before its pass)."""
    name = data.draw(st.sampled_from(FLAGGED))
    params = data.draw(st.sampled_from(PARAMS.get(name, ({},))))
    dtype = data.draw(st.sampled_from(DTYPES))
    backend = data.draw(st.sampled_from(("serial", "parallel")))
    n = data.draw(st.integers(1, 40))
    if name in ("hinge", "squared_hinge"):
        vals = st.sampled_from((1.0, 1.0, 1.0, 0.0, 0.0, -1.0, -1.0, 0.5, np.nan, 2.0))
    else:
        vals = st.one_of(st.floats(0, 1), st.sampled_from(SPECIAL))
    y = np.array(data.draw(st.lists(vals, min_size=n, max_size=n)), dtype)
    p = np.array(data.draw(st.lists(vals, min_size=n, max_size=n)), dtype)
    spec, L = REGISTRY[name], getattr(fl, name)
    full = {q.name: params.get(q.name, q.default) for q in spec.params}
    want = _outcome(lambda: spec.check_inputs(y, p, full))
    for fn in (L, L.value_and_grad, L.grad):
        with np.errstate(all="ignore"):
            got = _outcome(lambda fn=fn: fn(y, p, backend=backend, **params))
        assert got == want, (fn, y, p)
        if want is None:  # the full road's bits (a strided copy, checked before its pass)
            ys, ps = np.repeat(y, 2)[::2], np.repeat(p, 2)[::2]
            with np.errstate(all="ignore"):
                a = fn(y, p, backend=backend, **params)
                b = fn(ys, ps, backend=backend, **params)
            for u, v in zip(np.atleast_1d(*a) if isinstance(a, tuple) else (a,),
                            np.atleast_1d(*b) if isinstance(b, tuple) else (b,), strict=True):
                np.testing.assert_array_equal(u, v)

@pytest.mark.parametrize("name", FLAGGED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", [0, 4095, 4096, 200_000, 299_999])
def test_a_bad_value_in_any_block_of_the_parallel_kernel(name, dtype, where):
    """A bad value anywhere in a long input (first element, either side of a chunk's edge,
    the middle, the last) is seen by the parallel kernel's blocks and by the serial one."""
    n = 300_000
    y = np.ones(n, dtype)
    p = np.full(n, 0.5, dtype)
    y[where] = 2.0 if name != "poisson_nll" else -1.0
    if name in ("hinge", "squared_hinge"):  # and the mixture of conventions, split
        y2 = np.ones(n, dtype)
        y2[where], y2[n - 1 - where] = -1.0, 0.0
        for backend in ("serial", "parallel"):
            with pytest.raises(ValueError, match="mixes the label conventions"):
                getattr(fl, name)(y2, p, backend=backend)
    L = getattr(fl, name)
    for backend in ("serial", "parallel"):
        with pytest.raises(ValueError, match=rf"at position \({where},\)"):
            L.value_and_grad(y, p, backend=backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_checks_before_it_writes(dtype):
    """In place (``out=y_pred``) the inputs are checked before the kernel runs: a refused
    call leaves ``y_pred`` as it was; with another ``out`` the error is the same."""
    y = np.array([1.0, 0.0, 2.0, 1.0], dtype)
    p = np.array([0.2, 0.4, 0.6, 0.8], dtype)
    for name in ("binary_cross_entropy", "hinge"):
        L = getattr(fl, name)
        q = p.copy()
        with pytest.raises(ValueError, match="y_true") as e1:
            L.value_and_grad(y, q, out=q)
        np.testing.assert_array_equal(q, p)
        with pytest.raises(ValueError, match="y_true") as e2:
            L.value_and_grad(y, p, out=np.empty_like(p))
        assert str(e1.value) == str(e2.value)
