"""The statement that signs every request in: the live session of a token digest, with its
account, the account's TwoFactor row and the count of its unused backup codes.

Written out by hand once per SQL dialect instead of built by Tortoise on each call: pypika
assembling this query (two joins and a sub-select) cost more CPU than all that GraphQL does
for `twoFactorStatus` (profiled; bench/README.md). The rows still become the model
instances Tortoise would make (`Model._init_from_db`, related objects attached where its
`select_related` attaches them), so callers cannot tell the difference; on SQLite, whose
rows hold times as text, the times are read by `datetime.fromisoformat` first (Tortoise's
pure-Python ISO 8601 parser cost more than the rest of the request's GraphQL work).
"""

from __future__ import annotations

import contextlib
import functools
from datetime import datetime
from typing import Any

from tortoise.fields import DatetimeField
from tortoise.models import Model

from models import Account, Session, TwoFactor

# The attribute of the returned Session holding the count of unused backup codes.
UNUSED_CODES = "backup_codes_remaining"
_PARTS: tuple[tuple[str, type[Model]], ...] = (("s", Session), ("a", Account), ("t", TwoFactor))


def _columns(alias: str, model: type[Model]) -> list[str]:
    return [f'{alias}."{column}" AS "{alias}.{column}"' for column in model._meta.db_fields]


@functools.cache
def _statement(dialect: str) -> str:
    token, now, idle = ("$1", "$2", "$3") if dialect == "postgres" else ("?", "?", "?")
    columns = ", ".join(column for alias, model in _PARTS for column in _columns(alias, model))
    # Only column names of our own models and placeholders go into the text; the token
    # digest and the time are bound parameters.
    return (
        f"SELECT {columns}, "  # noqa: S608
        '(SELECT COUNT(*) FROM "backup_code" b '
        'WHERE b."account_id" = s."account_id" AND b."used_at" IS NULL) AS "unused" '
        'FROM "session" s JOIN "account" a ON a."id" = s."account_id" '
        'LEFT JOIN "two_factor" t ON t."account_id" = s."account_id" '
        f'WHERE s."token_hash" = {token} AND s."revoked_at" IS NULL AND s."expires_at" > {now} '
        f'AND s."last_seen_at" > {idle} '
        "LIMIT 1"
    )


@functools.cache
def _layout(model: type[Model], alias: str) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    """(row key, column) of each column of the model, and its datetime columns."""
    columns = tuple((f"{alias}.{column}", column) for column in model._meta.db_fields)
    times = frozenset(
        key for key, _, field in model._meta.db_complex_fields if isinstance(field, DatetimeField)
    )
    return columns, times


def _instance(model: type[Model], alias: str, row: dict[str, Any]) -> Any:
    columns, times = _layout(model, alias)
    values = {column: row[key] for key, column in columns}
    if all(value is None for value in values.values()):
        return None  # the LEFT JOIN found no row
    for column in times:
        text = values[column]
        if isinstance(text, str):
            with contextlib.suppress(ValueError):  # else Tortoise's own parser reads it
                values[column] = datetime.fromisoformat(text)
    return model._init_from_db(**values)


async def live_session(token_digest: str, now: datetime, *, idle_since: datetime) -> Session | None:
    """Not revoked, within its absolute lifetime (expires_at) and used since `idle_since`."""
    db = Session._meta.db
    field = Session._meta.fields_map["expires_at"]
    values = [token_digest, field.to_db_value(now, Session), field.to_db_value(idle_since, Session)]
    rows = await db.execute_query_dict(_statement(db.capabilities.dialect), values)
    if not rows:
        return None
    row = rows[0]
    session: Session = _instance(Session, "s", row)
    account: Account = _instance(Account, "a", row)
    object.__setattr__(session, "_account", account)
    object.__setattr__(account, "_two_factor", _instance(TwoFactor, "t", row))
    object.__setattr__(session, UNUSED_CODES, int(row["unused"]))
    return session
