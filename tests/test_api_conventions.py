"""What a new user trips on, each guarded here: target domains, broadcasting of y_true,
float16, PyTorch tensors that require grad, optional dependencies, the command line, the
boosting objectives' Hessians, and docs that match the code (no citation of files outside
the repository, extras, the README's example, the gallery's usage lines)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastloss

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------
# target domains

# a value outside each restricted target domain (independent of the specs' own checks)
BAD_TARGET = {
    "poisson_nll": ([-1.0, 2.0], [0.0, 0.0], {}),
    "tweedie": ([-1.0, 2.0], [0.0, 0.0], {"power": 1.5}),
    "binary_cross_entropy": ([1.5, 0.0], [0.5, 0.5], {}),
    "binary_cross_entropy_with_logits": ([-0.5, 1.0], [0.0, 0.0], {}),
    "focal": ([2.0, 1.0], [0.0, 0.0], {}),
    "hinge": ([2.0, 1.0], [0.0, 0.0], {}),
    "squared_hinge": ([0.5, 1.0], [0.0, 0.0], {}),
    "cross_entropy": ([3, 0], [[0.0, 0.0], [0.0, 0.0]], {}),
    "kl_divergence": ([[1.5, -0.5]], [[0.5, 0.5]], {}),
    "log_loss": ([2, 0], [0.5, 0.5], {}),
    "linear_cross_entropy": ([3, 0], [[1.0, 0.0], [0.0, 1.0]],
                             {"weight": [[1.0, 0.0], [0.0, 1.0]]}),
}
Y_TRUE_LOSSES = [n for n, s in fastloss.REGISTRY.items() if "y_true" in s.inputs]


@pytest.mark.parametrize("name", Y_TRUE_LOSSES)
def test_every_loss_declares_and_documents_its_target_domain(name):
    spec = fastloss.REGISTRY[name]
    assert spec.target_domain, f"{name}: no target_domain"
    assert f"Domain: {spec.target_domain}." in spec.docstring()
    if spec.target_domain != "any real number":
        assert name in BAD_TARGET, f"{name}: add a value outside its domain to BAD_TARGET"


@pytest.mark.parametrize("name", sorted(BAD_TARGET))
def test_targets_outside_the_domain_are_refused(name):
    y, p, kw = BAD_TARGET[name]
    with pytest.raises(ValueError, match="y_true"):
        getattr(fastloss, name)(y, p, **kw)
    with pytest.raises(ValueError, match="y_true"):
        getattr(fastloss, name).grad(y, p, **kw)


def test_poisson_nll_domain():
    assert fastloss.poisson_nll([0.0, 2.0], [0.0, 0.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"y_true must be non-negative .* position \(0,\)"):
        fastloss.poisson_nll([-1, 2], [0, 0])
    with pytest.raises(ValueError, match="y_pred must be a non-negative rate"):
        fastloss.poisson_nll([1.0, 2.0], [-1.0, 1.0], log_input=False)
    assert np.isnan(fastloss.poisson_nll([np.nan], [0.0]))  # NaN passes, as NumPy's maths


def test_boosting_objective_refuses_negative_poisson_targets():
    from fastloss.integrations.xgboost import objective

    with pytest.raises(ValueError, match="y_true must be non-negative"):
        objective("poisson_nll")(np.array([-1.0, 2.0]), np.zeros(2))


def test_conventions_page_lists_every_target_domain():
    """The page's table is generated from the registry: one row per loss taking y_true."""
    import sys

    assert "```{fastloss-target-domains}" in (ROOT / "docs" / "conventions.md").read_text()
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        from fastloss_apigen import target_domain_rows
    finally:
        sys.path.pop(0)
    rows = dict(target_domain_rows(fastloss.REGISTRY))
    assert sorted(rows) == sorted(Y_TRUE_LOSSES)
    for name in Y_TRUE_LOSSES:
        assert rows[name] == fastloss.REGISTRY[name].target_domain, name


# ---------------------------------------------------------------------------
# broadcasting and dtypes

def test_scalar_and_broadcast_targets_follow_numpy():
    rng = np.random.default_rng(1)
    p = rng.standard_normal((5, 3))
    for y in (0.5, np.float64(0.5), rng.standard_normal((5, 1)), rng.standard_normal((1, 3)),
              rng.standard_normal(3)):
        full = np.broadcast_to(np.asarray(y, dtype=float), p.shape)
        ref = np.mean((p - full) ** 2)
        assert fastloss.mse(y, p) == pytest.approx(ref, rel=1e-12)
        np.testing.assert_allclose(fastloss.mse.grad(y, p), 2 * (p - full) / p.size,
                                   rtol=1e-12)
        np.testing.assert_allclose(fastloss.huber(y, p, reduction="none", delta=0.5),
                                   fastloss.huber(full.copy(), p, reduction="none", delta=0.5))
    assert fastloss.mse(0.5, [1.0, 2.0]) == 1.25


