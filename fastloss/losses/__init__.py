"""Loss families; each module declares its losses once, with :func:`fastloss._spec.register`."""

from . import adversarial, classification, contrastive, penalties, regression  # noqa: F401

FAMILIES = ("regression", "classification", "adversarial", "contrastive", "penalties")
