"""Every deliberate bug of ``tools/mutants.py`` still applies to the code: its old text
occurs exactly once in its file (a rewrite that moves the line would otherwise leave the
mutant unrun, and its tests unchecked)."""

import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool():
    spec = importlib.util.spec_from_file_location(
        "fastloss_mutants_tool", os.path.join(ROOT, "tools", "mutants.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (its dataclass looks its module up)
    spec.loader.exec_module(mod)
    return mod


TOOL = _tool()


@pytest.mark.parametrize("m", TOOL.MUTANTS, ids=lambda m: m.name)
def test_mutant_applies(m):
    assert TOOL.check_applies(m, ROOT) is None, f"{m.name}: {TOOL.check_applies(m, ROOT)}"


def test_the_ci_subset_is_not_empty():
    assert [m for m in TOOL.MUTANTS if m.ci]
