"""use_backend under asyncio: each task (and the worker threads it starts with
``asyncio.to_thread``, which copy its context) sees its own backend, whatever the
interleaving; results are the same bits on every backend."""

import asyncio

import numpy as np

import fastloss as fl
from fastloss import _backend


def test_tasks_and_their_threads_keep_their_own_backend():
    rng = np.random.default_rng(5)
    y, p = rng.standard_normal((2, 20000))
    want = fl.mse(y, p, backend="serial")
    seen = []

    def work(tag):
        seen.append((tag, _backend.get_backend()))
        return fl.mse(y, p)

    async def task(i):
        be = ("serial", "parallel")[i % 2]
        with fl.use_backend(be):
            vals = []
            for k in range(3):
                await asyncio.sleep(0.001 * ((i + k) % 3))  # interleave the tasks
                vals.append(fl.mse(y, p))
                vals.append(await asyncio.to_thread(work, be))
                assert fl.get_backend() == be
        assert fl.get_backend() == "auto"
        return vals

    async def main():
        return await asyncio.gather(*(task(i) for i in range(8)))

    results = asyncio.run(main())
    assert all(v == want for vals in results for v in vals)
    assert len(seen) == 24 and all(tag == got for tag, got in seen)
    assert fl.get_backend() == "auto"
