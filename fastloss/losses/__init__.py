"""Loss families; each module declares its losses once, with :func:`fastloss._spec.register`."""

from . import (  # noqa: F401
    adversarial,
    classification,
    contrastive,
    linear,
    penalties,
    regression,
)

FAMILIES = ("regression", "classification", "adversarial", "contrastive", "penalties",
            "linear")
