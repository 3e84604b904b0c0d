"""The microsecond fast paths give the bits of the full road.

Each case runs a call on inputs that the fast path takes (with the full planner replaced
by one that fails, so the test knows the fast path answered), then the same call on
strided copies of the same values, which only the full road takes; both must agree to the
last bit, values and gradients, on the serial and the parallel backend."""

import contextlib

import numpy as np
import pytest

import fastloss as fl
from fastloss._kinds import multi, pointwise, rowwise
from fastloss._spec import REGISTRY

from .helpers import DTYPES, pointwise_names, sample

BACKENDS = ("serial", "parallel")


def _strided(a):
    """A non-contiguous array holding ``a``'s values (the fast paths refuse it)."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    v = big[..., ::2]
    v[...] = a
    assert not v.flags.c_contiguous
    return v


def _other_params(spec):
    """Each scalar parameter away from its default (inside its domain)."""
    out = {}
    for p in spec.params:
        d = p.default
        v = 2.0 if d is None else (0.5 if d == 0 else 0.75 * float(d))
        try:
            p.check(v)
        except (TypeError, ValueError):
            continue
        out[p.name] = v
    return out


def _fail(*a, **k):
    raise AssertionError("the call left the fast path")


@pytest.fixture
def no_planner(monkeypatch):
    """``with no_planner():`` replaces the full planners: a call that reaches one fails."""
    @contextlib.contextmanager
    def use():
        with monkeypatch.context() as m:
            m.setattr(pointwise, "plan", _fail)
            m.setattr(rowwise, "plan", _fail)
            m.setattr(multi, "_terms", _fail)
            yield

    return use


def _same(a, b):
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
        return
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(a).dtype == np.asarray(b).dtype


def _both(monkeypatch, no_planner, fn, fast_args, slow_args, kw):
    with no_planner():
        got = fn(*fast_args, **kw)
    want = fn(*slow_args, **kw)
    _same(got, want)


# rmse (mean only) has its own test below; the parallel kernels of a few losses (the fast
# paths launch them as they launch the serial ones)
CASES = [(n, "serial") for n in pointwise_names() if n != "rmse"] + [
    (n, "parallel") for n in ("mse", "huber", "binary_cross_entropy_with_logits", "hinge")]


@pytest.mark.parametrize("name,backend", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_fast_paths_give_the_full_roads_bits(name, dtype, backend, rng, monkeypatch,
                                                       no_planner):
    L = getattr(fl, name)
    (y, p), _ = sample(name, rng, (300,), dtype)
    ys, ps = _strided(y), _strided(p)
    w = rng.random(300) + 0.1
    params = _other_params(L.spec)
    # an empty cache of fast kernels, so that the first call (with parameters) makes it
    monkeypatch.setattr(pointwise, "_fast_value", {})
    calls = [
        (L, params), (L, {}), (L, {"reduction": "sum"}),
        (L, {"sample_weight": w}),
        (L.value_and_grad, {}), (L.value_and_grad, params), (L.grad, {"reduction": "sum"}),
        (L.value_and_grad, {"sample_weight": w}),
    ]
    if L.spec.has_hess:
        calls.append((L.grad_hess, {}))
    for fn, kw in calls:
        _both(monkeypatch, no_planner, fn, (y, p), (ys, ps), dict(kw, backend=backend))
    y2, p2 = y.reshape(10, 30), p.reshape(10, 30)
    for fn, kw in [(L, {"axis": -1}), (L.value_and_grad, {"axis": -1}), (L.value_and_grad, {}),
                   (L.grad, {}),
                   (L, {"axis": -1, "sample_weight": w[:30]})]:
        _both(monkeypatch, no_planner, fn, (y2, p2), (_strided(y2), _strided(p2)),
              dict(kw, backend=backend))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_axis_minus_one_takes_the_kernel_fast_path(dtype, backend, rng, monkeypatch,
                                                   no_planner):
    """``axis=-1`` (one value per row; weights, float32 ones too, per element of the last
    axis; inputs of rank 1 to 3; a parameter) goes from the fast path straight to the
    kernel, with the full road's bits, values in ``y_pred``'s dtype and shape
    ``y_pred.shape[:-1]``."""
    w = rng.random(30) + 0.1
    for name, params in (("mse", {}), ("huber", {"delta": 0.5}),
                         ("binary_cross_entropy_with_logits", {})):
        L = getattr(fl, name)
        for shape in ((30,), (4, 30), (2, 3, 30)):
            (y, p), _ = sample(name, rng, shape, dtype)
            for fn, kw in [(L, {}), (L, {"reduction": "sum"}), (L.value_and_grad, {}),
                           (L.grad, {"reduction": "sum"}), (L, {"sample_weight": w}),
                           (L.value_and_grad, {"sample_weight": w.astype(np.float32),
                                               "reduction": "sum"})]:
                kw = dict(kw, axis=-1, backend=backend, **params)
                with no_planner(), monkeypatch.context() as m:
                    m.setattr(pointwise, "fast_plan", _fail)  # nor the fast one
                    got = fn(y, p, **kw)
                want = fn(_strided(y), _strided(p), **kw)
                _same(got, want)
                op = fn.__name__.rsplit(".", 1)[-1]
                v = got[0] if op == "value_and_grad" else got
                if op != "grad":
                    assert v.shape == shape[:-1] and v.dtype == dtype


@pytest.mark.parametrize("name", ["mse", "huber", "binary_cross_entropy_with_logits", "focal"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_out_on_the_fast_path(name, dtype, backend, rng, no_planner):
    """``out=`` (a new array, or ``y_pred`` itself) takes the fast path with the full road's
    bits; an ``out`` that overlaps an input otherwise is left to the full road, which
    refuses it."""
    L = getattr(fl, name)
    (y, p), _ = sample(name, rng, (300,), dtype)
    ys, ps = _strided(y), _strided(p)
    w = rng.random(300) + 0.1
    for fn in (L.grad, L.value_and_grad):
        for kw in ({}, {"sample_weight": w}, {"reduction": "sum"}):
            kw = dict(kw, backend=backend)
            g1, g2 = np.full_like(p, np.nan), np.full_like(p, np.nan)
            with no_planner():
                got = fn(y, p, out=g1, **kw)
            want = fn(ys, ps, out=g2, **kw)
            _same(got, want)
            assert (got if fn.__name__ == "grad" else got[1]) is g1
            q = p.copy()  # in place
            with no_planner():
                got = fn(y, q, out=q, **kw)
            _same(got, want)
            assert (got if fn.__name__ == "grad" else got[1]) is q
    both = np.concatenate([y, p])  # out = y_pred's memory shifted by one element
    with pytest.raises(ValueError, match="out overlaps y_pred"):
        L.grad(both[:300], both[300:], out=both[299:599], backend=backend)
    with pytest.raises(ValueError, match="out overlaps y_true"):
        L.grad(both[:300], both[300:].copy(), out=both[1:301], backend=backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_rmse_fast_path_gives_the_full_roads_bits(dtype, backend, rng, monkeypatch, no_planner):
    """The mse pass and a root: values, gradients (rescaled by 1 / (2 rmse)), weights, 2-D
    inputs, and the subgradient 0 where every residual is 0."""
    L = fl.rmse
    y = rng.standard_normal(300).astype(dtype)
    p = rng.standard_normal(300).astype(dtype)
    w = rng.random(300) + 0.1
    for args in ((y, p), (y.reshape(10, 30), p.reshape(10, 30)), (y, y.copy())):
        slow = tuple(_strided(a) for a in args)
        for fn in (L, L.grad, L.value_and_grad):
            for kw in ({}, {"sample_weight": w} if args[0].ndim == 1 else {}):
                _both(monkeypatch, no_planner, fn, args, slow, dict(kw, backend=backend))
    with pytest.raises(ValueError, match="only reduction='mean'"):  # the full road's message
        L(y, p, reduction="sum")


@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items()
                                        if s.kind == "rowwise" and s.fast_prm is not None))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("C", [2, 10, 70])  # short rows, and rows of lse_row's blocks
def test_rowwise_fast_paths_give_the_full_roads_bits(name, dtype, backend, C, rng,
                                                     monkeypatch, no_planner):
    L = getattr(fl, name)
    lab = rng.integers(0, C, 40)
    z = (3 * rng.standard_normal((40, C))).astype(dtype)
    zs = _strided(z)
    calls = [(L, {}), (L, {"reduction": "sum"}), (L.value_and_grad, {}), (L.grad, {}),
             (L.value_and_grad, {"reduction": "none"})]
    if L.spec.has_hess:
        calls.append((L.grad_hess, {}))
    w = rng.random(40) + 0.1  # a weight per row, float64 and float32
    calls += [(L, {"sample_weight": w}), (L, {"sample_weight": w, "reduction": "sum"}),
              (L.value_and_grad, {"sample_weight": w.astype(np.float32)}),
              (L.grad, {"sample_weight": w})]
    if name == "cross_entropy":  # the parameters its fast_prm takes
        calls += [(L, {"label_smoothing": 0.1}), (L, {"ignore_index": -1}),
                  (L.value_and_grad, {"label_smoothing": 0.1, "sample_weight": w}),
                  (L.value_and_grad, {"label_smoothing": 0.25, "ignore_index": C + 5}),
                  (L.grad, {"label_smoothing": 1.0, "reduction": "sum"})]
    for fn, kw in calls:
        _both(monkeypatch, no_planner, fn, (lab, z), (lab, zs), dict(kw, backend=backend))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_prepared_rowwise_calls_skip_the_planner_with_its_bits(dtype, backend, rng,
                                                               monkeypatch, no_planner):
    """Row-wise calls that only ``prepare`` can check (probability targets, labels with
    ``ignore_index``, log_loss's labels) go from prepare straight to the kernel: the values
    and gradients of the full road (``rowwise.call``), its denominators included."""
    N, C = 37, 9
    p = rng.random((N, C)).astype(dtype)
    p /= p.sum(1, keepdims=True)
    q = rng.random((N, C)).astype(dtype)
    q /= q.sum(1, keepdims=True)
    lab = rng.integers(0, C, N)
    lab[::4] = -100  # ignored rows: the mean divides by the kept ones
    cases = [(fl.kl_divergence, (p, q)), (fl.cross_entropy, (p, np.log(q))),
             (fl.cross_entropy, (lab, np.log(q))),
             (fl.log_loss, (rng.integers(0, 2, N), q[:, 0].copy()))]
    for L, args in cases:
        for op in ("value", "grad", "value_and_grad"):
            for reduction in ("mean", "sum"):
                kw = {"reduction": reduction, "sample_weight": None, "backend": backend,
                      "params": {}, "out": None}
                with no_planner():
                    got = rowwise.fast(L.spec, op, args, kw)
                _same(got, rowwise.call(L.spec, op, args, kw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_rowwise_out_on_the_fast_path(dtype, backend, rng, no_planner):
    """cross_entropy's ``out=`` (a new array, or the logits themselves) on the fast path,
    with the full road's bits."""
    L = fl.cross_entropy
    lab = rng.integers(0, 70, 40)
    z = (3 * rng.standard_normal((40, 70))).astype(dtype)
    zs = _strided(z)
    for fn in (L.grad, L.value_and_grad):
        for kw in ({}, {"reduction": "sum"}, {"label_smoothing": 0.2}):
            kw = dict(kw, backend=backend)
            g1, g2 = np.full_like(z, np.nan), np.full_like(z, np.nan)
            with no_planner():
                got = fn(lab, z, out=g1, **kw)
            want = fn(lab, zs, out=g2, **kw)
            _same(got, want)
            assert (got if fn.__name__ == "grad" else got[1]) is g1
            q = z.copy()  # in place
            with no_planner():
                got = fn(lab, q, out=q, **kw)
            _same(got, want)


@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items() if s.kind == "terms"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_terms_fast_path_gives_the_full_roads_bits(name, dtype, backend, rng, monkeypatch,
                                                   no_planner):
    L = getattr(fl, name)
    monkeypatch.setattr(pointwise, "_fast_value", {})  # the terms' kernels made here
    arrays, _ = L.spec.sample(rng, (7, 40), dtype)
    for fn in (L, L.grad, L.value_and_grad):
        for kw in ({}, {"reduction": "sum"}, {"reduction": "mean"}):
            _both(monkeypatch, no_planner, fn, arrays, [_strided(a) for a in arrays],
                  dict(kw, backend=backend))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_float32_weights_take_the_fast_path_with_their_float64_copys_bits(
        dtype, backend, no_planner):
    """float32 weights are read as they are (no float64 copy of them per call): the value
    and grad_hess, with reduction "mean" and "sum", give the bits that the weights' float64
    copy gives on the full road."""
    rng = np.random.default_rng(7)
    n = 70_001  # several chunks
    y, p = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    w32 = rng.uniform(0.0, 3.0, n).astype(np.float32)
    w64 = w32.astype(np.float64).tolist()  # a list, which only the full road takes
    for fn in (fl.mse, fl.poisson_nll):  # (each op below compiles a kernel for float32 w)
        yy = np.abs(y) if fn is fl.poisson_nll else y
        for red in ("mean", "sum"):
            for op in ("__call__", "grad_hess"):
                with no_planner():
                    fast = getattr(fn, op)(yy, p, sample_weight=w32, reduction=red,
                                           backend=backend)
                full = getattr(fn, op)(yy, p, sample_weight=w64, reduction=red,
                                       backend=backend)
                _same(fast, full)


def test_fast_paths_refuse_what_they_cannot_check(rng, monkeypatch, no_planner):
    """Calls the fast paths must hand to the full road (which explains what is wrong)."""
    y, p = rng.standard_normal(50), rng.standard_normal(50)
    with no_planner():
        for call in (lambda: fl.mse(y, p, sample_weight=-np.ones(50)),
                     lambda: fl.mse(y, p, sample_weight=np.zeros(50)),
                     lambda: fl.mse(y, p, sample_weight=np.ones(50, np.float16)),
                     lambda: fl.mse(y, p, sample_weight=np.full(50, np.nan, np.float32)),
                     lambda: fl.mse(y, p, sample_weight=np.ones(49)),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              ignore_index=2),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              label_smoothing=1.5),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              label_smoothing=np.float32(0.1)),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              class_weight=np.ones(3)),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              sample_weight=-np.ones(5)),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              sample_weight=np.zeros(5)),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              sample_weight=np.ones(4)),
                     lambda: fl.cross_entropy(np.full(5, 2), rng.standard_normal((5, 3)),
                                              sample_weight=np.full(5, np.inf),
                                              reduction="sum"),
                     lambda: fl.mse(y.reshape(5, 10), p.reshape(5, 10), axis=-1,
                                    sample_weight=np.ones(5)),
                     lambda: fl.gan_discriminator(y, p.astype(np.float32)),
                     lambda: fl.gan_discriminator(y, p[:0]),
                     lambda: fl.gan_discriminator(y, p, kind="hinge"),
                     lambda: fl.l1_penalty(p, reduction="none")):
            with pytest.raises(AssertionError, match="left the fast path"):
                call()
    with pytest.raises(ValueError, match="sample_weight"):
        fl.mse(y, p, sample_weight=-np.ones(50))
    with no_planner(), pytest.raises(ValueError, match="y_true holds 3"):
        fl.cross_entropy(np.full(5, 3), rng.standard_normal((5, 3)))  # prepare's own check
    with no_planner(), pytest.raises(ValueError, match="delta must be > 0"):
        fl.huber(y, p, delta=-1.0)  # the fast path checks parameters as plan() does


