"""changePassword, requestPasswordReset, resetPassword and secureAccount, through the API,
with the emails read off a real SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import secrets
import sys
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import Account, FailedAttempt, LinkToken, OutboxEmail, RememberedDevice, Session
from services import link_tokens
from services.link_tokens import LinkPurpose
from services.password_reset import REQUESTS_PER_ADDRESS, REQUESTS_PER_EMAIL
from services.passwords import HASHING_NICENESS, Passwords
from services.runtime import Runtime
from services.settings import Settings
from tests.conftest import mail_settings_for
from tests.helpers import PASSWORD, Api, error_codes, until
from tests.smtp_server import SmtpServer

NEW_PASSWORD = "a brand new passphrase 2026"
PUBLIC_URL = "https://verrou.example"
BILLING = "billing@acme.example"

CHANGE_PASSWORD = """
mutation Change($input: ChangePasswordInput!) {
  changePassword(input: $input) {
    account { email }
    errors { code field message retryAfter }
  }
}
"""

REQUEST_RESET = """
mutation Request($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code field message retryAfter } }
}
"""

RESET = """
mutation Reset($input: ResetPasswordInput!) {
  resetPassword(input: $input) {
    session { token account { email } }
    challenge { token methods }
    errors { code field message retryAfter }
  }
}
"""

SECURE = """
mutation Secure($input: SecureAccountInput!) {
  secureAccount(input: $input) { errors { code field message } }
}
"""

HISTORY = """
query {
  viewer {
    securityEvents(first: 50) { edges { node { kind ipAddress } } }
    notifications(first: 50) { edges { node { kind message } } }
  }
}
"""

VIEWER = "query { viewer { email } }"


@pytest.fixture
def settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(
        db_path,
        tmp_path / "var",
        smtp,
        public_url=PUBLIC_URL,
    )


def mails_to(smtp: SmtpServer, recipient: str) -> list[EmailMessage]:
    found = []
    for envelope in smtp.envelopes:
        if recipient in envelope.rcpt_tos:
            message = email.message_from_bytes(
                envelope.original_content or b"", policy=email.policy.default
            )
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    content: str = part.get_content()
    return content


def reset_token_in(message: EmailMessage) -> str:
    found = re.search(
        re.escape(PUBLIC_URL) + r"/#/reset-password\?token=([A-Za-z0-9_-]+)", text_of(message)
    )
    assert found, text_of(message)
    return found.group(1)


async def change_password(api: Api, token: str, **input: Any) -> dict[str, Any]:
    variables = {"input": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, **input}}
    payload: dict[str, Any] = (await api.data(CHANGE_PASSWORD, variables, token=token))[
        "changePassword"
    ]
    return payload


async def request_reset(api: Api, address: str) -> dict[str, Any]:
    body = await api.gql(REQUEST_RESET, {"input": {"email": address}})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["requestPasswordReset"]
    return payload


async def reset(api: Api, token: str, password: str = NEW_PASSWORD) -> dict[str, Any]:
    variables = {"input": {"token": token, "newPassword": password}}
    payload: dict[str, Any] = (await api.data(RESET, variables))["resetPassword"]
    return payload


def reset_mails(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in mails_to(smtp, address) if "/#/reset-password?token=" in text_of(m)]


async def reset_link(api: Api, smtp: SmtpServer, address: str) -> str:
    before = len(reset_mails(smtp, address))
    assert (await request_reset(api, address))["errors"] == []
    await until(lambda: len(reset_mails(smtp, address)) == before + 1)
    return reset_token_in(reset_mails(smtp, address)[-1])


@pytest.fixture(autouse=True)
async def mail_delivered(api: Api) -> AsyncIterator[None]:
    """Each test ends with its emails sent: a mail worker cancelled mid-send at shutdown can
    lose its cancellation inside aiosmtplib (Python 3.11's wait_for) and never stop."""
    yield
    for _ in range(500):
        if await OutboxEmail.filter(sent_at=None, failed_at=None).count() == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("emails left unsent")


async def signed_in(api: Api, token: str) -> bool:
    body = await api.gql(VIEWER, token=token)
    return bool(body.get("data") and body["data"]["viewer"])


async def history(api: Api, token: str) -> tuple[list[str], list[str]]:
    viewer = (await api.data(HISTORY, token=token))["viewer"]
    events = [edge["node"]["kind"] for edge in viewer["securityEvents"]["edges"]]
    kinds = [edge["node"]["kind"] for edge in viewer["notifications"]["edges"]]
    return events, kinds


# ---------------------------------------------------------------- changePassword


async def test_change_password_ends_other_sessions_and_keeps_the_current_one(
    api: Api, smtp: SmtpServer
) -> None:
    current = await api.sign_up("alice@example.com", billingContactEmail=BILLING)
    other = (await api.sign_in("alice@example.com"))["session"]["token"]
    bob = await api.sign_up("bob@example.com")

    payload = await change_password(api, current)

    assert payload == {"account": {"email": "alice@example.com"}, "errors": []}
    assert await signed_in(api, current)
    assert not await signed_in(api, other)
    assert await signed_in(api, bob)  # another account's session is left alone
    assert error_codes(await api.sign_in("alice@example.com")) == ["INVALID_CREDENTIALS"]
    assert (await api.sign_in("alice@example.com", NEW_PASSWORD))["session"] is not None
    assert error_codes(await api.sign_in("bob@example.com", NEW_PASSWORD)) == [
        "INVALID_CREDENTIALS"
    ]
    events, kinds = await history(api, current)
    assert "PASSWORD_CHANGED" in events and kinds[0] == "PASSWORD_CHANGED"
    # Security emails reach the account email; the unverified billing contact gets nothing.
    await until(lambda: len(mails_to(smtp, "alice@example.com")) == 1)
    mail = mails_to(smtp, "alice@example.com")[0]
    assert mail["Subject"] == "Le mot de passe de votre compte a été changé"
    assert NEW_PASSWORD not in text_of(mail) and PASSWORD not in text_of(mail)


async def test_change_password_can_keep_the_other_sessions(api: Api) -> None:
    current = await api.sign_up()
    other = (await api.sign_in())["session"]["token"]
    payload = await change_password(api, current, signOutOtherSessions=False)
    assert payload["errors"] == []
    assert await signed_in(api, other)


async def test_a_wrong_current_password_is_refused_and_counted_by_the_throttle(
    api: Api, app: Starlette
) -> None:
    token = await api.sign_up()
    limit = app.state.runtime.settings.max_failures
    for _ in range(limit):
        payload = await change_password(api, token, currentPassword="not my password at all")
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("INVALID_CREDENTIALS", ["input", "currentPassword"])
        ]
    # The window is full: even the right password waits, as every password re-entry does.
    payload = await change_password(api, token)
    assert error_codes(payload) == ["RATE_LIMITED"] and payload["errors"][0]["retryAfter"] > 0
    assert error_codes(await api.sign_in()) == ["RATE_LIMITED"]


