"""The examples under examples/ run, and reach what they claim (parsed from their output)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    res = subprocess.run([sys.executable, "-W", "error", os.path.join(ROOT, "examples", name),
                          *args], capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _float(pattern, text):
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in output:\n{text}"
    return float(m.group(1))


def test_l1_logistic_regression_is_sparse_and_optimal():
    out = run_example("l1_logistic_regression.py")
    zeros = _float(r"exact zeros: (\d+) of 60 weights", out)
    assert 45 <= zeros <= 58  # the true model has 54 zeros
    assert "true support recovered: True" in out
    # the same objective minimised by scikit-learn: the same weights
    assert _float(r"max \|w - w_sklearn\| = (\S+)", out) < 1e-6


def test_gan_learns_the_mean():
    out = run_example("gan_1d.py")
    mean = _float(r"learned mean (\S+) \(target", out)
    assert abs(mean - 4.0) < 0.1, out


def test_gan_learns_the_mean_with_another_seed():
    out = run_example("gan_1d.py", "--seed", "1")
    assert abs(_float(r"learned mean (\S+) \(target", out) - 4.0) < 0.1, out


def test_simclr_step():
    out = run_example("simclr_step.py")
    assert _float(r"max \|grad difference\| (\S+)", out) < 1e-10  # against torch autograd
    first = _float(r"nt_xent (\S+) -> ", out)
    last = _float(r"nt_xent \S+ -> (\S+)", out)
    assert last < first - 0.2
    knn0 = _float(r"same cluster: (\S+) -> ", out)
    knn1 = _float(r"same cluster: \S+ -> (\S+)", out)
    assert knn1 > knn0
