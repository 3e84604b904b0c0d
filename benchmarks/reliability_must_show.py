"""Reliability evidence: the twelve fault reproductions before and after, a race of
concurrent first compiles into one fresh cache, and a SIGINT sweep over compile delays.

    python benchmarks/reliability_must_show.py [--before REV] [--racers 6] [--rounds 1]

``--before`` is the git revision whose ``fastloss/`` is the "before" column (extracted to a
temporary folder with ``git archive``); ``--before none`` skips that column. Every
reproduction runs in a fresh interpreter with its own fresh cache folder. Prints a table,
the race result and the sweep; takes 2-3 minutes on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.faults import _util  # noqa: E402
from tests.faults.test_sigint import sweep  # noqa: E402

# name -> (guarding test, setup run first in the same cache (or None), reproduction)
REPROS = {
    "1 out=np.matrix": (
        "tests/test_reliability.py::test_out_may_be_an_ndarray_subclass_written_correctly",
        None,
        """
        import gc, numpy as np, fastloss as fl
        y, p = np.zeros((3, 4)), np.ones((3, 4))
        outs = []
        for f, a in ((fl.mse.grad, (y, p)), (fl.l2_penalty.grad, (p,)),
                     (fl.gan_generator.grad, (p,))):
            m = np.asmatrix(np.zeros((3, 4))); f(*a, out=m); outs.append(np.asarray(m))
        junk = [np.ones(100) for _ in range(10000)]; del junk; gc.collect()
        print("result: correct", all(np.array_equal(o, f(*a)) for o, (f, a) in zip(outs, (
            (fl.mse.grad, (y, p)), (fl.l2_penalty.grad, (p,)), (fl.gan_generator.grad, (p,))))))
    """,
    ),
    "2 overlapping out": (
        "tests/test_reliability.py::test_pointwise_out_overlapping_an_input_is_refused",
        None,
        """
        import numpy as np, fastloss as fl
        buf = np.arange(1001.0) / 1001; p = buf[:1000]; y = np.zeros(1000)
        want = fl.huber.grad(y, p.copy(), backend="parallel")
        try:
            g = fl.huber.grad(y, p, out=buf[1:], backend="parallel")
            print("result: no error, gradient correct:", bool(np.array_equal(g, want)))
        except ValueError as e:
            print("result: ValueError:", str(e)[:45])
    """,
    ),
    "3 cache poisoning (swapped .nbc)": (
        "tests/faults/test_cache_corruption.py::test_swapped_data_files_never_load_as_"
        "another_kernel",
        """
        import numpy as np, fastloss as fl
        y, p = np.zeros(10), np.ones(10)
        fl.mse(y, p, backend="serial"); fl.mse.grad(y, p, backend="serial")
        import os, glob
        from pathlib import Path
        d = os.environ["NUMBA_CACHE_DIR"]
        f = sorted(glob.glob(d + "/**/*mse*.nbc", recursive=True))
        a, b = Path(f[0]).read_bytes(), Path(f[1]).read_bytes()
        Path(f[0]).write_bytes(b); Path(f[1]).write_bytes(a)
    """,
        """
        import numpy as np, fastloss as fl
        y, p = np.zeros(10), np.ones(10)
        v = fl.mse(y, p, backend="serial")
        print("result: value", v, "(want 1.0), y_pred untouched:", bool((p == 1).all()))
    """,
    ),
    "4 mse.grad overflow": (
        "tests/test_reliability.py::test_mse_gradient_finite_where_the_true_gradient_is",
        None,
        """
        import numpy as np, fastloss as fl
        print("result", fl.mse.grad(np.zeros(2), np.array([1e308, -1e308])).tolist())
    """,
    ),
    "5 truncated .nbc": (
        "tests/faults/test_cache_corruption.py::test_damaged_files_are_misses_then_rewritten",
        """
        import numpy as np, fastloss as fl, glob, os
        fl.mse(np.zeros(10), np.ones(10), backend="serial")
        for f in glob.glob(os.environ["NUMBA_CACHE_DIR"] + "/**/*mse*.nbc", recursive=True):
            data = open(f, "rb").read(); open(f, "wb").write(data[:len(data) // 2])
    """,
        """
        import numpy as np, fastloss as fl
        try:
            print("result: value", fl.mse(np.zeros(10), np.ones(10), backend="serial"))
        except Exception as e:
            print("result:", type(e).__name__)
    """,
    ),
    "6 full disk": (
        "tests/faults/test_cache_disk.py::test_full_disk_compiles_without_cache",
        None,
        """
        import errno
        from numba.core import caching
        def full(self, path):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        caching.IndexDataCacheFile._open_for_write = full  # what a full disk does
        import numpy as np, fastloss as fl
        try:
            print("result: value", fl.mse(np.zeros(10), np.ones(10), backend="serial"))
        except OSError as e:
            print("result: OSError errno", e.errno)
    """,
    ),
    "7 read-only warm cache": (
        "tests/faults/test_cache_disk.py::test_read_only_warm_cache_is_read",
        """
        import numpy as np, fastloss as fl
        fl.mse(np.zeros(10), np.ones(10), backend="serial")
    """,
        """
        import os, errno
        from numba.core import caching
        ro = os.environ["NUMBA_CACHE_DIR"]
        _access = os.access
        os.access = lambda p, m, *a, **k: (False if str(p).startswith(ro) and m & os.W_OK
                                           else _access(p, m, *a, **k))
        _mk = os.makedirs
        def makedirs(p, *a, **k):
            if str(p).startswith(ro) and not os.path.isdir(p):
                raise OSError(errno.EROFS, "read-only", p)
            return _mk(p, *a, **k)
        os.makedirs = makedirs
        import tempfile
        _tf = tempfile.TemporaryFile
        def tf(*a, dir=None, **k):
            if dir and str(dir).startswith(ro):
                raise OSError(errno.EROFS, "read-only", dir)
            return _tf(*a, dir=dir, **k)
        tempfile.TemporaryFile = tf
        import numpy as np, fastloss as fl
        from fastloss._kernels.compile import compiled
        fl.mse(np.zeros(10), np.ones(10), backend="serial")
        hits = sum(sum(k.stats.cache_hits.values()) for k in compiled('pointwise').values())
        print("result: cache hits", hits, "| info cache_dir in it:",
              fl.info()["cache_dir"].startswith(ro))
    """,
    ),
    "8 fork in first parallel call": (
        "tests/faults/test_fork.py::test_fork[launch_lock]",
        None,
        """
        import os, signal, threading, numpy as np, fastloss as fl
        from fastloss import _backend
        fl.mse(np.zeros(10), np.ones(10), backend="serial")
        e, r = threading.Event(), threading.Event()
        def first():
            with _backend.parallel_launch():
                e.set(); r.wait()
        t = threading.Thread(target=first); t.start(); e.wait()
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)
            os._exit(0 if fl.mse(np.zeros(10), np.ones(10), backend="parallel") == 1 else 3)
        _, st = os.waitpid(pid, 0); r.set(); t.join()
        print("result: child exit", os.waitstatus_to_exitcode(st), "(-14: hung, killed)")
    """,
    ),
    "9 fork after user's parallel code": (
        "tests/faults/test_fork.py::test_fork[user_parallel_code]",
        None,
        """
        import os, numba, numpy as np, fastloss as fl
        @numba.njit(parallel=True)
        def own(a):
            s = 0.0
            for i in numba.prange(a.shape[0]):
                s += a[i]
            return s
        own(np.ones(10**5))
        pid = os.fork()
        if pid == 0:
            os._exit(0 if fl.mse(np.zeros(10), np.ones(10), backend="parallel") == 1 else 3)
        _, st = os.waitpid(pid, 0)
        print("result: child exit", os.waitstatus_to_exitcode(st))
    """,
    ),
    "10 SIGINT in first compile": ("tests/faults/test_sigint.py", None, None),
    "11 use_backend in asyncio": (
        "tests/test_reliability.py::test_use_backend_is_local_to_asyncio_tasks",
        None,
        """
        import asyncio, fastloss as fl
        seen = {}
        async def a(e1, e2):
            with fl.use_backend("serial"):
                e1.set(); await e2.wait()
        async def b(e1, e2):
            await e1.wait(); seen["b"] = fl.get_backend(); e2.set()
        async def main():
            e1, e2 = asyncio.Event(), asyncio.Event()
            await asyncio.gather(a(e1, e2), b(e1, e2))
        asyncio.run(main())
        print("result: other task sees", seen["b"], "(want auto)")
    """,
    ),
    "12 boosting class_weight": (
        "tests/test_reliability.py::test_boosting_objective_takes_class_weight",
        None,
        """
        from fastloss.integrations.xgboost import objective
        try:
            objective("cross_entropy", class_weight=[1.0, 2.0, 0.5]); print("result: ok")
        except Exception as e:
            print("result:", type(e).__name__, str(e)[:40])
    """,
    ),
}


def _py(code, root, cache, timeout=120):
    env = dict(os.environ, PYTHONPATH=root, NUMBA_CACHE_DIR=cache, NUMBA_THREADING_LAYER="omp")
    try:
        r = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=root,
        )
    except subprocess.TimeoutExpired:
        return f"hung ({timeout} s)"
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("result")]
    if lines:
        return lines[-1][len("result") :].strip(" :")
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    return f"exit {r.returncode}: {last[:60]}"


def repro(name, root):
    _, setup, code = REPROS[name]
    cache = tempfile.mkdtemp(prefix="fl-must-")
    try:
        if setup:
            _py(setup, root, cache)
        return _py(code, root, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def sigint_summary(root, delays, rounds):
    counts = {"during": 0, "after": 0, "swallowed/other": 0, "bad": 0}
    cache = tempfile.mkdtemp(prefix="fl-sig-")
    old = _util.ROOT
    _util.ROOT = root
    try:
        for _ in range(rounds):
            try:
                reports = sweep(cache, delays)
            except AssertionError as e:  # a process died
                counts["swallowed/other"] += len(delays)
                print("   sweep process failed:", str(e).splitlines()[-1][:100])
                continue
            for r in reports:
                if r["events"] == ["interrupted"]:
                    counts["during"] += 1
                elif r["events"] == ["finished", "interrupted"]:
                    counts["after"] += 1
                else:
                    counts["swallowed/other"] += 1
                counts["bad"] += bool(r["bad"]) or not r["numba_ok"]
        later = [
            _util.run(
                "print(json.dumps({'bad': check(ops=('value', 'grad'), "
                "backends=('serial', 'parallel')), **stats()}))",
                cache,
            )
            for _ in range(2)
        ]
        counts["new processes correct"] = all(r["bad"] == [] for r in later)
    except AssertionError as e:
        counts["new processes correct"] = f"failed: {str(e).splitlines()[0][:60]}"
    finally:
        _util.ROOT = old
        shutil.rmtree(cache, ignore_errors=True)
    return counts


def race(racers):
    from tests.faults.test_cache_race import LATER, RACER

    tmp = tempfile.mkdtemp(prefix="fl-race-")
    cache, go = os.path.join(tmp, "cache"), os.path.join(tmp, "go")
    try:
        procs = [_util.popen(RACER, cache, RACE_ORDER=i % 4, RACE_GO=go) for i in range(racers)]
        time.sleep(1.5)
        open(go, "w").close()
        res = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            res.append(
                json.loads(out.strip().splitlines()[-1])
                if p.returncode == 0
                else {"bad": [f"exit {p.returncode}"], "misses": 0, "hits": 0}
            )
        later = [_util.run(LATER, cache) for _ in range(3)]
        return res, later
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--before", default="22b77f6", help="git revision of the 'before' column, or 'none'"
    )
    ap.add_argument("--racers", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=1, help="SIGINT sweep rounds")
    args = ap.parse_args()
    t0 = time.monotonic()
    print(f"load average at start: {os.getloadavg()}")
    before = None
    if args.before != "none":
        before = tempfile.mkdtemp(prefix="fl-before-")
        arch = subprocess.run(
            ["git", "-C", ROOT, "archive", args.before, "fastloss"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", before], input=arch, check=True)
    delays = (0.0, 0.1, 0.3, 0.6, 1.0, 1.6)
    try:
        print("\n| # | reproduction | before | after | guarding test |")
        print("|---|---|---|---|---|")
        for name, (test, _, code) in REPROS.items():
            if code is None:
                b = sigint_summary(before, delays, args.rounds) if before else "-"
                a = sigint_summary(ROOT, delays, args.rounds)
            else:
                b = repro(name, before) if before else "-"
                a = repro(name, ROOT)
            num, _, title = name.partition(" ")
            print(f"| {num} | {title} | {b} | {a} | {test} |", flush=True)

        print(
            f"\nrace: {args.racers} processes compile mse value+grad, float32+float64, "
            "serial, into one fresh cache at once"
        )
        res, later = race(args.racers)
        print(
            f"  racers correct, y_pred untouched: {all(r['bad'] == [] for r in res)}; "
            f"compiles {sum(r['misses'] for r in res)} (4 kernel signatures), loads "
            f"{sum(r['hits'] for r in res)}"
        )
        print(
            f"  3 later processes: correct and y_pred untouched: "
            f"{all(r['bad'] == [] for r in later)}; loads {[r['hits'] for r in later]}, "
            f"compiles {[r['misses'] for r in later]}"
        )
        print(
            f"\nSIGINT sweep: {args.rounds} round(s) x {len(delays)} processes, delays "
            f"{delays} s after each is ready, one shared fresh cache (row 10 above)"
        )
    finally:
        if before:
            shutil.rmtree(before, ignore_errors=True)
    print(f"\nload average at end: {os.getloadavg()}; {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
