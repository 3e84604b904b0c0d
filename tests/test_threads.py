"""Bits do not depend on the thread count (1, 2, 3, 7: odd counts split the blocks unevenly)
and equal the serial kernels'; a child forked after a parallel call says, and does, serial."""

from __future__ import annotations

import json

from tests.helpers import run_python

_THREADS = """
import hashlib, json, numba, numpy as np, fastloss as fl

assert numba.config.NUMBA_NUM_THREADS == 7, numba.config.NUMBA_NUM_THREADS
rng = np.random.default_rng(11)
R, n = 3, 50021
y, w = rng.standard_normal(n), rng.uniform(0.0, 2.0, n)
p = rng.standard_normal((R, n))
yb = rng.integers(0, 2, (R, n)).astype(float)
pw = rng.uniform(0.0, 3.0, n)
x, lab = 2 * rng.standard_normal((3000, 37)), rng.integers(0, 37, 3000)
z1 = rng.standard_normal((200, 16))
z2 = z1 + 0.3 * rng.standard_normal((200, 16))


def h(a):
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def run(be):
    out = {}
    for name in ("mse", "huber", "log_cosh", "quantile"):
        L = getattr(fl, name)
        v, g = L.value_and_grad(y, p, sample_weight=w, backend=be)
        gh = L.grad_hess(y, p, backend=be)
        out[name] = [float(v).hex(), h(L(y, p, axis=-1, backend=be)), h(g), h(gh[0]), h(gh[1])]
    v, g = fl.binary_cross_entropy_with_logits.value_and_grad(yb, p, pos_weight=pw, backend=be)
    out["bce_logits"] = [float(v).hex(), h(g)]
    v, g = fl.cross_entropy.value_and_grad(lab, x, label_smoothing=0.1, backend=be)
    out["cross_entropy"] = [float(v).hex(), h(g)]
    v, g = fl.l2_penalty.value_and_grad(p, backend=be)
    out["l2_penalty"] = [float(v).hex(), h(g)]
    v, (g1, g2) = fl.nt_xent.value_and_grad(z1, z2, backend=be)
    out["nt_xent"] = [float(v).hex(), h(g1), h(g2)]
    return out


res = {"serial": run("serial")}
for k in (1, 2, 3, 7):
    numba.set_num_threads(k)
    res[str(k)] = run("parallel")
print(json.dumps(res))
"""


def test_bits_identical_for_1_2_3_and_7_threads():
    r = run_python(_THREADS, {"NUMBA_NUM_THREADS": "7"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    serial = res.pop("serial")
    assert set(res) == {"1", "2", "3", "7"}
    for k, got in res.items():
        for name in serial:
            assert got[name] == serial[name], (k, name)


_FORK = """
import json, os
import numpy as np
import fastloss as fl
from fastloss import _backend

y, p = np.random.default_rng(2).standard_normal((2, 100000))


def in_child():
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        rep = dict(parallel=fl.info()["backends"]["parallel"],
                   resolved=_backend.resolve("parallel", 10**6),
                   auto=_backend.resolve("auto", 10**9),
                   value=fl.huber(y, p, backend="parallel").hex())
        os.write(wfd, json.dumps(rep).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)


before = in_child()  # no parallel kernel has run in the parent yet
ref = fl.huber(y, p, backend="parallel")
after = in_child()
print(json.dumps(dict(before=before, after=after, ref=ref.hex(),
                      serial=fl.huber(y, p, backend="serial").hex())))
"""


def test_forked_child_info_says_serial():
    r = run_python(_FORK, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    before, after = res["before"], res["after"]
    assert before["parallel"] == "usable"
    assert before["resolved"] == "parallel" and before["auto"] == "parallel"
    assert after["parallel"] == "serial fallback (forked)"
    assert after["resolved"] == "serial" and after["auto"] == "serial"
    assert after["value"] == before["value"] == res["ref"] == res["serial"]
