"""Peak memory of the gradient, in place (``out=y_pred``) against a fresh array.

``peakmem_*`` is the process's peak resident memory (asv reads ``ru_maxrss``), which includes
the interpreter, Numba and the two inputs; the in-place gradient should add nothing the size
of the input, the allocating one adds one array. ``track_*_bytes`` counts the bytes NumPy
allocated during one call (``tracemalloc`` sees NumPy's allocations): ~0 in place.
Inputs are filled by tiling a small sample so that no temporary the size of the input
raises the peak before the call.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from ._common import check_backend, get_loss, pointwise_names

N = 4_000_000


def _big_inputs(spec, dtype):
    rng = np.random.default_rng(0)
    (ys, ps), params = spec.sample(rng, (65_536,), np.dtype(dtype))
    y = np.empty(N, dtype)
    p = np.empty(N, dtype)
    for start in range(0, N, ys.size):
        stop = min(N, start + ys.size)
        y[start:stop] = ys[: stop - start]
        p[start:stop] = ps[: stop - start]
    return y, p, params


def _make(name):
    def setup(self, dtype):
        loss, spec = get_loss(name)
        check_backend("serial")
        (ys, ps), params = spec.sample(np.random.default_rng(1), (1000,), np.dtype(dtype))
        loss.grad(ys, ps, out=ps.copy(), backend="serial", **params)  # compile
        loss.grad(ys, ps, backend="serial", **params)
        self.loss, self.params = loss, params
        self.y, self.p, _ = _big_inputs(spec, dtype)

    def peakmem_grad_inplace(self, dtype):
        self.loss.grad(self.y, self.p, out=self.p, backend="serial", **self.params)

    def peakmem_grad_alloc(self, dtype):
        self.loss.grad(self.y, self.p, backend="serial", **self.params)

    def track_grad_inplace_bytes(self, dtype):
        tracemalloc.start()
        try:
            self.loss.grad(self.y, self.p, out=self.p, backend="serial", **self.params)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    track_grad_inplace_bytes.unit = "bytes"

    return type(name, (), {
        "params": [["float32", "float64"]],
        "param_names": ["dtype"],
        "setup": setup,
        "peakmem_grad_inplace": peakmem_grad_inplace,
        "peakmem_grad_alloc": peakmem_grad_alloc,
        "track_grad_inplace_bytes": track_grad_inplace_bytes,
        "timeout": 120,
        "__module__": __name__,
    })


globals().update({name: _make(name) for name in pointwise_names()})
