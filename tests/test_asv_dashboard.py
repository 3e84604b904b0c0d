"""The performance-history dashboard (tools/asv_history.py, docs/performance.md).

The dashboard is ``asv publish`` of the stored results (``asv_results/``, or the folders named
by ``ASV_DASHBOARD_HTML``/``ASV_DASHBOARD_RESULTS``/``ASV_DASHBOARD_MACHINE``, which the CI
smoke step .ci/asv_dashboard.sh sets after measuring two commits). The numbers are read
independently from asv's results files and compared with what the dashboard serves; the
dashboard is then opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``
with selenium): no JavaScript error, the benchmark list populated, graphs drawn. Without a
browser that test is skipped, unless ``FASTLOSS_REQUIRE_BROWSER=1`` (the CI smoke step).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("asv", reason="asv is in the test extra")


def _tool():
    spec = importlib.util.spec_from_file_location("asv_history", ROOT / "tools" / "asv_history.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stored(results: Path, machine: str) -> dict:
    """{(commit, benchmark): [value per parameter combination]} read from asv's results
    files with json alone (positional columns named by ``result_columns``)."""
    out = {}
    for f in sorted((results / machine).glob("*-*.json")):
        data = json.loads(f.read_text())
        for name, row in data["results"].items():
            cols = dict(zip(data["result_columns"], row, strict=False))
            if name.startswith("history."):  # None: the benchmark failed on that commit
                out[(data["commit_hash"], name)] = cols["result"] or [None] * 4
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(html folder, results folder, machine name, stored numbers)."""
    tool = _tool()
    html = os.environ.get("ASV_DASHBOARD_HTML")
    results = Path(os.environ.get("ASV_DASHBOARD_RESULTS", ROOT / tool.RESULTS))
    machines = [p.name for p in results.iterdir() if (p / "machine.json").exists()]
    machine = os.environ.get("ASV_DASHBOARD_MACHINE") or (machines[0] if machines else "")
    assert machine in machines, f"no stored results for a machine in {results}"
    if html is None:
        html = str(tmp_path_factory.mktemp("asv") / "html")
        tool.publish([sys.executable, "-m", "asv"], tool.write_config(str(results), html), html)
    stored = _stored(results, machine)
    assert stored, f"no history.* results in {results / machine}"
    return Path(html), results, machine, stored


def _measured(values) -> bool:
    return any(v is not None and v == v for v in values)


def _graph_file(html: Path, machine: str, name: str) -> Path:
    """asv's graph of one benchmark on one machine (graphs/<param>-<value>/.../<name>.json)."""
    found = [
        p
        for p in (html / "graphs").rglob(f"{name}.json")
        if f"machine-{machine}" in p.parts and "branch-main" in p.parts
    ]
    assert len(found) == 1, (name, found)
    return found[0]


def test_index_lists_every_stored_benchmark(published):
    html, _, machine, stored = published
    index = json.loads((html / "index.json").read_text())
    names = {name for _, name in stored}
    assert names <= set(index["benchmarks"])
    assert machine in index["params"]["machine"]
    published_commits = set(index["revision_to_hash"].values())
    assert {sha for sha, _ in stored} <= published_commits
    for name in names:
        b = index["benchmarks"][name]
        assert b["param_names"] == ["backend", "n"]
        assert b["params"] == [["'serial'", "'parallel'"], ["100000", "1000000"]]


def test_graph_data_are_the_stored_numbers(published):
    """Every graph point of the dashboard is the number asv stored for that commit."""
    html, _, machine, stored = published
    index = json.loads((html / "index.json").read_text())
    rev = {int(r): sha for r, sha in index["revision_to_hash"].items()}
    for name in {n for _, n in stored}:
        points = json.loads(_graph_file(html, machine, name).read_text())
        # a commit where every combination is n/a (NaN) or failed (None) has no point; one
        # where only some failed has nulls for those
        commits = {sha for (sha, n), v in stored.items()
                   if n == name and not all(x is None or x != x for x in v)}
        assert {rev[r] for r, _ in points} == commits
        for r, values in points:
            want = stored[(rev[r], name)]
            assert len(values) == 4
            for got, w in zip(values, want, strict=True):
                if w is None or w != w:  # failed or n/a: no value
                    assert got is None
                else:
                    assert got == pytest.approx(w) and 1e-7 < got < 1.0  # seconds a call


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_headline_pngs_drawn_from_the_results(published, tmp_path):
    _, results, machine, stored = published
    tool = _tool()
    commits, series = tool.load_series(str(results), machine, "main")
    for (sha, name), values in stored.items():
        combos = itertools.product(["'serial'", "'parallel'"], ["100000", "1000000"])
        for combo, v in zip(combos, values, strict=True):
            if v is not None and v == v:
                assert series[(name, combo)][sha] == v
    written = tool.draw_pngs(str(results), machine, "main", str(tmp_path))
    assert {p.name for p in written} == {
        "history_value.png",
        "history_value_and_grad.png",
        "history_summary.png",
    }
    for p in written:
        w, h = _png_size(p)
        assert w > 500 and h > 300 and p.stat().st_size > 10_000


