"""services/sign_in_challenges.py line by line: the per-challenge attempt cap (also when the
guesses arrive together), what a right or refused guess leaves in the account's failure
window, the race branches, and what a completed sign-in records (docs/mutation-testing.md)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import (
    Account,
    FailedAttempt,
    Notification,
    OutboxEmail,
    RememberedDevice,
    SecurityEvent,
    Session,
    SignInChallenge,
)
from services import recovery_schedule, sign_in_challenges, throttle
from services.crypto import token_digest
from services.errors import ChallengeExpired, InvalidCode, InvalidInput, RateLimited
from services.runtime import RequestMeta, Runtime
from services.settings import Settings
from tests.conftest import make_settings
from tests.helpers import Api, Enabled
from tests.test_recovery import customer
from tests.test_recovery_waiting_period import WAIT, approved

EMAIL = "alice@example.com"
META = RequestMeta(ip_address="203.0.113.7", user_agent="verrou-tests/1.0")


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    # Support's approval waits, as in production: a sign-in meanwhile cancels it.
    return make_settings(db_path, tmp_path / "var", recovery_wait_seconds=WAIT)


def wrong_code(api: Api, secret: str) -> str:
    valid = {api.code(secret, steps) for steps in (-1, 0, 1)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)


async def enabled_account(api: Api, email: str = EMAIL) -> Enabled:
    token = await api.sign_up(email)
    return await api.enable_two_factor(token)


async def failures(account_email: str = EMAIL) -> int:
    account = await Account.get(email=account_email)
    return await FailedAttempt.filter(subject=throttle.second_factor_subject(account.id)).count()


async def events(kind: str, email: str = EMAIL) -> int:
    return await SecurityEvent.filter(account__email=email, kind=kind).count()


async def notifications(kind: str, email: str = EMAIL) -> list[Notification]:
    return await Notification.filter(account__email=email, kind=kind).order_by("id")


def expired() -> Any:
    """CHALLENGE_EXPIRED, on the challenge token's field."""
    return pytest.raises(ChallengeExpired, check=lambda error: error.field == "challenge_token")


# ---------------------------------------------------------------- the attempt cap


async def test_more_guesses_than_the_cap_sent_at_once_check_only_the_cap(
    api: Api, rt: Runtime
) -> None:
    enabled = await enabled_account(api)
    challenge = await api.challenge()
    cap = rt.settings.challenge_max_attempts
    wrong = wrong_code(api, enabled.secret)

    async def guess() -> str:
        try:
            await sign_in_challenges.verify(rt, META, token=challenge, code=wrong)
        except (InvalidCode, ChallengeExpired) as refused:
            return type(refused).__name__
        return "accepted"

    outcomes = await asyncio.gather(*(guess() for _ in range(2 * cap)))
    assert outcomes.count("InvalidCode") == cap
    assert outcomes.count("ChallengeExpired") == cap
    assert (await SignInChallenge.get(account__email=EMAIL)).attempts == cap
    assert await events("SECOND_FACTOR_FAILED") == cap


async def test_guesses_that_found_the_challenge_live_take_only_the_cap(
    api: Api, rt: Runtime
) -> None:
    """Every guess looked the challenge up before any took an attempt: the conditional
    UPDATE alone keeps them to the cap."""
    await enabled_account(api)
    token = await api.challenge()
    cap = rt.settings.challenge_max_attempts
    found = [await sign_in_challenges.find_live(rt, token) for _ in range(cap + 3)]

    taken = 0
    for challenge in found:
        try:
            await sign_in_challenges.take_attempt(rt, challenge)
        except ChallengeExpired:
            continue
        taken += 1
    assert taken == cap
    # The refused ones checked no factor: nothing of them stays in the account's window.
    assert await failures() == cap


