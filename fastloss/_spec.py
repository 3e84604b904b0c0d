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

REGISTRY: dict = {}


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


def check_params(name: str, params: tuple, given: dict) -> dict:
    """Fill defaults, reject unknown keywords (naming them, with the closest known one)."""
    known = {p.name: p for p in params}
    unknown = [k for k in given if k not in known]
    if unknown:
        allowed = ", ".join(known) or "none"
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

    def docstring(self) -> str:
        lines = [self.summary, "", ".. math::", "", f"    {self.formula}", ""]
        if self.grad_formula:
            lines += ["Gradient:", "", ".. math::", "", f"    {self.grad_formula}", ""]
        if self.hess_formula:
            lines += ["Hessian (diagonal):", "", ".. math::", "", f"    {self.hess_formula}", ""]
        lines += ["Parameters", "----------"]
        for a in self.inputs:
            text = _INPUT_DOC.get(a, "Input array.")
            if a == "y_true" and self.target_domain:
                text += f" Domain: {self.target_domain}."
            lines += [f"{a} : array_like", f"    {text}"]
        for p in self.params:
            lines += [f"{p.name} : {p.kind}, default {p.default!r}",
                      f"    {p.doc} Domain: {p.domain}."]
        lines += _COMMON_DOC.get("rmse" if getattr(self, "rmse", False) else self.kind, [])
        lines += ["", "Notes", "-----", f"Matches {self.matches}."]
        if self.notes:
            lines += ["", self.notes]
        if self.example:
            lines += ["", "Examples", "--------", self.example]
        return "\n".join(lines)


_INPUT_DOC = {
    "y_true": "Targets, the same shape as ``y_pred`` or its last axis (broadcast over rows).",
    "y_pred": "Predictions; float32 and float64 are computed natively.",
}

_COMMON_DOC = {
    "pointwise": [
        "reduction : {'mean', 'sum', 'none'}, default 'mean'",
        "    ``mean`` is ``sum(w*l)/sum(w)``, ``sum`` is ``sum(w*l)``, ``none`` is ``w*l``.",
        "sample_weight : array_like, optional",
        "    One non-negative weight per sample (per element of the last axis for ``axis=-1``).",
        "axis : {None, -1}",
        "    ``None`` reduces over everything; ``-1`` gives one loss per row (batch evaluation).",
        "backend : {None, 'auto', 'serial', 'parallel', 'cuda'}",
        "    Overrides the current backend for this call.",
    ],
    "rmse": [
        "reduction : {'mean'}, default 'mean'",
        "    The root of the (weighted) mean of squares: one value, or one per row with",
        "    ``axis=-1``. ``'sum'`` and ``'none'`` have no meaning for a root and are refused.",
        "sample_weight : array_like, optional",
        "    One non-negative weight per sample (per element of the last axis for ``axis=-1``).",
        "axis : {None, -1}",
        "    ``None`` reduces over everything; ``-1`` gives one RMSE per row.",
        "backend : {None, 'auto', 'serial', 'parallel', 'cuda'}",
        "    Overrides the current backend for this call.",
    ],
}


@dataclass(frozen=True)
class PointwiseSpec(LossSpec):
    """A loss of one term per element: ``scalar(y, p, prm, c) -> (l, dl/dp, d2l/dp2)``."""

    scalar: Callable | None = None
    cost: float = 1.0  # relative cost per element (transcendental losses > 1)
    has_hess: bool = True
    check_inputs: Callable | None = None  # (y_true, y_pred, params) -> None or raise
    rmse: bool = False
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


def register(spec: LossSpec) -> LossSpec:
    if spec.sample is None and spec.kind == "pointwise":
        object.__setattr__(spec, "sample", sample_regression)
    if spec.name in REGISTRY:
        raise RuntimeError(f"loss {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec
