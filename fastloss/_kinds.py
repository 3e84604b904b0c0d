"""Which Loss class serves each non-pointwise kind of spec (filled by the family modules)."""

from __future__ import annotations

BASES: dict = {}


def base_for(spec):
    try:
        return BASES[spec.kind]
    except KeyError:
        raise RuntimeError(f"no Loss class for kind {spec.kind!r} (loss {spec.name!r})") from None
