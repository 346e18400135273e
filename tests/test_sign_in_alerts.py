"""Sign-in alerts: NEW_SIGN_IN for a device not seen before, SECOND_FACTOR_FAILURES after
wrong second factors that follow a right password, through the real app and a real SMTP
server."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from tortoise import connections

from models import Account, LinkToken, Notification, OutboxEmail
from services import batches, sign_in_alerts
from services.batches import Batch
from services.clock import FrozenClock
from services.crypto import token_digest
from services.runtime import RequestMeta
from services.settings import Settings
from tests.conftest import mail_settings_for
from tests.helpers import PASSWORD, SIGN_IN, Api, error_codes, until
from tests.smtp_server import SmtpServer
from tests.test_recovery import parse_mail, running, text_of

T = TypeVar("T")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
BILLING = "billing@acme.example"
LINK = re.compile(r"https://verrou\.example/#/secure-account\?token=([A-Za-z0-9_-]+)")
VERIFY = """
mutation V($input: VerifySignInInput!) {
  verifySignIn(input: $input) { session { token } deviceToken errors { code } }
}
"""


@pytest.fixture
def mail_settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(
        db_path,
        tmp_path / "var",
        smtp,
        public_url="https://verrou.example",
        outbox_poll_seconds=0.05,
    )


async def kinds(account_email: str) -> list[str]:
    rows = await Notification.filter(account__email=account_email).order_by("id")
    return [row.kind for row in rows]


async def sign_in(
    api: Api, user_agent: str, email: str = "alice@example.com", **extra: Any
) -> dict[str, Any]:
    body = await api.gql(
        SIGN_IN,
        {"input": {"email": email, "password": PASSWORD, **extra}},
        headers={"user-agent": user_agent},
    )
    payload: dict[str, Any] = body["data"]["signIn"]
    assert payload["errors"] == [], payload
    return payload


@pytest.fixture
async def elsewhere(app: Starlette, clock: FrozenClock) -> AsyncIterator[Api]:
    """The same app reached from another network (198.51.100.0/24)."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 52000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"user-agent": "verrou-tests/1.0"},
    ) as client:
        yield Api(client, clock)


