"""The named kernel arguments (``PointwiseArgs``, ``RowArgs``) follow the kernels' own
parameter lists: a field out of order would hand a kernel the wrong array."""

from __future__ import annotations

import inspect

import fastloss
from fastloss._kernels import cpu, rows


def _params(kernel) -> tuple:
    return tuple(inspect.signature(kernel.py_func).parameters)


def test_cpu_pointwise_args_match_the_kernel():
    k = cpu.pointwise_kernel(fastloss.mse.spec.scalar, parallel=False, reduce=True, rows=False,
                             write_l=False, write_g=True, write_h=False, wmode=0, ybcast=False,
                             has_cp=False)
    assert _params(k) == cpu.PointwiseArgs._fields


def test_cpu_row_args_match_the_kernel():
    k = rows.row_kernel(fastloss.cross_entropy.spec.row, parallel=False, write_g=True,
                        write_h=False, has_t=False, has_lab=True, has_sw=False)
    assert _params(k) == rows.RowArgs._fields


def test_cuda_args_match_the_kernels():
    from fastloss._kernels import cuda as K
    k = K.pointwise_kernel(fastloss.mse.spec.scalar, value=True, write_g=True, write_h=False,
                           wmode=0, ybcast=False, has_cp=False, block=64)
    assert _params(k) == K.PointwiseArgs._fields
    k = K.row_kernel(fastloss.cross_entropy.spec.row, write_g=True, write_h=False,
                     has_t=False, has_lab=True, has_sw=False, block=64)
    assert _params(k) == K.RowArgs._fields
