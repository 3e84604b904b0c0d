"""The "Must show" numbers of the typed-API work, in one run (< 3 minutes):

1. mypy on a user script that calls every registered loss (and ``grad``,
   ``value_and_grad``, ``grad_hess``) with each of its parameters: its output (clean), and
   that the same run flags a misspelt loss name and a misspelt reduction;
2. each documented boosting example of docs/integrations.md trained against the built-in
   objective of the same library, same data: the test metric of both and their ratio.

    python benchmarks/api_must_show.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tools")]


def mypy_section() -> None:
    import test_typing

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "user_script.py").write_text(test_typing.user_script())
        (Path(d) / "bad_script.py").write_text(test_typing.BAD)
        n = test_typing.user_script().count("fastloss.")
        for script in ("user_script.py", "bad_script.py"):
            res = subprocess.run(
                [sys.executable, "-m", "mypy", "--follow-imports=silent",
                 "--ignore-missing-imports", "--cache-dir", str(Path(d) / ".c"), script],
                cwd=d, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            extra = f" ({n} calls)" if script == "user_script.py" else " (must flag 2 lines)"
            print(f"$ mypy {script}{extra}\n{res.stdout.strip()}\n")


def boosting_section() -> None:
    import test_docs_pages as t

    ns = t._integrations()
    with t._one_omp_thread():
        rows = t._builtins(ns)
    w = max(len(k) for k in rows)
    print(f"{'documented example vs built-in, metric':<{w}}  fastloss  built-in  ratio  <=1.05")
    for k, (a, b) in rows.items():
        print(f"{k:<{w}}  {a:8.4f}  {b:8.4f}  {a / b:5.3f}  {'yes' if a <= 1.05 * b else 'NO'}")


if __name__ == "__main__":
    t0 = time.time()
    print(f"load average: {os.getloadavg()}\n")
    mypy_section()
    boosting_section()
    print(f"\n{time.time() - t0:.0f} s; load average: {os.getloadavg()}")
