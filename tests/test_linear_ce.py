"""Fused linear + cross-entropy: values and gradients against PyTorch autograd of the unfused
computation (``F.cross_entropy(hidden @ weight.T + bias, ...)``, the z-loss and soft cap
written in torch), every option and reduction, float64 and float32; finite differences;
serial == parallel bits; chunking; ``out=``; errors."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastloss
from fastloss.losses.linear import default_chunk
from tests.references import HAND_VALUES, REFERENCES

L = fastloss.linear_cross_entropy
N, D, V = 13, 6, 37
CHUNK = 5  # three chunks, the last one short


def _inputs(dtype, seed=0, ignored=True, big=False):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((N, D)).astype(dtype)
    w = ((3.0 if big else 1.0) * rng.standard_normal((V, D)) / np.sqrt(D)).astype(dtype)
    b = (0.3 * rng.standard_normal(V)).astype(dtype)
    y = rng.integers(0, V, N)
    if ignored:
        y[[2, 7]] = -100
    return y, h, w, b


def torch_loss(
    y,
    h,
    w,
    b,
    reduction="mean",
    sample_weight=None,
    class_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
):
    """The unfused computation in torch; returns (value, tensors needing grads)."""
    ts = [torch.tensor(a, requires_grad=True) for a in (h, w) + ((b,) if b is not None else ())]
    z = ts[0] @ ts[1].T
    if b is not None:
        z = z + ts[2]
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    yt = torch.tensor(y)
    cw = None if class_weight is None else torch.tensor(class_weight, dtype=z.dtype)
    kw = dict(weight=cw, ignore_index=ignore_index, label_smoothing=label_smoothing)
    if sample_weight is None and z_loss == 0.0 and reduction != "none":
        v = F.cross_entropy(z, yt, reduction=reduction, **kw)  # torch's own reduction
        return v, ts
    rows = F.cross_entropy(z, yt, reduction="none", **kw)
    kept = (yt != ignore_index).to(z.dtype)
    rows = rows + z_loss * torch.logsumexp(z, dim=1) ** 2 * kept
    s = (
        torch.ones(len(y), dtype=z.dtype)
        if sample_weight is None
        else torch.tensor(sample_weight, dtype=z.dtype)
    )
    rows = rows * s
    if reduction == "none":
        return rows, ts
    if reduction == "sum":
        return rows.sum(), ts
    wy = torch.ones_like(kept) if cw is None else cw[torch.where(yt != ignore_index, yt, 0)]
    return rows.sum() / (s * wy * kept).sum(), ts


def torch_value_and_grad(args, reduction, **opts):
    v, ts = torch_loss(*args, reduction=reduction, **opts)
    v.backward(torch.ones_like(v))  # "none": the gradient of the sum
    return v.detach().numpy(), tuple(t.grad.numpy() for t in ts)


OPTIONS = [
    {},
    {"label_smoothing": 0.1},
    {"class_weight": "cw"},
    {"class_weight": "cw", "label_smoothing": 0.2},
    {"z_loss": 1e-2},
    {"softcap": 2.0},
    {"sample_weight": "sw"},
    {"ignore_index": 3},
    {
        "class_weight": "cw",
        "label_smoothing": 0.1,
        "z_loss": 1e-3,
        "softcap": 1.5,
        "sample_weight": "sw",
    },
]


def _opts(opt, dtype_seed=1):
    rng = np.random.default_rng(dtype_seed)
    out = dict(opt)
    if out.get("class_weight") == "cw":
        out["class_weight"] = rng.uniform(0.2, 2.0, V)
    if out.get("sample_weight") == "sw":
        out["sample_weight"] = rng.uniform(0.0, 3.0, N)
    return out


def _check(got, ref, rtol, atol_scale):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    np.testing.assert_allclose(
        got, ref, rtol=rtol, atol=atol_scale * float(np.max(np.abs(ref), initial=1.0))
    )


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opt", range(len(OPTIONS)))
def test_matches_torch_autograd_float64(opt, reduction, bias):
    y, h, w, b = _inputs(np.float64)
    if OPTIONS[opt].get("ignore_index") == 3:
        y[y == -100] = 3
    b = b if bias else None
    kw = _opts(OPTIONS[opt])
    vt, gt = torch_value_and_grad((y, h, w, b), reduction, **kw)
    v, g = L.value_and_grad(y, h, w, b, reduction=reduction, chunk_size=CHUNK, **kw)
    assert len(g) == (3 if bias else 2)
    _check(v, vt, 1e-10, 1e-14)
    assert isinstance(v, float) == (reduction != "none")
    for a, r in zip(g, gt, strict=True):
        assert a.dtype == np.float64
        _check(a, r, 1e-10, 1e-13)
    # the value alone and the gradient alone are the same numbers
    assert L(y, h, w, b, reduction=reduction, chunk_size=CHUNK, **kw) == pytest.approx(
        v, rel=1e-14, abs=0
    )
    for a, r in zip(
        L.grad(y, h, w, b, reduction=reduction, chunk_size=CHUNK, **kw), g, strict=True
    ):
        np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opt", [0, 1, 4, 5, len(OPTIONS) - 1])
def test_matches_torch_autograd_float32(opt, reduction):
    y, h, w, b = _inputs(np.float32, seed=2, big=True)
    kw = _opts(OPTIONS[opt])
    vt, gt = torch_value_and_grad(
        tuple(np.asarray(a, np.float64) if a.dtype == np.float32 else a for a in (y, h, w, b)),
        reduction,
        **kw,
    )
    v, g = L.value_and_grad(y, h, w, b, reduction=reduction, **kw)
    if reduction == "none":
        assert v.dtype == np.float32
    _check(v, vt, 1e-5, 1e-6)
    for a, r in zip(g, gt, strict=True):
        assert a.dtype == np.float32
        _check(a, r, 1e-5, 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_rows_match_torch(dtype):
    """Rows of more than one block of the log-sum-exp (and a short last block)."""
    rng = np.random.default_rng(8)
    n, d, v = 7, 5, 2 * 1024 + 77
    h = rng.standard_normal((n, d)).astype(dtype)
    w = rng.standard_normal((v, d)).astype(dtype)
    b = rng.standard_normal(v).astype(dtype)
    y = rng.integers(0, v, n)
    y[3] = -100
    kw = dict(label_smoothing=0.1, z_loss=1e-3, class_weight=rng.uniform(0.5, 2.0, v))
    f64 = tuple(np.asarray(a, np.float64) if a.dtype == np.float32 else a for a in (y, h, w, b))
    tol = (1e-10, 1e-13) if dtype == np.float64 else (1e-5, 1e-5)
    for extra in ({}, {"softcap": 3.0}):
        vt, gt = torch_value_and_grad(f64, "mean", **kw, **extra)
        s = L.value_and_grad(y, h, w, b, chunk_size=3, backend="serial", **kw, **extra)
        p = L.value_and_grad(y, h, w, b, chunk_size=3, backend="parallel", **kw, **extra)
        assert s[0] == p[0]
        _check(s[0], vt, *tol)
        for a, c, r in zip(s[1], p[1], gt, strict=True):
            np.testing.assert_array_equal(a, c)
            _check(a, r, *tol)


def test_numpy_reference_and_hand_values():
    y, h, w, b = _inputs(np.float64)
    kw = _opts(OPTIONS[-1])
    sw = kw.pop("sample_weight")
    rows = REFERENCES["linear_cross_entropy"](y, h, w, b, **kw)
    got = L(y, h, w, b, reduction="none", sample_weight=sw, **kw)
    np.testing.assert_allclose(got, sw * rows, rtol=1e-12, atol=1e-15)
    for args, params, expected in HAND_VALUES["linear_cross_entropy"]:
        assert L(*args, **params) == pytest.approx(expected, rel=1e-14, abs=0)


def test_finite_differences():
    rng = np.random.default_rng(5)
    n, d, v = 4, 3, 5
    h = rng.standard_normal((n, d))
    w = rng.standard_normal((v, d))
    b = rng.standard_normal(v)
    y = np.array([0, 4, -100, 2])
    kw = dict(
        class_weight=rng.uniform(0.5, 2, v),
        label_smoothing=0.1,
        z_loss=0.05,
        softcap=2.0,
        sample_weight=rng.uniform(0.5, 2, n),
        chunk_size=3,
    )
    _, g = L.value_and_grad(y, h, w, b, **kw)
    args = [h, w, b]
    step = 1e-6
    for k, a in enumerate(args):
        num = np.empty_like(a)
        for idx in np.ndindex(a.shape):
            hi = [x.copy() for x in args]
            lo = [x.copy() for x in args]
            hi[k][idx] += step
            lo[k][idx] -= step
            num[idx] = (L(y, *hi, **kw) - L(y, *lo, **kw)) / (2 * step)
        np.testing.assert_allclose(g[k], num, rtol=1e-6, atol=1e-8)


def test_serial_equals_parallel_bits_and_chunks_agree():
    y, h, w, b = _inputs(np.float32, seed=3)
    kw = _opts(OPTIONS[-1])
    for cs in (1, 4, N):
        s = L.value_and_grad(y, h, w, b, backend="serial", chunk_size=cs, **kw)
        p = L.value_and_grad(y, h, w, b, backend="parallel", chunk_size=cs, **kw)
        assert s[0] == p[0]
        for a, c in zip(s[1], p[1], strict=True):
            np.testing.assert_array_equal(a, c)
        if cs == 1:
            first = s
        else:  # another chunking only adds the products' terms in another order
            for a, c in zip(first[1], s[1], strict=True):
                np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


def test_accumulation_block_by_block(monkeypatch):
    """grad_weight is accumulated through blocks of classes: small blocks agree with one."""
    from fastloss._exec import cpu as Lm

    y, h, w, b = _inputs(np.float64, seed=7)
    ref = L.value_and_grad(y, h, w, b, chunk_size=CHUNK)
    assert Lm.GW_BLOCK_BYTES >= w.nbytes  # the reference: one block
    monkeypatch.setattr(Lm, "GW_BLOCK_BYTES", 8 * D * 8)  # blocks of 8 classes
    for be in ("serial", "parallel"):
        v, g = L.value_and_grad(y, h, w, b, chunk_size=CHUNK, backend=be)
        assert v == ref[0]
        for a, r in zip(g, ref[1], strict=True):
            np.testing.assert_allclose(a, r, rtol=1e-13, atol=1e-15)


def test_out_buffers_and_in_place_hidden():
    y, h, w, b = _inputs(np.float64, seed=4)
    ref = L.value_and_grad(y, h, w, b, chunk_size=CHUNK)
    outs = (np.empty_like(h), np.empty_like(w), np.empty_like(b))
    v, g = L.value_and_grad(y, h, w, b, chunk_size=CHUNK, out=outs)
    assert all(a is o for a, o in zip(g, outs, strict=True)) and v == ref[0]
    h2 = h.copy()
    g = L.grad(y, h2, w, b, chunk_size=CHUNK, out=(h2, np.empty_like(w), np.empty_like(b)))
    assert g[0] is h2
    for a, r in zip(g, ref[1], strict=True):
        np.testing.assert_array_equal(a, r)
    hs, ws = h.copy(), w.copy()
    L.value_and_grad(y, h[::-1][::-1], w, b)  # strided views are fine; inputs untouched
    np.testing.assert_array_equal(h, hs)
    np.testing.assert_array_equal(w, ws)


def test_non_contiguous_and_mixed_dtypes():
    y, h, w, b = _inputs(np.float64, seed=6)
    ref = L.value_and_grad(y, h, w, b)
    wf = np.asfortranarray(w)
    hs = np.ascontiguousarray(np.concatenate([h, h], axis=1))[:, ::2]
    hs[:] = h
    v, g = L.value_and_grad(list(y), hs, wf, b)
    assert v == pytest.approx(ref[0], rel=1e-13)
    for a, r in zip(g, ref[1], strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-14)
    v32, g32 = L.value_and_grad(y, h.astype(np.float32), w, b)  # promotes to float64
    assert all(a.dtype == np.float64 for a in g32)


def test_empty_and_all_ignored():
    h = np.zeros((0, 3))
    w = np.ones((4, 3))
    v, (gh, gw) = L.value_and_grad(np.zeros(0, np.int64), h, w, reduction="sum")
    assert v == 0.0 and gh.shape == (0, 3)
    np.testing.assert_array_equal(gw, 0.0)
    with pytest.raises(ValueError, match="hidden"):
        L(np.zeros(0, np.int64), h, w)
    y = np.full(2, -100)
    hh = np.ones((2, 3))
    assert np.isnan(L(y, hh, w))  # as PyTorch: 0 / 0
    v, (gh, gw) = L.value_and_grad(y, hh, w, reduction="sum")
    assert v == 0.0 and not gh.any() and not gw.any()


def test_default_chunk_is_a_small_fraction_of_the_logits():
    for n, v in itertools.product((4096, 8192, 100_000), (32_000, 128_000, 256_000)):
        cs = default_chunk(n, v, 4)
        assert 128 <= cs and cs * v <= 0.09 * n * v
    assert default_chunk(3, 10, 8) == 3
    assert default_chunk(10**6, 10**8, 4) == 1  # a row of logits over 256 MiB: one at a time
    # small problems: at least 16 MiB of logits per chunk, or half the rows (never all)
    assert default_chunk(1000, 1024, 8) == 500
    assert default_chunk(3162, 1024, 8) == 1581 and default_chunk(3162, 1024, 4) == 1581
    assert default_chunk(20000, 1024, 8) == 2048
    assert default_chunk(100_000, 1024, 4) == 100_000 // 12 + 1  # N / 12 is more


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(hidden=np.ones(3)), ValueError, "hidden"),
        (dict(weight=np.ones((4, 2))), ValueError, "weight"),
        (dict(weight=np.ones((0, 3))), ValueError, "weight"),
        (dict(bias=np.ones(5)), ValueError, "bias"),
        (dict(y_true=[0, 4]), ValueError, "y_true"),
        (dict(y_true=[0, -1]), ValueError, "y_true"),
        (dict(y_true=[0, 1, 2]), ValueError, "y_true"),
        (dict(y_true=[0.5, 1]), ValueError, "y_true"),
        (dict(softcap=0.0), ValueError, "softcap"),
        (dict(softcap="x"), TypeError, "softcap"),
        (dict(chunk_size=0), ValueError, "chunk_size"),
        (dict(chunk_size=2.5), TypeError, "chunk_size"),
        (dict(z_loss=-1.0), ValueError, "z_loss"),
        (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
        (dict(class_weight=np.ones(3)), ValueError, "class_weight"),
        (dict(sample_weight=np.ones(3)), ValueError, "sample_weight"),
        (dict(sample_weight=[-1.0, 1.0]), ValueError, "sample_weight"),
        (dict(hidden=np.ones((2, 3), complex)), TypeError, "hidden"),
        (dict(temperature=1.0), TypeError, "temperature"),
        (dict(reduction="avg"), ValueError, "reduction"),
    ],
)
def test_errors_name_the_argument(kwargs, exc, match):
    args = dict(y_true=[0, 3], hidden=np.ones((2, 3)), weight=np.ones((4, 3)), bias=np.ones(4))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        L.value_and_grad(**args)


def test_out_errors_and_grad_hess():
    y, h, w, b = [0, 3], np.ones((2, 3)), np.ones((4, 3)), np.ones(4)
    with pytest.raises(TypeError, match="out"):
        L.grad(y, h, w, b, out=np.empty((2, 3)))
    with pytest.raises(TypeError, match="out"):
        L.grad(y, h, w, b, out=(np.empty((2, 3)), np.empty((4, 3))))
    with pytest.raises(ValueError, match="out"):
        L.grad(y, h, w, b, out=(np.empty((2, 3)), np.empty((4, 2)), np.empty(4)))
    with pytest.raises(ValueError, match="overlaps weight"):
        L.grad(y, h, w, b, out=(np.empty((2, 3)), w, np.empty(4)))
    with pytest.raises(NotImplementedError, match="linear_cross_entropy"):
        L.grad_hess(y, h, w, b)
