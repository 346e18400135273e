"""services.changes: what a change records commits together, and is told only after."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from starlette.applications import Starlette

from models import Account, Notification, OutboxEmail, SecurityEvent, Session
from services import changes
from services.notifications import NotificationKind, decode
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.session_events import ended_sessions
from tests.helpers import Api

META = RequestMeta(ip_address="203.0.113.9", user_agent="test")


class Refused(Exception):
    pass


async def signed_up(app: Starlette, api: Api) -> tuple[Runtime, Account]:
    await api.sign_up()
    # An event of its own, which the running mail worker does not clear under the test.
    runtime = dataclasses.replace(app.state.runtime, mail_ready=asyncio.Event())
    return runtime, await Account.get(email="alice@example.com")


async def rows_of(account: Account) -> tuple[int, int, int]:
    return (
        await Notification.filter(account_id=account.id).count(),
        await SecurityEvent.filter(account_id=account.id).count(),
        await OutboxEmail.all().count(),
    )


async def test_a_committed_change_is_told_once_its_rows_are_written(
    app: Starlette, api: Api
) -> None:
    rt, account = await signed_up(app, api)
    before = await rows_of(account)

    async with rt.broker.subscribe(account.id) as events:
        async with changes.account_change(rt, account, META) as change:
            await change.record_event(SecurityEventKind.BACKUP_CODES_REGENERATED)
            written = await change.notify(NotificationKind.BACKUP_CODES_REGENERATED)
            assert not rt.mail_ready.is_set()  # nothing is told before the commit
        told = decode(await asyncio.wait_for(anext(events), 5))

    assert told.notification.id == written.id
    assert told.notification.kind == "BACKUP_CODES_REGENERATED"
    assert rt.mail_ready.is_set()
    assert await rows_of(account) == (before[0] + 1, before[1] + 1, before[2] + 1)


async def test_a_change_that_fails_leaves_no_row_tells_nothing_and_undoes(
    app: Starlette, api: Api
) -> None:
    rt, account = await signed_up(app, api)
    before = await rows_of(account)
    undone: list[bool] = []

    async with rt.broker.subscribe(account.id) as events:
        with pytest.raises(Refused):
            async with changes.account_change(
                rt, account, META, on_rollback=lambda: undone.append(True)
            ) as change:
                await change.record_event(SecurityEventKind.TWO_FACTOR_DISABLED)
                await change.notify(NotificationKind.TWO_FACTOR_DISABLED)
                raise Refused
        assert undone == [True]
        assert not rt.mail_ready.is_set()
        assert await rows_of(account) == before

        # The next message on the channel is the next change's: the failed one was never told.
        async with changes.account_change(rt, account, META) as change:
            later = await change.notify(NotificationKind.BACKUP_CODES_REGENERATED)
        told = decode(await asyncio.wait_for(anext(events), 5))

    assert told.notification.id == later.id


async def test_ended_sessions_are_told_after_the_notifications_and_only_the_accounts(
    app: Starlette, api: Api
) -> None:
    rt, account = await signed_up(app, api)
    await api.sign_in()  # a second session of alice's
    await api.sign_up("bob@example.com")
    kept = await Session.filter(account_id=account.id).order_by("id").first()
    assert kept is not None

    async with rt.broker.subscribe(account.id) as events:
        async with changes.account_change(rt, account, META) as change:
            ended = await change.end_sessions(keep=kept.id)
            await change.notify(
                NotificationKind.SESSIONS_REVOKED, {"count": ended, "reason": "REVOKED"}
            )
        first = await asyncio.wait_for(anext(events), 5)
        second = await asyncio.wait_for(anext(events), 5)

    assert ended == 1
    assert decode(first).notification.kind == "SESSIONS_REVOKED"
    others = await Session.filter(account_id=account.id).exclude(id=kept.id)
    assert ended_sessions(second) == {session.id for session in others}
    assert all(session.revoked_at == rt.clock.now() for session in others)
    assert (await Session.get(id=kept.id)).revoked_at is None
    bob = await Account.get(email="bob@example.com")
    assert await Session.filter(account_id=bob.id, revoked_at=None).count() == 1
