"""Emails of 2FA changes through the running app: the outbox worker of its lifespan, a
real SMTP server, outages, a slow server, and a restart."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from models import OutboxEmail
from server import create_app
from services.clock import FrozenClock
from services.outbox import LEASE
from services.settings import Settings
from tests.conftest import mail_settings_for, make_settings, start
from tests.helpers import PASSWORD, Api, until
from tests.smtp_server import SmtpServer

# Security emails go to the account email (a billing contact only once verified).
HOLDER = "alice@example.com"
REGENERATE = """
mutation R($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) { errors { code } }
}
"""


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(
        db_path,
        tmp_path / "var",
        smtp,
        outbox_poll_seconds=0.05,
    )


@contextlib.asynccontextmanager
async def run_app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    """An app for the block; its lifespan ends with the block even when the block fails
    (a generator left open would keep Tortoise's global context for the next test)."""
    async with contextlib.aclosing(start(create_app(settings, clock=clock))) as clients:
        async for client in clients:
            yield Api(client, clock)


async def test_enabling_two_factor_emails_the_account_holder(api: Api, smtp: SmtpServer) -> None:
    await api.enable_two_factor(await api.sign_up(locale="EN"))
    await until(lambda: len(smtp.envelopes) == 1)
    envelope = smtp.envelopes[0]
    assert envelope.rcpt_tos == [HOLDER]
    assert envelope.mail_from == "no-reply@verrou.example"
    message = email.message_from_bytes(
        envelope.original_content or b"", policy=email.policy.default
    )
    assert message.get_content_type() == "multipart/alternative"
    assert str(message["Subject"]) == "Two-factor authentication turned on for your account"


async def test_an_smtp_outage_delays_the_email_but_loses_nothing(
    api: Api, smtp: SmtpServer, clock: FrozenClock
) -> None:
    smtp.stop()
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    assert len(enabled.backup_codes) == 10  # the change itself went through
    await until_attempted(1)

    smtp.start()
    clock.advance(10)  # past the first retry's back-off
    await until(lambda: len(smtp.envelopes) == 1)
    # The server has the message a moment before the worker records it as sent.
    for _ in range(500):
        row = await OutboxEmail.get()
        if row.sent_at is not None:
            break
        await asyncio.sleep(0.01)
    assert row.sent_at is not None
    assert row.attempts == 1


async def test_a_slow_smtp_server_never_holds_up_a_mutation(api: Api, smtp: SmtpServer) -> None:
    smtp.hold = threading.Event()
    token = await api.sign_up()
    await api.enable_two_factor(token)
    await until_claimed()  # the worker is now stuck talking to the server

    # The server has answered nothing, and yet the next change completes.
    regenerated = await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token)
    assert regenerated["regenerateBackupCodes"]["errors"] == []
    assert smtp.envelopes == []

    smtp.hold.set()
    await until(lambda: len(smtp.envelopes) == 2)


async def test_a_fresh_app_sends_what_a_stopped_one_left(
    settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    smtp.stop()
    async with run_app(settings, clock) as first:
        await first.enable_two_factor(await first.sign_up())
        await until_attempted(1)
    assert smtp.envelopes == []

    smtp.start()
    # Past the back-off, and past a lease the stopped worker may have left: enable_two_factor
    # moves the clock 30 s, so the row can be due again at once, and shutdown may cancel
    # the worker between claiming it and recording that attempt.
    clock.advance((LEASE + timedelta(seconds=10)).total_seconds())
    async with run_app(settings, clock):
        await until(lambda: len(smtp.envelopes) == 1)
    assert smtp.message_ids().most_common(1)[0][1] == 1


async def test_without_smtp_host_emails_are_written_as_eml_files(
    db_path: Path, tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="verrou")
    settings = make_settings(db_path, tmp_path / "var", outbox_poll_seconds=0.05)
    mail_dir = tmp_path / "var" / "mail"
    async with run_app(settings, clock) as api:
        await api.enable_two_factor(await api.sign_up())
        # The worker logs where it wrote the file once the file is complete.
        await until(lambda: ".eml" in caplog.text)
    (written,) = mail_dir.glob("*.eml")
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert message["To"] == HOLDER
    assert str(written) in caplog.text


async def until_attempted(attempts: int) -> None:
    for _ in range(500):
        if await OutboxEmail.filter(attempts__gte=attempts).exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker never tried to send")


async def until_claimed() -> None:
    for _ in range(500):
        if await OutboxEmail.filter(locked_until__isnull=False).exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the worker never claimed the email")
