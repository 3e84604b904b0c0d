"""Dask arrays: lazy results, bit for bit the in-memory results, on every scheduler.

Sizes stay small (a few CHUNKs) so that the kernels compile once and run in milliseconds;
chunkings are chosen so that blocks do *not* start on CHUNK boundaries (the integration must
rechunk) and some are irregular.
"""

import warnings

import dask
import dask.array as da
import distributed
import numpy as np
import pytest

import fastloss
from fastloss._kernels.cpu import CHUNK
from fastloss.integrations import dask as fl_dask

RNG = np.random.default_rng(20240601)
N = 5 * CHUNK + 123  # 20603: 6 chunks, the last one short


def same_bits(got, ref):
    """Same dtype (float64 for the Python float of a scalar), shape and bytes."""
    g = np.asarray(got)
    r = np.asarray(ref)
    if isinstance(ref, float):
        assert g.dtype == np.float64 and g.shape == ()
    else:
        assert g.dtype == r.dtype, (g.dtype, r.dtype)
    assert g.shape == r.shape, (g.shape, r.shape)
    assert g.tobytes() == r.tobytes(), (got, ref)


def lazy(x):
    assert isinstance(x, da.Array), type(x)
    return x


# ---------------------------------------------------------------------------
# 1-D


Y1 = RNG.standard_normal(N)
P1 = Y1 + RNG.standard_normal(N) * 2.0
W1 = RNG.random(N)

CHUNKINGS_1D = [3000, (5000, 1, 7000, 0, N - 12001), CHUNK, 3 * CHUNK, N]


@pytest.mark.parametrize("chunks", CHUNKINGS_1D, ids=str)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("weights", [None, "numpy", "dask"])
def test_1d_reduction_bits(chunks, reduction, weights):
    y, p = da.from_array(Y1, chunks=chunks), da.from_array(P1, chunks=chunks)
    w = {None: None, "numpy": W1, "dask": da.from_array(W1, chunks=2500)}[weights]
    got = lazy(fastloss.huber(y, p, reduction=reduction, sample_weight=w, delta=0.7))
    assert got.shape == ()
    ref = fastloss.huber(Y1, P1, reduction=reduction,
                         sample_weight=None if weights is None else W1, delta=0.7)
    same_bits(got.compute(), ref)


def test_1d_mixed_numpy_and_dask_inputs():
    ref = fastloss.mse(Y1, P1)
    same_bits(fastloss.mse(Y1, da.from_array(P1, chunks=3333)).compute(), ref)
    same_bits(fastloss.mse(da.from_array(Y1, chunks=4444), P1).compute(), ref)
    same_bits(fastloss.mse(da.from_array(Y1, chunks=3000), da.from_array(P1, chunks=7000))
              .compute(), ref)


@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_1d_maps_bits(reduction):
    y, p = da.from_array(Y1, chunks=3000), da.from_array(P1, chunks=(7000, N - 7000))
    w = da.from_array(W1, chunks=5000)
    kw = dict(reduction=reduction, delta=0.7)
    g = lazy(fastloss.huber.grad(y, p, sample_weight=w, **kw))
    same_bits(g.compute(), fastloss.huber.grad(Y1, P1, sample_weight=W1, **kw))
    g, h = fastloss.huber.grad_hess(y, p, sample_weight=w, **kw)
    g_ref, h_ref = fastloss.huber.grad_hess(Y1, P1, sample_weight=W1, **kw)
    g, h = dask.compute(lazy(g), lazy(h))
    same_bits(g, g_ref)
    same_bits(h, h_ref)
    v, g = fastloss.huber.value_and_grad(y, p, sample_weight=w, **kw)
    v_ref, g_ref = fastloss.huber.value_and_grad(Y1, P1, sample_weight=W1, **kw)
    v, g = dask.compute(lazy(v), lazy(g))
    same_bits(v, v_ref)
    same_bits(g, g_ref)
    if reduction == "none":
        same_bits(fastloss.huber(y, p, sample_weight=w, **kw).compute(),
                  fastloss.huber(Y1, P1, sample_weight=W1, **kw))


def test_float32_and_parallel_backend():
    y, p = Y1.astype(np.float32), P1.astype(np.float32)
    dy, dp = da.from_array(y, chunks=6000), da.from_array(p, chunks=6000)
    for backend in ("serial", "parallel"):
        same_bits(fastloss.log_cosh(dy, dp, backend=backend).compute(),
                  fastloss.log_cosh(y, p, backend="parallel"))
        same_bits(fastloss.log_cosh.grad(dy, dp, backend=backend).compute(),
                  fastloss.log_cosh.grad(y, p))
    # use_backend at graph-building time is what the blocks run with
    with fastloss.use_backend("parallel"):
        v = fastloss.log_cosh(dy, dp)
    same_bits(v.compute(), fastloss.log_cosh(y, p))


