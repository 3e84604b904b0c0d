"""Editing a loss's formula recompiles its kernels: a fresh process must never load the old
kernel from the disk cache. Three fresh processes share one cache folder and import a
temporary copy of the package: the first compiles, the second (unchanged source) loads from
the cache, the third runs after one scalar function was edited in the copy."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys

import fastloss
from fastloss._spec import REGISTRY

CHILD = """
import json, numpy as np, fastloss
v, g = fastloss.mse.value_and_grad(np.array([0.0, 1.0]), np.array([3.0, 1.0]),
                                   backend="serial")
print(json.dumps([fastloss.__file__, fastloss.mse([0.0], [3.0]), v, g.tolist()]))
"""


def _run(pkg_root, cache):
    env = dict(os.environ, PYTHONPATH=str(pkg_root), NUMBA_CACHE_DIR=str(cache))
    env.pop("FASTLOSS_BACKEND", None)
    r = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(pkg_root),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _cached(cache):
    return sorted(
        os.path.relpath(os.path.join(d, f), cache)
        for d, _, fs in os.walk(cache)
        for f in fs
        if f.endswith(".nbc")
    )


def test_editing_a_scalar_recompiles_in_a_fresh_process(tmp_path):
    src = os.path.dirname(os.path.abspath(fastloss.__file__))
    pkg_root, cache = tmp_path / "pkg", tmp_path / "cache"
    shutil.copytree(src, pkg_root / "fastloss", ignore=shutil.ignore_patterns("__pycache__"))

    first = _run(pkg_root, cache)
    assert first[0].startswith(str(pkg_root))  # the copy is what runs
    assert first[1:] == [9.0, 4.5, [3.0, 0.0]]
    compiled = _cached(cache)
    assert compiled, "nothing was cached"
    again = _run(pkg_root, cache)
    assert again[1:] == first[1:] and _cached(cache) == compiled  # loaded, not recompiled

    # edit mse's scalar in the copy: the prediction is shifted by 1 before anything else
    fn = REGISTRY["mse"].scalar
    rel = os.path.relpath(inspect.getsourcefile(fn), src)
    path = pkg_root / "fastloss" / rel
    text = path.read_text()
    m = re.search(rf"^def {fn.__name__}\((\w+), (\w+)[^\n]*:\n", text, re.M)
    assert m, f"{fn.__name__} not found in {rel}"
    edited = text[: m.end()] + f"    {m.group(2)} = {m.group(2)} + 1.0\n" + text[m.end() :]
    path.write_text(edited)

    third = _run(pkg_root, cache)
    # (p + 1 - y)^2: [16, 1] -> mean 8.5; gradient 2 (p + 1 - y) / 2
    assert third[1:] == [16.0, 8.5, [4.0, 1.0]]
    assert set(_cached(cache)) > set(compiled)  # new kernels were compiled and cached
