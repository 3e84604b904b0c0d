"""The API reference and the gallery, generated from the code (no Sphinx needed here).

Nothing here is a hand-kept list of losses. :func:`generate` imports ``fastloss`` and writes

* ``docs/api/index.rst``: the catalogue (every loss of :data:`fastloss.REGISTRY`, grouped by
  ``spec.family``), the loss object, the common options, and the other public names of
  ``fastloss.__all__``;
* ``docs/api/<family>.rst``: one page per family, one section per loss: formula, gradient
  and Hessian in LaTeX, parameters with their domains, the convention it matches, the calls
  it supports, notes, the doctested example, and for pointwise losses a plot of one
  element's value, gradient and Hessian drawn by the loss's own kernels
  (``docs/api/plots/``);
* ``docs/gallery/``: one page per ``examples/*.py`` script (only when there are some).

Both folders are ignored by git. Files are rewritten only when their text changes (plots
only when their maths changes), so a second builder reuses the environment of the first.
``fastloss_docs.py`` (the Sphinx extension) calls :func:`generate` when a build starts;
``tests/test_docs.py`` checks its output.
"""


from __future__ import annotations

import ast
import inspect
import re
import shutil
import textwrap
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
ROOT = DOCS.parent

FAMILY_TITLES = {
    "regression": "Regression",
    "classification": "Classification",
    "adversarial": "Adversarial (GAN)",
    "contrastive": "Contrastive and self-supervised",
    "penalties": "Sparsity and regularisation",
    "linear": "Fused linear + cross-entropy",
}

FAMILY_INTROS = {
    "regression": (
        "Called as ``loss(y_true, y_pred)`` (scikit-learn order). Each element contributes "
        ":math:`\\ell_i` with :math:`d_i = \\hat y_i - y_i`; ``reduction='mean'`` returns "
        ":math:`\\sum_i w_i \\ell_i / \\sum_i w_i`."
    ),
    "classification": (
        "Called as ``loss(y_true, y_pred)`` or ``loss(y_true, logits)``: labels or "
        "probabilities first, then probabilities or raw scores."
    ),
    "adversarial": (
        "Losses on discriminator logits. :math:`r` are the logits of real samples, "
        ":math:`f` those of generated ones, :math:`E` the mean and :math:`\\mathrm{sp}` "
        "softplus; ``grad`` returns one gradient per logit array."
    ),
    "contrastive": (
        "Losses on embeddings of shape ``(N, d)``; ``grad`` returns a tuple with one "
        "gradient per embedding input, in argument order."
    ),
    "penalties": "Penalties on a weight array ``w``, with their gradients (and proximal maps).",
    "linear": (
        "The output layer of a classifier with a large vocabulary and its cross-entropy in "
        "one call: ``linear_cross_entropy(y_true, hidden, weight, bias)`` with ``hidden`` "
        "(N, d), ``weight`` (V, d), ``bias`` (V,). The logits "
        ":math:`x_i = W h_i + b` are computed ``chunk_size`` rows at a time and never stored "
        "whole. With ``softcap`` :math:`\\kappa` they are first capped, "
        ":math:`z_{ic} = \\kappa \\tanh(x_{ic}/\\kappa)` (Gemma 2), otherwise "
        ":math:`z = x`. With ``z_loss`` :math:`\\lambda_z`, each row not ignored adds "
        ":math:`\\lambda_z \\operatorname{lse}(z_i)^2`, "
        ":math:`\\operatorname{lse}(z_i) = \\log\\sum_c e^{z_{ic}}` (PaLM), whose "
        "gradient is :math:`2\\lambda_z \\operatorname{lse}(z_i)\\,"
        "\\operatorname{softmax}(z_i)`; the soft cap multiplies the gradient with respect "
        "to :math:`z` by :math:`1 - z_{ic}^2/\\kappa^2`. ``grad`` returns "
        "``(grad_hidden, grad_weight)``, and ``grad_bias`` third when a bias is given."
    ),
}


# ---------------------------------------------------------------------------
# helpers


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps Sphinx's environment fresh)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.write_text(text, encoding="utf-8")


def _indent(text: str, n: int = 3) -> str:
    return textwrap.indent(text, " " * n, lambda line: line.strip() != "")


