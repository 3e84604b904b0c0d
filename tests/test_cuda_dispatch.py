"""The CUDA backend's availability, in fresh processes without the simulator:
``BackendUnavailableError`` with the reason where no GPU is usable, ``numba.cuda`` imported
only on the CUDA road, and a CPU-only install (no numba-cuda) that imports and says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import fastloss

SRC = os.path.dirname(os.path.dirname(os.path.abspath(fastloss.__file__)))

PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastloss
    out = {"cuda_imported_by_import": "numba.cuda" in sys.modules}
    fastloss.mse([0.0, 1.0], [1.0, 3.0])
    fastloss.huber.grad(np.zeros(5), np.ones(5), backend="serial")
    out["cuda_imported_by_cpu_calls"] = "numba.cuda" in sys.modules
    out["numba_cuda_imported"] = "numba_cuda" in sys.modules
    try:
        r = fastloss.mse([0.0, 1.0], [1.0, 3.0], backend="cuda")
        out["result"] = r
    except fastloss.BackendUnavailableError as e:
        out["error"] = str(e)
        out["is_runtime_error"] = isinstance(e, RuntimeError)
    out["info_cuda"] = fastloss.info()["backends"]["cuda"]
    print(json.dumps(out))
""")

# A CPU-only install: numba-cuda is absent (the finder that redirects numba.cuda to it is
# dropped and the package cannot be found).
NO_NUMBA_CUDA = textwrap.dedent("""
    import importlib.abc, sys
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "NumbaCudaFinder"]
    class _NoNumbaCuda(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "numba_cuda" or name.startswith("numba_cuda."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, _NoNumbaCuda())
""")


def _run(code: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_ENABLE_CUDASIM", "FASTLOSS_BACKEND")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cuda_imported_only_on_the_cuda_road_and_unavailable_says_why():
    out = _run(PROBE)
    assert out["cuda_imported_by_import"] is False
    assert out["cuda_imported_by_cpu_calls"] is False
    if "result" in out:  # a machine with a usable GPU: the CUDA road gives the CPU answer
        assert out["result"] == 2.5
        assert out["info_cuda"] == "usable"
    else:
        assert out["is_runtime_error"] is True
        assert out["error"].startswith('backend "cuda" is not usable: ')
        assert "GPU" in out["error"] or "driver" in out["error"]
        assert out["info_cuda"].startswith("unusable: ")


def test_cpu_only_install_imports_and_raises_backend_unavailable():
    out = _run(NO_NUMBA_CUDA + PROBE)
    assert out["numba_cuda_imported"] is False
    assert out["cuda_imported_by_import"] is False
    assert out["cuda_imported_by_cpu_calls"] is False
    assert out["is_runtime_error"] is True
    assert "numba-cuda is not installed" in out["error"], out["error"]
    assert "fastloss[cuda12]" in out["error"] and "fastloss[cuda13]" in out["error"]
    assert out["info_cuda"].startswith("unusable: numba-cuda is not installed")


def test_device_arrays_without_numba_cuda_say_why():
    code = NO_NUMBA_CUDA + textwrap.dedent("""
        import json
        import fastloss
        class FakeCudaArray:  # any object with __cuda_array_interface__ asks for "cuda"
            __cuda_array_interface__ = {"shape": (2,), "typestr": "<f8", "data": (0, False),
                                        "version": 3}
        try:
            fastloss.mse([0.0, 1.0], FakeCudaArray())
            print(json.dumps({"error": None}))
        except fastloss.BackendUnavailableError as e:
            print(json.dumps({"error": str(e)}))
    """)
    out = _run(code)
    assert out["error"] and "numba-cuda is not installed" in out["error"]
