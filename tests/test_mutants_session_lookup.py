"""services/session_lookup.py line by line: which sessions the hand-written statement finds,
at the edges of their lifetimes, with which account, TwoFactor row and backup-code count, and
the PostgreSQL text of the same statement (docs/mutation-testing.md)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from models import Account, BackupCode, Session, TwoFactor
from services import session_lookup
from services.crypto import token_digest
from services.runtime import Runtime
from tests.helpers import Api

EMAIL = "alice@example.com"
HOUR = timedelta(hours=1)


async def lookup(rt: Runtime, token: str, *, idle: timedelta = HOUR) -> Session | None:
    now = rt.clock.now()
    return await session_lookup.live_session(token_digest(token), now, idle_since=now - idle)


async def test_a_live_session_comes_with_its_account_and_no_two_factor(
    api: Api, rt: Runtime
) -> None:
    token = await api.sign_up(EMAIL)
    session = await lookup(rt, token)
    assert session is not None
    stored = await Session.get(token_hash=token_digest(token))
    assert session.id == stored.id
    assert session.token_hash == stored.token_hash
    assert session.expires_at == stored.expires_at
    assert session.account.id == stored.account_id
    assert session.account.email == EMAIL
    assert session.account.two_factor is None
    assert getattr(session, session_lookup.UNUSED_CODES) == 0


async def test_the_sessions_two_factor_row_and_unused_codes_come_with_it(
    api: Api, rt: Runtime
) -> None:
    token = await api.sign_up(EMAIL)
    enabled = await api.enable_two_factor(token)
    account = await Account.get(email=EMAIL)
    await BackupCode.filter(id=(await BackupCode.filter(account_id=account.id).first()).id).update(
        used_at=rt.clock.now()
    )
    # Another account's codes are not this session's.
    await api.enable_two_factor(await api.sign_up("bob@example.com"))

    session = await lookup(rt, token)
    assert session is not None
    two_factor = session.account.two_factor
    stored = await TwoFactor.get(account_id=account.id)
    assert two_factor is not None
    assert two_factor.id == stored.id
    assert two_factor.enabled_at == stored.enabled_at
    # A row whose nullable columns are partly empty is still a row.
    assert two_factor.pending_expires_at is None
    assert getattr(session, session_lookup.UNUSED_CODES) == len(enabled.backup_codes) - 1


async def test_a_pending_setup_is_the_sessions_two_factor_row(api: Api, rt: Runtime) -> None:
    token = await api.sign_up(EMAIL)
    assert (await api.start(token))["errors"] == []
    session = await lookup(rt, token)
    assert session is not None
    assert session.account.two_factor is not None
    assert session.account.two_factor.enabled_at is None


async def test_only_the_tokens_own_session_is_found(api: Api, rt: Runtime) -> None:
    alice = await api.sign_up(EMAIL)
    bob = await api.sign_up("bob@example.com")
    found = await lookup(rt, bob)
    assert found is not None and found.account.email == "bob@example.com"
    assert (await lookup(rt, alice + "x")) is None
    assert (await lookup(rt, alice)) is not None


async def test_a_revoked_session_is_not_found(api: Api, rt: Runtime) -> None:
    token = await api.sign_up(EMAIL)
    await Session.filter(token_hash=token_digest(token)).update(revoked_at=rt.clock.now())
    assert await lookup(rt, token) is None


async def test_a_session_ends_at_its_expiry_instant(api: Api, rt: Runtime) -> None:
    token = await api.sign_up(EMAIL)
    stored = await Session.get(token_hash=token_digest(token))
    rt.clock.set(stored.expires_at - timedelta(seconds=1))
    await Session.filter(id=stored.id).update(last_seen_at=rt.clock.now())
    assert await lookup(rt, token) is not None
    rt.clock.set(stored.expires_at)
    assert await lookup(rt, token) is None


async def test_a_session_last_seen_at_the_idle_limit_is_idle(api: Api, rt: Runtime) -> None:
    token = await api.sign_up(EMAIL)
    stored = await Session.get(token_hash=token_digest(token))
    rt.clock.set(stored.last_seen_at + HOUR - timedelta(seconds=1))
    assert await lookup(rt, token) is not None
    rt.clock.set(stored.last_seen_at + HOUR)
    assert await lookup(rt, token) is None


def test_the_postgres_statement_is_the_sqlite_one_with_numbered_parameters() -> None:
    sqlite = session_lookup._statement("sqlite")
    postgres = session_lookup._statement("postgres")
    assert sqlite.count("?") == 3
    numbered = iter(["$1", "$2", "$3"])
    assert re.sub(r"\?", lambda _: next(numbered), sqlite) == postgres
    assert session_lookup._statement("postgres") is postgres  # built once per dialect


async def test_the_statement_is_the_one_for_the_connections_dialect(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL a statement with `?` placeholders fails outright (the PostgreSQL pass of
    # make test shows it end to end); `make mutation` runs on SQLite, where both texts would
    # work, so the dialect asked for is checked here.
    token = await api.sign_up(EMAIL)
    asked: list[str | None] = []
    statement = session_lookup._statement

    def recording(dialect: str) -> str:
        asked.append(dialect)
        return statement(dialect)

    monkeypatch.setattr(session_lookup, "_statement", recording)
    assert await lookup(rt, token) is not None
    assert asked == [Session._meta.db.capabilities.dialect]
    assert asked[0] in {"sqlite", "postgres"}
