"""Every CUDA kernel compiles to PTX for compute capabilities 8.0 (A100) and 9.0 (H100/H200),
without a GPU (numba-cuda[cu13] brings NVVM as wheels; the device functions are inlined
before typing, so no driver is asked for).

Each kernel is typed and lowered once (what :func:`numba.cuda.compile_ptx` does first), then
NVVM emits PTX for each compute capability from that module: the same PTX that
``compile_ptx(kernel, sig, cc=cc)`` gives, up to the unique ids in symbol names, at
half the cost. Where numba-cuda's internals differ, plain ``compile_ptx`` per cc is used.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time

import pytest

if importlib.util.find_spec("numba_cuda") is None:
    pytest.skip("numba-cuda is not installed (pip install 'fastloss[cuda13]')",
                allow_module_level=True)
if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("NUMBA_ENABLE_CUDASIM=1: the simulator cannot compile PTX",
                allow_module_level=True)

from numba import cuda  # noqa: E402

from fastloss._kernels import cuda as K  # noqa: E402
from fastloss._spec import REGISTRY  # noqa: E402

CCS = ((8, 0), (9, 0))
CATALOG = K.kernel_catalog()
_stats = {"kernels": 0, "ptx": 0, "seconds": 0.0}


def compile_ptx_ccs(pyfunc, sig, ccs=CCS):
    """``{cc: ptx}``: one typing and lowering, PTX per compute capability."""
    try:
        from numba.cuda.compiler import _compile_pyfunc_with_fixup
    except ImportError:
        return {cc: cuda.compile_ptx(pyfunc, sig, cc=cc)[0] for cc in ccs}
    lib, _ = _compile_pyfunc_with_fixup(pyfunc, sig, device=False, abi="numba", cc=ccs[0])
    out = {}
    for cc in ccs:
        codes = lib.get_asm_strs(cc=cc)
        assert len(codes) == 1
        out[cc] = codes[0]
    return out


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    yield
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if capman is not None and _stats["kernels"]:
        with capman.global_and_fixture_disabled():
            print(f"\n[cuda ptx] {_stats['kernels']} CUDA kernels compiled to PTX for cc "
                  f"{', '.join(f'{a}.{b}' for a, b in CCS)}: {_stats['ptx']} PTX modules in "
                  f"{_stats['seconds']:.0f} s")


def test_catalog_covers_every_pointwise_loss():
    pointwise = [s for s in REGISTRY.values() if s.kind == "pointwise"]
    scalars = {s.scalar for s in pointwise}
    named = {label.split(".")[0] for label, _, _ in CATALOG}
    covered = {REGISTRY[n].scalar for n in named if n in REGISTRY}
    assert scalars <= covered
    assert len(CATALOG) >= len(scalars) * 2 * 5


def test_plain_compile_ptx_matches():
    """The public API gives the same PTX as the shared lowering (one kernel)."""
    label, fn, sig = next(c for c in CATALOG if c[0].endswith("value_and_grad.float32"))
    ours = compile_ptx_ccs(fn, sig)
    strip = re.compile(r"_ZN\w+|_cudapy_smem_\d+")  # unique ids
    for cc in CCS:
        plain, _ = cuda.compile_ptx(fn, sig, cc=cc)
        assert strip.sub("NAME", plain) == strip.sub("NAME", ours[cc]), (label, cc)


@pytest.mark.parametrize("label,fn,sig", CATALOG, ids=[c[0] for c in CATALOG])
def test_kernel_compiles_to_ptx(label, fn, sig):
    t0 = time.perf_counter()
    ptx = compile_ptx_ccs(fn, sig)
    _stats["seconds"] += time.perf_counter() - t0
    _stats["kernels"] += 1
    for cc, code in ptx.items():
        assert f".target sm_{cc[0]}{cc[1]}" in code, (label, cc)
        assert ".visible .entry" in code, (label, cc)
        # reductions never use floating-point atomics
        assert not re.search(r"\batom\.[\w.]*\.f(32|64)\b", code), (label, cc)
        assert not re.search(r"\bred\.[\w.]*\.f(32|64)\b", code), (label, cc)
        _stats["ptx"] += 1


def test_row_kernel_factory_compiles_to_ptx():
    """The row-kernel factory (row views, an inlined row function with loops and a
    rebound helper) compiles for both compute capabilities, for each write pattern."""
    from tests.cuda_sim.toy_rows import toy_ce_row

    n = 0
    for red, wl, wg, wh in ((True, False, False, False), (False, True, True, True),
                            (True, False, True, False)):
        k = K.row_kernel(toy_ce_row, reduce=red, write_l=wl, write_g=wg, write_h=wh,
                         has_t=False, has_lab=True, has_sw=True)
        for dt in K.DTYPES:
            for cc, code in compile_ptx_ccs(k.py_func, K.row_signature(dt, 1)).items():
                assert f".target sm_{cc[0]}{cc[1]}" in code
                n += 1
    assert n == 12