def test_y_pred_is_never_broadcast():
    with pytest.raises(ValueError, match="does not broadcast to y_pred's shape"):
        fastloss.mse([1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="does not broadcast"):
        fastloss.mse(np.zeros((2, 3)), np.zeros((3,)))


def test_float16_is_computed_and_returned_in_float32():
    y = np.array([0.1, 0.7, 2.0], np.float16)
    p = np.array([0.3, -0.2, 1.5], np.float16)
    y32, p32 = y.astype(np.float32), p.astype(np.float32)
    g = fastloss.huber.grad(y, p, delta=0.5)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, fastloss.huber.grad(y32, p32, delta=0.5))
    assert fastloss.mse(y, p) == fastloss.mse(y32, p32)
    assert fastloss.mse(y, p, reduction="none").dtype == np.float32


# ---------------------------------------------------------------------------
# PyTorch tensors that require grad

def test_cpu_tensors_that_require_grad_are_read_detached():
    torch = pytest.importorskip("torch")
    p = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = torch.zeros(3, dtype=torch.float64)
    pn = p.detach().numpy().copy()
    assert fastloss.huber(y, p, delta=0.5) == fastloss.huber(np.zeros(3), pn, delta=0.5)
    np.testing.assert_array_equal(fastloss.mse.grad(y, p), fastloss.mse.grad(np.zeros(3), pn))
    logits = torch.zeros((2, 3), requires_grad=True)
    assert fastloss.cross_entropy(torch.tensor([0, 2]), logits) == pytest.approx(np.log(3))
    a = torch.ones((2, 3), requires_grad=True)
    assert fastloss.triplet_margin(a, torch.zeros(2, 3), torch.zeros(2, 3)) == 1.0
    assert p.grad is None and p.requires_grad  # untouched


# ---------------------------------------------------------------------------
# optional dependencies

@pytest.mark.parametrize("module, extra", [("dask", "dask"), ("xgboost", "xgboost"),
                                           ("lightgbm", "lightgbm")])
def test_missing_optional_dependency_names_the_extra(monkeypatch, module, extra):
    name = f"fastloss.integrations.{module}"
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    if module == "dask":
        monkeypatch.setitem(sys.modules, "dask.array", None)
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ImportError, match=re.escape(f"pip install 'fastloss[{extra}]'")):
        importlib.import_module(name)
    monkeypatch.undo()
    importlib.import_module(name)  # and with it installed, the module imports


# ---------------------------------------------------------------------------
# the command line

