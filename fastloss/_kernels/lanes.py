"""Sums over a row in eight lanes (``sum8``, ``dot8``, ``pdist8``) or 32 (``sum32``), and
the row's max (``keymax``).

Element ``j`` of the row goes into lane ``j % 8`` (each lane adds in order), the eight
lanes are added as ``((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))``, then the
``n % 8`` elements of the tail in order. The order depends on the row's length alone, so
every build (serial, parallel, fresh or from the disk cache, any SIMD width) and the CUDA
twins give the same sums.

One chain of adds in order waits about four cycles per element; eight independent chains do
not, but Numba leaves LLVM's SLP vectoriser off, so eight scalar chains stay scalar (about
0.25 ns per element). On the CPU the sums are therefore written as vector IR
(:func:`_lanes8`: one ``<8 x double>`` accumulator, the same adds lane by lane); the
plain-Python chains (:data:`PORTABLE`) are the CUDA twins, and the reference the tests
compare the IR with, bit for bit. ``sum32`` (four accumulators, for the log-sum-exp of long
rows) has a CUDA twin too; ``keymax`` serves the CPU's row kernels only.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload, register_jitable

SUM, DOT, SQDIFF, ABSDIFF, SHIFT, WSHIFT = 0, 1, 2, 3, 4, 5


def _term(mode, builder, a, b, eps):
    """The term of one element (or of eight, as vectors) from float64 ``a`` and ``b``."""
    if mode == SUM:
        return a
    if mode == DOT:
        return builder.fmul(a, b)
    if mode == SHIFT:  # eps - a (eps: the row's max)
        return builder.fsub(eps, a)
    if mode == WSHIFT:  # a * (eps - b) (a: weights)
        return builder.fmul(a, builder.fsub(eps, b))
    u = builder.fadd(builder.fsub(a, b), eps)
    if mode == SQDIFF:
        return builder.fmul(u, u)
    name = "llvm.fabs.v8f64" if isinstance(u.type, ir.VectorType) else "llvm.fabs.f64"
    fabs = cgutils.get_or_insert_function(builder.module, ir.FunctionType(u.type, [u.type]),
                                          name)
    return builder.call(fabs, [u])


def contiguous_row(a) -> bool:
    return (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
            and a.dtype in (types.float32, types.float64))


def _make_lanes8(mode, accs=1):
    """The sum of ``mode``'s terms in eight lanes (``accs`` = 1), or in 32 (``accs`` = 4:
    element ``j`` of the ``32 * (n // 32)`` first ones into lane ``j % 32``, the next full
    blocks of eight into lanes 0-7, the 32 lanes folded as ``(l + l8) + (l16 + l24)``
    into eight; four accumulators, so a long row is not one chain of vector adds)."""
    @intrinsic
    def lanes8(typingctx, x, y, eps):
        if not (contiguous_row(x) and contiguous_row(y) and isinstance(eps, types.Float)):
            return None

        def codegen(context, builder, signature, args):
            tx, ty, te = signature.args
            xa = context.make_array(tx)(context, builder, args[0])
            ya = context.make_array(ty)(context, builder, args[1])
            intp = context.get_value_type(types.intp)
            f64 = ir.DoubleType()
            vec = ir.VectorType(f64, 8)
            e = context.cast(builder, args[2], te, types.float64)
            ev = ir.Constant(vec, None)
            for j in range(8):
                ev = builder.insert_element(ev, e, ir.Constant(ir.IntType(32), j))
            n = builder.extract_value(xa.shape, 0)

            def load(arr, typ, index, lanes):
                elt = context.get_value_type(typ.dtype)
                ptr = builder.gep(arr.data, [index])
                if lanes:
                    v = builder.load(builder.bitcast(ptr, ir.VectorType(elt, 8).as_pointer()),
                                     align=context.get_abi_sizeof(elt))
                    return v if elt == f64 else builder.fpext(v, vec)
                v = builder.load(ptr)
                return v if elt == f64 else builder.fpext(v, f64)

            def block(acc, base):
                t = _term(mode, builder, load(xa, tx, base, True), load(ya, ty, base, True), ev)
                builder.store(builder.fadd(builder.load(acc), t), acc)

            zero = ir.Constant(vec, [0.0] * 8)
            acc = [cgutils.alloca_once_value(builder, zero) for _ in range(accs)]
            start = ir.Constant(intp, 0)
            if accs > 1:
                n32 = builder.sdiv(n, ir.Constant(intp, 8 * accs))
                with cgutils.for_range(builder, n32) as loop:
                    base = builder.mul(loop.index, ir.Constant(intp, 8 * accs))
                    for k in range(accs):
                        block(acc[k], builder.add(base, ir.Constant(intp, 8 * k)))
                start = builder.mul(n32, ir.Constant(intp, 8 * accs))
            end = builder.mul(builder.sdiv(n, ir.Constant(intp, 8)), ir.Constant(intp, 8))
            with cgutils.for_range_slice(builder, start, end, ir.Constant(intp, 8)) as (j, _):
                block(acc[0], j)
            v = builder.load(acc[0])
            if accs > 1:
                v = builder.fadd(builder.fadd(v, builder.load(acc[1])),
                                 builder.fadd(builder.load(acc[2]), builder.load(acc[3])))
            lane = [builder.extract_element(v, ir.Constant(ir.IntType(32), j))
                    for j in range(8)]
            add = builder.fadd
            s = add(add(add(lane[0], lane[1]), add(lane[2], lane[3])),
                    add(add(lane[4], lane[5]), add(lane[6], lane[7])))
            total = cgutils.alloca_once_value(builder, s)
            with cgutils.for_range_slice(builder, end, n, ir.Constant(intp, 1)) as (j, _):
                t = _term(mode, builder, load(xa, tx, j, False), load(ya, ty, j, False), e)
                builder.store(builder.fadd(builder.load(total), t), total)
            return builder.load(total)

        return types.float64(x, y, eps), codegen

    return lanes8


_LANES = {mode: _make_lanes8(mode) for mode in (SUM, DOT, SQDIFF, ABSDIFF)}
_sum_ir, _dot_ir, _sq_ir, _abs_ir = (_LANES[m] for m in (SUM, DOT, SQDIFF, ABSDIFF))
_sum32_ir = _make_lanes8(SUM, accs=4)
#: ``sum(m - x)`` and ``sum(w * (m - x))`` of contiguous rows in 32 lanes, as
#: ``shift32(x, x, m)`` and ``wshift32(w, x, m)`` (the CPU's row kernels; on CUDA a row's
#: threads add their own columns, see ``fastloss._kernels.rows``).
shift32 = _make_lanes8(SHIFT, accs=4)
wshift32 = _make_lanes8(WSHIFT, accs=4)


@intrinsic
def keymax(typingctx, x):
    """The max of a contiguous float row taken on keys: the floats' bits as signed
    integers with the negative ones' magnitude bits flipped (an order-preserving map; a
    positive NaN is above ``+inf``, a negative one below ``-inf``), in ``<16 x i32>``
    (float32) or ``<8 x i64>`` (float64) lanes, then the tail. Exact in any order."""
    if not contiguous_row(x):
        return None

    def codegen(context, builder, signature, args):
        tx = signature.args[0]
        xa = context.make_array(tx)(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        bits = 32 if tx.dtype == types.float32 else 64
        width = 512 // bits
        it = ir.IntType(bits)
        vt = ir.VectorType(it, width)
        n = builder.extract_value(xa.shape, 0)
        data = builder.bitcast(xa.data, it.as_pointer())

        def key(b, typ):  # b ^ ((b >> (bits - 1)) & MAX): the negatives' magnitude flipped
            if isinstance(typ, ir.VectorType):
                sh = ir.Constant(typ, [bits - 1] * width)
                mx = ir.Constant(typ, [(1 << (bits - 1)) - 1] * width)
            else:
                sh, mx = ir.Constant(typ, bits - 1), ir.Constant(typ, (1 << (bits - 1)) - 1)
            return builder.xor(b, builder.and_(builder.ashr(b, sh), mx))

        lowest = -(1 << (bits - 1))
        acc = cgutils.alloca_once_value(builder, ir.Constant(vt, [lowest] * width))
        nb = builder.sdiv(n, ir.Constant(intp, width))
        with cgutils.for_range(builder, nb) as loop:
            ptr = builder.gep(data, [builder.mul(loop.index, ir.Constant(intp, width))])
            k = key(builder.load(builder.bitcast(ptr, vt.as_pointer()), align=bits // 8), vt)
            a = builder.load(acc)
            builder.store(builder.select(builder.icmp_signed(">", k, a), k, a), acc)
        red = cgutils.get_or_insert_function(builder.module, ir.FunctionType(it, [vt]),
                                             f"llvm.vector.reduce.smax.v{width}i{bits}")
        best = cgutils.alloca_once_value(builder, builder.call(red, [builder.load(acc)]))
        start = builder.mul(nb, ir.Constant(intp, width))
        with cgutils.for_range_slice(builder, start, n, ir.Constant(intp, 1)) as (j, _):
            k = key(builder.load(builder.gep(data, [j])), it)
            b = builder.load(best)
            builder.store(builder.select(builder.icmp_signed(">", k, b), k, b), best)
        return builder.bitcast(key(builder.load(best), it), context.get_value_type(tx.dtype))

    return x.dtype(x), codegen


# the chains, written out: the CUDA twins (PORTABLE), the fallback for strided rows, and what
# the IR must equal


@register_jitable(forceinline=True)
def _pterm(u, P):
    """``|u|^P`` (``u * u`` for P = 2, ``|u|`` for P = 1)."""
    if P == 2.0:
        return u * u
    if P == 1.0:
        return abs(u)
    return abs(u) ** P


@register_jitable(forceinline=True)
def sum8_chains(x, n):
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    nb = n // 8
    for b in range(nb):
        j = 8 * b
        a0 += x[j]
        a1 += x[j + 1]
        a2 += x[j + 2]
        a3 += x[j + 3]
        a4 += x[j + 4]
        a5 += x[j + 5]
        a6 += x[j + 6]
        a7 += x[j + 7]
    s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for j in range(8 * nb, n):
        s += x[j]
    return s


@register_jitable(forceinline=True)
def dot8_chains(x, y):
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    nb = n // 8
    for b in range(nb):
        j = 8 * b
        a0 += (1.0 * x[j]) * y[j]
        a1 += (1.0 * x[j + 1]) * y[j + 1]
        a2 += (1.0 * x[j + 2]) * y[j + 2]
        a3 += (1.0 * x[j + 3]) * y[j + 3]
        a4 += (1.0 * x[j + 4]) * y[j + 4]
        a5 += (1.0 * x[j + 5]) * y[j + 5]
        a6 += (1.0 * x[j + 6]) * y[j + 6]
        a7 += (1.0 * x[j + 7]) * y[j + 7]
    s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for j in range(8 * nb, n):
        s += (1.0 * x[j]) * y[j]
    return s


@register_jitable(forceinline=True)
def pdist8_chains(x, y, eps, P):
    n = x.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    nb = n // 8
    for b in range(nb):
        j = 8 * b
        a0 += _pterm((1.0 * x[j] - y[j]) + eps, P)
        a1 += _pterm((1.0 * x[j + 1] - y[j + 1]) + eps, P)
        a2 += _pterm((1.0 * x[j + 2] - y[j + 2]) + eps, P)
        a3 += _pterm((1.0 * x[j + 3] - y[j + 3]) + eps, P)
        a4 += _pterm((1.0 * x[j + 4] - y[j + 4]) + eps, P)
        a5 += _pterm((1.0 * x[j + 5] - y[j + 5]) + eps, P)
        a6 += _pterm((1.0 * x[j + 6] - y[j + 6]) + eps, P)
        a7 += _pterm((1.0 * x[j + 7] - y[j + 7]) + eps, P)
    s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for j in range(8 * nb, n):
        s += _pterm((1.0 * x[j] - y[j]) + eps, P)
    return s


@register_jitable(forceinline=True)
def _lane32(x, L, n32, end):
    """Lane ``L`` of :func:`sum32`: its elements of the blocks of 32, then (lanes 0-7) of
    the blocks of eight, in order."""
    a = 0.0
    for j in range(L, n32, 32):
        a += x[j]
    if L < 8:
        for j in range(n32 + L, end, 8):
            a += x[j]
    return a


@register_jitable(forceinline=True)
def _fold32(x, k, n32, end):
    return ((_lane32(x, k, n32, end) + _lane32(x, k + 8, n32, end))
            + (_lane32(x, k + 16, n32, end) + _lane32(x, k + 24, n32, end)))


@register_jitable(forceinline=True)
def sum32_chains(x, n):
    n32 = 32 * (n // 32)
    end = 8 * (n // 8)
    v0 = _fold32(x, 0, n32, end)
    v1 = _fold32(x, 1, n32, end)
    v2 = _fold32(x, 2, n32, end)
    v3 = _fold32(x, 3, n32, end)
    v4 = _fold32(x, 4, n32, end)
    v5 = _fold32(x, 5, n32, end)
    v6 = _fold32(x, 6, n32, end)
    v7 = _fold32(x, 7, n32, end)
    s = ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))
    for j in range(end, n):
        s += x[j]
    return s


# the public helpers: the IR on the CPU where the rows are contiguous float arrays


def sum8(x, n):
    """``x[0] + ... + x[n-1]`` in float64, in the eight lanes' order."""
    return sum8_chains(x, n)