async def test_a_weak_new_password_is_refused_on_its_field(api: Api) -> None:
    token = await api.sign_up()
    payload = await change_password(api, token, newPassword="short")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "newPassword"])
    ]
    assert (await api.sign_in())["session"] is not None  # unchanged


async def test_change_password_needs_a_session(api: Api) -> None:
    body = await api.gql(
        CHANGE_PASSWORD, {"input": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}}
    )
    assert error_codes(body["data"]["changePassword"]) == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------- requestPasswordReset


async def test_a_reset_link_is_emailed_to_the_account_email_only(
    api: Api, smtp: SmtpServer
) -> None:
    token = await api.sign_up("alice@example.com", billingContactEmail=BILLING)
    await reset_link(api, smtp, "alice@example.com")
    # The billing contact's only email is its own verification: never the reset link.
    assert all("reset-password" not in text_of(mail) for mail in mails_to(smtp, BILLING))
    stored = await LinkToken.get(purpose=LinkPurpose.RESET_PASSWORD.value)
    assert stored.expires_at - stored.created_at == timedelta(hours=1)
    events, _ = await history(api, token)
    assert "PASSWORD_RESET_REQUESTED" in events


async def test_an_unknown_email_gets_the_same_answer_and_no_email(
    api: Api, smtp: SmtpServer
) -> None:
    await api.sign_up("alice@example.com")
    known = await request_reset(api, "alice@example.com")
    unknown = await request_reset(api, "nobody@example.com")
    assert known == unknown == {"errors": []}
    await until(lambda: len(smtp.envelopes) == 1)
    assert [e.rcpt_tos for e in smtp.envelopes] == [["alice@example.com"]]
    # Nothing kept for the unknown one, beyond its throttle's count.
    assert await OutboxEmail.filter(recipient="nobody@example.com").count() == 0
    assert await FailedAttempt.filter(subject="reset:nobody@example.com").count() == 1
    assert await FailedAttempt.filter(subject__startswith="reset-none:").count() == 0