def test_any_aligned_chunking_gives_the_same_bits():
    # 40 chunks: enough partials for a vectorised sum to differ from the ordered one
    n = 40 * CHUNK - 7
    y, p = RNG.standard_normal(n), RNG.standard_normal(n) * 3.0
    ref = fastloss.huber(y, p, reduction="sum")
    for chunks in (CHUNK, 7 * CHUNK, (CHUNK, 20 * CHUNK, n - 21 * CHUNK), 1000, n):
        got = fastloss.huber(da.from_array(y, chunks=chunks), da.from_array(p, chunks=chunks),
                                reduction="sum")
        same_bits(got.compute(), ref)


# ---------------------------------------------------------------------------
# N-D: axis=None (flat chunks across rows), axis=-1 (one loss per row), broadcast y_true


Y2 = RNG.standard_normal((300, 101)).astype(np.float32)
P2 = (Y2 + RNG.standard_normal((300, 101))).astype(np.float32)
W_ROWS = RNG.random(300)  # one weight per sample (axis 0)
W_COLS = RNG.random(101)  # one weight per element of the last axis

CASES_2D = [
    # axis, weights, reduction
    (None, None, "sum"), (None, None, "mean"), (None, W_ROWS, "mean"), (None, W_ROWS, "sum"),
    (-1, None, "sum"), (-1, None, "mean"), (-1, W_COLS, "mean"), (-1, W_COLS, "sum"),
    (None, None, "none"), (None, W_ROWS, "none"),
]


@pytest.mark.parametrize("axis,w,reduction", CASES_2D)
def test_2d_bits(axis, w, reduction):
    y = da.from_array(Y2, chunks=(70, 40))
    p = da.from_array(P2, chunks=(45, 101))
    kw = dict(axis=axis, reduction=reduction, sample_weight=w)
    same_bits(lazy(fastloss.huber(y, p, **kw)).compute(), fastloss.huber(Y2, P2, **kw))
    same_bits(lazy(fastloss.huber.grad(y, p, **kw)).compute(), fastloss.huber.grad(Y2, P2, **kw))
    v, g = fastloss.huber.value_and_grad(y, p, **kw)
    v_ref, g_ref = fastloss.huber.value_and_grad(Y2, P2, **kw)
    v, g = dask.compute(v, g)
    same_bits(v, v_ref)
    same_bits(g, g_ref)


def test_rows_longer_than_a_chunk_split_along_the_last_axis():
    y = RNG.standard_normal((3, 3 * CHUNK + 5))
    p = RNG.standard_normal((3, 3 * CHUNK + 5))
    w = RNG.random(3 * CHUNK + 5)
    dy, dp = da.from_array(y, chunks=(2, 5000)), da.from_array(p, chunks=(1, 3000))
    for kw in ({}, {"sample_weight": w}, {"reduction": "sum"}):
        got = lazy(fastloss.mse(dy, dp, axis=-1, **kw))
        assert got.shape == (3,)
        same_bits(got.compute(), fastloss.mse(y, p, axis=-1, **kw))


def test_3d_and_broadcast_targets():
    p = RNG.standard_normal((6, 50, 33))
    y = RNG.standard_normal((6, 50, 33))
    dp = da.from_array(p, chunks=(2, 20, 10))
    dy = da.from_array(y, chunks=(3, 50, 33))
    w0 = RNG.random(6)
    for kw in ({}, {"sample_weight": w0}, {"axis": -1}, {"axis": -1, "reduction": "sum"}):
        same_bits(fastloss.huber(dy, dp, **kw).compute(), fastloss.huber(y, p, **kw))
    yb, wb = y[0, 0], RNG.random(33)
    dyb = da.from_array(yb, chunks=11)
    for kw in ({}, {"sample_weight": wb}, {"axis": -1, "sample_weight": wb}):
        same_bits(fastloss.huber(dyb, dp, **kw).compute(), fastloss.huber(yb, p, **kw))
        same_bits(fastloss.huber.grad(dyb, dp, **kw).compute(),
                  fastloss.huber.grad(yb, p, **kw))


