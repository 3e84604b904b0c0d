"""fastloss.torch: every loss as a differentiable PyTorch op.

Values and gradients against ``torch.nn.functional`` (PyTorch's names) or against the loss
written with PyTorch's own ops and autograd (fastloss's names); ``gradcheck`` (finite
differences, float64) for every loss and option set; ``opcheck`` of every custom op;
``torch.compile(fullgraph=True)``; a 50-step training run against PyTorch's loss curve.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import fastloss  # noqa: E402
import fastloss.torch as ft  # noqa: E402
from fastloss.torch import _bridge as bridge  # noqa: E402
from fastloss.torch._bridge import kernel_array  # noqa: E402
from fastloss.torch._ops import OPS  # noqa: E402

D = torch.float64


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=D):
    return torch.randn(*shape, generator=_g(seed), dtype=dtype)


def rand(*shape, seed=0, lo=0.0, hi=1.0, dtype=D):
    return lo + (hi - lo) * torch.rand(*shape, generator=_g(seed), dtype=dtype)


def labels(n, c, seed=0):
    return torch.randint(0, c, (n,), generator=_g(seed))


def signs(*shape, seed=0):
    return torch.randint(0, 2, shape, generator=_g(seed)).to(D) * 2 - 1


# -- independent references: the loss written with PyTorch ops, differentiated by autograd --
def _reduce(v, reduction):
    return v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v


def _ref_pointwise(term):
    return lambda x, t, reduction="mean", **kw: _reduce(term(x, t, **kw), reduction)


def _pm(t):  # {0, 1} labels as {-1, 1}
    return torch.where(t == 0, -1.0, t)


def _gan_d(r, f, kind="standard", reduction="mean"):
    sp = F.softplus
    rt, ft_ = {
        "standard": (sp(-r), sp(f)),
        "least_squares": (0.5 * (r - 1) ** 2, 0.5 * f**2),
        "hinge": (F.relu(1 - r), F.relu(1 + f)),
        "wasserstein": (-r, f),
    }[kind]
    return _gan_reduce(rt, ft_, reduction)


def _gan_reduce(rt, ft_, reduction):
    if reduction == "none":
        return rt, ft_
    return rt.mean() + ft_.mean() if reduction == "mean" else rt.sum() + ft_.sum()


def _gan_g(f, kind="non_saturating", reduction="mean"):
    t = {
        "non_saturating": F.softplus(-f),
        "minimax": -F.softplus(f),
        "least_squares": 0.5 * (f - 1) ** 2,
        "hinge": -f,
        "wasserstein": -f,
    }[kind]
    return _reduce(t, reduction)


def _nt_xent(z1, z2, temperature=0.5, reduction="mean"):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    s = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    tgt = (torch.arange(2 * n) + n) % (2 * n)
    return F.cross_entropy(s, tgt, reduction=reduction)


def _info_nce(q, k, temperature=0.1, reduction="mean"):
    s = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / temperature
    return F.cross_entropy(s, torch.arange(q.shape[0]), reduction=reduction)


def _focal(x, t, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    pt = p * t + (1 - p) * (1 - t)
    return (alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - pt) ** gamma


def _linear_ce(
    t,
    h,
    w,
    b,
    reduction="mean",
    class_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
):
    z = h @ w.T + b
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    kw = dict(weight=class_weight, ignore_index=ignore_index, label_smoothing=label_smoothing)
    kept = (t != ignore_index).to(z.dtype)
    rows = (
        F.cross_entropy(z, t, reduction="none", **kw) + z_loss * torch.logsumexp(z, 1) ** 2 * kept
    )
    if reduction == "sum":
        return rows.sum()
    wy = kept if class_weight is None else class_weight[torch.where(t != ignore_index, t, 0)] * kept
    return rows.sum() / wy.sum()


REFS = {
    "log_cosh": _ref_pointwise(lambda x, t: torch.log(torch.cosh(x - t))),
    "quantile": _ref_pointwise(
        lambda x, t, quantile=0.5: torch.maximum(quantile * (t - x), (quantile - 1) * (t - x))
    ),
    "tweedie": _ref_pointwise(
        lambda x, t, power=1.5: (
            -t * torch.exp((1 - power) * x) / (1 - power) + torch.exp((2 - power) * x) / (2 - power)
        )
    ),
    "focal": _ref_pointwise(_focal),
    "hinge": _ref_pointwise(lambda x, t: F.relu(1 - _pm(t) * x)),
    "squared_hinge": _ref_pointwise(lambda x, t: F.relu(1 - _pm(t) * x) ** 2),
    "rmse": lambda x, t, reduction="mean": torch.sqrt(F.mse_loss(x, t)),
    "kl_divergence": lambda q, p, reduction="mean": _reduce(
        (p * (p.log() - q.log())).sum(-1), reduction
    ),
    "log_loss": lambda q, y, reduction="mean": _reduce(
        -q.gather(1, y[:, None])[:, 0].log(), reduction
    ),
    "gan_discriminator": _gan_d,
    "adversarial_value": lambda r, f, reduction="mean": _gan_reduce(
        -F.softplus(-r), -F.softplus(f), reduction
    ),
    "gan_generator": _gan_g,
    "nt_xent": _nt_xent,
    "info_nce": _info_nce,
    "linear_cross_entropy": _linear_ce,
    "l1_penalty": lambda w, reduction="sum": _reduce(w.abs(), reduction),
    "l2_penalty": lambda w, reduction="sum": _reduce(0.5 * w**2, reduction),
    "elastic_net": lambda w, l1_ratio=0.5, reduction="sum": _reduce(
        l1_ratio * w.abs() + 0.5 * (1 - l1_ratio) * w**2, reduction
    ),
}

R3 = ("mean", "sum", "none")


def _opts(extra=(), reductions=R3):
    return [dict(reduction=r) for r in reductions] + [dict(o) for o in extra]


# name -> (function, reference, inputs(dtype) -> tensors, indices differentiable, option sets)
CASES = {
    "mse": (
        ft.mse_loss,
        F.mse_loss,
        lambda d: (randn(5, 4, dtype=d), randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts(
            [
                {"weight": rand(5, 4, seed=2, lo=0.5)},
                {"weight": rand(5, 4, seed=3), "reduction": "sum"},
            ]
        ),
    ),
    "mae": (
        ft.l1_loss,
        F.l1_loss,
        lambda d: (randn(5, 4, dtype=d), randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts([{"weight": rand(5, 4, seed=2, lo=0.5), "reduction": "none"}]),
    ),
    "huber": (
        ft.huber_loss,
        F.huber_loss,
        lambda d: (randn(5, 4, dtype=d), 2 * randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts([{"delta": 0.5}, {"delta": 2.0, "weight": rand(5, 4, seed=2)}]),
    ),
    "smooth_l1": (
        ft.smooth_l1_loss,
        F.smooth_l1_loss,
        lambda d: (randn(5, 4, dtype=d), 2 * randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts([{"beta": 0.5}, {"beta": 2.0, "reduction": "sum"}]),
    ),
    "binary_cross_entropy": (
        ft.binary_cross_entropy,
        F.binary_cross_entropy,
        lambda d: (rand(5, 4, lo=0.05, hi=0.95, dtype=d), rand(5, 4, seed=1, dtype=d)),
        (0,),
        _opts(
            [
                {"weight": rand(5, 4, seed=2, lo=0.5)},
                {"weight": rand(4, seed=2), "reduction": "none"},
            ]
        ),
    ),
    "binary_cross_entropy_with_logits": (
        ft.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        lambda d: (3 * randn(5, 4, dtype=d), rand(5, 4, seed=1, dtype=d)),
        (0,),
        _opts(
            [
                {"weight": rand(5, 4, seed=2)},
                {"pos_weight": rand(4, seed=3, lo=0.5, hi=3)},
                {
                    "pos_weight": rand(4, seed=3, lo=0.5, hi=3),
                    "weight": rand(4, seed=4),
                    "reduction": "sum",
                },
            ]
        ),
    ),
    "poisson_nll": (
        ft.poisson_nll_loss,
        F.poisson_nll_loss,
        lambda d: (
            rand(6, 3, lo=0.2, hi=2, dtype=d),
            torch.poisson(rand(6, 3, seed=1, hi=4), _g(2)).to(d),
        ),
        (0,),
        _opts([{"full": True}, {"log_input": False, "reduction": "sum"}]),
    ),
    "cross_entropy": (
        ft.cross_entropy,
        F.cross_entropy,
        lambda d: (randn(6, 5, dtype=d), labels(6, 5, 1)),
        (0,),
        _opts(
            [
                {"weight": rand(5, seed=2, lo=0.2)},
                {"label_smoothing": 0.2},
                {"weight": rand(5, seed=2, lo=0.2), "label_smoothing": 0.1, "ignore_index": 2},
                {"ignore_index": 3, "reduction": "none"},
            ]
        ),
    ),
    "triplet_margin": (
        ft.triplet_margin_loss,
        F.triplet_margin_loss,
        lambda d: (
            randn(5, 4, dtype=d),
            randn(5, 4, seed=1, dtype=d),
            randn(5, 4, seed=2, dtype=d),
        ),
        (0, 1, 2),
        _opts([{"margin": 2.0, "p": 1.0}, {"swap": True, "margin": 3.0}, {"p": 3.0}]),
    ),
    "cosine_embedding": (
        ft.cosine_embedding_loss,
        F.cosine_embedding_loss,
        lambda d: (randn(6, 4, dtype=d), randn(6, 4, seed=1, dtype=d), signs(6, seed=2)),
        (0, 1),
        _opts([{"margin": -0.3}, {"margin": 0.2, "reduction": "none"}]),
    ),
    "log_cosh": (
        ft.log_cosh,
        REFS["log_cosh"],
        lambda d: (randn(5, 4, dtype=d), randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts(),
    ),
    "quantile": (
        ft.quantile,
        REFS["quantile"],
        lambda d: (randn(5, 4, dtype=d), randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts([{"quantile": 0.9}]),
    ),
    "tweedie": (
        ft.tweedie,
        REFS["tweedie"],
        lambda d: (randn(5, 4, dtype=d), rand(5, 4, seed=1, hi=3, dtype=d)),
        (0,),
        _opts([{"power": 1.2}, {"power": 2.5, "reduction": "sum"}]),
    ),
    "focal": (
        ft.focal,
        REFS["focal"],
        lambda d: (2 * randn(5, 4, dtype=d), (rand(5, 4, seed=1) > 0.5).to(d)),
        (0,),
        _opts([{"alpha": 0.6, "gamma": 1.0}]),
    ),
    "hinge": (
        ft.hinge,
        REFS["hinge"],
        lambda d: (2 * randn(6, dtype=d), signs(6, seed=1)),
        (0,),
        _opts(),
    ),
    "squared_hinge": (
        ft.squared_hinge,
        REFS["squared_hinge"],
        lambda d: (2 * randn(6, dtype=d), (signs(6, seed=1) > 0).to(d)),
        (0,),
        _opts(),
    ),
    "rmse": (
        ft.rmse,
        REFS["rmse"],
        lambda d: (randn(5, 4, dtype=d), randn(5, 4, seed=1, dtype=d)),
        (0, 1),
        _opts(reductions=("mean",)),
    ),
    "kl_divergence": (
        ft.kl_divergence,
        REFS["kl_divergence"],
        lambda d: (
            torch.softmax(randn(4, 3, dtype=d), 1),
            torch.softmax(randn(4, 3, seed=1, dtype=d), 1),
        ),
        (0,),
        _opts(),
    ),
    "log_loss": (
        ft.log_loss,
        REFS["log_loss"],
        lambda d: (torch.softmax(randn(5, 3, dtype=d), 1), labels(5, 3, 1)),
        (0,),
        _opts(),
    ),
    "gan_discriminator": (
        ft.gan_discriminator,
        REFS["gan_discriminator"],
        lambda d: (randn(5, dtype=d), randn(2, 3, seed=1, dtype=d)),
        (0, 1),
        _opts(
            [
                {"kind": k, "reduction": r}
                for k in ("least_squares", "hinge", "wasserstein")
                for r in ("mean", "none")
            ]
        ),
    ),
    "adversarial_value": (
        ft.adversarial_value,
        REFS["adversarial_value"],
        lambda d: (randn(5, dtype=d), randn(4, seed=1, dtype=d)),
        (0, 1),
        _opts(),
    ),
    "gan_generator": (
        ft.gan_generator,
        REFS["gan_generator"],
        lambda d: (randn(2, 3, dtype=d),),
        (0,),
        _opts([{"kind": k} for k in ("minimax", "least_squares", "hinge", "wasserstein")]),
    ),
    "nt_xent": (
        ft.nt_xent,
        REFS["nt_xent"],
        lambda d: (randn(4, 3, dtype=d), randn(4, 3, seed=1, dtype=d)),
        (0, 1),
        _opts([{"temperature": 0.1}], reductions=("mean", "sum")),
    ),
    "info_nce": (
        ft.info_nce,
        REFS["info_nce"],
        lambda d: (randn(4, 3, dtype=d), randn(4, 3, seed=1, dtype=d)),
        (0, 1),
        _opts([{"temperature": 0.5}], reductions=("mean", "sum")),
    ),
    "l1_penalty": (
        ft.l1_penalty,
        REFS["l1_penalty"],
        lambda d: (randn(3, 4, dtype=d),),
        (0,),
        _opts(),
    ),
    "l2_penalty": (
        ft.l2_penalty,
        REFS["l2_penalty"],
        lambda d: (randn(3, 4, dtype=d),),
        (0,),
        _opts(),
    ),
    "elastic_net": (
        ft.elastic_net,
        REFS["elastic_net"],
        lambda d: (randn(3, 4, dtype=d),),
        (0,),
        _opts([{"l1_ratio": 0.2}]),
    ),
    "linear_cross_entropy": (
        ft.linear_cross_entropy,
        REFS["linear_cross_entropy"],
        lambda d: (
            labels(6, 5),
            randn(6, 3, dtype=d),
            randn(5, 3, seed=1, dtype=d),
            randn(5, seed=2, dtype=d),
        ),
        (1, 2, 3),
        _opts(
            [
                {
                    "z_loss": 0.01,
                    "softcap": 2.0,
                    "label_smoothing": 0.1,
                    "class_weight": rand(5, seed=3, lo=0.2),
                    "ignore_index": 1,
                }
            ],
            reductions=("mean", "sum"),
        ),
    ),
}
EXTRA = {  # more option sets of the PyTorch-named losses, same checks
    "cross_entropy_probs": (
        ft.cross_entropy,
        F.cross_entropy,
        lambda d: (randn(6, 5, dtype=d), torch.softmax(randn(6, 5, seed=1, dtype=d), 1)),
        (0,),
        _opts([{"label_smoothing": 0.3, "weight": rand(5, seed=2, lo=0.2)}]),
    ),
    "cross_entropy_1d": (
        ft.cross_entropy,
        F.cross_entropy,
        lambda d: (randn(5, dtype=d), torch.tensor(2)),
        (0,),
        _opts(),
    ),
    "cross_entropy_kdim": (
        ft.cross_entropy,
        F.cross_entropy,
        lambda d: (randn(2, 5, 3, dtype=d), labels(6, 5, 1).reshape(2, 3)),
        (0,),
        _opts([{"weight": rand(5, seed=2, lo=0.2)}]),
    ),
    "kl_div": (
        ft.kl_div,
        F.kl_div,
        lambda d: (
            torch.log_softmax(randn(4, 3, dtype=d), 1),
            torch.softmax(randn(4, 3, seed=1, dtype=d), 1),
        ),
        (0,),
        _opts([{"reduction": "batchmean"}]),
    ),
    "kl_div_log_target": (
        ft.kl_div,
        F.kl_div,
        lambda d: (
            torch.log_softmax(randn(4, 3, dtype=d), 1),
            torch.log_softmax(randn(4, 3, seed=1, dtype=d), 1),
        ),
        (0,),
        [dict(reduction=r, log_target=True) for r in ("batchmean", "mean", "sum", "none")],
    ),
    "triplet_1d": (
        ft.triplet_margin_loss,
        F.triplet_margin_loss,
        lambda d: (randn(4, dtype=d), randn(4, seed=1, dtype=d), randn(4, seed=2, dtype=d)),
        (0, 1, 2),
        _opts(),
    ),
}
ALL = {**CASES, **EXTRA}
ITEMS = [(k, i) for k, c in ALL.items() for i in range(len(c[4]))]


def test_import_fastloss_does_not_import_torch():
    code = "import sys, fastloss; fastloss.mse([1.0], [2.0]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out


def test_every_loss_has_a_function_a_module_and_an_op():
    assert set(ft.FUNCTIONS) == set(OPS) == set(CASES) <= set(fastloss.LOSSES)
    assert set(ft.MODULES) == set(ft.FUNCTIONS) | {"kl_div"}
    for name, fn in ft.FUNCTIONS.items():
        assert getattr(ft, fn.__name__) is fn
        assert hasattr(torch.ops.fastloss, OPS[name].name)
    for key, ours in ft.DROP_IN.items():  # PyTorch's name -> ours, same signature
        theirs = eval(key, {"torch": torch})  # noqa: S307 (our own table of names)
        import inspect

        if "functional" in key:
            assert list(inspect.signature(getattr(ft, ours)).parameters) == list(
                inspect.signature(theirs).parameters
            ), key
            for p, q in zip(
                inspect.signature(getattr(ft, ours)).parameters.values(),
                inspect.signature(theirs).parameters.values(),
                strict=False,
            ):
                assert p.default == q.default, (key, p, q)
        else:
            ours_sig = getattr(ft, ours)._sig.parameters
            theirs_sig = inspect.signature(theirs.__init__).parameters
            assert list(ours_sig) == list(theirs_sig)[1:], key
            for k in ours_sig:
                assert ours_sig[k].default == theirs_sig[k].default, (key, k)


def _run(fn, tensors, diff, kw, create=False):
    ts = [t.detach().clone().requires_grad_(i in diff) for i, t in enumerate(tensors)]
    v = fn(*ts, **kw)
    vs = v if isinstance(v, tuple) else (v,)
    total = sum(
        (x * torch.linspace(0.5, 1.5, x.numel(), dtype=x.dtype).reshape(x.shape)).sum() for x in vs
    )
    grads = torch.autograd.grad(total, [ts[i] for i in diff])
    return [x.detach() for x in vs], list(grads)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("name", "i"), ITEMS)
def test_value_and_grad_match_pytorch(name, i, dtype):
    fn, ref, make, diff, opts = ALL[name]
    kw = opts[i]
    tensors = [t.to(dtype) if t.is_floating_point() else t for t in make(D)]
    kw = {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    got_v, got_g = _run(fn, tensors, diff, kw)
    with warnings.catch_warnings():  # PyTorch warns about kl_div's 'mean'
        warnings.simplefilter("ignore", UserWarning)
        ref_v, ref_g = _run(ref, tensors, diff, kw)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == D else dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(got_v + got_g, ref_v + ref_g, strict=False):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape, (a, b)
        torch.testing.assert_close(a, b, **tol)


@pytest.fixture(params=["eager", "custom_op"])
def road(request, monkeypatch):
    """Eager calls take a plain autograd.Function; torch.compile takes the custom op."""
    monkeypatch.setattr(bridge, "EAGER", request.param == "eager")
    return request.param


@pytest.mark.parametrize(("name", "i"), ITEMS)
def test_gradcheck(name, i, road):
    fn, _, make, diff, opts = ALL[name]
    kw = opts[i]
    tensors = make(D)

    def f(*xs):
        args = list(tensors)
        for j, x in zip(diff, xs, strict=False):
            args[j] = x
        return fn(*args, **kw)

    xs = [tensors[j].detach().clone().requires_grad_() for j in diff]
    assert torch.autograd.gradcheck(f, xs, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_opcheck(name):
    """Schema, fake (meta) implementation and autograd registration of each custom op."""
    fn, _, make, diff, opts = CASES[name]
    tensors = [
        t.requires_grad_(j in diff) if t.is_floating_point() else t for j, t in enumerate(make(D))
    ]
    op = getattr(torch.ops.fastloss, OPS[name].name)
    torch.library.opcheck(
        op,
        _op_args(name, tensors, opts[0]),
        test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
    )


def _op_args(name, tensors, kw):
    captured = {}

    class Spy:
        def __getattr__(self, attr):
            def call(*args):
                captured["args"] = args
                return getattr(torch.ops.fastloss, attr)(*args)

            return call

    import fastloss.torch as mod

    real = mod._op
    mod._op = Spy()
    try:
        ft.FUNCTIONS[name](*tensors, **kw)
    finally:
        mod._op = real
    return captured["args"]


def test_torch_compile_fullgraph_no_graph_breaks():
    torch._dynamo.reset()
    x = randn(8, 5).requires_grad_()
    y = labels(8, 5)
    z = randn(8, 5, seed=3)

    def step(x):
        return (
            ft.cross_entropy(x, y, label_smoothing=0.1)
            + ft.mse_loss(x, z)
            + ft.nt_xent(x, 2 * x, temperature=0.3)
            + ft.gan_generator(x, kind="hinge")
        )

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    v = compiled(x)
    (g,) = torch.autograd.grad(v, x)
    v0 = step(x)
    (g0,) = torch.autograd.grad(v0, x)
    torch.testing.assert_close(v, v0, rtol=1e-12, atol=0)
    torch.testing.assert_close(g, g0, rtol=1e-12, atol=0)
    explain = torch._dynamo.explain(step)(x)
    assert explain.graph_break_count == 0 and explain.graph_count == 1


def test_double_backward_raises_a_clear_error(road):
    x = randn(6, 3).requires_grad_()
    v = ft.mse_loss(x, randn(6, 3, seed=1))
    with pytest.raises(RuntimeError, match="mse_loss: no second derivative"):
        torch.autograd.grad(v, x, create_graph=True)


def test_mlp_trained_50_steps_follows_pytorch_loss_curve():
    def train(loss_fn):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)
        ).double()
        opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
        x = randn(64, 10, seed=5)
        y = labels(64, 4, 6)
        curve = []
        for _ in range(50):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            curve.append(loss.item())
        return np.array(curve)

    ours, theirs = train(ft.cross_entropy), train(F.cross_entropy)
    assert theirs[-1] < 0.5 * theirs[0]  # it learned something
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=0)
    assert np.isclose(train(ft.CrossEntropyLoss()), theirs, rtol=1e-6, atol=0).all()


def test_modules_hold_options_and_weights():
    w = rand(5, seed=2, lo=0.2)
    x, y = randn(6, 5), labels(6, 5, 1)
    m = ft.CrossEntropyLoss(w, label_smoothing=0.1, reduction="sum")
    torch.testing.assert_close(
        m(x, y),
        torch.nn.CrossEntropyLoss(w, label_smoothing=0.1, reduction="sum")(x, y),
        rtol=1e-12,
        atol=0,
    )
    assert torch.equal(m.state_dict()["weight"], w)
    with pytest.warns(UserWarning, match="deprecated"):  # legacy arguments, as PyTorch
        assert ft.MSELoss(reduce=False)(x, x + 1).shape == x.shape
    torch.testing.assert_close(
        ft.NTXentLoss(temperature=0.2)(x, x.flip(0)), ft.nt_xent(x, x.flip(0), temperature=0.2)
    )
    torch.testing.assert_close(
        ft.HuberLoss("sum", 0.5)(x, 0 * x), F.huber_loss(x, 0 * x, "sum", 0.5)
    )


def test_kernel_sees_the_tensor_memory_without_copies():
    t = randn(6, 8)
    for view in (t, t[:, 1:7], t.T, t[::2]):
        a = kernel_array(view.requires_grad_(False), "input", "f")
        assert a.ctypes.data == view.data_ptr() and a.strides == tuple(
            s * view.element_size() for s in view.stride()
        )
    # a gradient computed on a strided input matches the contiguous one
    base = randn(8, 6).requires_grad_()
    ft.mse_loss(base.T, torch.zeros(6, 8, dtype=D)).backward()
    torch.testing.assert_close(base.grad, 2 * base.detach() / base.numel())


def test_errors_name_the_argument():
    x = randn(4, 3)
    with pytest.raises(TypeError, match="input is torch.float16.*float"):
        ft.mse_loss(x.half(), x.half())
    with pytest.raises(TypeError, match="target is torch.bfloat16"):
        ft.mse_loss(x.float(), x.bfloat16())
    with pytest.raises(RuntimeError, match="gradient with respect to target"):
        ft.binary_cross_entropy(torch.sigmoid(x), torch.sigmoid(x).requires_grad_())
    with pytest.raises(RuntimeError, match="gradient with respect to weight"):
        ft.mse_loss(x, x, weight=torch.ones(3, dtype=D, requires_grad=True))
    with pytest.raises(ValueError, match="reduction"):
        ft.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="y_true"):  # fastloss's own checks come through
        ft.cross_entropy(x, torch.tensor([0, 1, 7, 2]))
    z = randn(4, 3).requires_grad_()
    with pytest.raises(RuntimeError, match="reduction='none' has no backward"):
        ft.nt_xent(z, z.detach(), reduction="none").sum().backward()
    with pytest.raises(TypeError, match="unexpected keyword"):
        ft.quantile(x, x, alpha=0.3)


def test_docs_drop_in_table_lists_every_drop_in():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "torch.md").read_text()
    table = page.split("## Drop-in table")[1].split("\n\n(")[0]
    named = set()
    for line in table.strip().splitlines()[2:]:
        theirs, ours = line.split("|")[1:3]
        for a, b in zip(theirs.split(","), ours.split(","), strict=True):
            a = a.strip(" `")
            a = ("torch.nn.functional." + a[2:]) if a.startswith("F.") else "torch." + a
            assert ft.DROP_IN[a] == b.strip(" `"), (a, b)
            named.add(a)
    assert named == set(ft.DROP_IN)
