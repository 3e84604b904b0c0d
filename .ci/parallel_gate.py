#!/usr/bin/env python
"""The parallel gate: HEAD against the asv gate's baseline commit, for the parallel kernels.

The asv gate (.ci/asv_gate.py) times serial calls, so it cannot see a parallel slowdown: a
``prange`` that lost its parallelism, a lock, a worse split of the work. This gate times a
few representative losses with ``backend="parallel"`` on every thread: the minimum wall
time of one call (CPU time would count the pool's spinning).

Why not asv: on the 2-vCPU CI machine a parallel call's cost has two states that last
minutes, whatever the code (``mse`` float32 at 1e5: about 11 us in one, 18 us in the other;
docs/performance.md, "Parallel calls on a virtual machine"). asv times one commit, then the
other, minutes apart. This gate interleaves: ROUNDS rounds of one fresh process per commit,
baseline then HEAD, and keeps each side's minimum over the rounds. A benchmark slower than
FACTOR fails the gate only when a second set of rounds shows it again.

The baseline's tree is a git worktree (fastloss is Python and Numba: nothing to build); each
side imports its own tree through PYTHONPATH, with the CI's environment. Exit status 0 pass
(or nothing to compare), 1 a confirmed slowdown, 2 an error. Env: PARALLEL_GATE_FACTOR
(1.3), PARALLEL_GATE_ROUNDS (3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import asv_gate  # noqa: E402  (the baseline rule and git helpers, shared)

FACTOR = float(os.environ.get("PARALLEL_GATE_FACTOR", "1.3"))
ROUNDS = int(os.environ.get("PARALLEL_GATE_ROUNDS", "3"))

#: (label, loss, op, dtype, inputs, size): one per kernel family, each at a size where two
#: threads beat one clearly, so that a lost parallelism shows
BENCHES = [
    ("mse value_and_grad float32 1e6", "mse", "value_and_grad", "float32", "pair", 1_000_000),
    ("binary_cross_entropy_with_logits value_and_grad float64 1e5",
     "binary_cross_entropy_with_logits", "value_and_grad", "float64", "labels01", 100_000),
    ("cross_entropy value_and_grad float32 2000x200", "cross_entropy", "value_and_grad",
     "float32", "rows", [2000, 200]),
    ("gan_discriminator value_and_grad float64 2x1e5", "gan_discriminator", "value_and_grad",
     "float64", "pair", 100_000),
    ("info_nce value_and_grad float32 256x64", "info_nce", "value_and_grad", "float32",
     "matrix", [256, 64]),
]

# One side's measurement, in a fresh process: {label: seconds or None (not in that commit)}.
CHILD = r"""
import json, os, sys, time
import numpy as np
root, benches = sys.argv[1], json.loads(sys.argv[2])
import fastloss
if not os.path.abspath(fastloss.__file__).startswith(os.path.abspath(root) + os.sep):
    sys.exit(f"imported {fastloss.__file__}, not the tree {root}")

def wall_min(fn, samples=25, sample_s=0.002):
    fn()
    t0 = time.perf_counter(); fn(); one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(sample_s / one))
    best = float("inf")
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best

def inputs(kind, dtype, n, rng):
    if kind == "pair":
        return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    if kind == "labels01":
        return (rng.random(n) < 0.5).astype(dtype), rng.standard_normal(n).astype(dtype)
    if kind == "rows":
        N, C = n
        return rng.integers(0, C, N), rng.standard_normal((N, C)).astype(dtype)
    if kind == "matrix":
        return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    raise ValueError(kind)

res = {}
for label, name, op, dtype, kind, n in benches:
    loss = getattr(fastloss, name, None)
    if loss is None:
        res[label] = None
        continue
    args = inputs(kind, dtype, n, np.random.default_rng(0))
    fn = getattr(loss, op) if op != "value" else loss
    res[label] = wall_min(lambda: fn(*args, backend="parallel"))
