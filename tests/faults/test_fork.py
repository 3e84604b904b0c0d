"""Fork while another thread is inside a first parallel call, or holds Numba's compiler
lock, or after the pool was started by the user's own code or by an interrupted call: the
child computes correct values (serially) and never hangs or dies."""

import ctypes.util
import os
import textwrap

import pytest

from ..helpers import run_python
from ._util import ROOT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

PRELUDE = textwrap.dedent("""
    import os, signal, sys, threading, time
    import numpy as np
    import fastloss as fl
    from fastloss import _backend
    y, p = np.random.default_rng(3).standard_normal((2, 5000))
    WANT = float(np.mean((p - y) ** 2))

    def in_child(fn, timeout=60):
        pid = os.fork()
        if pid == 0:
            signal.alarm(timeout)  # a hang ends as SIGALRM (exit status -14)
            try:
                ok = fn()
            except BaseException as exc:
                print("child raised", repr(exc), flush=True)
                ok = False
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def child_mse():
        v = fl.mse(y, p, backend="parallel")
        return abs(v - WANT) < 1e-12 and _backend.resolve("parallel", 10**9) == "serial"
""")

SCENARIOS = {
    # a thread is inside the first parallel call (holding the launch lock) at the fork
    "launch_lock": """
        entered, release = threading.Event(), threading.Event()
        def first_call():
            with _backend.parallel_launch():
                entered.set()
                release.wait()
        t = threading.Thread(target=first_call); t.start(); entered.wait()
        codes = [in_child(child_mse)]
        release.set(); t.join()
    """,
    # a thread holds Numba's compiler lock (it is compiling) at the fork
    "compiler_lock": """
        from numba.core.compiler_lock import global_compiler_lock
        entered, release = threading.Event(), threading.Event()
        def compiling():
            with global_compiler_lock:
                entered.set()
                release.wait()
        t = threading.Thread(target=compiling); t.start(); entered.wait()
        codes = [in_child(lambda: abs(fl.mae(y, p) - np.mean(np.abs(p - y))) < 1e-12)]
        release.set(); t.join()
    """,
    # the real thing: forks while a thread makes the first parallel call (compiling it,
    # then running it on 8e6 elements). The child runs the serial kernel the parent has
    # used already: a child that must compile while the parent was compiling in another
    # thread can hang in CPython's per-module import locks, which no library can reset.
    "first_parallel_call": """
        fl.mse(y, p, backend="serial")
        big = np.random.default_rng(4).standard_normal((2, 4_000_000))
        t = threading.Thread(target=lambda: fl.mse(big[0], big[1], backend="parallel"))
        t.start()
        codes = []
        for delay in (0.05, 0.1, 0.3, 0.6):
            time.sleep(delay)
            codes.append(in_child(child_mse))
        t.join()
        codes.append(in_child(child_mse))
    """,
    # the pool was started by the user's own parallel code
    "user_parallel_code": """
        import numba
        @numba.njit(parallel=True)
        def own(a):
            s = 0.0
            for i in numba.prange(a.shape[0]):
                s += a[i]
            return s
        own(np.ones(10**5))
        codes = [in_child(lambda: child_mse()
                          and fl.info()["backends"]["parallel"].startswith("serial"))]
    """,
    # the first parallel call was interrupted
    "interrupted_first_call": """
        try:
            with _backend.parallel_launch():
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        codes = [in_child(child_mse)]
    """,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fork(name, tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": ROOT}
    if name == "user_parallel_code" and ctypes.util.find_library("gomp"):
        env["NUMBA_THREADING_LAYER"] = "omp"  # the layer that kills such children
    code = PRELUDE + textwrap.dedent(SCENARIOS[name]) + "\nprint('codes', codes)\n"
    r = run_python(code, env, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    codes = r.stdout.split("codes")[-1].strip()
    assert set(eval(codes)) == {0}, r.stdout + r.stderr[-2000:]  # noqa: S307
