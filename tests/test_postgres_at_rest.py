"""At rest on PostgreSQL: the TOTP secret, the backup codes, the session token and the
password appear in no column of any table. The PostgreSQL side of the `sqlite_only` checks
that read the SQLite file (tests/test_setup.py, test_backup_codes_and_disable.py,
test_sessions.py); runs under TEST_DATABASE=postgres only."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest

from services.totp import normalize_code
from tests.conftest import ON_POSTGRES
from tests.helpers import PASSWORD, Api

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="reads the PostgreSQL database: runs under TEST_DATABASE=postgres"
)

EMAIL = "alice@example.com"


async def stored_values(database_url: str) -> list[tuple[str, str, object]]:
    """(table, column, value) for every non-null value of every table of the schema."""
    db = await asyncpg.connect(database_url)
    try:
        tables = [
            row["table_name"]
            for row in await db.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        found: list[tuple[str, str, object]] = []
        for table in tables:
            for row in await db.fetch(f'SELECT * FROM "{table}"'):  # noqa: S608 - catalog names
                found += [(table, column, value) for column, value in row.items() if value]
        return found
    finally:
        await db.close()


def as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


async def test_no_secret_code_token_or_password_is_stored_in_clear(
    api: Api, database_url: str
) -> None:
    token = await api.sign_up(EMAIL)
    enabled = await api.enable_two_factor(token)
    forms = {enabled.secret, enabled.secret.lower(), token, PASSWORD}
    for code in enabled.backup_codes:
        forms |= {code, normalize_code(code), code.upper(), code.replace("-", "").upper()}

    values = await stored_values(database_url)
    texts = [(table, column, as_text(value)) for table, column, value in values]
    # The rows read do hold the account's data, and the session by its digest only.
    assert any(text == EMAIL for _, _, text in texts)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert ("session", "token_hash", digest) in texts
    for table, column, text in texts:
        for form in forms:
            assert form not in text, f"{table}.{column} holds a secret in clear"
