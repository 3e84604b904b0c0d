"""Loss families; each module declares its losses once, with :func:`fastloss._spec.register`."""

from . import classification, regression  # noqa: F401

FAMILIES = ("regression", "classification")