_LITERAL = re.compile(r"(``.+?``|:\w+:`[^`]*`|`[^`]+`)")


def rst_text(text: str) -> str:
    """Spec text (written for ``help()``) made safe for reST: outside ``literals`` and roles,
    ``|`` and ``*`` are escaped (``|d|`` would be a substitution, ``*`` emphasis) and a word
    ending in ``_`` is not a link."""
    parts = _LITERAL.split(text)
    for i in range(0, len(parts), 2):
        t = parts[i].replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
        parts[i] = re.sub(r"(\w)_(?=\W|$)", r"\1\\_", t)
    return "".join(parts)


def _title(text: str, ch: str, over: bool = False) -> str:
    bar = ch * max(len(text), 3)
    return f"{bar}\n{text}\n{bar}\n" if over else f"{text}\n{bar}\n"


def family_order(registry) -> list[str]:
    """Families in the order the package declares them, then any others."""
    try:
        from fastloss.losses import FAMILIES
    except Exception:  # pragma: no cover - an older layout
        FAMILIES = ()
    seen = [s.family for s in registry.values()]
    order = [f for f in FAMILIES if f in seen]
    order += sorted({f for f in seen if f not in order})
    return order


def family_title(family: str) -> str:
    return FAMILY_TITLES.get(family, family.replace("_", " ").capitalize())


class DocParam(NamedTuple):
    name: str
    type: str
    desc: list


def parse_parameters(doc: str) -> list[DocParam]:
    """The ``Parameters`` section of a numpydoc docstring (the layout ``LossSpec.docstring``
    writes: ``name : type`` lines, descriptions indented below), what ``help()`` shows.
    The Sphinx build also checks the whole docstring with numpydoc itself."""
    lines = doc.expandtabs().splitlines()
    out: list[DocParam] = []
    for i in range(len(lines) - 1):
        if lines[i].strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}:
            j = i + 2
            break
    else:
        return out
    while j < len(lines):
        line = lines[j]
        if not line.strip():
            # a blank line ends the section unless an indented description follows
            if j + 1 < len(lines) and lines[j + 1].startswith(" "):
                j += 1
                continue
            break
        if j + 1 < len(lines) and set(lines[j + 1].strip()) == {"-"}:
            break  # the next section's title
        if line.startswith(" "):
            if out:
                out[-1].desc.append(line.strip())
        else:
            name, _, typ = line.partition(":")
            out.append(DocParam(name.strip(), typ.strip(), []))
        j += 1
    return out


def _parsed_parameters(spec) -> list[DocParam]:
    return parse_parameters(spec.docstring())


def call_signature(spec, loss, method: str = "__call__") -> str | None:
    """The signature of ``loss.<method>`` as a user writes the call: ``*arrays`` spelt out as
    ``spec.inputs``, ``**params`` as ``spec.params`` (first among the keywords: they are what
    the loss is about), and a ``None`` default that the docstring documents as ``default X``
    shown as ``X``."""
    fn = getattr(type(loss), method, None)
    if fn is None:
        return None
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    documented = {p.name: p.type for p in parse_parameters(spec.docstring())}

    def shown(p):
        if p.default is p.empty:
            return p.name
        default = repr(p.default)
        m = re.search(r"default\s+(\S.*?)\s*$", documented.get(p.name, ""))
        if p.default is None and m:
            default = m.group(1)
        return f"{p.name}={default}"

    positional, keywords, has_var_kw = [], [], False
    for p in list(sig.parameters.values())[1:]:  # drop self
        if p.kind is p.VAR_KEYWORD:
            has_var_kw = True
        elif p.kind is p.VAR_POSITIONAL:
            positional += list(spec.inputs)
        elif p.kind is p.KEYWORD_ONLY:
            keywords.append(shown(p))
        else:
            positional.append(shown(p))
    if has_var_kw:
        names = {k.split("=")[0] for k in keywords}
        keywords = [f"{q.name}={q.default!r}" for q in spec.params
                    if q.name not in names] + keywords
    parts = list(positional)
    if keywords:
        parts.append("*")
        parts += keywords
    return "(" + ", ".join(parts) + ")"


