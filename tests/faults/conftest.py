import shutil

import pytest

from ._util import run


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory):
    """A cache folder holding mse's serial float64 value and gradient kernels."""
    path = tmp_path_factory.mktemp("warm")
    res = run("print(json.dumps({'bad': check(ops=('value', 'grad')), **stats()}))", path)
    assert res == {"bad": [], "hits": 0, "misses": 2}, res
    return path


@pytest.fixture
def warm_copy(warm_cache, tmp_path):
    dst = tmp_path / "cache"
    shutil.copytree(warm_cache, dst)
    return dst
