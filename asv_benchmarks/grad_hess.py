"""``grad_hess.<loss>.time_grad_hess(backend, dtype, n)`` for every registered loss."""

from ._common import classes_for

globals().update(classes_for("grad_hess"))