async def test_a_new_device_is_told_by_email_with_a_this_wasnt_me_link(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        # Signing up is the account's first sign-in: no alert, and its device is known.
        await api.sign_up(billingContactEmail=BILLING)
        await api.sign_up("bob@example.com")
        await sign_in(api, "verrou-tests/1.0")
        assert await kinds("alice@example.com") == []

        await sign_in(api, FIREFOX)
        assert await kinds("alice@example.com") == ["NEW_SIGN_IN"]
        assert await kinds("bob@example.com") == []

        # To the account email (the billing contact, not verified, has only its verification).
        def alerts() -> list[Any]:
            return [e for e in smtp.envelopes if e.rcpt_tos == ["alice@example.com"]]

        await until(lambda: len(alerts()) == 1)
        envelope = alerts()[0]
        message = parse_mail(envelope.original_content or b"")
        text = text_of(message)
        assert "Firefox on Windows" in text and "203.0.113.7" in text
        assert "25/11/2026" in text  # the time, in the account's (French) locale
        link = LINK.search(text)
        assert link is not None
        # A SECURE_ACCOUNT link token, stored hashed, valid 7 days; never in the feed.
        stored = await LinkToken.get(token_hash=token_digest(link[1]))
        assert stored.purpose == "secure_account" and stored.account_id == 1
        assert stored.expires_at == clock.now() + timedelta(days=7)
        feed = await Notification.get(kind="NEW_SIGN_IN")
        assert link[1] not in str(feed.params) and feed.params == {"device": "Firefox on Windows"}


async def test_known_means_same_browser_and_system_on_the_same_network_within_90_days(
    api: Api, elsewhere: Api, clock: FrozenClock
) -> None:
    await api.sign_up()
    await sign_in(api, FIREFOX)
    await sign_in(api, FIREFOX)  # seen now
    assert await kinds("alice@example.com") == ["NEW_SIGN_IN"]
    # Same browser, another network: new.
    await sign_in(elsewhere, FIREFOX)
    assert await kinds("alice@example.com") == ["NEW_SIGN_IN", "NEW_SIGN_IN"]
    # Another version of the same browser and system, same network: known.
    await sign_in(api, FIREFOX.replace("120.0", "121.0"))
    # Another browser: new.
    await sign_in(api, CHROME_MAC)
    assert len(await kinds("alice@example.com")) == 3
    # 90 days on without seeing it, Firefox is new again.
    clock.advance(91 * 24 * 3600)
    await sign_in(api, "verrou-tests/1.0")
    assert (await kinds("alice@example.com"))[-1] == "NEW_SIGN_IN"


async def test_verify_sign_in_alerts_and_a_remembered_device_does_not(api: Api) -> None:
    token = await api.sign_up()
    secret = (await api.enable_two_factor(token)).secret
    challenge = (await sign_in(api, FIREFOX))["challenge"]["token"]
    assert await kinds("alice@example.com") == ["TWO_FACTOR_ENABLED"]  # not before the code
    variables = {"input": {"challengeToken": challenge, "code": api.code(secret)}}
    variables["input"]["rememberDevice"] = True
    body = await api.gql(VERIFY, variables, headers={"user-agent": FIREFOX})
    device_token = body["data"]["verifySignIn"]["deviceToken"]
    told = ["TWO_FACTOR_ENABLED", "NEW_SIGN_IN", "DEVICE_REMEMBERED"]
    assert await kinds("alice@example.com") == told
    # From another network, with a valid device token: a known device.
    api.clock.advance(30)
    remembered = await sign_in(api, CHROME_MAC, deviceToken=device_token)
    assert remembered["session"] is not None
    assert await kinds("alice@example.com") == told


async def test_three_wrong_second_factors_after_the_password_alert_once_per_window(
    api: Api, clock: FrozenClock
) -> None:
    for email in ("alice@example.com", "bob@example.com"):
        await api.enable_two_factor(await api.sign_up(email))
    challenge = await api.challenge()
    for _ in range(2):
        assert error_codes(await api.verify(challenge, "000000")) == ["INVALID_CODE"]
    assert "SECOND_FACTOR_FAILURES" not in await kinds("alice@example.com")
    assert error_codes(await api.verify(challenge, "000000")) == ["INVALID_CODE"]
    assert (await kinds("alice@example.com")).count("SECOND_FACTOR_FAILURES") == 1
    # Emailed with a "this wasn't me" link (the account is in French).
    warned = await OutboxEmail.get(subject="Quelqu'un connaît peut-être votre mot de passe")
    text = text_of(parse_mail(warned.message.encode()))
    link = re.search(r"/#/secure-account\?token=([A-Za-z0-9_-]+)", text)
    assert link is not None and "3 codes" in text
    assert (await LinkToken.get(token_hash=token_digest(link[1]))).purpose == "secure_account"
    # A fourth, on a new challenge, within the window: no second alert.
    assert error_codes(await api.verify(await api.challenge(), "000000")) == ["INVALID_CODE"]
    assert (await kinds("alice@example.com")).count("SECOND_FACTOR_FAILURES") == 1
    assert "SECOND_FACTOR_FAILURES" not in await kinds("bob@example.com")
    # The next window: three more, one more alert.
    clock.advance(16 * 60)
    challenge = await api.challenge()
    for _ in range(3):
        await api.verify(challenge, "000000")
    assert (await kinds("alice@example.com")).count("SECOND_FACTOR_FAILURES") == 2


def sent_by(batch: Callable[[str], Batch[T]], sent: list[str]) -> Callable[[str], Batch[T]]:
    """`batch`, with the text of each statement it sends recorded in `sent`."""

    def recording(dialect: str) -> Batch[T]:
        inner, result = batch(dialect), None
        try:
            while True:
                statement = inner.send(result)
                sent.append(statement.sql)
                result = yield statement
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    return recording


async def test_the_very_same_address_and_browser_answer_without_reading_every_pair(
    api: Api, clock: FrozenClock
) -> None:
    await api.sign_up()  # from 203.0.113.7, verrou-tests/1.0
    account = await Account.get(email="alice@example.com")

    async def seen(ip_address: str | None, user_agent: str | None) -> tuple[bool, list[str]]:
        sent: list[str] = []
        meta = RequestMeta(ip_address=ip_address, user_agent=user_agent)
        batch = functools.partial(
            sign_in_alerts.seen_before, account_id=account.id, meta=meta, now=clock.now()
        )
        return await batches.run(sent_by(batch, sent)), sent

    dialect = connections.get("default").capabilities.dialect
    probe = sign_in_alerts._same_request_before(dialect)
    earlier = sign_in_alerts._earlier_devices(dialect)
    known, sent = await seen("203.0.113.7", "verrou-tests/1.0")
    assert known and sent == [probe]
    # Same device by the rule (same browser family and system, same /24), not the same
    # request: the pairs are read.
    known, sent = await seen("203.0.113.99", "verrou-tests/1.0")
    assert known and sent == [probe, earlier]
    known, sent = await seen("198.51.100.20", "verrou-tests/1.0")
    assert not known and sent == [probe, earlier]
    # No user agent sent: NULL is the same as NULL.
    await sign_in(api, "")
    assert await kinds("alice@example.com") == []
    known, sent = await seen("203.0.113.7", None)
    assert known and sent == [probe]
    # Older than 90 days, the very same request is not known any more (and the account
    # has signed in before, so it is not its first sign-in either).
    clock.advance(91 * 24 * 3600)
    known, sent = await seen("203.0.113.7", "verrou-tests/1.0")
    assert not known and sent == [probe, earlier, sign_in_alerts._any_sign_in(dialect)]
