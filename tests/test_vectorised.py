"""Every pointwise kernel's hot loop is SIMD code, whatever the timing noise.

For each pointwise loss (and the GAN and penalty terms, and the proximal operator) x op x
dtype, the serial kernel is compiled afresh (a kernel loaded from the disk cache keeps no
machine code to inspect) with the flags the house uses, and its machine code must hold
packed float arithmetic on full vector registers (``ymm``/``zmm``; ``xmm`` on a machine
without AVX) other than additions: the lane reduction is additions only, so what is
counted comes from the elementwise pass. Its LLVM IR must call no libm transcendental.
"""

from __future__ import annotations

import platform
import re

import numba
import numpy as np
import pytest
from llvmlite import binding as llvm

from fastloss._kernels import cpu
from fastloss._spec import REGISTRY
from fastloss.losses import penalties

from .simd import count_packed, packed_ops

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the machine-code check reads x86 assembly",
)

_FEATURES = llvm.get_host_cpu_features()
WIDE = ("ymm", "zmm") if _FEATURES.get("avx", False) else ("xmm",)
LIBM = (
    "@exp(",
    "@expf(",
    "@log(",
    "@logf(",
    "@log1p(",
    "@expm1(",
    "@tanh(",
    "@sinh(",
    "@cosh(",
    "@pow(",
    "@powf(",
    "@llvm.exp.",
    "@llvm.log.",
    "@llvm.pow.",
)

# op -> (reduce, write_l, write_g, write_h)
OPS = {
    "value": (True, False, False, False),
    "grad": (False, False, True, False),
    "value_and_grad": (True, False, True, False),
    "grad_hess": (False, False, True, True),
}


def _prm(spec, dt):
    """The defaults as a call passes them (a folded default, focal's gamma = 2, as None: the
    kernel a default call runs)."""
    vals = []
    for p in spec.params:
        v = 1.0 if p.default is None else p.check(p.default)
        vals.append(p.kernel_value(v, dt))
    return tuple(vals) or (dt.type(0.0),)


def _cases():
    cases = []
    for name, spec in REGISTRY.items():
        if spec.kind != "pointwise":
            continue
        ops = ["value", "grad", "value_and_grad"] + (["grad_hess"] if spec.has_hess else [])
        for op in ops:
            for dt in ("float64", "float32"):
                cases.append((name, spec.scalar, _prm(spec, np.dtype(dt)), op, dt, None))
                if spec.input_flags is not None and op != "grad_hess":  # the common
                    # call's kernel, which checks its inputs as it goes
                    cases.append((f"{name}[checked]", spec.scalar, _prm(spec, np.dtype(dt)),
                                  op, dt, spec.input_flags))
                if any(p.fold is not None for p in spec.params):  # and the general kernel,
                    # with the folded parameter at another value
                    prm = tuple(np.dtype(dt).type(1.5 if p.fold is not None else
                                                   p.check(p.default)) for p in spec.params)
                    cases.append((f"{name}[unfolded]", spec.scalar, prm, op, dt, None))
    terms = {}  # the pointwise terms of the "terms" losses (GAN, penalties), each once
    for spec in REGISTRY.values():
        for t in spec.term_specs() if spec.kind == "terms" else ():
            terms[t.name] = (t.scalar, (1.0,) * spec.term_params)
    for name, (scalar, prm) in terms.items():
        for op in ("value", "grad", "value_and_grad"):
            for dt in ("float64", "float32"):
                cases.append((name, scalar, tuple(np.dtype(dt).type(v) for v in prm), op, dt,
                              None))
    return cases


CASES = _cases()
_compiled: dict = {}


def _fresh(dispatcher):
    """The same function with the same flags, compiled now and never from the disk cache."""
    opts = {k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"}
    return numba.njit(dispatcher.py_func, **opts)


def _pointwise_asm(scalar, prm, op, dt, flags=None):
    key = (scalar, tuple(type(v) for v in prm), op, dt, flags)
    if key not in _compiled:
        reduce, wl, wg, wh = OPS[op]
        k = _fresh(
            cpu._make_pointwise(scalar, False, reduce, False, wl, wg, wh, 0, False, False, False,
                                flags)
        )
        d = np.dtype(dt)
        a = np.linspace(0.1, 0.9, 20).astype(d)
        buf = np.empty_like(a)
        # the library's call: None for each array the kernel does not use
        k(a, a.copy(), None, None, prm, 1.0, a.size, buf if wl else None,
          buf.copy() if wg else None, buf.copy() if wh else None, np.zeros(1) if reduce else None)
        sig = k.signatures[0]
        _compiled[key] = (k.inspect_asm(sig), k.inspect_llvm(sig))
    return _compiled[key]


def _n_packed(asm):
    """Packed non-add float arithmetic: doubles on full vector registers; floats on any
    (4 floats in an ``xmm`` register are as many lanes as 4 doubles in a ``ymm`` one, and a
    float32 kernel converts each loss to float64 for the sum)."""
    ops = packed_ops(asm)
    return sum(
        c
        for (op, w), c in ops.items()
        if not op.lstrip("v").startswith("add")
        and (w in WIDE or (op.endswith("ps") and w == "xmm"))
    )


def _widest(asm):
    """The register width that holds most of the packed non-add float arithmetic."""
    by = {}
    for (op, w), c in packed_ops(asm).items():
        if not op.lstrip("v").startswith("add") and op.endswith(("ps", "pd")):
            by[w] = by.get(w, 0) + c
    return max(by, key=by.get) if by else None


def _assert_vectorised(label, asm, ir):
    n = _n_packed(asm)
    assert n > 0, (
        f"{label}: no packed {'/'.join(WIDE)} arithmetic besides additions in the "
        f"kernel (not vectorised); packed ops found: {dict(packed_ops(asm))}"
    )
    calls = [f for f in LIBM if f in ir]
    assert not calls, f"{label}: scalar libm call(s) {calls} in the kernel"


@pytest.mark.parametrize(
    ("name", "scalar", "prm", "op", "dt", "flags"), CASES,
    ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES]
)
def test_pointwise_kernel_is_vectorised(name, scalar, prm, op, dt, flags):
    asm, ir = _pointwise_asm(scalar, prm, op, dt, flags)
    if flags is not None:  # and on vectors as wide as the kernel that does not check
        plain, _ = _pointwise_asm(scalar, prm, op, dt)
        assert _widest(asm) == _widest(plain), (
            f"{name} {op} {dt}: the checking kernel computes mostly on {_widest(asm)} "
            f"registers, the plain one on {_widest(plain)}")
    if (name, op) in CONSTANT:
        # nothing to compute: the loop stores one value, which must be packed stores
        stores = re.findall(r"vmovup[sd]\s+%[yz]mm\d+, -?\w*\(", asm)
        assert stores, f"{name} {op} {dt}: no packed stores of its constant"
        return
    _assert_vectorised(f"pointwise kernel of {name}, {op}, {dt}", asm, ir)