def test_machine_code_entries_serve_only_the_types_they_were_made_for(rng, monkeypatch,
                                                                     no_planner):
    """The serial fast paths call the machine code of a kernel's first call directly (no
    dispatcher), only with arguments of its types: after a first call with float64 weights,
    one of ``l1_penalty`` (whose term ``l2_penalty`` shares) and one of ``focal`` (whose
    default ``gamma`` reaches the kernel as None), calls with float32 weights, another
    parameter's value or type, read-only inputs and the other penalty's parameters give
    the full road's bits."""
    import numba

    monkeypatch.setattr(pointwise, "_fast_value", {})
    y, p = rng.standard_normal(300), rng.standard_normal(300)
    w64 = rng.random(300) + 0.1
    ro = p.copy()
    ro.flags.writeable = False
    yb = (rng.random(300) < 0.5).astype(np.float64)
    with no_planner():
        fl.huber(y, p, backend="serial")
        fl.huber(y, p, sample_weight=w64, backend="serial")
        fl.l1_penalty(p, backend="serial")
        fl.focal(yb, p, backend="serial")  # gamma = 2.0 reaches the kernel as None
    slots = [e[4] for e in pointwise._fast_value.values()]
    assert len(slots) == 4
    assert all(not isinstance(s[2], numba.core.dispatcher.Dispatcher) for s in slots)
    for fn, args, kw in [
            (fl.huber, (y, p), {"sample_weight": w64.astype(np.float32)}),
            (fl.huber, (y, p), {"sample_weight": w64}),
            (fl.huber, (y, p), {"delta": 0.25}),
            (fl.huber.value_and_grad, (y, p), {"delta": 0.25}),
            (fl.huber, (y, ro), {}),
            (fl.l2_penalty, (p,), {}),
            (fl.l2_penalty.value_and_grad, (p,), {"reduction": "sum"}),
            (fl.l1_penalty, (ro,), {}),
            (fl.focal, (yb, p), {"gamma": 0.5}),  # a float where the first call had None
            (fl.focal, (yb, p), {"gamma": 2.0, "alpha": 0.5})]:
        _both(monkeypatch, no_planner, fn, args, [_strided(a) for a in args],
              dict(kw, backend="serial"))
    # the row fast paths: the default row parameters' machine code, then a parameter
    monkeypatch.setattr(rowwise, "_fast_value", {})
    lab, z = rng.integers(0, 10, 30), rng.standard_normal((30, 10))
    pt = rng.random((30, 10))
    pt /= pt.sum(1, keepdims=True)
    for fn, args, kw in [
            (fl.cross_entropy, (lab, z), {}), (fl.cross_entropy, (lab, z), {}),
            (fl.cross_entropy, (lab, z), {"label_smoothing": 0.25}),
            (fl.cross_entropy.value_and_grad, (lab, z), {}),
            (fl.cross_entropy.value_and_grad, (lab, z), {"label_smoothing": 0.25}),
            (fl.kl_divergence, (pt, z * 0 + pt[::-1]), {}),
            (fl.kl_divergence, (pt, pt[::-1].copy()), {})]:
        _both(monkeypatch, no_planner, fn, args, [args[0], _strided(args[1])],
              dict(kw, backend="serial"))
    assert all(e[3] is not None for e in rowwise._fast_value.values())


