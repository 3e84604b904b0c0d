"""Bad input gets a ValueError/TypeError naming the argument (docs/conventions.md)."""

import numpy as np
import pytest

import fastloss
from tests.helpers import pointwise_names, run_python, sample

Y = np.zeros(4)
P = np.ones(4)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(y_true=np.zeros(3), y_pred=P), ValueError, "y_true has shape"),
        (dict(y_true=np.zeros((4, 2)), y_pred=np.ones((2, 4))), ValueError, "y_true has shape"),
        (dict(y_true=Y, y_pred=P.astype(complex)), TypeError, "y_pred must hold real"),
        (dict(y_true=np.array(["a"] * 4), y_pred=P), TypeError, "y_true must hold real"),
        (dict(y_true=np.array([object()] * 4), y_pred=P), TypeError, "y_true"),
        (dict(y_true=None, y_pred=P), TypeError, "y_true"),
        (dict(y_true=[[1.0], [1.0, 2.0]], y_pred=P), TypeError, "y_true"),
        (dict(y_true=Y, y_pred=P, reduction="avg"), ValueError, "reduction"),
        (dict(y_true=Y, y_pred=P, reduction=None), ValueError, "reduction"),
        (dict(y_true=Y, y_pred=P, axis=0), ValueError, "axis"),
        (dict(y_true=Y, y_pred=P, axis="last"), TypeError, "axis"),
        (dict(y_true=Y, y_pred=P, sample_weight=-np.ones(4)), ValueError, "sample_weight"),
        (dict(y_true=Y, y_pred=P, sample_weight=np.ones(3)), ValueError, "sample_weight"),
        (dict(y_true=Y, y_pred=P, sample_weight=np.ones((4, 1))), ValueError, "sample_weight"),
        (dict(y_true=Y, y_pred=P, sample_weight=[1, np.nan, 1, 1]), ValueError, "sample_weight"),
        (dict(y_true=Y, y_pred=P, sample_weight=[1, np.inf, 1, 1]), ValueError, "sample_weight"),
        (dict(y_true=Y, y_pred=P, sample_weight=np.zeros(4)), ValueError, "sample_weight"),
        (dict(y_true=Y, y_pred=P, backend="tpu"), ValueError, "backend"),
        (dict(y_true=Y, y_pred=P, delta=1.0), TypeError, "delta"),
    ],
)
def test_bad_input_mse(kwargs, exc, match):
    y = kwargs.pop("y_true")
    p = kwargs.pop("y_pred")
    with pytest.raises(exc, match=match):
        fastloss.mse(y, p, **kwargs)
    with pytest.raises(exc, match=match):
        fastloss.mse.grad(y, p, **kwargs)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("huber", {"delta": 0.0}, "delta"),
        ("huber", {"delta": -1}, "delta"),
        ("huber", {"delta": np.nan}, "delta"),
        ("huber", {"delta": "1"}, "delta"),
        ("smooth_l1", {"beta": -0.5}, "beta"),
        ("quantile", {"quantile": 0.0}, "quantile"),
        ("quantile", {"quantile": 1.0}, "quantile"),
        ("quantile", {"quantile": 1.5}, "quantile"),
        ("poisson_nll", {"eps": 0.0}, "eps"),
        ("poisson_nll", {"log_input": 1}, "log_input"),
        ("tweedie", {"power": 0.5}, "power"),
        ("huber", {"delta": True}, "delta"),
    ],
)
def test_parameter_domains(name, params, match):
    L = getattr(fastloss, name)
    with pytest.raises((ValueError, TypeError), match=match):
        L(np.ones(3), np.ones(3), **params)


def test_tweedie_target_domain():
    with pytest.raises(ValueError, match="y_true"):
        fastloss.tweedie(-np.ones(3), np.ones(3), power=1.5)
    with pytest.raises(ValueError, match="y_true"):
        fastloss.tweedie(np.zeros(3), np.ones(3), power=2.0)
    assert np.isfinite(fastloss.tweedie(-np.ones(3), np.ones(3), power=0.0))


@pytest.mark.parametrize("name", pointwise_names())
def test_out_checked(name, rng):
    (y, p), params = sample(name, rng, (10,))
    L = getattr(fastloss, name)
    for out, match in [
        (np.empty(9), "out has shape"),
        (np.empty(10, np.float32), "out has dtype"),
        (np.empty(20)[::2], "C-contiguous"),
        ([0.0] * 10, "out must be a NumPy array"),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            L.value_and_grad(y, p, out=out, **params)
    ro = np.empty(10)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        L.grad(y, p, out=ro, **params)


def test_error_does_not_crash_process():
    """Risky inputs in a fresh interpreter: an error, never a segfault or a hang."""
    code = """
import numpy as np, fastloss
cases = [
    lambda: fastloss.mse(np.zeros(10**3), np.ones(10**3 + 1)),
    lambda: fastloss.mse(np.zeros((2, 3)), np.ones((3, 2)), axis=-1),
    lambda: fastloss.huber.grad(np.zeros(5), np.ones(5), out=np.empty(4)),
    lambda: fastloss.mse(np.zeros(5), np.ones(5), sample_weight=np.ones(10**6)),
    lambda: fastloss.mse(np.zeros(5), np.ones(5), axis=-1, sample_weight=np.ones(2)),
]
for c in cases:
    try:
        c()
    except (ValueError, TypeError):
        pass
    else:
        raise SystemExit("no error")
print("ok")
"""
    r = run_python(code, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-1000:])
