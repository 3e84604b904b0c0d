"""A child ``python -m pytest`` started at collection that runs beside the session, and the
test that waits for it (used by ``test_cuda_sim.py`` and ``test_background.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time

import fastloss

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: how long a waiting test waits, from the child's start (two children and the session
#: share two cores: the simulator's child took 1076 s so, 525 s alone)
TIMEOUT = 2400


class ChildRun:
    """One child pytest run: :meth:`start` once, :meth:`wait` for its output."""

    def __init__(self):
        self.proc = self.log = None
        self.t0 = self.t1 = 0.0

    @property
    def started(self) -> bool:
        return self.proc is not None

    def start(self, args, **env) -> None:
        if self.proc is not None:
            return
        e = dict(os.environ, **env)
        src = os.path.dirname(os.path.dirname(os.path.abspath(fastloss.__file__)))
        e["PYTHONPATH"] = os.pathsep.join(p for p in (src, e.get("PYTHONPATH")) if p)
        self.log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: never blocks
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
             *args],
            cwd=ROOT, env=e, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._note_end, daemon=True).start()

    def _note_end(self) -> None:
        self.proc.wait()
        self.t1 = time.perf_counter()

    def stop(self) -> None:
        """Kill the child if the session ends without waiting for it; close its log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log is not None:
            self.log.close()

    def wait(self) -> tuple[int, str, float]:
        """``(exit status, output, seconds from its start to its end)`` once the child is
        done."""
        try:
            self.proc.wait(timeout=max(1.0, TIMEOUT - (time.perf_counter() - self.t0)))
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        self.log.seek(0)
        out = self.log.read()
        self.log.close()
        return self.proc.returncode, out, (self.t1 or time.perf_counter()) - self.t0
