"""The asv gate's decisions (.ci/asv_gate.py) on canned asv output: asv itself never runs.

A slowdown fails the gate only when a second run confirms it; a missing baseline gives a
smoke run of HEAD; a benchmark that raises is an error (exit 2)."""

from __future__ import annotations

import importlib.util
import os

import pytest

GATE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".ci", "asv_gate.py"
)

HEAD, BASE, PARENT = "a" * 40, "b" * 40, "c" * 40

HEADER = (
    "| Change   | Before [bbbbbbbb]    | After [aaaaaaaa]    |   Ratio | Benchmark (Parameter)"
    "                          |\n"
    "|----------|----------------------|---------------------|---------|-----------------------"
    "-------------------------|\n"
)


def table(*rows):
    """asv continuous --split's table: (change mark, ratio, benchmark) rows."""
    return HEADER + "".join(
        f"| {mark:8s} | 14.2±0.1μs           | 28.1±0.2μs          | {ratio:>7s} | {name} |\n"
        for mark, ratio, name in rows
    )


SLOW = ("+", "1.98", "gate.Loss.track_value('huber')")
SLOW2 = ("+", "1.41", "gate.Loss.track_value_and_grad('mse')")
FAST = ("-", "0.61", "gate.Loss.track_value('mae')")


@pytest.fixture
def gate(monkeypatch):
    spec = importlib.util.spec_from_file_location("asv_gate_under_test", GATE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.calls = []
    mod.continuous = []  # (rc, output) of each `asv continuous`, in order
    commits = {"HEAD": HEAD, BASE: BASE, "HEAD~1": PARENT}
    mod.commits = commits

    def run_asv(args, env):
        mod.calls.append(list(args))
        if args[0] == "continuous":
            return mod.continuous.pop(0)
        return 0, ""

    monkeypatch.setattr(mod, "run_asv", run_asv)
    monkeypatch.setattr(mod, "commit_of", lambda ref: commits.get(ref))
    monkeypatch.setattr(mod, "recorded_baseline", lambda: BASE)
    monkeypatch.setattr(mod, "log", lambda msg: None)
    return mod


def _kinds(gate):
    return [c[0] for c in gate.calls]


def test_regressions_parses_the_table(gate):
    out = "· Running 40 benchmarks\n" + table(SLOW, FAST, SLOW2, ("", "1.01", "gate.x"))
    assert gate.regressions(out) == {SLOW[2]: "1.98", SLOW2[2]: "1.41"}
    assert gate.regressions("BENCHMARKS NOT SIGNIFICANTLY CHANGED.\n") == {}


def test_no_slowdown_passes_after_one_run(gate):
    gate.continuous = [(0, "BENCHMARKS NOT SIGNIFICANTLY CHANGED.\n")]
    assert gate.main() == 0
    assert _kinds(gate) == ["machine", "continuous", "compare"]
    assert gate.calls[1][-2:] == [BASE, HEAD]  # the recorded baseline against HEAD


def test_confirmed_slowdown_fails(gate):
    gate.continuous = [(1, table(SLOW, FAST)), (1, table(SLOW))]
    assert gate.main() == 1
    assert _kinds(gate) == ["machine", "continuous", "compare", "continuous"]
    confirm = gate.calls[3]
    regex = confirm[confirm.index("-b") + 1]
    assert "huber" in regex and "mae" not in regex  # only the flagged benchmark is rerun


def test_unconfirmed_slowdown_passes(gate):
    gate.continuous = [(1, table(SLOW)), (0, "BENCHMARKS NOT SIGNIFICANTLY CHANGED.\n")]
    assert gate.main() == 0
    assert _kinds(gate) == ["machine", "continuous", "compare", "continuous"]


def test_slowdown_confirmed_for_another_benchmark_only_passes(gate):
    gate.continuous = [(1, table(SLOW)), (1, table(SLOW2))]
    assert gate.main() == 0


def test_one_of_two_slowdowns_confirmed_fails(gate):
    gate.continuous = [(1, table(SLOW, SLOW2)), (1, table(SLOW2))]
    assert gate.main() == 1


def test_a_benchmark_that_raises_is_an_error(gate):
    gate.continuous = [(2, "Traceback (most recent call last): ...\n")]
    assert gate.main() == 2
    gate.calls.clear()
    gate.continuous = [(1, table(SLOW)), (2, "asv: error\n")]
    assert gate.main() == 2


def test_missing_baseline_gives_a_smoke_run(gate, monkeypatch):
    monkeypatch.setattr(gate, "recorded_baseline", lambda: None)
    del gate.commits["HEAD~1"]  # a single-commit (or shallow) clone
    assert gate.main() == 0
    assert _kinds(gate) == ["machine", "run"]
    assert "--quick" in gate.calls[1] and gate.calls[1][-1] == f"{HEAD}^!"


def test_smoke_run_that_raises_fails(gate, monkeypatch):
    monkeypatch.setattr(gate, "recorded_baseline", lambda: None)
    del gate.commits["HEAD~1"]
    monkeypatch.setattr(gate, "run_asv", lambda args, env: (1, "") if args[0] == "run" else (0, ""))
    assert gate.main() == 2


@pytest.mark.parametrize("recorded", ["0123456789", HEAD])
def test_baseline_not_in_clone_or_head_itself_falls_back_to_parent(gate, monkeypatch, recorded):
    monkeypatch.setattr(gate, "recorded_baseline", lambda: recorded)
    gate.continuous = [(0, "")]
    assert gate.choose_baseline(HEAD)[0] == PARENT
    assert gate.main() == 0
    assert gate.calls[1][-2:] == [PARENT, HEAD]


def test_recorded_baseline_file_skips_comments(gate, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("asv_gate_file", GATE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "asv_baseline").write_text("# why\n\n  7a4b138  # the commit\n")
    monkeypatch.setattr(mod, "ROOT", str(tmp_path))
    assert mod.recorded_baseline() == "7a4b138"
    (tmp_path / ".ci" / "asv_baseline").unlink()
    assert mod.recorded_baseline() is None
