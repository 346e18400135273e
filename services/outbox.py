"""The mail worker: delivers the outbox with retries and back-off, safely from many processes.

A row is claimed with a conditional UPDATE that sets a lease (`locked_until`); only the worker
whose UPDATE changed the row sends it, so two workers never send one message at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from tortoise.expressions import Q

from models import OutboxEmail
from services.emails import mail_from_address
from services.runtime import Runtime
from services.settings import Settings
from services.var_files import write_private

logger = logging.getLogger("verrou.outbox")

# Far longer than a send can take (each SMTP step is bounded by SMTP_TIMEOUT_SECONDS), so a
# lease never runs out while its worker is still sending.
LEASE = timedelta(minutes=5)
GIVE_UP_AFTER = timedelta(hours=24)
FIRST_BACKOFF_SECONDS = 5
MAX_BACKOFF_SECONDS = 600
BATCH = 20
# What a failed send raises. TimeoutError, asyncio's included, is an OSError.
DELIVERY_ERRORS = (aiosmtplib.SMTPException, OSError)


class Transport(Protocol):
    async def send(self, row: OutboxEmail) -> None: ...


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, row: OutboxEmail) -> None:
        settings = self._settings
        password = settings.smtp_password
        await aiosmtplib.send(
            row.message.encode(),
            sender=mail_from_address(settings.mail_from),
            recipients=[row.recipient],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password.get_secret_value() if password else None,
            use_tls=settings.smtp_tls == "tls",
            # False, not None, for "none": None would upgrade whenever the server offers it.
            start_tls=settings.smtp_tls == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )


class FileTransport:
    """Writes each email to a .eml file: development without an SMTP server."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, row: OutboxEmail) -> None:
        path = self.directory / f"{row.created_at:%Y%m%dT%H%M%S}-{row.id}.eml"
        await asyncio.to_thread(self._write, path, row.message)
        logger.info("wrote email %s to %s", row.message_id, path)

    @staticmethod
    def _write(path: Path, message: str) -> None:
        # 0600 in a 0700 folder: an email carries links that act on the account.
        write_private(path, message)


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.var_dir / "mail")


def backoff_seconds(attempts: int) -> int:
    """5 s after the first failure, doubling, at most 10 minutes."""
    return min(FIRST_BACKOFF_SECONDS * (1 << (attempts - 1)), MAX_BACKOFF_SECONDS)


def describe(error: BaseException) -> str:
    """The error's class and codes only: its text may quote the message or the login."""
    parts = [type(error).__name__]
    code = getattr(error, "code", None)
    if isinstance(code, int):
        parts.append(f"SMTP {code}")
    if isinstance(error, OSError) and error.errno is not None:
        parts.append(f"errno {error.errno}")
    return " ".join(parts)[:500]


def _due(now: datetime) -> Q:
    return Q(sent_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=now) & (
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )


def _stop_if_cancelled() -> None:
    """Stop the task whose cancellation an awaited library swallowed.

    On Python 3.11 aiosmtplib's asyncio.wait_for returns the server's reply and drops the
    cancellation when both arrive together: the send then ends normally, and a worker that
    went on to wait for mail would outlive its cancel (shutdown waiting on it for good). The
    task still counts the request, so it is honoured here, between rows, where stopping
    leaves no message half recorded.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "?"


class OutboxWorker:
    def __init__(self, rt: Runtime, transport: Transport) -> None:
        self._rt = rt
        self._transport = transport

    async def run(self) -> None:
        """Deliver until cancelled: at once when `mail_ready` is set, else every poll interval."""
        ready = self._rt.mail_ready
        while True:
            ready.clear()
            try:
                while await self.deliver_due(BATCH) == BATCH:
                    pass
            except Exception:
                # A database hiccup must not end delivery for the life of the process.
                logger.exception("mail worker pass failed; trying again later")
            _stop_if_cancelled()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that stops the worker when it races the event (seen in tests:
            # shutdown then waits forever).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._rt.settings.outbox_poll_seconds):
                    await ready.wait()

    async def deliver_due(self, limit: int = BATCH) -> int:
        """Send what is due and not leased by another worker; returns how many were sent."""
        candidates = (
            await OutboxEmail.filter(_due(self._rt.clock.now()))
            .order_by("next_attempt_at", "id")
            .limit(limit)
            .values("id")
        )
        sent = 0
        for candidate in candidates:
            row = await self._claim(int(candidate["id"]))
            if row is not None and await self._deliver(row):
                sent += 1
            _stop_if_cancelled()
        return sent

    async def _claim(self, row_id: int) -> OutboxEmail | None:
        now = self._rt.clock.now()
        claimed = await OutboxEmail.filter(_due(now), id=row_id).update(locked_until=now + LEASE)
        if claimed != 1:
            return None
        # Read again under the lease: attempts and state are now ours alone.
        return await OutboxEmail.get(id=row_id)

    async def _deliver(self, row: OutboxEmail) -> bool:
        try:
            await self._transport.send(row)
        except DELIVERY_ERRORS as error:
            await self._record_failure(row, error)
            return False
        await OutboxEmail.filter(id=row.id).update(sent_at=self._rt.clock.now(), locked_until=None)
        return True

    async def _record_failure(self, row: OutboxEmail, error: BaseException) -> None:
        now = self._rt.clock.now()
        attempts = row.attempts + 1
        reason = describe(error)
        changes: dict[str, Any] = {"attempts": attempts, "last_error": reason, "locked_until": None}
        if now - row.created_at >= GIVE_UP_AFTER:
            changes["failed_at"] = now
            logger.error(
                "gave up on email %s to a recipient at %s after %d attempts (%s)",
                row.message_id,
                _domain(row.recipient),
                attempts,
                reason,
            )
        else:
            delay = backoff_seconds(attempts)
            changes["next_attempt_at"] = now + timedelta(seconds=delay)
            logger.warning(
                "email %s not sent (attempt %d, %s); next try in %d s",
                row.message_id,
                attempts,
                reason,
                delay,
            )
        await OutboxEmail.filter(id=row.id).update(**changes)


async def pending_count(queued_before: datetime | None = None) -> int:
    """Emails neither sent nor given up on; with `queued_before`, those queued before it."""
    pending = OutboxEmail.filter(sent_at__isnull=True, failed_at__isnull=True)
    if queued_before is not None:
        pending = pending.filter(created_at__lt=queued_before)
    return await pending.count()


async def failed_count() -> int:
    return await OutboxEmail.filter(failed_at__isnull=False).count()
