"""CUDA arrays: views without a copy, casts and copies on the device, transfers, range counts.

Any object with ``__cuda_array_interface__`` (Numba device arrays, CuPy, PyTorch CUDA
tensors; under ``NUMBA_ENABLE_CUDASIM=1`` the simulator's device arrays) is viewed as a
Numba device array. Importing this module imports ``numba.cuda``: the rest of fastloss
imports it only where an input is such an array or the ``"cuda"`` backend is asked for.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from . import cuda as K

SIMULATOR = K.SIMULATOR  # NUMBA_ENABLE_CUDASIM=1
if SIMULATOR:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as DeviceArray
else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray as DeviceArray

_dummies: dict = {}


def device_view(x):
    """A Numba device array viewing ``x`` (no copy); ``x`` must be a CUDA array."""
    if isinstance(x, DeviceArray):
        return x
    try:
        return cuda.as_cuda_array(x)
    except RuntimeError:  # a PyTorch tensor that requires grad
        detach = getattr(x, "detach", None)
        if detach is None:
            raise
        return cuda.as_cuda_array(detach())


def is_device(a) -> bool:
    """True for a Numba device array (the views :func:`device_view` makes)."""
    return isinstance(a, DeviceArray)


def to_host(a):
    """A NumPy array with the contents of ``a`` (``a`` itself if it is one, None for None)."""
    if a is None or isinstance(a, np.ndarray):
        return a
    if is_device(a) or hasattr(a, "__cuda_array_interface__") or \
            type(a).__name__ == "FakeCUDAArray":
        return device_view(a).copy_to_host()
    return a


def grid(work: int, block: int) -> int:
    """Blocks of ``block`` threads for ``work`` items (capped: the kernels stride)."""
    return K.grid_for((work + block - 1) // block)


def as_flat(a, dtype):
    """A C-contiguous 1-D device array of ``dtype`` with the elements of the device array
    ``a`` (``a`` itself when nothing needs changing; never ``a`` when it is cast)."""
    dtype = np.dtype(dtype)
    if a.dtype == dtype and a.is_c_contiguous():
        return a.reshape(a.size)
    block = K.launch_config()[0]
    out = cuda.device_array(a.size, dtype=dtype)
    if a.size:
        src = a if a.ndim > 0 else a.reshape(1)
        K.copy_kernel(src.ndim)[grid(a.size, block), block](src, out)
    return out


def as_contiguous(a, dtype):
    """A device array ``a`` C-contiguous in ``dtype``, its shape kept (``a``'s own view when
    nothing needs changing; cast or copied on the device otherwise)."""
    return as_flat(a, dtype).reshape(tuple(a.shape))


def to_device(a):
    """``a`` on the device (a device array stays as it is)."""
    if is_device(a):
        return a
    return cuda.to_device(np.ascontiguousarray(a))


def dummy(dtype):
    """A 1-element device array standing for an unused argument (one per dtype and
    context: each GPU gets its own)."""
    key = (np.dtype(dtype), id(cuda.current_context()))
    d = _dummies.get(key)
    if d is None:
        d = _dummies[key] = cuda.device_array(1, dtype=key[0])
    return d


def check_out(out, shape, dtype):
    """``out`` as a device view, or a TypeError/ValueError naming it."""
    if not (hasattr(out, "__cuda_array_interface__") or type(out).__name__ == "FakeCUDAArray"):
        raise TypeError(
            f"out must be a CUDA array (the inputs are on the device), got {type(out).__name__}"
        )
    d = device_view(out)
    if tuple(d.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(d.shape)}, expected {tuple(shape)}")
    if d.dtype != dtype:
        raise ValueError(f"out has dtype {d.dtype}, expected {np.dtype(dtype)}")
    if not d.is_c_contiguous():
        raise ValueError("out must be C-contiguous")
    return d


def first_outside(a, lo: float, hi: float) -> int:
    """Flat index of the first element of the CUDA array ``a`` outside ``[lo, hi]``, or -1
    (NaN passes): counted on the device; only a bad input is copied to the host to find
    the position."""
    d = device_view(a)
    if d.size == 0:
        return -1
    flat = as_flat(d, d.dtype) if d.dtype.kind in "fiu" else as_flat(d, np.float64)
    count = cuda.to_device(np.zeros(1, np.int64))
    block = K.launch_config()[0]
    K.count_outside_kernel()[grid(flat.size, block), block](flat, float(lo), float(hi), count)
    if int(count.copy_to_host()[0]) == 0:
        return -1
    host = flat.copy_to_host()
    outside = (host < lo) | (host > hi)
    return int(np.argmax(outside))
