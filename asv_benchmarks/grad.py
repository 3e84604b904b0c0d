"""``grad.<loss>.time_grad(backend, dtype, n)`` for every registered loss."""

from ._common import classes_for

globals().update(classes_for("grad"))
