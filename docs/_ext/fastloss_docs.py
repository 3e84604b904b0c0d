"""Sphinx extension: generated pages and fastloss's directives.

When the builder starts, :func:`fastloss_apigen.generate` writes the API reference and the
gallery from the code (see that module). This module adds three directives:

``fastloss-toctree``
    a ``toctree`` that silently drops entries whose document does not exist (pages that
    other branches add: performance, integrations, the gallery);
``fastloss-conventions``
    a table of each registered loss against other libraries (``:columns: torch, sklearn``;
    the columns are those of ``conventions_data.py``);
``fastloss-costs``
    the relative cost of each pointwise loss and the size from which ``"auto"`` goes
    parallel.

The role ``doc-if`` links to a page when it exists and is plain text otherwise. The build
also checks every loss docstring with numpydoc: a malformed one is a build warning (an
error with ``-W``).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from fastloss_apigen import family_order, generate, rst_text, target_domain_rows
from sphinx.directives.other import TocTree
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def _on_builder_inited(app) -> None:
    generate(Path(app.srcdir))
    _check_docstrings()


def _check_docstrings() -> None:
    """Every loss docstring (what ``help()`` shows) must be valid numpydoc."""
    from numpydoc.docscrape import NumpyDocString

    import fastloss

    for name, spec in fastloss.REGISTRY.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                NumpyDocString(spec.docstring())
            except Exception as exc:  # numpydoc raises on some malformed sections
                logger.warning(f"fastloss.{name}: docstring is not valid numpydoc: {exc}")
        for w in caught:
            logger.warning(f"fastloss.{name}: docstring: {w.message}")


# ---------------------------------------------------------------------------
# directives


class OptionalTocTree(TocTree):
    """A toctree whose entries that are not documents of this build are dropped.

    Which entries existed is remembered per document, so that a document is read again
    when one of its optional pages appears or goes (see :func:`_outdated_optional`)."""

    def run(self):
        found = self.env.found_docs
        base = os.path.dirname(self.env.docname)
        kept, seen = [], {}
        for line in self.content:
            entry = line.strip()
            m = re.match(r"^(.*?)\s*<(.+)>$", entry)
            target = m.group(2) if m else entry
            docname = os.path.normpath(os.path.join(base, target)).replace(os.sep, "/")
            if entry and not target.startswith(("http:", "https:")):
                seen[docname] = docname in found
            if not entry or docname in found or target.startswith(("http:", "https:")):
                kept.append(line)
        record = _optional_record(self.env)
        record.setdefault(self.env.docname, {}).update(seen)
        self.content = StringList(kept, self.content.parent)
        return super().run()


def _optional_record(env) -> dict:
    if not hasattr(env, "fastloss_optional_toc"):
        env.fastloss_optional_toc = {}
    return env.fastloss_optional_toc


def _outdated_optional(app, env, added, changed, removed):
    """Documents whose optional toctree entries appeared or went since they were read."""
    stale = []
    for docname, seen in _optional_record(env).items():
        if any((target in env.found_docs) != there for target, there in seen.items()):
            stale.append(docname)
    return stale


def _purge_optional(app, env, docname):
    _optional_record(env).pop(docname, None)


def _merge_optional(app, env, docnames, other):
    record = _optional_record(env)
    for docname, seen in _optional_record(other).items():
        if docname in docnames:
            record[docname] = seen


def _rst_to_nodes(directive: SphinxDirective, lines: list[str]):
    container = nodes.container()
    directive.state.nested_parse(StringList(lines, source="<fastloss_docs>"), 0, container)
    return container.children


class ConventionsTable(SphinxDirective):
    """The conventions of every registered loss against other libraries.

    ``:columns:`` names the columns (keys of ``conventions_data.COLUMNS``), comma-separated.
    Rows are the registered losses, in family order; with ``:only-known:`` only the losses
    that have an entry in one of those columns.
    """

    option_spec = {"columns": directives.unchanged_required, "only-known": directives.flag}

    def run(self):
        from conventions_data import COLUMNS, CONVENTIONS

        import fastloss

        keys = [k.strip() for k in self.options["columns"].split(",") if k.strip()]
        unknown = [k for k in keys if k not in COLUMNS]
        if unknown:
            raise self.error(f"unknown column(s) {unknown}; known: {sorted(COLUMNS)}")
        reg = fastloss.REGISTRY
        rows = []
        for f in family_order(reg):
            for s in reg.values():
                if s.family != f:
                    continue
                data = CONVENTIONS.get(s.name, {})
                if "only-known" in self.options and not any(data.get(k) for k in keys):
                    continue
                cells = []
                for key in keys:
                    cell = data.get(key)
                    if cell is None and key == "torch" and "torch" in s.matches:
                        cell = rst_text(s.matches)
                    cells.append(cell or "--")
                rows.append((s, cells))
        lines = [".. list-table::", "   :header-rows: 1", "   :class: fastloss-conventions", "",
                 "   * - fastloss"] + [f"     - {COLUMNS[k]}" for k in keys]
        for s, cells in rows:
            lines.append(f"   * - :ref:`{s.name} <loss-{s.name}>`")
            lines += [f"     - {c}" for c in cells]
        return list(_rst_to_nodes(self, lines))


class TargetDomainsTable(SphinxDirective):
    """The values each loss's ``y_true`` may hold, from the registry."""

    def run(self):
        import fastloss

        lines = [".. list-table::", "   :header-rows: 1", "",
                 "   * - loss", "     - ``y_true`` may hold"]
        for name, dom in target_domain_rows(fastloss.REGISTRY):
            lines += [f"   * - :ref:`{name} <loss-{name}>`", f"     - {dom}"]
        return list(_rst_to_nodes(self, lines))


