"""The ``fastloss`` command: ``fastloss info``, ``fastloss bench`` and ``fastloss warmup``.

Also ``python -m fastloss ...``. See ``fastloss bench --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _split(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out or None


def _sizes(values: Sequence[str] | None) -> list[int] | None:
    vals = _split(values)
    if vals is None:
        return None
    sizes = []
    for v in vals:
        try:
            n = int(float(v))
        except ValueError:
            raise SystemExit(f"fastloss bench: --sizes takes numbers like 1e5, got {v!r}") from None
        if n < 1:
            raise SystemExit(f"fastloss bench: sizes must be >= 1, got {v!r}")
        sizes.append(n)
    return sizes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastloss", description=__doc__.splitlines()[0])
    from ._version import __version__

    p.add_argument("--version", action="version", version=f"fastloss {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{info,bench,warmup}")

    pi = sub.add_parser("info", help="versions, threading, usable backends, threshold, cache")
    pi.add_argument("--json", action="store_true", help="print JSON")

    pw = sub.add_parser(
        "warmup", help="compile kernels ahead of time into the disk cache",
        description="Compile the kernels of every loss (or those named) for each op, CPU "
        "backend and dtype into the disk cache (see 'fastloss info' for where), so that "
        "later first calls only load them.")
    pw.add_argument("--loss", action="append", metavar="NAME[,NAME]",
                    help="losses to compile (default: every registered loss)")
    pw.add_argument("--op", action="append", metavar="OP[,OP]",
                    help="value, grad, value_and_grad, grad_hess (default: all it has)")
    pw.add_argument("--backend", action="append", metavar="B[,B]",
                    help="serial, parallel (default: both)")
    pw.add_argument("--dtype", action="append", metavar="D[,D]",
                    help="float32, float64 (default: both)")
    pw.add_argument("--no-progress", action="store_true", help="no progress output")

    pb = sub.add_parser(
        "bench",
        help="time every loss and op on every usable backend",
        description="Time every loss and op on every usable backend against plain NumPy, "
        "the measured memory-bandwidth roofline, and scikit-learn / PyTorch when installed. "
        "Ratios xLIB are the other library's time over fastloss's (above 1: fastloss is "
        "faster); 'roof' is the time of a kernel that only streams the same bytes over "
        "fastloss's time.",
    )
    pb.add_argument("--quick", action="store_true",
                    help="value and value_and_grad at n=1e6, float64, 3 repeats (< 1 min)")
    pb.add_argument("--loss", action="append", metavar="NAME[,NAME]",
                    help="losses to run (default: every registered loss)")
    pb.add_argument("--op", action="append", metavar="OP[,OP]",
                    help="value, grad, value_and_grad, grad_hess (default: all it has)")
    pb.add_argument("--backend", action="append", metavar="B[,B]",
                    help="serial, parallel, auto, cuda (default: serial, parallel and cuda "
                         "where usable)")
    pb.add_argument("--dtype", action="append", metavar="D[,D]",
                    help="float32, float64 (default float64)")
    pb.add_argument("--sizes", action="append", metavar="N[,N]",
                    help="input sizes in elements, e.g. 1e4,1e5,1e6")
    pb.add_argument("--repeat", type=int, help="samples per measurement, best kept (5)")
    pb.add_argument("--min-time", type=float, help="seconds per sample (0.02)")
    pb.add_argument("--max-call", type=float,
                    help="skip larger sizes once one call takes longer than this (2 s)")
    pb.add_argument("--no-compare", action="store_true",
                    help="no scikit-learn / PyTorch / JAX columns (NumPy and roofline stay)")
    pb.add_argument("--torch", action="store_true",
                    help="compare with PyTorch (with --sklearn/--jax: only those named; "
                         "default without any: PyTorch and scikit-learn)")
    pb.add_argument("--sklearn", action="store_true", help="compare with scikit-learn")
    pb.add_argument("--jax", action="store_true", help="compare with JAX on the CPU (jitted)")
    pb.add_argument("--grid", action="store_true",
                    help="value and value_and_grad, float32 and float64, at n=1e3 and 1e5 "
                         "(auto), 1e6 (serial) and 1e7 (auto)")
    pb.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="write JSON to FILE, or to stdout (instead of the table) without FILE")
    pb.add_argument("--markdown", action="store_true",
                    help="print the table as Markdown (for the docs)")
    pb.add_argument("--plot", metavar="FILE.png",
                    help="draw throughput against n per backend (needs matplotlib)")
    pb.add_argument("--plot-op", metavar="OP", help="the op to plot (value_and_grad)")
    pb.add_argument("--calibrate", action="store_true",
                    help="measure the serial/parallel crossover and the auto threshold")
    pb.add_argument("--no-progress", action="store_true", help="no progress output")
    return p


def _print_info(as_json: bool) -> int:
    from . import _backend

    info = _backend.info()
    if as_json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    width = max(len(k) for k in info)
    for k, v in info.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk:<{width - 2}} {vv}")
        else:
            print(f"{k:<{width}} {v}")
    return 0


def _bench(args) -> int:
    from . import bench as B

    err = sys.stderr
    backends, unusable = B.usable_backends(_split(args.backend))
    for b, why in unusable.items():
        if args.backend:  # asked for explicitly: say so
            print(f"fastloss bench: backend {b!r} is not usable here: {why}", file=err)
    if not backends:
        print("fastloss bench: no usable backend to run", file=err)
        return 1
    progress = None if args.no_progress else B.Progress(0)

    if args.calibrate:
        sizes = _sizes(args.sizes) or B.CAL_SIZES
        if "parallel" not in backends or "serial" not in backends:
            print("fastloss bench --calibrate needs the serial and parallel backends", file=err)
            return 1
        cal = B.calibrate(_split(args.loss), sizes=sizes, repeat=args.repeat or 7,
                          min_time=args.min_time or 0.005, progress=progress)
        cal["machine"] = B.machine_info()
        if args.json:
            text = json.dumps(cal, indent=1, default=str)
            if args.json == "-":
                print(text)
            else:
                with open(args.json, "w") as f:
                    f.write(text)
        if args.json != "-":
            print(B.format_calibration(cal))
        return 0

    quick = args.quick
    named = [lib for lib in ("torch", "sklearn", "jax") if getattr(args, lib)]
    if args.no_compare:
        compare: tuple = ("numpy",)
    else:
        compare = ("numpy", *(named or ("torch", "sklearn")))
    grid = None
    if args.grid:
        if args.sizes:
            print("fastloss bench: --grid sets the sizes; drop --sizes", file=err)
            return 2
        grid = {n: bs for n, bs in B.GRID.items()
                if not args.backend or any(b in backends for b in bs)}
        if not args.backend:
            backends = sorted({b for bs in grid.values() for b in bs})
    cfg = B.BenchConfig(
        losses=_split(args.loss),
        ops=_split(args.op) or (B.QUICK_OPS if quick or grid else None),
        backends=backends,
        dtypes=_split(args.dtype) or (("float32", "float64") if grid else ("float64",)),
        sizes=_sizes(args.sizes) or (B.QUICK_SIZES if quick else B.FULL_SIZES),
        repeat=args.repeat or (3 if quick else 5),
        min_time=args.min_time or (0.01 if quick else 0.02),
        max_call=args.max_call or (0.5 if quick else 2.0),
        compare=compare,
        size_backends=grid,
    )
    for op in cfg.ops or ():
        if op not in B.OPS:
            print(f"fastloss bench: unknown op {op!r}; choose from {', '.join(B.OPS)}", file=err)
            return 2
    for dt in cfg.dtypes:
        if dt not in ("float32", "float64"):
            print(f"fastloss bench: dtype must be float32 or float64, got {dt!r}", file=err)
            return 2
    import time

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.monotonic()
    try:
        rows = B.run(cfg, progress)
    except ValueError as exc:
        print(f"fastloss bench: {exc}", file=err)
        return 2
    machine = B.machine_info()
    machine["date"] = started
    machine["duration_s"] = round(time.monotonic() - t0, 1)
    if args.json:
        text = B.to_json(rows, machine, cfg, unusable)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text)
    if args.json != "-":
        print(f"fastloss {machine['fastloss']} bench, {machine['date']}, "
              f"{machine['duration_s']:.0f} s")
        print(f"{machine['cpu']}, {machine['cores']} cores, {machine['num_threads']} threads "
              f"({machine['threading_layer']}), load average {machine['loadavg']}")
        print(f"python {machine['python']}, numpy {machine['numpy']}, numba {machine['numba']}"
              + "".join(f", {k} {machine[k]}" for k in ("torch", "sklearn", "jax")
                        if k in machine))
        for b, why in unusable.items():
            print(f"{b}: not usable here: {why}")
        print("time: best of the samples; ns/el: time / n; roof: streaming kernel time / "
              "loss time; xLIB: LIB time / fastloss time")
        print()
        print(B.format_markdown(rows) if args.markdown else B.format_table(rows))
    if args.plot:
        try:
            op = B.plot(rows, args.plot, args.plot_op)
        except RuntimeError as exc:
            print(f"fastloss bench: {exc}", file=err)
            return 1
        print(f"plot of {op} written to {args.plot}", file=err)
    return 0


def _warmup(args) -> int:
    import time

    from . import _warmup as W
    from . import bench as B
    from ._kernels.compile import cache_dir

    kw = dict(ops=_split(args.op), backends=_split(args.backend) or W.BACKENDS,
              dtypes=_split(args.dtype) or W.DTYPES)
    try:
        calls = W.plan(_split(args.loss), **kw)
    except ValueError as exc:
        print(f"fastloss warmup: {exc}", file=sys.stderr)
        return 2
    progress = B.Progress(len(calls), enabled=not args.no_progress)
    t0 = time.monotonic()
    n = W.warmup(_split(args.loss), progress=progress.update, **kw)
    progress.close()
    print(f"fastloss warmup: {n} calls in {time.monotonic() - t0:.0f} s; cache: {cache_dir()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        rc = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here at the latest
        return rc
    except BrokenPipeError:  # the reader went away (``fastloss bench | head``): not an error
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (a test capturing it)
        pass


def _main(argv: Sequence[str] | None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    if args.command == "info":
        return _print_info(args.json)
    if args.command == "bench":
        return _bench(args)
    if args.command == "warmup":
        return _warmup(args)
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
