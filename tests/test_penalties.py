"""Penalties and proximal operators: values against NumPy, (sub)gradients against PyTorch
autograd and finite differences, float32 and float64, serial == parallel bits, out= and in
place, errors."""

import numpy as np
import pytest
import torch

import fastloss
from fastloss._spec import REGISTRY
from tests.references import HAND_VALUES, REFERENCES
from tests.references.penalties import PROX_REFERENCES

NAMES = ("l1_penalty", "l2_penalty", "elastic_net")
CASES = [("l1_penalty", {}), ("l2_penalty", {}), ("elastic_net", {}),
         ("elastic_net", {"l1_ratio": 0.2}), ("elastic_net", {"l1_ratio": 1.0})]
TOL = {np.float64: dict(rtol=1e-12, atol=0), np.float32: dict(rtol=1e-6, atol=0)}


def _torch(name, w, l1_ratio=0.5):
    if name == "l1_penalty":
        return w.abs().sum()
    if name == "l2_penalty":
        return 0.5 * (w**2).sum()
    return l1_ratio * w.abs().sum() + 0.5 * (1 - l1_ratio) * (w**2).sum()


def _weights(rng, dtype, shape=(6, 7)):
    w = rng.standard_normal(shape).astype(dtype)
    w.reshape(-1)[::5] = 0.0  # exact zeros: the subgradient there is 0
    return w


def test_registered_with_reference_and_hand_values():
    fam = sorted(n for n, s in REGISTRY.items() if s.family == "penalties")
    assert set(NAMES) <= set(fam)  # the loop below covers every loss of the family
    for n in fam:
        assert n in REFERENCES and HAND_VALUES.get(n), n
        assert ".. math::" in getattr(fastloss, n).__doc__
    for n in PROX_REFERENCES:
        assert ".. math::" in getattr(fastloss, n).__doc__
        assert n in fastloss.__all__


@pytest.mark.parametrize("name", NAMES)
def test_hand_values(name):
    for args, params, expected in HAND_VALUES[name]:
        assert getattr(fastloss, name)(*args, **params) == expected


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,params", CASES)
def test_matches_reference_and_autograd(name, params, dtype):
    w = _weights(np.random.default_rng(0), dtype)
    L = getattr(fastloss, name)
    terms = REFERENCES[name](w, **params)
    none = L(w, reduction="none", backend="serial", **params)
    assert none.dtype == dtype and none.shape == w.shape
    np.testing.assert_allclose(none, terms, **TOL[dtype])
    assert L(w, backend="serial", **params) == pytest.approx(float(terms.sum()),
                                                             rel=TOL[dtype]["rtol"])
    assert L(w, reduction="mean", backend="serial", **params) == pytest.approx(
        float(terms.mean()), rel=TOL[dtype]["rtol"])
    t = torch.tensor(w.astype(np.float64), requires_grad=True)
    tv = _torch(name, t, **params)
    tv.backward()
    v, g = L.value_and_grad(w, backend="serial", **params)
    assert v == pytest.approx(tv.item(), rel=TOL[dtype]["rtol"])
    assert g.dtype == dtype and g.shape == w.shape
    np.testing.assert_allclose(g, t.grad.numpy(), **TOL[dtype])
    # grad alone is another kernel: with the house `contract` flag LLVM may fuse a multiply
    # and an add in one and not in the other, so the two agree to the last bit or so
    ulp = 2 * np.finfo(dtype).eps
    np.testing.assert_allclose(L.grad(w, backend="serial", **params), g, rtol=ulp)
    np.testing.assert_allclose(L.grad(w, reduction="mean", backend="serial", **params),
                               g / w.size, **TOL[dtype])
    np.testing.assert_allclose(L.grad(w, reduction="none", backend="serial", **params), g,
                               rtol=ulp)


def test_subgradient_zero_at_zero():
    w = np.array([0.0, -0.0, 1.0, -1.0])
    np.testing.assert_array_equal(fastloss.l1_penalty.grad(w), [0.0, 0.0, 1.0, -1.0])
    np.testing.assert_array_equal(fastloss.elastic_net.grad(w, l1_ratio=0.5),
                                  [0.0, 0.0, 1.0, -1.0])


