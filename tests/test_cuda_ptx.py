"""Every CUDA kernel compiles to PTX for compute capabilities 8.0 (A100) and 9.0 (H100/H200),
without a GPU (numba-cuda[cu13] brings NVVM as wheels; the device functions are inlined
before typing, so no driver is asked for).

Each kernel is typed and lowered once (what :func:`numba.cuda.compile_ptx` does first), then
NVVM emits PTX for each compute capability from that module: the same PTX that
``compile_ptx(kernel, sig, cc=cc)`` gives, up to the unique ids in symbol names (checked
below), at half the cost. The catalog is compiled in worker processes, one per core.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import multiprocessing
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
LABELS = [c[0] for c in CATALOG]


@pytest.fixture(scope="module")
def report(request):
    """The PTX report of the whole catalog, compiled in parallel worker processes."""
    t0 = time.perf_counter()
    workers = max(1, min(os.cpu_count() or 1, 8))
    if workers == 1:
        rep = K.ptx_report(LABELS, CCS)
    else:
        chunks = [LABELS[i::workers] for i in range(workers)]
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
            rep = {}
            for part in ex.map(K.ptx_report, chunks, [CCS] * workers):
                rep.update(part)
    took = time.perf_counter() - t0
    yield rep
    ok = sum(1 for v in rep.values() if isinstance(v, dict))
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if capman is not None:
        with capman.global_and_fixture_disabled():
            print(f"\n[cuda ptx] {ok} of {len(LABELS)} CUDA kernels compiled to PTX for cc "
                  f"{', '.join(f'{a}.{b}' for a, b in CCS)}: {ok * len(CCS)} PTX modules in "
                  f"{took:.0f} s ({workers} worker processes)")


@pytest.mark.parametrize("label", LABELS)
def test_kernel_compiles_to_ptx(report, label):
    r = report[label]
    assert isinstance(r, dict), r  # else the compile error
    assert set(r) == set(CCS)
    for cc, info in r.items():
        assert info["target"] and info["entry"], (label, cc, info)
        assert not info["float_atomics"], (label, cc)  # reductions: no float atomics


def test_every_registered_loss_has_cuda_kernels():
    """Every loss comes with its CUDA kernels: the catalog holds, for each registered loss,
    the kernels of its scalar (or row, term or row-body) function for each op and both
    dtypes. A new loss without them fails here."""
    by_fn = {}
    for label in LABELS:
        owner = REGISTRY.get(label.split(".")[0])
        if owner is not None:
            by_fn.setdefault(K.cuda_function(owner), set()).add(label)
    missing = set()
    for name, spec in REGISTRY.items():
        got = by_fn.get(K.cuda_function(spec))
        if K.cuda_function(spec) is None or not got:
            missing.add(name)
            continue
        for op in ("value", "grad", "value_and_grad") + (("grad_hess",) if spec.has_hess
                                                         else ()):
            for dt in K.DTYPES:
                assert any(f".{op}." in lab and lab.endswith(dt) for lab in got), (name, op, dt)
    assert not missing, f"without CUDA kernels: {sorted(missing)}"


def test_plain_compile_ptx_matches():
    """The public API gives the same PTX as the shared lowering (one kernel)."""
    label, fn, sig = next(c for c in CATALOG if c[0].endswith("value_and_grad.float32"))
    ours = K.compile_ptx_ccs(fn, sig, CCS)
    strip = re.compile(r"_ZN\w+|_cudapy_smem_\d+")  # unique ids
    for cc in CCS:
        plain, _ = cuda.compile_ptx(fn, sig, cc=cc)
        assert strip.sub("NAME", plain) == strip.sub("NAME", ours[cc]), (label, cc)


def test_float_atomic_check_sees_float_atomics():
    """The no-float-atomics assertion can fail: a kernel that adds with a float64 atomic."""
    from numba import types as nt

    def racy_sum(a, out):
        cuda.atomic.add(out, 0, a[cuda.grid(1)])

    f64 = nt.Array(nt.float64, 1, "C")
    ptx = K.compile_ptx_ccs(racy_sum, (f64, f64), CCS)
    assert all(K.FLOAT_ATOMIC.search(code) for code in ptx.values())


def test_row_kernel_factory_compiles_to_ptx():
    """The row-kernel factory (row views, an inlined row function with loops and a
    rebound helper) compiles for both compute capabilities."""
    from tests.cuda_sim.toy_rows import toy_ce_row

    k = K.row_kernel(toy_ce_row, write_g=True, write_h=True, has_t=False, has_lab=True,
                     has_sw=True)
    for dt in K.DTYPES:
        for cc, code in K.compile_ptx_ccs(k.py_func, K.row_signature(dt, 1), CCS).items():
            assert f".target sm_{cc[0]}{cc[1]}" in code
