"""One renderer for the numpydoc docstring of every kind of loss."""

from __future__ import annotations

_INPUT_DOC = {
    "y_true": "Targets, the same shape as ``y_pred`` or its last axis (broadcast over rows).",
    "y_pred": "Predictions; float32 and float64 are computed natively.",
}

_BACKEND = ["backend : {None, 'auto', 'serial', 'parallel', 'cuda'}",
            "    Overrides the current backend for this call."]
_WEIGHT = ["sample_weight : array_like, optional",
           "    One non-negative weight per sample (per element of the last axis for "
           "``axis=-1``)."]

_OPTIONS = {
    "pointwise": [
        "reduction : {'mean', 'sum', 'none'}, default 'mean'",
        "    ``mean`` is ``sum(w*l)/sum(w)``, ``sum`` is ``sum(w*l)``, ``none`` is ``w*l``.",
        *_WEIGHT,
        "axis : {None, -1}",
        "    ``None`` reduces over everything; ``-1`` gives one loss per row (batch evaluation).",
        *_BACKEND,
    ],
    "rmse": [
        "reduction : {'mean'}, default 'mean'",
        "    The root of the (weighted) mean of squares: one value, or one per row with",
        "    ``axis=-1``. ``'sum'`` and ``'none'`` have no meaning for a root and are refused.",
        *_WEIGHT,
        "axis : {None, -1}",
        "    ``None`` reduces over everything; ``-1`` gives one RMSE per row.",
        *_BACKEND,
    ],
    "rowwise": [
        "reduction : {'mean', 'sum', 'none'}, default 'mean'",
        "    ``mean`` is ``sum(w*l)/sum(w)`` over the rows (``w`` the sample weights; its",
        "    denominator is detailed in Notes where the loss has more), ``sum`` is",
        "    ``sum(w*l)``, ``none`` gives one value per row.",
        "sample_weight : array_like, optional",
        "    One non-negative weight per row (sample).",
        "out : ndarray, optional (``grad``, ``value_and_grad``)",
        "    Where to write the gradient; may be ``y_pred`` itself (in place, no allocation).",
        *_BACKEND,
    ],
}


def _math(title, formula):
    return ([title, ""] if title else []) + [".. math::", "", f"    {formula}", ""]


def _options(spec) -> list:
    """The keyword options every call of this kind takes."""
    if spec.kind in ("pointwise", "rowwise"):
        return _OPTIONS["rmse" if getattr(spec, "rmse", False) else spec.kind]
    if not hasattr(spec, "reductions"):  # a spec of no kind known here
        return []
    diff = spec.diff_inputs
    many = len(diff) > 1
    red = "{" + ", ".join(repr(r) for r in spec.reductions) + "}"
    where = ("s, one C-contiguous array per differentiable input" if many
             else f" (C-contiguous, shape and dtype of ``{diff[0]}``)" if diff else "")
    return [f"reduction : {red}, default {spec.default_reduction!r}",
            f"    {spec.reduction_doc}",
            *_BACKEND,
            "out : ndarray" + (" or tuple of ndarrays" if many else "")
            + ", optional (``grad`` and ``value_and_grad`` only)",
            f"    Where to write the gradient{where}; may be the input itself (in place)."]


def render(spec) -> str:
    """The docstring: summary, formulas, parameters (inputs, the loss's own, the options of
    its kind), returns, notes (the reference it matches), references, examples."""
    lines = [spec.summary, "", *_math("", spec.formula)]
    if spec.grad_formula:
        lines += _math("Gradient:", spec.grad_formula)
    if spec.hess_formula:
        lines += _math("Hessian (diagonal):", spec.hess_formula)
    lines += ["Parameters", "----------"]
    docs = dict(getattr(spec, "input_docs", ()))
    for a in spec.inputs:
        text = docs.get(a) or _INPUT_DOC.get(a, "Input array.")
        if a == "y_true" and spec.target_domain:
            text += f" Domain: {spec.target_domain}."
        lines += [f"{a} : array_like", f"    {text}"]
    for p in spec.params:
        lines += [f"{p.name} : {p.kind}, default {p.default!r}",
                  f"    {p.doc} Domain: {p.domain}."]
    lines += _options(spec)
    returns = getattr(spec, "returns_doc", "")
    if returns:
        lines += ["", "Returns", "-------", returns]
    lines += ["", "Notes", "-----", f"Matches {spec.matches}."]
    if spec.notes:
        lines += ["", spec.notes]
    refs = getattr(spec, "references", ())
    if refs:
        lines += ["", "References", "----------"]
        lines += [f".. [{i}] {r}" for i, r in enumerate(refs, 1)]
    if spec.example:
        lines += ["", "Examples", "--------", spec.example]
    return "\n".join(lines)
