"""The dispatcher's serial/parallel choice per cost class, measured.

For representatives of each cost class (cheap: ``mse``, ``huber``, ``l1_penalty``; exp-log:
``binary_cross_entropy_with_logits``, ``log_cosh``, ``poisson_nll``; row-wise:
``cross_entropy``), one op (``value_and_grad``, or ``value`` with ``--op value``: a pass
that only reduces has thresholds of its own) in float64 (or ``--dtype float32``) at sizes
from 1e3 to 3e6 elements:
the serial, parallel and auto (``backend=None``) times, interleaved, and auto's loss against
the better of the two (goal: never more than 10% slower). The last table gives each loss's
crossover (the smallest measured size from which parallel stays faster, as ``fastloss bench
--calibrate`` finds it) beside the threshold ``fastloss._backend`` uses for its class.

Usage: ``python benchmarks/threshold_must_show.py [--quick] [--op value] [--dtype float32]``
(about 2 minutes;
run on a quiet machine, the load average is printed).
"""

from __future__ import annotations

import os
import sys

import fastloss
from fastloss import _backend
from fastloss import bench as B

LOSSES = (
    "mse",
    "huber",
    "l1_penalty",
    "binary_cross_entropy_with_logits",
    "log_cosh",
    "poisson_nll",
    "cross_entropy",
)


def main():
    quick = "--quick" in sys.argv
    step = 2 if quick else 4
    op = sys.argv[sys.argv.index("--op") + 1] if "--op" in sys.argv else "value_and_grad"
    dtype = sys.argv[sys.argv.index("--dtype") + 1] if "--dtype" in sys.argv else "float64"
    sizes = [int(round(10 ** (3 + k / step))) for k in range(0, int(3.5 * step) + 1)]
    print(f"load average: {os.getloadavg()}; {op}, {dtype}")
    print(B.machine_info())
    crossovers = {}
    for name in LOSSES:
        spec = fastloss.REGISTRY[name]
        loss = getattr(fastloss, name)
        print(
            f"\n## {name} (cost {spec.cost}, class {_backend.cost_class(spec.cost)},"
            f" threshold {_backend.parallel_threshold(spec.cost, op == 'value')} elements x"
            " cost)\n"
        )
        print(
            f"{'n':>9s} {'serial us':>10s} {'parallel us':>12s} {'auto us':>9s} {'picks':>9s}"
            f" {'auto/best':>10s}"
        )
        pts, worst = [], 1.0
        for n in sizes:
            args, params = B.make_inputs(spec, n, dtype)
            size = int(args[-1].size)  # elements the dispatcher sees
            cands = {
                b: B.call_op(loss, op, args, params, None if b == "auto" else b)
                for b in ("serial", "parallel", "auto")
            }
            t = B.time_interleaved(cands, 5, 0.003)
            best = min(t["serial"], t["parallel"])
            wk = size if spec.kind == "rowwise" else _backend.work(size, spec.cost, dtype)
            picks = _backend.resolve(None, wk, spec.cost, value_only=op == "value")
            ratio = t[picks] / best  # what auto runs, against the better (noise-free pick)
            worst = max(worst, ratio)
            pts.append(B.CalibrationPoint(name, size, t["serial"], t["parallel"]))
            print(
                f"{size:9d} {t['serial'] * 1e6:10.1f} {t['parallel'] * 1e6:12.1f} "
                f"{t['auto'] * 1e6:9.1f} {picks:>9s} {ratio:10.2f}"
            )
        crossovers[name] = (B._crossover(pts), worst, spec)
    print(
        "\n## per loss: crossover (elements) and the class threshold; worst = the "
        "pick's time over the better of serial and parallel at any size (goal <= 1.10)\n"
    )
    for name, (cross, worst, spec) in crossovers.items():
        c = "none" if cross is None else f"{cross:9.0f}"
        th = _backend.parallel_threshold(spec.cost, op == "value") / spec.cost
        if spec.kind != "rowwise":
            th /= _backend.work(1, spec.cost, dtype)  # (in float32 elements for float32)
        print(f"{name:34s} crossover {c:>9s}  threshold {th:9.0f}  worst {worst:5.2f}")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
