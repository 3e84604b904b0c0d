"""The API as type checkers, editors and ``help()`` see it.

* every registered loss has an explicit, annotated module-level name in
  ``fastloss/__init__.py`` (the block ``tools/gen_init.py`` writes), so mypy sees it;
* mypy checks a user script that calls every loss (and its methods) with its parameters:
  clean; and the same run flags a misspelt loss name and a misspelt reduction (so the check
  can fail);
* ``inspect.signature`` of each loss and method spells out its arrays, its parameters with
  their defaults and its default reduction; ``help()`` opens with that signature;
* Python's own argument errors name the loss (``huber()``), never an internal class.
"""

from __future__ import annotations

import inspect
import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastloss

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import gen_init  # noqa: E402


def test_every_loss_has_a_generated_typed_name():
    if gen_init.current() != gen_init.block():
        pytest.fail(
            "fastloss/__init__.py's block of typed loss names is out of date with the "
            "registry (a loss was added, renamed or removed): run `python tools/gen_init.py` "
            "and commit fastloss/__init__.py"
        )


def _value(p):
    return "None" if p.default is None else repr(p.default)


def user_script() -> str:
    """What a user writes: every loss called with each of its parameters by keyword."""
    lines = ["import numpy as np", "import fastloss", "", "x = np.ones((4, 3))",
             "lab = np.zeros(4, dtype=np.int64)", ""]
    for name, spec in fastloss.REGISTRY.items():
        args = ", ".join("lab" if (spec.kind == "rowwise" and a == "y_true") else "x"
                         for a in spec.inputs)
        kws = "".join(f", {p.name}={_value(p)}" for p in spec.params)
        lines.append(f"v_{name} = fastloss.{name}({args}{kws}, reduction='sum')")
        lines.append(f"g_{name} = fastloss.{name}.grad({args}{kws})")
        lines.append(f"vg_{name} = fastloss.{name}.value_and_grad({args}{kws})")
        if spec.kind in ("pointwise", "rowwise") and spec.has_hess:
            lines.append(f"gh_{name} = fastloss.{name}.grad_hess({args}{kws})")
    return "\n".join(lines) + "\n"


BAD = """import numpy as np
import fastloss

x = np.ones(3)
fastloss.hubr(x, x)
fastloss.huber(x, x, reduction="meen")
"""


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory):
    pytest.importorskip("mypy")
    d = tmp_path_factory.mktemp("typing")
    (d / "user_script.py").write_text(user_script())
    (d / "bad_script.py").write_text(BAD)
    cmd = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
           "--no-error-summary", "--cache-dir", str(d / ".mypy_cache"), "--strict-equality",
           "user_script.py", "bad_script.py"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "", "HOME": str(d)}
    res = subprocess.run(cmd, cwd=d, capture_output=True, text=True, env=env, timeout=300)
    return res.stdout + res.stderr


def test_mypy_is_clean_on_a_user_script_calling_every_loss(mypy_run):
    errors = [ln for ln in mypy_run.splitlines() if ln.startswith("user_script.py")]
    assert not errors, "\n".join(errors)
    assert "Traceback" not in mypy_run, mypy_run


def test_mypy_flags_a_misspelt_loss_and_reduction(mypy_run):
    bad = [ln for ln in mypy_run.splitlines() if ln.startswith("bad_script.py")]
    assert any(':5:' in ln and '"hubr"' in ln for ln in bad), mypy_run
    assert any(':6:' in ln and "meen" in ln for ln in bad), mypy_run


