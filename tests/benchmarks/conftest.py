"""Benchmarks are timed only with ``--benchmark-enable --benchmark-only``. Otherwise (the
project's pytest options include ``--benchmark-disable``) each case would run once; to keep
the normal test run short, only a smoke subset runs then: every loss's value and
value_and_grad on the serial backend and in NumPy (the other cases compile kernels that the
rest of the suite covers)."""

from __future__ import annotations

SMOKE_OPS = ("value", "value_and_grad")
SMOKE_IMPLS = ("serial", "numpy")


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_enable", False) or not config.getoption(
            "benchmark_disable", False):
        return
    keep, drop = [], []
    for item in items:
        cs = getattr(item, "callspec", None)
        if (cs is not None and "impl" in cs.params and "tests/benchmarks" in item.nodeid
                and (cs.params["impl"] not in SMOKE_IMPLS or cs.params["op"] not in SMOKE_OPS)):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
