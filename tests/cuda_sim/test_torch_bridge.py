"""fastloss.torch's CUDA road, as far as it goes without a GPU: every op's fastloss call
(``OpDef.run``, with the arguments the bridge builds) on Numba device arrays standing in
for CUDA tensors (both are read through ``__cuda_array_interface__``) returns device
arrays or floats, equal to the call on NumPy views of the CPU tensors. Wrapping the
results back with ``torch.as_tensor(..., device="cuda")`` and the stream handoff need a
CUDA build of PyTorch and a GPU (tests/gpu)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

torch = pytest.importorskip("torch")

from fastloss.torch._bridge import kernel_array  # noqa: E402
from fastloss.torch._ops import OPS  # noqa: E402

from ..test_torch_bridge import CASES, _op_args  # noqa: E402
from ._common import close, is_dev  # noqa: E402

ITEMS = [(k, i) for k, c in CASES.items() for i in range(len(c[4]))]


def _flat(value, grads):
    out = list(value) if isinstance(value, tuple) else [value]
    return out + list(grads if isinstance(grads, tuple) else (grads,))


@pytest.mark.parametrize(("name", "i"), ITEMS)
def test_bridge_call_on_device_arrays_equals_host(name, i):
    _, _, make, _, opts = CASES[name]
    dtype = np.float32 if i % 2 else np.float64  # both dtypes across the option sets
    tensors = [
        t.to(torch.float32) if dtype == np.float32 and t.is_floating_point() else t
        for t in make(torch.float64)
    ]
    kw = {
        k: (v.to(tensors[0].dtype) if isinstance(v, torch.Tensor) else v)
        for k, v in opts[i].items()
    }
    d = OPS[name]
    args = _op_args(name, tensors, kw)
    host = d.run(*d.kernel_args(args, lambda t, j: kernel_array(t, d.names[j], d.name)))
    dev = d.run(*d.kernel_args(args, lambda t, j: cuda.to_device(t.detach().numpy())))
    ref, got = _flat(*host), _flat(*dev)
    assert len(got) == len(ref)
    for j, (g, r) in enumerate(zip(got, ref, strict=False)):
        assert isinstance(g, float) or is_dev(g), (name, j, type(g))
        close(g, r, r.dtype if isinstance(r, np.ndarray) else dtype, f"{name} {kw} [{j}]")
