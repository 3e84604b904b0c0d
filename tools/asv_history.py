"""Performance history: run the asv suite over main's history and publish the dashboard.

    python tools/asv_history.py --commits 30              # 30 commits spread over main
    python tools/asv_history.py --commits 2 --last --bench 'history\\.(mse|huber)\\.' --quick
    python tools/asv_history.py --publish-only            # dashboard and PNGs from stored results

For each sampled commit of ``main``'s first-parent history (oldest first), asv builds the
commit into its virtualenv and runs the ``history.*`` benchmarks (``asv_benchmarks/history.py``:
every loss, value and value_and_grad, serial and parallel, n = 1e5 and 1e6). A commit whose
results already hold every selected benchmark is skipped, so a rerun measures only new
commits. A commit that fails to build or whose benchmarks raise is recorded by asv as failed
and the run goes on. Then ``asv publish`` writes the dashboard (``.asv/history-html``; the
docs build publishes it under ``performance/asv/``) and the headline graphs are drawn with
matplotlib from the results (``docs/_static/asv/*.png``).

Results live in ``asv_results/<machine>/`` in the repository (see docs/performance.md), with
asv's ``machine.json`` describing the machine. The machine name defaults to one derived from
the CPU model and count, and a run refuses to add numbers to a machine directory recorded on
different hardware: numbers of two machines are never mixed in one series.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "asv_results"
HTML = ".asv/history-html"
CONFIG = ".asv/history-{key}.conf.json"
PNG_DIR = "docs/_static/asv"
DEFAULT_BENCH = r"^history\."
# the headline graphs: (title, file stem, [(benchmark, backend, n)])
HEADLINE_LOSSES = ("mse", "huber", "log_cosh", "binary_cross_entropy", "cross_entropy", "nt_xent")
HARDWARE_KEYS = ("arch", "cpu", "num_cpu")
VENDOR = ROOT / "tools" / "asv_vendor"
# the CDN URLs in asv's pages -> the copies in tools/asv_vendor (see its README)
_JSD, _CDNJS = "https://cdn.jsdelivr.net/npm/", "https://cdnjs.cloudflare.com/ajax/libs/"
CDN = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    _JSD + "bootstrap@3.1.1/dist/css/bootstrap.min.css": "css/bootstrap-3.1.1.min.css",
    _JSD + "bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap-3.1.1.min.js",
    _JSD + "flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": "jquery.flot.orderBars-1.0.0.js",
    _CDNJS + "flot/0.8.3/jquery.flot.min.js": "jquery.flot-0.8.3.js",
    _CDNJS + "flot/0.8.3/jquery.flot.selection.min.js": "jquery.flot.selection-0.8.3.js",
    _CDNJS + "flot/0.8.3/jquery.flot.time.min.js": "jquery.flot.time-0.8.3.js",
    _CDNJS + "flot/0.8.3/jquery.flot.categories.min.js": "jquery.flot.categories-0.8.3.js",
    _CDNJS + "stupidtable/1.0.1/stupidtable.min.js": "stupidtable-1.1.3.min.js",
    _CDNJS + "blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5-2.19.0.min.js",
}


def log(msg: str) -> None:
    print(f"[asv-history {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


# --- configuration and machine -------------------------------------------------------------


def write_config(results: str = RESULTS, html: str = HTML) -> str:
    """asv.conf.json with the history's results and html folders; returns its path."""
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    # asv reads relative paths from the config file's folder: make them absolute
    conf.update(results_dir=results, html_dir=html)
    for key in ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir"):
        conf[key] = str((ROOT / conf[key]).resolve())
    # one file per results/html pair: concurrent runs on other folders do not mix
    key = hashlib.sha1(f"{conf['results_dir']}|{conf['html_dir']}".encode()).hexdigest()[:10]
    path = ROOT / CONFIG.format(key=key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(conf, indent=2))
    return str(path)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_machine() -> str:
    """A name from the hardware, so that another machine gets another results folder."""
    slug = re.sub(r"\(r\)|\(tm\)|\bcpu\b|@.*", "", cpu_model().lower())
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")
    return f"{slug}-{os.cpu_count()}cpu"


def detected_machine(machine: str) -> dict:
    from asv.machine import Machine

    info = {k: str(v) for k, v in Machine.get_defaults().items()}
    info["machine"] = machine
    return info


