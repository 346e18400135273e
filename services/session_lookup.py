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

import functools
from datetime import datetime

from tortoise.models import Model

from models import Account, Session, TwoFactor
from services.sqlite_client import ReaderSqliteClient
from services.statements import columns, instance

# The attribute of the returned Session holding the count of unused backup codes.
UNUSED_CODES = "backup_codes_remaining"
_PARTS: tuple[tuple[str, type[Model]], ...] = (("s", Session), ("a", Account), ("t", TwoFactor))


@functools.cache
def _statement(dialect: str) -> str:
    token, now, idle = ("$1", "$2", "$3") if dialect == "postgres" else ("?", "?", "?")
    selected = ", ".join(columns(model, alias) for alias, model in _PARTS)
    # Only column names of our own models and placeholders go into the text; the token
    # digest and the time are bound parameters.
    return (
        f"SELECT {selected}, "  # noqa: S608
        '(SELECT COUNT(*) FROM "backup_code" b '
        'WHERE b."account_id" = s."account_id" AND b."used_at" IS NULL) AS "unused" '
        'FROM "session" s JOIN "account" a ON a."id" = s."account_id" '
        'LEFT JOIN "two_factor" t ON t."account_id" = s."account_id" '
        f'WHERE s."token_hash" = {token} AND s."revoked_at" IS NULL AND s."expires_at" > {now} '
        f'AND s."last_seen_at" > {idle} '
        "LIMIT 1"
    )


async def live_session(token_digest: str, now: datetime, *, idle_since: datetime) -> Session | None:
    """Not revoked, within its absolute lifetime (expires_at) and used since `idle_since`."""
    db = Session._meta.db
    field = Session._meta.fields_map["expires_at"]
    values = [token_digest, field.to_db_value(now, Session), field.to_db_value(idle_since, Session)]
    statement = _statement(db.capabilities.dialect)
    # On SQLite, read on the loop's thread when it can be (services/sqlite_client.py).
    rows = db.read_now(statement, values) if isinstance(db, ReaderSqliteClient) else None
    if rows is None:
        rows = await db.execute_query_dict(statement, values)
    if not rows:
        return None
    row = rows[0]
    session = instance(Session, row, "s")
    account = instance(Account, row, "a")
    object.__setattr__(session, "_account", account)
    object.__setattr__(account, "_two_factor", instance(TwoFactor, row, "t"))
    object.__setattr__(session, UNUSED_CODES, int(row["unused"]))
    return session