async def test_a_challenge_out_of_attempts_is_expired_before_the_account_is_counted(
    api: Api, rt: Runtime
) -> None:
    """With the account's window full too, the spent challenge still answers
    CHALLENGE_EXPIRED: it is refused before an attempt is recorded against the account."""
    enabled = await enabled_account(api)
    wrong = wrong_code(api, enabled.secret)
    spent = await api.challenge()
    for _ in range(rt.settings.challenge_max_attempts):
        with pytest.raises(InvalidCode):
            await sign_in_challenges.verify(rt, META, token=spent, code=wrong)
    while await failures() < rt.settings.max_failures:
        with pytest.raises(InvalidCode):
            await sign_in_challenges.verify(rt, META, token=await api.challenge(), code=wrong)
    with pytest.raises(RateLimited):
        await sign_in_challenges.verify(rt, META, token=await api.challenge(), code=wrong)

    with expired():
        await sign_in_challenges.verify(rt, META, token=spent, code=wrong)


async def test_the_last_allowed_guess_can_still_be_right(api: Api, rt: Runtime) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    wrong = wrong_code(api, enabled.secret)
    for _ in range(rt.settings.challenge_max_attempts - 1):
        with pytest.raises(InvalidCode):
            await sign_in_challenges.verify(rt, META, token=token, code=wrong)
    verified = await sign_in_challenges.verify(rt, META, token=token, code=api.code(enabled.secret))
    assert verified.issued.token


# ---------------------------------------------------------------- expiry and use


async def test_a_challenge_is_expired_at_its_expiry_instant(api: Api, rt: Runtime) -> None:
    await enabled_account(api)
    token = await api.challenge()
    challenge = await SignInChallenge.get(account__email=EMAIL)
    rt.clock.set(challenge.expires_at - timedelta(seconds=1))
    await sign_in_challenges.find_live(rt, token)
    rt.clock.set(challenge.expires_at)
    with expired():
        await sign_in_challenges.find_live(rt, token)


async def test_a_challenge_expiring_after_it_was_found_takes_no_attempt(
    api: Api, rt: Runtime
) -> None:
    await enabled_account(api)
    token = await api.challenge()
    challenge = await sign_in_challenges.find_live(rt, token)
    rt.clock.set(challenge.expires_at)
    with expired():
        await sign_in_challenges.take_attempt(rt, challenge)
    assert (await SignInChallenge.get(id=challenge.id)).attempts == 0
    assert await failures() == 0


async def test_a_challenge_finished_after_it_was_found_takes_no_attempt(
    api: Api, rt: Runtime
) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    challenge = await sign_in_challenges.find_live(rt, token)
    await sign_in_challenges.verify(rt, META, token=token, code=api.code(enabled.secret))
    with expired():
        await sign_in_challenges.take_attempt(rt, challenge)
    assert await failures() == 0


async def test_a_used_challenge_is_not_live(api: Api, rt: Runtime) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    await sign_in_challenges.verify(rt, META, token=token, code=api.code(enabled.secret))
    with expired():
        await sign_in_challenges.find_live(rt, token)


async def test_a_challenge_is_found_by_its_token_only(api: Api, rt: Runtime) -> None:
    await enabled_account(api)
    await enabled_account(api, "bob@example.com")
    alice = await api.challenge()
    bob = await api.challenge("bob@example.com")
    assert (await sign_in_challenges.find_live(rt, alice)).account.email == EMAIL
    assert (await sign_in_challenges.find_live(rt, bob)).account.email == "bob@example.com"
    with expired():
        await sign_in_challenges.find_live(rt, alice + "x")


async def test_two_completions_of_one_challenge_open_one_session(api: Api, rt: Runtime) -> None:
    await enabled_account(api)
    token = await api.challenge()
    first = await sign_in_challenges.find_live(rt, token)
    second = await sign_in_challenges.find_live(rt, token)
    before = await Session.filter(account__email=EMAIL).count()
    completed = await sign_in_challenges.complete(rt, META, first)
    with expired():
        await sign_in_challenges.complete(rt, META, second)
    assert await Session.filter(account__email=EMAIL).count() == before + 1
    assert await events("SIGNED_IN") == 2  # sign-up's, then this one
    # By default (a security key's answer) no backup code was used, no device remembered.
    assert not completed.used_backup_code
    assert completed.device_token is None
    assert await events("BACKUP_CODE_USED") == 0
    assert not await RememberedDevice.exists(account__email=EMAIL)