async def test_reset_requests_are_limited_per_email_known_or_not(api: Api, app: Starlette) -> None:
    await api.sign_up("alice@example.com")
    limit = REQUESTS_PER_EMAIL
    refusals: dict[str, dict[str, Any]] = {}
    for address in ("alice@example.com", "nobody@example.com"):
        for _ in range(limit):
            assert (await request_reset(api, address))["errors"] == []
            api.clock.advance(1)
        refusals[address] = await request_reset(api, address)
    # The same refusal for both, so it tells nothing of the account either.
    for payload in refusals.values():
        assert error_codes(payload) == ["RATE_LIMITED"]
    assert refusals["alice@example.com"] == refusals["nobody@example.com"]


async def test_reset_requests_are_limited_per_client_address(api: Api, app: Starlette) -> None:
    limit = REQUESTS_PER_ADDRESS
    for number in range(limit):
        assert (await request_reset(api, f"user{number}@example.com"))["errors"] == []
    payload = await request_reset(api, "someone-else@example.com")
    assert error_codes(payload) == ["RATE_LIMITED"] and payload["errors"][0]["retryAfter"] > 0
    api.clock.advance(app.state.runtime.settings.failure_window_seconds + 1)
    assert (await request_reset(api, "someone-else@example.com"))["errors"] == []


# ---------------------------------------------------------------- resetPassword


async def test_reset_without_two_factor_opens_a_session_and_ends_every_other(
    api: Api, smtp: SmtpServer
) -> None:
    first = await api.sign_up("alice@example.com")
    second = (await api.sign_in("alice@example.com"))["session"]["token"]
    bob = await api.sign_up("bob@example.com")
    link = await reset_link(api, smtp, "alice@example.com")

    payload = await reset(api, link)

    assert payload["errors"] == [] and payload["challenge"] is None
    session = payload["session"]["token"]
    assert not await signed_in(api, first) and not await signed_in(api, second)
    assert await signed_in(api, session) and await signed_in(api, bob)
    assert error_codes(await api.sign_in("alice@example.com")) == ["INVALID_CREDENTIALS"]
    events, kinds = await history(api, session)
    assert "PASSWORD_RESET" in events and kinds[0] == "PASSWORD_CHANGED"
    # The notification's email to the billing contact (here the account email).
    subject = "Le mot de passe de votre compte a été réinitialisé"
    await until(
        lambda: [m["Subject"] for m in mails_to(smtp, "alice@example.com")][-1:] == [subject]
    )


