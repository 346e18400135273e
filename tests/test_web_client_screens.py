"""The web client in headless Chromium: when a session ends, the server is out of reach, a
password is wrong or a rate limit holds (webclient/tests/sessions.mjs); sign-up, the account's
settings and its sessions, each screen at 1280 and 375 px (webclient/tests/screens.mjs)."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from models import Account, FailedAttempt, Session
from models.accounts import Locale
from services import accounts, throttle
from services.clock import FrozenClock
from services.settings import Settings
from tests.browser_driver import ARTIFACTS, needs_browser, run_script, subscribed
from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api, until

SIGN_OUT_EVERYWHERE = """
mutation { signOutEverywhere(input: {keepCurrent: false}) { errors { code message } } }
"""
# Short enough to wait for in the browser, long enough to see the count go down.
RETRY_SECONDS = 4


@needs_browser
async def test_session_ends_and_failures_in_chromium(
    live: LiveServer, clock: FrozenClock, settings: Settings
) -> None:
    runtime = live.app.state.runtime
    customer = {"email": "maud@acme.example", "password": PASSWORD}
    account = await accounts.create_account(
        runtime, email=customer["email"], password=PASSWORD, locale=Locale.EN
    )
    signed_out: list[int] = []

    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        if question.get("rateLimit"):
            # The window full of failures, the oldest leaving it in RETRY_SECONDS.
            subject = throttle.password_subject(account.email)
            await FailedAttempt.filter(subject=subject).delete()
            window = timedelta(seconds=settings.failure_window_seconds)
            oldest = clock.now() - window + timedelta(seconds=RETRY_SECONDS)
            for _ in range(settings.max_failures):
                await FailedAttempt.create(subject=subject, created_at=oldest)
            return {"seconds": RETRY_SECONDS}
        if "waited" in question:
            clock.advance(question["waited"])
            return {}
        if question.get("locale"):
            return {"locale": (await Account.get(id=account.id)).locale.name}
        if "subscribers" in question:
            await until(subscribed(live, question["subscribers"]), within=10)
            return {}
        if question.get("signOutEverywhere"):
            async with httpx.AsyncClient(base_url=live.url) as client:
                api = Api(client, clock)
                token = (await api.sign_in(customer["email"]))["session"]["token"]
                payload = (await api.data(SIGN_OUT_EVERYWHERE, token=token))["signOutEverywhere"]
                assert payload["errors"] == [], payload
            signed_out.append(1)
            return {}
        raise AssertionError(f"unexpected question {question}")

    data = {"customer": customer, "artifacts": str(ARTIFACTS / "web-client-sessions")}
    report = await run_script("sessions.mjs", live.url, data, answer, within=120)
    assert report.startswith("ok")
    assert len(signed_out) == 2


def mailed_link(mail_dir: Path, address: str, route: str) -> str | None:
    """The newest `#/route?token=…` link emailed to `address` (written to var/mail), if any."""
    found = None
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        link = re.search(rf"#/{route}\?token=[A-Za-z0-9_-]+", body.get_content())
        if message["To"] == address and link:
            found = link.group(0)
    return found


@needs_browser
async def test_sign_up_settings_and_sessions_in_chromium(
    live: LiveServer, clock: FrozenClock, settings: Settings
) -> None:
    customer = {"email": "newcomer@atelier.example", "password": PASSWORD}
    contact = "compta@atelier.example"
    mail_dir = settings.var_dir / "mail"

    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        account = await Account.get(email=customer["email"])
        if question.get("account"):
            return {"companyName": account.company_name, "locale": account.locale.name}
        if question.get("billingLink"):

            def link() -> str | None:
                return mailed_link(mail_dir, contact, "verify-billing-contact")

            await until(lambda: link() is not None, within=20)
            return {"fragment": link()}
        if "otherSessions" in question:
            async with httpx.AsyncClient(base_url=live.url) as client:
                api = Api(client, clock)
                for _ in range(question["otherSessions"]):
                    assert (await api.sign_in(customer["email"]))["session"]
            return {}
        if question.get("liveSessions"):
            return {"count": await Session.filter(account_id=account.id, revoked_at=None).count()}
        raise AssertionError(f"unexpected question {question}")

    data = {
        "customer": customer,
        "billingContact": contact,
        "artifacts": str(ARTIFACTS / "web-client-screens"),
    }
    report = await run_script("screens.mjs", live.url, data, answer, within=120)
    assert report.startswith("ok")
    account = await Account.get(email=customer["email"])
    assert account.billing_contact_email == contact
