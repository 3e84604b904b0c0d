"""Time the mutation run: the CI subset (default, a few minutes) or every mutant (--all,
13 min with -j 2 on 2 busy cores). Prints tools/mutants.py's table (killed / survived, seconds
per mutant), the wall time of the whole run and the load average before and after.

    python benchmarks/mutants_must_show.py          # CI subset
    python benchmarks/mutants_must_show.py --all -j 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true", help="every mutant, not the CI subset")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    a = ap.parse_args()
    cmd = [sys.executable, os.path.join(ROOT, "tools", "mutants.py"), "-j", str(a.jobs)]
    if not a.all:
        cmd += ["--subset", "ci"]
    load0 = os.getloadavg()
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT)
    dt = time.monotonic() - t0
    load1 = os.getloadavg()
    what = "every mutant" if a.all else "CI subset"
    print(
        f"\n{what}: {dt:.0f} s wall, exit {p.returncode}; load average "
        f"{load0[0]:.1f} before, {load1[0]:.1f} after ({os.cpu_count()} CPUs)"
    )
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
