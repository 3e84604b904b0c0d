"""The registry: one spec per loss, declared once in its family module.

A spec holds everything the rest of the house derives from: the scalar maths, the
parameters and their domains, the formulas (LaTeX) for the docstring and the docs, the
reference convention. Tests, docs, benchmarks and ``fastloss bench`` iterate over
:data:`REGISTRY`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._docstring import render

REGISTRY: dict = {}
#: elementwise maps ``fn(x, a, b)`` that public functions run (the proximal operators), by
#: kernel name: the PTX catalog compiles each
MAPS: dict = {}


@dataclass(frozen=True)
class Param:
    """A keyword parameter of a loss: default, domain, and how it enters the kernel."""

    name: str
    default: object
    domain: str  # human text, e.g. "> 0", "(0, 1)", "bool"
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = True
    hi_open: bool = True
    kind: str = "float"  # "float" | "bool" | "float_or_array" (last-axis array, as `c`)
    doc: str = ""
    # A common value that reaches the kernel as None (read with scalar.fold): the CPU
    # kernels compile a variant where it is a constant, and the scalar's branches on it
    # fold away instead of becoming selects that compute every case.
    fold: float | None = None

    def check(self, value):
        """The value as the kernel takes it (float), or a ValueError/TypeError naming it."""
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{self.name} must be a bool, got {value!r}")
            return float(bool(value))
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"{self.name} must be a real number, got {value!r}")
        v = float(value)
        below = v <= self.lo if self.lo_open else v < self.lo
        above = v >= self.hi if self.hi_open else v > self.hi
        if math.isnan(v) or below or above:
            raise ValueError(f"{self.name} must be {self.domain}, got {value!r}")
        return v

    def kernel_value(self, v: float, dtype):
        """The checked value ``v`` as the kernel's ``prm`` holds it: ``dtype``, or None for
        the :attr:`fold` value."""
        return None if v == self.fold else dtype.type(v)


#: the keywords every loss call takes besides its parameters (for "did you mean")
OPTIONS = ("reduction", "sample_weight", "axis", "backend", "out")


def did_you_mean(word, candidates) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate (difflib), or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_loss(name) -> str:
    """The message for a loss name that is not registered, with the closest one."""
    return f"unknown fastloss loss {name!r}{did_you_mean(name, REGISTRY)}"


_DEFAULTS: dict = {}  # name -> (params, {name: default}) of check_params without keywords


def check_params(name: str, params: tuple, given: dict) -> dict:
    """Fill defaults, reject unknown keywords (naming them, with the closest known one)."""
    if not given:
        d = _DEFAULTS.get(name)
        if d is None or d[0] is not params:
            d = _DEFAULTS[name] = (params, {p.name: p.default for p in params})
        return dict(d[1])
    known = {p.name: p for p in params}
    unknown = [k for k in given if k not in known]
    if unknown:
        allowed = ", ".join(known) or "none"
        if unknown[0] == "out":  # an option of the gradient methods, not of the value call
            raise TypeError(f"{name}: out= is taken by {name}.grad and "
                            f"{name}.value_and_grad only (the gradient's array)")
        hint = did_you_mean(unknown[0], (*known, *OPTIONS))
        raise TypeError(f"{name}() got unknown parameter(s) {unknown}{hint}; "
                        f"its parameters: {allowed}")
    return {p.name: given.get(p.name, p.default) for p in params}


@dataclass(frozen=True)
class LossSpec:
    """What every loss declares."""

    name: str
    family: str
    summary: str
    formula: str  # LaTeX of the per-element (or per-row) value
    matches: str  # the reference convention
    params: tuple = ()
    grad_formula: str = ""
    hess_formula: str = ""
    notes: str = ""
    example: str = ""
    kind: str = "pointwise"
    has_hess: bool = False
    inputs: tuple = ("y_true", "y_pred")
    # the values y_true may hold (shown in the docstring; a check declared with the loss
    # refuses the others with a ValueError naming y_true)
    target_domain: str = ""
    # sample(rng, shape, dtype) -> (args, params): valid inputs for tests and benchmarks
    sample: Callable | None = None
    # how a boosting objective uses the loss: "elementwise" (one raw score per sample),
    # "multiclass" (a row of class scores per sample) or "" (not usable; ``boosting_hint``
    # then says why, or what to use instead)
    boosting: str = ""
    boosting_hint: str = ""

    def docstring(self) -> str:
        """The numpydoc text of the loss (``help(fastloss.<name>)``)."""
        return render(self)


@dataclass(frozen=True)
class PointwiseSpec(LossSpec):
    """A loss of one term per element: ``scalar(y, p, prm, c) -> (l, dl/dp, d2l/dp2)``."""

    scalar: Callable | None = None
    cost: float = 1.0  # relative cost per element (transcendental losses > 1)
    has_hess: bool = True
    check_inputs: Callable | None = None  # (y_true, y_pred, params) -> None or raise
    # check_inputs counts on the device where the inputs are CUDA arrays (a range check);
    # otherwise it is given a host copy of y_true
    checks_on_device: bool = False
    # input_flags(y, p, prm) -> int, a register_jitable: per element, bits that the CPU
    # kernel of the common call ORs over its inputs while it computes, in place of a pass
    # of check_inputs before it; an OR outside flags_fine means check_inputs refuses the
    # inputs (it then runs, for its message). Never fine where check_inputs refuses.
    input_flags: Callable | None = None
    flags_fine: tuple = (0,)
    rmse: bool = False
    boosting: str = "elementwise"
    extra: dict = field(default_factory=dict)
    # A power of two the scalar's dl/dp and d2l/dp2 are divided by; the roads multiply it
    # into the gradient's scale instead (the same bits), so that a term like 2 d cannot
    # overflow before a scale below 1 applies.
    grad_factor: float = 1.0


def sample_regression(rng, shape, dtype):
    """Targets and predictions drawn from a standard normal."""
    y = rng.standard_normal(shape).astype(dtype)
    p = rng.standard_normal(shape).astype(dtype)
    return (y, p), {}


def sample_counts(rng, shape, dtype):
    """Non-negative count targets and raw (log-scale) predictions."""
    y = rng.poisson(2.0, size=shape).astype(dtype)
    p = (0.5 * rng.standard_normal(shape)).astype(dtype)
    return (y, p), {}


@dataclass(frozen=True)
class Choice(Param):
    """A string parameter taking one of ``choices``."""

    choices: tuple = ()
    kind: str = "str"

    def check(self, value):
        if not isinstance(value, str):
            raise TypeError(f"{self.name} must be a string, one of {self.choices}, got {value!r}")
        if value not in self.choices:
            raise ValueError(f"{self.name} must be one of {self.choices}, got {value!r}")
        return value


@dataclass(frozen=True)
class Option(Param):
    """A keyword option checked by its own function (arrays, None or a value)."""

    checker: Callable | None = None
    kind: str = "option"

    def check(self, value):
        return self.checker(value) if self.checker is not None else value


@dataclass(frozen=True)
class RowwiseSpec(LossSpec):
    """A loss of one term per row of ``C`` values (class scores or probabilities)."""

    kind: str = "rowwise"
    row: Callable | None = None  # row(x, t, lab, cw, prm, gs, g, h, wg, wh, inplace, w)
    # prepare(y_true, y_pred, params) -> Rows (validates, names the bad argument)
    prepare: Callable | None = None
    cost: float = 8.0  # relative cost per value (exp/log per element)
    # fast_prm(C, params) -> prm: the row parameters of a common call (int64 labels in
    # [0, C), float logits (N, C), no weights, the parameters ``params`` ({} for the
    # defaults)), which then skips prepare; None where only prepare can tell (or checks)
    fast_prm: Callable | None = None
    # a 1-D y_pred is one row of C scores (a single sample), as PyTorch's cross_entropy
    single_row: bool = False
    # (lo, hi): a common call of targets shaped like ``y_pred`` (both float (N, C) of one
    # dtype, C-contiguous, every value in [lo, hi], the default parameters) runs the row
    # kernel on the arrays as they are, which then skips prepare
    fast_range: tuple | None = None
    # a row's fixed cost, in elements, for the serial/parallel choice (cross_entropy: its
    # maximum, logarithm, label and loop take about 30 ns of a serial row kernel, against
    # 0.5 ns per value, from 10 to 1000 classes)
    row_fixed: int = 60
    # what a float64 value costs in float32 ones, for the same choice (half the vector
    # lanes for the exponentials and logarithms)
    float64_factor: float = 1.8


@dataclass
class Rows:
    """What a row kernel reads, as a row-wise spec's ``prepare`` gives it."""

    x: np.ndarray  # (N, C) C-contiguous, the differentiable input in the compute dtype
    t: np.ndarray | None = None  # (N, C) target probabilities, same dtype
    # (x and t are CUDA device arrays where the inputs were; everything else is on the host)
    lab: np.ndarray | None = None  # (N,) int64 labels
    cw: np.ndarray | None = None  # (C,) float64 class weights
    prm: tuple = (0.0,)
    roww: np.ndarray | None = None  # (N,) float64: each row's weight in the mean's denominator
    gshape: tuple = ()  # shape of the gradient (that of y_pred)
    vshape: tuple = ()  # shape of the values for reduction="none"


