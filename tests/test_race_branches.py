"""The race branches of the second step and of 2FA's lifecycle, made to run (issue 17 item 7).

A race is lost when a parallel request changes the rows between a request's check and its
conditional write. Each test makes that happen every time: it wraps the step just before the
write, and the first time through lets a whole parallel request (through the API, or the
service a parallel request would run) finish first. The cap test sends more guesses than a
challenge allows at one challenge together, held at a barrier until every one of them has
found the challenge live. On the suite's database: SQLite, and PostgreSQL in make test's
PostgreSQL pass."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from models import Account, BackupCode, SecurityKey, Session, SignInChallenge, TwoFactor
from models.activity import FailedAttempt
from models.two_factor import TwoFactorState
from services import backup_codes, key_sign_in, sign_in_challenges, two_factor
from services.crypto import token_digest
from services.errors import TwoFactorAlreadyEnabled, TwoFactorNotEnabled
from services.runtime import RequestMeta, Runtime
from services.throttle import second_factor_subject
from tests.helpers import PASSWORD, Api, error_codes
from tests.key_client import Keys
from tests.soft_authenticator import SoftAuthenticator

META = RequestMeta(ip_address="203.0.113.9", user_agent="race-tests/1.0")
ALICE = "alice@example.com"


def meanwhile(
    monkeypatch: pytest.MonkeyPatch,
    module: object,
    name: str,
    parallel: Callable[[], Awaitable[Any]],
    *,
    before: bool = False,
) -> list[Any]:
    """Wrap `module.name`: the first call lets `parallel()` run to its end (after the real
    call, or `before` it); the list receives what `parallel()` returned."""
    real = getattr(module, name)
    outcome: list[Any] = []

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not outcome and before:
            outcome.append(await parallel())
        result = await real(*args, **kwargs)
        if not outcome:
            outcome.append(None)  # set first: the parallel request passes here too
            outcome[0] = await parallel()
        return result

    monkeypatch.setattr(module, name, wrapper)
    return outcome


async def alice_with_2fa(api: Api) -> tuple[str, str, list[str]]:
    token = await api.sign_up(ALICE)
    enabled = await api.enable_two_factor(token)
    api.totp_secrets[ALICE] = enabled.secret
    return token, enabled.secret, enabled.backup_codes


# Sign-in challenges ------------------------------------------------------------------------


async def test_a_parallel_request_finishing_the_challenge_first_wins_alone(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret, codes = await alice_with_2fa(api)
    challenge = await api.challenge(ALICE)
    # While this request's TOTP code is being accepted, another finishes the challenge with
    # a backup code.
    parallel = meanwhile(
        monkeypatch, two_factor, "accept_totp", lambda: api.verify(challenge, codes[0])
    )
    lost = await api.verify(challenge, api.code(secret))
    assert parallel[0]["session"] is not None and parallel[0]["errors"] == []
    assert lost["session"] is None and error_codes(lost) == ["CHALLENGE_EXPIRED"]
    # One session opened from the challenge (besides the sign-up one), and the lost request
    # left no failed guess behind.
    assert await Session.all().count() == 2
    assert not await FailedAttempt.filter(subject=second_factor_subject(1)).exists()


async def test_more_guesses_than_the_cap_at_once_check_only_the_caps_worth(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    cap = rt.settings.challenge_max_attempts
    guesses = cap + 3
    assert guesses < rt.settings.max_failures  # the per-account limit is not what refuses
    await alice_with_2fa(api)
    challenge = await api.challenge(ALICE)
    # Every guess has found the challenge live before any takes one of its attempts.
    barrier = asyncio.Barrier(guesses)
    real = sign_in_challenges.begin_attempt

    async def together(*args: Any, **kwargs: Any) -> Any:
        await asyncio.wait_for(barrier.wait(), timeout=20)
        return await real(*args, **kwargs)

    monkeypatch.setattr(sign_in_challenges, "begin_attempt", together)
    results = await asyncio.gather(*(api.verify(challenge, "000000") for _ in range(guesses)))
    outcomes = sorted(code for result in results for code in error_codes(result))
    assert outcomes == sorted(["INVALID_CODE"] * cap + ["CHALLENGE_EXPIRED"] * (guesses - cap))
    row = await SignInChallenge.get(account_id=1)
    assert row.attempts == cap and row.used_at is None
    # Only the guesses that were checked count against the account.
    assert await FailedAttempt.filter(subject=second_factor_subject(1)).count() == cap


# Setups: start, confirm, cancel, disable, regenerate ---------------------------------------


async def test_a_confirmation_raced_by_a_cancel_finds_no_pending_setup(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.sign_up(ALICE)
    secret = (await api.start(token))["setup"]["secret"]
    account = await Account.get(email=ALICE)
    meanwhile(monkeypatch, two_factor, "begin_attempt", lambda: two_factor.cancel(account))
    refused = await api.confirm(token, api.code(secret))
    assert error_codes(refused) == ["NO_PENDING_SETUP"]
    assert not await TwoFactor.exists(account_id=account.id)
    assert (await Account.get(id=account.id)).two_factor_enabled_at is None
    assert not await BackupCode.exists()


async def test_a_confirmation_raced_by_a_new_start_finds_no_pending_setup(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.sign_up(ALICE)
    secret = (await api.start(token))["setup"]["secret"]
    parallel = meanwhile(monkeypatch, two_factor, "begin_attempt", lambda: api.start(token))
    refused = await api.confirm(token, api.code(secret))
    assert error_codes(refused) == ["NO_PENDING_SETUP"]
    # The newer setup is the one left, still pending.
    assert parallel[0]["setup"]["secret"] != secret
    device = await TwoFactor.get(account_id=1)
    assert device.state == TwoFactorState.PENDING
    assert not await BackupCode.exists()


async def test_a_confirmation_raced_by_another_confirmation_is_already_enabled(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.sign_up(ALICE)
    secret = (await api.start(token))["setup"]["secret"]
    code = api.code(secret)
    parallel = meanwhile(monkeypatch, two_factor, "begin_attempt", lambda: api.confirm(token, code))
    refused = await api.confirm(token, code)
    assert parallel[0]["errors"] == [] and len(parallel[0]["backupCodes"]) == 10
    assert error_codes(refused) == ["TWO_FACTOR_ALREADY_ENABLED"]
    assert await BackupCode.all().count() == 10


async def test_a_start_raced_by_a_confirmation_is_already_enabled(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    token = await api.sign_up(ALICE)
    secret = (await api.start(token))["setup"]["secret"]
    account = await Account.get(email=ALICE)
    parallel = meanwhile(
        monkeypatch, two_factor, "check_password", lambda: api.confirm(token, api.code(secret))
    )
    with pytest.raises(TwoFactorAlreadyEnabled):
        await two_factor.start(rt, account, PASSWORD, META)
    assert parallel[0]["errors"] == []
    # The confirmed app is untouched by the start that lost.
    device = await TwoFactor.get(account_id=account.id)
    assert device.state == TwoFactorState.ACTIVE
    assert rt.keys.decrypt(device.encrypted_secret).decode("ascii") == secret


async def test_a_disable_raced_by_another_disable_turns_off_once(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    await alice_with_2fa(api)
    account = await Account.get(email=ALICE)
    other = await Account.get(email=ALICE)
    meanwhile(
        monkeypatch,
        two_factor,
        "check_password",
        lambda: two_factor.disable(rt, other, PASSWORD, True, META),
    )
    with pytest.raises(TwoFactorNotEnabled):
        await two_factor.disable(rt, account, PASSWORD, True, META)
    assert (await Account.get(id=account.id)).two_factor_enabled_at is None
    kinds = [n.kind for n in await account.notifications.all()]  # type: ignore[attr-defined]
    assert kinds.count("TWO_FACTOR_DISABLED") == 1


async def test_a_regeneration_raced_by_a_disable_makes_no_codes(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    await alice_with_2fa(api)
    account = await Account.get(email=ALICE)
    other = await Account.get(email=ALICE)
    meanwhile(
        monkeypatch,
        backup_codes,
        "check_password",
        lambda: two_factor.disable(rt, other, PASSWORD, True, META),
    )
    with pytest.raises(TwoFactorNotEnabled):
        await backup_codes.regenerate(rt, account, PASSWORD, META)
    assert not await BackupCode.exists()
    assert (await Account.get(id=account.id)).backup_codes_generated_at is None


# Security keys -----------------------------------------------------------------------------


async def alice_with_key(api: Api) -> tuple[Keys, SoftAuthenticator, str]:
    keys = Keys(api)
    token, secret, _ = await alice_with_2fa(api)
    key = SoftAuthenticator()
    await keys.register(token, key)
    return keys, key, secret


async def test_a_key_answer_raced_by_a_code_finishing_the_challenge_is_expired(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, key, secret = await alice_with_key(api)
    challenge = await keys.challenge(ALICE)
    registered = await SecurityKey.get(account_id=1)
    api.clock.advance(30)
    parallel = meanwhile(
        monkeypatch,
        key_sign_in,
        "_verified_key",
        lambda: api.verify(challenge["token"], api.code(secret)),
    )
    lost = await keys.verify(
        challenge["token"], key.get(challenge["securityKeyOptions"], keys.origin)
    )
    assert parallel[0]["session"] is not None
    assert lost["session"] is None and error_codes(lost) == ["CHALLENGE_EXPIRED"]
    # The key's use rolled back with the sign-in that lost: its count did not move.
    stored = await SecurityKey.get(account_id=1)
    assert (stored.sign_count, stored.last_used_at) == (registered.sign_count, None)


async def test_two_answers_of_one_key_the_later_recorded_first_refuse_the_earlier(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, key, _ = await alice_with_key(api)
    first, second = await keys.challenge(ALICE), await keys.challenge(ALICE)
    early = key.get(first["securityKeyOptions"], keys.origin)
    late = key.get(second["securityKeyOptions"], keys.origin)
    parallel = meanwhile(
        monkeypatch, key_sign_in, "_verified_key", lambda: keys.verify(second["token"], late)
    )
    lost = await keys.verify(first["token"], early)
    assert parallel[0]["session"] is not None
    assert lost["session"] is None and error_codes(lost) == ["SECURITY_KEY_REJECTED"]
    # The lost sign-in rolled back: its challenge is still open, the count is the later one.
    assert (await SignInChallenge.get(token_hash=token_digest(first["token"]))).used_at is None
    stored = await SecurityKey.get(account_id=1)
    assert stored.sign_count == key.credentials[next(iter(key.credentials))].sign_count


async def test_two_passkey_answers_the_later_recorded_first_refuse_the_earlier(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = Keys(api)
    token = await api.sign_up(ALICE)
    phone = SoftAuthenticator()
    await keys.register(token, phone, "Phone", passkey=True)
    one, two = await keys.start_passkey(), await keys.start_passkey()
    early = phone.get(one["options"], keys.origin)
    late = phone.get(two["options"], keys.origin)
    parallel = meanwhile(
        monkeypatch,
        key_sign_in,
        "_verified_key",
        lambda: keys.finish_passkey(two["token"], late),
    )
    lost = await keys.finish_passkey(one["token"], early)
    assert parallel[0]["session"] is not None
    assert lost["session"] is None and error_codes(lost) == ["SECURITY_KEY_REJECTED"]
    assert await Session.filter(account_id=1).count() == 2  # sign-up's and the winner's
