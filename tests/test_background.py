"""The suite's long, self-contained files run in a child ``python -m pytest`` beside the
rest, on the machine's other core: the machine-code checks (``test_vectorised*.py``,
``test_cuda_ptx.py``), the fault scenarios (``faults/``), the adding-a-loss page
(``test_adding_a_loss.py``) and three files that mostly compile kernels (the fast paths,
accumulation, input flags: a third of the session's compiling, so that both halves end
together). ``tests/conftest.py`` moves their collected tests into the
child as soon as this test is collected, and puts this test last; it waits for the child
and fails with the child's report when any moved test failed. Run alone, it runs those
files whole. Their tests run in this process as usual when they are named without this
file (``pytest tests/test_vectorised.py``).
"""

from __future__ import annotations

import os
import re
import warnings

from .child_run import ChildRun

HERE = os.path.dirname(os.path.abspath(__file__))
#: what the child runs, relative to tests/
FILES = ("test_vectorised.py", "test_vectorised_rows.py", "test_cuda_ptx.py", "faults",
         "test_adding_a_loss.py", "test_fast_path.py", "test_accumulation.py",
         "test_input_flags.py")
#: set in the child, so that it never starts a child of its own
ENV = "FASTLOSS_TEST_CHILD"

CHILD = ChildRun()
_moved: list = []  # how many tests the session handed to the child (empty: whole files)


def moves(path) -> bool:
    """Whether a test collected from ``path`` belongs to the child's run."""
    rel = os.path.relpath(str(path), HERE)
    return rel.split(os.sep)[0] in FILES


def start(nodeids=None) -> bool:
    """Start the child (once) on ``nodeids``, or on :data:`FILES` whole; whether it runs
    (never in a child run itself)."""
    if os.environ.get(ENV):
        return False
    if not CHILD.started:
        _moved[:] = [len(nodeids)] if nodeids else []
        CHILD.start(["-rs", *(nodeids or [os.path.join(HERE, f) for f in FILES])], **{ENV: "1"})
    return True


def stop() -> None:
    CHILD.stop()


def _count(word: str, out: str) -> int:
    m = re.search(rf"(\d+) {word}", out)
    return int(m.group(1)) if m else 0


def test_background_files_pass(capsys):
    assert start(), f"{ENV} is set: this is a child run, which starts no child of its own"
    rc, out, took = CHILD.wait()
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    assert rc == 0, out[-8000:]
    passed, skipped = _count("passed", summary), _count("skipped", summary)
    assert passed > 0 and not re.search(r"\d+ (failed|errors?)\b", summary), out[-8000:]
    if _moved:  # every moved test ran there
        assert passed + skipped == _moved[0], (passed, skipped, _moved[0], out[-3000:])
    if skipped:
        reasons = [ln for ln in out.splitlines() if ln.startswith("SKIPPED")]
        warnings.warn(f"{skipped} tests skipped in the child run: {reasons}", stacklevel=1)
    with capsys.disabled():
        print(f"\n[child run] {summary} ({', '.join(FILES)}; {took:.0f} s from its start)")
