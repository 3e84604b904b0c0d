"""Helpers of the fault scenarios: fresh interpreters on a given cache folder, and a check
script whose every result is compared with NumPy formulas and whose inputs must come back
untouched."""

import contextlib
import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# mse's value, gradient and Hessian of the mean, written from the formula.
CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastloss as fl
    from fastloss._kernels.compile import compiled

    def check(backends=("serial",), dtypes=(np.float64,), ops=None):
        bad = []
        for dt in dtypes:
            rng = np.random.default_rng(7)
            y = rng.standard_normal(300).astype(dt)
            p = rng.standard_normal(300).astype(dt)
            p0 = p.copy()
            d = p.astype(np.float64) - y
            want = {"value": np.mean(d * d), "grad": 2 * d / d.size, "hess": 2 / d.size}
            tol = 1e-12 if dt == np.float64 else 1e-5
            for be in backends:
                got = {}
                for op in ops or ("value", "grad", "value_and_grad", "grad_hess"):
                    if op == "value":
                        got["value"] = fl.mse(y, p, backend=be)
                    elif op == "grad":
                        got["grad"] = fl.mse.grad(y, p, backend=be)
                    elif op == "value_and_grad":
                        got["value"], got["grad"] = fl.mse.value_and_grad(y, p, backend=be)
                    else:
                        got["grad"], got["hess"] = fl.mse.grad_hess(y, p, backend=be)
                    for k, v in got.items():
                        if not np.allclose(v, want[k], rtol=tol, atol=tol):
                            bad.append(f"{op} {be} {np.dtype(dt).name}: {k} wrong")
                    if not np.array_equal(p, p0):
                        bad.append(f"{op} {be} {np.dtype(dt).name}: y_pred modified")
                        p[...] = p0
        return bad

    def stats():
        hits = misses = 0
        for k in list(compiled('pointwise').values()):
            hits += sum(k.stats.cache_hits.values())
            misses += sum(k.stats.cache_misses.values())
        return {"hits": hits, "misses": misses}
""")


def env_for(cache_dir, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def script(body: str) -> str:
    return CHECK + textwrap.dedent(body)


def run(body: str, cache_dir, timeout=240, **env):
    """Run ``CHECK + body`` in a fresh interpreter; the last stdout line parsed as JSON."""
    r = subprocess.run(
        [sys.executable, "-c", script(body)],
        env=env_for(cache_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def popen(body: str, cache_dir, **env):
    return subprocess.Popen(
        [sys.executable, "-c", script(body)],
        env=env_for(cache_dir, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@contextlib.contextmanager
def reaped(procs):
    """``with reaped(procs):`` kills and waits for each process still running at the end, so
    that a failed check leaves no process (nor its pipes) behind."""
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()


def kernel_files(cache_dir, stem="pointwise_mse_scalar", ext=".nbc"):
    out = []
    for dirpath, _, names in os.walk(cache_dir):
        out += [os.path.join(dirpath, n) for n in names if stem in n and n.endswith(ext)]
    return sorted(out)
