r"""Contrastive and self-supervised losses on embeddings ``(N, d)``.

``info_nce`` and ``nt_xent`` compare every embedding with every other one: the similarity
matrix is one BLAS product (NumPy ``matmul``, in the input's dtype) of row-normalised
embeddings; everything else is fused Numba kernels, one row per task:

1. normalise the rows (norms accumulated in float64);
2. one pass per row of the similarity matrix: the exponentials (``fexp``, which vectorises,
   shifted by ``1/t``, the largest a cosine over ``t`` can be), their sum in float64 in a
   fixed order (the log-sum-exp), the loss of the row, and, when a gradient is wanted, the
   softmax: the exponentials are stored over the row (in its dtype) and scaled in place
   (no second ``N x N`` buffer);
3. ``nt_xent`` only: the similarity matrix is symmetric, so the gradient with respect to the
   normalised embeddings is ``(P + P^T) Z / t``; ``P + P^T`` is formed in place, tile by
   tile, and needs one BLAS product instead of two;
4. one BLAS product for the gradient with respect to the normalised embeddings, then the
   backward of the normalisation (fused, per row).

Rows are independent and each row's sums run in a fixed order, so the serial and parallel
kernels give the same bits. ``triplet_margin`` and ``cosine_embedding`` are row-wise: one
fused kernel computes the distances, the loss and every gradient of a row.

On CUDA (device inputs under "auto", or ``backend="cuda"``) every kernel above runs its
row body (the same Python function) one row per thread, and the products are a tiled
shared-memory kernel (``fastloss._kernels.cuda.matmul_kernel``); the per-row losses come
back to the host to be summed as on the CPU, gradients stay on the device.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange
from numba.extending import register_jitable

from .. import _arrays as A_
from .._checks import sign_label_flags
from .._kernels.lanes import dot8, pdist8, sum8
from .._kernels.scalar import SIGN_BAD, SIGN_ZERO, fexp
from .._spec import MultiSpec, Param, register

NORM_EPS = 1e-12  # as torch.nn.functional.normalize: x / max(||x||, eps)
COS_EPS = 1e-12  # as torch.nn.functional.cosine_embedding_loss: (||x||^2 + eps)
TILE = 64


# ---------------------------------------------------------------------------
# row bodies (the executors run each over the rows of its first array). The house compiles
# without fast-math flags: with `reassoc` LLVM ordered a sum differently in a parallel build
# loaded from the disk cache than in the fresh or the serial one (1 ulp); every sum here has
# its order written out (`sum8`, `dot8`, `pdist8`: eight lanes, vector code on the CPU).


# Row bodies: the maths of every kernel below, one row ``i`` at a time. The CPU kernels run
# them in a ``prange`` over the rows; the CUDA kernels (``fastloss._kernels.cuda.rows_kernel``)
# run the same functions one row per thread, compiled for the device.


@register_jitable(forceinline=True)
def normalize_row(i, x, eps, xn, norm):
    """``xn[i] = x[i] / max(||x[i]||, eps)`` (the norm in float64, kept in ``norm[i]``)."""
    d = x.shape[1]
    nrm = math.sqrt(dot8(x[i], x[i]))
    norm[i] = nrm
    den = max(nrm, eps)
    for k in range(d):
        xn[i, k] = x[i, k] / den


@register_jitable(forceinline=True)
def normalize_back_row(i, gy, y, norm, eps, coef, g):
    """``g[i] = coef * d<gy[i], y[i]>/dx[i]`` for ``y = x / max(||x||, eps)`` (torch's
    clamp_min passes the gradient through the norm where ``||x|| >= eps``)."""
    d = gy.shape[1]
    nrm = norm[i]
    if nrm >= eps:
        dot = dot8(gy[i], y[i])
        c = coef / nrm
        for k in range(d):
            g[i, k] = c * (gy[i, k] - dot * y[i, k])
    else:
        c = coef / eps
        for k in range(d):
            g[i, k] = c * gy[i, k]


@register_jitable(forceinline=True)
def similarity_row(i, S, inv_t, half, coef, nt, write, loss, dpos):
    """Row ``i``: ``loss_i = logsumexp_j(S_ij / t) - S_i,pos(i) / t`` over ``j`` (``j != i``
    and ``pos(i) = i +- half`` for nt_xent, ``pos(i) = i`` for info_nce). With ``write``:
    info_nce writes ``coef * (softmax - onehot)`` over the row; nt_xent writes the softmax
    (0 on the diagonal) and keeps ``softmax_pos - 1`` in ``dpos[i]`` for the symmetrisation.

    The rows of ``S`` are cosines (at most 1, up to rounding), so ``1/t`` bounds
    ``S_ij / t`` and serves as the log-sum-exp shift, which keeps the loop free of branches
    (it vectorises); only where ``exp(-2/t)`` could underflow (t < 1/300) is the row
    maximum taken instead."""
    r = S[i]
    C = r.shape[0]
    if nt:
        p = i + half if i < half else i - half
    else:
        p = i
    xp = r[p] * inv_t
    if nt:
        r[i] = -math.inf  # self-pair: exp gives 0
    if inv_t <= 300.0:
        mt = inv_t
    else:
        m = -math.inf
        for j in range(C):
            if r[j] > m:
                m = r[j]
        mt = m * inv_t
    for j in range(C):  # the exponentials over the row (in its dtype), then their sum
        r[j] = fexp(r[j] * inv_t - mt)
    s = sum8(r, C)
    loss[i] = mt + math.log(s) - xp
    if write:
        e_pos = fexp(xp - mt)
        inv = 1.0 / s
        dp = -(s - e_pos) * inv  # softmax_pos - 1, without cancellation near 1
        if nt:
            for j in range(C):
                r[j] = r[j] * inv
            r[i] = 0.0
            dpos[i] = dp
        else:
            c = coef * inv
            for j in range(C):
                r[j] = r[j] * c
            r[i] = coef * dp


@register_jitable
def sym_pair(a, b, coef):
    """One mirrored pair of ``coef * (P + P^T)``."""
    return coef * (1.0 * a + b)


@register_jitable
def sym_positive(dpos, i, half, coef):
    """``coef * ((P_i,pos - 1) + (P_pos,i - 1))`` at a positive pair ``(i, i + half)``."""
    return coef * (dpos[i] + dpos[i + half])


@register_jitable(forceinline=True)
def symmetrize_row(i, P, dpos, coef, half):
    """Row ``i`` of :func:`symmetrize` by pairs: the pairs ``(i, j)``, ``j > i``, each read
    and written by this row alone (the CUDA form: one row per thread)."""
    M = P.shape[0]
    P[i, i] = 0.0
    for j in range(i + 1, M):
        h = sym_pair(P[i, j], P[j, i], coef)
        P[i, j] = h
        P[j, i] = h
    if i < half:
        h = sym_positive(dpos, i, half, coef)
        P[i, i + half] = h
        P[i + half, i] = h


def symmetrize_tiles(P, dpos, coef, half):
    """``P <- coef * (P + P^T)`` in place, tile pair by tile pair (each pair of mirrored
    elements is read and written by one task; the mirrored tile goes through a
    transposed copy in a small buffer, so every loop over memory is contiguous); then the
    positives get ``coef * ((P_i,pos - 1) + (P_pos,i - 1))`` and the diagonal 0."""
    M = P.shape[0]
    tb = TILE
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
                    h = sym_pair(P[i, j], P[j, i], coef)
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
                    h = sym_pair(row[b], bv[b], coef)
                    row[b] = h
                    bv[b] = h
            for b in range(nj):
                dst = P[j0 + b, i0:i1]
                for a in range(ni):
                    dst[a] = buf[a, b]
    for i in prange(half):
        h = sym_positive(dpos, i, half, coef)
        P[i, i + half] = h
        P[i + half, i] = h



@register_jitable
def _dnorm(u, P):
    """``sign(u) |u|^(P-1)`` (``sign(u)`` for P = 1; 0 at 0, NaN for NaN)."""
    if u == 0.0:
        return 0.0 * u
    if P == 1.0:
        return 1.0 if u > 0.0 else (-1.0 if u < 0.0 else u)
    return math.copysign(abs(u) ** (P - 1.0), u) if u == u else u


@register_jitable(forceinline=True)
def _triplet_grad2(ar, pr, nr, eps, cap, can, cpn, ga, gp, gn):
    """The gradients of a triplet for ``P = 2`` (``c * u`` per distance), one row."""
    for k in range(ar.shape[0]):
        a = 1.0 * ar[k]
        u = (a - pr[k]) + eps
        v = (a - nr[k]) + eps
        w = (1.0 * pr[k] - nr[k]) + eps
        gu = cap * u
        gv = can * v
        gw = cpn * w
        ga[k] = gu - gv
        gp[k] = -gu - gw
        gn[k] = gv + gw


@register_jitable(forceinline=True)
def triplet_row(i, a, p, n, margin, P, eps, swap, coef, write, loss, ga, gp, gn):
    """Triplet ``i``: the three distances, the loss and (``write``) every gradient."""
    d = a.shape[1]
    sap = pdist8(a[i], p[i], eps, P)
    san = pdist8(a[i], n[i], eps, P)
    spn = pdist8(p[i], n[i], eps, P) if swap else 0.0  # (without swap, never used)
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
        if P == 2.0:  # elementwise over row views: vectorises
            _triplet_grad2(a[i], p[i], n[i], eps, cap, can, cpn, ga[i], gp[i], gn[i])
            return
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


@register_jitable(forceinline=True)
def cosine_row(i, x1, x2, y, margin, eps, coef, write, loss, g1, g2):
    """Pair ``i``: the cosine, the loss and (``write``) both gradients."""
    d = x1.shape[1]
    dot = dot8(x1[i], x2[i])
    m1 = dot8(x1[i], x1[i])
    m2 = dot8(x2[i], x2[i])
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


# ---------------------------------------------------------------------------
# the programs: steps over row bodies and matrix products, run by the executor ``ex`` that
# the call gives ("serial" / "parallel": these bodies in a prange and NumPy's BLAS; "cuda":
# the same bodies one row per thread and a tiled matrix product)


def _embeddings(call, arrays, names, work, ndims=(2,)):
    """The inputs checked (same shape, ``ndims`` dimensions) and placed for the executor
    (``work`` from the shape), the dtype, the executor, and whether results stay on the
    device."""
    arrs, dtype, dev = call.floats(arrays, names)
    ref = arrs[0]
    for a, nm in zip(arrs, names, strict=True):
        if a.ndim not in ndims:
            want = "a 2-D array of embeddings (N, d)" if ndims == (2,) else "(N, d) or (d,)"
            raise ValueError(f"{nm} must be {want}, got shape {tuple(a.shape)}")
        if a.shape != ref.shape:
            raise ValueError(f"{nm} has shape {tuple(a.shape)}, which does not match "
                             f"{names[0]}'s shape {tuple(ref.shape)}")
        if ndims == (2,) and a.shape[1] == 0 and a.shape[0] > 0:
            raise ValueError(f"{nm} has embeddings of dimension 0")
        if a.size == 0:
            call.check_nonempty(a, nm)
    ex = call.executor(work(ref.shape), dev)
    return ex.place(arrs, dtype), dtype, ex, dev and ex.device


def _info_nce(call, arrays):
    names = call.spec.inputs
    (q, k), dtype, ex, dev = _embeddings(call, arrays, names, lambda sh: sh[0] * sh[0])
    N, d = q.shape
    inv_t = 1.0 / call.params["temperature"]
    want_grad = call.want_grad
    g = ex.grads(call.outs, [q.shape, k.shape], dtype, names, device=dev, inputs=[q, k]) \
        if want_grad else None
    loss = ex.losses(N)
    if N:
        qn, kn = ex.empty((N, d), dtype), ex.empty((N, d), dtype)
        qnorm, knorm = ex.empty(N, np.float64), ex.empty(N, np.float64)
        ex.rows(normalize_row, q, NORM_EPS, qn, qnorm)
        ex.rows(normalize_row, k, NORM_EPS, kn, knorm)
        S = ex.matmul(qn, kn, ex.empty((N, N), dtype), tb=True)
        coef = 1.0 / N if call.reduction == "mean" else 1.0
        ex.rows(similarity_row, S, inv_t, 0, coef, False, want_grad, loss,
                ex.dummy(np.float64))
        if want_grad:
            dq = ex.matmul(S, kn)  # S now holds dL/d(logits)
            dk = ex.matmul(S, qn, ta=True)
            del S
            ex.rows(normalize_back_row, dq, qn, qnorm, NORM_EPS, inv_t, g.bufs[0])
            ex.rows(normalize_back_row, dk, kn, knorm, NORM_EPS, inv_t, g.bufs[1])
    value = ex.value(loss, call.reduction, dtype, device=dev) if call.want_value else None
    return value, g.done() if want_grad else None


def _nt_xent(call, arrays):
    names = call.spec.inputs
    (z1, z2), dtype, ex, dev = _embeddings(call, arrays, names, lambda sh: 4 * sh[0] * sh[0])
    N, d = z1.shape
    M = 2 * N
    inv_t = 1.0 / call.params["temperature"]
    want_grad = call.want_grad
    g = ex.grads(call.outs, [z1.shape, z2.shape], dtype, names, device=dev, inputs=[z1, z2]) \
        if want_grad else None
    loss = ex.losses(M)
    if N:
        zn = ex.empty((M, d), dtype)
        norm = ex.empty(M, np.float64)
        ex.rows(normalize_row, z1, NORM_EPS, zn[:N], norm[:N])
        ex.rows(normalize_row, z2, NORM_EPS, zn[N:], norm[N:])
        S = ex.matmul(zn, zn, ex.empty((M, M), dtype), tb=True)
        coef = 1.0 / M if call.reduction == "mean" else 1.0
        dpos = ex.empty(M, np.float64)
        ex.rows(similarity_row, S, inv_t, N, coef, True, want_grad, loss, dpos)
        if want_grad:
            # the CPU goes tile pair by tile pair, for its caches
            ex.rows(symmetrize_row, S, dpos, coef, N, cpu_kernel=symmetrize_tiles)
            dz = ex.matmul(S, zn)
            del S
            ex.rows(normalize_back_row, dz[:N], zn[:N], norm[:N], NORM_EPS, inv_t, g.bufs[0])
            ex.rows(normalize_back_row, dz[N:], zn[N:], norm[N:], NORM_EPS, inv_t, g.bufs[1])
    value = ex.value(loss, call.reduction, dtype, device=dev) if call.want_value else None
    return value, g.done() if want_grad else None


def _as_rows2(arrs):
    """(d,) inputs are one sample: view them as (1, d)."""
    return [a.reshape(1, -1) if a.ndim == 1 else a for a in arrs]


def _triplet(call, arrays):
    names = call.spec.inputs
    params = call.params
    arrs, dtype, ex, dev = _embeddings(call, arrays, names, lambda sh: math.prod(sh),
                                       ndims=(1, 2))
    shape = arrs[0].shape
    a, p, n = _as_rows2(arrs)
    N = a.shape[0]
    want_grad = call.want_grad
    g = ex.grads(call.outs, [shape] * 3, dtype, names, device=dev, inputs=arrs) \
        if want_grad else None
    loss = ex.losses(N)
    coef = 1.0 / N if call.reduction == "mean" else 1.0
    if N:
        gs = _as_rows2(g.bufs) if want_grad else [ex.dummy(dtype, 2)] * 3
        ex.rows(triplet_row, a, p, n, params["margin"], params["p"], params["eps"],
                params["swap"] != 0.0, coef, want_grad, loss, *gs)
    value = ex.value(loss, call.reduction, dtype, device=dev, scalar=len(shape) == 1) \
        if call.want_value else None
    return value, g.done() if want_grad else None


def _cosine(call, arrays):
    names = call.spec.inputs
    x1, x2, y = arrays
    y = A_.as_array(A_.on_host(y), "y")  # one label per row: checked on the host
    (x1, x2), dtype, ex, dev = _embeddings(call, [x1, x2], names[:2],
                                           lambda sh: math.prod(sh), ndims=(1, 2))
    if y.shape != tuple(x1.shape[:-1]):
        raise ValueError(f"y has shape {y.shape}, expected {tuple(x1.shape[:-1])} (one label "
                         f"per row of x1)")
    yf = y if y.ndim == 1 and y.dtype == np.float64 and y.flags.c_contiguous \
        else np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
    if sign_label_flags(yf) & (SIGN_BAD | SIGN_ZERO):  # (one pass; NumPy's four: 2 us)
        bad = yf[(yf != 1.0) & (yf != -1.0)][0]
        raise ValueError(f"y must hold 1 (similar) or -1 (dissimilar), got {bad}")
    shape = x1.shape
    x1, x2 = _as_rows2([x1, x2])
    N = x1.shape[0]
    want_grad = call.want_grad
    g = ex.grads(call.outs, [shape] * 2, dtype, names, device=dev, inputs=[x1, x2]) \
        if want_grad else None
    loss = ex.losses(N)
    coef = 1.0 / N if call.reduction == "mean" else 1.0
    if N:
        gs = _as_rows2(g.bufs) if want_grad else [ex.dummy(dtype, 2)] * 2
        ex.rows(cosine_row, x1, x2, ex.to(yf), call.params["margin"], COS_EPS, coef,
                want_grad, loss, *gs)
    value = ex.value(loss, call.reduction, dtype, device=dev, scalar=len(shape) == 1) \
        if call.want_value else None
    return value, g.done() if want_grad else None


def _signatures(dtype):
    """The argument types each CUDA kernel is launched with (for ``compile_ptx``)."""
    from numba import types as nt
    from numba.np.numpy_support import from_dtype

    a2 = nt.Array(from_dtype(np.dtype(dtype)), 2, "C")
    f1 = nt.Array(nt.float64, 1, "C")
    f, i, b = nt.float64, nt.int64, nt.boolean
    return {
        "normalize": (i, a2, f, a2, f1),
        "normalize_back": (i, a2, a2, f1, f, f, a2),
        "similarity": (i, a2, f, i, f, b, b, f1, f1),
        "symmetrize": (i, a2, f1, f, i),
        "triplet": (i, a2, a2, a2, f, f, f, b, f, b, f1, a2, a2, a2),
        "cosine": (i, a2, a2, f1, f, f, f, b, f1, a2, a2),
        "matmul": (a2, a2, a2, b, b),
    }


# the row body of each CUDA kernel (None: the matrix product)
BODIES = {"normalize": normalize_row, "normalize_back": normalize_back_row,
          "similarity": similarity_row, "symmetrize": symmetrize_row,
          "triplet": triplet_row, "cosine": cosine_row, "matmul": None}
_ALL, _GRAD = "value.grad.value_and_grad", "grad.value_and_grad"


def _device_kernels(*uses):
    """A spec's ``device_kernels``: the CUDA kernels its calls launch, for the PTX catalog;
    ``uses`` are ``(ops, name)`` pairs, the runtime flags of one kernel serving the ops
    named."""

    def make(dtype):
        sig = _signatures(dtype)
        return [(ops, name, BODIES[name], sig[name]) for ops, name in uses]

    return make


_SIM_KERNELS = ((_ALL, "normalize"), (_ALL, "matmul"), (_ALL, "similarity"),
                (_GRAD, "normalize_back"))


def sample_views(rng, shape, dtype):
    """Two correlated views (N, d) of N samples (``shape`` (N,) gives d = 4)."""
    a = rng.standard_normal(_rows(shape))
    return (a.astype(dtype), (a + 0.5 * rng.standard_normal(a.shape)).astype(dtype)), {}


def _rows(shape):
    return (shape[0], shape[1]) if len(shape) > 1 else (shape[0], 4)


def sample_triplets(rng, shape, dtype):
    return tuple(rng.standard_normal(_rows(shape)).astype(dtype) for _ in range(3)), {}


def sample_pairs_labels(rng, shape, dtype):
    n, d = _rows(shape)
    x1, x2 = (rng.standard_normal((n, d)).astype(dtype) for _ in range(2))
    return (x1, x2, np.where(rng.random(n) < 0.5, 1, -1)), {}


_EMB = "Embeddings, one per row (N, d); float32 and float64 are computed natively."
_RED_DOC = ("``mean`` averages over the anchors, ``sum`` adds, ``none`` returns one loss per "
            "anchor.")

info_nce = register(MultiSpec(
    name="info_nce", family="contrastive", kind="matrix", sample=sample_views,
    program=_info_nce,
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
    notes="Memory: one N x N matrix of the input's dtype. On CUDA the products are a tiled "
          "kernel of fastloss's own (deterministic, not cuBLAS).",
    device_body=similarity_row, device_kernels=_device_kernels(*_SIM_KERNELS),
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
    name="nt_xent", family="contrastive", kind="matrix", sample=sample_views,
    program=_nt_xent,
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
          "fewer than autograd's. On CUDA the products are a tiled kernel of fastloss's own "
          "(deterministic, not cuBLAS).",
    device_body=similarity_row,
    device_kernels=_device_kernels(*_SIM_KERNELS, (_GRAD, "symmetrize")),
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
    name="triplet_margin", family="contrastive", kind="matrix",
    sample=sample_triplets, program=_triplet,
    device_body=triplet_row, device_kernels=_device_kernels((_ALL, "triplet")),
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
    name="cosine_embedding", family="contrastive", kind="matrix",
    sample=sample_pairs_labels,
    program=_cosine, cost=2.0,
    device_body=cosine_row, device_kernels=_device_kernels((_ALL, "cosine")),
    inputs=("x1", "x2", "y"), diff_inputs=("x1", "x2"),
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
