"""The table purge (services/purge.py): after a flood of failed sign-ins and a pass with the
clock past every window, each table holds exactly what its window still reads, no row a
throttle or a lookup needs is gone, rows go in batches, and passes may overlap."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import (
    Account,
    FailedAttempt,
    LinkToken,
    OutboxEmail,
    RememberedDevice,
    Session,
    SignInChallenge,
    WebAuthnChallenge,
)
from models.two_factor import WebAuthnChallengePurpose
from server import create_app
from services import purge, throttle
from services.clock import FrozenClock
from services.errors import LinkExpired, RateLimited
from services.link_tokens import LinkPurpose, issue, spend
from services.runtime import Runtime
from tests.conftest import T0, make_settings, start
from tests.helpers import Api
from tests.test_cli import run_cli

# When the purge runs: a month after the pinned clock.
NOW = T0 + timedelta(days=30)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
FLOOD = 10_000


def runtime_of(app: Starlette) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


def _hash() -> str:
    return secrets.token_hex(32)


@dataclass
class Expected:
    """Ids of the rows a pass must keep, by model."""

    kept: dict[type[Any], set[int]] = field(default_factory=dict)
    stale: dict[type[Any], int] = field(default_factory=dict)

    def keep(self, row: Any) -> None:
        self.kept.setdefault(type(row), set()).add(row.id)

    def drop(self, row: Any) -> None:
        self.stale[type(row)] = self.stale.get(type(row), 0) + 1


async def _account() -> Account:
    return await Account.create(
        email=f"{secrets.token_hex(4)}@example.com",
        password_hash="not-a-hash",
        billing_contact_email="billing@example.com",
        created_at=T0,
    )


async def _rows_around_every_window(rt: Runtime, expected: Expected) -> None:
    """For each table, rows one second inside its window (kept) and one second past it
    (stale), with the default settings, as of NOW."""
    account = await _account()
    idle = timedelta(seconds=rt.settings.session_idle_seconds)
    sent_kept = timedelta(days=rt.settings.outbox_retention_days)

    async def challenge(expires_at: datetime, used: bool) -> SignInChallenge:
        return await SignInChallenge.create(
            token_hash=_hash(),
            account_id=account.id,
            created_at=expires_at - timedelta(minutes=5),
            expires_at=expires_at,
            used_at=expires_at - timedelta(minutes=1) if used else None,
        )

    expected.keep(await challenge(NOW + timedelta(minutes=4), used=False))  # live
    expected.keep(await challenge(NOW - DAY + SECOND, used=True))
    expected.drop(await challenge(NOW - DAY - SECOND, used=False))
    expected.drop(await challenge(NOW - 20 * DAY, used=True))

    async def ceremony(expires_at: datetime) -> WebAuthnChallenge:
        return await WebAuthnChallenge.create(
            challenge_hash=_hash(),
            token_hash=_hash(),
            purpose=WebAuthnChallengePurpose.PASSKEY_SIGN_IN,
            created_at=expires_at - timedelta(minutes=5),
            expires_at=expires_at,
        )

    expected.keep(await ceremony(NOW + timedelta(minutes=4)))
    expected.keep(await ceremony(NOW - DAY + SECOND))
    expected.drop(await ceremony(NOW - DAY - SECOND))

    async def link(expires_at: datetime, used: bool) -> LinkToken:
        return await LinkToken.create(
            token_hash=_hash(),
            account_id=account.id,
            purpose=LinkPurpose.SECURE_ACCOUNT.value,
            created_at=expires_at - timedelta(days=7),
            expires_at=expires_at,
            used_at=expires_at - DAY if used else None,
        )

    expected.keep(await link(NOW + 6 * DAY, used=False))  # a "this wasn't me" link, valid
    expected.keep(await link(NOW + 6 * DAY, used=True))  # spent, but read until it expires
    expected.keep(await link(NOW - DAY + SECOND, used=False))
    expected.drop(await link(NOW - DAY - SECOND, used=False))
    expected.drop(await link(NOW - DAY - SECOND, used=True))

    async def session(
        expires_at: datetime, last_seen_at: datetime, revoked_at: datetime | None = None
    ) -> Session:
        return await Session.create(
            token_hash=_hash(),
            account_id=account.id,
            created_at=min(last_seen_at, expires_at) - timedelta(hours=1),
            expires_at=expires_at,
            last_seen_at=last_seen_at,
            revoked_at=revoked_at,
        )

    later = NOW + 10 * DAY
    expected.keep(await session(later, NOW - timedelta(minutes=1)))  # live
    expected.keep(await session(NOW - DAY + SECOND, NOW - DAY - timedelta(hours=1)))
    expected.keep(await session(later, NOW - SECOND, revoked_at=NOW - DAY + SECOND))
    expected.keep(await session(later, NOW - idle - DAY + SECOND))
    expected.drop(await session(NOW - DAY - SECOND, NOW - DAY - timedelta(hours=1)))
    expected.drop(await session(later, NOW - SECOND, revoked_at=NOW - DAY - SECOND))
    expected.drop(await session(later, NOW - idle - DAY - SECOND))

    async def device(expires_at: datetime) -> RememberedDevice:
        return await RememberedDevice.create(
            token_hash=_hash(),
            account_id=account.id,
            binding="b" * 64,
            created_at=expires_at - 30 * DAY,
            expires_at=expires_at,
        )

    expected.keep(await device(NOW + DAY))
    expected.keep(await device(NOW - DAY + SECOND))
    expected.drop(await device(NOW - DAY - SECOND))

    async def email(
        created_at: datetime, sent_at: datetime | None = None, failed_at: datetime | None = None
    ) -> OutboxEmail:
        return await OutboxEmail.create(
            recipient="someone@example.com",
            subject="Subject",
            message_id=f"<{_hash()}@verrou.example>",
            message="message",
            created_at=created_at,
            next_attempt_at=created_at,
            sent_at=sent_at,
            failed_at=failed_at,
        )

    # Unsent, however old: the worker still has it to deliver.
    expected.keep(await email(NOW - 60 * DAY))
    expected.keep(await email(NOW - 9 * DAY, sent_at=NOW - sent_kept + SECOND))
    expected.drop(await email(NOW - 9 * DAY, sent_at=NOW - sent_kept - SECOND))
    expected.keep(await email(NOW - 31 * DAY, failed_at=NOW - 30 * DAY + SECOND))
    expected.drop(await email(NOW - 31 * DAY, failed_at=NOW - 30 * DAY - SECOND))


async def _flood(count: int, at: datetime) -> None:
    """`count` failed sign-ins with random emails, as throttle.begin_attempt records them
    (written directly: 10,000 argon2 hashes would take minutes and test nothing more)."""
    await FailedAttempt.bulk_create(
        [
            FailedAttempt(
                subject=throttle.password_subject(f"{secrets.token_hex(6)}@example.com"),
                created_at=at,
            )
            for _ in range(count)
        ],
        batch_size=1000,
    )


async def _remaining(model: type[Any]) -> set[int]:
    return set(await model.all().values_list("id", flat=True))


async def test_a_flood_of_failed_sign_ins_leaves_only_what_the_windows_need(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt = runtime_of(app)
    expected = Expected()
    await _flood(FLOOD, NOW - 2 * DAY)
    expected.stale[FailedAttempt] = FLOOD
    # One second on each side of the failed attempts' window (a day here).
    expected.drop(
        await FailedAttempt.create(subject="password:a@example.com", created_at=NOW - DAY - SECOND)
    )
    expected.keep(
        await FailedAttempt.create(subject="password:b@example.com", created_at=NOW - DAY + SECOND)
    )
    await _rows_around_every_window(rt, expected)
    clock.set(NOW)

    deleted = await purge.purge_tables(rt)

    for model in (
        FailedAttempt,
        SignInChallenge,
        WebAuthnChallenge,
        LinkToken,
        Session,
        RememberedDevice,
        OutboxEmail,
    ):
        assert await _remaining(model) == expected.kept[model], model.__name__
        assert deleted[model._meta.db_table] == expected.stale[model], model.__name__
    # A second pass finds nothing more to do.
    assert sum((await purge.purge_tables(rt)).values()) == 0


async def test_a_purge_leaves_a_full_throttle_window_full(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt = runtime_of(app)
    subject = throttle.password_subject("victim@example.com")
    for _ in range(rt.settings.max_failures):
        await throttle.begin_attempt(rt, subject)
    clock.advance(rt.settings.failure_window_seconds - 1)

    await purge.purge_tables(rt)

    with pytest.raises(RateLimited):
        await throttle.begin_attempt(rt, subject)


async def test_a_purge_leaves_a_link_usable_until_it_expires(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt = runtime_of(app)
    account = await _account()
    token = await issue(rt, account.id, LinkPurpose.SECURE_ACCOUNT, timedelta(days=7))
    clock.advance(timedelta(days=7).total_seconds() - 1)
    await purge.purge_tables(rt)
    assert (await spend(rt, token, LinkPurpose.SECURE_ACCOUNT)).account_id == account.id

    clock.advance(timedelta(days=3).total_seconds())
    await purge.purge_tables(rt)
    assert not await LinkToken.exists(account_id=account.id)
    with pytest.raises(LinkExpired):
        await spend(rt, token, LinkPurpose.SECURE_ACCOUNT)


@pytest.mark.parametrize(
    "window", ["failure_window_seconds", "sign_up_window_seconds", "mail_limit_window_seconds"]
)
async def test_failed_attempts_outlive_a_window_longer_than_a_day(
    db_path: Path, tmp_path: Path, clock: FrozenClock, window: str
) -> None:
    """Every window that counts failed_attempt rows (the throttles', signUp's per address,
    the mail limits') keeps them; set to three days, each keeps a two-day-old row."""
    settings = make_settings(db_path, tmp_path / "var", **{window: 3 * 86400})
    app = create_app(settings, clock=clock)
    async for _ in start(app):
        rt = runtime_of(app)
        kept = await FailedAttempt.create(subject="x", created_at=NOW - 2 * DAY)
        gone = await FailedAttempt.create(subject="y", created_at=NOW - 3 * DAY - SECOND)
        clock.set(NOW)
        assert (await purge.purge_tables(rt))["failed_attempt"] == 1
        assert await _remaining(FailedAttempt) == {kept.id}
        assert not await FailedAttempt.exists(id=gone.id)


async def test_rows_go_in_batches_not_in_one_statement(
    app: Starlette, api: Api, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime_of(app)
    await _flood(1050, NOW - 2 * DAY)
    clock.set(NOW)
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")

    deleted = await purge.purge_tables(rt, batch=100)

    assert deleted["failed_attempt"] == 1050
    statement = 'DELETE FROM "failed_attempt"'
    deletes = [r for r in caplog.records if r.getMessage().startswith(statement)]
    assert len(deletes) == 11  # ten batches of 100 and one of 50
    assert await FailedAttempt.all().count() == 0


async def test_overlapping_passes_delete_each_row_once(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt = runtime_of(app)
    await _flood(1200, NOW - 2 * DAY)
    clock.set(NOW)

    passes = await asyncio.gather(*(purge.purge_tables(rt, batch=100) for _ in range(3)))

    assert sum(done["failed_attempt"] for done in passes) == 1200
    assert await FailedAttempt.all().count() == 0


async def test_a_serving_process_purges_on_its_own(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", purge_interval_seconds=0.05)
    app = create_app(settings, clock=clock)
    async for _ in start(app):
        await _flood(300, NOW - 2 * DAY)
        clock.set(NOW)
        for _ in range(200):
            if not await FailedAttempt.exists():
                break
            await asyncio.sleep(0.05)
        assert not await FailedAttempt.exists()


@pytest.mark.sqlite_only
def test_the_purge_command_reports_each_table(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "purge")

    assert result.returncode == 0, result.stderr
    for table in ("failed_attempt", "sign_in_challenge", "session", "outbox_email"):
        assert f"{table}: purged 0 stale row(s)" in result.stdout
