"""The row-wise and contrastive CPU kernels vectorise: their machine code holds packed SIMD
arithmetic (x86-64).

Every kernel these losses build (serial; float32 and float64; value and value_and_grad) is
recompiled from its Python function without the disk cache and its assembly searched for
packed floating-point arithmetic on whole vectors (``vaddpd``, ``vfmadd231ps``, ...), not
only the scalar ``sd``/``ss`` forms. A kernel that stops vectorising fails by name, however
noisy the machine's timings. Speed itself is measured by the benchmarks, never here.
"""

from __future__ import annotations

import platform
import re

import numba
import numpy as np
import pytest
from llvmlite import binding as llvm

import fastloss
from fastloss._kernels.compile import compiled

from .simd_rows import fresh_asm, packed_ops, zmm_packed_ops

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="the assembly patterns are x86-64"
)

ROWWISE = ("cross_entropy", "kl_divergence", "log_loss")
CONTRASTIVE = ("info_nce", "nt_xent", "triplet_margin", "cosine_embedding")
DTYPES = (np.float32, np.float64)


def _inputs(name, dtype):
    spec = fastloss.REGISTRY[name]
    shape = (8, 130) if spec.kind == "rowwise" else (12, 16)  # rows past a SIMD width
    args, params = spec.sample(np.random.default_rng(0), shape, np.dtype(dtype))
    return args, params


def _kernels():
    """``{label: (dispatcher, signature)}`` of every serial kernel the losses above build
    for both dtypes and both ops (collected from the kernel caches after real calls)."""
    for name in ROWWISE + CONTRASTIVE:
        for dtype in DTYPES:
            args, params = _inputs(name, dtype)
            loss = getattr(fastloss, name)
            loss(*args, **params, backend="serial")
            loss.value_and_grad(*args, **params, backend="serial")
    found = {}
    for key, k in compiled("rows").items():
        row, parallel, wg, wh = key[:4]
        if parallel or wh:
            continue
        for sig in k.signatures:
            label = f"rows[{row.__name__}, {'value_and_grad' if wg else 'value'}, {sig[0].dtype}]"
            found[label] = (k, sig)
    for kind in ("body", "whole"):
        for (fn, parallel, *_), k in compiled(kind).items():
            if parallel:
                continue
            for sig in k.signatures:
                found[f"contrastive[{fn.__name__}, {sig[0].dtype}]"] = (k, sig)
    return found


# one row per element would be a gather and no arithmetic loop: these kernels do O(1) work
# per row (log_loss reads one probability per row; its gradient loop only stores zeros)
NO_ELEMENT_LOOP = ("rows[log_loss_row, value,", "rows[log_loss_row, value_and_grad,")


@pytest.fixture(scope="module")
def asm_texts():
    return {label: fresh_asm(k, sig) for label, (k, sig) in sorted(_kernels().items())}


@pytest.fixture(scope="module")
def asm_counts(asm_texts):
    return {label: packed_ops(asm) for label, asm in asm_texts.items()}


def test_every_rowwise_and_contrastive_kernel_has_packed_simd(asm_counts):
    expected = {
        f"rows[{n}_row, {op}, {np.dtype(d).name}]"
        for n in ("cross_entropy", "kl_divergence", "log_loss")
        for op in ("value", "value_and_grad")
        for d in DTYPES
    }
    assert expected <= set(asm_counts), sorted(expected - set(asm_counts))
    assert sum(k.startswith("contrastive[") for k in asm_counts) >= 12
    checked = {k: v for k, v in asm_counts.items() if not k.startswith(NO_ELEMENT_LOOP)}
    scalar_only = sorted(k for k, v in checked.items() if v == 0)
    print(
        f"\n[simd rows] {len(checked) - len(scalar_only)} of {len(checked)} row-wise and "
        f"contrastive kernels with packed SIMD arithmetic ({len(asm_counts) - len(checked)}"
        " without a per-element loop not counted)"
    )
    assert not scalar_only, f"no packed SIMD arithmetic in: {', '.join(scalar_only)}"


def test_the_counter_tells_scalar_from_packed_code():
    """The pattern itself: a loop that cannot vectorise (each step needs the previous one)
    has no packed arithmetic; an elementwise loop has."""

    def chain(x):
        s = x[0]
        for i in range(1, x.shape[0]):
            s = s * x[i] + 1.0 / s
        return s

    def axpy(x, y):
        for i in range(x.shape[0]):
            y[i] = 2.0 * x[i] + y[i]

    a = numba.types.Array(numba.float64, 1, "C")
    kc = numba.njit(chain)
    ka = numba.njit(axpy)
    assert packed_ops(fresh_asm(kc, (a,))) == 0
    assert packed_ops(fresh_asm(ka, (a, a))) > 0


@pytest.mark.skipif(not llvm.get_host_cpu_features().get("avx512f", False),
                    reason="512-bit vectors need AVX-512")
def test_rowwise_loops_use_512_bit_vectors(asm_texts):
    """The row functions and their helpers are optimised as functions of their own before
    they are inlined into the kernel: without their own ``wide_vectors()`` their loops
    stay at LLVM's default width (256 bits here), half the lanes of the kernel's."""
    rowwise = {k: v for k, v in asm_texts.items()
               if k.startswith("rows[") and not k.startswith(NO_ELEMENT_LOOP)}
    assert len(rowwise) == 8
    narrow = sorted(k for k, asm in rowwise.items() if zmm_packed_ops(asm) == 0)
    assert not narrow, f"no 512-bit packed arithmetic in: {', '.join(narrow)}"
    # cross-entropy's exponentials (a helper's loop): their floor is a 512-bit vrndscale
    ce = {k: v for k, v in rowwise.items() if k.startswith("rows[cross_entropy_row,")}
    assert len(ce) == 4
    narrow_exp = sorted(k for k, asm in ce.items()
                        if not re.search(r"vrndscalep[sd]\s+\$\d+,\s*%zmm", asm))
    assert not narrow_exp, f"exponentials not on 512-bit vectors in: {', '.join(narrow_exp)}"