@pytest.mark.parametrize("name,params", CASES)
def test_finite_differences(name, params):
    w = np.random.default_rng(1).standard_normal(8)
    w[np.abs(w) < 0.05] = 0.3  # away from the kink of |w|
    L = getattr(fastloss, name)
    g = L.grad(w, **params)
    h = 1e-6
    for j in range(w.size):
        up, down = w.copy(), w.copy()
        up[j] += h
        down[j] -= h
        fd = (L(up, **params) - L(down, **params)) / (2 * h)
        assert fd == pytest.approx(g[j], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_serial_equals_parallel_bits(dtype):
    w = _weights(np.random.default_rng(2), dtype, (3, 4001))  # three 4096-element chunks
    for name, params in CASES:
        L = getattr(fastloss, name)
        vs, gs = L.value_and_grad(w, backend="serial", **params)
        vp, gp = L.value_and_grad(w, backend="parallel", **params)
        assert vs == vp
        np.testing.assert_array_equal(gs, gp)
    for prox, args in (("prox_l1", (0.3,)), ("prox_elastic_net", (0.3, 0.7))):
        P = getattr(fastloss, prox)
        np.testing.assert_array_equal(P(w, *args, backend="serial"),
                                      P(w, *args, backend="parallel"))


def test_nonfinite():
    assert fastloss.l1_penalty([np.inf, 1.0]) == np.inf
    assert fastloss.l2_penalty([-np.inf]) == np.inf
    assert fastloss.elastic_net([np.inf], l1_ratio=1.0) == np.inf
    v, g = fastloss.l1_penalty.value_and_grad([np.nan, 2.0])
    assert np.isnan(v) and np.isnan(g[0]) and g[1] == 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prox_matches_reference(dtype):
    rng = np.random.default_rng(3)
    w = (2 * rng.standard_normal((5, 9))).astype(dtype)
    for t in (0.0, 0.3, 1.5):
        got = fastloss.prox_l1(w, t)
        assert got.dtype == dtype and got.shape == w.shape
        # t is rounded to w's dtype first, as NumPy does with a Python float
        np.testing.assert_array_equal(got, PROX_REFERENCES["prox_l1"](w, dtype(t)))
        for r in (0.0, 0.4, 1.0):
            np.testing.assert_allclose(fastloss.prox_elastic_net(w, t, r),
                                       PROX_REFERENCES["prox_elastic_net"](w, t, r),
                                       rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_array_equal(fastloss.prox_elastic_net(w, 0.7, 1.0),
                                  fastloss.prox_l1(w, 0.7))
    zeros = fastloss.prox_l1(np.array([-0.5, 0.5, -3.0]), 1.0)
    assert not np.signbit(zeros[:2]).any()  # exact +0.0
    got = fastloss.prox_l1(np.array([np.nan, np.inf, -np.inf]), 1.0)
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == -np.inf


def test_prox_is_the_minimiser():
    """prox_{t g}(v) minimises 0.5 (w - v)^2 + t g(w) (elementwise): no perturbation does
    better."""
    rng = np.random.default_rng(4)
    v = 2 * rng.standard_normal(200)
    t, r = 0.6, 0.3
    for prox, g in ((lambda x: fastloss.prox_l1(x, t), lambda w: np.abs(w)),
                    (lambda x: fastloss.prox_elastic_net(x, t, r),
                     lambda w: r * np.abs(w) + 0.5 * (1 - r) * w**2)):
        w = prox(v)
        obj = 0.5 * (w - v) ** 2 + t * g(w)
        for d in (1e-3, -1e-3, 1e-6, -1e-6):
            assert np.all(obj <= 0.5 * (w + d - v) ** 2 + t * g(w + d) + 1e-15)


def test_prox_out_and_in_place():
    w = np.array([3.0, -0.5, 1.0, -4.0])
    keep = w.copy()
    want = fastloss.prox_l1(w, 1.0)
    np.testing.assert_array_equal(w, keep)  # not modified
    out = np.empty(4)
    assert fastloss.prox_l1(w, 1.0, out=out) is out
    np.testing.assert_array_equal(out, want)
    assert fastloss.prox_l1(w, 1.0, out=w) is w  # in place
    np.testing.assert_array_equal(w, want)
    w2 = np.arange(12.0).reshape(3, 4)
    want2 = fastloss.prox_elastic_net(w2, 0.5, 0.5)
    assert fastloss.prox_elastic_net(w2, 0.5, 0.5, out=w2) is w2
    np.testing.assert_array_equal(w2, want2)
    # penalties: out= and in place
    w3 = np.array([1.0, -2.0, 0.0])
    g = fastloss.elastic_net.grad(w3)
    assert fastloss.elastic_net.grad(w3, out=w3) is w3
    np.testing.assert_array_equal(w3, g)
    # non-contiguous input
    w4 = np.arange(-10.0, 10.0)[::-3]
    np.testing.assert_array_equal(fastloss.prox_l1(w4, 2.0),
                                  fastloss.prox_l1(np.ascontiguousarray(w4), 2.0))


def test_errors():
    with pytest.raises(ValueError, match="t must be >= 0"):
        fastloss.prox_l1([1.0], -0.1)
    with pytest.raises(ValueError, match="t must be finite"):
        fastloss.prox_l1([1.0], np.inf)
    with pytest.raises(TypeError, match="t must be a real number"):
        fastloss.prox_l1([1.0], "1")
    with pytest.raises(ValueError, match="l1_ratio"):
        fastloss.prox_elastic_net([1.0], 0.1, 1.5)
    with pytest.raises(ValueError, match="l1_ratio"):
        fastloss.elastic_net([1.0], l1_ratio=-0.1)
    with pytest.raises(ValueError, match="out"):
        fastloss.prox_l1([1.0, 2.0], 0.1, out=np.empty(3))
    with pytest.raises(ValueError, match="out"):
        fastloss.prox_l1(np.ones(2, np.float32), 0.1, out=np.empty(2))
    with pytest.raises(TypeError, match="w"):
        fastloss.prox_l1(["a"], 0.1)
    with pytest.raises(TypeError, match="w"):
        fastloss.l1_penalty([1j])
    with pytest.raises(ValueError, match="w is empty"):
        fastloss.l2_penalty([], reduction="mean")
    assert fastloss.l2_penalty([]) == 0.0
    assert fastloss.prox_l1(np.zeros(0), 1.0).shape == (0,)
    with pytest.raises(TypeError, match="unknown parameter"):
        fastloss.l1_penalty([1.0], l1_ratio=0.5)
    with pytest.raises(ValueError, match="reduction"):
        fastloss.l1_penalty([1.0], reduction="max")
    for n in NAMES:
        with pytest.raises(NotImplementedError, match=n):
            getattr(fastloss, n).grad_hess([1.0])
    with pytest.raises(fastloss.BackendUnavailableError):
        fastloss.prox_l1([1.0], 0.1, backend="cuda")
