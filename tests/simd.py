"""Counting packed SIMD arithmetic in x86 assembly text (AT&T or Intel syntax).

A packed instruction works on every lane of a vector register (``vmulpd %zmm1, ...``,
``vfmadd231ps``, ``addpd``); a scalar one ends in ``sd``/``ss`` and uses one lane of an
``xmm`` register. Logic (``vandpd``, ``vxorps``), moves, shuffles and conversions are not
counted: compilers use them on ``xmm`` registers for scalar code too.
"""

from __future__ import annotations

import re
from collections import Counter

_ARITH = (
    r"(?:add|sub|mul|div|min|max|sqrt|"
    r"f(?:n?m(?:add|sub)|maddsub|msubadd)(?:132|213|231)?)"
)
# an optional VEX/EVEX "v", the operation, the packed suffix, then the first operand
_PACKED = re.compile(rf"^\s*(v?{_ARITH}p[sd])\s+([^\n]*)$", re.MULTILINE)
_REG = re.compile(r"%?([xyz]mm)\d+")


def packed_ops(asm: str) -> Counter:
    """``Counter`` of ``(mnemonic, width)`` for the packed float arithmetic in ``asm``;
    ``width`` is ``"xmm"``, ``"ymm"`` or ``"zmm"`` (the widest register it names)."""
    found: Counter = Counter()
    for m in _PACKED.finditer(asm):
        regs = _REG.findall(m.group(2))
        if not regs:
            continue
        width = max(regs, key=lambda r: "xyz".index(r[0]))
        found[(m.group(1), width)] += 1
    return found


def count_packed(asm: str, widths=("ymm", "zmm"), exclude=()) -> int:
    """How many packed float arithmetic instructions on registers of ``widths`` ``asm``
    holds, leaving out the mnemonics that start with any of ``exclude``."""
    return sum(
        c
        for (op, w), c in packed_ops(asm).items()
        if w in widths and not op.startswith(tuple(exclude))
    )