async def test_reset_with_two_factor_returns_a_challenge_and_no_session(
    api: Api, smtp: SmtpServer
) -> None:
    token = await api.sign_up("alice@example.com")
    enabled = await api.enable_two_factor(token)
    link = await reset_link(api, smtp, "alice@example.com")

    payload = await reset(api, link)

    assert payload["errors"] == [] and payload["session"] is None
    assert payload["challenge"]["methods"] == ["TOTP", "BACKUP_CODE"]
    assert await Session.filter(revoked_at=None).count() == 0
    # The second factor is still due, and gives the session.
    verified = await api.verify(payload["challenge"]["token"], api.code(enabled.secret))
    assert verified["errors"] == [] and await signed_in(api, verified["session"]["token"])
    # Signing in with the new password also asks for it.
    assert (await api.sign_in("alice@example.com", NEW_PASSWORD))["challenge"] is not None


async def test_a_reset_token_works_once(api: Api, smtp: SmtpServer) -> None:
    await api.sign_up("alice@example.com")
    link = await reset_link(api, smtp, "alice@example.com")
    assert (await reset(api, link))["errors"] == []
    again = await reset(api, link, "yet another good passphrase")
    assert [(e["code"], e["field"]) for e in again["errors"]] == [
        ("LINK_EXPIRED", ["input", "token"])
    ]
    assert (await api.sign_in("alice@example.com", NEW_PASSWORD))["session"] is not None


async def test_a_new_request_revokes_the_older_link_and_links_expire_after_an_hour(
    api: Api, smtp: SmtpServer
) -> None:
    await api.sign_up("alice@example.com")
    older = await reset_link(api, smtp, "alice@example.com")
    newer = await reset_link(api, smtp, "alice@example.com")
    assert error_codes(await reset(api, older)) == ["LINK_EXPIRED"]
    api.clock.advance(3600)
    assert error_codes(await reset(api, newer)) == ["LINK_EXPIRED"]
    assert error_codes(await reset(api, "not-a-token")) == ["LINK_EXPIRED"]


async def test_a_weak_password_leaves_the_link_usable(api: Api, smtp: SmtpServer) -> None:
    await api.sign_up("alice@example.com")
    link = await reset_link(api, smtp, "alice@example.com")
    assert error_codes(await reset(api, link, "short")) == ["INVALID_INPUT"]
    assert (await reset(api, link))["errors"] == []


async def test_a_reset_link_opens_only_its_own_account(api: Api, smtp: SmtpServer) -> None:
    await api.sign_up("alice@example.com")
    bob = await api.sign_up("bob@example.com")
    link = await reset_link(api, smtp, "alice@example.com")
    assert (await reset(api, link))["session"]["account"]["email"] == "alice@example.com"
    assert await signed_in(api, bob)
    assert (await api.sign_in("bob@example.com"))["session"] is not None


# ---------------------------------------------------------------- secureAccount


async def test_secure_account_ends_sessions_and_emails_a_reset_link(
    api: Api, app: Starlette, smtp: SmtpServer
) -> None:
    rt: Runtime = app.state.runtime
    first = await api.sign_up("alice@example.com", billingContactEmail=BILLING)
    second = (await api.sign_in("alice@example.com"))["session"]["token"]
    bob = await api.sign_up("bob@example.com")
    alice = await Account.get(email="alice@example.com")
    token = await link_tokens.issue(rt, alice.id, LinkPurpose.SECURE_ACCOUNT, timedelta(days=7))

    payload = (await api.data(SECURE, {"input": {"token": token}}))["secureAccount"]

    assert payload == {"errors": []}
    assert not await signed_in(api, first) and not await signed_in(api, second)
    assert await signed_in(api, bob)
    await until(lambda: len(reset_mails(smtp, "alice@example.com")) == 1)
    link = reset_token_in(reset_mails(smtp, "alice@example.com")[0])

    def revoked() -> list[Any]:
        return [m for m in mails_to(smtp, "alice@example.com") if "déconnectées" in m["Subject"]]

    await until(lambda: len(revoked()) == 1)  # SESSIONS_REVOKED
    assert "2 sessions" in text_of(revoked()[0])
    # The password did not change; the emailed link resets it.
    session = (await reset(api, link))["session"]["token"]
    events, kinds = await history(api, session)
    assert "ACCOUNT_SECURED" in events and "SESSIONS_REVOKED" in kinds
    again = (await api.data(SECURE, {"input": {"token": token}}))["secureAccount"]
    assert error_codes(again) == ["LINK_EXPIRED"]


