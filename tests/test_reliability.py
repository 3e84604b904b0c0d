"""Regressions of the fault probe that run in this process: ``out=`` buffers (subclasses,
overlaps), gradient overflow, context-local backends, boosting class weights, warm-up.
The risky scenarios (crashes, cache faults, fork, signals) run in subprocesses under
tests/faults/."""

import asyncio
import contextlib
import textwrap

import numpy as np
import pytest

import fastloss as fl
from fastloss import _backend

from .helpers import run_python
from .references import classification as refc

N = 64


def _yp(rng, shape=(N,)):
    return rng.standard_normal(shape), rng.standard_normal(shape)


# ---------------------------------------------------------------- out= as an ndarray subclass

MATRIX = textwrap.dedent("""
    import numpy as np, fastloss as fl
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    lab = np.array([0, 1, 2])
    def mat():
        return np.asmatrix(np.full((3, 4), 7.0))
    cases = [
        (fl.mse.grad, (y, p), {}),
        (fl.rmse.grad, (y, p), {}),
        (lambda *a, **k: fl.huber.value_and_grad(*a, **k)[1], (y, p), {}),
        (fl.l2_penalty.grad, (p,), {}),
        (fl.gan_generator.grad, (p,), {}),
        (fl.cross_entropy.grad, (lab, p), {}),
    ]
    for f, args, kw in cases:
        want = f(*args, **kw)
        for be in ("serial", "parallel"):
            m = mat()
            got = f(*args, out=m, backend=be, **kw)
            assert got is m, type(got)
            np.testing.assert_array_equal(np.asarray(m), want)
    print("ok")
""")


def test_out_may_be_an_ndarray_subclass_written_correctly():
    r = run_python(MATRIX, timeout=300)  # a segfault (exit -11) before the fix
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")


# ---------------------------------------------------------------- overlapping buffers


def _shifted(n, k=1):
    buf = np.arange(n + k, dtype=np.float64) / (n + k)
    return buf, buf[:n], buf[k:]


@pytest.mark.parametrize(
    "name,backend",
    [("mse", "parallel"), ("huber", "serial"), ("binary_cross_entropy_with_logits", "serial")],
)
def test_pointwise_out_overlapping_an_input_is_refused(name, backend, rng):
    L = getattr(fl, name)
    y = (rng.random(1000) < 0.5).astype(float)
    buf, p, shifted = _shifted(1000, 3)
    before = buf.copy()
    with pytest.raises(ValueError, match="^out overlaps y_pred"):
        L.grad(y, p, out=shifted, backend=backend)
    ybuf, yv, yshift = _shifted(1000, 2)
    with pytest.raises(ValueError, match="^out overlaps y_true"):
        L.value_and_grad(yv, p, out=yshift, backend=backend)
    with pytest.raises(ValueError, match="^out is y_true"):
        L.grad(yv, p, out=yv, backend=backend)
    np.testing.assert_array_equal(buf, before)
    # exact aliasing of the differentiated input stays allowed (in place)
    want = L.grad(y, p.copy(), backend=backend)
    q = p.copy()
    assert L.grad(y, q, out=q, backend=backend) is q
    np.testing.assert_array_equal(q, want)


def test_pointwise_out_overlapping_weights_or_column_params_is_refused(rng):
    y, p = _yp(rng, (4, 8))
    wbuf = np.ones(40)
    with pytest.raises(ValueError, match="^out overlaps sample_weight"):
        fl.mse.grad(y, p, sample_weight=wbuf[:4], out=wbuf[2:34].reshape(4, 8))
    qbuf = np.full(40, 0.3)
    y = (y > 0).astype(float)
    with pytest.raises(ValueError, match="^out overlaps pos_weight"):
        fl.binary_cross_entropy_with_logits.grad(
            y, p, pos_weight=qbuf[:8], out=qbuf[4:36].reshape(4, 8)
        )


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_rowwise_out_overlapping_weights_or_targets_is_refused(backend, rng):
    x = rng.standard_normal((6, 4))
    lab = np.array([0, 1, 2, 3, 0, 1])
    buf = np.ones(30)
    with pytest.raises(ValueError, match="^out overlaps sample_weight"):
        fl.cross_entropy.grad(
            lab, x, sample_weight=buf[:6], out=buf[3:27].reshape(6, 4), backend=backend
        )
    cw = np.ones(28)
    with pytest.raises(ValueError, match="^out overlaps class_weight"):
        fl.cross_entropy.grad(
            lab, x, class_weight=cw[:4], out=cw[2:26].reshape(6, 4), backend=backend
        )
    t = np.full((6, 4), 0.25)
    with pytest.raises(ValueError, match="^out is y_true"):
        fl.cross_entropy.grad(t, x, out=t, backend=backend)
    before = x.copy()
    want = fl.cross_entropy.grad(lab, before, backend=backend)
    assert fl.cross_entropy.grad(lab, x, out=x, backend=backend) is x
    np.testing.assert_array_equal(x, want)


