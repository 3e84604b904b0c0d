"""Processes that compile into one fresh cache at the same moment: each gets correct
results, and so does every later process, which loads every kernel from the cache."""

import json
import time

from ._util import popen, reaped, run

RACERS = 4

# Each racer waits for the same start signal, then makes the same calls in its own order:
# two ops x two dtypes, so that the racers save several signatures of one kernel (one
# index file) at once, which is where Numba's unlocked save loses or mixes entries.
RACER = """
import os, time
order = int(os.environ["RACE_ORDER"])
go = os.environ["RACE_GO"]
while not os.path.exists(go):
    time.sleep(0.005)
plans = [(("value", "grad"), (np.float64, np.float32)),
         (("grad", "value"), (np.float32, np.float64))]
ops, dts = plans[order % 2]
bad = []
for dt in (dts if order < 2 else dts[::-1]):
    bad += check(ops=ops, dtypes=(dt,))
print(json.dumps({"bad": bad, **stats()}))
"""

LATER = """
print(json.dumps({"bad": check(ops=("value", "grad"), dtypes=(np.float64, np.float32)),
                  **stats()}))
"""


def test_concurrent_first_compiles_into_one_fresh_cache(tmp_path):
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    procs = [popen(RACER, cache, RACE_ORDER=i, RACE_GO=go) for i in range(RACERS)]
    results = []
    with reaped(procs):
        time.sleep(1.0)  # let them import numba and fastloss, then start together
        go.write_text("")
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    for r in results:
        assert r["bad"] == [], r
        assert r["hits"] + r["misses"] == 4  # 2 kernels x 2 dtypes each
    # under the lock each kernel and signature is compiled once; the others load it
    assert sum(r["misses"] for r in results) == 4
    assert run(LATER, cache) == {"bad": [], "hits": 4, "misses": 0}
