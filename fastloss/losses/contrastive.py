r"""Contrastive and self-supervised losses on embeddings ``(N, d)``.

``info_nce`` and ``nt_xent`` compare every embedding with every other one: the similarity
matrix is one BLAS product (NumPy ``matmul``, in the input's dtype) of row-normalised
embeddings; everything else is fused Numba kernels, one row per task:

1. normalise the rows (norms accumulated in float64);
2. one pass per row of the similarity matrix: the exponentials (``fexp``, which vectorises,
   shifted by ``1/t``, the largest a cosine over ``t`` can be), their sum in float64 in a
   fixed order (the log-sum-exp), the loss of the row, and, when a gradient is wanted, the
   softmax written over the similarity matrix in place (no second ``N x N`` buffer);
3. ``nt_xent`` only: the similarity matrix is symmetric, so the gradient with respect to the
   normalised embeddings is ``(P + P^T) Z / t``; ``P + P^T`` is formed in place, tile by
   tile, and needs one BLAS product instead of two;
4. one BLAS product for the gradient with respect to the normalised embeddings, then the
   backward of the normalisation (fused, per row).

Rows are independent and each row's sums run in a fixed order, so the serial and parallel
kernels give the same bits. ``triplet_margin`` and ``cosine_embedding`` are row-wise: one
fused kernel computes the distances, the loss and every gradient of a row.

No CUDA kernels yet: ``backend="cuda"`` raises ``fastloss.BackendUnavailableError``.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import prange
from numba.extending import register_jitable

from .. import _arrays as A_
from .. import _backend
from .._kernels import scalar as _scalar_mod
from .._kernels.compile import njit, source_hash
from .._kernels.scalar import fexp
from .._kinds import BASES
from .._multi import (
    MultiLoss,
    MultiSpec,
    backend_for,
    check_nonempty,
    contiguous,
    finish_rows,
    float_arrays,
    grad_buffers,
    host_arrays,
    sample_pairs_labels,
    sample_triplets,
    sample_views,
)
from .._spec import Param, register

NORM_EPS = 1e-12  # as torch.nn.functional.normalize: x / max(||x||, eps)
COS_EPS = 1e-12  # as torch.nn.functional.cosine_embedding_loss: (||x||^2 + eps)
TILE = 64


# ---------------------------------------------------------------------------
# kernels (each factory closes over PAR so that Numba's disk cache, whose key ignores the
# compile flags, never hands a parallel build to a serial dispatcher). The house compiles
# without fast-math flags: with `reassoc` LLVM ordered a sum differently in a parallel build
# loaded from the disk cache than in the fresh or the serial one (1 ulp); every sum here has
# its order written out (sequential, or `sum8`).


@register_jitable
def sum8(x, n):
    """``x[0] + ... + x[n-1]`` in a fixed order: eight interleaved partial sums, added as a
    fixed tree, then the tail. Without ``reassoc`` (the house compiles strict) it still
    vectorises (the eight chains are independent), and every build (serial, parallel, fresh
    or from the disk cache) gives the same bits."""
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


def _make_normalize(parallel):
    PAR = parallel

    def normalize(x, eps, xn, norm):
        PAR  # noqa: B018
        M = x.shape[0]
        d = x.shape[1]
        for i in prange(M):
            s = 0.0
            for k in range(d):
                v = 1.0 * x[i, k]
                s += v * v
            nrm = math.sqrt(s)
            norm[i] = nrm
            den = max(nrm, eps)
            for k in range(d):
                xn[i, k] = x[i, k] / den

    return normalize


def _make_normalize_back(parallel):
    PAR = parallel

    def normalize_back(gy, y, norm, eps, coef, g):
        # y = x / max(||x||, eps); g = coef * d/dx of <gy, y>  (torch's clamp_min passes the
        # gradient through the norm where ||x|| >= eps)
        PAR  # noqa: B018
        M = gy.shape[0]
        d = gy.shape[1]
        for i in prange(M):
            nrm = norm[i]
            if nrm >= eps:
                dot = 0.0
                for k in range(d):
                    dot += (1.0 * gy[i, k]) * y[i, k]
                c = coef / nrm
                for k in range(d):
                    g[i, k] = c * (gy[i, k] - dot * y[i, k])
            else:
                c = coef / eps
                for k in range(d):
                    g[i, k] = c * gy[i, k]

    return normalize_back


def _make_rows(parallel, nt, write):
    PAR = parallel
    NT = nt
    WRITE = write
    SRC = source_hash(_scalar_mod, sum8)
    RB = 8  # rows per task (they share one float64 scratch row)

    def rows(S, inv_t, half, coef, loss, dpos):
        """Row ``i``: ``loss_i = logsumexp_j(S_ij / t) - S_i,pos(i) / t`` over ``j`` (``j != i``
        for nt_xent). With ``WRITE``: info_nce writes ``coef * (softmax - onehot)`` over the
        row; nt_xent writes the softmax (0 on the diagonal) and keeps ``softmax_pos - 1``
        for :func:`symmetrize`.

        The rows of ``S`` are cosines (at most 1, up to rounding), so ``1/t`` bounds
        ``S_ij / t`` and serves as the log-sum-exp shift, which keeps the loops free of
        branches (they vectorise); only where ``exp(-2/t)`` could underflow (t < 1/300) is the
        row maximum taken instead."""
        PAR  # noqa: B018
        SRC  # noqa: B018
        M = S.shape[0]
        C = S.shape[1]
        nb = (M + RB - 1) // RB
        for b in prange(nb):
            buf = np.empty(C, np.float64)
            for i in range(b * RB, min(M, (b + 1) * RB)):
                r = S[i]
                if NT:
                    p = i + half if i < half else i - half
                else:
                    p = i
                xp = r[p] * inv_t
                if NT:
                    r[i] = -np.inf  # self-pair: exp gives 0
                if inv_t <= 300.0:
                    mt = inv_t
                else:
                    m = -np.inf
                    for j in range(C):
                        if r[j] > m:
                            m = r[j]
                    mt = m * inv_t
                for j in range(C):
                    buf[j] = fexp(r[j] * inv_t - mt)
                s = sum8(buf, C)
                loss[i] = mt + math.log(s) - xp
                if WRITE:
                    e_pos = fexp(xp - mt)
                    inv = 1.0 / s
                    dp = -(s - e_pos) * inv  # softmax_pos - 1, without cancellation near 1
                    if NT:
                        for j in range(C):
                            r[j] = buf[j] * inv
                        r[i] = 0.0
                        dpos[i] = dp
                    else:
                        c = coef * inv
                        for j in range(C):
                            r[j] = buf[j] * c
                        r[i] = coef * dp

    return rows


def _make_symmetrize(parallel):
    PAR = parallel

    def symmetrize(P, dpos, coef, half, tb):
        """``P <- coef * (P + P^T)`` in place, tile pair by tile pair (each pair of mirrored
        elements is read and written by one task; the mirrored tile goes through a
        transposed copy in a small buffer, so every loop over memory is contiguous); then the
        positives get ``coef * ((P_i,pos - 1) + (P_pos,i - 1))`` and the diagonal 0."""
        PAR  # noqa: B018
        M = P.shape[0]
        T = (M + tb - 1) // tb
        npairs = T * (T + 1) // 2
        ti = np.empty(npairs, np.int64)
        tj = np.empty(npairs, np.int64)
        q = 0
        for a in range(T):
            for b in range(a, T):
                ti[q] = a
                tj[q] = b
                q += 1
        for q in prange(npairs):
            i0 = ti[q] * tb
            i1 = min(M, i0 + tb)
            j0 = tj[q] * tb
            j1 = min(M, j0 + tb)
            if ti[q] == tj[q]:
                for i in range(i0, i1):
                    P[i, i] = 0.0
                    for j in range(i + 1, i1):
                        h = coef * (1.0 * P[i, j] + P[j, i])
                        P[i, j] = h
                        P[j, i] = h
            else:
                ni = i1 - i0
                nj = j1 - j0
                buf = np.empty((ni, nj), P.dtype)  # buf[a, b] = P[j0 + b, i0 + a]
                for b in range(nj):
                    src = P[j0 + b, i0:i1]
                    for a in range(ni):
                        buf[a, b] = src[a]
                for a in range(ni):
                    row = P[i0 + a, j0:j1]
                    bv = buf[a]
                    for b in range(nj):
                        h = coef * (1.0 * row[b] + bv[b])
                        row[b] = h
                        bv[b] = h
                for b in range(nj):
                    dst = P[j0 + b, i0:i1]
                    for a in range(ni):
                        dst[a] = buf[a, b]
        for i in prange(half):
            h = coef * (dpos[i] + dpos[i + half])
            P[i, i + half] = h
            P[i + half, i] = h

    return symmetrize


@register_jitable
def _dnorm(u, P):
    """``sign(u) |u|^(P-1)`` (``sign(u)`` for P = 1; 0 at 0, NaN for NaN)."""
    if u == 0.0:
        return 0.0 * u
    if P == 1.0:
        return 1.0 if u > 0.0 else (-1.0 if u < 0.0 else u)
    return math.copysign(abs(u) ** (P - 1.0), u) if u == u else u


def _make_triplet(parallel):
    PAR = parallel

    def triplet(a, p, n, margin, P, eps, swap, coef, write, loss, ga, gp, gn):
        PAR  # noqa: B018
        N = a.shape[0]
        d = a.shape[1]
        for i in prange(N):
            sap = 0.0
            san = 0.0
            spn = 0.0
            for k in range(d):
                u = (1.0 * a[i, k] - p[i, k]) + eps
                v = (1.0 * a[i, k] - n[i, k]) + eps
                w = (1.0 * p[i, k] - n[i, k]) + eps
                if P == 2.0:
                    sap += u * u
                    san += v * v
                    spn += w * w
                elif P == 1.0:
                    sap += abs(u)
                    san += abs(v)
                    spn += abs(w)
                else:
                    sap += abs(u) ** P
                    san += abs(v) ** P
                    spn += abs(w) ** P
            if P == 2.0:
                dap = math.sqrt(sap)
                dan = math.sqrt(san)
                dpn = math.sqrt(spn)
            elif P == 1.0:
                dap = sap
                dan = san
                dpn = spn
            else:
                dap = sap ** (1.0 / P)
                dan = san ** (1.0 / P)
                dpn = spn ** (1.0 / P)
            wan = 1.0
            wpn = 0.0
            neg = dan
            if swap:
                if dpn < dan:
                    neg = dpn
                    wan = 0.0
                    wpn = 1.0
                elif dpn == dan:  # torch.min splits the gradient at a tie
                    wan = 0.5
                    wpn = 0.5
            z = margin + dap - neg
            active = z >= 0.0
            if active or z != z:
                loss[i] = z
            else:
                loss[i] = 0.0
            if write and not active:
                for k in range(d):
                    ga[i, k] = 0.0
                    gp[i, k] = 0.0
                    gn[i, k] = 0.0
            elif write:
                # d||u||_P / du_k = sign(u_k) |u_k|^(P-1) / ||u||^(P-1), 0 where ||u|| = 0
                cap = 0.0
                can = 0.0
                cpn = 0.0
                if dap > 0.0:
                    cap = 1.0 / dap if P == 2.0 else (1.0 if P == 1.0 else dap ** (1.0 - P))
                if dan > 0.0:
                    can = wan / dan if P == 2.0 else wan * (
                        1.0 if P == 1.0 else dan ** (1.0 - P))
                if dpn > 0.0:
                    cpn = wpn / dpn if P == 2.0 else wpn * (
                        1.0 if P == 1.0 else dpn ** (1.0 - P))
                cap *= coef
                can *= coef
                cpn *= coef
                for k in range(d):
                    u = (1.0 * a[i, k] - p[i, k]) + eps
                    v = (1.0 * a[i, k] - n[i, k]) + eps
                    w = (1.0 * p[i, k] - n[i, k]) + eps
                    if P != 2.0:
                        u = _dnorm(u, P)
                        v = _dnorm(v, P)
                        w = _dnorm(w, P)
                    gu = cap * u
                    gv = can * v
                    gw = cpn * w
                    ga[i, k] = gu - gv
                    gp[i, k] = -gu - gw
                    gn[i, k] = gv + gw

    return triplet


def _make_cosine(parallel):
    PAR = parallel

    def cosine(x1, x2, y, margin, eps, coef, write, loss, g1, g2):
        PAR  # noqa: B018
        N = x1.shape[0]
        d = x1.shape[1]
        for i in prange(N):
            dot = 0.0
            m1 = 0.0
            m2 = 0.0
            for k in range(d):
                a = 1.0 * x1[i, k]
                b = 1.0 * x2[i, k]
                dot += a * b
                m1 += a * a
                m2 += b * b
            m1 += eps
            m2 += eps
            den = math.sqrt(m1 * m2)
            cos = dot / den
            if y[i] > 0.0:
                loss[i] = 1.0 - cos
                c = -coef
            else:
                z = cos - margin
                if z >= 0.0:
                    loss[i] = z
                    c = coef
                elif z < 0.0:
                    loss[i] = 0.0
                    c = 0.0
                else:
                    loss[i] = z
                    c = 0.0
            if write:
                ca = c / den
                c1 = c * cos / m1
                c2 = c * cos / m2
                for k in range(d):
                    a = 1.0 * x1[i, k]
                    b = 1.0 * x2[i, k]
                    g1[i, k] = ca * b - c1 * a
                    g2[i, k] = ca * a - c2 * b

    return cosine


_FACTORIES = {
    "normalize": _make_normalize,
    "normalize_back": _make_normalize_back,
    "rows_info": lambda par: _make_rows(par, False, False),
    "rows_info_grad": lambda par: _make_rows(par, False, True),
    "rows_nt": lambda par: _make_rows(par, True, False),
    "rows_nt_grad": lambda par: _make_rows(par, True, True),
    "symmetrize": _make_symmetrize,
    "triplet": _make_triplet,
    "cosine": _make_cosine,
}
_lock = threading.Lock()
_kernels: dict = {}


def kernel(name: str, parallel: bool):
    """The compiled kernel ``name`` (serial or parallel), built once per process."""
    key = (name, parallel)
    k = _kernels.get(key)
    if k is None:
        with _lock:
            k = _kernels.get(key)
            if k is None:
                fn = _FACTORIES[name](parallel)
                fn.__name__ = fn.__qualname__ = f"{name}_{'par' if parallel else 'ser'}"
                k = _kernels[key] = njit(fn, parallel=parallel)  # house flags: strict
    return k


def _launch(be, name, *args):
    k = kernel(name, be == "parallel")
    if be == "parallel":
        with _backend.parallel_launch():
            k(*args)
    else:
        k(*args)


# ---------------------------------------------------------------------------
# the losses


def _embeddings(spec, arrays, names, reduction, backend=None):
    arrs, dtype = float_arrays(arrays, names)
    arrs = host_arrays(spec, arrs, backend)
    ref = arrs[0]
    for a, nm in zip(arrs, names, strict=True):
        if a.ndim != 2:
            raise ValueError(f"{nm} must be a 2-D array of embeddings (N, d), got shape "
                             f"{a.shape}")
        if a.shape != ref.shape:
            raise ValueError(f"{nm} has shape {a.shape}, which does not match {names[0]}'s "
                             f"shape {ref.shape}")
        if a.shape[1] == 0 and a.shape[0] > 0:
            raise ValueError(f"{nm} has embeddings of dimension 0")
        check_nonempty(a, nm, reduction)
    return [contiguous(a, dtype) for a in arrs], dtype


def _compute_info_nce(spec, arrays, params, reduction, backend, want_value, want_grad, outs):
    (q, k), dtype = _embeddings(spec, arrays, spec.inputs, reduction, backend)
    N, d = q.shape
    inv_t = 1.0 / params["temperature"]
    be = backend_for(spec, backend, N * N)
    gbufs = grad_buffers(outs, [q.shape, k.shape], dtype, spec.inputs) if want_grad else None
    loss = np.zeros(N, np.float64)
    if N:
        qn = np.empty_like(q)
        kn = np.empty_like(k)
        qnorm = np.empty(N, np.float64)
        knorm = np.empty(N, np.float64)
        _launch(be, "normalize", q, NORM_EPS, qn, qnorm)
        _launch(be, "normalize", k, NORM_EPS, kn, knorm)
        S = np.empty((N, N), dtype)
        np.matmul(qn, np.ascontiguousarray(kn.T), out=S)
        coef = 1.0 / N if reduction == "mean" else 1.0
        _launch(be, "rows_info_grad" if want_grad else "rows_info", S, inv_t, 0, coef, loss,
                np.empty(1, np.float64))
        if want_grad:
            dq = np.matmul(S, kn)  # S now holds dL/d(logits)
            dk = np.matmul(S.T, qn)
            del S
            _launch(be, "normalize_back", dq, qn, qnorm, NORM_EPS, inv_t, gbufs[0])
            _launch(be, "normalize_back", dk, kn, knorm, NORM_EPS, inv_t, gbufs[1])
    value = finish_rows(loss, reduction, dtype) if want_value else None
    return value, gbufs


def _compute_nt_xent(spec, arrays, params, reduction, backend, want_value, want_grad, outs):
    (z1, z2), dtype = _embeddings(spec, arrays, spec.inputs, reduction, backend)
    N, d = z1.shape
    M = 2 * N
    inv_t = 1.0 / params["temperature"]
    be = backend_for(spec, backend, M * M)
    gbufs = grad_buffers(outs, [z1.shape, z2.shape], dtype, spec.inputs) if want_grad else None
    loss = np.zeros(M, np.float64)
    if N:
        zn = np.empty((M, d), dtype)
        norm = np.empty(M, np.float64)
        _launch(be, "normalize", z1, NORM_EPS, zn[:N], norm[:N])
        _launch(be, "normalize", z2, NORM_EPS, zn[N:], norm[N:])
        S = np.empty((M, M), dtype)
        np.matmul(zn, np.ascontiguousarray(zn.T), out=S)
        coef = 1.0 / M if reduction == "mean" else 1.0
        dpos = np.empty(M, np.float64)
        _launch(be, "rows_nt_grad" if want_grad else "rows_nt", S, inv_t, N, coef, loss, dpos)
        if want_grad:
            _launch(be, "symmetrize", S, dpos, coef, N, TILE)
            dz = np.matmul(S, zn)
            del S
            _launch(be, "normalize_back", dz[:N], zn[:N], norm[:N], NORM_EPS, inv_t, gbufs[0])
            _launch(be, "normalize_back", dz[N:], zn[N:], norm[N:], NORM_EPS, inv_t, gbufs[1])
    value = finish_rows(loss, reduction, dtype) if want_value else None
    return value, gbufs


def _rows_1d(arrs):
    """(d,) inputs are one sample: view them as (1, d)."""
    one = arrs[0].ndim == 1
    return one, [a.reshape(1, -1) if one else a for a in arrs]


def _compute_triplet(spec, arrays, params, reduction, backend, want_value, want_grad, outs):
    names = spec.inputs
    arrs, dtype = float_arrays(arrays, names)
    arrs = host_arrays(spec, arrs, backend)
    for a, nm in zip(arrs, names, strict=True):
        if a.ndim not in (1, 2):
            raise ValueError(f"{nm} must be (N, d) or (d,), got shape {a.shape}")
        if a.shape != arrs[0].shape:
            raise ValueError(f"{nm} has shape {a.shape}, which does not match anchor's shape "
                             f"{arrs[0].shape}")
        check_nonempty(a, nm, reduction)
    shape = arrs[0].shape
    one, arrs = _rows_1d([contiguous(a, dtype) for a in arrs])
    N = arrs[0].shape[0]
    be = backend_for(spec, backend, arrs[0].size)
    gbufs = grad_buffers(outs, [shape] * 3, dtype, names) if want_grad else None
    loss = np.zeros(N, np.float64)
    coef = 1.0 / N if reduction == "mean" else 1.0
    if N:
        g = [b.reshape(N, -1) for b in gbufs] if want_grad else [np.empty((1, 1), dtype)] * 3
        _launch(be, "triplet", *arrs, params["margin"], params["p"], params["eps"],
                params["swap"] != 0.0, coef, want_grad, loss, *g)
    value = None
    if want_value:
        value = finish_rows(loss, reduction, dtype)
        if one and reduction == "none":
            value = value.reshape(())
    return value, gbufs


def _compute_cosine(spec, arrays, params, reduction, backend, want_value, want_grad, outs):
    names = spec.inputs
    x1, x2, y = arrays
    (x1, x2), dtype = float_arrays([x1, x2], names[:2])
    x1, x2 = host_arrays(spec, [x1, x2], backend)
    if not isinstance(y, np.ndarray) and A_.is_device_array(y):
        from .._kernels.cuda_road import to_host

        y = to_host(y)
    from .. import _arrays as A

    y = A.as_array(y, "y")
    for a, nm in ((x1, "x1"), (x2, "x2")):
        if a.ndim not in (1, 2):
            raise ValueError(f"{nm} must be (N, d) or (d,), got shape {a.shape}")
    if x2.shape != x1.shape:
        raise ValueError(f"x2 has shape {x2.shape}, which does not match x1's shape "
                         f"{x1.shape}")
    if y.shape != x1.shape[:-1]:
        raise ValueError(f"y has shape {y.shape}, expected {x1.shape[:-1]} (one label per "
                         f"row of x1)")
    yf = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    if not np.all((yf == 1.0) | (yf == -1.0)):
        bad = yf[(yf != 1.0) & (yf != -1.0)][0]
        raise ValueError(f"y must hold 1 (similar) or -1 (dissimilar), got {bad}")
    check_nonempty(x1, "x1", reduction)
    shape = x1.shape
    one, (x1, x2) = _rows_1d([contiguous(x1, dtype), contiguous(x2, dtype)])
    N = x1.shape[0]
    be = backend_for(spec, backend, x1.size)
    gbufs = grad_buffers(outs, [shape] * 2, dtype, names) if want_grad else None
    loss = np.zeros(N, np.float64)
    coef = 1.0 / N if reduction == "mean" else 1.0
    if N:
        g = [b.reshape(N, -1) for b in gbufs] if want_grad else [np.empty((1, 1), dtype)] * 2
        _launch(be, "cosine", x1, x2, yf, params["margin"], COS_EPS, coef, want_grad, loss,
                *g)
    value = None
    if want_value:
        value = finish_rows(loss, reduction, dtype)
        if one and reduction == "none":
            value = value.reshape(())
    return value, gbufs


BASES["contrastive"] = MultiLoss

_EMB = "Embeddings, one per row (N, d); float32 and float64 are computed natively."
_RED_DOC = ("``mean`` averages over the anchors, ``sum`` adds, ``none`` returns one loss per "
            "anchor.")

info_nce = register(MultiSpec(
    name="info_nce", family="contrastive", kind="contrastive", sample=sample_views,
    compute=_compute_info_nce,
    cost=4.0, inputs=("query", "key"), diff_inputs=("query", "key"),
    input_docs=(("query", _EMB), ("key", _EMB + " ``key[i]`` is the positive of "
                                                "``query[i]``; the other keys are its "
                                                "negatives.")),
    params=(Param("temperature", 0.1, "> 0", lo=0.0, doc="Divides the cosine similarities."),),
    summary="InfoNCE with in-batch negatives: cross-entropy of each query against all keys, "
            "its own key being the positive.",
    formula=r"\ell_i = -\log \frac{\exp(s_{ii}/\tau)}{\sum_{j=1}^{N} \exp(s_{ij}/\tau)}, \quad "
            r"s_{ij} = \frac{q_i \cdot k_j}{\lVert q_i\rVert \lVert k_j\rVert}",
    grad_formula=r"\partial L/\partial s_{ij} = (\operatorname{softmax}_j(s_{i\cdot}/\tau) - "
                 r"\delta_{ij}) / (N\tau), \text{ then back through the normalisation}",
    reduction_doc=_RED_DOC,
    returns_doc="value : float (an array of N losses for ``reduction='none'``). ``grad`` gives "
                "``(grad_query, grad_key)``.",
    matches="``F.cross_entropy(F.normalize(q) @ F.normalize(k).T / t, arange(N))``; rows are "
            "normalised as ``F.normalize`` does (``x / max(||x||, 1e-12)``)",
    notes="Memory: one N x N matrix of the input's dtype. CUDA: not yet (raises "
          "BackendUnavailableError).",
    references=(
        "A. van den Oord, Y. Li and O. Vinyals, *Representation Learning with Contrastive "
        "Predictive Coding*, arXiv:1807.03748, 2018, eq. (4).",
        "A. Radford et al., *Learning Transferable Visual Models From Natural Language "
        "Supervision* (CLIP), ICML 2021 (one direction of its symmetric loss).",
    ),
    example=">>> import fastloss\n"
            ">>> round(fastloss.info_nce([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]],"
            " temperature=1.0), 12)  # log(1 + e^-1)\n0.313261687518",
))

nt_xent = register(MultiSpec(
    name="nt_xent", family="contrastive", kind="contrastive", sample=sample_views,
    compute=_compute_nt_xent,
    cost=4.0, inputs=("z1", "z2"), diff_inputs=("z1", "z2"),
    input_docs=(("z1", _EMB + " The first view of each of N samples."),
                ("z2", _EMB + " The second view: ``z2[i]`` is the positive of ``z1[i]``.")),
    params=(Param("temperature", 0.5, "> 0", lo=0.0, doc="Divides the cosine similarities."),),
    summary="NT-Xent, SimCLR's normalised temperature-scaled cross-entropy: 2N views, each "
            "anchor against the 2N - 1 others (self-pairs excluded), mean over the 2N "
            "anchors.",
    formula=r"\ell_i = -\log \frac{\exp(s_{i,p(i)}/\tau)}{\sum_{j \ne i} \exp(s_{ij}/\tau)}, "
            r"\quad z = [z_1; z_2], \; s_{ij} = \frac{z_i \cdot z_j}{\lVert z_i\rVert "
            r"\lVert z_j\rVert}, \; p(i) = i \pm N, \quad L = \frac{1}{2N}\sum_{i=1}^{2N}"
            r"\ell_i",
    grad_formula=r"\partial L/\partial \hat z = (G + G^T)\hat z/\tau, \; G_{ij} = "
                 r"(\operatorname{softmax}_{j \ne i}(s_{i\cdot}/\tau) - \delta_{j,p(i)})/(2N)",
    reduction_doc=_RED_DOC + " (2N anchors: the rows of ``z1``, then those of ``z2``)",
    returns_doc="value : float (an array of 2N losses for ``reduction='none'``). ``grad`` gives "
                "``(grad_z1, grad_z2)``.",
    matches="SimCLR's definition (Chen et al. 2020, eq. (1) and Algorithm 1): "
            "``F.cross_entropy`` over the 2N x 2N cosine-similarity matrix divided by t, the "
            "diagonal masked to -inf, targets ``i + N mod 2N``; rows are normalised as "
            "``F.normalize`` does",
    notes="Memory: one 2N x 2N matrix of the input's dtype, reused for the gradient. The "
          "similarity matrix is symmetric, so the gradient needs one N x N x d product "
          "fewer than autograd's. CUDA: not yet (raises BackendUnavailableError).",
    references=(
        "T. Chen, S. Kornblith, M. Norouzi and G. Hinton, *A Simple Framework for "
        "Contrastive Learning of Visual Representations*, ICML 2020, eq. (1).",
        "K. Sohn, *Improved Deep Metric Learning with Multi-class N-pair Loss Objective*, "
        "NeurIPS 2016.",
    ),
    example=">>> import fastloss\n"
            ">>> fastloss.nt_xent([[1.0, 0.0]], [[1.0, 0.0]])  # one other view: loss 0\n0.0",
))

triplet_margin = register(MultiSpec(
    name="triplet_margin", family="contrastive", kind="contrastive",
    sample=sample_triplets, compute=_compute_triplet,
    cost=2.0, inputs=("anchor", "positive", "negative"),
    diff_inputs=("anchor", "positive", "negative"),
    input_docs=(("anchor", "Anchor embeddings (N, d) or one embedding (d,)."),
                ("positive", "Embeddings of the same class as the anchors, same shape."),
                ("negative", "Embeddings of another class, same shape.")),
    params=(
        Param("margin", 1.0, "a finite real", doc="The margin between the two distances."),
        Param("p", 2.0, ">= 1", lo=1.0, lo_open=False, doc="The norm degree of the distance."),
        Param("eps", 1e-6, ">= 0", lo=0.0, lo_open=False,
              doc="Added to the difference inside the norm, as torch.pairwise_distance."),
        Param("swap", False, "bool", kind="bool",
              doc="Use min(d(a, n), d(p, n)) as the negative distance (Balntas et al.)."),
    ),
    summary="Triplet margin loss.",
    formula=r"\ell_i = \max(0,\; m + d(a_i, p_i) - d(a_i, n_i)), \quad "
            r"d(x, y) = \lVert x - y + \epsilon \rVert_p",
    grad_formula=r"\partial d(x, y)/\partial x_k = \operatorname{sign}(u_k)|u_k|^{p-1} / "
                 r"\lVert u\rVert_p^{p-1}, \; u = x - y + \epsilon \;(0 \text{ where } "
                 r"\lVert u\rVert = 0); \text{ passed where } m + d_{ap} - d_{an} \ge 0",
    reduction_doc="``mean`` averages over the N triplets, ``sum`` adds, ``none`` returns one "
                  "loss per triplet.",
    returns_doc="value : float (an array of N losses for ``reduction='none'``). ``grad`` gives "
                "``(grad_anchor, grad_positive, grad_negative)``.",
    matches="``torch.nn.functional.triplet_margin_loss`` (including its ``eps`` inside the "
            "norm, its gradient at the hinge (passed where the argument is >= 0) and the "
            "gradient split at a tie of ``swap``)",
    references=(
        "F. Schroff, D. Kalenichenko and J. Philbin, *FaceNet: A Unified Embedding for Face "
        "Recognition and Clustering*, CVPR 2015.",
        "V. Balntas, E. Riba, D. Ponsa and K. Mikolajczyk, *Learning local feature "
        "descriptors with triplets and shallow convolutional neural networks*, BMVC 2016 "
        "(the swap).",
    ),
    example=">>> import fastloss\n"
            ">>> fastloss.triplet_margin([[0.0, 0.0]], [[1.0, 0.0]], [[3.0, 0.0]], eps=0.0)\n"
            "0.0",
))

cosine_embedding = register(MultiSpec(
    name="cosine_embedding", family="contrastive", kind="contrastive",
    sample=sample_pairs_labels,
    compute=_compute_cosine, cost=2.0, inputs=("x1", "x2", "y"), diff_inputs=("x1", "x2"),
    input_docs=(("x1", "Embeddings (N, d) or one embedding (d,)."),
                ("x2", "Embeddings, same shape as x1."),
                ("y", "Labels (N,) (a scalar for 1-D inputs): 1 for a similar pair, -1 for a "
                      "dissimilar one; any other value raises ValueError.")),
    params=(Param("margin", 0.0, "in [-1, 1]", lo=-1.0, hi=1.0, lo_open=False, hi_open=False,
                  doc="Dissimilar pairs are penalised for a cosine above it."),),
    summary="Cosine embedding loss: pull similar pairs to cosine 1, push dissimilar pairs "
            "below the margin.",
    formula=r"\ell_i = \begin{cases} 1 - \cos(x_{1i}, x_{2i}) & y_i = 1 \\ "
            r"\max(0, \cos(x_{1i}, x_{2i}) - m) & y_i = -1 \end{cases}, \quad "
            r"\cos = \frac{x_1\cdot x_2}{\sqrt{(\lVert x_1\rVert^2 + \epsilon)"
            r"(\lVert x_2\rVert^2 + \epsilon)}}, \; \epsilon = 10^{-12}",
    grad_formula=r"\partial\cos/\partial x_1 = x_2/D - \cos\, x_1/(\lVert x_1\rVert^2 + "
                 r"\epsilon), \; D = \sqrt{(\lVert x_1\rVert^2 + \epsilon)(\lVert x_2\rVert^2 "
                 r"+ \epsilon)}",
    reduction_doc="``mean`` averages over the N pairs, ``sum`` adds, ``none`` returns one loss "
                  "per pair.",
    returns_doc="value : float (an array of N losses for ``reduction='none'``). ``grad`` gives "
                "``(grad_x1, grad_x2)`` (no gradient for the labels).",
    matches="``torch.nn.functional.cosine_embedding_loss`` (its epsilon 1e-12 inside the "
            "norms; the hinge passes the gradient where ``cos - margin >= 0``)",
    example=">>> import fastloss\n"
            ">>> fastloss.cosine_embedding([[1.0, 0.0]], [[0.0, 1.0]], [1])\n1.0",
))