def test_multi_input_outs_must_not_share_memory(rng):
    r, f = rng.standard_normal(50), rng.standard_normal(50)
    r0, f0 = r.copy(), f.copy()
    with pytest.raises(ValueError, match=r"^out\[0\] \(for real_logits\) is fake_logits"):
        fl.gan_discriminator.grad(r, f, out=(f, r))
    b = np.empty(50)
    with pytest.raises(ValueError, match=r"^out\[1\] \(for fake_logits\) is out\[0\]"):
        fl.gan_discriminator.grad(r, f, out=(b, b))
    big = np.empty(60)
    with pytest.raises(ValueError, match=r"^out\[1\] \(for fake_logits\) overlaps out\[0\]"):
        fl.gan_discriminator.grad(r, f, out=(big[:50], big[10:60]))
    np.testing.assert_array_equal(r, r0)
    np.testing.assert_array_equal(f, f0)
    a, p, n = (rng.standard_normal((5, 3)) for _ in range(3))
    with pytest.raises(ValueError, match=r"^out\[0\] \(for anchor\) is positive"):
        fl.triplet_margin.grad(a, p, n, out=(p, np.empty((5, 3)), np.empty((5, 3))))
    w = rng.standard_normal(20)
    with pytest.raises(ValueError, match="^out overlaps w"):
        fl.prox_l1(w[:10], 0.1, out=w[5:15])
    # in place, each gradient into its own input, is allowed
    want = fl.gan_discriminator.grad(r0, f0)
    got = fl.gan_discriminator.grad(r, f, out=(r, f))
    assert got[0] is r and got[1] is f
    np.testing.assert_array_equal(r, want[0])
    np.testing.assert_array_equal(f, want[1])


# ---------------------------------------------------------------- gradient overflow


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_mse_gradient_finite_where_the_true_gradient_is(backend):
    y = np.zeros(4)
    p = np.array([1e308, -1e308, 9.5e307, 1.0])
    g = fl.mse.grad(y, p, backend=backend)  # 2 d / 4: finite
    np.testing.assert_array_equal(g, p / 2.0)
    _, g2 = fl.mse.value_and_grad(y, p, backend=backend)
    np.testing.assert_array_equal(g2, p / 2.0)
    gh, h = fl.mse.grad_hess(y, p, backend=backend)
    np.testing.assert_array_equal(gh, p / 2.0)
    np.testing.assert_array_equal(h, np.full(4, 0.5))
    # rmse's gradient is d / (n rmse): finite too
    yr, pr = np.zeros(2), np.array([1e150, 1.0])
    r = np.sqrt(np.mean(pr**2))
    np.testing.assert_allclose(fl.rmse.grad(yr, pr, backend=backend), pr / (2 * r), rtol=1e-15)


