"""Count packed SIMD arithmetic in a kernel's machine code (x86-64).

A kernel is recompiled from its Python function without the disk cache (a kernel loaded
from the cache has no assembly to inspect), with the house options, for one signature.
"Packed" means an AVX/SSE arithmetic instruction on whole vectors of doubles or floats
(``vaddpd``, ``vfmadd231ps``, ...), as opposed to the scalar ``sd``/``ss`` forms.
"""

from __future__ import annotations

import re

import numba

_PACKED = re.compile(
    r"^\s*v?(?:add|sub|mul|div|max|min|sqrt|fn?madd\d*|fn?msub\d*|fmaddsub\d*|fmsubadd\d*)"
    r"p[sd]\s.*%[xyz]mm",
    re.M,
)  # arithmetic only: packed and/xor/blend also serve scalar code (abs, zeroing, selects)
_WIDE = re.compile(r"%[yz]mm")


def packed_ops(asm: str) -> int:
    """Packed floating-point arithmetic instructions in ``asm``."""
    return len(_PACKED.findall(asm))


def wide_packed_ops(asm: str) -> int:
    """Packed arithmetic on 256- or 512-bit registers (ymm/zmm)."""
    return sum(1 for m in _PACKED.finditer(asm) if _WIDE.search(m.group(0)))


def zmm_packed_ops(asm: str) -> int:
    """Packed arithmetic on 512-bit registers (zmm)."""
    return sum(1 for m in _PACKED.finditer(asm) if "%zmm" in m.group(0))


def fresh_asm(dispatcher, sig) -> str:
    """The assembly of ``dispatcher``'s Python function compiled anew for ``sig`` (serial,
    no disk cache, the dispatcher's own options)."""
    opts = dict(dispatcher.targetoptions)
    opts.pop("cache", None)
    opts.pop("nopython", None)  # implied by njit (it warns when given)
    opts["parallel"] = False
    k = numba.njit(cache=False, **opts)(dispatcher.py_func)
    k.compile(sig)
    return k.inspect_asm(sig)