print(json.dumps(res))
"""


def log(msg: str) -> None:
    print(f"[parallel-gate {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def measure(root: str, benches=BENCHES) -> dict:
    """One fresh process importing fastloss from ``root``: {label: seconds or None}."""
    env = dict(os.environ, PYTHONPATH=root)
    for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "FASTLOSS_BACKEND"):
        env.pop(k, None)  # every thread; the backend is given per call
    # (run from root: ``python -c`` puts the working folder first on sys.path)
    r = subprocess.run([sys.executable, "-c", CHILD, root, json.dumps(benches)], env=env,
                       cwd=root, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"measuring {root} failed (exit {r.returncode}):\n"
                           f"{r.stdout[-2000:]}{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def rounds(base_root: str, head_root: str, n: int, benches=BENCHES) -> dict:
    """Each side's minimum over ``n`` interleaved rounds: {label: (base s, head s)}."""
    best: dict = {}
    for _ in range(n):
        for side, root in ((0, base_root), (1, head_root)):
            for label, t in measure(root, benches).items():
                pair = best.setdefault(label, [None, None])
                if t is not None:
                    pair[side] = t if pair[side] is None else min(pair[side], t)
    return {k: tuple(v) for k, v in best.items()}


def slower(times: dict, factor: float = FACTOR) -> dict:
    """{label: ratio} of the benchmarks of both commits whose HEAD time exceeds the
    baseline's by more than ``factor``."""
    return {k: h / b for k, (b, h) in times.items()
            if b is not None and h is not None and h > factor * b}


def report(times: dict) -> None:
    for label, (b, h) in times.items():
        if b is None or h is None:
            log(f"  {label}: n/a in {'the baseline' if b is None else 'HEAD'}")
        else:
            log(f"  {label}: {b * 1e6:9.1f} us -> {h * 1e6:9.1f} us  x{h / b:.2f}")


def add_worktree(base: str, path: str) -> bool:
    r = subprocess.run(["git", "worktree", "add", "--detach", path, base],
                       cwd=asv_gate.ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        log(f"git worktree add failed: {r.stderr.strip()}")
    return r.returncode == 0


def remove_worktree(path: str) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", path], cwd=asv_gate.ROOT,
                   capture_output=True)


def compare(base_root: str, head_root: str) -> dict:
    """{label: (first ratio, second ratio)} of the slowdowns seen twice (empty: pass)."""
    log("compiling both sides (one untimed process each)")
    measure(base_root)
    measure(head_root)
    times = rounds(base_root, head_root, ROUNDS)
    report(times)
    first = slower(times)
    if not first:
        return {}
    log(f"{len(first)} slower than x{FACTOR}: confirming with {ROUNDS} more rounds")
    times2 = rounds(base_root, head_root, ROUNDS, [b for b in BENCHES if b[0] in first])
    report(times2)
    return {k: (first[k], r) for k, r in slower(times2).items() if k in first}


def main() -> int:
    t0 = time.monotonic()
    head = asv_gate.commit_of("HEAD")
    if head is None:
        log("no HEAD commit: nothing to compare")
        return 2
    base, why = asv_gate.choose_baseline(head)
    if base is None:
        log(f"{why}: nothing to compare, pass")
        return 0
    log(f"baseline {base[:10]} ({why}); HEAD {head[:10]}; factor {FACTOR}; "
        f"{ROUNDS} interleaved rounds")
    work = tempfile.mkdtemp(prefix="fastloss-parallel-gate-")
    base_root = os.path.join(work, "base")
    try:
        if not add_worktree(base, base_root):
            return 2
        try:
            confirmed = compare(base_root, asv_gate.ROOT)
        finally:
            remove_worktree(base_root)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        log(f"error: {e}")
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - t0
    if confirmed:
        log(f"FAIL: {len(confirmed)} parallel benchmark(s) slower than x{FACTOR} twice "
            f"(baseline {base[:10]} -> HEAD {head[:10]}), {elapsed:.0f} s:")
        for k, (r1, r2) in confirmed.items():
            log(f"  {k}: x{r1:.2f} then x{r2:.2f}")
        return 1
    log(f"PASS: no parallel benchmark slower than x{FACTOR} twice, {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    if shutil.which("git") is None:
        print("parallel gate: git not found", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
