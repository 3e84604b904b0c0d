"""The dispatcher: precedence, auto threshold, determinism over threads, thread and fork
safety, info(), cache hits in a fresh process, and CUDA absence."""

import json
import os
import sys
import threading

import numpy as np
import pytest

import fastloss
from fastloss import _backend
from tests.helpers import run_python


def test_precedence(monkeypatch):
    monkeypatch.setenv("FASTLOSS_BACKEND", "serial")
    assert fastloss.get_backend() == "serial"
    fastloss.set_backend("parallel")
    assert fastloss.get_backend() == "parallel"
    with fastloss.use_backend("cuda"):
        assert fastloss.get_backend() == "cuda"
        with fastloss.use_backend("serial"):
            assert fastloss.get_backend() == "serial"
            assert _backend.resolve("parallel", 10) == "parallel"  # per call wins
        assert fastloss.get_backend() == "cuda"
    assert fastloss.get_backend() == "parallel"
    fastloss.set_backend(None)
    assert fastloss.get_backend() == "serial"
    monkeypatch.delenv("FASTLOSS_BACKEND")
    assert fastloss.get_backend() == "auto"


def test_use_backend_is_per_thread():
    seen = []
    with fastloss.use_backend("serial"):
        t = threading.Thread(target=lambda: seen.append(fastloss.get_backend()))
        t.start()
        t.join()
    assert seen == ["auto"]


