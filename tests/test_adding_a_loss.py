"""docs/adding_a_loss.md is true for each of the four kinds of loss.

The page's Python blocks (a pointwise, a row-wise, a "terms" and a "matrix" loss) are written
to a scratch module, which a child process imports (so that this process's registry stays as
it is), under the CUDA simulator. The child makes each loss object as ``fastloss/__init__.py``
does (``make_loss(spec)``), then checks, for each loss:

* ``value``, ``grad``, ``value_and_grad`` (and ``grad_hess`` where the kind has it) on
  ``"serial"``, ``"parallel"`` and ``"cuda"`` against a NumPy formula written here, the
  gradient and the Hessian against finite differences, serial == parallel bit for bit, and a
  call on CUDA device arrays;
* its ``example`` as a doctest, its line in ``tools/gen_init.py``'s block, its section of the
  API reference (``docs/_ext/fastloss_apigen.py``), its asv benchmark (``asv_benchmarks``,
  set up and run once) and its kernels in the PTX catalogue (labels only, no compile).

Nothing else is written for the losses: what the page names is all they get.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "adding_a_loss.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)

CHILD = r'''
import doctest
import importlib.util
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(sys.argv[1])
sys.path[:0] = [str(ROOT / "docs" / "_ext"), str(ROOT / "tools")]

import fastloss
from fastloss._loss import make_loss
from fastloss._spec import REGISTRY

before = set(REGISTRY)
import page_losses  # noqa: E402,F401  (the page's code: registers its losses)

NEW = [n for n in REGISTRY if n not in before]
BY_KIND = {REGISTRY[n].kind: n for n in NEW}
assert sorted(BY_KIND) == ["matrix", "pointwise", "rowwise", "terms"], NEW
for n in NEW:  # fastloss/__init__.py makes an object of every registered loss
    setattr(fastloss, n, make_loss(REGISTRY[n]))

CUDA = importlib.util.find_spec("numba_cuda") is not None
BACKENDS = ("serial", "parallel") + (("cuda",) if CUDA else ())
RTOL = 1e-12


def tup(g):
    return g if isinstance(g, tuple) else (g,)


def close(got, want, what):
    got = np.asarray(got, np.float64)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * max(1.0, np.max(np.abs(want))),
                               err_msg=what)


def softplus(x):
    return np.logaddexp(0.0, x)


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- independent NumPy formulas: (mean, sum, gradients of the mean, Hessian or None)

def pseudo_huber(y, p, delta=1.0):
    d = p - y
    r = np.sqrt(1.0 + (d / delta) ** 2)
    n = d.size
    terms = delta**2 * (r - 1.0)
    return np.mean(terms), np.sum(terms), (d / r / n,), 1.0 / r**3 / n


def brier(lab, q):
    n, C = q.shape
    e = q - np.eye(C)[lab]
    rows = (e**2).sum(axis=1)
    return np.mean(rows), np.sum(rows), (2.0 * e / n,), np.full(q.shape, 2.0 / n)


def gan_smoothed_discriminator(r, f, real_label=0.9):
    s = real_label
    tr, tf = s * softplus(-r) + (1 - s) * softplus(r), softplus(f)
    return (np.mean(tr) + np.mean(tf), np.sum(tr) + np.sum(tf),
            ((expit(r) - s) / r.size, expit(f) / f.size), None)


def gram_penalty(a, b):
    S = a @ b.T
    n = a.shape[0]
    rows = 0.5 * (S**2).sum(axis=1)
    return np.mean(rows), np.sum(rows), (S @ b / n, S.T @ a / n), None


rng = np.random.default_rng(7)
CASES = {
    "pointwise": ((rng.standard_normal(7), 2.0 * rng.standard_normal(7)), {"delta": 0.7},
                  pseudo_huber, (1,)),
    "rowwise": ((rng.integers(0, 4, 3), rng.dirichlet(np.ones(4), 3)), {}, brier, (1,)),
    "terms": ((rng.standard_normal(5), rng.standard_normal((2, 2))), {"real_label": 0.8},
              gan_smoothed_discriminator, (0, 1)),
    "matrix": ((rng.standard_normal((3, 2)), rng.standard_normal((4, 2))), {}, gram_penalty,
               (0, 1)),
}
assert sorted(CASES) == sorted(BY_KIND)


def fd_grad(L, args, kw, i, h=1e-6):
    """Central differences of the value with respect to ``args[i]``."""
    g = np.empty(args[i].shape)
    for k in np.ndindex(args[i].shape):
        hi, lo = [a.copy() for a in args], [a.copy() for a in args]
        hi[i][k] += h
        lo[i][k] -= h
        g[k] = (L(*hi, backend="serial", **kw) - L(*lo, backend="serial", **kw)) / (2 * h)
    return g


def fd_hess(L, args, kw, h=1e-5):
    """Central differences of the gradient along each element of ``y_pred`` (the diagonal)."""
    p = args[1]
    out = np.empty(p.shape)
    for k in np.ndindex(p.shape):
        hi, lo = p.copy(), p.copy()
        hi[k] += h
        lo[k] -= h
        out[k] = (L.grad(args[0], hi, backend="serial", **kw)[k]
                  - L.grad(args[0], lo, backend="serial", **kw)[k]) / (2 * h)
    return out


def check_calls(kind, name):
    args, kw, ref, diff = CASES[kind]
    L = getattr(fastloss, name)
    v_ref, s_ref, g_ref, h_ref = ref(*args, **kw)
    got = {}
    for backend in BACKENDS:
        what = f"{name} on {backend}"
        v = L(*args, backend=backend, **kw)
        assert isinstance(v, float), (what, type(v))
        close(v, v_ref, what + ": value")
        g = tup(L.grad(*args, backend=backend, **kw))
        assert len(g) == len(g_ref), what
        for gi, ri in zip(g, g_ref):
            assert isinstance(gi, np.ndarray) and gi.shape == ri.shape, (what, type(gi))
            close(gi, ri, what + ": grad")
        v2, g2 = L.value_and_grad(*args, backend=backend, **kw)
        close(v2, v_ref, what + ": value_and_grad value")
        for gi, ri in zip(tup(g2), g_ref):
            close(gi, ri, what + ": value_and_grad grad")
        close(L(*args, reduction="sum", backend=backend, **kw), s_ref, what + ": sum")
        if h_ref is not None:
            gg, hh = L.grad_hess(*args, backend=backend, **kw)
            close(gg, g_ref[0], what + ": grad_hess grad")
            close(hh, h_ref, what + ": grad_hess hess")
        else:
            try:
                L.grad_hess(*args, backend=backend, **kw)
            except NotImplementedError as exc:
                assert name in str(exc)
            else:
                raise AssertionError(f"{what}: grad_hess should raise NotImplementedError")
        got[backend] = (v, g, v2, g2)
    # serial and parallel give the same bits
    (v, g, v2, g2), (pv, pg, pv2, pg2) = got["serial"], got["parallel"]
    assert v == pv and v2 == pv2, name
    for a, b in zip(g + tup(g2), pg + tup(pg2)):
        np.testing.assert_array_equal(a, b, err_msg=name)
    # out= the differentiable inputs themselves: gradients written in place, the same bits
    own = [x.copy() for x in args]
    outs = tuple(own[i] for i in diff)
    L.grad(*own, out=outs if len(outs) > 1 else outs[0], backend="serial", **kw)
    for o, gi in zip(outs, g):
        np.testing.assert_array_equal(o, gi, err_msg=f"{name}: out= in place")
    # finite differences, against the kernels themselves
    for j, i in enumerate(diff):
        fd = fd_grad(L, list(args), kw, i)
        np.testing.assert_allclose(g[j], fd, rtol=1e-6, atol=1e-8, err_msg=f"{name}: fd grad")
    if h_ref is not None:
        np.testing.assert_allclose(L.grad_hess(*args, backend="serial", **kw)[1],
                                   fd_hess(L, list(args), kw), rtol=1e-5, atol=1e-7,
                                   err_msg=f"{name}: fd hess")
    if CUDA:  # CUDA arrays in: results on the device, the same numbers
        from numba import cuda

        dev = [cuda.to_device(np.ascontiguousarray(a)) for a in args]
        dv, dg = L.value_and_grad(*dev, **kw)
        close(dv, v_ref, f"{name} on device arrays: value")
        for gi, ri in zip(tup(dg), g_ref):
            assert hasattr(gi, "copy_to_host"), (name, type(gi))
            close(gi.copy_to_host(), ri, f"{name} on device arrays: grad")


def check_house(kind, name):
    spec = REGISTRY[name]
    L = getattr(fastloss, name)
    # the example, as tests/test_docs.py runs it
    test = doctest.DocTestParser().get_doctest(spec.example, {}, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = []
    runner.run(test, out=out.append)
    assert test.examples and runner.failures == 0, "".join(out)
    assert spec.formula in L.__doc__ and all(p.domain in L.__doc__ for p in spec.params)
    # the typed name tools/gen_init.py writes into fastloss/__init__.py
    import gen_init

    cls = {"pointwise": "PointwiseLoss", "rowwise": "RowwiseLoss"}.get(kind, "MultiLoss")
    assert f'{name}: {cls} = _make("{name}")' in gen_init.block(), name
    assert isinstance(L, getattr(fastloss, cls))


def check_docs(tmp):
    import fastloss_apigen as apigen

    apigen.generate(tmp, plots=False)
    index = (tmp / "api" / "index.rst").read_text()
    for name in NEW:
        spec = REGISTRY[name]
        page = (tmp / "api" / f"{spec.family}.rst").read_text()
        section = page.split(f".. _loss-{name}:", 1)[1].split("\n.. _loss-", 1)[0]
        assert f".. py:function:: {name}(" in section and spec.formula in section, name
        assert textwrap.indent(spec.example.strip(), "   ") in section, name
        assert f":ref:`{name} <loss-{name}>`" in index, name


def check_asv():
    from asv_benchmarks._common import classes_for

    classes = classes_for("value")
    for name in NEW:
        bench = classes[name]()  # as asv runs it: set up (inputs from the sampler), then time
        bench.setup("serial", "float64", 10_000)
        bench.time_value("serial", "float64", 10_000)


def check_ptx_catalogue():
    from fastloss._kernels import cuda as K

    labels = [c[0] for c in K.kernel_catalog()]
    for name in NEW:
        spec = REGISTRY[name]
        assert K.cuda_function(spec) is not None, name
        mine = [lab for lab in labels if lab.split(".")[0] == name]
        ops = ("value", "grad", "value_and_grad") + (("grad_hess",) if spec.has_hess else ())
        for op in ops:
            for dt in K.DTYPES:
                assert any(f".{op}." in lab and lab.endswith(dt) for lab in mine), (name, op, dt)
        if spec.kind == "matrix":  # each row body it launches, under its own name
            for dt in K.DTYPES:
                for _, kname, body, _ in spec.device_kernels(dt):
                    assert body is None or any(f".{kname}.{dt}" in lab for lab in mine), kname


for kind, name in sorted(BY_KIND.items()):
    check_calls(kind, name)
    check_house(kind, name)
with tempfile.TemporaryDirectory() as tmp:
    check_docs(Path(tmp))
check_asv()
if CUDA:
    check_ptx_catalogue()
print(f"checked {len(NEW)} kinds: {', '.join(sorted(BY_KIND))} on {', '.join(BACKENDS)}")
'''


def page_code() -> str:
    """The page's Python blocks, in order: the module a family would hold."""
    blocks = FENCE.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "the page shows one example per kind"
    return "\n\n".join(textwrap.dedent(b) for b in blocks)