@dataclass(frozen=True)
class MultiSpec(LossSpec):
    """A loss whose inputs are several arrays (or one weight array): kind ``"terms"`` or
    ``"matrix"``.

    ``terms``: the loss is a sum over its inputs of a pointwise term applied elementwise:
    ``terms_of(params)`` gives ``(term, prm)`` for each input, ``term`` a
    :class:`PointwiseSpec` whose scalar reads the ``term_params`` numbers of ``prm``.
    ``term`` declares every term ``terms_of`` may give (one spec, or a tuple of them: the
    CUDA kernel catalogue compiles each).

    ``matrix``: ``program(call, arrays)`` computes the loss; ``call`` (see
    :mod:`fastloss._kinds.multi`) holds the parameters, the reduction, what is wanted, and
    gives the executor that runs the row bodies and matrix products.
    """

    kind: str = "terms"
    diff_inputs: tuple = ()
    optional_inputs: tuple = ()  # inputs that default to None (and then get no gradient)
    default_reduction: str = "mean"
    reductions: tuple = ("mean", "sum", "none")
    input_docs: tuple = ()  # (name, text) pairs
    reduction_doc: str = ""
    returns_doc: str = ""
    references: tuple = ()
    cost: float = 1.0
    term: PointwiseSpec | tuple | None = None
    term_params: int = 0
    terms_of: Callable | None = None
    program: Callable | None = None
    # the row body its CUDA kernels run (the function ``fastloss.bench`` names), and
    # device_kernels(dtype) -> [(ops, name, row body or None for the matrix product,
    # argument types)]: every CUDA kernel its calls launch, for the PTX catalog
    device_body: Callable | None = None
    device_kernels: Callable | None = None

    def term_specs(self) -> tuple:
        """Every term this loss may sum (``term`` as a tuple)."""
        t = self.term
        return () if t is None else (t if isinstance(t, tuple) else (t,))


def register(spec: LossSpec) -> LossSpec:
    if spec.sample is None and spec.kind == "pointwise":
        object.__setattr__(spec, "sample", sample_regression)
    if spec.name in REGISTRY:
        raise RuntimeError(f"loss {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def register_map(name: str, fn: Callable) -> Callable:
    """Declare an elementwise map ``fn(x, a, b)`` (run by :func:`fastloss._dispatch.map_call`)."""
    MAPS[name] = fn
    return fn