def _signature_with_params_first(spec, loss) -> str:
    sig = call_signature(spec, loss)
    if sig is None:
        args = ", ".join(spec.inputs)
        kws = ", ".join(f"{p.name}={p.default!r}" for p in spec.params)
        return f"({args}, *, {kws}, **options)" if kws else f"({args}, **options)"
    return sig


def _has_grad_hess(spec, loss) -> bool:
    from fastloss import Loss

    return bool(getattr(spec, "has_hess", False)) and type(loss).grad_hess is not Loss.grad_hess


# ---------------------------------------------------------------------------
# plots: each pointwise loss drawn by its own kernels


def plot_points(spec, n: int = 401, loss=None):
    """``(y_true, y_pred grid, params)`` for a plot: ``y_true`` the median target of the
    spec's sampler (rounded when the loss accepts the rounded value) and ``y_pred``
    spanning its sampled predictions (so inside every domain)."""
    rng = np.random.default_rng(0)
    (y, p), params = spec.sample(rng, (4000,), np.float64)
    y0 = float(np.sort(y)[len(y) // 2])
    lo, hi = np.quantile(p, [0.005, 0.995])
    grid = np.linspace(lo, hi, n)
    nice = round(y0, 1) + 0.0  # a readable target (and no -0.0), when it is a valid one
    if nice != y0 and loss is not None:
        try:
            loss(np.full(2, nice), grid[:2], reduction="none", **params)
        except ValueError:
            nice = y0
    return nice, grid, params


def _plot_key(spec) -> str:
    """What a plot depends on: the scalar maths, the sampler, the parameters."""
    import hashlib

    from fastloss._kernels.compile import source_hash

    fns = [f for f in (getattr(spec, "scalar", None), spec.sample) if f is not None]
    text = repr((spec.name, spec.params, source_hash(*fns), _PLOT_STYLE))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


_PLOT_STYLE = 4  # bump when plot_loss draws differently


def plot_loss(spec, loss, path: Path) -> None:
    """An SVG of the value and the derivatives of one element against the prediction
    (redrawn only when :func:`_plot_key` changes)."""
    key = _plot_key(spec)
    stamp = path.with_suffix(".key")
    if path.exists() and stamp.exists() and stamp.read_text() == key:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y0, grid, params = plot_points(spec, loss=loss)
    yt = np.full_like(grid, y0)
    value = loss(yt, grid, reduction="none", **params)
    g, h = loss.grad_hess(yt, grid, reduction="sum", **params)
    with plt.rc_context({"svg.hashsalt": "fastloss", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(6.0, 2.6), layout="constrained")
        ax.plot(grid, value, label=r"$\ell$", color="#1f5fa8", lw=2)
        ax.plot(grid, g, label=r"$\partial\ell/\partial\hat y$", color="#d9731a", lw=1.5)
        ax.plot(grid, h, label=r"$\partial^2\ell/\partial\hat y^2$", color="#3a9a4a",
                lw=1.2, ls="--")
        ax.axhline(0.0, color="0.6", lw=0.6)
        # scale to the value and the gradient: a Hessian that blows up near a domain edge
        # (binary_cross_entropy at 0 and 1) runs off the top instead of flattening the rest
        both = np.concatenate([np.asarray(value, float), np.asarray(g, float)])
        both = both[np.isfinite(both)]
        if both.size:
            lo, hi = min(both.min(), 0.0), max(both.max(), 0.0)
            pad = 0.08 * (hi - lo or 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(rf"$\hat y$ (prediction), $y = {y0:g}$")
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        ax.set_title(f"{spec.name}({shown})" if shown else spec.name, loc="left")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        ax.grid(alpha=0.25)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.svg")
        fig.savefig(tmp, format="svg", metadata={"Date": None})
        plt.close(fig)
    if path.exists() and path.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        tmp.replace(path)
    stamp.write_text(key)


def plottable(spec, loss) -> bool:
    return spec.kind == "pointwise" and spec.sample is not None and _has_grad_hess(spec, loss)


# ---------------------------------------------------------------------------
# one loss


def render_loss(spec, loss, plot: str | None = None) -> str:
    """The reST section of one loss (used by the family page and by tests); ``plot`` is the
    path of its figure relative to the page."""
    out = [f".. _loss-{spec.name}:", "", _title(spec.name, "="), ""]
    sig = _signature_with_params_first(spec, loss)
    out += [f".. py:function:: {spec.name}{sig}", "", _indent(rst_text(spec.summary)), ""]

    body: list[str] = []
    body += [".. math::", "", _indent(spec.formula, 3), ""]
    if spec.grad_formula:
        wrt = " with respect to the prediction" if spec.kind == "pointwise" else ""
        body += [f"**Gradient**{wrt}:", "", ".. math::", "", _indent(spec.grad_formula, 3), ""]
    if spec.hess_formula:
        body += ["**Hessian** (its diagonal, as ``grad_hess`` returns it):", "", ".. math::",
                 "", _indent(spec.hess_formula, 3), ""]
    body += [f"**Matches** {rst_text(spec.matches)}.", ""]
    if plot:
        body += [f".. figure:: {plot}", f"   :alt: {spec.name}, its gradient and Hessian",
                 "   :width: 100%", "",
                 "   One element's value, gradient and Hessian against the prediction, "
                 "computed by fastloss.", ""]

    # parameters, from the parsed docstring (the text help() shows) plus each domain
    params = {p.name: p for p in spec.params}
    for p in _parsed_parameters(spec):
        desc = rst_text(" ".join(p.desc).strip())
        if p.name in params:
            prm = params[p.name]
            desc = re.sub(r"\s*Domain: .*?\.$", "", desc)
            dom = rst_text(prm.domain)
            desc = f"{desc} Default ``{prm.default!r}``; domain: **{dom}**.".strip()
            typ = prm.kind
        else:
            typ = p.type
        body += [f":param {p.name}: {desc}", f":type {p.name}: {typ}"]
    body += [""]

    calls = [f"``fastloss.{spec.name}(...)``: the value",
             f"``fastloss.{spec.name}.grad(...)``: the gradient",
             f"``fastloss.{spec.name}.value_and_grad(...)``: both, in one pass"]
    if _has_grad_hess(spec, loss):
        calls.append(f"``fastloss.{spec.name}.grad_hess(...)``: gradient and diagonal Hessian")
    else:
        calls.append(f"``fastloss.{spec.name}.grad_hess`` raises ``NotImplementedError``")
    body += ["**Calls** (see :ref:`api-loss-object`):", ""] + [f"* {c}" for c in calls] + [""]

    if spec.notes:
        body += ["**Notes.** " + rst_text(spec.notes), ""]
    if spec.example:
        body += ["**Example**", "", spec.example.strip(), ""]
    out += [_indent("\n".join(body)), ""]
    return "\n".join(out)


def render_family(family: str, specs: list, losses: dict, plots: set | None = None) -> str:
    title = family_title(family)
    out = [f".. _family-{family}:", "", _title(f"{title} losses", "=", over=True), "",
           ".. py:currentmodule:: fastloss", ""]
    intro = FAMILY_INTROS.get(family)
    if intro is None:
        intro = _module_intro(family)
    if intro:
        out += [intro, ""]
    out += [".. list-table::", "   :header-rows: 1", "   :widths: 20 55 25", "",
            "   * - loss", "     - summary", "     - ``grad_hess``"]
    for s in specs:
        hh = "yes" if _has_grad_hess(s, losses[s.name]) else "no"
        out += [f"   * - :ref:`{s.name} <loss-{s.name}>`", f"     - {rst_text(s.summary)}",
                f"     - {hh}"]
    out += [""]
    for s in specs:
        plot = f"plots/{s.name}.svg" if plots and s.name in plots else None
        out += [render_loss(s, losses[s.name], plot), ""]
    return "\n".join(out)


def _module_intro(family: str) -> str:
    try:
        import importlib

        mod = importlib.import_module(f"fastloss.losses.{family}")
    except Exception:
        return ""
    doc = (mod.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


# ---------------------------------------------------------------------------
# the API index


_LOSS_OBJECT = """\
.. _api-loss-object:

The loss object
===============

Every loss ``L`` (``fastloss.huber``, ``fastloss.cross_entropy``, ...) is one object with
these calls; its parameters (``delta``, ``quantile``, ...) are keyword arguments of each call.

.. list-table::
   :header-rows: 1
   :widths: 45 55

   * - call
     - returns
   * - ``L(y_true, y_pred, **opts)``
     - the loss value: a Python ``float`` for ``reduction="mean"``/``"sum"``, an ndarray for
       ``"none"`` or ``axis=-1``
   * - ``L.grad(y_true, y_pred, **opts, out=None)``
     - the gradient of that value with respect to ``y_pred``, shaped like ``y_pred``; a tuple
       of gradients (in argument order) for losses of several differentiable inputs
   * - ``L.value_and_grad(y_true, y_pred, **opts, out=None)``
     - ``(value, grad)`` computed in one pass over the data
   * - ``L.grad_hess(y_true, y_pred, **opts)``
     - ``(grad, hess)``: the gradient and the diagonal of the Hessian of the same reduced
       value (with ``"mean"`` both carry the ``w_i / sum(w)`` factor); losses without it
       raise ``NotImplementedError``

``help(fastloss.huber)`` shows the same formula, parameters and convention as this page.

Common options
--------------

``reduction``
    ``"mean"`` (default): :math:`\\sum_i w_i \\ell_i / \\sum_i w_i`; ``"sum"``:
    :math:`\\sum_i w_i \\ell_i`; ``"none"``: the array :math:`w_i \\ell_i`. Empty input:
    ``"mean"`` raises ``ValueError``, ``"sum"`` gives ``0.0``, ``"none"`` an empty array.
``sample_weight``
    One non-negative finite weight per sample (for ``axis=-1``, one per element of the last
    axis).
``axis`` (pointwise losses)
    ``None`` reduces over every element; ``-1`` reduces over the last axis only: ``y_pred``
    of shape ``(B, n)`` against ``y_true`` of shape ``(n,)`` or ``(B, n)`` gives ``B``
    losses in one call (:ref:`batch evaluation <gpu-batch>`).
``out``
    A C-contiguous array of ``y_pred``'s shape and dtype to write the gradient into; it may
    be ``y_pred`` itself.
``backend``
    ``None`` (the current setting), ``"auto"``, ``"serial"``, ``"parallel"`` or ``"cuda"``;
    see :doc:`../backends`.
"""


def render_index(registry, losses, other_names) -> str:
    order = family_order(registry)
    out = [".. _api:", "", _title("API reference", "=", over=True), "",
           "Generated from :data:`fastloss.REGISTRY` when the documentation is built: every "
           "registered loss appears here, grouped by family, with the formula, gradient and "
           "Hessian it computes, its parameters and their domains, the library convention it "
           "matches and a tested example.", "",
           ".. toctree::", "   :maxdepth: 1", ""]
    out += [f"   {f}" for f in order]
    out += ["", "Catalogue", "=========", "",
            f"{len(registry)} losses in {len(order)} "
            f"famil{'y' if len(order) == 1 else 'ies'}.", "",
            ".. list-table::", "   :header-rows: 1", "   :widths: 18 14 38 30", "",
            "   * - loss", "     - family", "     - summary", "     - matches"]
    for f in order:
        for s in registry.values():
            if s.family != f:
                continue
            out += [f"   * - :ref:`{s.name} <loss-{s.name}>`",
                    f"     - :ref:`{f} <family-{f}>`",
                    f"     - {rst_text(s.summary)}",
                    f"     - {rst_text(s.matches)}"]
    out += ["", _LOSS_OBJECT, "", "Functions and classes", "=====================", "",
            ".. py:currentmodule:: fastloss", ""]
    out += _render_other_names(other_names)
    return "\n".join(out)


def _render_other_names(names) -> list[str]:
    import fastloss

    out: list[str] = []
    for name in names:
        obj = getattr(fastloss, name)
        if inspect.isclass(obj):
            out += [f".. autoclass:: fastloss.{name}", "   :no-members:", ""]
        elif callable(obj):
            out += [f".. autofunction:: fastloss.{name}", ""]
        elif name == "REGISTRY":
            out += [".. py:data:: REGISTRY", "",
                    "   ``dict``: loss name -> its spec (``LossSpec``), the single source from "
                    "which the loss objects, their docstrings, the tests, the benchmarks and "
                    "these pages are built.", ""]
        elif name == "LOSSES":
            out += [".. py:data:: LOSSES", "",
                    "   ``tuple`` of the registered loss names, in registration order.", ""]
        else:
            out += [f".. py:data:: {name}", "", f"   ``{type(obj).__name__}``", ""]
    return out


# ---------------------------------------------------------------------------
# the gallery


def example_scripts() -> list[Path]:
    return sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def _script_doc(path: Path) -> tuple[str, str]:
    """(title, body) from the script's module docstring."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        doc = ""
    lines = doc.strip().splitlines()
    if not lines:
        return path.stem.replace("_", " ").capitalize(), ""
    title = lines[0].strip().rstrip(".")
    body = "\n".join(lines[1:]).strip("\n").rstrip()  # (keeps a first line's indent)
    return title, body


def literal_usage(body: str) -> str:
    """The docstring's indented blocks (``python examples/x.py [--steps 3000]``) as literal
    blocks: as plain text reStructuredText would quote them and typeset ``--`` as a dash,
    which fails when pasted into a shell."""
    out: list[str] = []
    lines = body.splitlines()
    for i, ln in enumerate(lines):
        starts_block = ln.startswith("    ") and (i == 0 or not lines[i - 1].strip())
        if starts_block and not (out and out[-2:-1] and out[-2].rstrip().endswith("::")):
            out += ["::", ""]
        out.append(ln)
    return "\n".join(out)


def render_gallery(scripts: list[Path]) -> dict[str, str]:
    pages = {}
    index = [".. _gallery:", "", _title("Examples gallery", "=", over=True), "",
             "The scripts in ``examples/``, generated into this page when the documentation is "
             "built. Run one from the repository root with ``python examples/<name>.py``.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {p.stem}" for p in scripts]
    index += [""]
    for p in scripts:
        title, body = _script_doc(p)
        page = [f".. _example-{p.stem}:", "", _title(title, "="), ""]
        if body:
            page += [literal_usage(body), ""]
        page += [f"Run it with ``python examples/{p.name}``.", "",
                 f".. literalinclude:: ../../examples/{p.name}",
                 "   :language: python", "   :linenos:", ""]
        pages[p.stem] = "\n".join(page)
    pages["index"] = "\n".join(index)
    return pages


# ---------------------------------------------------------------------------
# generation


def public_names_besides_losses() -> list[str]:
    import fastloss

    return [n for n in fastloss.__all__ if n not in fastloss.REGISTRY]


def generate(docs_dir: Path = DOCS, plots: bool = True) -> list[str]:
    """Write the generated pages under ``docs_dir``; returns the files written or kept."""
    import fastloss

    registry = fastloss.REGISTRY
    losses = {name: getattr(fastloss, name) for name in registry}
    api = docs_dir / "api"
    drawn = set()
    if plots:
        for name, spec in registry.items():
            if plottable(spec, losses[name]):
                plot_loss(spec, losses[name], api / "plots" / f"{name}.svg")
                drawn.add(name)
        if (api / "plots").exists():
            for old in [*(api / "plots").glob("*.svg"), *(api / "plots").glob("*.key")]:
                if old.stem not in drawn:
                    old.unlink()
    wanted = {}
    wanted[api / "index.rst"] = render_index(registry, losses, public_names_besides_losses())
    for f in family_order(registry):
        specs = [s for s in registry.values() if s.family == f]
        wanted[api / f"{f}.rst"] = render_family(f, specs, losses, drawn)

    gallery = docs_dir / "gallery"
    scripts = example_scripts()
    if scripts:
        for stem, text in render_gallery(scripts).items():
            wanted[gallery / f"{stem}.rst"] = text
    elif gallery.exists():
        shutil.rmtree(gallery)

    for folder in (api, gallery):  # drop pages of losses/scripts that no longer exist
        if folder.exists():
            for old in folder.glob("*.rst"):
                if old not in wanted:
                    old.unlink()
    for path, text in wanted.items():
        _write(path, text)
    return [str(p) for p in wanted]


def target_domain_rows(registry) -> list[tuple[str, str]]:
    """``(loss, domain as reST)`` for every registered loss that takes ``y_true``, in the
    order of the API reference."""
    rows = []
    for f in family_order(registry):
        rows += [(s.name, rst_text(s.target_domain)) for s in registry.values()
                 if s.family == f and "y_true" in s.inputs]
    return rows
