"""Remember this device: verifySignIn(rememberDevice: true) and signIn(deviceToken), through
the real schema and app."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from models import Account, RememberedDevice, SecurityEvent
from server import create_app
from services.clock import FrozenClock
from services.crypto import token_digest
from services.runtime import Runtime
from tests.conftest import make_settings, start
from tests.helpers import PASSWORD, Api, error_codes

NEW_PASSWORD = "a brand new password, long enough"
SIGN_IN = """
mutation S($input: SignInInput!) {
  signIn(input: $input) {
    session { token } challenge { token } errors { code field }
  }
}
"""
VERIFY = """
mutation V($input: VerifySignInInput!) {
  verifySignIn(input: $input) { session { token } deviceToken errors { code field } }
}
"""
SESSIONS = "query { viewer { sessions { current rememberedUntil } } }"
DISABLE = """
mutation D($password: String!) {
  disableTwoFactor(input: {password: $password, confirm: true}) { errors { code } }
}
"""


async def sign_in(
    api: Api, email: str, device_token: str | None, password: str = PASSWORD
) -> dict[str, Any]:
    variables = {"input": {"email": email, "password": password, "deviceToken": device_token}}
    payload: dict[str, Any] = (await api.data(SIGN_IN, variables))["signIn"]
    return payload


async def remembered(api: Api, email: str, secret: str) -> dict[str, Any]:
    """verifySignIn with rememberDevice after a fresh challenge."""
    challenge = (await sign_in(api, email, None))["challenge"]["token"]
    variables = {
        "input": {"challengeToken": challenge, "code": api.code(secret), "rememberDevice": True}
    }
    payload: dict[str, Any] = (await api.data(VERIFY, variables))["verifySignIn"]
    api.clock.advance(30)
    return payload


async def two_accounts(api: Api) -> tuple[str, str]:
    secrets = []
    for email in ("alice@example.com", "bob@example.com"):
        token = await api.sign_up(email)
        secrets.append((await api.enable_two_factor(token)).secret)
    return secrets[0], secrets[1]


async def test_a_remembered_device_skips_the_second_factor_until_the_window_ends(
    api: Api, clock: FrozenClock
) -> None:
    alice, _ = await two_accounts(api)
    payload = await remembered(api, "alice@example.com", alice)
    assert payload["errors"] == [] and payload["session"] is not None
    device_token = payload["deviceToken"]
    assert device_token and len(device_token) >= 32
    # Only its hash is stored.
    stored = await RememberedDevice.get(account_id=1)
    assert stored.token_hash == token_digest(device_token) != device_token
    ends = clock.now() - timedelta(seconds=30) + timedelta(days=30)
    assert await SecurityEvent.filter(account_id=1, kind="DEVICE_REMEMBERED").count() == 1
    listed = (await api.data(SESSIONS, token=payload["session"]["token"]))["viewer"]["sessions"]
    assert datetime.fromisoformat(listed[0]["rememberedUntil"]) == ends

    clock.set(ends - timedelta(seconds=1))
    skipped = await sign_in(api, "alice@example.com", device_token)
    assert skipped["challenge"] is None and skipped["session"] is not None
    # The password is always asked.
    wrong = await sign_in(api, "alice@example.com", device_token, password="not the password!")
    assert error_codes(wrong) == ["INVALID_CREDENTIALS"] and wrong["session"] is None
    # Another account's sign-in with Alice's token: the second factor is asked.
    bobs = await sign_in(api, "bob@example.com", device_token)
    assert bobs["session"] is None and bobs["challenge"] is not None

    # The window is fixed: use did not extend it.
    clock.set(ends)
    after = await sign_in(api, "alice@example.com", device_token)
    assert after["session"] is None and after["challenge"] is not None


async def test_a_password_change_or_turning_2fa_off_forgets_the_device(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    alice, bob = await two_accounts(api)
    first = await remembered(api, "alice@example.com", alice)
    alices, alice_session = first["deviceToken"], first["session"]["token"]
    listed = (await api.data(SESSIONS, token=alice_session))["viewer"]["sessions"]
    assert [s["rememberedUntil"] is not None for s in listed if s["current"]] == [True]
    bobs = await remembered(api, "bob@example.com", bob)
    # Bob's own device still works: nothing below is his.
    assert (await sign_in(api, "bob@example.com", bobs["deviceToken"]))["session"] is not None

    # changePassword lands in parallel: the new hash is written as it would write it.
    runtime: Runtime = app.state.runtime
    new_hash = await runtime.passwords.hash(NEW_PASSWORD)
    await Account.filter(email="alice@example.com").update(password_hash=new_hash)
    after = await sign_in(api, "alice@example.com", alices, password=NEW_PASSWORD)
    assert after["session"] is None and after["challenge"] is not None
    listed = (await api.data(SESSIONS, token=alice_session))["viewer"]["sessions"]
    assert [s["rememberedUntil"] for s in listed if s["current"]] == [None]

    # Bob turns 2FA off: his devices are forgotten, not Alice's.
    await api.data(DISABLE, {"password": PASSWORD}, token=bobs["session"]["token"])
    assert await RememberedDevice.filter(account_id=2).count() == 0
    assert await RememberedDevice.filter(account_id=1).count() == 1


async def test_a_wrong_token_only_means_the_second_factor_is_asked(api: Api) -> None:
    await two_accounts(api)
    for token in ("not-a-device-token", "", "x" * 300):
        payload = await sign_in(api, "alice@example.com", token)
        assert payload["errors"] == [] and payload["challenge"] is not None


async def test_zero_days_turns_the_feature_off(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    app = create_app(make_settings(db_path, tmp_path / "var", remember_device_days=0), clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        alice, _ = await two_accounts(api)
        payload = await remembered(api, "alice@example.com", alice)
        assert payload["errors"] == [
            {"code": "INVALID_INPUT", "field": ["input", "rememberDevice"]}
        ]
        assert payload["session"] is None and payload["deviceToken"] is None
        assert await RememberedDevice.all().count() == 0
