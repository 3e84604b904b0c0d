"""fastloss.torch's CUDA road, as far as it goes without a GPU: every op's fastloss call
(``OpDef.run``, with the arguments the bridge builds) on Numba device arrays standing in
for CUDA tensors (both are read through ``__cuda_array_interface__``) returns device
arrays or floats, equal to the call on NumPy views of the CPU tensors. Wrapping the
results back with ``torch.as_tensor(..., device="cuda")`` and the stream handoff need a
CUDA build of PyTorch and a GPU: on a GPU (``FASTLOSS_TEST_CUDA=1``) the last test runs the
functions end to end on CUDA tensors, on the current and on a side stream."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

torch = pytest.importorskip("torch")

from fastloss.torch._bridge import kernel_array  # noqa: E402
from fastloss.torch._ops import OPS  # noqa: E402

from ..test_torch_bridge import CASES, _op_args, _run  # noqa: E402
from ._common import SIM, close, is_dev  # noqa: E402

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
    fdt = next(t.dtype for t in tensors if t.is_floating_point())  # (labels may come first)
    kw = {k: (v.to(fdt) if isinstance(v, torch.Tensor) else v) for k, v in opts[i].items()}
    d = OPS[name]
    args = _op_args(name, tensors, kw)
    host = d.run(*d.kernel_args(args, lambda t, j: kernel_array(t, d.names[j], d.name)))
    dev = d.run(*d.kernel_args(args, lambda t, j: cuda.to_device(t.detach().numpy())))
    ref, got = _flat(*host), _flat(*dev)
    assert len(got) == len(ref)
    for j, (g, r) in enumerate(zip(got, ref, strict=False)):
        assert isinstance(g, float) or is_dev(g), (name, j, type(g))
        close(g, r, r.dtype if isinstance(r, np.ndarray) else dtype, f"{name} {kw} [{j}]")


if not SIM:  # on a GPU: the whole bridge on CUDA tensors against the CPU

    @pytest.mark.parametrize("side_stream", [False, True])
    @pytest.mark.parametrize(("name", "i"), ITEMS)
    def test_bridge_on_cuda_tensors_equals_cpu(name, i, side_stream):
        if not torch.cuda.is_available():
            pytest.skip("this PyTorch has no CUDA")
        fn, _, make, diff, opts = CASES[name]
        tensors = [t.to(torch.float32) if t.is_floating_point() else t for t in make(torch.float64)]
        kw = {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in opts[i].items()}
        ref_v, ref_g = _run(fn, tensors, diff, kw)
        dev = [t.cuda() for t in tensors]
        dkw = {k: (v.cuda() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
        stream = torch.cuda.Stream() if side_stream else torch.cuda.current_stream()
        with torch.cuda.stream(stream):
            got_v, got_g = _run(fn, dev, diff, dkw)
        torch.cuda.synchronize()
        for a, b in zip(got_v + got_g, ref_v + ref_g, strict=True):
            assert a.is_cuda and a.dtype == b.dtype and a.shape == b.shape
            torch.testing.assert_close(a.cpu(), b, rtol=2e-5, atol=2e-6)
