"""GAN losses: values against the NumPy formulas, gradients against PyTorch autograd and
finite differences, float32 and float64, serial == parallel bits, options and errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastloss
from fastloss import _backend
from fastloss._spec import REGISTRY
from tests.references import HAND_VALUES, REFERENCES
from tests.references import adversarial as ref

NAMES = ("gan_discriminator", "gan_generator", "adversarial_value")
DISC = ("standard", "least_squares", "hinge", "wasserstein")
GEN = ("non_saturating", "minimax", "least_squares", "hinge", "wasserstein")
CASES = ([("gan_discriminator", k) for k in DISC] + [("gan_generator", k) for k in GEN]
         + [("adversarial_value", None)])
TOL = {np.float64: dict(rtol=1e-10, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-7)}


def _kw(kind):
    return {} if kind is None else {"kind": kind}


def _inputs(name, rng, dtype, n_real=37, n_fake=23, scale=3.0):
    real = (scale * rng.standard_normal(n_real)).astype(dtype)
    fake = (scale * rng.standard_normal(n_fake)).astype(dtype)
    return (fake,) if name == "gan_generator" else (real, fake)


def _torch_value(name, kind, tensors):
    """The loss written with torch functions, for autograd (means per batch)."""
    if name == "gan_generator":
        (f,) = tensors
        return {
            "non_saturating": lambda: F.softplus(-f).mean(),
            "minimax": lambda: -F.softplus(f).mean(),
            "least_squares": lambda: 0.5 * ((f - 1) ** 2).mean(),
            "hinge": lambda: -f.mean(),
            "wasserstein": lambda: -f.mean(),
        }[kind]()
    r, f = tensors
    if name == "adversarial_value":
        return F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()
    return {
        "standard": lambda: (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                             + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))),
        "least_squares": lambda: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(),
        "hinge": lambda: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
        "wasserstein": lambda: f.mean() - r.mean(),
    }[kind]()


def _torch_grads(name, kind, args):
    ts = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in args]
    v = _torch_value(name, kind, ts)
    v.backward()
    return v.item(), [t.grad.numpy() for t in ts]


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def test_registered_with_reference_and_hand_values():
    fam = sorted(n for n, s in REGISTRY.items() if s.family == "adversarial")
    assert set(NAMES) <= set(fam)  # the loop below covers every loss of the family
    for n in fam:
        assert n in REFERENCES and HAND_VALUES.get(n), n
        doc = getattr(fastloss, n).__doc__
        assert ".. math::" in doc and "References" in doc and "Matches" in doc


@pytest.mark.parametrize("name", NAMES)
def test_hand_values(name):
    for args, params, expected in HAND_VALUES[name]:
        got = getattr(fastloss, name)(*args, **params)
        assert isinstance(got, float)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), (args, params)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kind", CASES)
def test_matches_formula_and_autograd(name, kind, dtype):
    rng = np.random.default_rng(1)
    args = _inputs(name, rng, dtype)
    L = getattr(fastloss, name)
    kw = _kw(kind)
    terms = REFERENCES[name](*args, **kw)
    terms = terms if isinstance(terms, tuple) else (terms,)
    # "none": the terms, in the input dtype
    none = _as_tuple(L(*args, reduction="none", backend="serial", **kw))
    for got, want in zip(none, terms, strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])
    mean = sum(float(np.mean(t)) for t in terms)
    total = sum(float(np.sum(t)) for t in terms)
    assert L(*args, backend="serial", **kw) == pytest.approx(mean, rel=TOL[dtype]["rtol"],
                                                             abs=1e-12)
    assert L(*args, reduction="sum", backend="serial", **kw) == pytest.approx(
        total, rel=TOL[dtype]["rtol"], abs=1e-12)
    # gradients: PyTorch autograd on the same values in float64
    tv, tg = _torch_grads(name, kind, args)
    v, g = L.value_and_grad(*args, backend="serial", **kw)
    g = _as_tuple(g)
    assert v == pytest.approx(tv, rel=TOL[dtype]["rtol"], abs=1e-12)
    assert len(g) == len(args)
    for gi, ti, a in zip(g, tg, args, strict=True):
        assert gi.dtype == dtype and gi.shape == a.shape
        np.testing.assert_allclose(gi, ti, **TOL[dtype])
    # grad alone, and reduction="sum"/"none" give the derivative of the sum
    for gi, gj in zip(_as_tuple(L.grad(*args, backend="serial", **kw)), g, strict=True):
        np.testing.assert_array_equal(gi, gj)
    gs = _as_tuple(L.grad(*args, reduction="sum", backend="serial", **kw))
    gn = _as_tuple(L.grad(*args, reduction="none", backend="serial", **kw))
    for gi, gsi, gni, a in zip(g, gs, gn, args, strict=True):
        np.testing.assert_allclose(gsi, gi * a.size, **TOL[dtype])
        np.testing.assert_array_equal(gsi, gni)


@pytest.mark.parametrize("name,kind", CASES)
def test_finite_differences(name, kind):
    rng = np.random.default_rng(2)
    args = [a.copy() for a in _inputs(name, rng, np.float64, 5, 4)]
    for a in args:  # keep clear of the hinge kinks
        a[np.abs(np.abs(a) - 1.0) < 1e-3] += 0.01
    L = getattr(fastloss, name)
    kw = _kw(kind)
    g = _as_tuple(L.grad(*args, backend="serial", **kw))
    h = 1e-6
    for ai, gi in zip(args, g, strict=True):
        for j in range(ai.size):
            old = ai[j]
            ai[j] = old + h
            up = L(*args, backend="serial", **kw)
            ai[j] = old - h
            down = L(*args, backend="serial", **kw)
            ai[j] = old
            assert (up - down) / (2 * h) == pytest.approx(gi[j], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_serial_equals_parallel_bits(dtype):
    rng = np.random.default_rng(3)
    real = (4 * rng.standard_normal(10_000)).astype(dtype)  # three 4096-element chunks
    fake = (4 * rng.standard_normal((50, 201))).astype(dtype)
    for name, kind in CASES:
        L = getattr(fastloss, name)
        args = (fake,) if name == "gan_generator" else (real, fake)
        out = {}
        for be in ("serial", "parallel"):
            v, g = L.value_and_grad(*args, backend=be, **_kw(kind))
            out[be] = (v, _as_tuple(g))
        assert out["serial"][0] == out["parallel"][0], (name, kind)
        for a, b in zip(out["serial"][1], out["parallel"][1], strict=True):
            np.testing.assert_array_equal(a, b)
        assert L(*args, backend="parallel", **_kw(kind)) == out["serial"][0]


def test_extreme_and_nonfinite_logits():
    big = np.array([-1e30, -1e4, -40.0, 0.0, 40.0, 1e4, 1e30])
    for name, kind in CASES:
        L = getattr(fastloss, name)
        args = (big,) if name == "gan_generator" else (big, big[::-1].copy())
        terms = REFERENCES[name](*args, **_kw(kind))
        for got, want in zip(_as_tuple(L(*args, reduction="none", **_kw(kind))),
                             terms if isinstance(terms, tuple) else (terms,), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-15)
        for gi in _as_tuple(L.grad(*args, **_kw(kind))):
            assert np.all(np.isfinite(gi))
    # float32 logits beyond the point where sigmoid rounds to 0 or 1: still exact
    f32 = np.array([-100.0, 100.0], np.float32)
    np.testing.assert_allclose(fastloss.gan_generator(f32, reduction="none"),
                               [100.0, math.exp(-100.0)], rtol=1e-6, atol=1e-44)
    assert fastloss.adversarial_value([-100.0], [100.0]) == pytest.approx(-200.0)
    # NaN and inf propagate into the value
    assert math.isnan(fastloss.gan_generator([np.nan, 1.0]))
    assert math.isnan(fastloss.gan_discriminator([1.0], [np.nan], kind="hinge"))
    assert fastloss.gan_generator([-np.inf]) == np.inf
    assert fastloss.gan_discriminator([np.inf], [0.0], kind="wasserstein") == -np.inf


def test_out_in_place_and_no_mutation():
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal(9), rng.standard_normal(6)
    keep = real.copy(), fake.copy()
    want = fastloss.gan_discriminator.grad(real, fake)
    np.testing.assert_array_equal(real, keep[0])
    np.testing.assert_array_equal(fake, keep[1])
    outs = (np.empty(9), np.empty(6))
    got = fastloss.gan_discriminator.grad(real, fake, out=outs)
    assert got[0] is outs[0] and got[1] is outs[1]
    v, got = fastloss.gan_discriminator.value_and_grad(real, fake, out=(real, fake))
    assert got[0] is real and got[1] is fake
    np.testing.assert_array_equal(real, want[0])
    np.testing.assert_array_equal(fake, want[1])
    f = rng.standard_normal(5)
    w = fastloss.gan_generator.grad(f)
    assert fastloss.gan_generator.grad(f, out=f) is f
    np.testing.assert_array_equal(f, w)


def test_shapes_dtypes_and_keywords():
    real32 = np.ones((3, 4), np.float32)
    fake64 = np.zeros(5)
    g = fastloss.gan_discriminator.grad(real32, fake64)
    assert g[0].dtype == g[1].dtype == np.float64 and g[0].shape == (3, 4)
    assert fastloss.gan_generator.grad(np.float32(2.0)).shape == ()
    assert fastloss.gan_generator.grad([1, 2]).dtype == np.float64  # ints become float64
    # non-contiguous and negatively strided inputs
    x = np.arange(20.0).reshape(4, 5)[:, ::-2] / 10
    np.testing.assert_array_equal(fastloss.gan_generator.grad(x),
                                  fastloss.gan_generator.grad(np.ascontiguousarray(x)))
    # arrays by keyword
    assert fastloss.gan_discriminator(real_logits=[1.0], fake_logits=[0.0]) == \
        fastloss.gan_discriminator([1.0], [0.0])
    assert fastloss.gan_discriminator([1.0], [2.0, 3.0], reduction="none")[1].shape == (2,)


def test_errors():
    D, G = fastloss.gan_discriminator, fastloss.gan_generator
    with pytest.raises(ValueError, match="kind"):
        D([1.0], [1.0], kind="nonsaturating")
    with pytest.raises(ValueError, match="kind"):
        G([1.0], kind="standard")
    with pytest.raises(TypeError, match="kind"):
        G([1.0], kind=1)
    with pytest.raises(ValueError, match="real_logits"):
        D([], [1.0])
    with pytest.raises(ValueError, match="fake_logits"):
        G([])
    assert D([], [], reduction="sum") == 0.0
    assert G(np.zeros(0), reduction="none").shape == (0,)
    with pytest.raises(ValueError, match="reduction"):
        D([1.0], [1.0], reduction="avg")
    with pytest.raises(TypeError, match="sample_weight"):
        G([1.0], sample_weight=[1.0])
    with pytest.raises(TypeError, match="fake_logits"):
        D([1.0])
    with pytest.raises(TypeError, match="real_logits"):
        D([1.0 + 1j], [1.0])
    with pytest.raises(TypeError, match="out"):
        D.grad([1.0], [1.0], out=np.empty(1))
    with pytest.raises(ValueError, match=r"out\[1\]"):
        D.grad([1.0], [1.0, 2.0], out=(np.empty(1), np.empty(3)))
    with pytest.raises(ValueError, match="out"):
        G.grad([1.0, 2.0], out=np.empty(2, np.float32))
    with pytest.raises(ValueError, match="backend"):
        G([1.0], backend="gpu")
    for L in (D, G, fastloss.adversarial_value):
        with pytest.raises(NotImplementedError, match=L.__name__):
            L.grad_hess([1.0], [1.0])


def test_cuda_backend_is_refused_or_matches():
    f = np.linspace(-3, 3, 7)
    if _backend.cuda_unavailable_reason() is not None:
        with pytest.raises(fastloss.BackendUnavailableError):
            fastloss.gan_generator(f, backend="cuda")
    else:  # a GPU (or the simulator): either the CUDA road serves it or it says why not
        try:
            got = fastloss.gan_generator(f, backend="cuda")
        except fastloss.BackendUnavailableError:
            return
        assert got == pytest.approx(fastloss.gan_generator(f), rel=1e-12)


def test_value_function_is_minus_the_standard_discriminator_loss():
    rng = np.random.default_rng(5)
    r, f = rng.standard_normal(11), rng.standard_normal(7)
    assert fastloss.adversarial_value(r, f) == -fastloss.gan_discriminator(r, f)
    # at D = 1/2 everywhere the value is -log 4
    assert fastloss.adversarial_value(np.zeros(3), np.zeros(8)) == pytest.approx(-math.log(4))
    # minimax generator loss is the fake half of the value function
    np.testing.assert_allclose(fastloss.gan_generator(f, kind="minimax"),
                               float(np.mean(ref.adversarial_value(r, f)[1])), rtol=1e-14)
