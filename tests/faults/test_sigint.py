"""Ctrl-C (SIGINT) during the first, compiling calls, at several delays, in processes that
share one fresh cache: each process gets exactly one clean KeyboardInterrupt, then correct
results (Numba's own ``njit`` still works), and so do new processes on that cache."""

import json
import signal
import threading
import time

from ._util import popen, reaped, run

DELAYS = (0.0, 0.3, 0.8, 1.6)  # seconds after the process is ready to call

CHILD = """
import signal, time, numba
# Ctrl-C raises KeyboardInterrupt here even when this process was started with SIGINT
# ignored (a background job of a non-interactive shell inherits SIG_IGN)
signal.signal(signal.SIGINT, signal.default_int_handler)
print("ready", flush=True)
t0 = time.monotonic()
events = []
try:
    bad = check(ops=("value", "grad"), backends=("serial", "parallel"))
    events.append("finished")
    took = time.monotonic() - t0
    time.sleep(20)  # the signal arrives here at the latest
except KeyboardInterrupt:
    events.append("interrupted")
    took = time.monotonic() - t0
with open("/proc/self/status") as f:  # where a SIGINT that never came went (Linux)
    sig = [ln for ln in f.read().splitlines() if ln.startswith(("ShdPnd", "SigBlk", "SigIgn"))]
bad = check(ops=("value", "grad"), backends=("serial", "parallel"))

@numba.njit
def own(a):
    return a.shape[0] + a.sum()

print(json.dumps({"events": events, "bad": bad, "numba_ok": bool(own(np.ones(3)) == 6.0),
                  "signals": sig, "took": round(took, 2)}))
"""

LATER = """
print(json.dumps({"bad": check(ops=("value", "grad"), backends=("serial", "parallel")),
                  **stats()}))
"""


def sweep(cache, delays=DELAYS):
    """Start one process per delay on ``cache``; interrupt each that long after it is
    ready. Returns each process's report and whether it was still compiling then."""
    procs = [popen(CHILD, cache) for _ in delays]

    def interrupt(proc, delay):
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)

    ts = [threading.Thread(target=interrupt, args=a) for a in zip(procs, delays, strict=True)]
    reports = []
    with reaped(procs):
        [t.start() for t in ts]
        [t.join() for t in ts]
        for p, delay in zip(procs, delays, strict=True):
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-3000:]
            r = json.loads(out.strip().splitlines()[-1])
            r["stderr"], r["delay"] = err[-2000:], delay  # for a report without an interrupt
            reports.append(r)
    return reports


def test_sigint_sweep_during_first_compiles(tmp_path):
    cache = tmp_path / "cache"
    reports = sweep(cache)
    during = 0
    for r in reports:
        assert r["bad"] == [] and r["numba_ok"], r
        # exactly one KeyboardInterrupt: during the calls, or after them (never swallowed)
        assert r["events"] in (["interrupted"], ["finished", "interrupted"]), r
        during += r["events"] == ["interrupted"]
    assert during >= 1  # at least the 0 s delay lands inside the compiling calls
    res = run(LATER, cache)  # a new process on the cache the interrupted ones wrote
    assert res == {"bad": [], "hits": 4, "misses": 0}, res
