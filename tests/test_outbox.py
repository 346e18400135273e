"""The mail worker against a real SMTP server (aiosmtpd) and a real database."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from models import Account, OutboxEmail
from services import emails
from services.clock import FrozenClock
from services.outbox import (
    FileTransport,
    OutboxWorker,
    SmtpTransport,
    failed_count,
    pending_count,
    transport_for,
)
from services.runtime import RequestMeta, Runtime
from services.settings import Settings
from tests.conftest import T0, free_port, make_settings
from tests.helpers import Api
from tests.smtp_server import SmtpServer

# Security emails go to the account email (a billing contact only once verified).
HOLDER = "alice@example.com"
META = RequestMeta(ip_address="203.0.113.7")


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return make_settings(
        db_path,
        tmp_path / "var",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout_seconds=5,
        mail_from="Verrou <no-reply@verrou.example>",
        outbox_worker=False,
        outbox_poll_seconds=3600,
        # The worker's tests queue a dozen emails of one kind at once: above the relay limit
        # (tested in tests/test_mail_relay.py).
        mail_limit_per_kind=50,
    )


@pytest.fixture
def worker(rt: Runtime, settings: Settings) -> OutboxWorker:
    return OutboxWorker(rt, SmtpTransport(settings))


async def queue(api: Api, rt: Runtime, count: int = 1) -> list[OutboxEmail]:
    if not await Account.exists(email="alice@example.com"):
        await api.sign_up("alice@example.com")
    account = await Account.get(email="alice@example.com")
    # One row each: the account email (no other contact is verified).
    return [
        (await emails.enqueue(rt, account, "TWO_FACTOR_ENABLED", META, {}))[0] for _ in range(count)
    ]


async def test_an_email_is_delivered_once_to_the_account_holder(
    api: Api, rt: Runtime, worker: OutboxWorker, smtp: SmtpServer
) -> None:
    (row,) = await queue(api, rt)
    assert await pending_count() == 1

    assert await worker.deliver_due() == 1
    assert await worker.deliver_due() == 0

    (envelope,) = smtp.envelopes
    assert envelope.mail_from == "no-reply@verrou.example"
    assert envelope.rcpt_tos == [HOLDER]
    assert smtp.message_ids() == {row.message_id: 1}
    await row.refresh_from_db()
    assert (row.sent_at, row.locked_until, row.attempts) == (T0, None, 0)
    assert await pending_count() == 0


async def test_smtp_down_retries_in_5_seconds_then_delivers(
    api: Api, rt: Runtime, worker: OutboxWorker, smtp: SmtpServer, clock: FrozenClock
) -> None:
    (row,) = await queue(api, rt)
    smtp.stop()

    assert await worker.deliver_due() == 0
    await row.refresh_from_db()
    assert (row.attempts, row.sent_at, row.locked_until) == (1, None, None)
    assert row.next_attempt_at == T0 + timedelta(seconds=5)
    assert row.last_error is not None and row.last_error.startswith("SMTP")
    assert "203.0.113.7" not in row.last_error and "acme" not in row.last_error

    smtp.start()
    assert await worker.deliver_due() == 0  # not due yet
    clock.advance(4)
    assert await worker.deliver_due() == 0
    clock.advance(1)
    assert await worker.deliver_due() == 1
    assert smtp.message_ids() == {row.message_id: 1}
    await row.refresh_from_db()
    assert (row.attempts, row.sent_at) == (1, T0 + timedelta(seconds=5))


async def test_backoff_doubles_and_stops_at_ten_minutes(
    api: Api, rt: Runtime, worker: OutboxWorker, smtp: SmtpServer, clock: FrozenClock
) -> None:
    (row,) = await queue(api, rt)
    smtp.stop()

    delays = []
    for _ in range(9):
        assert await worker.deliver_due() == 0
        await row.refresh_from_db()
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    assert delays == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert row.attempts == 9 and row.failed_at is None


async def test_after_24_hours_it_gives_up_and_logs_no_content(
    api: Api,
    rt: Runtime,
    worker: OutboxWorker,
    smtp: SmtpServer,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (row,) = await queue(api, rt)
    smtp.stop()
    clock.advance(24 * 3600 - 1)
    assert await worker.deliver_due() == 0
    await row.refresh_from_db()
    assert row.failed_at is None and row.attempts == 1

    clock.set(row.next_attempt_at)
    with caplog.at_level(logging.INFO, logger="verrou.outbox"):
        assert await worker.deliver_due() == 0
    given_up = await OutboxEmail.get(id=row.id)
    assert (given_up.failed_at, given_up.attempts, given_up.locked_until) == (clock.now(), 2, None)
    assert (await pending_count(), await failed_count()) == (0, 1)

    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    line = error.getMessage()
    assert row.message_id in line and "a recipient at example.com" in line
    for content in ("alice@", "203.0.113.7", "alice@example.com", row.subject, "Subject"):
        assert content not in line

    smtp.start()
    clock.advance(3600)
    assert await worker.deliver_due() == 0
    assert smtp.envelopes == []


async def test_two_workers_at_once_send_each_message_exactly_once(
    api: Api, rt: Runtime, settings: Settings, smtp: SmtpServer
) -> None:
    rows = await queue(api, rt, count=12)
    workers = [OutboxWorker(rt, SmtpTransport(settings)) for _ in range(3)]

    sent = await asyncio.gather(*(w.deliver_due() for w in workers))

    assert sum(sent) == 12
    assert smtp.message_ids() == {row.message_id: 1 for row in rows}
    assert await pending_count() == 0


async def test_a_row_leased_by_another_worker_waits_for_the_lease_to_pass(
    api: Api, rt: Runtime, worker: OutboxWorker, smtp: SmtpServer, clock: FrozenClock
) -> None:
    (row,) = await queue(api, rt)
    await OutboxEmail.filter(id=row.id).update(locked_until=T0 + timedelta(minutes=5))

    assert await worker.deliver_due() == 0
    clock.advance(5 * 60)
    assert await worker.deliver_due() == 0
    clock.advance(1)
    assert await worker.deliver_due() == 1
    assert smtp.message_ids() == {row.message_id: 1}


async def test_login_is_sent_when_a_username_is_set(
    api: Api, rt: Runtime, settings: Settings
) -> None:
    server = SmtpServer(free_port(), with_auth=True)
    server.start()
    try:
        authenticated = settings.model_copy(
            update={
                "smtp_port": server.port,
                "smtp_username": "mailer",
                "smtp_password": SecretStr("s3cret"),
            }
        )
        (row,) = await queue(api, rt)
        assert await OutboxWorker(rt, SmtpTransport(authenticated)).deliver_due() == 1
    finally:
        server.stop()
    assert server.logins == [(b"mailer", b"s3cret")]
    assert server.message_ids() == {row.message_id: 1}


async def test_file_transport_writes_a_parseable_eml_and_logs_its_path(
    api: Api, rt: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (row,) = await queue(api, rt)
    directory = tmp_path / "mail"

    with caplog.at_level(logging.INFO, logger="verrou.outbox"):
        assert await OutboxWorker(rt, FileTransport(directory)).deliver_due() == 1

    path = directory / f"20261125T120000-{row.id}.eml"
    message = email.message_from_string(path.read_text(), policy=email.policy.default)
    assert message["Message-ID"] == row.message_id and message["To"] == HOLDER
    assert f"wrote email {row.message_id} to {path}" in caplog.messages


def test_smtp_is_used_when_a_host_is_set(settings: Settings) -> None:
    assert isinstance(transport_for(settings), SmtpTransport)
    local = transport_for(settings.model_copy(update={"smtp_host": None}))
    assert isinstance(local, FileTransport)
    assert local.directory == settings.var_dir / "mail"


async def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"still false after {seconds} s")


async def test_run_wakes_up_when_mail_is_ready(
    api: Api, rt: Runtime, worker: OutboxWorker, smtp: SmtpServer
) -> None:
    rt.mail_ready.set()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: not rt.mail_ready.is_set())  # the first pass has begun
        await asyncio.sleep(0.1)
        (row,) = await queue(api, rt)
        rt.mail_ready.set()
        # The poll interval is an hour: only the event can bring the worker back this soon.
        await wait_for(lambda: smtp.message_ids() == {row.message_id: 1})
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BrokenOnce:
    """A transport whose first send fails with a bug, not a delivery error."""

    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner
        self.calls = 0

    async def send(self, row: OutboxEmail) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("unexpected")
        await self.inner.send(row)


async def test_run_survives_a_failed_pass_and_the_lease_frees_the_row(
    api: Api,
    rt: Runtime,
    settings: Settings,
    smtp: SmtpServer,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (row,) = await queue(api, rt)
    transport = BrokenOnce(SmtpTransport(settings))
    task = asyncio.create_task(OutboxWorker(rt, transport).run())
    try:
        await wait_for(lambda: any(r.levelno == logging.ERROR for r in caplog.records))
        assert caplog.records[-1].exc_info is not None
        clock.advance(5 * 60 + 1)
        rt.mail_ready.set()
        await wait_for(lambda: smtp.message_ids() == {row.message_id: 1})
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert transport.calls == 2


class SwallowsCancellation:
    """A send that ends normally although the worker was cancelled meanwhile, as aiosmtplib's
    does on Python 3.11 when the cancellation arrives with the server's reply (its
    asyncio.wait_for returns the reply and drops the cancellation)."""

    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner
        self.replied = asyncio.Event()

    async def send(self, row: OutboxEmail) -> None:
        await self.inner.send(row)
        self.replied.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


async def test_run_stops_when_a_send_swallowed_its_cancellation(
    api: Api, rt: Runtime, settings: Settings, smtp: SmtpServer
) -> None:
    (row,) = await queue(api, rt)
    transport = SwallowsCancellation(SmtpTransport(settings))
    task = asyncio.create_task(OutboxWorker(rt, transport).run())
    try:
        await asyncio.wait_for(transport.replied.wait(), 10)
        task.cancel()
        # The poll interval is an hour: a worker that went back to waiting is still there.
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done == {task} and task.cancelled()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # It stopped after recording the send, so the message is not sent again.
    await row.refresh_from_db()
    assert (row.sent_at, row.locked_until) == (T0, None)
    assert smtp.message_ids() == {row.message_id: 1}
