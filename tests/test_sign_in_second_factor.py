"""The second step of signing in with 2FA: challenges, replay, guessing limits, backup codes."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette

from models import Account, BackupCode, SecurityEvent, Session
from server import create_app
from services.clock import FrozenClock
from services.settings import Settings
from services.totp import normalize_code
from tests.conftest import start
from tests.helpers import Api, error_codes

EMAIL = "alice@example.com"

VIEWER = "query { viewer { email twoFactor { enabled } } }"

VERIFY_FIELDS = """
  session { token }
  usedBackupCode
  backupCodesRemaining
  errors { code field retryAfter }
"""


def wrong_code(api: Api, secret: str) -> str:
    """A well-formed 6-digit code that matches no step of the ±1 window."""
    valid = {api.code(secret, steps) for steps in (-1, 0, 1)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)


async def session_count() -> int:
    return await Session.filter(account__email=EMAIL).count()


async def event_count(kind: str) -> int:
    return await SecurityEvent.filter(account__email=EMAIL, kind=kind).count()


def sessions_in(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [payload for payload in payloads if payload["session"] is not None]


# ---------------------------------------------------------------- the challenge


async def test_sign_in_with_two_factor_returns_a_challenge_and_no_session(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    before = await session_count()

    signed_in = await api.sign_in()

    assert error_codes(signed_in) == []
    assert signed_in["session"] is None
    challenge = signed_in["challenge"]
    assert challenge["methods"] == ["TOTP", "BACKUP_CODE"]
    assert datetime.fromisoformat(challenge["expiresAt"]) == api.clock.now() + timedelta(minutes=5)
    assert challenge["token"]
    assert await session_count() == before


async def test_challenge_expires_after_five_minutes(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    still_live = await api.challenge()
    expiring = await api.challenge()

    api.clock.advance(5 * 60 - 1)
    just_in_time = await api.verify(still_live, api.code(enabled.secret))
    assert error_codes(just_in_time) == []
    assert just_in_time["session"] is not None

    api.clock.advance(2)  # 5 min + 1 s after signIn; a new TOTP step, so a fresh code
    late = await api.verify(expiring, api.code(enabled.secret))
    assert error_codes(late) == ["CHALLENGE_EXPIRED"]
    assert late["errors"][0]["field"] == ["input", "challengeToken"]
    assert late["session"] is None


async def test_unknown_challenge_token_is_expired(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    await api.challenge()  # a live challenge exists, but not this one

    garbage = await api.verify("not-a-challenge-token", api.code(enabled.secret))

    assert error_codes(garbage) == ["CHALLENGE_EXPIRED"]
    assert garbage["session"] is None


async def test_used_challenge_cannot_be_verified_again(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge()
    first = await api.verify(challenge, api.code(enabled.secret))
    assert error_codes(first) == []
    sessions = await session_count()

    api.clock.advance(30)  # a fresh, never-accepted code: only the challenge is spent
    again = await api.verify(challenge, api.code(enabled.secret))

    assert error_codes(again) == ["CHALLENGE_EXPIRED"]
    assert again["session"] is None
    assert await session_count() == sessions


# ---------------------------------------------------------------- TOTP


async def test_verify_with_totp_returns_a_working_session(api: Api) -> None:
    sign_up_token = await api.sign_up()
    enabled = await api.enable_two_factor(sign_up_token)

    verified = await api.verify(await api.challenge(), api.code(enabled.secret))

    assert error_codes(verified) == []
    assert verified["usedBackupCode"] is False
    assert verified["backupCodesRemaining"] == 10
    session_token = verified["session"]["token"]
    assert session_token and session_token != sign_up_token
    viewer = (await api.data(VIEWER, token=session_token))["viewer"]
    assert viewer == {"email": EMAIL, "twoFactor": {"enabled": True}}


async def test_code_that_confirmed_setup_is_refused_at_sign_in(api: Api) -> None:
    token = await api.sign_up()
    setup = await api.start(token)
    secret = setup["setup"]["secret"]
    confirming_code = api.code(secret)
    confirmed = await api.confirm(token, confirming_code)
    assert error_codes(confirmed) == []

    replayed = await api.verify(await api.challenge(), confirming_code)

    assert error_codes(replayed) == ["CODE_ALREADY_USED"]
    assert replayed["session"] is None


async def test_code_accepted_at_sign_in_is_refused_at_the_next(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    code = api.code(enabled.secret)
    assert error_codes(await api.verify(await api.challenge(), code)) == []

    replayed = await api.verify(await api.challenge(), code)

    assert error_codes(replayed) == ["CODE_ALREADY_USED"]
    assert replayed["session"] is None


async def test_earlier_step_is_refused_after_a_later_one_was_accepted(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    api.clock.advance(30)
    # The previous step's code is inside the ±1 window and was never accepted itself.
    previous = api.code(enabled.secret, -1)
    assert error_codes(await api.verify(await api.challenge(), api.code(enabled.secret))) == []

    older = await api.verify(await api.challenge(), previous)
    assert error_codes(older) == ["CODE_ALREADY_USED"]
    assert older["session"] is None

    api.clock.advance(30)
    fresh = await api.verify(await api.challenge(), api.code(enabled.secret))
    assert error_codes(fresh) == []
    assert fresh["session"] is not None


async def test_concurrent_sign_ins_with_one_totp_code_open_one_session(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    first, second = await api.challenge(), await api.challenge()
    code = api.code(enabled.secret)
    before = await session_count()

    results = await asyncio.gather(api.verify(first, code), api.verify(second, code))

    assert len(sessions_in(list(results))) == 1
    losers = [result for result in results if result["session"] is None]
    assert error_codes(losers[0]) == ["CODE_ALREADY_USED"]
    assert await session_count() == before + 1


# ---------------------------------------------------------------- guessing


async def test_a_challenge_allows_five_guesses(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge()
    wrong = wrong_code(api, enabled.secret)

    for _ in range(5):
        guess = await api.verify(challenge, wrong)
        assert error_codes(guess) == ["INVALID_CODE"]
        assert guess["errors"][0]["field"] == ["input", "code"]
        assert guess["session"] is None
    assert await event_count("SECOND_FACTOR_FAILED") == 5

    sixth = await api.verify(challenge, api.code(enabled.secret))
    assert error_codes(sixth) == ["CHALLENGE_EXPIRED"]
    assert sixth["session"] is None


async def test_aliases_in_one_request_share_the_challenge_guess_limit(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    challenge = await api.challenge()
    fields = "\n".join(
        f"v{n}: verifySignIn(input: {{challengeToken: $challenge, code: ${variable}}})"
        f" {{ {VERIFY_FIELDS} }}"
        for n, variable in enumerate(["wrong"] * 5 + ["right"], start=1)
    )
    document = (
        f"mutation Guess($challenge: String!, $wrong: String!, $right: String!) {{\n{fields}\n}}"
    )
    before = await session_count()

    body = await api.gql(
        document,
        {
            "challenge": challenge,
            "wrong": wrong_code(api, enabled.secret),
            "right": api.code(enabled.secret),
        },
    )

    assert "errors" not in body, body["errors"]
    data = body["data"]
    for n in range(1, 6):
        assert error_codes(data[f"v{n}"]) == ["INVALID_CODE"]
        assert data[f"v{n}"]["session"] is None
    assert error_codes(data["v6"]) == ["CHALLENGE_EXPIRED"]
    assert data["v6"]["session"] is None
    assert await session_count() == before
    assert await event_count("SECOND_FACTOR_FAILED") == 5


async def test_more_than_ten_failures_rate_limit_the_account(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    wrong = wrong_code(api, enabled.secret)
    for _ in range(2):  # 5 + 5 wrong codes, on two challenges
        challenge = await api.challenge()
        for _ in range(5):
            assert error_codes(await api.verify(challenge, wrong)) == ["INVALID_CODE"]

    eleventh = await api.verify(await api.challenge(), api.code(enabled.secret))

    assert error_codes(eleventh) == ["RATE_LIMITED"]
    assert eleventh["session"] is None
    retry_after = eleventh["errors"][0]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= 15 * 60

    api.clock.advance(15 * 60)
    later = await api.verify(await api.challenge(), api.code(enabled.secret))
    assert error_codes(later) == []
    assert later["session"] is not None


async def test_failure_count_survives_a_restart(settings: Settings, clock: FrozenClock) -> None:
    first_app = create_app(settings, clock=clock)
    async for client in start(first_app):
        api = Api(client, clock)
        token = await api.sign_up()
        enabled = await api.enable_two_factor(token)
        wrong = wrong_code(api, enabled.secret)
        for _ in range(2):
            challenge = await api.challenge()
            for _ in range(5):
                assert error_codes(await api.verify(challenge, wrong)) == ["INVALID_CODE"]

    restarted = create_app(settings, clock=clock)
    async for client in start(restarted):
        api = Api(client, clock)
        eleventh = await api.verify(await api.challenge(), api.code(enabled.secret))
        assert error_codes(eleventh) == ["RATE_LIMITED"]
        assert eleventh["session"] is None
        assert 0 < eleventh["errors"][0]["retryAfter"] <= 15 * 60


# ---------------------------------------------------------------- backup codes


async def test_backup_code_is_accepted_in_any_spacing_and_case(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    first, second, third = enabled.backup_codes[:3]
    assert first.count("-") == 1  # issued as xxxxx-xxxxx
    forms = [
        first.replace("-", " ").upper(),  # "ABCDE FGHJK"
        second.replace("-", ""),  # "abcdefghjk"
        " " + "-".join(third.replace("-", "")) + " ",  # " a-b-c-d-e-f-g-h-j-k "
    ]

    for used, form in enumerate(forms, start=1):
        verified = await api.verify(await api.challenge(), form)
        assert error_codes(verified) == [], form
        assert verified["session"] is not None
        assert verified["usedBackupCode"] is True
        assert verified["backupCodesRemaining"] == 10 - used
    assert await event_count("BACKUP_CODE_USED") == 3


async def test_backup_code_works_only_once(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    code = enabled.backup_codes[0]
    assert error_codes(await api.verify(await api.challenge(), code)) == []

    again = await api.verify(await api.challenge(), code.upper())

    assert error_codes(again) == ["INVALID_CODE"]
    assert again["session"] is None
    assert await event_count("BACKUP_CODE_USED") == 1


async def concurrent_backup_code_uses(api: Api, app: Starlette, uses: int) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    code = enabled.backup_codes[0]
    challenges = [await api.challenge() for _ in range(uses)]

    results = await asyncio.gather(*(api.verify(challenge, code) for challenge in challenges))

    outcomes = Counter(
        "session" if result["session"] is not None else ",".join(error_codes(result))
        for result in results
    )
    winners = sessions_in(list(results))
    assert len(winners) == 1, outcomes
    assert winners[0]["usedBackupCode"] is True
    assert set(outcomes) <= {"session", "INVALID_CODE", "RATE_LIMITED"}, outcomes
    account = await Account.get(email=EMAIL)
    digests = app.state.runtime.keys.account_digests(account.id, normalize_code(code))
    row = await BackupCode.get(digest__in=digests)
    assert row.used_at is not None
    assert await BackupCode.filter(account__email=EMAIL, used_at__isnull=False).count() == 1
    assert await event_count("BACKUP_CODE_USED") == 1


async def test_concurrent_uses_of_one_backup_code_open_one_session(
    api: Api, app: Starlette
) -> None:
    await concurrent_backup_code_uses(api, app, 20)


async def test_ten_concurrent_uses_of_one_backup_code_open_one_session(
    api: Api, app: Starlette
) -> None:
    # Within the account's failure limit: isolates the single-use guarantee from throttling.
    await concurrent_backup_code_uses(api, app, 10)