def ensure_machine(machine: str, results: str) -> None:
    """Describe this machine in asv's machine file (``~/.asv-machine.json``, what
    ``asv machine --yes`` writes; asv copies it to ``<results>/<machine>/machine.json``),
    refusing a results folder that other hardware recorded."""
    here = detected_machine(machine)
    recorded = ROOT / results / machine / "machine.json"
    if recorded.exists():
        old = json.loads(recorded.read_text())
        diff = {
            k: (old.get(k), here[k]) for k in HARDWARE_KEYS if k in old and str(old[k]) != here[k]
        }
        if diff:
            raise SystemExit(
                f"asv_history: {recorded} was recorded on other "
                f"hardware {diff}; pass --machine NAME for this machine"
            )
    from asv.machine import MachineCollection

    path = Path(MachineCollection.get_machine_file_path())
    conf = json.loads(path.read_text()) if path.exists() else {"version": 1}
    conf[machine] = here
    path.write_text(json.dumps(conf, indent=4, sort_keys=True))


# --- commits and results -------------------------------------------------------------------


def sample_commits(rev: str, count: int, last: bool, since: str | None = None) -> list[str]:
    """``count`` commits of ``rev``'s first-parent history (from ``since`` on), oldest first:
    evenly spread over it (always with its tip), or the last ``count`` with ``last``."""
    history = git("rev-list", "--first-parent", rev).split()[::-1]
    if since:
        start = git("rev-parse", "--verify", f"{since}^{{commit}}")
        if start not in history:
            raise SystemExit(f"asv_history: {since} is not on {rev}'s first-parent history")
        history = history[history.index(start) :]
    if count <= 0 or count >= len(history):
        return history
    if last:
        return history[-count:]
    step = (len(history) - 1) / (count - 1) if count > 1 else 0
    picks = sorted({round(i * step) for i in range(count)} | {len(history) - 1})
    return [history[i] for i in picks][-count:]


def result_files(results: str, machine: str, sha: str) -> list[Path]:
    return sorted((ROOT / results / machine).glob(f"{sha[:8]}-*.json"))


def stored_benchmarks(results: str, machine: str, sha: str) -> set[str]:
    names: set[str] = set()
    for f in result_files(results, machine, sha):
        names |= set(json.loads(f.read_text()).get("results", {}))
    return names


def known_benchmarks(results: str) -> set[str]:
    """The benchmarks of the suite as it is now (``asv_benchmarks/history.py``), and those in
    asv's benchmarks.json (which this tool prunes to the measured ones)."""
    names: set[str] = set()
    path = ROOT / results / "benchmarks.json"
    if path.exists():
        names = {k for k in json.loads(path.read_text()) if k != "version"}
    sys.path.insert(0, str(ROOT))
    try:
        from asv_benchmarks import history
    except Exception:  # an unimportable suite: what asv recorded is all there is
        return names
    finally:
        sys.path.pop(0)
    for cls in vars(history).values():
        if isinstance(cls, type) and cls.__module__ == history.__name__:
            names |= {f"history.{cls.__name__}.{m}" for m in dir(cls) if m.startswith("track_")}
    return names


def missing(results: str, machine: str, sha: str, bench: str) -> bool:
    """True when the commit lacks results for some selected benchmark."""
    have = stored_benchmarks(results, machine, sha)
    if not have:
        return True
    want = {b for b in known_benchmarks(results) if re.search(bench, b)}
    return bool(want - have)


def summarize(results: str, machine: str, sha: str, bench: str) -> str:
    """'N results, K n/a, F failed' for the commit's selected benchmarks."""
    ok = na = failed = 0
    for f in result_files(results, machine, sha):
        data = json.loads(f.read_text())
        cols = data.get("result_columns", ["result"])
        for name, row in data.get("results", {}).items():
            if not re.search(bench, name):
                continue
            values = dict(zip(cols, row, strict=False)).get("result") or [None]
            for v in values:
                if v is None:
                    failed += 1
                elif isinstance(v, float) and v != v:
                    na += 1
                else:
                    ok += 1
    return f"{ok} results, {na} n/a, {failed} failed"


