"""A damaged compile cache is a miss: the kernel is compiled again and the entry rewritten;
a data file never loads as another kernel's code."""

import os
from pathlib import Path

from ._util import kernel_files, run

CHECK_ALL = "print(json.dumps({'bad': check(ops=('value', 'grad')), **stats()}))"


def _damage(path, how):
    data = Path(path).read_bytes()
    new = {
        "truncated": data[: len(data) // 2],
        "garbage": os.urandom(max(64, len(data) // 4)),
        "pickle_of_junk": b"\x80\x04K\x01.",  # a valid pickle of the wrong thing
        "empty": b"",
    }[how]
    Path(path).write_bytes(new)


def test_damaged_files_are_misses_then_rewritten(warm_copy):
    nbc, nbi = kernel_files(warm_copy), kernel_files(warm_copy, ext=".nbi")
    assert len(nbc) == 2 and len(nbi) == 2
    _damage(nbc[0], "truncated")
    _damage(nbc[1], "garbage")
    _damage(nbi[0], "empty")  # (nbi[0] names nbc[0]: both damaged is fine)
    first = run(CHECK_ALL, warm_copy)
    assert first == {"bad": [], "hits": 0, "misses": 2}  # nothing loaded, nothing raised
    second = run(CHECK_ALL, warm_copy)  # the rewritten entries load
    assert second == {"bad": [], "hits": 2, "misses": 0}
    # an index of junk, then a data file that is a valid pickle of the wrong thing
    _damage(nbi[1], "pickle_of_junk")
    _damage(nbc[0], "pickle_of_junk")
    third = run(CHECK_ALL, warm_copy)
    assert third == {"bad": [], "hits": 0, "misses": 2}


def test_swapped_data_files_never_load_as_another_kernel(warm_copy):
    """Two kernels of one loss exchange their compiled code on disk (what an unlocked
    concurrent save can leave behind): neither loads; a value call that ran a gradient
    kernel returned 0.0 and wrote into y_pred."""
    nbc = kernel_files(warm_copy)
    blobs = [Path(p).read_bytes() for p in nbc]
    for p, b in zip(nbc, blobs[1:] + blobs[:1], strict=True):  # rotate the contents
        Path(p).write_bytes(b)
    res = run(CHECK_ALL, warm_copy)
    assert res == {"bad": [], "hits": 0, "misses": 2}
    assert run(CHECK_ALL, warm_copy) == {"bad": [], "hits": 2, "misses": 0}