@pytest.mark.parametrize("name", list(fastloss.REGISTRY))
def test_signature_spells_out_arrays_parameters_and_defaults(name):
    spec = fastloss.REGISTRY[name]
    loss = getattr(fastloss, name)
    for method in ("__call__", "grad", "value_and_grad"):
        fn = loss if method == "__call__" else getattr(loss, method)
        sig = inspect.signature(fn)
        ps = sig.parameters
        assert list(ps)[: len(spec.inputs)] == list(spec.inputs), (method, sig)
        assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ps.values()), sig
        for p in spec.params:
            assert ps[p.name].default == p.default or (
                ps[p.name].default is None and p.default is None), (p.name, sig)
        default = getattr(spec, "default_reduction", "mean")
        assert ps["reduction"].default == default, sig
        assert "reduction : {" in spec.docstring()
        assert f"default {default!r}" in spec.docstring().split("reduction : ", 1)[1]
        # and the call really has that default
        bound = sig.bind(*spec.inputs)  # arrays by name bind positionally
        assert set(bound.arguments) == set(spec.inputs)


def test_help_opens_with_the_signature_not_the_constructor():
    text = pydoc.render_doc(fastloss.huber, renderer=pydoc.plaintext)
    head = "\n".join(text.splitlines()[:4])
    assert "huber(spec)" not in text
    assert "huber(y_true: 'ArrayLike', y_pred: 'ArrayLike', *, delta: 'float' = 1.0" in head
    assert "delta=1.0" in str(inspect.signature(fastloss.huber)).replace(": 'float' = ", "=")


def test_multi_array_losses_name_their_arrays_and_default_reduction_is_real():
    assert list(inspect.signature(fastloss.triplet_margin).parameters)[:3] == [
        "anchor", "positive", "negative"]
    w = [1.0, -2.0]
    # penalties default to "sum", as documented
    assert fastloss.l2_penalty(w) == fastloss.l2_penalty(w, reduction="sum") == 2.5
    assert fastloss.l2_penalty.grad.__kwdefaults__["reduction"] == "sum"


@pytest.mark.parametrize("call, msg", [
    (lambda: fastloss.huber([1.0]), "huber() missing 1 required positional argument"),
    (lambda: fastloss.huber.grad([1.0]), "huber.grad() missing"),
    (lambda: fastloss.cross_entropy(), "cross_entropy() missing 2"),
    (lambda: fastloss.l2_penalty.value_and_grad([1.0], 3),
     "l2_penalty() takes 1 array(s) (w)"),
])
def test_python_argument_errors_name_the_loss(call, msg):
    with pytest.raises(TypeError) as e:
        call()
    assert msg in str(e.value), str(e.value)
    for internal in ("PointwiseLoss", "RowwiseLoss", "MultiLoss", "__call__", "Loss."):
        assert internal not in str(e.value)


@pytest.mark.parametrize("call, hint", [
    (lambda: fastloss.huber([1.0], [2.0], delt=2.0), "did you mean 'delta'?"),
    (lambda: fastloss.huber([1.0], [2.0], reductoin="sum"), "did you mean 'reduction'?"),
    (lambda: fastloss.triplet_margin([[1.0]], [[1.0]], [[1.0]], margn=1.0),
     "did you mean 'margin'?"),
    (lambda: fastloss.hubr, "did you mean 'huber'?"),
])
def test_did_you_mean(call, hint):
    with pytest.raises((TypeError, AttributeError)) as e:
        call()
    assert hint in str(e.value)


@pytest.mark.parametrize("call", [
    lambda o: fastloss.mse([1.0], [2.0], out=o),
    lambda o: fastloss.cross_entropy([0], [[1.0, 2.0]], out=o),
    lambda o: fastloss.huber.grad_hess([1.0], [2.0], out=o),
])
def test_out_on_a_method_without_it_says_where_it_goes(call):
    """``out=`` given to the value call (or grad_hess) is not "did you mean 'out'?": the
    message says which methods take it."""
    with pytest.raises(TypeError) as e:
        call(np.empty(1))
    msg = str(e.value)
    assert "out= is taken by" in msg and ".value_and_grad" in msg, msg
    assert "did you mean" not in msg


def test_did_you_mean_for_loss_names_in_the_integrations():
    from fastloss.integrations.sklearn import make_scorer
    from fastloss.integrations.xgboost import objective

    with pytest.raises(ValueError, match="did you mean 'quantile'"):
        objective("quantil")
    with pytest.raises(ValueError, match="did you mean 'log_cosh'"):
        make_scorer("logcosh")
