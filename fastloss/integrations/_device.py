"""The device path of the boosting objectives: CUDA arrays in (XGBoost's labels of a
``DMatrix`` built from device data, or anything with ``backend="cuda"``), fastloss's CUDA
kernels, CUDA arrays (Numba device arrays) out, which XGBoost >= 2.1 takes as they are.

Imported only on that path (it imports ``numba.cuda``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .. import _arrays as A

_BLOCK = 256
_kernels: dict = {}


def _as_device(x):
    if x is None:
        return None
    if A.is_device_array(x):
        return cuda.as_cuda_array(x) if hasattr(cuda, "as_cuda_array") else x
    if hasattr(x, "copy_to_host"):  # a simulator device array
        return x
    return cuda.to_device(np.ascontiguousarray(x))


def _launch(kernel, n, *args):
    if n:
        kernel[max(1, math.ceil(n / _BLOCK)), _BLOCK](*args)


def _post_kernel():
    k = _kernels.get("post")
    if k is None:

        @cuda.jit
        def post(h, w, has_w, ncols, constant, factor, floor):
            # h[i] = max(w * 1 (constant) or factor * h[i], floor * w), w per sample (row)
            i = cuda.grid(1)
            if i < h.size:
                wi = w[i // ncols] if has_w else 1.0
                v = wi if constant else factor * h[i]
                f = floor * wi
                h[i] = v if v >= f else f

        k = _kernels["post"] = post
    return k


def _labels_kernel():
    k = _kernels.get("labels")
    if k is None:

        @cuda.jit
        def labels(src, dst, bad):
            i = cuda.grid(1)
            if i < src.size:
                v = src[i]
                dst[i] = int(v)
                if v != math.floor(v):
                    bad[0] = 1

        k = _kernels["labels"] = labels
    return k


def _int_labels(y):
    """Float labels (XGBoost stores them as float32) as int64 class indices, on the device."""
    if np.dtype(y.dtype).kind in "iu":
        return y
    flat = y.reshape(y.size)
    out = cuda.device_array(y.size, dtype=np.int64)
    bad = cuda.to_device(np.zeros(1, np.int32))
    _launch(_labels_kernel(), y.size, flat, out, bad)
    if bad.copy_to_host()[0]:
        raise ValueError("y_true: multiclass labels must be whole numbers 0 .. num_class - 1")
    return out


def postprocess(h, w, constant, factor, floor):
    """In place on the device: ``h = max(w if constant else factor * h, floor * w)``, ``w``
    one weight per sample (row of ``h``; 1 when None)."""
    ncols = 1 if len(h.shape) < 2 else int(np.prod(h.shape[1:]))
    wd = w if w is not None else cuda.device_array(1, dtype=np.float64)
    _launch(_post_kernel(), h.size, h.reshape(h.size), wd, w is not None, ncols, bool(constant),
            float(factor), float(floor))


def gradient_hessian(obj, y_true, y_pred, sample_weight):
    """``(grad, hess)`` as device arrays shaped like ``y_pred`` (host arrays for libraries
    that do not take CUDA arrays: LightGBM)."""
    yp = _as_device(y_pred)
    yt = _as_device(y_true)
    w = _as_device(sample_weight)
    if obj.multiclass:
        if yp.ndim != 2:
            raise NotImplementedError("the device path takes multiclass scores shaped "
                                      "(n_samples, n_classes)")
        yt = _int_labels(yt)
    elif yt.size == yp.size and yt.shape != yp.shape:
        yt = yt.reshape(yp.shape)
    kw = dict(reduction="sum", sample_weight=w, backend="cuda", **obj.params)
    if obj.mode == "constant":
        g = obj.loss.grad(yt, yp, **kw)
        h = cuda.device_array(g.shape, dtype=g.dtype)
        factor, constant = 1.0, True
    else:
        g, h = obj.loss.grad_hess(yt, yp, **kw)
        factor = obj.factor(yp.shape[-1]) if callable(obj.factor) else obj.factor
        constant = False
    if constant or factor != 1.0 or obj.floor > 0.0:
        postprocess(h, w, constant, factor, obj.floor)
    if obj.library != "xgboost":
        return g.copy_to_host(), h.copy_to_host()
    return g, h
