"""What the performance history records: ``history.<loss>.track_<op>(backend, n)`` for every
loss, ``value`` and ``value_and_grad``, serial and parallel, float64, at a cache-sized
(1e5 elements: 0.8 MB an array) and a memory-sized n (1e6: 8 MB an array, past the L2).

Each returns the *minimum* wall time of one call over a few samples (seconds): the history
is measured one commit after another, minutes apart, on a shared machine, where the minimum
moves far less with the load than the median (see ``gate.py``). Wall time, not CPU time, so
that the parallel backend is measured as a user sees it. ``tools/asv_history.py`` runs these
over main's history and publishes the dashboard.
"""

from __future__ import annotations

import time

from ._common import bind, check_backend, get_loss, loss_names, make_inputs

SIZES = [100_000, 1_000_000]
BACKENDS = ["serial", "parallel"]
SAMPLES = 20
SAMPLE_TIME = 0.01  # seconds per sample (calls repeated within a sample up to this)


def min_wall_time(fn) -> float:
    """Minimum over ``SAMPLES`` samples of the mean wall time of one call (seconds)."""
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(SAMPLE_TIME / one))
    best = float("inf")
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _make(name):
    def setup(self, backend, n):
        loss, spec = get_loss(name)
        check_backend(backend)
        args, params = make_inputs(spec, n, "float64")
        self.fns = {
            op: bind(loss, spec, op, args, params, backend) for op in ("value", "value_and_grad")
        }
        for fn in self.fns.values():
            fn()  # compile (or load from Numba's disk cache) outside the timing

    def _track(op):
        def track(self, backend, n):
            return min_wall_time(self.fns[op])

        track.__name__ = f"track_{op}"
        track.unit = "seconds"
        return track

    return type(
        name,
        (),
        {
            "params": [BACKENDS, SIZES],
            "param_names": ["backend", "n"],
            "setup": setup,
            "track_value": _track("value"),
            "track_value_and_grad": _track("value_and_grad"),
            "rounds": 1,
            "timeout": 120,
            "__module__": __name__,
        },
    )


globals().update({name: _make(name) for name in loss_names()})
