"""services/password_sign_in.py, the parts its other tests leave open (each killed a mutant
that survived them): the email cut that makes the throttle's subject, the known device's
writes in one transaction and their metric, both trips' statements in the connection's SQL
dialect, the attempt forgotten on a new device's path, a remembered device's session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError

from models import Account, FailedAttempt, SecurityEvent, Session
from services import crypto, password_sign_in, remembered_devices, throttle, validation
from services.batches import Statement
from services.errors import InvalidCredentials
from services.runtime import RequestMeta, Runtime
from tests.helpers import PASSWORD, Api

pytestmark = pytest.mark.usefixtures("api")  # the app's lifespan: its database is open

META = RequestMeta(ip_address="203.0.113.9", user_agent="verrou-tests/1.0")


async def account_with_email(rt: Runtime, email: str) -> Account:
    """Written directly: the longest email the column holds, which sign-up's own checks of
    its parts would not all let through."""
    return await Account.create(
        email=email,
        password_hash=await rt.passwords.hash(PASSWORD),
        billing_contact_email="billing@example.com",
        created_at=rt.clock.now(),
    )


async def test_an_email_of_the_longest_length_signs_in(rt: Runtime) -> None:
    longest = "a" * (validation.EMAIL_MAX - len("@example.com")) + "@example.com"
    assert len(longest) == validation.EMAIL_MAX
    await account_with_email(rt, longest)
    issued = await password_sign_in.sign_in(rt, META, email=longest, password=PASSWORD)
    assert isinstance(issued, password_sign_in.IssuedSession)
    assert issued.account.email == longest


async def test_a_longer_email_is_counted_under_its_first_characters_and_one_more(
    rt: Runtime,
) -> None:
    """Cut one character past the longest email: still unknown, still storable, and every
    longer email with those characters counts against the same window."""
    sent = "b" * (validation.EMAIL_MAX + 40) + "@example.com"
    with pytest.raises(InvalidCredentials):
        await password_sign_in.sign_in(rt, META, email=sent, password=PASSWORD)
    cut = sent[: validation.EMAIL_MAX + 1]
    subjects = await FailedAttempt.all().values_list("subject", flat=True)
    assert subjects == [throttle.password_subject(cut)]


async def test_a_known_devices_writes_commit_together_or_not_at_all(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt forgotten, the SIGNED_IN event and the session are one transaction: when
    the session cannot be written, the event is not either and the attempt still counts."""
    await api.sign_up()
    await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    # The next sessions' token is always the same: the second one breaks the unique index.
    taken = crypto.new_token()
    monkeypatch.setattr(password_sign_in, "new_token", lambda: taken)
    await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    events = await SecurityEvent.filter(kind="SIGNED_IN").count()
    with pytest.raises(IntegrityError):
        await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    assert await SecurityEvent.filter(kind="SIGNED_IN").count() == events
    subject = throttle.password_subject("alice@example.com")
    assert await FailedAttempt.filter(subject=subject).count() == 1


async def test_a_known_devices_sign_in_is_counted_as_its_event(api: Api, rt: Runtime) -> None:
    await api.sign_up()
    await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    before = rt.metrics.security_events["SIGNED_IN"]
    await password_sign_in.sign_in(rt, META, email="alice@example.com", password=PASSWORD)
    assert rt.metrics.security_events["SIGNED_IN"] == before + 1


@pytest.mark.parametrize(("dialect", "mark"), [("postgres", "$1"), ("sqlite", "?")])
def test_a_known_devices_statements_are_in_the_connections_dialect(dialect: str, mark: str) -> None:
    account = Account(id=7, email="alice@example.com")
    now = datetime(2026, 12, 2, tzinfo=UTC)
    session = {
        "token_hash": "0" * 64,
        "account_id": 7,
        "created_at": now,
        "expires_at": now,
        "last_seen_at": now,
        "revoked_at": None,
        "ip_address": META.ip_address,
        "user_agent": META.stored_user_agent,
        "remembered_device_id": None,
    }
    batch = password_sign_in._known_device_writes(
        dialect, throttle.Attempt(row_id=3), account, META, session
    )
    answers = {"DELETE": [], "SELECT": [{"found": 1}], "INSERT": 11}
    sent: list[Statement] = []
    statement = next(batch)
    with pytest.raises(StopIteration):
        while True:
            sent.append(statement)
            statement = batch.send(answers[statement.sql.split()[0]])
    assert [s.sql.split()[0] for s in sent] == ["DELETE", "SELECT", "INSERT", "INSERT"]
    assert all(mark in s.sql for s in sent), [s.sql for s in sent]


async def test_a_sign_in_from_a_new_device_no_longer_counts_as_an_attempt(
    api: Api, rt: Runtime
) -> None:
    """The alert's path (a device not seen before) forgets the attempt with the session it
    opens, as the known device's path does."""
    await api.sign_up()
    elsewhere = RequestMeta(ip_address="198.51.100.20", user_agent="Firefox/120.0")
    issued = await password_sign_in.sign_in(
        rt, elsewhere, email="alice@example.com", password=PASSWORD
    )
    assert isinstance(issued, password_sign_in.IssuedSession)
    assert await SecurityEvent.filter(kind="SIGNED_IN", ip_address="198.51.100.20").count() == 1
    subject = throttle.password_subject("alice@example.com")
    assert await FailedAttempt.filter(subject=subject).count() == 0


async def test_a_remembered_devices_session_names_its_device(api: Api, rt: Runtime) -> None:
    """A 2FA account signing in from a remembered device: the session it opens is tied to
    that device (forgetting the device ends it, services.remembered_devices)."""
    await api.sign_up()
    enabled = rt.clock.now() - timedelta(days=2)
    await Account.filter(email="alice@example.com").update(two_factor_enabled_at=enabled)
    account = await Account.get(email="alice@example.com")
    token, device = await remembered_devices.remember(rt, account, META)
    issued = await password_sign_in.sign_in(
        rt, META, email="alice@example.com", password=PASSWORD, device_token=token
    )
    assert isinstance(issued, password_sign_in.IssuedSession)
    stored = await Session.get(id=issued.session.id)
    assert stored.remembered_device_id == issued.session.remembered_device_id == device.id


@pytest.mark.parametrize(("dialect", "mark"), [("postgres", "$1"), ("sqlite", "?")])
def test_the_first_trips_statements_are_in_the_connections_dialect(dialect: str, mark: str) -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    batch = password_sign_in._attempt_and_account(
        dialect, "subject", "alice@example.com", now, timedelta(minutes=15)
    )
    answers: dict[str, Any] = {"INSERT": 5, "SELECT": [{"n": 1}]}
    sent: list[Statement] = []
    statement = next(batch)
    with pytest.raises(StopIteration) as done:
        while True:
            sent.append(statement)
            # The count's row, then no account.
            answer = answers[statement.sql.split()[0]]
            statement = batch.send(answer if len(sent) < 3 else [])
    assert done.value.value == (throttle.Counted(5, 1), None)
    assert [s.sql.split()[0] for s in sent] == ["INSERT", "SELECT", "SELECT"]
    assert all(mark in s.sql for s in sent), [s.sql for s in sent]