def test_mse_gradient_by_finite_differences(rng):
    y, p = _yp(rng)
    g, h = fl.mse.grad_hess(y, p, reduction="sum")
    eps = 1e-6
    fd = np.array(
        [
            (fl.mse(y, p + eps * e, reduction="sum") - fl.mse(y, p - eps * e, reduction="sum"))
            / (2 * eps)
            for e in np.eye(N)
        ]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(h, np.full(N, 2.0))


# ---------------------------------------------------------------- context-local backends


def test_use_backend_is_local_to_asyncio_tasks():
    seen = {}

    async def task(name, backend, gate_in, gate_out):
        with fl.use_backend(backend):
            gate_in.set()
            await gate_out.wait()
            seen[name] = fl.get_backend()
        seen[name + "-after"] = fl.get_backend()

    async def main():
        e1, e2, e3 = (asyncio.Event() for _ in range(3))
        t1 = asyncio.create_task(task("a", "serial", e1, e2))
        await e1.wait()  # a is inside its use_backend
        seen["main"] = fl.get_backend()
        t2 = asyncio.create_task(task("b", "parallel", e3, e2))
        await e3.wait()
        e2.set()
        await asyncio.gather(t1, t2)

    asyncio.run(main())
    assert seen == {
        "main": "auto",
        "a": "serial",
        "b": "parallel",
        "a-after": "auto",
        "b-after": "auto",
    }


def test_use_backend_left_out_of_order_removes_its_own_entry():
    a, b = fl.use_backend("serial"), fl.use_backend("parallel")
    a.__enter__()
    b.__enter__()
    assert fl.get_backend() == "parallel"
    a.__exit__(None, None, None)  # the outer one leaves first
    assert fl.get_backend() == "parallel"
    b.__exit__(None, None, None)
    assert fl.get_backend() == "auto"
    with contextlib.ExitStack() as st:
        st.enter_context(fl.use_backend("serial"))
        st.enter_context(fl.use_backend("parallel"))
        assert fl.get_backend() == "parallel"
    assert fl.get_backend() == "auto"


def test_use_backend_in_a_task_does_not_leak_into_its_creator():
    async def inner():
        cm = fl.use_backend("serial")
        cm.__enter__()  # never left: the task's context ends with it
        return fl.get_backend()

    async def main():
        got = await asyncio.create_task(inner())
        return got, fl.get_backend()

    assert asyncio.run(main()) == ("serial", "auto")


def test_backend_really_follows_the_task(monkeypatch):
    calls = []
    real = _backend.resolve

    def spy(*args, **kw):
        calls.append(_backend.get_backend())
        return real(*args, **kw)

    monkeypatch.setattr(_backend, "resolve", spy)
    y, p = np.zeros(8), np.ones(8)

    async def job(be):
        with fl.use_backend(be):
            await asyncio.sleep(0)
            v = fl.mse(y, p)
            return v, calls[-1]  # what the dispatcher saw in this very call

    async def main():
        return await asyncio.gather(job("serial"), job("parallel"))

    assert asyncio.run(main()) == [(1.0, "serial"), (1.0, "parallel")]


# ---------------------------------------------------------------- boosting class weights


@pytest.mark.parametrize("lib", ["xgboost", "lightgbm"])
def test_boosting_objective_takes_class_weight(lib, rng):
    mod = pytest.importorskip(f"fastloss.integrations.{lib}")
    cw = np.array([1.0, 2.0, 0.5])
    obj = mod.objective("cross_entropy", class_weight=cw)
    y = np.array([0.0, 1.0, 2.0, 1.0, 0.0])
    x = rng.standard_normal((5, 3))
    g, _ = obj(y, x)
    # reference: d/dx of sum_i cw[y_i] * -log softmax(x_i)[y_i]
    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        fd[idx] = (
            refc.cross_entropy(y.astype(int), x + e, class_weight=cw).sum()
            - refc.cross_entropy(y.astype(int), x - e, class_weight=cw).sum()
        ) / (2 * eps)
    np.testing.assert_allclose(np.asarray(g).reshape(5, 3), fd, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="class_weight must be non-negative"):
        mod.objective("cross_entropy", class_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="class_weight must be 1-D"):
        mod.objective("cross_entropy", class_weight=[[1.0]])


# ---------------------------------------------------------------- warm-up


def test_warmup_plan_and_cli(capsys):
    from fastloss import _warmup
    from fastloss.cli import main

    calls = _warmup.plan(["mse"], backends=("serial",), dtypes=("float64",))
    assert calls == [
        ("mse", op, "serial", "float64") for op in ("value", "grad", "value_and_grad", "grad_hess")
    ]
    with pytest.raises(ValueError, match="unknown fastloss loss 'nope'"):
        _warmup.plan(["nope"])
    assert main(["warmup", "--loss", "nope"]) == 2
    assert (
        main(
            [
                "warmup",
                "--loss",
                "mae",
                "--op",
                "grad",
                "--backend",
                "serial",
                "--dtype",
                "float64",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "1 calls" in capsys.readouterr().out
