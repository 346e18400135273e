"""Relay global ids: opaque base64 of "TypeName:primary key"."""

from __future__ import annotations

import base64
import binascii
import re

# Primary keys are 32-bit signed integers (IntField: PostgreSQL `integer`); a larger
# number is no id of ours, and asyncpg refuses it as a query argument (a server error).
MAX_PK = 2**31 - 1
# A GraphQL type name, then a key without leading zeros.
_GLOBAL_ID = re.compile(r"([A-Za-z_][A-Za-z0-9_]{0,63}):([1-9][0-9]{0,9})")
_MAX_LENGTH = 128


def to_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, pk), or None for anything that is not one of our ids.

    Only the exact text to_global_id gives is one: b64decode alone drops characters outside
    its alphabet and leading zeros would read as the same key, so one object would have
    many ids (and a cache keyed by id many entries).
    """
    if len(global_id) > _MAX_LENGTH:
        return None
    try:
        text = base64.urlsafe_b64decode(global_id.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError, binascii.Error):
        return None
    match = _GLOBAL_ID.fullmatch(text)
    if match is None:
        return None
    type_name, pk = match[1], int(match[2])
    if pk > MAX_PK or to_global_id(type_name, pk) != global_id:
        return None
    return type_name, pk
