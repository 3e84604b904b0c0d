"""Serial ns/element of the transcendental pointwise losses, before and after, NumPy beside.

For each loss (``binary_cross_entropy``, ``binary_cross_entropy_with_logits``, ``focal``
with gamma 2 and 1.5, ``poisson_nll`` both ways, ``tweedie`` with power 1.5 and 0,
``log_cosh``), op (``value``, ``value_and_grad``) and dtype, at n = 1e6 with
``backend="serial"``: ns/element of this tree's fastloss, of another tree's (``--before
PATH``, for example a checkout of the main branch; each tree runs in its own subprocess,
interleaved round by round) and of the NumPy baseline (``fastloss._numpy_baselines``).

Usage: ``python benchmarks/scalar_must_show.py [--before PATH] [--quick]``
(``SCALAR_MUST_SHOW_ONLY=focal,tweedie`` times only those losses) (about 2 minutes
with ``--before``; run on a quiet machine, the load average is printed).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import timeit

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy_with_logits", {}),
    ("focal", {}),
    ("focal", {"gamma": 1.5}),
    ("poisson_nll", {}),
    ("poisson_nll", {"log_input": False}),
    ("tweedie", {"power": 1.5}),
    ("tweedie", {"power": 0.0}),
    ("log_cosh", {}),
]
OPS = ("value", "value_and_grad")
DTYPES = ("float64", "float32")
N = 10**6


def _cases():
    only = os.environ.get("SCALAR_MUST_SHOW_ONLY")
    return [c for c in CASES if not only or c[0] in only.split(",")]


def _best(fn, repeat):
    # CPU time of this process (serial calls only): a shared machine's other work preempts
    # the call without being counted
    fn()
    t = timeit.timeit(fn, number=1, timer=time.process_time)
    number = max(1, int(0.1 / repeat / max(t, 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)) / number


def worker(what, repeat):
    """Time every case in this process's fastloss (``what``: 'fastloss' or 'numpy');
    prints one JSON list of ns/element."""
    import numpy as np

    import fastloss
    from fastloss import bench as B
    from fastloss._numpy_baselines import BASELINES
    from fastloss._spec import REGISTRY

    out = []
    for name, extra in _cases():
        spec = REGISTRY[name]
        for op in OPS:
            for dt in DTYPES:
                args, params = B.make_inputs(spec, N, np.dtype(dt))
                params = dict(params, **extra)
                if name == "poisson_nll" and extra.get("log_input") is False:
                    args = (args[0], np.abs(args[1]))  # a rate, not its log
                if what == "numpy":
                    fn = functools.partial(BASELINES[name].op(op), *args, **params)
                else:
                    fn = B.call_op(getattr(fastloss, name), op, args, params, "serial")
                with np.errstate(all="ignore"):
                    out.append(_best(fn, repeat) / N * 1e9)
    print(json.dumps(out))


def _run(tree, what, repeat):
    env = dict(os.environ, PYTHONPATH=tree)
    r = subprocess.run(
        [sys.executable, __file__, "--worker", what, str(repeat)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        sys.exit(f"{tree} ({what}) failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--worker":
        worker(argv[1], int(argv[2]))
        return
    before = argv[argv.index("--before") + 1] if "--before" in argv else None
    rounds = 1 if "--quick" in argv else 2
    print(f"load average: {os.getloadavg()}")
    cols = {"after": [], "numpy": []}
    if before:
        cols = {"before": [], **cols}
    for _ in range(rounds):  # interleaved: a load spike hits every column alike
        for col in cols:
            tree = before if col == "before" else HERE
            t = _run(tree, "numpy" if col == "numpy" else "fastloss", 3)
            cols[col] = [min(a, b) for a, b in zip(cols[col], t, strict=True)] if cols[col] else t
    head = f"{'loss':34s} {'params':18s} {'op':15s} {'dtype':8s}"
    print(f"\nserial, n = 1e6, ns/element (best of {rounds} rounds)\n")
    head += "".join(f" {c:>8s}" for c in cols) + "   xNumPy"
    print(head + ("   after/before" if before else ""))
    i = 0
    for name, extra in _cases():
        for op in OPS:
            for dt in DTYPES:
                p = ",".join(f"{k}={v}" for k, v in extra.items())
                row = f"{name:34s} {p:18s} {op:15s} {dt:8s}"
                row += "".join(f" {cols[c][i]:8.2f}" for c in cols)
                row += f" {cols['numpy'][i] / cols['after'][i]:8.2f}"
                if before:
                    row += f" {cols['after'][i] / cols['before'][i]:14.2f}"
                print(row)
                i += 1
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
