"""fastloss: loss functions (value, gradient, Hessian) as fast, deterministic Numba kernels.

Every loss is an object: ``fastloss.huber(y_true, y_pred)``, ``.grad``,
``.value_and_grad`` (one pass) and ``.grad_hess``. See ``fastloss.info()``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import losses as _losses  # noqa: E402,F401  (registers every loss)
from ._backend import (  # noqa: E402
    BackendUnavailableError,
    get_backend,
    info,
    set_backend,
    use_backend,
)
from ._loss import Loss, make_loss  # noqa: E402
from ._spec import REGISTRY  # noqa: E402
from .losses.penalties import prox_elastic_net, prox_l1  # noqa: E402

for _name, _spec in REGISTRY.items():
    globals()[_name] = make_loss(_spec)
del _name, _spec

LOSSES = tuple(REGISTRY)

__all__ = [
    "BackendUnavailableError",
    "LOSSES",
    "Loss",
    "REGISTRY",
    "get_backend",
    "info",
    "prox_elastic_net",
    "prox_l1",
    "set_backend",
    "use_backend",
    *LOSSES,
]