def loss_names() -> str:
    """The losses registered in this tree (the suite's classes on every commit)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_asv_gate", ROOT / ".ci" / "asv_gate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return ",".join(mod.head_loss_names())


def run_history(args, asv: list[str], config: str) -> None:
    commits = sample_commits(args.rev, args.commits, args.last, args.since)
    env = dict(os.environ, FASTLOSS_ASV_LOSSES=loss_names())
    log(
        f"{len(commits)} commits of {args.rev}, machine {args.machine}, "
        f"benchmarks /{args.bench}/{' (quick)' if args.quick else ''}"
    )
    t_all = time.monotonic()
    for i, sha in enumerate(commits, 1):
        subject = git("log", "-1", "--format=%cs %s", sha)[:70]
        head = f"[{i}/{len(commits)}] {sha[:8]} {subject}"
        if not missing(args.results, args.machine, sha, args.bench):
            log(f"{head}: results stored, skipped")
            continue
        t0 = time.monotonic()
        cmd = [
            *asv,
            "run",
            "--config",
            config,
            "--machine",
            args.machine,
            "--skip-existing",
            "--launch-method",
            args.launch_method,
            "-b",
            args.bench,
            f"{sha}^!",
        ]
        if args.quick:
            cmd.insert(len(asv) + 1, "--quick")
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if args.verbose or not result_files(args.results, args.machine, sha):
            sys.stdout.write(p.stdout[-4000:] + p.stderr[-4000:])
        state = (
            summarize(args.results, args.machine, sha, args.bench)
            if result_files(args.results, args.machine, sha)
            else "no results (build or asv failed: its output is above)"
        )
        log(f"{head}: {state} in {time.monotonic() - t0:.0f} s (asv exit {p.returncode})")
    prune_benchmark_list(args.results)
    log(f"history done in {time.monotonic() - t_all:.0f} s")


def prune_benchmark_list(results: str) -> None:
    """Keep in asv's benchmarks.json (asv's discovery lists the whole suite) only the
    benchmarks with stored results: the dashboard lists what the history measured."""
    path = ROOT / results / "benchmarks.json"
    if not path.exists():
        return
    measured: set[str] = set()
    for f in (ROOT / results).glob("*/*-*.json"):
        measured |= set(json.loads(f.read_text()).get("results", {}))
    data = json.loads(path.read_text())
    keep = {k: v for k, v in data.items() if k == "version" or k in measured}
    path.write_text(json.dumps(keep, indent=4, sort_keys=True))


def publish(asv: list[str], config: str, html: str) -> None:
    t0 = time.monotonic()
    html = str((ROOT / html).resolve())  # asv reads a relative one from the config's folder
    subprocess.run(
        [*asv, "publish", "--config", config, "--html-dir", html],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    self_contained(Path(html))
    log(f"dashboard: {html}/index.html ({time.monotonic() - t0:.0f} s)")


def self_contained(html: Path) -> None:
    """Point asv's pages at local copies of their CDN libraries (tools/asv_vendor), so the
    dashboard works offline; fails if a page loads something from outside we do not know."""
    shutil.copytree(
        VENDOR,
        html / "vendor",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("README.md", "licenses"),
    )
    for page in html.glob("*.html"):
        text = page.read_text()
        for url, local in CDN.items():
            # the tag keeps its integrity check, now of the local copy
            digest = base64.b64encode(hashlib.sha384((VENDOR / local).read_bytes()).digest())
            text = re.sub(
                re.escape(url) + r'"(\s+)integrity="[^"]*"',
                f'vendor/{local}"\\1integrity="sha384-{digest.decode()}"',
                text,
            )
            text = text.replace(url, "vendor/" + local)
        left = re.findall(r"""(?:src|href)=["'](https?://[^"']+\.(?:js|css))""", text)
        if left:
            raise SystemExit(
                f"asv_history: {page.name} loads {left}: add them to tools/asv_vendor and CDN"
            )
        page.write_text(text)


# --- headline graphs -----------------------------------------------------------------------


def load_series(results: str, machine: str, rev: str) -> tuple[list[str], dict]:
    """Commits of ``rev``'s first-parent history that have results (oldest first), and
    {(benchmark, param tuple): {sha: seconds}} from asv's results files."""
    order = git("rev-list", "--first-parent", rev).split()[::-1]
    by_sha: dict = {}
    for f in sorted((ROOT / results / machine).glob("*-*.json")):
        data = json.loads(f.read_text())
        if "commit_hash" in data:
            by_sha.setdefault(data["commit_hash"], []).append(data)
    commits = [s for s in order if s in by_sha]
    series: dict = {}
    for sha in commits:
        for data in by_sha[sha]:
            cols = data.get("result_columns", ["result", "params"])
            for name, row in data.get("results", {}).items():
                r = dict(zip(cols, row, strict=False))  # asv drops trailing empty columns
                combos = list(itertools.product(*r.get("params") or [[]]))
                for combo, v in zip(combos, r.get("result") or [], strict=False):
                    if isinstance(v, (int, float)) and v == v:
                        series.setdefault((name, combo), {})[sha] = float(v)
    return commits, series


def draw_pngs(results: str, machine: str, rev: str, out: str) -> list[Path]:
    """Headline graphs: selected losses' value_and_grad time over the commits, one panel per
    (backend, n); and the geometric mean over every loss, relative to the newest commit."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    commits, series = load_series(results, machine, rev)
    if not commits:
        raise SystemExit(f"asv_history: no results in {results}/{machine} for {rev}")
    x = {sha: i for i, sha in enumerate(commits)}
    labels = [sha[:7] for sha in commits]
    out_dir = ROOT / out
    out_dir.mkdir(parents=True, exist_ok=True)
    panels = [
        ("serial", "100000"),
        ("parallel", "100000"),
        ("serial", "1000000"),
        ("parallel", "1000000"),
    ]
    written = []

    def axes_grid(title):
        fig, axs = plt.subplots(2, 2, figsize=(11, 7), sharex=True, squeeze=False)
        fig.suptitle(title + f" (machine {machine})", fontsize=12)
        return fig, axs.ravel()

    def finish(fig, axs, name):
        step = max(1, len(labels) // 12)
        for ax in axs:
            ax.set_xticks(range(0, len(labels), step))
            ax.set_xticklabels(labels[::step], rotation=60, fontsize=7, family="monospace")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    for op in ("value_and_grad", "value"):
        fig, axs = axes_grid(f"fastloss {op}: time of one call over main's commits (float64)")
        for ax, (backend, n) in zip(axs, panels, strict=True):
            for loss in HEADLINE_LOSSES:
                pts = series.get((f"history.{loss}.track_{op}", (f"'{backend}'", n)), {})
                if pts:
                    xs = sorted(x[s] for s in pts)
                    ax.plot(xs, [pts[commits[i]] * 1e6 for i in xs], marker="o", ms=3, label=loss)
            ax.set_title(f"{backend}, n = {int(n):.0e}", fontsize=10)
            ax.set_ylabel("µs per call")
            ax.set_yscale("log")
        axs[0].legend(fontsize=7, ncol=2)
        finish(fig, axs, f"history_{op}.png")

    fig, axs = axes_grid(
        "fastloss: geometric mean over every loss, relative to the newest commit (lower is faster)"
    )
    for ax, (backend, n) in zip(axs, panels, strict=True):
        for op in ("value", "value_and_grad"):
            keys = [
                k
                for k in series
                if k[0].startswith("history.")
                and k[0].endswith(f".track_{op}")
                and k[1] == (f"'{backend}'", n)
                and commits[-1] in series[k]
            ]
            xs, ys = [], []
            for i, sha in enumerate(commits):
                ratios = [series[k][sha] / series[k][commits[-1]] for k in keys if sha in series[k]]
                if ratios:
                    xs.append(i)
                    ys.append(math.exp(sum(map(math.log, ratios)) / len(ratios)))
            ax.plot(xs, ys, marker="o", ms=3, label=f"{op} ({len(keys)} losses)")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_title(f"{backend}, n = {int(n):.0e}", fontsize=10)
        ax.set_ylabel("time / newest")
        ax.legend(fontsize=7)
    finish(fig, axs, "history_summary.png")
    for p in written:
        log(f"graph: {p}")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--commits",
        type=int,
        default=30,
        help="how many commits of the history (0: all); default 30",
    )
    ap.add_argument("--rev", default="main", help="branch whose first-parent history to use")
    ap.add_argument(
        "--last",
        action="store_true",
        help="the last COMMITS commits instead of a sample spread over the history",
    )
    ap.add_argument("--since", default=None, help="sample only from this commit of REV on")
    ap.add_argument("--bench", default=DEFAULT_BENCH, help="benchmark regex (asv -b)")
    ap.add_argument("--quick", action="store_true", help="asv --quick (one sample: a smoke run)")
    ap.add_argument("--machine", default=None, help="asv machine name (default: from the CPU)")
    ap.add_argument("--results", default=RESULTS, help="results folder (default asv_results)")
    ap.add_argument("--html", default=HTML, help="dashboard folder (default .asv/history-html)")
    ap.add_argument("--png-dir", default=PNG_DIR, help="headline graphs folder")
    ap.add_argument(
        "--launch-method",
        default="spawn",
        choices=["spawn", "forkserver"],
        help="spawn (default): a fresh process per benchmark; forkserver forks them from one "
        "process per commit (faster, but parallel calls measured up to 20x slower there)",
    )
    ap.add_argument("--publish-only", action="store_true", help="no benchmark run")
    ap.add_argument("--verbose", action="store_true", help="show asv's output")
    args = ap.parse_args(argv)
    args.machine = args.machine or default_machine()
    asv = [sys.executable, "-m", "asv"]
    config = write_config(args.results, args.html)
    if not args.publish_only:
        ensure_machine(args.machine, args.results)
        run_history(args, asv, config)
    publish(asv, config, args.html)
    draw_pngs(args.results, args.machine, args.rev, args.png_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