def test_parameters_reach_the_blocks():
    y, p = da.from_array(Y1, chunks=5000), da.from_array(P1, chunks=5000)
    for q in (0.1, 0.9):
        same_bits(fastloss.quantile(y, p, quantile=q).compute(),
                  fastloss.quantile(Y1, P1, quantile=q))
    yc = np.floor(np.abs(Y1) * 3)
    same_bits(fastloss.tweedie(da.from_array(yc, chunks=5000), p * 0.1, power=1.3).compute(),
              fastloss.tweedie(yc, P1 * 0.1, power=1.3))


def test_per_column_parameter_follows_the_blocks():
    # pos_weight: one value per element of the last axis, chunked with it
    x = RNG.standard_normal((40, 3 * CHUNK // 2)) * 3.0
    t = (RNG.random(x.shape) < 0.3).astype(np.float64)
    pw = RNG.random(x.shape[1]) * 3.0
    dx, dt = da.from_array(x, chunks=(7, 1000)), da.from_array(t, chunks=(9, 1500))
    L = fastloss.binary_cross_entropy_with_logits
    for kw in ({}, {"axis": -1}, {"sample_weight": W_ROWS[:40]}, {"reduction": "none"}):
        same_bits(L(dt, dx, pos_weight=pw, **kw).compute(), L(t, x, pos_weight=pw, **kw))
        same_bits(L.grad(dt, dx, pos_weight=pw, **kw).compute(),
                  L.grad(t, x, pos_weight=pw, **kw))
    x1, t1 = x[0], t[0]
    pw1 = RNG.random(x1.shape[0])
    same_bits(L(da.from_array(t1, chunks=1000), da.from_array(x1, chunks=999),
                pos_weight=pw1).compute(), L(t1, x1, pos_weight=pw1))
    same_bits(L(dt, dx, pos_weight=2.5).compute(), L(t, x, pos_weight=2.5))
    with pytest.raises(ValueError, match="pos_weight"):
        L(dt, dx, pos_weight=np.ones(5))


def test_scalar_and_empty_inputs():
    same_bits(fastloss.mse(da.from_array(np.array(1.0)), da.from_array(np.array(3.0)))
              .compute(), fastloss.mse(1.0, 3.0))
    same_bits(fastloss.mse.grad(da.from_array(np.array(1.0)), da.from_array(np.array(3.0)))
              .compute(), fastloss.mse.grad(np.array(1.0), np.array(3.0)))
    e = da.zeros(0, chunks=1)
    same_bits(fastloss.mse(e, e, reduction="sum").compute(), 0.0)
    with pytest.raises(ValueError, match="empty"):
        fastloss.mse(e, e)
    same_bits(fastloss.mse.grad(e, e, reduction="sum").compute(), np.zeros(0))
    e2 = da.zeros((0, 5), chunks=1)
    same_bits(fastloss.mse(e2, e2, axis=-1).compute(), fastloss.mse(np.zeros((0, 5)),
                                                                    np.zeros((0, 5)), axis=-1))


# ---------------------------------------------------------------------------
# row-wise losses: cross_entropy, kl_divergence, log_loss


NR, NC = 1000, 7
LOGITS = RNG.standard_normal((NR, NC)) * 3.0
LABELS = RNG.integers(0, NC, NR)
LABELS_IGN = LABELS.copy()
LABELS_IGN[RNG.random(NR) < 0.05] = -100  # ignored rows, in some blocks only
LABELS_IGN[:300] = LABELS[:300]  # the first blocks have none ignored
SOFT = RNG.dirichlet(np.ones(NC), NR)
WR = RNG.random(NR)
CW = RNG.random(NC) + 0.5

ROW_CASES = [
    ("cross_entropy", LABELS, LOGITS, {}),
    ("cross_entropy", LABELS_IGN, LOGITS, {"class_weight": CW}),
    ("cross_entropy", LABELS_IGN, LOGITS.astype(np.float32), {"label_smoothing": 0.1}),
    ("cross_entropy", SOFT, LOGITS, {"label_smoothing": 0.05}),
    ("kl_divergence", SOFT, RNG.dirichlet(np.ones(NC), NR), {}),
    ("log_loss", LABELS, SOFT, {}),
    ("log_loss", LABELS % 2, SOFT[:, 0], {}),
]


@pytest.mark.parametrize("case", range(len(ROW_CASES)))
@pytest.mark.parametrize("weighted", [False, True])
def test_rowwise_bits(case, weighted):
    name, y, p, params = ROW_CASES[case]
    L = getattr(fastloss, name)
    w = WR if weighted else None
    dy = da.from_array(y, chunks=(150,) + y.shape[1:])
    dp = da.from_array(p, chunks=(230,) + p.shape[1:])
    dw = None if w is None else da.from_array(w, chunks=333)
    for reduction in ("mean", "sum", "none"):
        kw = dict(reduction=reduction, **params)
        same_bits(lazy(L(dy, dp, sample_weight=dw, **kw)).compute(),
                  L(y, p, sample_weight=w, **kw))
        v, g = L.value_and_grad(dy, dp, sample_weight=dw, **kw)
        v_ref, g_ref = L.value_and_grad(y, p, sample_weight=w, **kw)
        v, g = dask.compute(lazy(v), lazy(g))
        same_bits(v, v_ref)
        same_bits(g, g_ref)
        if L.spec.has_hess:
            g, h = dask.compute(*L.grad_hess(dy, dp, sample_weight=dw, **kw))
            g_ref, h_ref = L.grad_hess(y, p, sample_weight=w, **kw)
            same_bits(g, g_ref)
            same_bits(h, h_ref)


def test_rowwise_single_row_and_errors():
    x, lab = LOGITS[0], LABELS[0]
    same_bits(fastloss.cross_entropy(da.from_array(np.array(lab)), da.from_array(x)).compute(),
              fastloss.cross_entropy(lab, x))
    same_bits(fastloss.cross_entropy.grad(lab, da.from_array(x, chunks=3)).compute(),
              fastloss.cross_entropy.grad(lab, x))
    dp = da.from_array(LOGITS, chunks=(100, 3))
    with pytest.raises(ValueError, match="rows"):
        fastloss.cross_entropy(LABELS[:-1], dp)
    with pytest.raises(TypeError, match="unknown parameter"):
        fastloss.cross_entropy(LABELS, dp, weight=CW)
    with pytest.raises(ValueError, match="label_smoothing"):
        fastloss.cross_entropy(LABELS, dp, label_smoothing=2.0)
    with pytest.raises(ValueError, match="class_weight"):
        fastloss.cross_entropy(LABELS, dp, class_weight=np.ones(3))
    bad = LABELS.copy()
    bad[777] = NC
    r = fastloss.cross_entropy(da.from_array(bad, chunks=100), dp)
    with pytest.raises(ValueError, match="outside"):
        r.compute()
    r = fastloss.cross_entropy(LABELS, dp, sample_weight=da.zeros(NR, chunks=100))
    with pytest.raises(ValueError, match="sums to zero"):
        r.compute()


# ---------------------------------------------------------------------------
# laziness and errors


def _bomb(block):
    raise RuntimeError("computed too early")


def test_nothing_is_computed_before_compute():
    p = da.from_array(P1, chunks=5000).map_blocks(_bomb, dtype=np.float64)
    y = da.from_array(Y1, chunks=5000)
    w = da.from_array(W1, chunks=5000).map_blocks(_bomb, dtype=np.float64)
    results = [fastloss.mse(y, p), fastloss.mse(y, p, sample_weight=w), fastloss.mse.grad(y, p),
               *fastloss.mse.grad_hess(y, p, sample_weight=w),
               *fastloss.mse.value_and_grad(y, p, sample_weight=w)]
    for r in results:
        lazy(r)
        with pytest.raises(RuntimeError, match="too early"):
            r.compute()


def test_errors_at_call_time():
    y, p = da.from_array(Y1, chunks=5000), da.from_array(P1, chunks=5000)
    with pytest.raises(ValueError, match="y_true has shape"):
        fastloss.mse(y[:-1], p)
    with pytest.raises(ValueError, match="out="):
        fastloss.mse.grad(y, p, out=np.empty(N))
    with pytest.raises(ValueError, match="reduction"):
        fastloss.mse(y, p, reduction="avg")
    with pytest.raises(TypeError, match="unknown parameter"):
        fastloss.huber(y, p, alpha=1.0)
    with pytest.raises(ValueError, match="delta"):
        fastloss.huber(y, p, delta=-1.0)
    with pytest.raises(ValueError, match="sample_weight has 3 entries"):
        fastloss.mse(y, p, sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="y_pred must hold real numbers"):
        fastloss.mse(y, p.astype(np.complex128))
    with pytest.raises(NotImplementedError, match="CPU kernels"):
        fastloss.mse(y, p, backend="cuda")
    unknown = p[p > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fastloss.mse(unknown, unknown)


def test_errors_that_need_the_data_raise_at_compute():
    y, p = da.from_array(Y1, chunks=5000), da.from_array(P1, chunks=5000)
    bad_w = W1.copy()
    bad_w[-3] = -1.0
    r = fastloss.mse(y, p, sample_weight=da.from_array(bad_w, chunks=5000))
    with pytest.raises(ValueError, match="non-negative"):
        r.compute()
    zero = fastloss.mse(y, p, sample_weight=da.zeros(N, chunks=5000))
    with pytest.raises(ValueError, match="sums to zero"):
        zero.compute()
    neg = fastloss.tweedie(y, p, power=1.5)  # y has negative targets
    with pytest.raises(ValueError, match="y_true must be >= 0"):
        neg.compute()


# ---------------------------------------------------------------------------
# numpy.sum, bit for bit, across blocks


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 200, 1000, 4096, 9999, 50001])
def test_numpy_sum_across_blocks(n):
    rng = np.random.default_rng(n)
    w = rng.random(n) * 10.0 ** rng.uniform(-8, 8, n)
    ref = float(np.sum(w))
    chunkings = {c for c in (1, 3, 8, 100, 129, 1000, n) if n / c <= 200}
    chunkings.add(tuple(c for c in (n // 3, 1, n - n // 3 - 1) if c))
    for c in chunkings:
        got = fl_dask.numpy_sum(da.from_array(w, chunks=c)).compute()
        assert np.float64(got).tobytes() == np.float64(ref).tobytes(), (n, c)
    w32 = w.astype(np.float32)
    got = fl_dask.numpy_sum(da.from_array(w32, chunks=77)).compute()
    assert got == float(np.sum(w32.astype(np.float64)))


# ---------------------------------------------------------------------------
# schedulers: threads, synchronous, processes, and a distributed LocalCluster


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
def test_local_schedulers(scheduler):
    y, p = da.from_array(Y1, chunks=2222), da.from_array(P1, chunks=3333)
    w = da.from_array(W1, chunks=1111)
    v = fastloss.huber(y, p, sample_weight=w)
    r = fastloss.huber(Y2, da.from_array(P2, chunks=(33, 50)), axis=-1)
    g = fastloss.huber.grad(y, p, sample_weight=w)
    with dask.config.set(scheduler=scheduler, num_workers=4):
        v, r, g = dask.compute(v, r, g)
    same_bits(v, fastloss.huber(Y1, P1, sample_weight=W1))
    same_bits(r, fastloss.huber(Y2, P2, axis=-1))
    same_bits(g, fastloss.huber.grad(Y1, P1, sample_weight=W1))


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster:
            with distributed.Client(cluster) as c:
                yield c


def test_distributed_local_cluster(client):
    # the workers are other processes: they import fastloss and run the kernels there
    files = client.run(lambda: __import__("fastloss").__file__)
    assert len(files) == 2
    y, p = da.from_array(Y1, chunks=2222), da.from_array(P1, chunks=3333)
    w = da.from_array(W1, chunks=1111)
    with distributed.get_task_stream(client) as stream:
        results = client.compute([
            fastloss.huber(y, p, sample_weight=w),
            fastloss.huber(y, p, reduction="sum"),
            fastloss.huber(da.from_array(Y2, chunks=(33, 50)),
                           da.from_array(P2, chunks=(60, 40)), axis=-1, sample_weight=W_COLS),
            fastloss.huber(da.from_array(Y2, chunks=(33, 50)), P2, sample_weight=W_ROWS),
            fastloss.huber.grad(y, p, sample_weight=w),
            fastloss.cross_entropy(da.from_array(LABELS_IGN, chunks=150),
                                   da.from_array(LOGITS, chunks=(230, NC)), sample_weight=WR,
                                   class_weight=CW),
        ], sync=True)
    same_bits(results[0], fastloss.huber(Y1, P1, sample_weight=W1))
    same_bits(results[1], fastloss.huber(Y1, P1, reduction="sum"))
    same_bits(results[2], fastloss.huber(Y2, P2, axis=-1, sample_weight=W_COLS))
    same_bits(results[3], fastloss.huber(Y2, P2, sample_weight=W_ROWS))
    same_bits(results[4], fastloss.huber.grad(Y1, P1, sample_weight=W1))
    same_bits(results[5], fastloss.cross_entropy(LABELS_IGN, LOGITS, sample_weight=WR,
                                                 class_weight=CW))
    # the blocks ran on both workers
    assert len({t["worker"] for t in stream.data}) == 2
