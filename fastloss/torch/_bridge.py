"""Tensors in and out of fastloss, and one factory for the ``torch.library`` custom ops.

Every op runs one fastloss ``value_and_grad`` call in its forward and returns the value and
the gradients as outputs; the autograd formula saves those gradients and scales them by
``grad_output`` in the backward. Only fastloss's public loss objects are called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

LIB = "fastloss"
FLOATS = (torch.float32, torch.float64)


def kernel_array(t: torch.Tensor, what: str, fn: str):
    """The array a fastloss kernel reads, sharing ``t``'s memory: a NumPy view of a CPU
    tensor, the (detached) CUDA tensor itself through ``__cuda_array_interface__``."""
    if t.dtype in _HALF:
        raise TypeError(
            f"fastloss.torch.{fn}: {what} is {t.dtype}; fastloss computes in float32 and "
            f"float64 only: pass {what}.float() (the loss and its gradient are then float32)"
        )
    if t.is_complex():
        raise TypeError(f"fastloss.torch.{fn}: {what} is complex ({t.dtype}); it must be real")
    if t.device.type == "cpu":
        return t.detach().numpy()
    if t.device.type == "cuda":
        return t.detach()
    raise TypeError(
        f"fastloss.torch.{fn}: {what} is on device {t.device}; fastloss runs on CPU and "
        "CUDA tensors"
    )


_HALF = (torch.float16, torch.bfloat16)
_NP = {torch.float32: np.float32, torch.float64: np.float64}


def to_tensor(x, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A fastloss result as a tensor on ``device`` without a copy (a float becomes a 0-d
    tensor; a tuple of arrays, one flat tensor of their elements)."""
    if isinstance(x, tuple):
        return torch.cat([to_tensor(a, device, dtype).reshape(-1) for a in x])
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, (float, int, np.floating)):
        if device.type == "cpu":  # (faster than torch.tensor)
            return torch.from_numpy(np.array(x, dtype=_NP[dtype]))
        return torch.tensor(float(x), dtype=dtype, device=device)
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(x)
    else:  # a CUDA device array (Numba): shared through __cuda_array_interface__
        t = torch.as_tensor(x, device=device)
    return t if t.dtype == dtype else t.to(dtype)


@contextlib.contextmanager
def on_device(device: torch.device):
    """Run fastloss's CUDA kernels on ``device`` in order with PyTorch's current stream.

    fastloss launches on the device's default stream: when PyTorch's current stream is
    another one, the default stream first waits for it, and afterwards it waits for the
    default stream (GPU-side waits; the host does not block)."""
    if device.type != "cuda":
        yield
        return
    from numba import cuda

    idx = device.index if device.index is not None else torch.cuda.current_device()
    cur = torch.cuda.current_stream(idx)
    base = torch.cuda.default_stream(idx)
    with cuda.gpus[idx]:
        if cur != base:
            base.wait_stream(cur)
        yield
        if cur != base:
            cur.wait_stream(base)


def result_dtype(tensors) -> torch.dtype:
    """The float dtype of the loss value: the promotion of the float inputs' dtypes."""
    dt = None
    for t in tensors:
        if t is not None and t.is_floating_point():
            dt = t.dtype if dt is None else torch.promote_types(dt, t.dtype)
    return dt if dt is not None else torch.float64


