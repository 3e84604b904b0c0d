"""Input checking and coercion: dtypes, shapes, weights, ``out=``, labels.

Every message names the argument and the problem. Nothing here modifies an input.
"""

from __future__ import annotations

import operator

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def is_device_array(x) -> bool:
    """True for a CUDA array: anything with ``__cuda_array_interface__`` (Numba, CuPy, PyTorch
    CUDA tensors, also those that require grad) or a CUDA-simulator device array."""
    if type(x) is np.ndarray:  # the common case, in ~40 ns
        return False
    try:
        if hasattr(x, "__cuda_array_interface__"):
            return True
    except RuntimeError:  # torch: "Can't get __cuda_array_interface__ on Variable that
        return True  # requires grad"; the CUDA road detaches it
    return type(x).__name__ == "FakeCUDAArray"


def check_reduction(reduction) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_axis(axis):
    if axis is None:
        return None
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be None or -1, got {axis!r}") from None
    if a != -1:
        raise ValueError(f"axis must be None or -1, got {axis!r}")
    return -1


def _kind_check(x, name: str) -> None:
    kind = x.dtype.kind
    if kind in "fiub":
        return
    what = {"c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(kind, str(x.dtype))
    raise TypeError(f"{name} must hold real numbers, got {what} dtype {x.dtype}")


def as_array(x, name: str) -> np.ndarray:
    """``np.asarray`` with a clear error for what cannot be a numeric array."""
    if type(x) is np.ndarray:
        if x.dtype.kind not in "fiub":
            _kind_check(x, name)
        return x
    if x is None:
        raise TypeError(f"{name} is required, got None")
    if type(x).__module__ == "torch" and getattr(x, "requires_grad", False):
        x = x.detach()  # read the values, as for any CPU tensor (no autograd through fastloss)
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} cannot be read as an array: {exc}") from None
    _kind_check(a, name)
    return a


def as_input(x, name: str):
    """A CUDA array as a Numba device view (dtype kind checked, no copy), anything else
    through :func:`as_array` (a host array)."""
    if type(x) is np.ndarray or not is_device_array(x):
        return as_array(x, name)
    from ._kernels import device

    d = device.device_view(x)
    _kind_check(d, name)
    return d


def as_any(x, name: str):
    """A CUDA array as a C-contiguous device array (copied on the device only where it is
    strided), anything else through :func:`as_array`. For checks that read shapes and dtypes
    (and count on the device where they read values)."""
    if not is_device_array(x):
        return as_array(x, name)
    from ._kernels import device

    d = as_input(x, name)
    return device.as_contiguous(d, d.dtype)


def contiguous(a, dtype):
    """``a`` C-contiguous in ``dtype`` (itself when it already is): a CUDA array stays on the
    device, cast or copied there."""
    if not is_device_array(a):
        return np.ascontiguousarray(a, dtype=dtype)
    from ._kernels import device

    return device.as_contiguous(device.device_view(a), dtype)


def on_host(x):
    """``x`` itself, or a NumPy copy of a CUDA array (checks of small arrays: labels)."""
    if not is_device_array(x):
        return x
    from ._kernels import device

    return device.to_host(x)


_HOST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(*arrays) -> np.dtype:
    """NumPy promotion over the float arrays; integer/bool ones do not take part, and with
    no float array at all the result is float64. float16 computes as float32."""
    floats = [a.dtype for a in arrays if a is not None and a.dtype.kind == "f"]
    if floats and len(floats) == len(arrays) and floats[0] in _HOST_FLOATS and \
            all(d == floats[0] for d in floats):  # the common case, without result_type
        return floats[0]
    if not floats:
        return np.dtype(np.float64)
    dt = np.result_type(*floats)
    if dt.itemsize < 4:
        dt = np.dtype(np.float32)
    if dt.itemsize > 8:
        raise TypeError(f"{dt} inputs are not supported; use float32 or float64")
    return dt


