"""Relay global ids: opaque base64 of "TypeName:primary key"."""

from __future__ import annotations

import base64
import binascii

# Primary keys are 64-bit signed in every database; a larger number is no id of ours.
MAX_PK = 2**63 - 1


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, pk), or None for anything that is not one of our ids."""
    try:
        text = base64.urlsafe_b64decode(global_id.encode("ascii")).decode("ascii")
        type_name, _, digits = text.partition(":")
        if not type_name or not digits.isdigit():
            return None
        pk = int(digits)
        return (type_name, pk) if 0 < pk <= MAX_PK else None
    except (ValueError, UnicodeError, binascii.Error):
        return None
