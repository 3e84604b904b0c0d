"""Cold start: ``import fastloss`` and the first call, each in a fresh Python process.

``cache="warm"`` is a user's second session (kernels load from Numba's disk cache);
``cache="none"`` points ``NUMBA_CACHE_DIR`` at an empty folder, so the first call compiles.
"""

from __future__ import annotations

import subprocess
import sys

from ._common import check_backend, get_loss

_SETUP = "import numpy as np; y = np.linspace(-1, 1, 1000); p = np.cos(y)"


def _code(loss, backend, cache):
    pre = ""
    if cache == "none":
        pre = "import os, tempfile; os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp()\n"
    return (pre + "import fastloss\n"
            f"fastloss.{loss}.value_and_grad(y, p, backend={backend!r})\n")


class FirstCall:
    params = [["mse", "log_cosh"], ["serial", "parallel"], ["warm", "none"]]
    param_names = ["loss", "backend", "cache"]
    repeat = (3, 5, 30.0)
    timeout = 180

    def setup(self, loss, backend, cache):
        get_loss(loss)
        check_backend(backend)
        if cache == "warm":  # fill the disk cache once
            subprocess.run([sys.executable, "-c", _SETUP + "\n" + _code(loss, backend, cache)],
                           check=True)

    def timeraw_import_and_first_call(self, loss, backend, cache):
        return _code(loss, backend, cache), _SETUP


def timeraw_import_fastloss():
    return "import fastloss"
