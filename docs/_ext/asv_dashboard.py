"""Sphinx extension: publish the asv performance history under ``performance/asv/``.

After an HTML build, ``asv publish`` turns the results stored in ``asv_results/`` (written by
``tools/asv_history.py``) into the dashboard at ``<outdir>/performance/asv/index.html``,
which docs/performance.md links to. With no stored results there is nothing to publish and
the build says so; a failing ``asv publish`` is a build warning (an error with ``-W``).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

try:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
except ImportError:  # called outside a Sphinx build (the test suite without the docs extra)
    import logging

    logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]


def _history_tool():
    spec = importlib.util.spec_from_file_location("asv_history", ROOT / "tools" / "asv_history.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def publish_dashboard(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    results = ROOT / "asv_results"
    if not any(results.glob("*/*-*.json")):
        logger.info("asv dashboard: no results in asv_results/, not published")
        return
    dest = Path(app.outdir) / "performance" / "asv"
    shutil.rmtree(dest, ignore_errors=True)
    try:
        tool = _history_tool()
        tool.publish([sys.executable, "-m", "asv"], tool.write_config(html=str(dest)), str(dest))
    except Exception as exc:  # asv missing, or publish failed: say why
        detail = getattr(exc, "stderr", "") or ""
        logger.warning(f"asv dashboard: not published: {exc} {detail[-2000:]}")
        return
    logger.info(f"asv dashboard: {dest / 'index.html'}")


def setup(app):
    app.connect("build-finished", publish_dashboard)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
