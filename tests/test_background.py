"""The suite's long, self-contained files run in a child ``python -m pytest`` beside the
rest, on the machine's other core: the machine-code checks (``test_vectorised*.py``,
``test_cuda_ptx.py``), the fault scenarios (``faults/``) and the adding-a-loss page
(``test_adding_a_loss.py``). ``tests/conftest.py`` moves their collected tests into the
child as soon as this test is collected, and puts this test last; it waits for the child
and fails with the child's report when any moved test failed. Run alone, it runs those
files whole. Their tests run in this process as usual when they are named without this
file (``pytest tests/test_vectorised.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import fastloss

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: what the child runs, relative to tests/
FILES = ("test_vectorised.py", "test_vectorised_rows.py", "test_cuda_ptx.py", "faults",
         "test_adding_a_loss.py")
#: set in the child, so that it never starts a child of its own
ENV = "FASTLOSS_TEST_CHILD"

_child: dict = {}


def moves(path) -> bool:
    """Whether a test collected from ``path`` belongs to the child's run."""
    rel = os.path.relpath(str(path), HERE)
    return rel.split(os.sep)[0] in FILES


def start(nodeids=None) -> None:
    """Start the child (once) on ``nodeids``, or on :data:`FILES` whole."""
    if _child or os.environ.get(ENV):
        return
    env = dict(os.environ, **{ENV: "1"})
    src = os.path.dirname(os.path.dirname(os.path.abspath(fastloss.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    args = list(nodeids) if nodeids else [os.path.join(HERE, f) for f in FILES]
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: no blocking on output
    _child.update(t0=time.perf_counter(), log=log, n=len(nodeids) if nodeids else None)
    _child["proc"] = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--no-header",
         *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )


def stop() -> None:
    """Kill the child if the session ends without waiting for it; close its log."""
    proc = _child.get("proc")
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    if _child.get("log") is not None:
        _child["log"].close()


def _count(word: str, out: str) -> int:
    m = re.search(rf"(\d+) {word}", out)
    return int(m.group(1)) if m else 0


def test_background_files_pass(capsys):
    start()
    proc, log, t0 = _child["proc"], _child["log"], _child["t0"]
    try:
        proc.wait(timeout=max(1.0, 1500 - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        stop()
        raise
    log.seek(0)
    out = log.read()
    log.close()
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    assert proc.returncode == 0, out[-8000:]
    passed, skipped = _count("passed", summary), _count("skipped", summary)
    assert passed > 0 and not re.search(r"\d+ (failed|errors?)\b", summary), out[-8000:]
    if _child["n"] is not None:  # every moved test ran there
        assert passed + skipped == _child["n"], (passed, skipped, _child["n"], out[-3000:])
    if skipped:
        reasons = [ln for ln in out.splitlines() if ln.startswith("SKIPPED")]
        warnings.warn(f"{skipped} tests skipped in the child run: {reasons}", stacklevel=1)
    with capsys.disabled():
        print(f"\n[child run] {summary} ({', '.join(FILES)}; waited from the start of the "
              f"session: {time.perf_counter() - t0:.0f} s)")