class CostsTable(SphinxDirective):
    """Each pointwise and terms loss's relative cost and the sizes from which "auto" runs
    parallel (with a gradient; for the value alone)."""

    def run(self):
        import fastloss
        from fastloss._backend import parallel_threshold

        lines = [".. list-table::", "   :header-rows: 1", "",
                 "   * - loss", "     - relative cost", "     - ``auto`` goes parallel from",
                 "     - for the value alone"]
        for s in fastloss.REGISTRY.values():
            cost = getattr(s, "cost", None)
            if s.kind not in ("pointwise", "terms") or cost is None:
                continue
            n, nv = (math.ceil(parallel_threshold(cost, v) / cost) for v in (False, True))
            lines += [f"   * - :ref:`{s.name} <loss-{s.name}>`", f"     - {cost:g}",
                      f"     - {n:,} elements", f"     - {nv:,} elements"]
        return list(_rst_to_nodes(self, lines))


def doc_if_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``:doc-if:`title <page>``` links to ``page`` when this build has it, else is plain
    text (for pages other branches add)."""
    from sphinx import addnodes

    env = inliner.document.settings.env
    m = re.match(r"^(.*?)\s*<(.+)>$", text)
    title, target = (m.group(1), m.group(2)) if m else (text, text)
    base = os.path.dirname(env.docname)
    docname = os.path.normpath(os.path.join(base, target)).replace(os.sep, "/")
    if docname not in env.found_docs:
        return [nodes.inline(rawtext, title)], []
    ref = addnodes.pending_xref(rawtext, refdomain="std", reftype="doc", reftarget=target,
                                refexplicit=True, refwarn=True, refdoc=env.docname)
    ref += nodes.inline(title, title, classes=["xref", "std", "std-doc"])
    return [ref], []


def setup(app):
    app.add_role("doc-if", doc_if_role)
    app.connect("builder-inited", _on_builder_inited)
    app.add_directive("fastloss-toctree", OptionalTocTree)
    app.connect("env-get-outdated", _outdated_optional)
    app.connect("env-purge-doc", _purge_optional)
    app.connect("env-merge-info", _merge_optional)
    app.add_directive("fastloss-conventions", ConventionsTable)
    app.add_directive("fastloss-costs", CostsTable)
    app.add_directive("fastloss-target-domains", TargetDomainsTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
