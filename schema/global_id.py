"""Relay global ids: opaque base64 of "TypeName:primary key"."""

from __future__ import annotations

import base64
import binascii


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, pk), or None for anything that is not one of our ids."""
    try:
        text = base64.urlsafe_b64decode(global_id.encode("ascii")).decode("ascii")
        type_name, _, pk = text.partition(":")
        return (type_name, int(pk)) if type_name and pk.isdigit() else None
    except (ValueError, UnicodeError, binascii.Error):
        return None
