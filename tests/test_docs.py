"""The documentation's examples run, and the API reference covers the whole registry.

* every ``spec.example`` is run as a doctest (the same text ``help()`` and the API pages show);
* every ``{doctest}`` block of the prose pages (docs/*.md) is run, one namespace per page,
  as Sphinx's doctest builder runs them;
* every docstring built by ``spec.docstring()`` documents every input and parameter, with
  the parameter's domain;
* the generator of docs/api/ (docs/_ext/fastloss_apigen.py) writes a section for every
  registered loss with its formulas, parameter domains, convention and example, and the
  points of its plot are valid inputs.

Nothing here needs Sphinx. The full build (warnings as errors; it also checks every
docstring with numpydoc and draws the plots) is ``.ci/docs.sh``.
"""

from __future__ import annotations

import doctest
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastloss

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import fastloss_apigen as apigen  # noqa: E402

WITH_EXAMPLE = [n for n, s in fastloss.REGISTRY.items() if s.example]
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _run_doctest(text: str, name: str, globs: dict | None = None) -> doctest.TestResults:
    parser = doctest.DocTestParser()
    globs = {"np": np, "fastloss": fastloss} if globs is None else globs
    test = parser.get_doctest(text, globs, name, name, 0)
    assert test.examples, f"{name}: no examples found"
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
    return runner.summarize(verbose=False)


def test_most_losses_have_an_example():
    # not every loss must (the API page shows one when present), but the registry has some
    assert len(WITH_EXAMPLE) >= len(fastloss.REGISTRY) // 2, WITH_EXAMPLE


@pytest.mark.parametrize("name", WITH_EXAMPLE)
def test_spec_example_runs(name):
    spec = fastloss.REGISTRY[name]
    assert f"fastloss.{name}" in spec.example, "the example should call the loss itself"
    _run_doctest(spec.example, f"{name}.example")


def _doctest_blocks(md: Path) -> list[str]:
    return re.findall(r"```\{doctest\}\n(.*?)```", md.read_text(encoding="utf-8"), re.S)


PAGES = sorted(p for p in DOCS.glob("*.md") if _doctest_blocks(p))


