"""Every Python code block of the documentation runs as written, and the documented
boosting examples train as well as the libraries' built-in objectives.

* ``docs/*.md`` and ``README.md``: each fenced ``python`` block runs, in order, one namespace
  per page, from an empty namespace (a block copied with the ones above it runs as is).
  Blocks written as a console session (``>>>``) run their statements; their printed output
  depends on the machine (``fastloss.info()``) and is not compared (``{doctest}`` blocks are
  compared, by tests/test_docs.py).
* A block that cannot run here is marked by the line ``<!-- not-run: reason -->`` just above
  it. Such blocks must stay rare, and each reason must say what the block needs (a GPU, a
  running cluster).
* The boosting examples of docs/integrations.md are trained (that page's block) against
  the built-in objective of the same library on the same data: each metric is within 5 %.
"""

from __future__ import annotations

import doctest
import functools
import os
import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastloss

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w{}-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
                   re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")
MAX_NOT_RUN = 6  # GPU-only and cluster-only blocks; anything else must run


def code_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, source, not-run reason or None)`` of each python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        if m.group("lang") not in ("python", "py"):
            continue
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.search(before)
        body = textwrap.dedent(m.group("body"))
        out.append((text[: m.start()].count("\n") + 1, body,
                    reason.group("reason") if reason else None))
    return out


def _source(block: str) -> str:
    """A console-session block's statements; any other block as it is."""
    if not block.lstrip().startswith(">>>"):
        return block
    examples = doctest.DocTestParser().get_examples(block)
    return "".join(e.source for e in examples)