#: (kernel, op) whose every output element is one loop-invariant value (d(a x)/dx = a)
CONSTANT = {("linear_term", "grad")}


@pytest.mark.parametrize("dt", ["float64", "float32"])
def test_prox_kernel_is_vectorised(dt):
    k = _fresh(cpu._make_map(penalties.prox_elastic, False))
    d = np.dtype(dt)
    w = np.linspace(-1, 1, 20).astype(d)
    k(w, d.type(0.5), d.type(1.5), np.empty_like(w))
    sig = k.signatures[0]
    _assert_vectorised(f"prox kernel, {dt}", k.inspect_asm(sig), k.inspect_llvm(sig))


@pytest.mark.parametrize(
    ("wmode", "ybcast", "has_cp", "rows"),
    [
        (1, False, False, False),
        (2, False, False, False),
        (0, True, False, True),
        (1, False, True, True),
    ],
)
def test_layouts_are_vectorised(wmode, ybcast, has_cp, rows):
    """Weights, a broadcast ``y_true``, a per-column parameter and per-row sums."""
    spec = REGISTRY["binary_cross_entropy_with_logits"]
    k = _fresh(
        cpu._make_pointwise(
            spec.scalar, False, True, rows, False, True, False, wmode, ybcast, has_cp, False
        )
    )
    yp = np.linspace(-2, 2, 20)
    yt = yp[:5].copy() if ybcast else (yp > 0).astype(np.float64)
    prm = (np.nan,) if has_cp else (1.0,)
    w = np.ones(4 if wmode == 2 else 5)
    k(yt, yp, w if wmode else None, np.ones(5) if has_cp else None, prm, 1.0, 5, None,
      np.empty_like(yp), None, np.zeros(4))
    sig = k.signatures[0]
    _assert_vectorised(
        f"layout {(wmode, ybcast, has_cp, rows)}", k.inspect_asm(sig), k.inspect_llvm(sig)
    )


def test_the_check_sees_scalar_code():
    """The detector itself: a recurrence (scalar code) fails it, a plain loop passes, and
    a libm call is seen in the IR."""
    import math

    def recurrence(x, o):
        for i in range(1, x.shape[0]):
            o[i] = o[i - 1] * x[i] - 1.0

    def plain(x, o):
        for i in range(x.shape[0]):
            o[i] = x[i] * 3.0 - 1.0

    def libm(x, o):
        for i in range(x.shape[0]):
            o[i] = math.tanh(x[i])

    x = np.linspace(0, 1, 20)
    for fn, vec in ((recurrence, False), (plain, True)):
        k = numba.njit(cache=False)(fn)
        k(x, np.zeros_like(x))
        assert (_n_packed(k.inspect_asm(k.signatures[0])) > 0) is vec, fn.__name__
    k = numba.njit(cache=False)(libm)
    k(x, np.zeros_like(x))
    with pytest.raises(AssertionError, match="libm"):
        _assert_vectorised("libm", k.inspect_asm(k.signatures[0]), k.inspect_llvm(k.signatures[0]))


def test_packed_ops_parser():
    asm = """
        vmulpd  %zmm1, %zmm2, %zmm3
        vfmadd231pd (%rax), %ymm4, %ymm5
        vmulsd  %xmm1, %xmm2, %xmm3
        vaddpd  %ymm0, %ymm1, %ymm1
        vandpd  %xmm1, %xmm2, %xmm2
        mulps   %xmm1, %xmm0
    """
    ops = packed_ops(asm)
    assert ops == {
        ("vmulpd", "zmm"): 1,
        ("vfmadd231pd", "ymm"): 1,
        ("vaddpd", "ymm"): 1,
        ("mulps", "xmm"): 1,
    }
    assert count_packed(asm, ("ymm", "zmm"), exclude=("vadd",)) == 2
