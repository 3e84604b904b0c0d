"""The CUDA road beyond the sweep: reductions, weights, broadcasting, out=, device-array
handling, dispatch, errors, determinism and launch-shape independence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numba import cuda

import fastloss
from fastloss._kernels import cuda as K
from fastloss._spec import REGISTRY

from ._common import ITEMS, N_FLAT, ROWS, SEG, close, host, is_dev, rng_for


def _yp(shape, dtype=np.float64, key=0):
    rng = rng_for("opts", shape, np.dtype(dtype).name, key)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("reduction", ["sum", "none"])
@pytest.mark.parametrize("axis", [None, -1])
def test_reductions(reduction, axis):
    y, p = _yp(ROWS)
    for op in ("__call__", "value_and_grad"):
        ref = getattr(fastloss.huber, op)(y, p, reduction=reduction, axis=axis, delta=0.7,
                                           backend="serial")
        got = getattr(fastloss.huber, op)(cuda.to_device(y), cuda.to_device(p),
                                           reduction=reduction, axis=axis, delta=0.7)
        for g, r in zip(got if op != "__call__" else (got,),
                        ref if op != "__call__" else (ref,), strict=True):
            close(g, r, np.float64, f"{op} {reduction} axis={axis}")


@pytest.mark.parametrize("case", ["columns_flat", "columns_rows", "per_row", "bcast_rows"])
def test_sample_weight(case):
    y, p = _yp(ROWS, np.float32, key=1)
    rng = rng_for("w", case)
    axis = -1 if case in ("columns_rows", "bcast_rows") else None
    if case == "columns_flat":
        y, p = y.reshape(-1), p.reshape(-1)
    if case == "bcast_rows":
        y = np.ascontiguousarray(y[0])
    w = rng.uniform(0, 2, p.shape[0] if case == "per_row" else p.shape[-1])
    for op in ("__call__", "value_and_grad", "grad_hess"):
        ref = getattr(fastloss.log_cosh, op)(y, p, sample_weight=w, axis=axis,
                                             backend="serial")
        got = getattr(fastloss.log_cosh, op)(y, cuda.to_device(p), sample_weight=w,
                                             axis=axis)
        ref, got = (ref,) if op == "__call__" else ref, (got,) if op == "__call__" else got
        for g, r in zip(got, ref, strict=True):
            close(g, r, np.float32, f"{op} {case}")


def test_weights_on_device_and_single_task_rows():
    y, p = _yp((4, 50), np.float64, key=2)  # each row is one task: written by the main kernel
    w = np.linspace(0.0, 1.0, 50)
    ref = fastloss.quantile(y, p, axis=-1, sample_weight=w, quantile=0.2, backend="serial")
    got = fastloss.quantile(cuda.to_device(y), cuda.to_device(p), axis=-1,
                            sample_weight=cuda.to_device(w), quantile=0.2)
    assert is_dev(got)
    close(got, ref, np.float64)


def test_out_host_and_device_in_place():
    y, p = _yp((N_FLAT,), np.float64, key=3)
    ref_v, ref_g = fastloss.mse.value_and_grad(y, p, backend="serial")
    out = np.empty_like(p)
    v, g = fastloss.mse.value_and_grad(y, p, out=out, backend="cuda")
    assert g is out
    close(v, ref_v, np.float64)
    close(g, ref_g, np.float64)
    dp = cuda.to_device(p)
    v, g = fastloss.mse.value_and_grad(cuda.to_device(y), dp, out=dp)  # in place
    assert g is dp
    close(v, ref_v, np.float64)
    close(dp.copy_to_host(), ref_g, np.float64)
    with pytest.raises(TypeError, match="out must be a CUDA array"):
        fastloss.mse.grad(cuda.to_device(y), cuda.to_device(p), out=np.empty_like(p))
    with pytest.raises(ValueError, match="out has dtype"):
        fastloss.mse.grad(cuda.to_device(y), cuda.to_device(p),
                          out=cuda.device_array(p.shape, np.float32))
    with pytest.raises(ValueError, match="out has shape"):
        fastloss.mse.grad(y, p, out=np.empty(3), backend="cuda")


def test_noncontiguous_and_cast_device_inputs():
    y, p = _yp((6, 301), np.float64, key=4)
    yi = np.round(3 * y).astype(np.int64)
    p32 = p.astype(np.float32)
    dyi, dp = cuda.to_device(yi), cuda.to_device(p32)
    ref = fastloss.smooth_l1.value_and_grad(yi[::2, ::-3], p32[::2, ::-3], beta=0.5,
                                            backend="serial")
    got = fastloss.smooth_l1.value_and_grad(dyi[::2, ::-3], dp[::2, ::-3], beta=0.5)
    close(got[0], ref[0], np.float32)
    close(got[1], ref[1], np.float32)
    assert got[1].shape == ref[1].shape and got[1].dtype == np.float32
    # the inputs are unchanged
    np.testing.assert_array_equal(dp.copy_to_host(), p32)


def test_mixed_host_target_device_predictions_and_promotion():
    y, p = _yp(ROWS, np.float64, key=5)
    dp = cuda.to_device(p.astype(np.float32))
    ref = fastloss.log_cosh(y[0], p.astype(np.float32), axis=-1, backend="serial")
    got = fastloss.log_cosh(y[0], dp, axis=-1)  # float64 target: float64 result
    assert ref.dtype == np.float64
    close(got, ref, np.float64)


def test_rmse_on_device():
    y, p = _yp(ROWS, np.float64, key=6)
    p[1] = y[1]  # a row with zero error: value 0, gradient 0
    dy, dp = cuda.to_device(y), cuda.to_device(p)
    for axis in (None, -1):
        rv, rg = fastloss.rmse.value_and_grad(y, p, axis=axis, backend="serial")
        gv, gg = fastloss.rmse.value_and_grad(dy, dp, axis=axis)
        close(gv, rv, np.float64, f"rmse value axis={axis}")
        close(gg, rg, np.float64, f"rmse grad axis={axis}")
        close(fastloss.rmse(dy, dp, axis=axis), fastloss.rmse(y, p, axis=axis), np.float64)


def test_empty_inputs():
    e = np.empty(0)
    assert fastloss.mse(e, e, reduction="sum", backend="cuda") == 0.0
    with pytest.raises(ValueError, match="empty"):
        fastloss.mse(cuda.to_device(e), cuda.to_device(e))
    got = fastloss.mse(cuda.to_device(e), cuda.to_device(e), reduction="none")
    assert host(got).shape == (0,)
    g = fastloss.mse.grad(cuda.to_device(e), cuda.to_device(e), reduction="sum")
    assert host(g).shape == (0,)
    v = fastloss.mse(np.empty((0, 4)), np.empty((0, 4)), axis=-1, backend="cuda")
    assert isinstance(v, np.ndarray) and v.shape == (0,)


def test_dispatch():
    y, p = _yp((N_FLAT,), np.float64, key=7)
    dy, dp = cuda.to_device(y), cuda.to_device(p)
    assert is_dev(fastloss.mse.grad(dy, dp))  # "auto" sends CUDA inputs to "cuda"
    with fastloss.use_backend("cuda"):
        g = fastloss.mse.grad(y, p)  # host in, host out
    assert isinstance(g, np.ndarray)
    g = fastloss.mse.grad(dy, dp, backend="serial")  # a CPU backend by name: host result
    assert isinstance(g, np.ndarray)
    close(g, fastloss.mse.grad(y, p), np.float64)
    assert isinstance(fastloss.mse(dy, dp), float)


def test_domain_checks_on_device():
    y, p = _yp((N_FLAT,), np.float64, key=8)
    with pytest.raises(ValueError, match="y_true must be >= 0"):
        fastloss.tweedie(cuda.to_device(y), cuda.to_device(p), power=1.5)
    with pytest.raises(ValueError, match="does not broadcast to y_pred"):
        fastloss.mse(cuda.to_device(y[:10]), cuda.to_device(p))
    with pytest.raises(TypeError, match="y_pred must hold real numbers"):
        fastloss.mse(cuda.to_device(y), cuda.to_device(p.astype(np.complex128)))


def test_deterministic_and_independent_of_grid():
    y, p = _yp(ROWS, np.float64, key=9)
    dy, dp = cuda.to_device(y), cuda.to_device(p)
    a = fastloss.log_cosh(dy, dp)
    ar = host(fastloss.log_cosh(dy, dp, axis=-1))
    assert (N_FLAT > SEG) and (ROWS[1] > SEG)  # several tasks per row: the finalize path
    saved = K.max_grid()
    try:
        with warnings.catch_warnings():  # on a GPU, Numba warns about grids under 128 blocks
            warnings.simplefilter("ignore")
            for grid in (1, 2, 5):
                K.set_launch_config(max_grid=grid)
                assert fastloss.log_cosh(dy, dp) == a
                np.testing.assert_array_equal(host(fastloss.log_cosh(dy, dp, axis=-1)), ar)
    finally:
        K.set_launch_config(max_grid=None)
    assert K.max_grid() == saved


@pytest.mark.parametrize("n", [3, ITEMS - 1, 2 * ITEMS + 5, SEG // 2 + 1, SEG])
def test_rows_of_every_length(n):
    """Short rows share a block (G threads each), long ones get whole blocks; weights and a
    broadcast target index by column whatever the grouping."""
    B = 37
    y, p = _yp((B, n), np.float32, key=("rows", n))
    y = np.abs(y)  # poisson_nll's targets are non-negative rates
    w = rng_for("rw", n).uniform(0, 1, n)
    seg, G, kpr = K.task_shape(B * n, n, True, *K.launch_config())
    assert kpr == 1 and G * ITEMS >= min(n, SEG) and (G == 1 or (G // 2) * ITEMS < n)
    for kw in ({}, {"sample_weight": w}):
        ref = fastloss.poisson_nll.value_and_grad(y[0], p, axis=-1, backend="serial", **kw)
        got = fastloss.poisson_nll.value_and_grad(y[0], cuda.to_device(p), axis=-1, **kw)
        close(got[0], ref[0], np.float32, f"value n={n} {list(kw)}")
        close(got[1], ref[1], np.float32, f"grad n={n} {list(kw)}")


def test_range_checks_run_on_the_device(monkeypatch):
    """binary_cross_entropy's [0, 1] checks count on the device: a valid call copies
    nothing to the host; a bad value is still reported with its position."""
    from fastloss._kernels import device as cuda_road

    rng = rng_for("bce-dev")
    y = rng.uniform(0, 1, (4, 60))
    p = rng.uniform(0.01, 0.99, (4, 60)).astype(np.float32)
    dy, dp = cuda.to_device(y), cuda.to_device(p)
    ref = fastloss.binary_cross_entropy.value_and_grad(y, p, backend="serial")

    def no_copy(a):
        raise AssertionError("a host copy of a CUDA input")

    with monkeypatch.context() as m:
        m.setattr(cuda_road, "to_host", no_copy)
        got = fastloss.binary_cross_entropy.value_and_grad(dy, dp)
    close(got[0], ref[0], np.float32)
    close(got[1], ref[1], np.float32)
    p[2, 7] = 1.5
    with pytest.raises(ValueError, match=r"y_pred must be probabilities.*1\.5.*\(2, 7\)"):
        fastloss.binary_cross_entropy(dy, cuda.to_device(p))
    y[1, 3] = np.nan  # NaN passes the check and propagates
    v = fastloss.binary_cross_entropy(cuda.to_device(y), dp)
    assert np.isnan(v)


def test_bench_helpers_run():
    """The benchmark helpers (wired into ``fastloss bench --backend cuda``) run and report
    consistent numbers (timings are meaningless under the simulator)."""
    from fastloss._exec import cuda as cuda_road

    call = cuda_road.device_roofline_call(8 * 300, 8 * 100)
    call()
    gbs = cuda_road.device_copy_bandwidth(nbytes=8 * 256, repeat=1)
    assert gbs > 0
    r = cuda_road.bench_cuda(fastloss.huber, n=256, rows=4, op="value_and_grad", repeat=1,
                             copy_gbs=gbs)
    assert r["n"] == 256 and r["bytes"] == (256 + 64 + 256 + 4) * 4
    assert r["fraction"] == pytest.approx(r["gbs"] / gbs)


def test_no_host_copy_of_predictions(monkeypatch):
    """tweedie's y_true >= 0 counts on the device, and the row-wise losses keep their
    (N, C) matrices there: only integer labels (one per row) are copied to the host."""
    from fastloss._kernels import device as cuda_road

    rng = rng_for("no-copy")
    copied = []
    real = cuda_road.to_host

    def spy(a):
        if a is not None and not isinstance(a, np.ndarray):
            copied.append(tuple(a.shape))
        return real(a)

    y = rng.poisson(2.0, (6, 50)).astype(np.float64)
    p = rng.normal(0.0, 0.3, (6, 50))
    (lab, z), _ = REGISTRY["cross_entropy"].sample(rng, (40, 9), np.dtype(np.float32))
    (t, q), _ = REGISTRY["kl_divergence"].sample(rng, (40, 9), np.dtype(np.float64))
    cases = [
        (fastloss.tweedie, y, p, {"power": 1.5}, []),
        (fastloss.tweedie, y + 1.0, p, {"power": 2.5}, []),
        (fastloss.cross_entropy, lab, z, {}, [(40,)]),
        (fastloss.cross_entropy, lab, z, {"class_weight": np.arange(1.0, 10.0)}, [(40,)]),
        (fastloss.kl_divergence, t, q, {}, []),
    ]
    for loss, a, b, kw, want in cases:
        ref = loss.value_and_grad(a, b, backend="serial", **kw)
        da, db = cuda.to_device(a), cuda.to_device(b)
        copied.clear()
        with monkeypatch.context() as m:
            m.setattr(cuda_road, "to_host", spy)
            got = loss.value_and_grad(da, db, **kw)
        assert copied == want, (loss.__name__, kw, copied)
        close(got[0], ref[0], b.dtype, loss.__name__)
        assert is_dev(got[1])
        close(got[1], ref[1], b.dtype, loss.__name__)
    y[2, 3] = 0.0
    with pytest.raises(ValueError, match="y_true must be > 0"):
        fastloss.tweedie(cuda.to_device(y), cuda.to_device(p), power=2.5)
    y[2, 3] = -1.0
    with pytest.raises(ValueError, match="y_true must be >= 0"):
        fastloss.tweedie(cuda.to_device(y), cuda.to_device(p), power=1.0)