async def test_secure_account_refuses_another_purpose_s_token(api: Api, app: Starlette) -> None:
    rt: Runtime = app.state.runtime
    token = await api.sign_up("alice@example.com")
    alice = await Account.get(email="alice@example.com")
    reset_token = await link_tokens.issue(
        rt, alice.id, LinkPurpose.RESET_PASSWORD, timedelta(hours=1)
    )
    payload = (await api.data(SECURE, {"input": {"token": reset_token}}))["secureAccount"]
    assert error_codes(payload) == ["LINK_EXPIRED"]
    assert await signed_in(api, token)


async def remember(account_email: str, clock_now: Any) -> None:
    """A remembered device row, as verifySignIn(rememberDevice) will write it."""
    account = await Account.get(email=account_email)
    await RememberedDevice.create(
        token_hash=secrets.token_hex(32),
        account_id=account.id,
        binding="b" * 64,
        created_at=clock_now,
        expires_at=clock_now + timedelta(days=30),
    )


async def test_change_reset_and_secure_forget_the_account_s_remembered_devices(
    api: Api, app: Starlette, smtp: SmtpServer
) -> None:
    token = await api.sign_up("alice@example.com")
    await api.sign_up("bob@example.com")
    now = api.clock.now()
    for _ in range(2):
        await remember("alice@example.com", now)
        await remember("bob@example.com", now)

    assert (await change_password(api, token, signOutOtherSessions=False))["errors"] == []
    assert await RememberedDevice.filter(account__email="alice@example.com").count() == 0
    assert await RememberedDevice.filter(account__email="bob@example.com").count() == 2

    await remember("alice@example.com", now)
    link = await reset_link(api, smtp, "alice@example.com")
    assert (await reset(api, link, "yet another good passphrase"))["errors"] == []
    assert await RememberedDevice.filter(account__email="alice@example.com").count() == 0

    await remember("alice@example.com", now)
    alice = await Account.get(email="alice@example.com")
    rt: Runtime = app.state.runtime
    secure = await link_tokens.issue(rt, alice.id, LinkPurpose.SECURE_ACCOUNT, timedelta(days=7))
    assert (await api.data(SECURE, {"input": {"token": secure}}))["secureAccount"]["errors"] == []
    assert await RememberedDevice.filter(account__email="alice@example.com").count() == 0
    assert await RememberedDevice.filter(account__email="bob@example.com").count() == 2


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's niceness is Linux's")
async def test_hashing_threads_give_way_to_the_event_loop(settings: Settings) -> None:
    """argon2 runs at a lower priority than the event loop's thread, so where both want one
    core the loop's requests go first (bench/status.py: status p99 under sign-ins)."""
    passwords = Passwords(settings)
    loop_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def niceness_here() -> tuple[str, int, str]:
        thread, native = threading.current_thread().name, threading.get_native_id()
        system_name = Path(f"/proc/self/task/{native}/comm").read_text().strip()
        return thread, os.getpriority(os.PRIO_PROCESS, native), system_name

    async with passwords.serving():
        assert await passwords.verify(await passwords.hash(PASSWORD), PASSWORD)
        thread, niceness, system_name = await passwords._off_loop(niceness_here)
    assert thread.startswith("argon2")
    # Named for the system too (top -H; bench/status.py tells its CPU from the loop's).
    assert system_name == thread[:15]
    assert niceness == min(loop_niceness + HASHING_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_niceness