def as_flat(a: np.ndarray, dtype) -> np.ndarray:
    """A C-contiguous 1-D copy-if-needed of ``a`` in ``dtype`` (never the input if cast)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def check_weights(sample_weight, length: int, name: str = "sample_weight") -> np.ndarray:
    w = as_array(sample_weight, name)
    if w.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {w.shape}")
    if w.shape[0] != length:
        raise ValueError(f"{name} has {w.shape[0]} entries, expected {length}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite")
    if np.any(w < 0):
        raise ValueError(f"{name} must be non-negative")
    return w


def check_out(out, shape, dtype, name: str = "out", *, reads=(), own=None) -> np.ndarray:
    """``out`` checked (a NumPy array of ``shape`` and ``dtype``, C-contiguous, writable)
    and returned as a plain ``numpy.ndarray`` view of the same memory, for the kernels.

    An ndarray subclass (``np.matrix``, whose ``reshape(-1)`` stays 2-D) is written through
    that base-class view. ``reads``: ``(label, array)`` pairs of what the kernel reads while
    it writes ``out``; see :func:`check_no_overlap` (``own``: the one array ``out`` may be).
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(out).__name__}")
    if type(out) is not np.ndarray:
        out = out.view(np.ndarray)
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"{name} has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    check_no_overlap(out, reads, name, own)
    return out


def plain_out(out, like: np.ndarray, *reads) -> bool:
    """Whether ``out`` is a NumPy array (not a subclass) of ``like``'s shape and dtype,
    C-contiguous and writable, that is ``like`` itself (in place) or shares no memory with
    ``like`` nor with ``reads`` (what a fast path takes; :func:`check_out` explains the
    rest)."""
    if not (type(out) is np.ndarray and out.dtype is like.dtype and out.shape == like.shape):
        if type(out) is not np.ndarray or out.dtype != like.dtype or out.shape != like.shape:
            return False
    flags = out.flags
    if not (flags.c_contiguous and flags.writeable):
        return False
    if out is not like and np.may_share_memory(out, like):
        return False
    for r in reads:
        if out is r or np.may_share_memory(out, r):
            return False
    return True


def same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` and ``b`` are the same C-contiguous run of memory of one dtype (exact aliasing:
    element ``i`` of one is element ``i`` of the other)."""
    return (a.dtype == b.dtype and a.size == b.size and a.flags.c_contiguous
            and b.flags.c_contiguous
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` share memory (when too hard to tell exactly: yes)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except getattr(np, "exceptions", np).TooHardError:
        return True


def check_no_overlap(out: np.ndarray, reads, name: str = "out", own=None) -> None:
    """ValueError naming ``name`` where ``out`` shares memory with an array the kernel reads
    (``reads``: ``(label, array)`` pairs; None and device arrays are skipped), except where
    it is exactly ``own`` (the differentiated input, written in place element by element)."""
    for label, a in reads:
        if type(a) is not np.ndarray or not overlaps(out, a):
            continue
        if own is not None and a is own and same_memory(out, a):
            continue
        what = "is" if same_memory(out, a) else "overlaps"
        raise ValueError(
            f"{name} {what} {label}: it may be the differentiated input itself (in place) "
            f"but must not share memory with any other input or output")


def check_finite_scalar(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_labels(labels: np.ndarray, n_classes: int, name: str, ignore_index=None) -> None:
    """Integer labels in ``[0, n_classes)`` (``ignore_index`` excepted), else ValueError
    naming the first bad position. Runs before any kernel gathers with them."""
    bad = (labels < 0) | (labels >= n_classes)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bad.any():
        pos = int(np.flatnonzero(bad.reshape(-1))[0])
        idx = np.unravel_index(pos, labels.shape)
        raise ValueError(
            f"{name} holds {labels.reshape(-1)[pos]} at position {tuple(int(i) for i in idx)}, "
            f"outside [0, {n_classes})"
            + ("" if ignore_index is None else f" and not ignore_index={ignore_index}")
        )
