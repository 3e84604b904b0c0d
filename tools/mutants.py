"""Mutation run: small wrong changes to the library, each of which some test must catch.

Each mutant is a (file, exact old text, new text, pytest selection). For each one this tool
copies the repository to a temporary folder, replaces the old text (which must occur
exactly once: a mutant whose text is gone or ambiguous is reported as NOT APPLICABLE and
the run fails, so that a rewrite of the kernels cannot silently retire a mutant), runs the
selection there with ``PYTHONPATH`` pointing at the copy and a fresh ``NUMBA_CACHE_DIR``,
and prints a table: killed (a test failed), survived (every selected test passed) or error
(the selection did not run: collection error, no test selected).

Usage::

    python tools/mutants.py                 # every mutant
    python tools/mutants.py --subset ci     # the fixed CI subset (a few minutes)
    python tools/mutants.py --only poisson_hess_sign_nolog --only dropped_lane
    python tools/mutants.py --list          # names, files and selections
    python tools/mutants.py -j 2            # two mutants at a time
    python tools/mutants.py --clean-first   # first run the selections on the unmutated copy

Exit status: 0 every mutant killed, 1 a mutant survived, 2 a mutant does not apply or its
selection could not run. Paths in a selection that do not exist in the tree are dropped
(and said so), so the same table can be run against an older test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".asv",
    "__pycache__",
    "*.egg-info",
    "build",
    "_build",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "*.so",
    "html",
)


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple  # pytest arguments: paths / node ids, then options such as -k
    what: str = ""
    ci: bool = False


def M(name, file, old, new, tests, what="", ci=False):
    return Mutant(name, file, old, new, tuple(tests), what, ci)


REG = "fastloss/losses/regression.py"
CLS = "fastloss/losses/classification.py"
CPU = "fastloss/_kernels/cpu.py"
ROWS = "fastloss/_kernels/rows.py"
SCALAR = "fastloss/_kernels/scalar.py"
T_PW = "tests/test_pointwise.py"
T_REG = "tests/test_regression_libs.py"
T_CLS = "tests/test_classification.py"
T_DER = "tests/test_derivatives.py"
T_ACC = "tests/test_accumulation.py"
T_THR = "tests/test_threads.py"

_TREE = ("    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + "
         "((acc[4] + acc[5]) + (acc[6] + acc[7]))\n")
_PARTIAL = "                    partials[q] = lanes_total(acc)\n"

MUTANTS = [
    # --- scalars (one element's loss, gradient, Hessian)
    M(
        "mse_grad_sign",
        REG,
        "return d * d, 1.0 * d, 1.0",
        "return d * d, -1.0 * d, 1.0",
        [T_DER, T_PW, "-k", "mse and (finite or derivative)"],
        "gradient sign",
        ci=True,
    ),
    M(
        "poisson_hess_sign_nolog",
        REG,
        "return np.float64(p - y * flog(q)), one - y / q, y / (q * q)",
        "return np.float64(p - y * flog(q)), one - y / q, -y / (q * q)",
        [T_DER, T_PW, T_REG, "-k", "poisson and (finite or torch or derivative)"],
        "Hessian sign, log_input=False",
        ci=True,
    ),
    M(
        "smooth_l1_hess_drops_beta",
        REG,
        "k * ib, ib if abs(d) < beta else zero",
        "k * ib, like(d, 1.0) if abs(d) < beta else zero",
        [T_DER, T_PW, T_REG, "-k", "smooth_l1 and (finite or torch or derivative)"],
        "Hessian right only at beta = 1",
    ),
    M(
        "huber_hess_ignores_delta",
        REG,
        "like(d, 1.0) if abs(d) <= delta else like(d, 0.0)",
        "like(d, 1.0) if abs(d) <= 1.0 else like(d, 0.0)",
        [T_DER, T_PW, T_REG, "-k", "huber and (finite or torch or derivative)"],
        "Hessian right only at delta = 1",
    ),
    M(
        "quantile_grad_q_swapped",
        REG,
        "return (like(d, 1.0) - q) * d, like(d, 1.0) - q + zero * d, zero * d",
        "return (like(d, 1.0) - q) * d, q + zero * d, zero * d",
        [T_DER, T_PW, T_REG, "-k", "quantile and (finite or sklearn or derivative)"],
        "gradient right only at q = 0.5",
    ),
    M(
        "tweedie_hess_sign",
        REG,
        "(two - rho) * b - (one - rho) * y * a",
        "(two - rho) * b + (one - rho) * y * a",
        [T_DER, T_PW, T_REG, "-k", "tweedie and (finite or sklearn or derivative)"],
        "Hessian sign of the y term",
    ),
    M(
        "log_cosh_hess_sign",
        REG,
        "(two + two) * u / ((one + u) * (one + u))",
        "(two + one) * u / ((one + u) * (one + u))",
        [T_DER, T_PW, T_REG, "-k", "log_cosh and (finite or stable or derivative)"],
        "Hessian scaled by 3/4",
    ),
    M(
        "bce_hess_wrong_term",
        CLS,
        "(one - y) / max(q * q, eps)",
        "(one - y) / max(p * p, eps)",
        [
            T_CLS,
            T_PW,
            T_DER,
            "-k",
            "binary_cross_entropy and not logits and (finite or torch or derivative)",
        ],
        "Hessian term",
    ),
    M(
        "bce_logits_hess_drops_pos_weight",
        CLS,
        "h = a * (er * r)  # s (1 - s)",
        "h = er * r  # s (1 - s)",
        [T_DER, T_CLS, T_PW, "-k", "logits and (finite or torch or derivative)"],
        "Hessian right only at pos_weight = 1",
    ),
    M(
        "focal_hess_gamma",
        CLS,
        "ce * gamma * (gamma - 1.0) * mg * q * q * u * u",
        "ce * gamma * (gamma - 1.0) * m * m * q * q * u * u",
        [T_DER, T_CLS, T_PW, "-k", "focal and (finite or torch or derivative)"],
        "Hessian right only at gamma = 2",
    ),
    M(
        "hinge_grad_sign",
        CLS,
        "return max(z, zero), -t if z > zero else zero * z, zero * z",
        "return max(z, zero), t if z > zero else zero * z, zero * z",
        [T_DER, T_CLS, T_PW, "-k", "hinge and not squared and (finite or sklearn or derivative)"],
        "gradient sign",
    ),
    M(
        "cross_entropy_hess_drops_A",
        CLS,
        "h[j] = gs * A * p * (1.0 - p)",
        "h[j] = gs * p * (1.0 - p)",
        [T_DER, T_CLS, "-k", "cross_entropy and (hess or derivative)"],
        "Hessian right only without weights or smoothing",
    ),
    # --- element helpers
    M(
        "fexp_coefficient",
        SCALAR,
        "_E9 = 2.5100375832561234e-08",
        "_E9 = 2.5100375832561234e-07",
        ["tests/test_scalar_helpers.py"],
        "exp polynomial off by 1e-11 relative",
    ),
    M(
        "log1p_drops_correction",
        SCALAR,
        "c = c if (u > 0.0) & (u < 9.0e15) else 0.0",
        "c = 0.0 * c",
        ["tests/test_scalar_helpers.py"],
        "log1p loses tiny arguments",
    ),
    # --- pointwise kernel factory and its reductions
    M(
        "lane_accumulator_float32",
        CPU,
        "buf = np.empty(min(SUB_, N) + LANES, np.float64)",
        "buf = np.empty(min(SUB_, N) + LANES, yp.dtype)",
        [T_ACC, T_PW, "-k", "(float32 and mse) or accumulat"],
        "float32 chunk buffer (the terms summed) for float32 input",
        ci=True,
    ),
    M(
        "partials_float32",
        CPU,
        "partials = np.empty(nparts, np.float64)",
        "partials = np.empty(nparts, np.float32)",
        [T_ACC, T_PW, "-k", "(float32 and mse) or accumulat"],
        "float32 chunk partials",
    ),
    M(
        "dropped_lane",
        CPU,
        _TREE,
        _TREE.replace("(acc[6] + acc[7]))", "acc[6])"),
        [T_PW, "-k", "value_matches_reference and mse"],
        "lane 7 never added",
        ci=True,
    ),
    M(
        "lane_tree_parallel_only",
        CPU,
        _PARTIAL,
        _PARTIAL + "                    if PAR:\n"
        "                        partials[q] = ordered_sum(acc, 0, 32)\n",
        [T_THR, T_PW, "-k", "(serial_equals_parallel and (mse or huber)) or thread"],
        "another lane order in parallel kernels only",
    ),
    M(
        "ordered_sum_skips_first",
        CPU,
        "for q in range(lo, hi):",
        "for q in range(lo + 1, hi):",
        [
            T_PW,
            T_ACC,
            "tests/test_backend.py",
            "-k",
            "(mse and (value_matches or serial_equals)) or accumulat or thread",
        ],
        "the first chunk's partial dropped (inputs over one chunk)",
    ),
    M(
        "row_end_short",
        CPU,
        "end = rq * n + min(n, (q - rq * kpr + 1) * CH)",
        "end = rq * n + min(n - 1, (q - rq * kpr + 1) * CH)",
        [T_PW, "-k", "batch_axis and mse"],
        "axis=-1 drops each row's last element",
    ),
    M(
        "broadcast_target_offset",
        CPU,
        "ytv = yt[c0:c0 + m] if YB else yt[pos:pos + m]",
        "ytv = yt[0:m] if YB else yt[pos:pos + m]",
        [T_ACC, T_PW, "-k", "mse or broadcast"],
        "broadcast targets misaligned where a chunk starts inside a row",
    ),
    M(
        "hess_not_scaled",
        CPU,
        "hv_[t] = (wi * scale) * hv",
        "hv_[t] = wi * hv",
        [T_DER, T_PW, "-k", "hess and huber"],
        "mean's 1/n missing from the Hessian",
    ),
    M(
        "row_weight_index",
        CPU,
        "wr = np.float64(w[r])",
        "wr = np.float64(w[0])",
        [T_PW, "-k", "per_row and mse"],
        "one weight for every row (2-D targets)",
    ),
    M(
        "cache_ignores_source",
        CPU,
        "SRC = source_hash(scalar, _scalar_mod, *(() if flags is None else (flags,)))",
        'SRC = ""',
        ["tests/test_cache_edit.py"],
        "an edited formula loads the stale kernel from disk",
        ci=True,
    ),
    # --- row kernels
    M(
        "lse_block_pad_eats_one",
        ROWS,
        "        s += sum32(e, xb.shape[0])",
        "        s += sum32(e, xb.shape[0] - 1)",
        [T_CLS, "-k", "long_rows"],
        "log-sum-exp drops the last logit of a block",
    ),
    M(
        "softmax_kept_smoothing",
        ROWS,
        "g[j] = a * (e[j] * r) - u",
        "g[j] = a * (e[j] * r) - 2.0 * u",
        [T_CLS, "-k", "kept_exponentials"],
        "label smoothing counted twice in the gradient from the kept exponentials",
    ),
    M(
        "softmax_grad_smoothing",
        ROWS,
        "g[j] = a * fexp((src[j] - mm) - ls) - u",
        "g[j] = a * fexp((src[j] - mm) - ls) - 2.0 * u",
        [T_CLS, "-k", "cross_entropy_matches_torch and float64"],
        "label smoothing counted twice in the gradient",
    ),
    # --- input checks
    M(
        "label_check_off_by_one",
        "fastloss/_arrays.py",
        "bad = (labels < 0) | (labels >= n_classes)",
        "bad = (labels < 0) | (labels > n_classes)",
        [T_CLS, "-k", "out_of_range_labels"],
        "label C accepted",
        ci=True,
    ),
    M(
        "range_check_chunk_end",
        "fastloss/_checks.py",
        "v = a[q * CHUNK:min(n, (q + 1) * CHUNK)]\n            c = 0",
        "v = a[q * CHUNK:min(n, (q + 1) * CHUNK - 1)]\n            c = 0",
        [T_ACC, "tests/test_errors.py", T_CLS, "-k", "bad_input or domain or range"],
        "range check skips the last element of each chunk",
    ),
    M(
        "weights_last_unchecked",
        "fastloss/_arrays.py",
        "if np.any(w < 0):",
        "if np.any(w[:-1] < 0):",
        [T_ACC, "tests/test_errors.py", "-k", "mse or weight"],
        "a negative last sample weight accepted",
    ),
    # --- dispatcher
    M(
        "mean_denominator",
        "fastloss/_kinds/pointwise.py",
        "denom = float(R * n)",
        "denom = float(R * n + 1)",
        [T_PW, "-k", "mse and (value_matches_reference or batch_axis)"],
        "mean divides by n + 1",
        ci=True,
    ),
    M(
        "backend_argument_ignored",
        "fastloss/_backend.py",
        "    elif type(backend) is str and backend in _CONCRETE:\n        name = backend\n",
        "    elif type(backend) is str and backend in _CONCRETE:\n        name = \"serial\"\n",
        ["tests/test_backend.py", "-k", "precedence or really_runs"],
        "backend='parallel' runs serial",
    ),
    M(
        "auto_ignores_cost",
        "fastloss/_backend.py",
        'name = "parallel" if size * cost >= threshold else "serial"',
        'name = "parallel" if size >= threshold else "serial"',
        ["tests/test_backend.py", "-k", "threshold"],
        "auto ignores the loss's cost",
    ),
    M(
        "fork_not_recorded",
        "fastloss/_backend.py",
        "    if pool_started():\n        _forked_after_parallel = True",
        "    if not pool_started():\n        _forked_after_parallel = True",
        [T_THR, "tests/test_backend.py", "-k", "fork"],
        "a child forked after a parallel call runs parallel kernels",
    ),
    # --- the row loops' last vector (rows.vector_split)
    M(
        "row_exp_last_vector_skipped",
        ROWS,
        "    for part in range(1 if a2 < 0 else 2):  # (one copy of the loop: less fixed cost)\n"
        "        _exp_shift_loop(",
        "    for part in range(1):  # (one copy of the loop: less fixed cost)\n"
        "        _exp_shift_loop(",
        [T_CLS, "-k", "every_remainder"],
        "the exponentials of a row's remainder never computed",
    ),
    M(
        "kl_last_vector_skipped",
        CLS,
        "        for part in range(1 if a2 < 0 else 2):",
        "        for part in range(1):",
        [T_CLS, "-k", "every_remainder"],
        "the KL terms of a row's remainder never computed",
    ),
]


# ---------------------------------------------------------------------------------------


def check_applies(m: Mutant, root: str = ROOT) -> str | None:
    """None when ``m.old`` occurs exactly once in its file, else why not."""
    path = os.path.join(root, m.file)
    if not os.path.exists(path):
        return f"{m.file} does not exist"
    with open(path) as f:
        n = f.read().count(m.old)
    if n != 1:
        return f"its old text occurs {n} times in {m.file} (must be exactly once)"
    return None


def selection(m: Mutant, root: str) -> tuple[list, list]:
    """The pytest arguments, without the paths missing from ``root`` (returned apart)."""
    args, missing, opt = [], [], False
    for a in m.tests:
        if opt:
            args.append(a)
            opt = False
        elif a.startswith("-"):
            args.append(a)
            opt = a in ("-k", "-m")
        elif os.path.exists(os.path.join(root, a.split("::")[0])):
            args.append(a)
        else:
            missing.append(a)
    return args, missing


def copy_tree(dest: str) -> str:
    repo = os.path.join(dest, "repo")
    shutil.copytree(ROOT, repo, ignore=IGNORE, symlinks=True)
    return repo


def run_pytest(repo: str, args: list, cache: str, timeout: float) -> tuple[int | None, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FASTLOSS_", "PYTEST_", "NUMBA_"))
    }
    env.update(PYTHONPATH=repo, NUMBA_CACHE_DIR=cache, PYTHONDONTWRITEBYTECODE="1")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        *args,
    ]
    try:
        p = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, ""
    return p.returncode, p.stdout + p.stderr


def run_one(m: Mutant, timeout: float, clean: bool = False) -> dict:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fastloss-mutant-") as tmp:
        repo = copy_tree(tmp)
        why = check_applies(m, repo)
        if why is not None:
            return dict(name=m.name, status="NOT APPLICABLE", seconds=0.0, detail=why)
        if not clean:
            path = os.path.join(repo, m.file)
            with open(path) as f:
                src = f.read()
            with open(path, "w") as f:
                f.write(src.replace(m.old, m.new))
        args, missing = selection(m, repo)
        if not any(not a.startswith("-") for a in args):
            return dict(
                name=m.name,
                status="ERROR",
                seconds=0.0,
                detail=f"none of its test paths exist: {missing}",
            )
        rc, out = run_pytest(repo, args, os.path.join(tmp, "numba-cache"), timeout)
    dt = time.monotonic() - t0
    tail = out.strip().splitlines()[-1] if out.strip() else ""
    if rc is None:
        status, detail = "killed", f"timeout after {timeout:.0f} s (a hang)"
    elif rc == 0:
        status, detail = "survived", tail
    elif rc == 1:
        failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        status, detail = "killed", (failed[0] if failed else tail)[:110]
    else:
        status, detail = "ERROR", f"pytest exit {rc}: {tail}"
    if clean:  # on the unmutated copy every test must pass
        status = {"survived": "clean ok", "killed": "CLEAN FAILS"}.get(status, status)
    if missing:
        detail = f"[not present: {', '.join(missing)}] {detail}"
    return dict(name=m.name, status=status, seconds=dt, detail=detail)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subset", choices=["ci"], help="run the fixed CI subset only")
    ap.add_argument("--only", action="append", default=[], help="run this mutant (repeat)")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="mutants run at a time")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument(
        "--clean-first",
        action="store_true",
        help="run each selection on the unmutated copy first (must pass)",
    )
    a = ap.parse_args(argv)

    chosen = MUTANTS
    if a.subset == "ci":
        chosen = [m for m in chosen if m.ci]
    if a.only:
        unknown = sorted(set(a.only) - {m.name for m in MUTANTS})
        if unknown:
            print(f"unknown mutant(s): {unknown}", file=sys.stderr)
            return 2
        chosen = [m for m in chosen if m.name in a.only]
    if a.list:
        for m in chosen:
            print(f"{m.name:34s} {m.file:36s} {' '.join(m.tests)}{'  [ci]' if m.ci else ''}")
        return 0
    stale = [(m.name, check_applies(m)) for m in chosen]
    stale = [(n, w) for n, w in stale if w]
    if stale:
        print("NOT APPLICABLE (the code changed: update these mutants in tools/mutants.py):")
        for n, w in stale:
            print(f"  {n}: {w}")
        return 2

    t0 = time.monotonic()
    rows = []
    if a.clean_first:
        with ThreadPoolExecutor(max(1, a.jobs)) as ex:
            rows += list(ex.map(lambda m: run_one(m, a.timeout, clean=True), chosen))
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        futs = [ex.submit(run_one, m, a.timeout) for m in chosen]
        for f in futs:
            r = f.result()
            rows.append(r)
            print(f"  {r['name']}: {r['status']} ({r['seconds']:.0f} s)", flush=True)
    total = time.monotonic() - t0

    print()
    print(f"| {'mutant':34s} | {'result':9s} | {'s':>4s} | detail")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 6}|{'-' * 40}")
    for r in rows:
        print(f"| {r['name']:34s} | {r['status']:9s} | {r['seconds']:4.0f} | {r['detail']}")
    mut = [r for r in rows if r["status"] in ("killed", "survived", "ERROR")]
    killed = sum(r["status"] == "killed" for r in mut)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{killed}/{len(mut)} mutants killed in {total:.0f} s "
        f"(load average {load:.1f}, -j {a.jobs})"
    )
    if any(r["status"] in ("ERROR", "NOT APPLICABLE", "CLEAN FAILS") for r in rows):
        return 2
    return 0 if killed == len(mut) else 1


if __name__ == "__main__":
    sys.exit(main())