def test_the_prose_pages_have_doctests():
    names = {p.stem for p in PAGES}
    assert {"index", "quickstart", "backends"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_doctests_run(page):
    try:
        # from an empty namespace: a page's examples import what they use, so that they
        # run when copied
        _run_doctest("\n".join(_doctest_blocks(page)), page.stem, globs={})
    finally:
        fastloss.set_backend(None)


@pytest.mark.parametrize("name", list(fastloss.REGISTRY))
def test_docstring_documents_inputs_and_parameters(name):
    spec = fastloss.REGISTRY[name]
    loss = getattr(fastloss, name)
    doc = spec.docstring()
    assert loss.__doc__ == doc
    params = {p.name: p for p in apigen.parse_parameters(doc)}
    for arg in (*spec.inputs, *(p.name for p in spec.params)):
        assert arg in params, f"{name}: {arg} missing from the docstring's Parameters"
    for p in spec.params:
        assert p.domain in " ".join(params[p.name].desc), f"{name}: no domain for {p.name}"
    assert f"    {spec.formula}" in doc.splitlines()


def test_parse_parameters():
    doc = "S.\n\nParameters\n----------\na : int\n    One.\n\n    Two.\nb : float\n    B.\n\n" \
          "Notes\n-----\nx : y\n"
    got = apigen.parse_parameters(doc)
    assert got == [apigen.DocParam("a", "int", ["One.", "Two."]),
                   apigen.DocParam("b", "float", ["B."])]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    apigen.generate(out, plots=False)  # the plots: test_plot_of_a_loss
    return out


def test_generator_writes_one_page_per_family(generated):
    families = {s.family for s in fastloss.REGISTRY.values()}
    pages = {p.stem for p in (generated / "api").glob("*.rst")}
    assert pages == families | {"index"}
    index = (generated / "api" / "index.rst").read_text()
    for fam in families:
        assert f"\n   {fam}\n" in index  # in the toctree


@pytest.mark.parametrize("name", list(fastloss.REGISTRY))
def test_generated_section_of_each_loss(generated, name):
    spec = fastloss.REGISTRY[name]
    page = (generated / "api" / f"{spec.family}.rst").read_text()
    assert f".. _loss-{name}:" in page
    assert f".. py:function:: {name}(" in page
    section = page.split(f".. _loss-{name}:", 1)[1].split("\n.. _loss-", 1)[0]
    assert spec.formula in section
    if spec.grad_formula:
        assert spec.grad_formula in section
    if spec.hess_formula:
        assert spec.hess_formula in section
    assert apigen.rst_text(spec.matches) in section
    for p in spec.params:
        assert f":param {p.name}:" in section
        assert f"domain: **{apigen.rst_text(p.domain)}**" in section
        assert f"{p.name}={p.default!r}" in section  # in the signature
    if spec.example:
        assert textwrap.indent(spec.example.strip(), "   ") in section  # in the directive
    index = (generated / "api" / "index.rst").read_text()
    assert f":ref:`{name} <loss-{name}>`" in index


def test_signature_spells_out_the_parameters():
    sig = apigen.call_signature(fastloss.REGISTRY["huber"], fastloss.huber)
    assert sig.startswith("(y_true, y_pred, *, delta=1.0, reduction='mean'")
    assert "**" not in sig


def test_rst_text_escapes_outside_literals_only():
    assert apigen.rst_text("|d| and ``|d|``") == "\\|d\\| and ``|d|``"
    assert apigen.rst_text("a*b :math:`x*y`") == "a\\*b :math:`x*y`"
    assert apigen.rst_text("see log_ here") == "see log\\_ here"


def test_gallery_lists_every_example_script(generated):
    scripts = sorted((ROOT / "examples").glob("*.py"))
    scripts = [p for p in scripts if not p.name.startswith("_")]
    gallery = generated / "gallery"
    if not scripts:
        assert not gallery.exists()
        return
    index = (gallery / "index.rst").read_text()
    for p in scripts:
        assert f"\n   {p.stem}\n" in index
        page = (gallery / f"{p.stem}.rst").read_text()
        assert f"literalinclude:: ../../examples/{p.name}" in page


PLOTTABLE = [n for n, s in fastloss.REGISTRY.items()
             if apigen.plottable(s, getattr(fastloss, n))]


@pytest.mark.parametrize("name", PLOTTABLE)
def test_plot_points_are_valid_inputs(name):
    spec = fastloss.REGISTRY[name]
    y0, grid, params = apigen.plot_points(spec, n=9, loss=getattr(fastloss, name))
    assert grid[0] < grid[-1]
    loss = getattr(fastloss, name)
    values = loss(np.full_like(grid, y0), grid, reduction="none", **params)
    assert np.all(np.isfinite(values)), (name, y0, grid)


def test_family_page_shows_a_plot_when_drawn():
    page = apigen.render_family("regression", [fastloss.REGISTRY["huber"]],
                                {"huber": fastloss.huber}, {"huber"})
    assert ".. figure:: plots/huber.svg" in page
    page = apigen.render_family("regression", [fastloss.REGISTRY["huber"]],
                                {"huber": fastloss.huber}, set())
    assert ".. figure::" not in page


def test_signature_of_a_loss_of_several_arrays():
    from fastloss._spec import LossSpec, Param

    spec = LossSpec(name="fake", family="f", summary="S.", formula="x", matches="m",
                    kind="fake", inputs=("a", "b"), params=(Param("k", 1.0, "> 0"),))

    class Fake:
        def __call__(self, *arrays, reduction=None, backend=None, **kw):
            pass

    # the docstring of kind "fake" has no common options: reduction keeps its None
    assert apigen.call_signature(spec, Fake()) == "(a, b, *, k=1.0, reduction=None, backend=None)"