async def test_a_sign_in_from_a_new_device_is_told_to_the_owner(api: Api, rt: Runtime) -> None:
    enabled = await enabled_account(api)
    elsewhere = RequestMeta(
        ip_address="198.51.100.20",
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )
    await sign_in_challenges.verify(
        rt, elsewhere, token=await api.challenge(), code=api.code(enabled.secret)
    )
    (told,) = await notifications("NEW_SIGN_IN")
    assert told.params == {"device": "Firefox on Linux"}


# ---------------------------------------------------------------- right and wrong codes


async def test_a_right_code_leaves_nothing_in_the_accounts_failure_window(
    api: Api, rt: Runtime
) -> None:
    enabled = await enabled_account(api)
    for _ in range(rt.settings.max_failures + 1):
        token = await api.challenge()
        rt.clock.advance(30)  # a step is accepted once
        await sign_in_challenges.verify(rt, META, token=token, code=api.code(enabled.secret))
    assert await failures() == 0


async def test_a_wrong_code_stays_in_the_accounts_failure_window(api: Api, rt: Runtime) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    with pytest.raises(InvalidCode):
        await sign_in_challenges.verify(rt, META, token=token, code=wrong_code(api, enabled.secret))
    with pytest.raises(InvalidCode) as refused:
        await sign_in_challenges.verify(rt, META, token=token, code="zzzzz-zzzzz")
    assert refused.value.field == "code"
    assert await failures() == 2
    assert await events("SECOND_FACTOR_FAILED") == 2


async def test_a_totp_sign_in_records_signed_in_and_no_backup_code_use(
    api: Api, rt: Runtime
) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    before = await events("SIGNED_IN")
    verified = await sign_in_challenges.verify(rt, META, token=token, code=api.code(enabled.secret))
    assert await events("SIGNED_IN") == before + 1
    assert await events("BACKUP_CODE_USED") == 0
    assert not verified.used_backup_code
    assert verified.backup_codes_remaining == len(enabled.backup_codes)
    assert verified.device_token is None
    assert await notifications("BACKUP_CODE_USED") == []
    assert (await Session.get(id=verified.issued.session.id)).remembered_device_id is None


async def test_a_backup_code_sign_in_says_so_and_counts_what_is_left(api: Api, rt: Runtime) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    verified = await sign_in_challenges.verify(rt, META, token=token, code=enabled.backup_codes[0])
    assert verified.used_backup_code
    assert verified.backup_codes_remaining == len(enabled.backup_codes) - 1
    assert await events("BACKUP_CODE_USED") == 1
    assert await events("SIGNED_IN") == 2
    (used,) = await notifications("BACKUP_CODE_USED")
    assert used.params == {"remaining": len(enabled.backup_codes) - 1}
    assert await notifications("BACKUP_CODES_LOW") == []


async def test_backup_codes_low_is_sent_from_the_threshold_down(api: Api, rt: Runtime) -> None:
    enabled = await enabled_account(api)
    threshold = rt.settings.backup_codes_low_threshold
    codes = enabled.backup_codes
    # Down to one above the threshold: no warning yet.
    for code in codes[: len(codes) - threshold - 1]:
        await sign_in_challenges.verify(rt, META, token=await api.challenge(), code=code)
    assert await notifications("BACKUP_CODES_LOW") == []
    # The use that leaves exactly `threshold` codes warns.
    await sign_in_challenges.verify(
        rt, META, token=await api.challenge(), code=codes[len(codes) - threshold - 1]
    )
    (low,) = await notifications("BACKUP_CODES_LOW")
    assert low.params == {"remaining": threshold}


# ---------------------------------------------------------------- remembering the device