def _cli(*args, close_stdout=False):
    proc = subprocess.Popen([sys.executable, "-m", "fastloss", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    if close_stdout:  # the reader went away (``fastloss info | head -0``)
        proc.stdout.close()
        with proc.stderr:
            err = proc.stderr.read().decode()
        return proc.wait(timeout=120), "", err
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), err.decode()


def test_cli_version():
    rc, out, _ = _cli("--version")
    assert rc == 0 and out.strip() == f"fastloss {fastloss.__version__}"


def test_cli_closed_stdout_is_not_an_error():
    rc, _, err = _cli("info", close_stdout=True)
    assert rc == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# ---------------------------------------------------------------------------
# boosting objectives: safe "auto" Hessians

def test_auto_hessian_of_log_cosh_is_the_secant():
    from fastloss.integrations.lightgbm import objective

    y = np.array([0.0, 1.0, -2.0, 5.0, 3.0])
    p = np.array([0.0, 1.5, 40.0, -30.0, 3.0])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    g, h = objective("log_cosh")(y, p, w)
    d = p - y
    with np.errstate(invalid="ignore", divide="ignore"):
        secant = np.where(d == 0, 1.0, np.tanh(d) / d)
    np.testing.assert_allclose(g, w * np.tanh(d), rtol=1e-12)
    np.testing.assert_allclose(h, w * secant, rtol=1e-12)
    assert np.all(h > 0)
    _, h_exact = objective("log_cosh", hessian="exact")(y, p, w)
    np.testing.assert_allclose(h_exact, w / np.cosh(d) ** 2, rtol=1e-9, atol=1e-15)
    assert np.all(h_exact[2:4] < 1e-15) and np.all(h[2:4] > 1e-2)  # vanishes; the secant not


def test_auto_hessian_of_focal_is_positive():
    from fastloss.integrations.xgboost import objective

    y = np.array([0.0, 1.0, 0.0, 1.0])
    p = np.array([6.0, -6.0, 0.0, 2.0])  # confidently wrong: exact Hessian < 0
    _, h_exact = objective("focal", hessian="exact")(y, p)
    assert np.any(h_exact < 0)
    _, h = objective("focal")(y, p)
    np.testing.assert_array_equal(h, np.ones(4))


def test_binary_cross_entropy_objective_is_refused_at_creation():
    from fastloss.integrations import lightgbm, xgboost

    for lib in (xgboost, lightgbm):
        with pytest.raises(ValueError, match="binary_cross_entropy_with_logits"):
            lib.objective("binary_cross_entropy")
        lib.objective("binary_cross_entropy_with_logits")


# ---------------------------------------------------------------------------
# the product stands alone; docs match the code

_FOREIGN = re.compile("|".join(re.escape(s) for s in (
    "API" + ".md", "DESIGN" + ".md", "ARCHITECTURE" + ".md", "shared" + "/", "/work" + "/")))


def test_no_citation_of_files_outside_the_repository():
    roots = [ROOT / d for d in ("fastloss", "docs", "tests", "examples", "tools",
                                "benchmarks", "asv_benchmarks")] + [ROOT / "README.md"]
    hits = []
    for r in roots:
        files = [r] if r.is_file() else [f for f in r.rglob("*") if f.is_file()]
        for f in files:
            if f.suffix not in (".py", ".md", ".rst", ".txt", ".css", ".toml", ".cfg"):
                continue
            if any(part.startswith((".", "_build")) for part in f.relative_to(ROOT).parts):
                continue
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if _FOREIGN.search(line):
                    hits.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_citation_check_can_fail():
    assert _FOREIGN.search("as " + "API" + ".md section 4 says")


def test_rmse_documents_only_the_mean():
    doc = fastloss.rmse.__doc__
    assert "reduction : {'mean'}, default 'mean'" in doc
    assert "{'mean', 'sum', 'none'}" not in doc
    for r in ("sum", "none"):
        with pytest.raises(ValueError, match="only reduction='mean'"):
            fastloss.rmse([1.0], [2.0], reduction=r)


@pytest.mark.parametrize("name", ["kl_divergence", "log_loss"])
def test_no_class_weights_in_the_docs_of_losses_without_them(name):
    assert "class weight" not in fastloss.REGISTRY[name].docstring().lower()
    with pytest.raises(TypeError, match="unknown parameter"):
        getattr(fastloss, name)([[0.5, 0.5]], [[0.5, 0.5]], class_weight=[1.0, 1.0])


@pytest.mark.parametrize("name", ["focal", "squared_hinge", "kl_divergence", "log_loss"])
def test_losses_the_issue_named_have_an_example(name):
    assert f"fastloss.{name}(" in fastloss.REGISTRY[name].example  # run by tests/test_docs.py


def test_installation_extras_table_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    text = (ROOT / "docs" / "installation.md").read_text()
    for extra, reqs in extras.items():
        row = re.search(rf"^\| `{re.escape(extra)}` \|[^|]*\|(?P<pk>[^|]*)\|$", text, re.M)
        assert row, f"no row for the extra {extra!r}"
        listed = {s.strip() for s in row.group("pk").split(",")}
        wanted = {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0] for r in reqs}
        assert listed == wanted, (extra, listed ^ wanted)


def test_readme_example_uses_one_delta():
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    calls = re.findall(r"fastloss\.huber[.\w]*\((.*)\)", block)
    assert len(calls) >= 2 and all("delta=0.5" in c for c in calls), calls


def test_gallery_usage_lines_are_literal_blocks():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    import fastloss_apigen as apigen

    pages = apigen.render_gallery(apigen.example_scripts())
    found = 0
    for stem, page in pages.items():
        for m in re.finditer(r"^( *)python examples/\S+\.py.*$", page, re.M):
            found += 1
            before = page[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            assert m.group(1) == "    " and before.endswith("::"), (stem, m.group(0))
    assert found >= 3


def test_backends_page_states_the_default_threshold_and_where_it_was_measured():
    from fastloss._backend import DEFAULT_PARALLEL_THRESHOLD

    text = (ROOT / "docs" / "backends.md").read_text()
    assert f"threshold, {DEFAULT_PARALLEL_THRESHOLD}," in text
    assert "idle 2-core machine" in text and "measured under\nload" in text
    assert "was measured on the\nproject's 2-core CI machine" not in text
