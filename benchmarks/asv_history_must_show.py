"""Must-show of the performance history: how long ``tools/asv_history.py`` takes per commit,
and screenshots of the dashboard and of one loss's graph, taken in headless Chromium.

    python benchmarks/asv_history_must_show.py                  # 3 commits (~15 min on 2 cores)
    python benchmarks/asv_history_must_show.py --commits 30     # the full history (hours)

The commits are sampled from the vectorisation work on (``--since``, default 7a4b138, the
gate baseline before it) to main's tip. Commits whose results are stored are skipped and cost
nothing: the time per *measured* commit is what extrapolates. Screenshots go to
``--shots`` (default .asv/screenshots): ``dashboard.png`` and
``history.huber.track_value_and_grad.png``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=3)
    ap.add_argument("--since", default="7a4b138")
    ap.add_argument("--bench", default=r"^history\.")
    ap.add_argument("--shots", default=str(ROOT / ".asv" / "screenshots"))
    args = ap.parse_args()
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "asv_history.py"),
        "--commits",
        str(args.commits),
        "--since",
        args.since,
        "--bench",
        args.bench,
    ]
    print("$ " + " ".join(cmd[1:]), flush=True)
    t0 = time.monotonic()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    total = time.monotonic() - t0
    sys.stdout.write(out.stdout + out.stderr[-3000:])
    per = [
        (m.group(1), float(m.group(2)))
        for m in re.finditer(r"\] (\[\d+/\d+\] \w+) .*? in (\d+) s \(asv exit", out.stdout)
    ]
    print(f"\nload average {os.getloadavg()}")
    print(f"{'commit':<20} {'seconds':>8}")
    for name, sec in per:
        print(f"{name:<20} {sec:8.0f}")
    if per:
        mean = sum(s for _, s in per) / len(per)
        print(
            f"measured {len(per)} commits, {mean:.0f} s each on average; whole run {total:.0f} s;"
            f" a 30-commit history: about {30 * mean / 60:.0f} min"
        )
    env = dict(
        os.environ,
        ASV_DASHBOARD_SCREENSHOTS=args.shots,
        FASTLOSS_REQUIRE_BROWSER="1",
        PYTHONPATH=str(ROOT),
    )
    shot = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_asv_dashboard.py"),
        ],
        cwd=ROOT,
        env=env,
    )
    shots = sorted(os.listdir(args.shots)) if os.path.isdir(args.shots) else "none"
    print(f"screenshots in {args.shots}: {shots}")
    return out.returncode or shot.returncode


if __name__ == "__main__":
    sys.exit(main())