async def test_remember_device_is_refused_first_when_the_server_turned_it_off(
    api: Api, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    enabled = await enabled_account(api)
    token = await api.challenge()
    monkeypatch.setattr(rt.settings, "remember_device_days", 0)
    with pytest.raises(InvalidInput) as refused:
        await sign_in_challenges.verify(
            rt, META, token=token, code=api.code(enabled.secret), remember_device=True
        )
    assert refused.value.message_key == "REMEMBER_DEVICE_OFF"
    assert refused.value.field == "remember_device"
    assert (await SignInChallenge.get(account__email=EMAIL)).attempts == 0
    assert await failures() == 0


async def test_a_remembered_device_is_bound_to_the_new_session_and_told(
    api: Api, rt: Runtime
) -> None:
    enabled = await enabled_account(api)
    # 23:30 UTC is 00:30 the next day in Paris: the notification gives the local date.
    rt.clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=UTC))
    token = await api.challenge()
    firefox = RequestMeta(
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )
    verified = await sign_in_challenges.verify(
        rt, firefox, token=token, code=api.code(enabled.secret), remember_device=True
    )
    assert verified.device_token is not None
    device = await RememberedDevice.get(account__email=EMAIL)
    assert device.token_hash == token_digest(verified.device_token)
    assert (await Session.get(id=verified.issued.session.id)).remembered_device_id == device.id
    assert await events("DEVICE_REMEMBERED") == 1
    (told,) = await notifications("DEVICE_REMEMBERED")
    assert told.params == {"device": "Firefox on Linux", "until": "2026-12-26"}
    assert device.expires_at == rt.clock.now() + timedelta(days=rt.settings.remember_device_days)


async def test_a_device_without_a_known_browser_is_remembered_as_unknown(
    api: Api, rt: Runtime
) -> None:
    enabled = await enabled_account(api)
    verified = await sign_in_challenges.verify(
        rt,
        RequestMeta(ip_address="203.0.113.7"),
        token=await api.challenge(),
        code=api.code(enabled.secret),
        remember_device=True,
    )
    assert verified.device_token is not None
    (told,) = await notifications("DEVICE_REMEMBERED")
    assert told.params["device"] == "unknown"


async def test_the_device_remembered_email_says_until_when_in_the_servers_time_zone(
    api: Api, rt: Runtime
) -> None:
    token = await api.sign_up(EMAIL, locale="EN")
    enabled = await api.enable_two_factor(token)
    rt.clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=UTC))
    before = await OutboxEmail.all().values_list("id", flat=True)
    await sign_in_challenges.verify(
        rt, META, token=await api.challenge(), code=api.code(enabled.secret), remember_device=True
    )
    texts = [
        message_text(row.message) for row in await OutboxEmail.exclude(id__in=before).order_by("id")
    ]
    # 30 days after 25 November 23:30 UTC, in Europe/Paris.
    assert any("26 December 2026 at 00:30 (UTC+01:00)" in text for text in texts), texts


def message_text(raw: str) -> str:
    message = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    content: str = body.get_content()
    return content


# ---------------------------------------------------------------- a waiting recovery


async def test_a_sign_in_cancels_a_waiting_recovery_as_a_sign_in(
    api: Api, app: Starlette, rt: Runtime
) -> None:
    _, device = await customer(api)
    await approved(api, app)
    rt.clock.advance(30)
    await sign_in_challenges.verify(
        rt, META, token=await api.challenge(), code=api.code(device.secret)
    )
    (cancelled,) = await notifications("RECOVERY_CANCELLED")
    assert cancelled.params["reason"] == recovery_schedule.BY_SIGN_IN


async def test_a_completion_that_rolls_back_leaves_the_challenge_open(
    api: Api, rt: Runtime
) -> None:
    await enabled_account(api)
    token = await api.challenge()
    challenge = await sign_in_challenges.find_live(rt, token)

    class Failed(Exception):
        pass

    async def fail(change: object) -> None:
        raise Failed

    with pytest.raises(Failed):
        await sign_in_challenges.complete(rt, META, challenge, on_success=fail)
    assert (await SignInChallenge.get(id=challenge.id)).used_at is None
    await sign_in_challenges.complete(rt, META, await sign_in_challenges.find_live(rt, token))
