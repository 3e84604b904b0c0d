"""``value_and_grad.<loss>.time_value_and_grad(backend, dtype, n)`` for every registered loss."""

from ._common import classes_for

globals().update(classes_for("value_and_grad"))
