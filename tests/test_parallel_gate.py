"""The parallel gate's decisions (.ci/parallel_gate.py) on canned timings: nothing is timed
and no worktree is made.

A benchmark slower than the factor fails the gate only when the second set of rounds shows
it again; each side keeps its minimum over the interleaved rounds; a measurement that fails
is an error (exit 2); without a baseline there is nothing to compare."""

from __future__ import annotations

import importlib.util
import os

import pytest

GATE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".ci", "parallel_gate.py"
)
BASE_ROOT, HEAD_ROOT = "base-tree", "head-tree"


@pytest.fixture
def gate(monkeypatch):
    spec = importlib.util.spec_from_file_location("parallel_gate_under_test", GATE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    labels = [b[0] for b in mod.BENCHES]
    mod.labels = labels
    mod.calls = []  # (side, labels measured) per measurement, in order
    mod.timings = {"base": [], "head": []}  # per side: one {label: s} per timed measurement

    def measure(root, benches=mod.BENCHES):
        side = "head" if root == HEAD_ROOT else "base"
        asked = [b[0] for b in benches]
        mod.calls.append((side, asked))
        n_side = sum(1 for c in mod.calls if c[0] == side)
        if n_side == 1:  # the untimed compile run
            return {k: 1.0 for k in asked}
        canned = mod.timings[side]
        t = canned[(n_side - 2) % len(canned)]
        if isinstance(t, Exception):
            raise t
        return {k: t.get(k, 1e-4) for k in asked}

    monkeypatch.setattr(mod, "measure", measure)
    monkeypatch.setattr(mod, "add_worktree", lambda base, path: True)
    monkeypatch.setattr(mod, "remove_worktree", lambda path: None)
    monkeypatch.setattr(mod, "log", lambda msg: None)
    monkeypatch.setattr(mod.asv_gate, "commit_of", lambda ref: "a" * 40)
    monkeypatch.setattr(mod.asv_gate, "choose_baseline", lambda head: ("b" * 40, "recorded"))
    monkeypatch.setattr(mod.asv_gate, "ROOT", HEAD_ROOT)
    monkeypatch.setattr(mod, "ROUNDS", 3)
    return mod


def test_slower_compares_by_the_factor_and_skips_missing(gate):
    times = {"a": (1.0, 1.29), "b": (1.0, 1.31), "c": (None, 5.0), "d": (2.0, None),
             "e": (1.0, 0.5)}
    assert gate.slower(times, 1.3) == {"b": pytest.approx(1.31)}


def test_same_times_pass_after_the_first_rounds(gate):
    gate.timings = {"base": [{}], "head": [{}]}
    assert gate.main() == 0
    # two untimed runs, then base and head interleaved, three rounds, nothing more
    assert [c[0] for c in gate.calls] == ["base", "head"] + ["base", "head"] * 3


def test_each_side_keeps_its_minimum_over_the_rounds(gate):
    a = gate.labels[0]
    # HEAD slow in one round only (the machine's slow state): its minimum is fast
    gate.timings = {"base": [{a: 1e-4}], "head": [{a: 2e-4}, {a: 1e-4}, {a: 2e-4}]}
    assert gate.main() == 0
    times = gate.rounds(BASE_ROOT, HEAD_ROOT, 3)
    assert times[a] == (pytest.approx(1e-4), pytest.approx(1e-4))


def test_confirmed_slowdown_fails_and_reruns_only_what_was_flagged(gate):
    a = gate.labels[0]
    gate.timings = {"base": [{}], "head": [{a: 2e-4}]}
    assert gate.main() == 1
    confirm = gate.calls[2 + 6:]
    assert len(confirm) == 6 and all(c[1] == [a] for c in confirm)


def test_unconfirmed_slowdown_passes(gate):
    a = gate.labels[1]
    # rounds 1-3 slow (flagged), rounds 4-6 not (the second set does not confirm it)
    gate.timings = {"base": [{}], "head": [{a: 2e-4}] * 3 + [{a: 1e-4}] * 3}
    assert gate.main() == 0
    assert len(gate.calls) == 2 + 6 + 6


def test_a_measurement_that_fails_is_an_error(gate):
    gate.timings = {"base": [{}], "head": [RuntimeError("a benchmark raised")]}
    assert gate.main() == 2


def test_no_baseline_passes_without_measuring(gate, monkeypatch):
    monkeypatch.setattr(gate.asv_gate, "choose_baseline", lambda head: (None, "shallow"))
    assert gate.main() == 0
    assert gate.calls == []


def test_a_loss_missing_from_the_baseline_is_not_compared(gate):
    a = gate.labels[2]
    gate.timings = {"base": [{a: None}], "head": [{a: 9.0}]}  # (None: not in that commit)
    assert gate.main() == 0
    assert gate.rounds(BASE_ROOT, HEAD_ROOT, 1)[a] == (None, 9.0)
