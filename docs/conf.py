"""Sphinx configuration for the fastloss documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (or ``.ci/docs.sh``,
which also runs the doctest builder). The API reference and the gallery are generated from
the code by ``_ext/fastloss_docs.py`` into ``docs/api/`` and ``docs/gallery/``.
"""

from __future__ import annotations

import doctest
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# this checkout's fastloss first, whatever is installed
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import fastloss  # noqa: E402

project = "fastloss"
author = "the fastloss developers"
copyright = "the fastloss developers"  # noqa: A001
release = fastloss.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "fastloss_docs",
    "asv_dashboard",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README_proposal.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_typehints = "none"
default_role = "literal"

# doctest: the API pages carry every spec's example, the prose pages use {doctest} blocks
doctest_global_setup = "import numpy as np\nimport fastloss"
doctest_test_doctest_blocks = "default"
doctest_default_flags = (
    doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL | doctest.DONT_ACCEPT_TRUE_FOR_1
    | doctest.NORMALIZE_WHITESPACE
)

# MathJax: the CDN by default; FASTLOSS_DOCS_MATHJAX points at a local copy for offline reading
# (for example Debian's libjs-mathjax: file:///usr/share/javascript/mathjax/MathJax.js)
_mathjax = os.environ.get("FASTLOSS_DOCS_MATHJAX")
if _mathjax:
    mathjax_path = _mathjax
    if "MathJax.js" in _mathjax:  # MathJax 2: its own way to skip MyST's mathjax_ignore
        if "?config=" not in _mathjax:
            mathjax_path = _mathjax + "?config=TeX-AMS-MML_HTMLorMML"
        myst_update_mathjax = False
        mathjax2_config = {"tex2jax": {
            "processClass": "tex2jax_process|mathjax_process|math|output_area",
            "ignoreClass": "tex2jax_ignore|mathjax_ignore",
        }}

html_theme = "pydata_sphinx_theme"
html_title = f"fastloss {release}"
html_static_path = ["_static"]
html_css_files = ["fastloss.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 11,
    "navbar_persistent": ["search-button"],  # an icon: the page links fit on one line
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# top-level pages have no sub-pages: no empty "Section Navigation" column, wider tables
html_sidebars = {"*": []}
html_show_sourcelink = False
# one TOC entry per loss (its section), not a second one for its py:function
toc_object_entries = False
