"""services/statements.py and the sign-in path built on it: rows written and read by the
hand-written statements are the rows Tortoise's own queries write and read, on each
database, in the caller's transaction when given one; and a sign-in that tells nothing
wakes no mail worker."""

from __future__ import annotations

import contextvars
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models import Account, FailedAttempt, Notification, OutboxEmail, SecurityEvent, Session
from services import (
    accounts,
    password_sign_in,
    session_lookup,
    sign_in_alerts,
    statements,
    throttle,
)
from services.clock import FrozenClock
from services.runtime import RequestMeta, Runtime
from tests.helpers import PASSWORD, Api, with_connection_only

pytestmark = pytest.mark.usefixtures("api")  # the app's lifespan: its database is open

META = RequestMeta(ip_address="203.0.113.9", user_agent="verrou-tests/1.0")


@pytest.fixture(autouse=True)
def written_afresh() -> None:
    """Each statement is written once per process and kept: here it is written again, so
    that what these tests check is what the code writes now (under mutation testing, the
    process that forks each mutant's run has already written them)."""
    for cached in (
        statements._insert,
        statements._whole,
        statements._layout,
        statements._select,
        throttle._count,
        throttle._delete,
        sign_in_alerts._earlier_devices,
        sign_in_alerts._any_sign_in,
        sign_in_alerts._same_request_before,
        session_lookup._statement,
    ):
        cached.cache_clear()


def test_placeholders_are_numbered_for_postgres_and_question_marks_for_sqlite() -> None:
    assert statements.marks("postgres", 3) == ["$1", "$2", "$3"]
    assert statements.marks("sqlite", 2) == ["?", "?"]
    assert statements.marks("postgres", 0) == statements.marks("sqlite", 0) == []


def test_the_columns_of_a_model_plain_and_aliased() -> None:
    # Every column once (Tortoise keeps them in a set: their order is the process's own).
    plain = statements.columns(FailedAttempt).split(", ")
    assert sorted(plain) == ['"created_at"', '"id"', '"subject"']
    aliased = statements.columns(FailedAttempt, "f").split(", ")
    assert sorted(aliased) == [
        'f."created_at" AS "f.created_at"',
        'f."id" AS "f.id"',
        'f."subject" AS "f.subject"',
    ]


def test_the_statements_text_for_each_dialect() -> None:
    names = ("subject", "created_at")
    assert statements._insert(FailedAttempt, names, "sqlite") == (
        'INSERT INTO "failed_attempt" ("subject", "created_at") VALUES (?, ?)'
    )
    assert statements._insert(FailedAttempt, names, "postgres") == (
        'INSERT INTO "failed_attempt" ("subject", "created_at") VALUES ($1, $2) RETURNING "id"'
    )
    # A foreign key is given by its column's field name.
    assert statements._insert(SecurityEvent, ("account_id",), "postgres") == (
        'INSERT INTO "security_event" ("account_id") VALUES ($1) RETURNING "id"'
    )
    assert throttle._count("postgres") == (
        'SELECT COUNT(*) AS "n" FROM "failed_attempt" '
        'WHERE "subject" = $1 AND "created_at" > $2 AND "id" <= $3'
    )
    assert throttle._delete("postgres") == 'DELETE FROM "failed_attempt" WHERE "id" = $1'
    by_email = statements._select(Account, ("email",), "postgres")
    assert (
        by_email == f"SELECT {statements.columns(Account)} " + 'FROM "account" WHERE "email" = $1'
    )
    by_email = statements._select(Account, ("email",), "sqlite")
    assert by_email.endswith('FROM "account" WHERE "email" = ?')
    assert sign_in_alerts._earlier_devices("postgres") == (
        'SELECT DISTINCT "ip_address", "user_agent" FROM "security_event" '
        'WHERE "account_id" = $1 AND "kind" = $2 AND "created_at" > $3'
    )
    selected = statements._select(FailedAttempt, ("subject", "id"), "postgres")
    assert (
        selected
        == " ".join(("SELECT", statements.columns(FailedAttempt), 'FROM "failed_attempt"'))
        + ' WHERE "subject" = $1 AND "id" = $2'
    )
    assert statements._select(SecurityEvent, ("account_id",), "sqlite").endswith(
        'FROM "security_event" WHERE "account_id" = ?'
    )
    for dialect in ("sqlite", "postgres"):  # each written once per dialect, then kept
        assert throttle._count(dialect) is throttle._count(dialect)


async def test_a_created_row_is_the_row_tortoise_reads_back(api: Api, clock: FrozenClock) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    now = clock.now()
    made = await statements.create(
        Session,
        None,
        token_hash="d" * 64,
        account_id=account.id,
        created_at=now,
        expires_at=now + timedelta(hours=1),
        last_seen_at=now,
        revoked_at=None,
        ip_address="203.0.113.9",
        user_agent=None,
        remembered_device_id=None,
    )
    read = await Session.get(token_hash="d" * 64)
    fields = Session._meta.db_fields
    assert {name: getattr(made, name) for name in fields} == {
        name: getattr(read, name) for name in fields
    }
    assert made.id == read.id and made.expires_at == now + timedelta(hours=1)
    assert made._saved_in_db and not made._partial


class PostgresClient:
    """What statements.insert uses of an asyncpg client (through services.batches): its
    dialect, and execute_query_dict, which returns the RETURNING row (a mapping), where
    SQLite's driver gives the new id."""

    class capabilities:  # the attribute Tortoise's clients have
        dialect = "postgres"

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    async def execute_query_dict(self, sql: str, values: list[Any]) -> list[dict[str, Any]]:
        self.sent.append((sql, values))
        return [{"id": 7}] if sql.startswith("INSERT") else []


