"""``value.<loss>.time_value(backend, dtype, n)`` for every registered loss."""

from ._common import classes_for

globals().update(classes_for("value"))
