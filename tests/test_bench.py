"""`fastloss info` / `fastloss bench`, the NumPy baselines it times, and its roofline.

No test here asserts a timing: only that the command runs, that its output is complete
and consistent (bytes, ratios, JSON), and that what it compares against computes the same
quantity as the loss.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastloss
from fastloss import _numpy_baselines as NB
from fastloss import bench as B
from fastloss.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--no-progress", "--repeat", "1", "--min-time", "0.0005"]


def _bench_json(capsys, *argv):
    assert main(["bench", *argv, *FAST, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------------ CLI


def test_info_prints_every_key(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in fastloss.info():
        assert key in out
    assert main(["info", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["backends"]) == {"serial", "parallel", "cuda"}


def test_python_m_fastloss_info_runs_from_this_tree():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "fastloss", "info", "--json"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fastloss"] == fastloss.__version__


def test_bench_json_rows_are_complete(capsys):
    n = 20_000
    d = _bench_json(capsys, "--quick", "--loss", "mse", "--sizes", str(n),
                    "--backend", "serial,parallel")
    rows = d["results"]
    got = {(r["op"], r["backend"]) for r in rows}
    assert got == {(op, b) for op in ("value", "value_and_grad") for b in ("serial", "parallel")}
    for r in rows:
        assert r["loss"] == "mse" and r["n"] == n and r["dtype"] == "float64"
        assert r["time_s"] > 0 and r["gbps"] > 0
        # value reads y_true and y_pred; value_and_grad also writes the gradient
        assert r["bytes"] == (2 if r["op"] == "value" else 3) * n * 8
        assert r["gbps"] == pytest.approx(r["bytes"] / r["time_s"] / 1e9)
        assert r["roof_s"] > 0 and r["roof_frac"] == pytest.approx(r["roof_s"] / r["time_s"])
        assert r["numpy_s"] > 0 and r["x_numpy"] == pytest.approx(r["numpy_s"] / r["time_s"])
    assert d["machine"]["cores"] >= 1
    assert d["config"]["sizes"] == [n]


def test_bench_table_progress_and_ratio_columns(capsys):
    assert main(["bench", "--loss", "mse", "--op", "value", "--backend", "serial",
                 "--sizes", "1e4,2e4", "--repeat", "1", "--min-time", "0.0005"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    head = next(ln for ln in lines if ln.startswith("loss"))
    for col in ("time", "GB/s", "roof", "xNumPy"):
        assert col in head
    body = [ln for ln in lines if ln.startswith("mse ")]
    assert len(body) == 2  # two sizes
    assert "2/2" in cap.err and "100%" in cap.err  # progress


def test_bench_markdown_table(capsys):
    assert main(["bench", "--loss", "mse", "--op", "value", "--backend", "serial",
                 "--sizes", "1e3", "--no-compare", "--markdown", *FAST]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("|")]
    assert lines[0].startswith(
        "| loss | op | backend | dtype | n | time | ns/el | GB/s | roof | xNumPy |")
    assert lines[2].startswith("| mse | value | serial | float64 | 1e+03 |")
    assert len(lines) == 3


def test_bench_grid_sizes_backends_dtypes_and_ns_per_element(capsys):
    """--grid: each size on its own backend, both dtypes; ns/el is time over n."""
    d = _bench_json(capsys, "--grid", "--loss", "mse", "--op", "value", "--no-compare")
    got = sorted((r["n"], r["backend"], r["dtype"]) for r in d["results"])
    want = sorted((n, b, dt) for n, bs in B.GRID.items() for b in bs
                  for dt in ("float32", "float64"))
    assert got == want
    for r in d["results"]:
        assert r["ns_per_el"] == pytest.approx(r["time_s"] / r["n"] * 1e9)


def test_bench_named_libraries_only(capsys):
    """--torch alone: a torch column and no sklearn column (sklearn has mse)."""
    pytest.importorskip("torch")
    d = _bench_json(capsys, "--loss", "mse", "--op", "value", "--backend", "serial",
                    "--sizes", "1e3", "--torch")
    (r,) = d["results"]
    assert r["torch_s"] is not None and r["sklearn_s"] is None and r["jax_s"] is None


def test_bench_loss_without_baseline_shows_dash(capsys, monkeypatch):
    monkeypatch.delitem(NB.BASELINES, "mae")
    d = _bench_json(capsys, "--loss", "mae", "--op", "value", "--backend", "serial",
                    "--sizes", "1e4", "--no-compare")
    (row,) = d["results"]
    assert row["numpy_s"] is None and row["x_numpy"] is None and row["time_s"] > 0
    assert main(["bench", "--loss", "mae", "--op", "value", "--backend", "serial",
                 "--sizes", "1e4", "--no-compare", *FAST]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("mae"))
    assert line.split()[-1] == "-"


def test_bench_cuda_not_usable_is_a_clean_message(capsys, monkeypatch):
    from fastloss import _backend

    monkeypatch.setattr(_backend, "cuda_unavailable_reason", lambda: "no GPU in this test")
    assert main(["bench", "--backend", "cuda", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "'cuda' is not usable here: no GPU in this test" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, msg", [
    (["--loss", "no_such_loss"], "unknown loss"),
    (["--op", "hessian"], "unknown op"),
    (["--dtype", "float16"], "dtype must be"),
])
def test_bench_bad_arguments_are_named(capsys, argv, msg):
    assert main(["bench", "--backend", "serial", "--sizes", "1e3", *argv, *FAST]) == 2
    assert msg in capsys.readouterr().err


def test_bench_json_to_file_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    js, png = tmp_path / "b.json", tmp_path / "b.png"
    assert main(["bench", "--loss", "mse", "--op", "value_and_grad", "--backend", "serial",
                 "--sizes", "1e3,1e4", "--no-compare", "--json", str(js), "--plot", str(png),
                 *FAST]) == 0
    assert len(json.loads(js.read_text())["results"]) == 2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plot of value_and_grad" in capsys.readouterr().err


def test_calibrate_on_tiny_sizes(capsys):
    d = _bench_json(capsys, "--calibrate", "--loss", "mse", "--sizes", "1000,4000")
    assert [p["n"] for p in d["points"]] == [1000, 4000]
    for p in d["points"]:
        assert p["serial_s"] > 0 and p["parallel_s"] > 0
        assert p["speedup"] == pytest.approx(p["serial_s"] / p["parallel_s"])
    assert d["current_threshold"] == fastloss._backend.parallel_threshold()
    assert set(d["losses"]) == {"mse"}
    assert main(["bench", "--calibrate", "--loss", "mse", "--sizes", "1000", *FAST]) == 0
    out = capsys.readouterr().out
    assert "FASTLOSS_PARALLEL_THRESHOLD" in out or "keep the current threshold" in out


def _pts(speedups, sizes=(1000, 2000, 4000, 8000)):
    return [B.CalibrationPoint("x", n, s, 1.0) for n, s in zip(sizes, speedups, strict=True)]


def test_crossover_interpolates_where_parallel_starts_to_win():
    # speedup 0.5 at 2000 and 2.0 at 4000: log-midpoint, 2000 * sqrt(2)
    assert B._crossover(_pts([0.25, 0.5, 2.0, 4.0])) == pytest.approx(2000 * 2**0.5)
    assert B._crossover(_pts([2.0, 0.5, 2.0, 4.0])) == pytest.approx(2000 * 2**0.5)
    assert B._crossover(_pts([0.1, 0.2, 0.5, 0.9])) is None
    assert B._crossover(_pts([1.5, 2.0, 3.0, 4.0])) == 1000


# ---------------------------------------------------------------------- roofline


@pytest.mark.parametrize("backend", ["serial", "parallel"])
def test_roofline_kernel_reads_and_writes_every_byte(backend):
    call = B.roofline_call(8 * 100_003, 8 * 50_001, backend)
    call()
    rd, wr = B._ROOF_BUFS[(8 * 100_003, 8 * 50_001)]
    assert rd.size == 100_003 and wr.size == 50_001
    wr[:] = np.nan
    call()
    assert not np.isnan(wr).any()
    total = B._roof_kernel(backend == "parallel")(rd, wr)
    assert total == pytest.approx(rd.sum(), rel=1e-12)


def test_nbytes_and_shapes():
    a = np.zeros(10)
    assert B.nbytes_of(1.5) == 0
    assert B.nbytes_of((a, (a[:5], 2.0))) == 120
    assert B.shape_for(fastloss.REGISTRY["mse"], 1000) == (1000,)


# ---------------------------------------------------------------- NumPy baselines


def test_numpy_baselines_name_registered_losses():
    """A baseline is optional (``fastloss bench`` shows '-' in the xNumPy column of a loss
    without one); each one names a loss, and every loss of the families shipped so far
    has one."""
    assert set(NB.BASELINES) <= set(fastloss.REGISTRY)
    shipped = {"regression", "classification", "adversarial", "contrastive", "penalties",
               "linear"}
    missing = sorted(n for n, s in fastloss.REGISTRY.items()
                     if s.family in shipped and n not in NB.BASELINES)
    assert not missing, missing


def _close(a, b, dtype):
    rtol = 1e-10 if np.dtype(dtype) == np.float64 else 2e-5
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=rtol, atol=rtol * 1e-3)


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(set(fastloss.REGISTRY) & set(NB.BASELINES)))
def test_numpy_baseline_computes_what_the_loss_computes(name, dtype):
    spec = fastloss.REGISTRY[name]
    loss = getattr(fastloss, name)
    args, params = B.make_inputs(spec, 256, dtype, seed=3)
    base = NB.BASELINES[name]
    kw = dict(params, backend="serial")
    _close(base.value(*args, **params), loss(*args, **kw), dtype)
    if base.value_and_grad is not None:
        v, g = base.value_and_grad(*args, **params)
        lv, lg = loss.value_and_grad(*args, **kw)
        _close(v, lv, dtype)
        for x, y in zip(_as_tuple(g), _as_tuple(lg), strict=True):
            assert np.shape(x) == np.shape(y)
            _close(x, y, dtype)
    if base.grad_hess is not None:
        for x, y in zip(base.grad_hess(*args, **params), loss.grad_hess(*args, **kw),
                        strict=True):
            _close(x, y, dtype)


@pytest.mark.parametrize("lib", ["torch", "sklearn", "jax"])
def test_library_comparisons_compute_the_same_loss(lib):
    """The torch columns time the same quantity (value and autograd gradient); sklearn's
    metrics the same value (its ``sklearn._loss`` objects are half-scaled twins, timed for
    the work, so only their metric values are checked)."""
    pytest.importorskip(lib)
    refs = {"torch": B._torch_refs, "sklearn": B._sklearn_refs, "jax": B._jax_refs}[lib]()
    checked = 0
    for name in sorted(set(refs) & set(fastloss.REGISTRY)):
        spec = fastloss.REGISTRY[name]
        loss = getattr(fastloss, name)
        args, params = B.make_inputs(spec, 256, "float64", seed=4)
        if lib in ("torch", "jax"):
            v, g = refs[name]["value_and_grad"](*args, **params)
            lv, lg = loss.value_and_grad(*args, **params, backend="serial")
            _close(v, lv, "float64")
            for x, y in zip(_as_tuple(g), _as_tuple(lg), strict=True):
                _close(x, y, "float64")
            checked += 1
        elif name in B.SKLEARN_METRIC_VALUES:  # "value" is a sklearn.metrics function
            _close(refs[name]["value"](*args, **params), loss(*args, **params), "float64")
            checked += 1
    assert checked >= 2


def _torch_cases():
    """Baselines of losses PyTorch has, checked against autograd now, before (or whether
    or not) the loss itself is registered: inputs, torch function, differentiable args."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    probs = rng.random((12, 5))
    probs /= probs.sum(1, keepdims=True)
    lab = rng.integers(0, 5, 12)
    lab[3] = -100
    cw = rng.random(5) + 0.5
    x = rng.normal(size=(12, 5)) * 2
    yb = (rng.random((12, 5)) > 0.5) * 1.0
    a, po, ne = (rng.normal(size=(10, 4)) for _ in range(3))
    pm1 = np.where(rng.random(10) > 0.5, 1.0, -1.0)
    return [
        ("binary_cross_entropy", (yb, rng.uniform(0.01, 0.99, (12, 5))), {},
         lambda y, p: F.binary_cross_entropy(p, y), (1,)),
        ("binary_cross_entropy_with_logits", (yb, x), {"pos_weight": cw},
         lambda y, z, pos_weight: F.binary_cross_entropy_with_logits(
             z, y, pos_weight=torch.from_numpy(pos_weight)), (1,)),
        ("cross_entropy", (lab, x), {"class_weight": cw, "label_smoothing": 0.1},
         lambda t, z, class_weight, label_smoothing: F.cross_entropy(
             z, t.long(), weight=torch.from_numpy(class_weight),
             label_smoothing=label_smoothing), (1,)),
        ("cross_entropy", (probs, x), {},
         lambda t, z: F.cross_entropy(z, t), (1,)),
        ("kl_divergence", (probs, probs[::-1].copy()), {},
         lambda p, q: F.kl_div(torch.log(q), p, reduction="batchmean"), (1,)),
        ("triplet_margin", (a, po, ne), {"swap": True, "p": 3},
         lambda a, b, c, swap, p: F.triplet_margin_loss(a, b, c, swap=swap, p=p), (0, 1, 2)),
        ("cosine_embedding", (a, po, pm1), {"margin": 0.3},
         lambda u, v, y, margin: F.cosine_embedding_loss(u, v, y, margin=margin), (0, 1)),
        ("info_nce", (a, po), {"temperature": 0.3},
         lambda q, k, temperature: F.cross_entropy(
             F.normalize(q) @ F.normalize(k).T / temperature, torch.arange(len(q))), (0, 1)),
    ]


def test_numpy_baselines_match_torch_autograd():
    import torch

    for name, args, params, tfn, diff in _torch_cases():
        v, g = NB.BASELINES[name].value_and_grad(*args, **params)
        ts = [torch.from_numpy(np.asarray(arg)) for arg in args]
        for i in diff:
            ts[i].requires_grad_(True)
        tv = tfn(*ts, **params)
        tv.backward()
        _close(v, tv.item(), "float64")
        for mine, i in zip(_as_tuple(g), diff, strict=True):
            _close(mine, ts[i].grad.numpy(), "float64")