def sum32(x, n):
    """``x[0] + ... + x[n-1]`` in float64, in the 32 lanes' order (see :func:`_make_lanes8`;
    the same as :func:`sum8` for ``n < 32``)."""
    return sum32_chains(x, n)


def dot8(x, y):
    """``sum_j x[j] y[j]`` of two rows (1-D views) in float64, in the eight lanes' order."""
    return dot8_chains(x, y)


def pdist8(x, y, eps, P):
    """``sum_j |x[j] - y[j] + eps|^P`` of two rows (1-D views) in float64, in the eight
    lanes' order (the P-th power of ``torch.pairwise_distance``)."""
    return pdist8_chains(x, y, eps, P)


_JIT = {"forceinline": True}


@overload(sum8, jit_options=_JIT)
def _sum8_ov(x, n):
    if contiguous_row(x):
        return lambda x, n: _sum_ir(x[:n], x[:n], 0.0)
    return lambda x, n: sum8_chains(x, n)


@overload(sum32, jit_options=_JIT)
def _sum32_ov(x, n):
    if contiguous_row(x):
        return lambda x, n: _sum32_ir(x[:n], x[:n], 0.0)
    return lambda x, n: sum32_chains(x, n)


@overload(dot8, jit_options=_JIT)
def _dot8_ov(x, y):
    if contiguous_row(x) and contiguous_row(y):
        return lambda x, y: _dot_ir(x, y, 0.0)
    return lambda x, y: dot8_chains(x, y)


@overload(pdist8, jit_options=_JIT)
def _pdist8_ov(x, y, eps, P):
    if contiguous_row(x) and contiguous_row(y):
        def impl(x, y, eps, P):
            if P == 2.0:
                return _sq_ir(x, y, eps)
            if P == 1.0:
                return _abs_ir(x, y, eps)
            return pdist8_chains(x, y, eps, P)
        return impl
    return lambda x, y, eps, P: pdist8_chains(x, y, eps, P)


#: The CUDA twins (the device factory rebinds these names to them).
PORTABLE = {"sum8": sum8_chains, "sum32": sum32_chains, "dot8": dot8_chains,
            "pdist8": pdist8_chains}