@pytest.mark.parametrize("rows", [7, 7000])  # 70 values: one check of both; 70000: each
def test_probability_rows_take_the_targets_path_and_hand_bad_values_to_prepare(
        rows, rng, monkeypatch, no_planner):
    """kl_divergence's common call checks both arrays' range in one compiled pass and runs
    the kernel without prepare (the full road's bits); a value outside [0, 1] in either
    array goes on to prepare, whose error names the array and the position."""
    p, q = rng.random((rows, 10)), rng.random((rows, 10))
    p /= p.sum(1, keepdims=True)
    q /= q.sum(1, keepdims=True)
    kw = {"reduction": "mean", "sample_weight": None, "backend": "serial", "params": {},
          "out": None}
    for op in ("value", "grad", "value_and_grad"):
        want = rowwise.call(fl.kl_divergence.spec, op, (p, q), kw)
        with no_planner(), monkeypatch.context() as m:
            m.setattr(rowwise, "fast_prepared", _fail)
            _same(rowwise.fast(fl.kl_divergence.spec, op, (p, q), kw), want)
    with no_planner():
        for name, arr in (("y_true", p), ("y_pred", q)):
            bad = arr.copy()
            bad[-1, -1] = 1.5
            args = (bad, q) if name == "y_true" else (p, bad)
            with pytest.raises(ValueError, match=rf"{name} must be probabilities .* 1\.5 at "
                                                 rf"position \({rows - 1}, 9\)"):
                fl.kl_divergence(*args, backend="serial")