def _one_omp_thread():
    """XGBoost's and LightGBM's OpenMP threads spin-wait between rounds: on a loaded CI
    machine that costs minutes. One thread: the same models, the same metrics."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")


@functools.cache
def run_page(page: Path) -> dict:
    """Run the page's blocks in one fresh namespace (in a scratch folder); the namespace,
    with ``ns["__after__"][line]`` a copy of it right after the block at ``line``."""
    import tempfile

    ns: dict = {"__name__": "__docs__", "__after__": {}}
    registry = dict(fastloss.REGISTRY)
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as ws, \
                _one_omp_thread():
            warnings.simplefilter("always")
            os.chdir(tmp)
            for line, block, reason in code_blocks(page):
                if reason is not None:
                    continue
                code = compile(_source(block), f"{page.name}:{line}", "exec")
                exec(code, ns)  # noqa: S102
                ns["__after__"][line] = {k: v for k, v in ns.items() if k != "__after__"}
        ours = [w for w in ws if "fastloss" in str(w.filename) and "tests" not in w.filename]
        assert not ours, [str(w.message) for w in ours]
    finally:
        os.chdir(cwd)
        fastloss.REGISTRY.clear()  # a page that registers a loss (adding_a_loss) leaves none
        fastloss.REGISTRY.update(registry)
        fastloss.set_backend(None)
    return ns


RUNNABLE = [p for p in PAGES if any(r is None for _, _, r in code_blocks(p))]


def test_the_runner_finds_the_pages_with_code():
    names = {p.name for p in RUNNABLE}
    assert {"integrations.md", "adding_a_loss.md", "README.md", "installation.md",
            "gpu.md"} <= names, names


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
def test_page_code_blocks_run(page):
    run_page(page)


def test_not_run_blocks_are_rare_and_justified():
    marked = [(p.name, line, r) for p in PAGES for line, _, r in code_blocks(p)
              if r is not None]
    assert 0 < len(marked) <= MAX_NOT_RUN, marked
    for name, line, reason in marked:
        assert len(reason) >= 20, (name, line, reason)
        assert re.search(r"GPU|cluster|scheduler", reason), (name, line, reason)
    # a marker not directly above a block would silently mark nothing
    for p in PAGES:
        text = p.read_text(encoding="utf-8")
        assert text.count("not-run:") == sum(r is not None for _, _, r in code_blocks(p)), p


def test_the_runner_sees_a_marker_and_a_console_block(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("a\n\n<!-- not-run: needs a CUDA GPU to run at all -->\n```python\n1/0\n"
                    "```\n\n```python\n>>> x = 2\n>>> x + 1\n99\n```\n")
    blocks = code_blocks(page)
    assert [r for _, _, r in blocks] == ["needs a CUDA GPU to run at all", None]
    assert run_page(page)["x"] == 2  # output not compared, statements run


# ---------------------------------------------------------------------------
# the documented boosting examples against the built-in objectives

def _integrations():
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    page = ROOT / "docs" / "integrations.md"
    ns = run_page(page)
    (line,) = [ln for ln, src, _ in code_blocks(page) if "fl_xgb.objective(" in src]
    return ns["__after__"][line]  # (later blocks reuse names such as y)


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _pinball(y, p, q):
    d = np.asarray(y) - np.asarray(p)
    return float(np.mean(np.maximum(q * d, (q - 1) * d)))


def _log_loss(labels, proba):
    from sklearn.metrics import log_loss

    return float(log_loss(labels, proba))


ROUNDS = 50


def _builtins(ns):
    """The metric of each documented model and of the built-in objective, same data."""
    import lightgbm as lgb
    import xgboost as xgb

    X, y, Xt, yt = ns["X"], ns["y"], ns["X_test"], ns["y_test"]
    out = {}
    b = xgb.train({"tree_method": "hist", "objective": "reg:pseudohubererror",
                   "huber_slope": 2.0}, xgb.DMatrix(X, y), ROUNDS)
    huber = functools.partial(fastloss.huber, delta=2.0)
    out["xgboost huber(delta=2) vs reg:pseudohubererror, test huber loss"] = (
        huber(yt, ns["pred_huber"]), huber(yt, b.predict(xgb.DMatrix(Xt))))
    m = xgb.XGBRegressor(objective="reg:quantileerror", quantile_alpha=0.9,
                         n_estimators=ROUNDS).fit(X, y)
    out["XGBRegressor quantile(0.9) vs reg:quantileerror, test pinball loss"] = (
        _pinball(yt, ns["pred_q90"], 0.9), _pinball(yt, m.predict(Xt), 0.9))
    c = xgb.XGBClassifier(n_estimators=ROUNDS).fit(X, y > 1.0)
    out["XGBClassifier bce_with_logits vs binary:logistic, test log loss"] = (
        _log_loss(yt > 1.0, ns["proba_binary"]), _log_loss(yt > 1.0, c.predict_proba(Xt)[:, 1]))
    b = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, y), ROUNDS)
    out["lightgbm log_cosh vs regression (l2), test RMSE"] = (
        _rmse(yt, ns["pred_log_cosh"]), _rmse(yt, b.predict(Xt)))
    c = lgb.LGBMClassifier(n_estimators=ROUNDS, verbose=-1).fit(X, ns["labels"])
    out["LGBMClassifier cross_entropy vs multiclass, test log loss"] = (
        _log_loss(ns["labels_test"], ns["proba_multiclass"]),
        _log_loss(ns["labels_test"], c.predict_proba(Xt)))
    return out


def test_documented_boosting_examples_train_like_the_builtins():
    ns = _integrations()
    with _one_omp_thread():
        rows = _builtins(ns)
    report = "\n".join(f"{k}: fastloss {a:.4f}, built-in {b:.4f}, ratio {a / b:.3f}"
                       for k, (a, b) in rows.items())
    print(report)
    assert len(rows) == 5
    for ours, builtin in rows.values():
        assert np.isfinite(ours) and ours <= 1.05 * builtin, report


def test_log_cosh_with_the_exact_hessian_would_diverge():
    """The reason "auto" does not use sech^2: same example, exact Hessian."""
    import lightgbm as lgb

    from fastloss.integrations import lightgbm as fl_lgb

    ns = _integrations()
    with _one_omp_thread():
        b = lgb.train({"objective": fl_lgb.objective("log_cosh", hessian="exact"),
                       "verbose": -1}, lgb.Dataset(ns["X"], ns["y"]), ROUNDS)
    assert _rmse(ns["y_test"], b.predict(ns["X_test"])) > 5 * _rmse(ns["y_test"],
                                                                    ns["pred_log_cosh"])


def test_classifier_outputs_with_a_custom_objective_are_as_documented():
    from scipy.special import expit

    ns = _integrations()
    # XGBClassifier: base_score read as a probability (0.0 -> every probability 1e-6)
    import xgboost as xgb

    from fastloss.integrations import xgboost as fl_xgb

    X, y = ns["X"][:300], ns["y"][:300] > 1.0
    obj = fl_xgb.objective("binary_cross_entropy_with_logits")
    bad = xgb.XGBClassifier(objective=obj, n_estimators=2, base_score=0.0).fit(X, y)
    assert np.all(bad.predict_proba(X)[:, 1] < 1e-5)
    good = xgb.XGBClassifier(objective=obj, n_estimators=2, base_score=0.5).fit(X, y)
    margin = good.predict(X, output_margin=True)
    np.testing.assert_allclose(good.predict_proba(X)[:, 1], expit(margin), rtol=1e-5)
    # LGBMClassifier: predict_proba gives the raw scores
    import lightgbm as lgb

    from fastloss.integrations import lightgbm as fl_lgb

    clf = lgb.LGBMClassifier(objective=fl_lgb.objective("cross_entropy"), n_estimators=3,
                             verbose=-1).fit(ns["X"][:300], ns["labels"][:300])
    with pytest.warns(UserWarning, match="raw scores"):
        proba = clf.predict_proba(ns["X"][:5])
    np.testing.assert_array_equal(proba, clf.predict(ns["X"][:5], raw_score=True))
