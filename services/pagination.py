"""Relay-style cursor pages over a query ordered by id, newest or oldest first."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from services.errors import InvalidInput

MAX_PAGE = 100
_PREFIX = "cursor:"
# Keys are 32-bit (IntField: PostgreSQL `integer`): asyncpg refuses a larger query argument.
_MAX_PK = 2**31 - 1
_CURSOR = re.compile(r"cursor:([1-9][0-9]{0,9})")
_MAX_CURSOR_LENGTH = len(base64.urlsafe_b64encode(f"{_PREFIX}{_MAX_PK}".encode()))

T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True)
class Page(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{pk}".encode()).decode("ascii")


def decode_cursor(cursor: str, field: str) -> int:
    """The key in a cursor this module made; InvalidInput for any other text.

    Only the exact spelling encode_cursor gives is accepted: b64decode alone drops characters
    outside its alphabet and int() reads " 7", "+7", "007" or "1_0", so one key would have
    any number of cursors, and a megabyte of digits would reach int() at all.
    """
    if len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidInput("BAD_CURSOR", field=field)
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidInput("BAD_CURSOR", field=field) from None
    match = _CURSOR.fullmatch(text)
    if match is None:
        raise InvalidInput("BAD_CURSOR", field=field)
    pk = int(match[1])
    if pk > _MAX_PK or encode_cursor(pk) != cursor:
        raise InvalidInput("BAD_CURSOR", field=field)
    return pk


async def page(
    query: QuerySet[T],
    *,
    first: int,
    after: str | None,
    newest_first: bool = True,
) -> Page[T]:
    if first < 1 or first > MAX_PAGE:
        raise InvalidInput("PAGE_SIZE", field="first", params={"max": MAX_PAGE})
    total = await query.count()
    window: Any = query
    if after is not None:
        boundary = decode_cursor(after, "after")
        window = window.filter(id__lt=boundary) if newest_first else window.filter(id__gt=boundary)
    rows = await window.order_by("-id" if newest_first else "id").limit(first + 1)
    edges = [Edge(cursor=encode_cursor(row.pk), node=row) for row in rows[:first]]
    return Page(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )
