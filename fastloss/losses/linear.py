r"""Fused linear + cross-entropy: the last layer of a classifier with a large vocabulary.

``linear_cross_entropy(y_true, hidden, weight, bias)`` is the value of
``cross_entropy(y_true, hidden @ weight.T + bias)`` and its gradients with respect to
``hidden`` (N, d), ``weight`` (V, d) and ``bias`` (V,), without ever holding the (N, V)
logits or their gradient. The rows are taken ``chunk_size`` at a time:

1. ``Z = hidden[rows] @ weight.T`` (one BLAS product into a reused ``chunk x V`` buffer);
2. one row body per row of ``Z``, in place: add the bias, apply the soft cap, the online
   log-sum-exp, the row's loss (cross-entropy, label smoothing, class and sample weights,
   the z-loss) and, when a gradient is wanted, ``dL/dlogits`` written over the row;
3. ``grad_weight += Z.T @ hidden[rows]`` and ``grad_bias += sum(Z, axis=0)``, accumulated
   chunk after chunk in row order, then ``grad_hidden[rows] = Z @ weight``.

Extra memory is the chunk buffer (``chunk x V``), one float64 per row and a block of
``grad_weight`` (at most 4 MiB) through which each chunk's product is added. Rows are
independent and every sum runs in a fixed order (the chunks in row order, each product by
the same BLAS call), so the serial and parallel backends give the same bits. On CUDA the
same row bodies run one row per thread and the products are fastloss's tiled
matrix-product kernel; the results stay on the device.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from .. import _arrays as A
from .._kernels.rows import (
    labels_in_range,
    lse_row,
    softmax_grad_inplace,
    softmax_grad_w_inplace,
    sum_shift,
    wsum_shift,
)
from .._kernels.scalar import fexp, like
from .._spec import MultiSpec, Option, Param, register
from .classification import (
    _LABEL_SMOOTHING,
    _check_class_weight,
    _check_ignore_index,
    _labels,
)

CHUNK_BYTES = 256 << 20  # default chunk: at most this many bytes of logits ...
CHUNK_FRACTION = 12  # ... and 1/12 of the rows, so extra memory stays <= ~9% of N x V ...
MIN_CHUNK = 128  # ... but no fewer rows than this ...
CHUNK_FLOOR_BYTES = 16 << 20  # ... nor than this many bytes of logits (fewer chunks: fewer
# passes adding into grad_weight, for memory no one misses)


# ---------------------------------------------------------------------------
# row bodies (the CPU kernels run them in a prange, the CUDA kernels one row per thread)


@register_jitable(fastmath={"contract", "nsz"}, error_model="numpy", forceinline=True)
def lce_row(
    i, Z, b, has_b, lab, r0, cw, has_cw, sw, has_sw, ii, eps, wsum, zl, cap, gs, write, loss, w
):
    """Row ``i`` of the chunk ``Z`` (global row ``r0 + i``): bias, soft cap, log-sum-exp,
    ``loss[r0 + i] = s * (l_ce + zl * lse^2)`` and, with ``write``, ``dL/dlogits`` over the
    row (``gs`` is the scale of the reduction; ``w`` the float64 scratch of
    :func:`~fastloss._kernels.rows.lse_row`)."""
    x = Z[i]
    V = x.shape[0]
    r = r0 + i
    y = lab[r]
    s = sw[r] if has_sw else 1.0
    if y == ii:  # ignored: no loss, no gradient
        loss[r] = 0.0
        if write:
            for j in range(V):
                x[j] = 0.0
        return
    if has_b:
        for j in range(V):
            x[j] = x[j] + b[j]
    if cap > 0.0:
        c = like(x[0], cap)
        ic = like(x[0], 1.0 / cap)
        for j in range(V):
            x[j] = c * math.tanh(x[j] * ic)
    m, logs = lse_row(x, w)
    lse = m + logs
    wy = cw[y] if has_cw else 1.0
    A_ = (1.0 - eps) * wy
    lv = A_ * ((m - x[y]) + logs)
    if eps > 0.0:
        B = wsum_shift(cw, x, m) if has_cw else sum_shift(x, m)
        lv += eps / V * (B + wsum * logs)
        A_ += eps / V * wsum
    lv += zl * lse * lse
    loss[r] = s * lv
    if write:
        g = s * gs
        ca = g * (A_ + 2.0 * zl * lse)  # d(zl lse^2)/dx = 2 zl lse softmax(x)
        cu = g * eps / V
        cy = g * (1.0 - eps) * wy
        if cap > 0.0:  # chain rule through cap tanh(x / cap): 1 - (capped / cap)^2
            ty = np.float64(x[y]) / cap
            mm = like(x[0], m)
            ls = like(x[0], logs)
            a = like(x[0], ca)
            ic = like(x[0], 1.0 / cap)
            one = like(x[0], 1.0)
            for j in range(V):
                t = x[j] * ic
                u = like(x[0], cu * cw[j]) if has_cw else like(x[0], cu)
                x[j] = (a * fexp((x[j] - mm) - ls) - u) * (one - t * t)
            x[y] -= cy * (1.0 - ty * ty)
        else:
            if has_cw:
                softmax_grad_w_inplace(x, m, logs, ca, cu, cw)
            else:
                softmax_grad_inplace(x, m, logs, ca, cu)
            x[y] -= cy


@register_jitable(forceinline=True)
def acc_row(i, dst, src):
    """``dst[i] += src[i]`` (the accumulation of ``grad_weight``, chunk after chunk)."""
    d = dst.shape[1]
    for k in range(d):
        dst[i, k] += src[i, k]


# ---------------------------------------------------------------------------
# the program


#: What the ``auto`` backend counts per logit, in elements of the row-wise class. The BLAS
#: products take most of a call and run on BLAS's own threads under either backend; only
#: the row pass runs on fastloss's. Measured on 2 cores (d from 16 to 3162, V from 124 to
#: 8192), the parallel backend was at best even below 2^21 logits, and up to 1.5x slower at
#: a few thousand; from 2^21 it was up to 8% faster. So a logit counts as 1/128 of an
#: element: parallel from 240000 x 128 / 16, about 1.9e6 logits.
WORK_PER_LOGIT = 1 / 128


def default_chunk(N: int, V: int, itemsize: int) -> int:
    """Rows per chunk: ``N / CHUNK_FRACTION`` rows but at least :data:`MIN_CHUNK` (the
    products lose speed with fewer rows) and :data:`CHUNK_FLOOR_BYTES` of logits or half
    the rows (each chunk adds its product into ``grad_weight``), at most
    :data:`CHUNK_BYTES` of logits."""
    row_bytes = max(1, V * itemsize)
    floor = min(CHUNK_FLOOR_BYTES // row_bytes, -(-N // 2))  # (two chunks at least: the
    # floor never makes the buffer hold all the logits)
    rows = max(-(-N // CHUNK_FRACTION), MIN_CHUNK, floor)
    rows = min(rows, CHUNK_BYTES // row_bytes)
    return max(1, min(N, rows))


def _check(call, arrays):
    params, reduction = call.params, call.reduction
    y, h, w, b = arrays
    names = ("hidden", "weight") + (("bias",) if b is not None else ())
    arrs, dtype, _ = call.floats([h, w] + ([b] if b is not None else []), names)
    h, w = arrs[0], arrs[1]
    b = arrs[2] if b is not None else None
    if h.ndim != 2:
        raise ValueError(f"hidden must be a 2-D array (N, d), got shape {tuple(h.shape)}")
    N, d = h.shape
    if w.ndim != 2 or w.shape[1] != d:
        raise ValueError(
            f"weight must have shape (V, {d}) (one row of hidden's size per "
            f"class), got shape {tuple(w.shape)}"
        )
    V = w.shape[0]
    if V == 0:
        raise ValueError("weight has no classes (V = 0)")
    if b is not None and tuple(b.shape) != (V,):
        raise ValueError(
            f"bias must have shape ({V},) (one per row of weight), got shape {tuple(b.shape)}"
        )
    if reduction == "mean" and N == 0:
        raise ValueError("hidden is empty: reduction='mean' has no value")
    ii = _check_ignore_index(params["ignore_index"])
    lab = _labels(A.as_any(y, "y_true"), N, V, "y_true", ii)
    cw = _check_class_weight(params["class_weight"], V)
    sw = params["sample_weight"]
    if sw is not None:
        sw = A.check_weights(A.on_host(sw), N)
        if reduction == "mean" and not np.sum(sw) > 0.0:
            raise ValueError("sample_weight sums to zero: the weighted mean is undefined")
    if cw is None and sw is None and not 0 <= ii < V and labels_in_range(lab, V):
        denom = float(N)  # every row kept, weight 1: what the sum below gives
    else:
        kept = lab != ii
        roww = (kept.astype(np.float64) if cw is None
                else np.where(kept, cw[np.where(kept, lab, 0)], 0.0))
        denom = float(np.sum(roww if sw is None else sw * roww))
    cs = params["chunk_size"]
    cs = default_chunk(N, V, np.dtype(dtype).itemsize) if cs is None else min(int(cs), max(N, 1))
    return (h, w, b), dtype, lab, cw, sw, ii, denom, cs


_F64 = np.dtype(np.float64)
_ZERO = {np.dtype(t): np.zeros(1, t) for t in (np.float32, np.float64)}


def _program(call, arrays):
    (h, w, b), dtype, lab, cw, sw, ii, denom, cs = _check(call, arrays)
    params, outs, want_grad = call.params, call.outs, call.want_grad
    N, d = h.shape
    V = w.shape[0]
    names = ("hidden", "weight") + (("bias",) if b is not None else ())
    if outs is not None and len(outs) != len(names):
        raise TypeError(
            f"out must be a tuple of {len(names)} arrays (for {', '.join(names)}), got {len(outs)}"
        )
    given = [a for a in (h, w, b) if a is not None]
    dev = any(type(a) is not np.ndarray for a in given)
    ex = call.executor(math.ceil(N * V * WORK_PER_LOGIT), dev)
    placed = ex.place(given, dtype)
    h, w = placed[0], placed[1]
    b = placed[2] if b is not None else None
    dev = dev and ex.device
    shapes = [(N, d), (V, d)] + ([(V,)] if b is not None else [])
    g = ex.grads(outs, shapes, dtype, names, device=dev) if want_grad else None
    if g is not None and not dev and outs is not None:
        _check_overlap(g.user, h, w, b)

    loss = ex.empty(N, np.float64)
    scale = 1.0
    if call.reduction == "mean":
        scale = 1.0 / denom if denom != 0.0 else math.inf
    f64 = np.float64
    has_b, has_cw, has_sw = b is not None, cw is not None, sw is not None
    wsum = float(V) if cw is None else float(np.sum(cw))
    cap = 0.0 if params["softcap"] is None else float(params["softcap"])
    bb = b if has_b else ex.to(_ZERO[dtype])  # (the dummies are never read)
    labd = ex.to(lab)
    cwd = ex.to(cw if has_cw else _ZERO[_F64])
    swd = ex.to(sw if has_sw else _ZERO[_F64])
    if want_grad:
        gh, gw = g.bufs[0], g.bufs[1]
        gb64 = np.zeros(V, f64) if has_b else None
    if N:
        Z = ex.empty((min(cs, N), V), dtype)
        ones = ex.to(np.ones((1, Z.shape[0]), dtype)) if want_grad and has_b else None
        tb = ex.empty((1, V), dtype) if ones is not None else None
        tw = ght = None
        for r0 in range(0, N, cs):
            m = min(cs, N - r0)
            Zc = Z[:m]
            hc = h[r0 : r0 + m]
            ex.matmul(hc, w, Zc, tb=True)
            ex.rows(lce_row, Zc, bb, has_b, labd, r0, cwd, has_cw, swd, has_sw, ii,
                    params["label_smoothing"], wsum, params["z_loss"], cap, scale, want_grad,
                    loss, scratch=True)
            if not want_grad:
                continue
            tw = ex.matmul_add(Zc, hc, gw, r0 == 0, tw, add_body=acc_row)
            if has_b:
                ex.matmul(ones[:, :m], Zc, tb)
                gb64 += ex.host(tb)[0]
            ght = ex.matmul_thin(Zc, w, gh[r0 : r0 + m], ght)  # last: out may be hidden
        del Z
    elif want_grad:
        ex.assign(gw, np.zeros(gw.shape, gw.dtype))
    if want_grad and has_b:
        ex.assign(g.bufs[2], gb64.astype(dtype))
    value = ex.value(loss, call.reduction, dtype, device=dev, denom=denom) \
        if call.want_value else None
    return value, (g.done() if want_grad else None)


def _check_overlap(user, h, w, b):
    """``out[0]`` may be ``hidden`` itself (its rows are read before they are written);
    no other gradient may share memory with an input."""
    ins = [("hidden", h), ("weight", w)] + ([("bias", b)] if b is not None else [])
    for k, o in enumerate(user):
        for nm, a in ins:
            if not np.may_share_memory(o, a):
                continue
            if (
                k == 0
                and nm == "hidden"
                and o.ctypes.data == a.ctypes.data
                and o.shape == a.shape
                and o.strides == a.strides
            ):
                continue
            raise ValueError(f"out[{k}] overlaps {nm}: only out[0] may be hidden itself")


def _opt_positive(name, integer=False):
    def check(v):
        if v is None:
            return None
        if isinstance(v, (bool, np.bool_)) or not isinstance(
            v, (int, np.integer) if integer else (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"{name} must be None or a positive "
                f"{'integer' if integer else 'real number'}, got {v!r}"
            )
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be None or > 0, got {v!r}")
        return int(v) if integer else float(v)

    return check


def sample_linear(rng, shape, dtype):
    """Hidden states (N, d) (``shape`` (N,) gives d = 4), a weight (V, d) with V = 4 d (16 to
    1024), a bias and labels in [0, V)."""
    N = shape[0]
    d = shape[1] if len(shape) > 1 else 4
    V = max(16, min(4 * d, 1024))
    h = rng.standard_normal((N, d)).astype(dtype)
    w = (rng.standard_normal((V, d)) / math.sqrt(d)).astype(dtype)
    b = (0.1 * rng.standard_normal(V)).astype(dtype)
    y = rng.integers(0, V, N)
    return (y, h, w, b), {}


def _signatures(dtype):
    """The argument types each CUDA kernel is launched with (for ``compile_ptx``)."""
    from numba import types as nt
    from numba.np.numpy_support import from_dtype

    dt = from_dtype(np.dtype(dtype))
    a2, a1 = nt.Array(dt, 2, "C"), nt.Array(dt, 1, "C")
    f1, i1 = nt.Array(nt.float64, 1, "C"), nt.Array(nt.int64, 1, "C")
    f, i, b = nt.float64, nt.int64, nt.boolean
    return {
        "lce": (i, a2, a1, b, i1, i, f1, b, f1, b, i, f, f, f, f, f, b, f1, f1),
        "acc": (i, a2, a2),
        "matmul": (a2, a2, a2, b, b),
    }


def _device_kernels(dtype):
    """The CUDA kernels the calls launch, for the PTX catalog: ``(ops, name, row body or
    None for the matrix product, argument types)`` (one row kernel serves every op, its
    ``write`` flag at run time)."""
    sig = _signatures(dtype)
    every, grads = "value.grad.value_and_grad", "grad.value_and_grad"
    return [
        (every, "lce", lce_row, sig["lce"]),
        (grads, "acc", acc_row, sig["acc"]),
        (every, "matmul", None, sig["matmul"]),
    ]


linear_cross_entropy = register(
    MultiSpec(
        name="linear_cross_entropy",
        family="linear",
        kind="matrix",
        target_domain="integer labels in [0, V) (or ``ignore_index``)",
        sample=sample_linear,
        program=_program,
        cost=16.0,
        device_body=lce_row,
        device_kernels=_device_kernels,
        optional_inputs=("bias",),
        inputs=("y_true", "hidden", "weight", "bias"),
        diff_inputs=("hidden", "weight", "bias"),
        input_docs=(
            ("y_true", "Integer labels (N,) in [0, V), or ``ignore_index``."),
            ("hidden", "Hidden states (N, d); float32 and float64 are computed natively."),
            ("weight", "The output layer's weight (V, d): one row per class."),
            ("bias", "Optional (V,) bias (default None: no bias, and no ``g_bias``)."),
        ),
        params=(
            Option(
                "class_weight",
                None,
                "None or V non-negative weights",
                kind="array",
                checker=lambda v: v,
                doc="One weight per class, as PyTorch's ``weight``.",
            ),
            Option(
                "ignore_index",
                -100,
                "an integer",
                kind="int",
                checker=lambda v: v,
                doc="Rows with this label have no loss and no gradient and do not count in "
                "the mean.",
            ),
            _LABEL_SMOOTHING,
            Param(
                "z_loss",
                0.0,
                ">= 0",
                lo=0.0,
                lo_open=False,
                doc="Coefficient of the z-loss ``lse_i^2`` added to each kept row.",
            ),
            Option(
                "softcap",
                None,
                "None or > 0",
                kind="float or None",
                checker=_opt_positive("softcap"),
                doc="Logits become ``softcap * tanh(logits / softcap)`` first.",
            ),
            Option(
                "sample_weight",
                None,
                "None or N non-negative finite weights",
                kind="array",
                checker=lambda v: v,
                doc="One weight per row (sample).",
            ),
            Option(
                "chunk_size",
                None,
                "None or a positive integer",
                kind="int or None",
                checker=_opt_positive("chunk_size", integer=True),
                doc="Rows of logits held at a time (default: N/12 rows but at least 128, and "
                "at most 256 MiB of logits). Results do not depend on it beyond "
                "rounding.",
            ),
        ),
        summary="Softmax cross-entropy of a linear layer, ``cross_entropy(y_true, hidden @ "
        "weight.T + bias)``, computed chunk by chunk: the (N, V) logits are never "
        "stored.",
        formula=r"\ell_i = (1-\varepsilon)\,w_{y_i}\big(\operatorname{lse}(z_i) - z_{i y_i}\big) "
        r"+ \frac{\varepsilon}{V}\sum_c w_c\big(\operatorname{lse}(z_i) - z_{ic}\big) "
        r"+ \lambda_z \operatorname{lse}(z_i)^2, \quad z_i = \kappa \tanh\big((W h_i + b)"
        r"/\kappa\big)",
        grad_formula=r"G_{ic} = \partial\ell_i/\partial z_{ic}\,(1 - z_{ic}^2/\kappa^2), \; "
        r"\partial\ell_i/\partial z_{ic} = (A_i + 2\lambda_z \operatorname{lse}"
        r"(z_i))\operatorname{softmax}(z_i)_c - a_{ic}; \quad \nabla_h = G W, \; "
        r"\nabla_W = G^T H, \; \nabla_b = \textstyle\sum_i G_{i\cdot}",
        reduction_doc="``mean`` is ``sum_i s_i l_i / sum_i s_i w_{y_i}`` over the rows not "
        "ignored (the denominator of ``cross_entropy``, the z-loss included in "
        "``l_i``), ``sum`` adds ``s_i l_i``, ``none`` gives ``s_i l_i`` per row "
        "(0 for ignored rows).",
        returns_doc="value : float (an array of N losses for ``reduction='none'``). ``grad`` gives "
        "``(grad_hidden, grad_weight)``, or ``(grad_hidden, grad_weight, "
        "grad_bias)`` with a bias.",
        matches="``F.cross_entropy(hidden @ weight.T + bias, y_true, weight=class_weight, "
        "ignore_index=..., label_smoothing=...)`` with PyTorch autograd, plus the z-loss "
        "of PaLM and the logit soft cap of Gemma 2 written in the same terms",
        notes="Notation: :math:`\\kappa` is ``softcap`` (no cap when None), "
        ":math:`\\lambda_z` is ``z_loss``, :math:`\\varepsilon` ``label_smoothing``, "
        ":math:`w` the class weights (1 without), :math:`A_i = (1-\\varepsilon)w_{y_i} + "
        "\\varepsilon\\sum_c w_c/V` and :math:`a_{ic}` the smoothed target mass "
        ":math:`(1-\\varepsilon)w_{y_i}[c = y_i] + \\varepsilon w_c/V`. The z-loss term "
        "is not multiplied by the class weight; with ``reduction='mean'`` it is divided "
        "by the same weighted count of kept rows as the cross-entropy (without class or "
        "sample weights: the mean of :math:`\\lambda_z \\operatorname{lse}^2` over the "
        "kept rows, as in PaLM). Memory: a ``chunk_size x V`` buffer of the input's dtype "
        "(by default ``N / 12`` rows, but at least 128 rows and the smaller of 16 MiB and "
        "half the rows, at most 256 MiB) "
        "and a block of ``grad_weight`` of at most 4 MiB; "
        "``out=(grad_hidden, grad_weight[, grad_bias])`` "
        "where ``grad_hidden`` may be ``hidden`` itself. On CUDA the products are a tiled "
        "kernel of fastloss's own (deterministic, not cuBLAS) and ``grad_weight`` is "
        "accumulated through one more ``V x d`` buffer.",
        references=(
            "A. Chowdhery et al., *PaLM: Scaling Language Modeling with Pathways*, JMLR 2023 "
            "(the auxiliary z-loss).",
            "Gemma Team, *Gemma 2: Improving Open Language Models at a Practical Size*, "
            "arXiv:2408.00118, 2024 (logit soft-capping).",
            "E. Wijmans et al., *Cut Your Losses in Large-Vocabulary Language Models*, "
            "arXiv:2411.09009, 2024 (the fused, chunked computation).",
        ),
        example=">>> import fastloss\n"
        ">>> round(fastloss.linear_cross_entropy([0], [[1.0]], [[0.0], [0.0]]), 6)"
        "  # log 2\n0.693147",
    )
)
