"""Cache folders that cannot take the kernels: a full disk (a small tmpfs where this process
may mount one, else ENOSPC raised by the cache's writes), a read-only folder holding a
warm cache, and a ``NUMBA_CACHE_DIR`` that is a file."""

import contextlib
import os
import shutil
import subprocess
import tempfile

import pytest

from ._util import ROOT, kernel_files, run

CHECK_2 = "print(json.dumps({'bad': check(ops=('value', 'grad')), **stats()}))"

ENOSPC_PATCH = """
import errno
from numba.core import caching
def _full(self, path):
    raise OSError(errno.ENOSPC, "No space left on device (simulated)", path)
caching.IndexDataCacheFile._open_for_write = _full
"""


def _subpath():
    from numba.core import caching

    return caching._CacheLocator.get_suitable_cache_subpath(
        os.path.join(ROOT, "fastloss", "_kernels", "cpu.py")
    )


def _mount(*args) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", *args], capture_output=True)
    return r.returncode == 0


def _umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder, leave: int):
    """Fill the filesystem of ``folder`` until at most ``leave`` bytes are free."""
    filler = os.path.join(folder, "filler")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(filler)
    st = os.statvfs(folder)
    size = max(0, st.f_bavail * st.f_frsize - leave)
    with open(filler, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * size)
            while leave == 0:
                f.write(b"\0" * 4096)


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)):
        yield None
        return
    try:
        yield mnt
    finally:
        _umount(mnt)


@pytest.mark.parametrize("leave", [0, 12 * 1024])
def test_full_disk_compiles_without_cache(small_fs, tmp_path, leave):
    """No space at all, and space for the index but not the compiled code: each kernel
    runs uncached, no temporary file stays behind, and a later process does the same."""
    if small_fs is None:  # no tmpfs here: the cache's writes raise ENOSPC instead
        cache, patch = tmp_path / "cache", ENOSPC_PATCH
    else:
        cache, patch = small_fs / "cache", ""
        (cache / _subpath()).mkdir(parents=True)
        _fill(small_fs, leave)
    for _ in range(1 if leave == 0 else 2):  # the index may be written, the code not
        res = run(patch + CHECK_2, cache)
        assert res["bad"] == [] and res["misses"] == 2 and res["hits"] == 0, res
    left = [n for _, _, names in os.walk(cache) for n in names if ".tmp." in n]
    assert left == []


@contextlib.contextmanager
def _read_only_copy(src):
    """A read-only copy of ``src`` and the code that makes the reader see it so: a
    read-only bind mount (root with mount rights), file modes (anyone but root), else (root
    in a container without mount rights, which ignores file modes) a reader told by
    ``os.access`` that the folder is not writable and whose cache writes raise EROFS."""
    base = tempfile.mkdtemp(prefix="fastloss-ro-")
    dst = os.path.join(base, "cache")
    shutil.copytree(src, dst)
    patch = ""
    mounted = _mount("--bind", dst, dst)
    if mounted and not _mount("-o", "remount,bind,ro", dst):
        _umount(dst)
        mounted = False
    if not mounted:
        for dirpath, _, files in os.walk(base):
            os.chmod(dirpath, 0o555)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o444)
        if os.geteuid() == 0:
            patch = f"RO_DIR = {dst!r}\n" + READ_ONLY_PATCH
    try:
        yield dst, patch
    finally:
        if mounted:
            _umount(dst)
        for dirpath, _, _ in os.walk(base):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(base, ignore_errors=True)


READ_ONLY_PATCH = """
import errno, os
from numba.core import caching
_access = os.access
def _ro_access(path, mode, *a, **k):
    if str(path).startswith(RO_DIR) and mode & os.W_OK:
        return False
    return _access(path, mode, *a, **k)
os.access = _ro_access
def _ro(self, path):
    raise OSError(errno.EROFS, "Read-only file system (simulated)", path)
caching.IndexDataCacheFile._open_for_write = _ro
"""


READ_ONLY = """
import os
from fastloss._kernels.compile import cache_dir
bad = check(ops=("value", "grad"))
st = stats()
h = fl.huber(np.zeros(5), np.ones(5))  # not in the warm cache: compiled, not saved
bad += [] if h == 0.5 else [f"huber {h}"]
print(json.dumps({"bad": bad, **st, "cache_dir": fl.info()["cache_dir"], "dir": cache_dir()}))
"""


def test_read_only_warm_cache_is_read(warm_cache):
    with _read_only_copy(warm_cache) as (ro, patch):
        res = run(patch + READ_ONLY, ro)
        assert res["bad"] == [] and res["hits"] == 2 and res["misses"] == 0, res
        assert res["cache_dir"] == os.path.join(ro, _subpath()) + " (read-only)"
        assert kernel_files(ro, "huber") == []


def test_cache_dir_that_is_a_file_reports_where_kernels_go(tmp_path):
    f = tmp_path / "not-a-folder"
    f.write_text("")
    res = run(READ_ONLY, f)
    assert res["bad"] == []
    where = res["cache_dir"]
    assert not where.startswith(str(f)) and os.path.isdir(where), where
    assert kernel_files(where, "huber", ".nbi")  # the kernels really went there