def test_the_page_names_every_place():
    text = PAGE.read_text(encoding="utf-8")
    for place in (
        "fastloss/losses/<family>.py",
        "tests/references/<family>.py",
        "python tools/gen_init.py",
        "fastloss/losses/__init__.py",
        "FAMILIES",
    ):
        assert place in text, place
    for kind in ("## Pointwise", "## Rowwise", "## Terms", "## Matrix"):
        assert kind in text, kind


def test_each_kind_runs_as_the_page_declares_it(tmp_path):
    (tmp_path / "page_losses.py").write_text(page_code(), encoding="utf-8")
    (tmp_path / "check.py").write_text(CHILD, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(tmp_path), str(ROOT), env.get("PYTHONPATH")) if p
    )
    cuda = importlib.util.find_spec("numba_cuda") is not None
    if cuda:
        # the CUDA simulator (set before Numba is imported), small blocks as tests/cuda_sim
        env.update(
            NUMBA_ENABLE_CUDASIM="1",
            FASTLOSS_CUDA_BLOCK="8",
            FASTLOSS_CUDA_ITEMS="32",
            FASTLOSS_CUDA_MAX_GRID="3",
        )
    env.pop("FASTLOSS_ASV_LOSSES", None)
    r = subprocess.run(
        [sys.executable, str(tmp_path / "check.py"), str(ROOT)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-8000:]
    backends = "serial, parallel" + (", cuda" if cuda else "")
    assert f"checked 4 kinds: matrix, pointwise, rowwise, terms on {backends}\n" in r.stdout, (
        r.stdout
    )
