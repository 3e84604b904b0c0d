"""Every registered loss is complete: a reference, hand-checked values, a docstring with
its formula, a sampler, and a public object with every call of the contract."""

import pydoc

import numpy as np
import pytest

import fastloss
from fastloss._spec import REGISTRY
from tests.references import HAND_VALUES, REFERENCES

NAMES = sorted(REGISTRY)


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_complete(name):
    spec = REGISTRY[name]
    assert name in REFERENCES, f"{name} has no independent reference in tests/references"
    assert HAND_VALUES.get(name), f"{name} has no hand-checked values in tests/references"
    assert spec.formula and spec.matches and spec.summary
    assert spec.sample is not None, f"{name} has no sampler of valid inputs"
    L = getattr(fastloss, name)
    assert isinstance(L, fastloss.Loss)
    for call in ("__call__", "grad", "value_and_grad", "grad_hess"):
        assert callable(getattr(L, call))
    doc = pydoc.render_doc(L, renderer=pydoc.plaintext)
    assert ".. math::" in doc and spec.formula in doc, f"help({name}) lacks its formula"
    for p in spec.params:
        assert p.name in doc and p.domain in doc


@pytest.mark.parametrize("name", NAMES)
def test_sampler_gives_valid_inputs(name):
    spec = REGISTRY[name]
    args, params = spec.sample(np.random.default_rng(0), (8,), np.float64)
    value = getattr(fastloss, name)(*args, **params)
    assert np.all(np.isfinite(value))


def test_grad_hess_only_where_promised():
    for name, spec in REGISTRY.items():
        L = getattr(fastloss, name)
        if spec.has_hess:
            continue
        args, params = spec.sample(np.random.default_rng(0), (8,), np.float64)
        with pytest.raises(NotImplementedError, match=name):
            L.grad_hess(*args, **params)


def test_losses_pickle_by_name():
    import pickle

    for name in NAMES:
        assert pickle.loads(pickle.dumps(getattr(fastloss, name))) is getattr(fastloss, name)
