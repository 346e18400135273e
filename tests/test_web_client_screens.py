"""The web client when a session ends, the server is out of reach, a password is wrong or a
rate limit holds, driven in headless Chromium (webclient/tests/sessions.mjs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from models import Account, FailedAttempt
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