def scale(go: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``grad_output`` times a saved gradient: a scalar, one factor per element (the same
    shape) or one per row (trailing axes broadcast). ``loss.backward()`` on the CPU (a
    scalar 1) hands the saved gradient over as it is: no pass, no allocation."""
    if (
        go.dim() == 0
        and go.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and not isinstance(go, torch._subclasses.FakeTensor)
        and go.item() == 1.0
    ):
        return g
    if go.dim() < g.dim():
        go = go.reshape(go.shape + (1,) * (g.dim() - go.dim()))
    return go * g


@dataclass
class OpDef:
    """One differentiable op.

    ``args``: the schema's arguments (``"Tensor input, Tensor target, str reduction"``).
    ``grads``: positions of the tensor arguments fastloss differentiates, in the order
    ``run`` returns their gradients. ``run(*arrays_and_scalars)`` returns ``(value,
    grads)``. ``value_shape(*args)`` gives the value's shape (for the fake tensor).
    ``data``: positions of the tensors whose dtype sets the value's dtype.
    ``target``: ``(position, from_grad)`` of a target whose gradient is minus that of the
    argument ``from_grad`` (losses of ``input - target``), else None.
    ``weight``: position of a PyTorch-style elementwise ``weight`` handled here, else None;
    ``weight_mean``: its ``mean`` divides by the number of elements or by ``sum(weight)``.
    ``backward``: a custom ``(ctx, go, grads) -> grads`` for the differentiable arguments.
    """

    name: str
    args: str
    grads: tuple
    run: Callable
    value_shape: Callable
    data: tuple = (0, 1)
    target: tuple | None = None
    weight: int | None = None
    weight_mean: str = "elements"
    backward: Callable | None = None
    op: object = None

    def __post_init__(self):
        self.names = [a.split()[1] for a in self.args.split(",")]
        self.reduction = self.names.index("reduction") if "reduction" in self.names else None
        outs = ", ".join(["Tensor"] * (1 + len(self.grads)))
        self.op = torch.library.custom_op(
            f"{LIB}::{self.name}",
            self._impl,
            mutates_args=(),
            schema=f"({self.args}) -> ({outs})",
        )
        self.op.register_fake(self._fake)
        self.op.register_autograd(self._backward, setup_context=self._setup)

    def __call__(self, *args):
        """The op: ``torch.ops.fastloss.<name>`` under ``torch.compile`` (and when
        ``EAGER`` is off); in eager mode the same forward and backward through a plain
        ``autograd.Function``, which skips the custom op's dispatch (about 0.2 ms a call)."""
        if EAGER and not torch.compiler.is_compiling():
            return _Eager.apply(self, *args)
        return self.op(*args)

    # forward --------------------------------------------------------------------------
    def _impl(self, *args):
        dev = args[self.grads[0]].device
        vdt = result_dtype(args[i] for i in self.data)
        red = args[self.reduction] if self.reduction is not None else None
        weighted = self.weight is not None and args[self.weight] is not None
        conv = self.kernel_args(args, lambda t, i: kernel_array(t, self.names[i], self.name))
        if dev.type == "cpu":
            value, grads = self.run(*conv)
        else:
            with on_device(dev):
                value, grads = self.run(*conv)
        grads = grads if isinstance(grads, tuple) else (grads,)
        v = to_tensor(value, dev, vdt)
        gs = [to_tensor(g, dev, args[i].dtype) for i, g in zip(self.grads, grads, strict=False)]
        if weighted:
            w = args[self.weight].detach().to(vdt)
            v, gs[0] = v * w, gs[0] * w.to(gs[0].dtype)
            if red == "mean":  # over the elements, or over the weights (mse, l1)
                n = w.expand_as(v).sum() if self.weight_mean == "weights" else v.numel()
                v, gs[0] = v.sum() / n, gs[0] / n
            elif red == "sum":
                v = v.sum()
        return (v, *gs)

    def kernel_args(self, args, convert):
        """``run``'s arguments: each tensor through ``convert(tensor, position)``; with a
        PyTorch ``weight``, the weight left out and the elementwise terms asked for."""
        weighted = self.weight is not None and args[self.weight] is not None
        conv = []
        for i, a in enumerate(args):
            if i == self.weight:
                a = None
            elif isinstance(a, torch.Tensor):
                a = convert(a, i)
            elif i == self.reduction and weighted:
                a = "none"  # the elementwise terms, weighted in _impl as PyTorch does
            conv.append(a)
        return conv

    def _fake(self, *args):
        vdt = result_dtype(args[i] for i in self.data)
        dev = args[self.grads[0]].device
        none = self.reduction is not None and args[self.reduction] == "none"
        shape = self.value_shape(*args) if none else ()
        v = args[self.grads[0]].new_empty(shape, dtype=vdt, device=dev)
        return (v, *[torch.empty_like(args[i]) for i in self.grads])

    # autograd -------------------------------------------------------------------------
    def _setup(self, ctx, inputs, output):
        ctx.set_materialize_grads(False)  # no zero tensors for the gradient outputs
        ctx.save_for_backward(*output[1:])
        ctx.shapes = [a.shape if isinstance(a, torch.Tensor) else None for a in inputs]

    def _backward(self, ctx, go, *_, needs=None):
        if torch.is_grad_enabled():  # backward(create_graph=True): no second derivative
            raise RuntimeError(
                f"fastloss.torch.{self.name}: no second derivative (double backward, "
                "create_graph=True): the backward scales a gradient computed by fastloss, "
                "which is not differentiable again; use torch.nn.functional for that"
            )
        if go is None:
            return (None,) * len(ctx.shapes)
        return self.grads_of(ctx, go, needs)

    def grads_of(self, ctx, go, needs=None):
        needs = ctx.needs_input_grad if needs is None else needs
        saved = ctx.saved_tensors
        out = [None] * len(ctx.shapes)
        gs = self.backward(ctx, go, saved) if self.backward else [scale(go, g) for g in saved]
        for i, g in zip(self.grads, gs, strict=False):
            if needs[i]:
                out[i] = g
        if self.target is not None:
            t, src = self.target
            if needs[t]:
                out[t] = (-gs[self.grads.index(src)]).sum_to_size(ctx.shapes[t])
        return tuple(out)


EAGER = True
"""Eager calls go through ``_Eager`` (the same forward and backward as the custom op)."""


class _Eager(torch.autograd.Function):
    @staticmethod
    def forward(ctx, op: OpDef, *args):
        out = op._impl(*args)
        ctx.mark_non_differentiable(*out[1:])
        op._setup(ctx, args, out)
        ctx.op = op
        return out

    @staticmethod
    def backward(ctx, go, *_):
        return (None, *ctx.op._backward(ctx, go, needs=ctx.needs_input_grad[1:]))


def legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` arguments, as PyTorch reads them."""
    if size_average is not None or reduce is not None:
        return torch.nn._reduction.legacy_get_string(size_average, reduce)
    return reduction


def no_grad_for(fn: str, **tensors) -> None:
    """A clear error where autograd would need a gradient the bridge does not compute."""
    if not torch.is_grad_enabled():
        return
    for what, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.requires_grad:
            raise RuntimeError(
                f"fastloss.torch.{fn}: no gradient with respect to {what} (it requires "
                f"grad); pass {what}.detach() or use torch.nn.functional.{fn}"
            )
