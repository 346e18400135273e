"""services/statements.py and the sign-in path built on it: rows written and read by the
hand-written statements are the rows Tortoise's own queries write and read, on each
database, in the caller's transaction when given one; and a sign-in that tells nothing
wakes no mail worker."""

from __future__ import annotations

import contextvars
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from models import Account, FailedAttempt, Notification, OutboxEmail, SecurityEvent, Session
from services import accounts, statements, throttle
from services.clock import FrozenClock
from services.runtime import RequestMeta, Runtime
from tests.helpers import PASSWORD, Api, with_connection_only

pytestmark = pytest.mark.usefixtures("api")  # the app's lifespan: its database is open

META = RequestMeta(ip_address="203.0.113.9", user_agent="verrou-tests/1.0")


@pytest.fixture
def rt(app: Starlette) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


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


async def test_a_row_made_without_one_of_its_fields_is_refused(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    with pytest.raises(TypeError, match="every field but the id"):
        await statements.create(  # no user_agent: Tortoise would make a partial instance
            SecurityEvent,
            None,
            account_id=account.id,
            kind="SIGNED_IN",
            created_at=clock.now(),
            ip_address=None,
        )
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
                statements.insert(
                    SecurityEvent,
                    connection,
                    account_id=account.id,
                    kind="SIGNED_IN",
                    created_at=clock.now(),
                    ip_address=None,
                    user_agent=None,
                ),
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
    await accounts.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    wakes: list[None] = []
    wake = rt.mail_ready.set

    def counted() -> None:
        wakes.append(None)
        wake()

    monkeypatch.setattr(rt.mail_ready, "set", counted)
    # The same device again: nothing to tell, no email queued, so no pass of the worker.
    await accounts.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    assert wakes == []
    # A new device is told, by email too: the worker is woken for it.
    elsewhere = RequestMeta(ip_address="198.51.100.20", user_agent="Firefox/120.0")
    await accounts.sign_in(rt, elsewhere, email="alice@example.com", password=PASSWORD)
    assert len(wakes) == 1
    assert await Notification.filter(kind="NEW_SIGN_IN").count() == 1
    assert await OutboxEmail.filter(recipient="alice@example.com").exists()
