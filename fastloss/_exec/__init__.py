"""Executors: where kernels run. ``executor_for(...)`` picks one for a call.

An executor owns buffers, launches, copies and the parallel-launch lock. The host ones
(:mod:`fastloss._exec.cpu`: "serial", "parallel") and the CUDA one
(:mod:`fastloss._exec.cuda`, imported only when it is used) have the same methods: the
kinds of loss (:mod:`fastloss._kinds`) and the loss programs call those, never a backend.
"""

from __future__ import annotations

from .. import _backend
from .cpu import PARALLEL, SERIAL

_HOST = {"serial": SERIAL, "parallel": PARALLEL}


def executor(name: str):
    """The executor named "serial", "parallel" or "cuda" (BackendUnavailableError saying
    why where CUDA is not usable)."""
    ex = _HOST.get(name)
    if ex is not None:
        return ex
    _backend.require_cuda()
    try:
        from .cuda import CUDA
    except ImportError as exc:
        raise _backend.BackendUnavailableError(f'backend "cuda" is not usable: {exc}') from None
    return CUDA


def executor_for(backend, work: int, cost: float = 1.0, device: bool = False,
                 value_only: bool = False):
    """The executor of one call: ``backend`` as given (or the current one), "auto" choosing
    by the work (elements times the loss's relative cost, and whether the pass only
    reduces) or sending CUDA inputs to "cuda"."""
    name = _backend.resolve(backend, work, cost, device, value_only)
    ex = _HOST.get(name)
    return ex if ex is not None else executor(name)