async def test_on_postgres_the_new_id_comes_from_the_returning_row(clock: FrozenClock) -> None:
    db = PostgresClient()
    new_id = await statements.insert(
        FailedAttempt,
        db,  # type: ignore[arg-type]
        subject="s",
        created_at=clock.now(),
    )
    assert new_id == 7
    [(sql, values)] = db.sent
    assert sql == (
        'INSERT INTO "failed_attempt" ("subject", "created_at") VALUES ($1, $2) RETURNING "id"'
    )
    assert values == ["s", clock.now()]


def event_fields(account_id: int, clock: FrozenClock) -> dict[str, Any]:
    """Every field of a SecurityEvent but its id."""
    return {
        "account_id": account_id,
        "kind": "SIGNED_IN",
        "created_at": clock.now(),
        "ip_address": None,
        "user_agent": None,
    }


async def test_a_row_made_without_one_of_its_fields_is_refused(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    fields = event_fields(account.id, clock)
    del fields["user_agent"]  # Tortoise would make a partial instance
    with pytest.raises(TypeError, match="every field but the id"):
        await statements.create(SecurityEvent, None, **fields)
    assert not await SecurityEvent.filter(ip_address=None).exists()


async def test_an_insert_given_a_connection_is_in_its_transaction(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    outside = contextvars.copy_context()
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            await with_connection_only(
                outside,
                statements.insert(SecurityEvent, connection, **event_fields(account.id, clock)),
            )
            raise RuntimeError("roll back")
    assert not await SecurityEvent.filter(account_id=account.id, ip_address=None).exists()


async def test_the_account_by_email_is_the_account_tortoise_reads(api: Api) -> None:
    await api.sign_up(companyName="ACME")
    found = await accounts.account_by_email("alice@example.com")
    expected = await Account.get(email="alice@example.com")
    assert found is not None
    fields = Account._meta.db_fields
    assert {name: getattr(found, name) for name in fields} == {
        name: getattr(expected, name) for name in fields
    }
    assert await accounts.account_by_email("nobody@example.com") is None


async def test_selected_rows_are_the_rows_tortoise_filters(api: Api, clock: FrozenClock) -> None:
    await api.sign_up()
    await api.sign_in()  # two SIGNED_IN events, and others
    await api.sign_up(email="bob@example.com")  # rows of another account, not selected
    account = await Account.get(email="alice@example.com")
    fields = SecurityEvent._meta.db_fields

    def by_id(rows: list[SecurityEvent]) -> dict[int, dict[str, Any]]:
        return {row.id: {name: getattr(row, name) for name in fields} for row in rows}

    for equal in (
        {"account_id": account.id},
        {"account_id": account.id, "kind": "SIGNED_IN"},
        {"account_id": account.id, "kind": "NO_SUCH_KIND"},
    ):
        found = await statements.select(SecurityEvent, None, **equal)
        expected = await SecurityEvent.filter(**equal)
        assert all(type(row) is SecurityEvent for row in found)
        assert by_id(found) == by_id(expected)
    signed_in = await statements.select(
        SecurityEvent, None, account_id=account.id, kind="SIGNED_IN"
    )
    assert len(signed_in) == 2
    with pytest.raises(TypeError, match=r"^statements\.select needs at least one field to match$"):
        await statements.select(SecurityEvent, None)


async def test_a_select_on_postgres_numbers_its_placeholders() -> None:
    db = PostgresClient()
    found = await statements.select(FailedAttempt, db, subject="s", id=3)  # type: ignore[arg-type]
    assert found == []
    [(sql, values)] = db.sent
    assert sql.endswith('FROM "failed_attempt" WHERE "subject" = $1 AND "id" = $2')
    assert values == ["s", 3]


async def test_a_select_given_a_connection_reads_its_transaction(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    before = len(await statements.select(SecurityEvent, None, account_id=account.id))
    outside = contextvars.copy_context()
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            await SecurityEvent.create(**event_fields(account.id, clock), using_db=connection)
            # Only the connection passed leads there (else: outside it, or the lock's wait).
            read = statements.select(SecurityEvent, connection, account_id=account.id)
            inside = await with_connection_only(outside, read)
            assert len(inside) == before + 1
            raise RuntimeError("roll back")
    assert len(await statements.select(SecurityEvent, None, account_id=account.id)) == before


async def test_a_successful_attempt_goes_with_the_change_it_is_given(rt: Runtime) -> None:
    kept = await throttle.begin_attempt(rt, "kept")
    gone = await throttle.begin_attempt(rt, "gone")
    outside = contextvars.copy_context()
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            await with_connection_only(outside, kept.succeeded(connection))
            raise RuntimeError("the change rolls back")
    async with in_transaction() as connection:
        await with_connection_only(outside, gone.succeeded(connection))
    # A sign-in whose session was not written still counts as an attempt.
    assert await FailedAttempt.filter(subject="kept").count() == 1
    assert await FailedAttempt.filter(subject="gone").count() == 0


async def test_a_sign_in_from_a_known_device_wakes_no_mail_worker(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.sign_up()
    await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    wakes: list[None] = []
    wake = rt.mail_ready.set

    def counted() -> None:
        wakes.append(None)
        wake()

    monkeypatch.setattr(rt.mail_ready, "set", counted)
    # The same device again: nothing to tell, no email queued, so no pass of the worker.
    await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    assert wakes == []
    # A new device is told, by email too: the worker is woken for it.
    elsewhere = RequestMeta(ip_address="198.51.100.20", user_agent="Firefox/120.0")
    await password_sign_in.sign_in(rt, elsewhere, email="alice@example.com", password=PASSWORD)
    assert len(wakes) == 1
    assert await Notification.filter(kind="NEW_SIGN_IN").count() == 1
    assert await OutboxEmail.filter(recipient="alice@example.com").exists()
