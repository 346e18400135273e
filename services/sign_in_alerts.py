"""Alerts about sign-ins: a new device, and wrong second factors after a right password.

A sign-in is from a new device when it carries no valid device token (a remembered device is
known by definition) and no successful sign-in of the last 90 days came from the same browser
family and operating system on the same network (an IPv4 /24, an IPv6 /48: a home or office
keeps its network while its address changes). An account's very first sign-in (signUp, or
the first of an account made with `create-account`) has nothing to compare with and is not
an alert; it makes its device known.

Each alert's email carries a "this wasn't me" link: a SECURE_ACCOUNT link token (7 days) that
the secureAccount mutation spends. The link reaches the email only, never the feed.
"""

from __future__ import annotations

import functools
import ipaddress
from datetime import datetime, timedelta

from ua_parser import parse

from models import Notification, SecurityEvent
from services import batches, link_tokens, security_events, statements
from services.batches import Batch, Statement
from services.changes import Change
from services.device_sessions import device_label
from services.link_tokens import LinkPurpose
from services.notifications import NotificationKind
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind

KNOWN_FOR = timedelta(days=90)
SECURE_LINK_VALID_FOR = timedelta(days=7)
# Wrong second factors after a right password, within the window, before the alert.
FAILURES_BEFORE_ALERT = 3
FAILURE_WINDOW = timedelta(minutes=15)


# Each sign-in reads the key of its own request and of each earlier device of the account:
# the same few pairs again and again, each a user agent parse and an address parse.
@functools.lru_cache(maxsize=4096)
def device_key(ip_address: str | None, user_agent: str | None) -> tuple[str, str, str]:
    """(browser family, OS family, network) of a request: what 'the same device' means here."""
    parsed = parse(user_agent or "")
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    system = parsed.os.family if parsed.os else "Other"
    network = ""
    if ip_address:
        try:
            address = ipaddress.ip_address(ip_address)
        except ValueError:
            network = ip_address
        else:
            prefix = 24 if address.version == 4 else 48
            network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return browser, system, network


@functools.cache
def _earlier_devices(dialect: str) -> str:
    account, kind, since = statements.marks(dialect, 3)
    # One row per address and user agent pair, however often a script signs in. Only
    # placeholders go into the text.
    return (
        'SELECT DISTINCT "ip_address", "user_agent" FROM "security_event" '  # noqa: S608
        f'WHERE "account_id" = {account} AND "kind" = {kind} AND "created_at" > {since}'
    )


@functools.cache
def _same_request_before(dialect: str) -> str:
    account, kind, since, address, agent = statements.marks(dialect, 5)
    # NULL (no address or no user agent given) matches NULL.
    same = "IS NOT DISTINCT FROM" if dialect == "postgres" else "IS"
    # Only placeholders go into the text.
    return (
        'SELECT 1 AS "found" FROM "security_event" '  # noqa: S608
        f'WHERE "account_id" = {account} AND "kind" = {kind} AND "created_at" > {since} '
        f'AND "ip_address" {same} {address} AND "user_agent" {same} {agent} LIMIT 1'
    )


class NewDevice(Exception):
    """`known_device_signed_in`: the device is new, so the sign-in needs its alert."""


def seen_before(dialect: str, account_id: int, meta: RequestMeta, now: datetime) -> Batch[bool]:
    """Whether this device signed in to the account in the last 90 days, or nothing ever
    did; within a batch (services.batches)."""
    since = SecurityEvent._meta.fields_map["created_at"].to_db_value(now - KNOWN_FOR, SecurityEvent)
    values = [account_id, SecurityEventKind.SIGNED_IN.value, since]
    # Most sign-ins come from the very address and browser of an earlier one: that row
    # alone answers, where the pairs of every sign-in of 90 days would be read and parsed.
    stored = [meta.ip_address, meta.stored_user_agent]
    if (yield Statement(_same_request_before(dialect), values + stored)):
        return True
    key = device_key(meta.ip_address, meta.user_agent)
    earlier = yield Statement(_earlier_devices(dialect), values)
    if any(device_key(row["ip_address"], row["user_agent"]) == key for row in earlier):
        return True
    if earlier:
        return False
    # No sign-in in 90 days at all: known only if there was never one (a second statement
    # for that rare case, not for every sign-in).
    ever = yield Statement(_any_sign_in(dialect), values[:2])
    return not ever


@functools.cache
def _any_sign_in(dialect: str) -> str:
    account, kind = statements.marks(dialect, 2)
    # Only placeholders go into the text.
    return (
        'SELECT 1 AS "found" FROM "security_event" '  # noqa: S608
        f'WHERE "account_id" = {account} AND "kind" = {kind} LIMIT 1'
    )


def known_device_signed_in(
    dialect: str, account_id: int, meta: RequestMeta, now: datetime
) -> Batch[int]:
    """`signed_in` within a batch for a device seen before, which needs no alert: its
    SIGNED_IN event (its id). Raises NewDevice, before writing anything, for a new one: the
    caller rolls back and calls `signed_in`, which alerts. The caller counts the event's
    metric."""
    if not (yield from seen_before(dialect, account_id, meta, now)):
        raise NewDevice
    return (
        yield from security_events.written(
            dialect, account_id, SecurityEventKind.SIGNED_IN, meta, now
        )
    )


async def _seen_before(change: Change) -> bool:
    batch = functools.partial(
        seen_before, account_id=change.account.id, meta=change.meta, now=change.rt.clock.now()
    )
    return await batches.run(batch, change.connection)


def secure_link(rt: Runtime, token: str) -> str:
    return f"{rt.settings.base_url}/#/secure-account?token={token}"


async def _secure_link(change: Change) -> str:
    token = await link_tokens.issue(
        change.rt,
        change.account.id,
        LinkPurpose.SECURE_ACCOUNT,
        SECURE_LINK_VALID_FOR,
        change.connection,
    )
    return secure_link(change.rt, token)


async def signed_in(change: Change, *, remembered: bool) -> None:
    """Record a completed sign-in in the change, alerting first when its device is new.
    Call it before the session's SIGNED_IN is written: that row is what makes it known."""
    if not remembered and not await _seen_before(change):
        label = device_label(change.meta.user_agent) or "unknown"
        await change.notify(
            NotificationKind.NEW_SIGN_IN,
            {"device": label},
            email_params={"secure_link": await _secure_link(change)},
        )
    await change.record_event(SecurityEventKind.SIGNED_IN)


async def second_factor_failed(change: Change) -> None:
    """Record a wrong second factor; the third within FAILURE_WINDOW sends the alert, once
    per window."""
    await change.record_event(SecurityEventKind.SECOND_FACTOR_FAILED)
    since = change.rt.clock.now() - FAILURE_WINDOW
    account_id = change.account.id
    failures = (
        await SecurityEvent.filter(
            account_id=account_id,
            kind=SecurityEventKind.SECOND_FACTOR_FAILED.value,
            created_at__gt=since,
        )
        .using_db(change.connection)
        .count()
    )
    if failures < FAILURES_BEFORE_ALERT:
        return
    already = (
        await Notification.filter(
            account_id=account_id,
            kind=NotificationKind.SECOND_FACTOR_FAILURES.value,
            created_at__gt=since,
        )
        .using_db(change.connection)
        .exists()
    )
    if not already:
        await change.notify(
            NotificationKind.SECOND_FACTOR_FAILURES,
            {"failures": failures},
            email_params={"secure_link": await _secure_link(change)},
        )