def test_auto_threshold(monkeypatch):
    t = _backend.parallel_threshold()
    assert _backend.resolve("auto", t - 1) == "serial"
    assert _backend.resolve("auto", t) == "parallel"
    t4 = _backend.parallel_threshold(4.0)  # elements x cost, the exp-log class's
    assert _backend.resolve("auto", t4 // 4 - 1, cost=4.0) == "serial"
    assert _backend.resolve("auto", t4 // 4, cost=4.0) == "parallel"
    assert _backend.resolve("auto", 10, on_device=True) == "cuda"
    monkeypatch.setenv("FASTLOSS_PARALLEL_THRESHOLD", "5")
    assert _backend.resolve("auto", 5) == "parallel"
    monkeypatch.setenv("FASTLOSS_PARALLEL_THRESHOLD", "many")
    with pytest.raises(ValueError, match="FASTLOSS_PARALLEL_THRESHOLD"):
        _backend.resolve("auto", 5)


def test_thresholds_per_cost_class(monkeypatch):
    assert [_backend.cost_class(c) for c in (0.5, 1.0, 2.0, 6.0, 8.0, 16.0)] == [
        "cheap", "cheap", "exp-log", "exp-log", "row-wise", "row-wise"]
    monkeypatch.setattr(_backend, "PARALLEL_THRESHOLDS",
                        {"cheap": 1000, "exp-log": 40_000, "row-wise": 800})
    assert _backend.resolve("auto", 999) == "serial"
    assert _backend.resolve("auto", 1000) == "parallel"
    assert _backend.resolve("auto", 9_999, cost=4.0) == "serial"  # 39_996 elements x cost
    assert _backend.resolve("auto", 10_000, cost=4.0) == "parallel"
    assert _backend.resolve("auto", 100, cost=8.0) == "parallel"
    assert _backend.resolve("serial", 10**9, cost=8.0) == "serial"
    monkeypatch.setenv("FASTLOSS_PARALLEL_THRESHOLD", "64")
    assert _backend.resolve("auto", 16, cost=4.0) == "parallel"  # one override for all
    assert _backend.resolve("auto", 15, cost=4.0) == "serial"


def test_a_pass_that_only_reduces_has_thresholds_of_its_own(monkeypatch):
    """The value with reduction "mean"/"sum" writes nothing per element: its own thresholds
    (VALUE_THRESHOLDS), on the fast paths and on the full road; a pass that writes (a
    gradient, reduction="none") keeps PARALLEL_THRESHOLDS."""
    monkeypatch.setattr(_backend, "PARALLEL_THRESHOLDS",
                        {"cheap": 1000, "exp-log": 4000, "row-wise": 80000})
    monkeypatch.setattr(_backend, "VALUE_THRESHOLDS",
                        {"cheap": 3000, "exp-log": 6000, "row-wise": 200000})
    assert _backend.resolve("auto", 2999, value_only=True) == "serial"
    assert _backend.resolve("auto", 3000, value_only=True) == "parallel"
    assert _backend.resolve("auto", 1000, value_only=False) == "parallel"
    assert _backend.resolve("auto", 1499, cost=4.0, value_only=True) == "serial"
    assert _backend.resolve("auto", 1500, cost=4.0, value_only=True) == "parallel"
    assert _backend.parallel_threshold(8.0, value_only=True) == 200000
    monkeypatch.setenv("FASTLOSS_PARALLEL_THRESHOLD", "64")
    assert _backend.resolve("auto", 64, value_only=True) == "parallel"  # overrides both
    monkeypatch.delenv("FASTLOSS_PARALLEL_THRESHOLD")

    seen = []
    real = _backend.resolve
    monkeypatch.setattr(_backend, "resolve",
                        lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal(2000), rng.standard_normal(2000)  # 2000: between the two
    labels, logits = rng.integers(0, 10, 200), rng.standard_normal((200, 10))
    w = rng.random(2000)
    cases = [
        (lambda: fastloss.mse(y, p), "serial"),  # the fast path
        (lambda: fastloss.mse(y, p, sample_weight=w), "serial"),
        (lambda: fastloss.mse(y.reshape(20, 100), p.reshape(20, 100), axis=-1), "serial"),
        (lambda: fastloss.mse(y, p, reduction="none"), "parallel"),  # writes each loss
        (lambda: fastloss.mse.grad(y, p), "parallel"),
        (lambda: fastloss.mse.value_and_grad(y, p), "parallel"),
        (lambda: fastloss.l1_penalty(p), "serial"),  # 2000 against 3000 and 1000
        (lambda: fastloss.l1_penalty.grad(p), "parallel"),
        # 200 float64 rows of 10: 200 x (60 + 10 x 1.8) x 8 = 124800, between the two
        (lambda: fastloss.cross_entropy(labels, logits), "serial"),
        (lambda: fastloss.cross_entropy(labels, logits, label_smoothing=0.1,
                                        sample_weight=rng.random(200)), "serial"),
        (lambda: fastloss.cross_entropy.grad(labels, logits), "parallel"),
    ]
    for i, (f, want) in enumerate(cases):
        seen.clear()
        f()
        assert seen and seen[-1] == want, (i, seen)


def test_float32_elements_of_cheap_losses_count_less(monkeypatch):
    """A float32 element of a cheap loss counts FLOAT32_CHEAP of a float64 one (its loop
    runs twice the lanes), on the fast paths and the full road alike; a float32 exp/log
    loss counts whole."""
    monkeypatch.setattr(_backend, "PARALLEL_THRESHOLDS",
                        {"cheap": 1000, "exp-log": 1000, "row-wise": 80000})
    monkeypatch.setattr(_backend, "FLOAT32_CHEAP", 0.5)
    assert _backend.work(1999, 1.0, np.dtype(np.float32)) == 999.5
    assert _backend.work(1999, 2.0, np.dtype(np.float32)) == 1999
    assert _backend.work(1999, 1.0, np.dtype(np.float64)) == 1999
    seen = []
    real = _backend.resolve
    monkeypatch.setattr(_backend, "resolve",
                        lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal(1999), rng.standard_normal(1999)
    y32, p32 = y.astype(np.float32), p.astype(np.float32)
    z32 = (y32 > 0).astype(np.float32)
    cases = [
        (lambda: fastloss.mse.grad(y32, p32), "serial"),  # 999.5 elements: under 1000
        (lambda: fastloss.mse.grad(y, p), "parallel"),
        (lambda: fastloss.mse.grad(y32[::-1], p32), "serial"),  # the full road
        (lambda: fastloss.l1_penalty.grad(p32), "serial"),  # a loss of one array
        (lambda: fastloss.l1_penalty.grad(p), "parallel"),
        (lambda: fastloss.binary_cross_entropy_with_logits.grad(z32, p32), "parallel"),
        (lambda: fastloss.mse.grad(y32[:2000:2].repeat(4), p32[:2000:2].repeat(4)), "parallel"),
    ]
    for i, (f, want) in enumerate(cases):
        seen.clear()
        f()
        assert seen and seen[-1] == want, (i, seen)


def test_range_checks_follow_the_calls_backend(monkeypatch):
    """first_outside runs the parallel count only where the call's backend allows it."""
    from fastloss import _checks as checks

    seen = []
    real = {"serial": checks._serial, "parallel": checks._parallel}
    for k in real:
        monkeypatch.setattr(checks, f"_{k}", lambda *a, k=k: seen.append(k) or real[k](*a))
    a = np.linspace(-1.0, 1.0, 200_001)  # above every threshold
    assert checks.first_outside(a, -1.0, 1.0, "serial") == -1
    assert checks.first_outside(a, 0.0, 1.0, "parallel") == 0
    assert checks.first_outside(a, -1.0, 0.5, None) == np.argmax(a > 0.5)  # auto: by size
    with pytest.raises(ValueError, match="position"):
        checks.check_range(a, 0.0, 1.0, "y", "p", backend="serial")
    assert seen == ["serial", "parallel", "parallel", "serial"]
    # through a loss: binary_cross_entropy's [0, 1] checks run on the call's backend (on
    # the full road: reduction="none"; a common call checks inside its kernel, no pass)
    seen.clear()
    y = np.clip(a, 0.0, 1.0)
    fastloss.binary_cross_entropy(y, np.full_like(y, 0.5), backend="serial")
    fastloss.binary_cross_entropy(y, np.full_like(y, 0.5), backend="parallel")
    assert seen == [], seen
    fastloss.binary_cross_entropy(y, np.full_like(y, 0.5), reduction="none", backend="serial")
    assert seen and set(seen) == {"serial"}, seen
    seen.clear()
    fastloss.binary_cross_entropy(y, np.full_like(y, 0.5), reduction="none",
                                  backend="parallel")
    assert seen and set(seen) == {"parallel"}, seen


@pytest.mark.parametrize("bad", ["gpu", "", None, 3])
def test_bad_backend_names(bad, monkeypatch):
    if bad is not None:
        with pytest.raises(ValueError, match="backend"):
            fastloss.mse([1.0], [2.0], backend=bad)
        with pytest.raises(ValueError, match="backend"):
            fastloss.set_backend(bad)
        with pytest.raises(ValueError, match="backend"):
            with fastloss.use_backend(bad):
                pass
    monkeypatch.setenv("FASTLOSS_BACKEND", "gpu")
    with pytest.raises(ValueError, match="FASTLOSS_BACKEND"):
        fastloss.mse([1.0], [2.0])


def test_backend_selection_really_runs(monkeypatch):
    """Both CPU backends run (and agree) through every way of choosing them."""
    y, p = np.random.default_rng(0).standard_normal((2, 50000))
    ref = fastloss.huber(y, p, backend="serial")
    with fastloss.use_backend("parallel"):
        assert fastloss.huber(y, p) == ref
    fastloss.set_backend("parallel")
    assert fastloss.huber(y, p) == ref


_DETERMINISM = """
import numpy as np, fastloss, json
rng = np.random.default_rng(7)
y, p = rng.standard_normal((2, 3, 100003))
w = rng.uniform(0, 2, 100003)
out = {}
for name in ("mse", "huber", "log_cosh"):
    L = getattr(fastloss, name)
    v, g = L.value_and_grad(y[0], p, sample_weight=w, backend="parallel")
    rows = L(y[0], p, axis=-1, backend="parallel")
    out[name] = [v.hex(), [float(r).hex() for r in rows], float(g.sum()).hex()]
print(json.dumps(out))
"""


def test_bits_identical_for_any_thread_count():
    results = []
    for threads in ("1", "2"):
        r = run_python(_DETERMINISM, {"NUMBA_NUM_THREADS": threads})
        assert r.returncode == 0, r.stderr
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    assert results[0] == results[1]
    # and the same as serial in this process
    rng = np.random.default_rng(7)
    y, p = rng.standard_normal((2, 3, 100003))
    w = rng.uniform(0, 2, 100003)
    v, _ = fastloss.mse.value_and_grad(y[0], p, sample_weight=w, backend="serial")
    assert v.hex() == results[0]["mse"][0]


def test_repeated_calls_identical(rng):
    y, p = rng.standard_normal((2, 200001))
    vals = {fastloss.log_cosh(y, p, backend="parallel") for _ in range(5)}
    assert len(vals) == 1


def test_many_threads_at_once(rng):
    y, p = rng.standard_normal((2, 100000))
    want_v, want_g = fastloss.huber.value_and_grad(y, p, backend="serial")
    errors = []

    def work(backend):
        try:
            for _ in range(10):
                v, g = fastloss.huber.value_and_grad(y, p, backend=backend)
                if v != want_v or not np.array_equal(g, want_g):
                    errors.append("mismatch")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=("parallel" if i % 2 else "serial",))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == []


_THREADS_WORKQUEUE = """
import threading, numpy as np, fastloss
y, p = np.random.default_rng(1).standard_normal((2, 100000))
ref = fastloss.mse(y, p, backend="serial")
bad = []
def work():
    for _ in range(20):
        if fastloss.mse(y, p, backend="parallel") != ref:
            bad.append(1)
ts = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
import numba
print("layer", numba.threading_layer(), "bad", len(bad))
"""


def test_threads_with_workqueue_layer():
    """workqueue aborts the process on concurrent parallel launches unless serialised."""
    r = run_python(_THREADS_WORKQUEUE, {"NUMBA_THREADING_LAYER": "workqueue"})
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "layer workqueue bad 0" in r.stdout


_FORK = """
import os, sys, numpy as np, fastloss
y, p = np.random.default_rng(2).standard_normal((2, 100000))
ref = fastloss.huber(y, p, backend="parallel")
pid = os.fork()
if pid == 0:
    ok = fastloss.huber(y, p, backend="parallel") == ref and fastloss.huber(y, p) == ref
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("layer", ["omp", "default"])
def test_forked_child_after_parallel_call(layer):
    env = {"NUMBA_THREADING_LAYER": layer} if layer != "default" else {}
    r = run_python(_FORK, env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "child 0" in r.stdout


def test_info():
    info = fastloss.info()
    for key in ("fastloss", "numpy", "numba", "threading_layer", "num_threads", "backends",
                "parallel_threshold", "cache_dir"):
        assert key in info
    assert set(info["backends"]) == {"serial", "parallel", "cuda"}
    assert info["parallel_threshold"] == _backend.parallel_threshold()


def test_cuda_unavailable_without_gpu():
    r = run_python(
        "import numpy as np, fastloss\n"
        "try:\n"
        "    fastloss.mse(np.ones(3), np.ones(3), backend='cuda')\n"
        "except fastloss.BackendUnavailableError as e:\n"
        "    print('unavailable:', e)\n"
        "else:\n"
        "    print('ran')\n",
        {"NUMBA_ENABLE_CUDASIM": "0"},
    )
    assert r.returncode == 0, r.stderr
    if "unavailable" in r.stdout:
        assert "cuda" in r.stdout.lower()
    assert issubclass(fastloss.BackendUnavailableError, RuntimeError)


def test_import_does_not_load_cuda_or_compile():
    r = run_python("import sys, fastloss\n"
                   "print('numba.cuda' in sys.modules, 'numba_cuda' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_disk_cache_hits_in_fresh_process(tmp_path):
    code = (
        "import numpy as np, fastloss\n"
        "from fastloss._kernels.compile import compiled\n"
        "fastloss.huber.value_and_grad(np.ones(10), np.zeros(10), backend='parallel')\n"
        "ks = [k for k in compiled('pointwise').values()]\n"
        "print(sum(sum(k.stats.cache_hits.values()) for k in ks),"
        " sum(sum(k.stats.cache_misses.values()) for k in ks))\n"
    )
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    first = run_python(code, env)
    second = run_python(code, env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.split() == ["0", "1"]
    assert second.stdout.split() == ["1", "0"]


def test_import_works_without_writable_cache(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # a cache folder below a file can never be created (even as root)
    r = run_python("import numpy as np, fastloss; print(fastloss.mse(np.ones(3), np.zeros(3)))",
                   {"NUMBA_CACHE_DIR": str(blocker / "cache")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1.0"


def test_cli_info():
    import subprocess

    r = subprocess.run([sys.executable, "-m", "fastloss", "info"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "threading_layer" in r.stdout and "parallel_threshold" in r.stdout


def test_info_before_any_parallel_call_keeps_the_tbb_layer():
    """``fastloss.info()``, the bench, or the user's own ``numba.set_num_threads`` start
    Numba's thread pool: TBB (a test dependency) must be visible by then, as before a
    parallel kernel, or the process settles on OpenMP, whose spinning threads slowed the
    fused linear cross-entropy 15x beside OpenBLAS."""
    for first in ("fastloss.info()", "fastloss.bench._numba_threads()",
                  "numba.set_num_threads(2)"):
        r = run_python(f"import numpy as np, numba, fastloss, fastloss.bench\n{first}\n"
                       "fastloss.mse(np.ones(10**6), np.zeros(10**6), backend='parallel')\n"
                       "print(numba.threading_layer())")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "tbb", first


def test_serial_kernel_never_loads_cached_parallel_one(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    call = "import numpy as np, fastloss; fastloss.mse(np.ones(10), np.zeros(10), backend='{}')"
    assert run_python(call.format("parallel"), env).returncode == 0
    r = run_python(call.format("serial") + "\nimport numba\n"
                   "try:\n    print(numba.threading_layer())\n"
                   "except ValueError:\n    print('no parallel runtime')", env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "no parallel runtime"


def test_row_wise_work_counts_each_rows_fixed_cost_and_float64(monkeypatch):
    """A row-wise call's work for the serial/parallel choice is N x (row_fixed + C x
    float64_factor for float64, + C for float32) times the loss's cost: many short rows go
    parallel before few long rows of as many values."""
    from fastloss._kinds import rowwise

    spec = fastloss.cross_entropy.spec
    assert rowwise.work(spec, 100, 10, np.dtype(np.float32)) == 100 * (spec.row_fixed + 10)
    assert rowwise.work(spec, 100, 10, np.dtype(np.float64)) == \
        100 * (spec.row_fixed + 10 * spec.float64_factor)
    assert rowwise.work(fastloss.log_loss.spec, 100, 2, np.dtype(np.float64)) == 200
    seen = []
    real = _backend.resolve
    monkeypatch.setattr(_backend, "resolve",
                        lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    rng = np.random.default_rng(0)
    short = rng.standard_normal((1200, 10)).astype(np.float32)  # 12000 values, 1200 rows
    long_ = rng.standard_normal((12, 1000)).astype(np.float32)  # 12000 values, 12 rows
    mid = rng.standard_normal((20, 1000))  # float64 counts 1.8x: parallel; float32: serial
    for z, want in ((short, "parallel"), (long_, "serial"), (mid, "parallel"),
                    (mid.astype(np.float32), "serial")):
        for op in (fastloss.cross_entropy, fastloss.cross_entropy.value_and_grad):
            seen.clear()
            op(rng.integers(0, z.shape[1], z.shape[0]), z)
            assert seen[-1] == want, (z.shape, z.dtype, op)


def test_linear_cross_entropy_goes_parallel_only_for_millions_of_logits(monkeypatch):
    """``linear_cross_entropy``'s BLAS products run on BLAS's threads under either backend:
    ``auto`` counts a logit as ``WORK_PER_LOGIT`` of a row-wise element, so 64 x 1024 logits
    (once parallel, and slower so) run serially and 2048 x 1024 in parallel."""
    from fastloss.losses import linear

    seen = []
    real = _backend.resolve
    monkeypatch.setattr(_backend, "resolve",
                        lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    rng = np.random.default_rng(0)
    d, V = 4, 1024
    w = rng.standard_normal((V, d))
    threshold = _backend.PARALLEL_THRESHOLDS["row-wise"]
    cost = fastloss.linear_cross_entropy.spec.cost
    for N, want in ((64, "serial"), (2048, "parallel")):
        assert (N * V * linear.WORK_PER_LOGIT * cost >= threshold) == (want == "parallel")
        h = rng.standard_normal((N, d))
        y = rng.integers(0, V, N)
        for op in (fastloss.linear_cross_entropy, fastloss.linear_cross_entropy.value_and_grad):
            seen.clear()
            op(y, h, w)
            assert seen[-1] == want, (N, op)
