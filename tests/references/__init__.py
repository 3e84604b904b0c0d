"""Independent NumPy references, written apart from the kernels.

Each module here defines ``REFERENCES`` (loss name -> function of the same call shape as
the loss, returning the per-element values before reduction, or whatever its docstring
says) and ``HAND_VALUES`` (loss name -> list of (args, params, expected) checked by hand).
Every module in this package is collected automatically.
"""

import importlib
import pkgutil

REFERENCES: dict = {}
HAND_VALUES: dict = {}

for _m in pkgutil.iter_modules(__path__):
    _mod = importlib.import_module(f"{__name__}.{_m.name}")
    REFERENCES.update(getattr(_mod, "REFERENCES", {}))
    HAND_VALUES.update(getattr(_mod, "HAND_VALUES", {}))