# --- the dashboard in a real browser -------------------------------------------------------

_ERRORS_JS = """
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(
    String(e.message) + ' at ' + e.filename + ':' + e.lineno));
window.addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));
"""


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if p is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        why = f"no {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("FASTLOSS_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(driver))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the browser closed a connection
            pass


@pytest.fixture(scope="module")
def served(published):
    """The dashboard over HTTP (its pages load JSON with XHR, which file:// URLs refuse)."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(published[0]))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _wait(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _painted(driver, selector):
    """Non-blank pixels on the canvases under ``selector`` (flot draws into canvases)."""
    return driver.execute_script(
        """
        let n = 0;
        for (const c of document.querySelectorAll(arguments[0])) {
            if (!c.width || !c.height) continue;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        }
        return n;""",
        selector,
    )


def _errors(driver):
    errs = list(driver.execute_script("return window.__errors || []"))
    errs += [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]
    return errs


def test_dashboard_renders_in_headless_chromium(published, served):
    _, _, machine, stored = published
    names = sorted({n for _, n in stored})
    shots = os.environ.get("ASV_DASHBOARD_SCREENSHOTS")
    driver = _browser()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _ERRORS_JS})
        driver.get(served + "/index.html")
        # the summary grid: one entry per benchmark, each with its small graph drawn
        _wait(driver, "return document.querySelectorAll('.benchmark-container').length > 0")
        listed = driver.execute_script(
            "return [...document.querySelectorAll('.benchmark-container')]"
            ".map(a => decodeURIComponent(a.getAttribute('href').slice(1)))"
        )
        assert set(names) <= set(listed)
        _wait(driver, "return document.querySelectorAll('.benchmark-plot canvas').length > 0")
        assert _painted(driver, ".benchmark-plot canvas") > 0
        if shots:
            os.makedirs(shots, exist_ok=True)
            driver.save_screenshot(os.path.join(shots, "dashboard.png"))
        # one benchmark's graph over the commits: the flot canvas of the main graph
        name = next((n for n in names if n.endswith("huber.track_value_and_grad")), names[0])
        driver.get(f"{served}/index.html#{name}")
        _wait(driver, "return document.querySelector('#main-graph canvas.flot-base')")
        n_points = _wait(
            driver,
            """
            const plot = $('#main-graph').data('plot');
            if (!plot) return 0;
            return plot.getData().reduce((n, s) => n + s.data.filter(
                p => p[1] !== null).length, 0);""",
        )
        commits = {sha for (sha, n), v in stored.items() if n == name and _measured(v)}
        assert n_points >= len(commits)  # a point per commit, in at least one series
        assert _painted(driver, "#main-graph canvas") > 1000
        if shots:
            driver.save_screenshot(os.path.join(shots, f"{name}.png"))
        assert _errors(driver) == []
    finally:
        driver.quit()


def test_history_tool_help_runs():
    """The documented command exists and describes its options."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "asv_history.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for opt in ("--commits", "--bench", "--quick", "--machine", "--last", "--publish-only"):
        assert opt in out


def test_docs_build_publishes_the_dashboard(tmp_path):
    """docs/_ext/asv_dashboard.py, as the HTML build calls it at the end."""
    spec = importlib.util.spec_from_file_location(
        "asv_dashboard", ROOT / "docs" / "_ext" / "asv_dashboard.py"
    )
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)

    class App:
        outdir = str(tmp_path)
        builder = type("Builder", (), {"format": "html"})()

    if not any((ROOT / "asv_results").glob("*/*-*.json")):
        pytest.fail("no stored results in asv_results/ to publish")
    ext.publish_dashboard(App(), None)
    site = tmp_path / "performance" / "asv"
    page = (site / "index.html").read_text()
    assert "vendor/jquery-3.3.1.min.js" in page and "code.jquery.com" not in page
    for local in _tool().CDN.values():
        assert (site / "vendor" / local).stat().st_size > 1000
    index = json.loads((site / "index.json").read_text())
    assert any(name.startswith("history.") for name in index["benchmarks"])


def test_a_commit_measured_for_part_of_the_suite_is_still_missing(tmp_path):
    """asv's benchmarks.json is pruned to what was measured: "already measured" must also
    count the benchmarks the suite has now (every loss), not only those."""
    tool = _tool()
    (tmp_path / "m").mkdir()
    stored = {"results": {"history.huber.track_value": [[1.0]],
                          "history.huber.track_value_and_grad": [[1.0]]}}
    (tmp_path / "m" / "abcdef12-virtualenv-py3.11.json").write_text(json.dumps(stored))
    (tmp_path / "benchmarks.json").write_text(json.dumps(
        {"version": 2, "history.huber.track_value": {}, "history.huber.track_value_and_grad": {}}))
    assert tool.missing(str(tmp_path), "m", "abcdef12" + "0" * 32, r"^history\.")
    assert not tool.missing(str(tmp_path), "m", "abcdef12" + "0" * 32, r"^history\.huber\.")
    assert tool.missing(str(tmp_path), "m", "12345678" + "0" * 32, r"^history\.huber\.")
    assert "history.mse.track_value_and_grad" in tool.known_benchmarks(str(tmp_path))
