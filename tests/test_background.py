"""The suite's long, self-contained files run in two child ``python -m pytest`` runs beside
the rest, so that both cores stay busy to the end: one runs the machine-code checks
(``test_vectorised*.py``, ``test_cuda_ptx.py``), the fault scenarios (``faults/``) and the
adding-a-loss page (``test_adding_a_loss.py``); the other four files that mostly compile
kernels (the fast paths, accumulation, input flags, the GAN losses: about 40% of the
session's compiling). ``tests/conftest.py`` moves their collected tests into the children
as soon as this test is collected, and puts this test last; it waits for both and fails
with a child's report when any moved test failed. Run alone, it runs those files whole.
Their tests run in this process as usual when they are named without this file
(``pytest tests/faults``).
"""

from __future__ import annotations

import os
import re
import warnings

from .child_run import ChildRun

HERE = os.path.dirname(os.path.abspath(__file__))
#: what each child runs, relative to tests/ (the fault scenarios keep a process of their own)
GROUPS = {
    "long files": ("test_vectorised.py", "test_vectorised_rows.py", "test_cuda_ptx.py",
                   "faults", "test_adding_a_loss.py"),
    "compiling files": ("test_fast_path.py", "test_accumulation.py", "test_input_flags.py",
                        "test_adversarial.py"),
}
FILES = tuple(f for files in GROUPS.values() for f in files)
#: set in the children, so that they never start children of their own
ENV = "FASTLOSS_TEST_CHILD"

CHILDREN = {group: ChildRun() for group in GROUPS}
_moved: dict = {}  # how many tests the session handed to each child (empty: whole files)


def _group(path) -> str | None:
    rel = os.path.relpath(str(path), HERE).split(os.sep)[0]
    return next((g for g, files in GROUPS.items() if rel in files), None)


def moves(path) -> bool:
    """Whether a test collected from ``path`` belongs to a child's run."""
    return _group(path) is not None


def started() -> bool:
    return any(c.started for c in CHILDREN.values())


def start(nodeids=None) -> bool:
    """Start the children (once) on ``nodeids`` (``path::name``, each to its file's child),
    or on their files whole; whether they run (never in a child run itself)."""
    if os.environ.get(ENV):
        return False
    if started():
        return True
    for group, child in CHILDREN.items():
        if nodeids:
            mine = [n for n in nodeids if _group(os.path.join(HERE, "..", n.split("::")[0]))
                    == group]
            if not mine:
                continue
            _moved[group] = len(mine)
        else:
            mine = [os.path.join(HERE, f) for f in GROUPS[group]]
        child.start(["-rfEs", *mine], **{ENV: "1"})
    return True


def stop() -> None:
    for child in CHILDREN.values():
        child.stop()


def _count(word: str, out: str) -> int:
    m = re.search(rf"(\d+) {word}", out)
    return int(m.group(1)) if m else 0


def _report(group: str, out: str) -> str:
    """A failed child's failing tests first (its short summary), then its output's end."""
    failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    return f"{group} child failed:\n" + "\n".join(failed) + "\n...\n" + out[-8000:]


def test_background_files_pass(capsys):
    assert start(), f"{ENV} is set: this is a child run, which starts no child of its own"
    for group, child in CHILDREN.items():
        if not child.started:
            continue
        rc, out, took = child.wait()
        summary = out.strip().splitlines()[-1] if out.strip() else ""
        assert rc == 0, _report(group, out)
        passed, skipped = _count("passed", summary), _count("skipped", summary)
        assert passed > 0 and not re.search(r"\d+ (failed|errors?)\b", summary), \
            _report(group, out)
        if group in _moved:  # every moved test ran there
            assert passed + skipped == _moved[group], (group, passed, skipped, _moved[group],
                                                       out[-3000:])
        if skipped:
            reasons = [ln for ln in out.splitlines() if ln.startswith("SKIPPED")]
            warnings.warn(f"{skipped} tests skipped in the {group} child: {reasons}",
                          stacklevel=1)
        with capsys.disabled():
            print(f"\n[{group} child] {summary} ({', '.join(GROUPS[group])}; "
                  f"{took:.0f} s from its start)")
