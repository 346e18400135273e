"""The payloads that change the account's 2FA return the account, its twoFactor fresh, with
the id a normalised client cache (Apollo, urql Graphcache, Relay) keys it on: the cache
updates the 2FA screen from the mutation's own answer."""

from __future__ import annotations

from typing import Any

from tests.helpers import PASSWORD, Api

ACCOUNT = (
    "account { id email "
    "twoFactor { enabled pendingSetup backupCodesRemaining backupCodesGeneratedAt } }"
)
VIEWER = "query { viewer { id } }"
CONFIRM = f"""
mutation C($input: ConfirmTwoFactorInput!) {{
  confirmTwoFactor(input: $input) {{ {ACCOUNT} errors {{ code }} }}
}}
"""
REGENERATE = f"""
mutation R($input: RegenerateBackupCodesInput!) {{
  regenerateBackupCodes(input: $input) {{ {ACCOUNT} errors {{ code }} }}
}}
"""
DISABLE = f"""
mutation D($input: DisableTwoFactorInput!) {{
  disableTwoFactor(input: $input) {{ {ACCOUNT} errors {{ code }} }}
}}
"""
CANCEL = f"mutation {{ cancelTwoFactorSetup {{ {ACCOUNT} errors {{ code }} }} }}"


async def viewer_id(api: Api, token: str) -> str:
    found: str = (await api.data(VIEWER, token=token))["viewer"]["id"]
    return found


def account_of(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["errors"] == [], payload
    account: dict[str, Any] = payload["account"]
    return account


async def test_confirm_returns_the_account_with_2fa_on(api: Api) -> None:
    token = await api.sign_up()
    setup = await api.start(token)
    code = api.code(setup["setup"]["secret"])
    payload = (await api.data(CONFIRM, {"input": {"code": code}}, token=token))["confirmTwoFactor"]
    account = account_of(payload)
    assert account["id"] == await viewer_id(api, token)
    assert account["email"] == "alice@example.com"
    assert account["twoFactor"]["enabled"] is True
    assert account["twoFactor"]["pendingSetup"] is False
    assert account["twoFactor"]["backupCodesRemaining"] == 10


async def test_regenerate_returns_the_account_with_the_new_codes_date(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    before = (await api.status(token))["backupCodesGeneratedAt"]
    api.clock.advance(3600)
    payload = (await api.data(REGENERATE, {"input": {"password": PASSWORD}}, token=token))[
        "regenerateBackupCodes"
    ]
    account = account_of(payload)
    assert account["id"] == await viewer_id(api, token)
    generated = account["twoFactor"]["backupCodesGeneratedAt"]
    assert generated != before
    assert generated == (await api.status(token))["backupCodesGeneratedAt"]


async def test_disable_returns_the_account_with_2fa_off(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    variables = {"input": {"password": PASSWORD, "confirm": True}}
    payload = (await api.data(DISABLE, variables, token=token))["disableTwoFactor"]
    account = account_of(payload)
    assert account["id"] == await viewer_id(api, token)
    assert account["twoFactor"]["enabled"] is False
    assert account["twoFactor"]["backupCodesRemaining"] == 0


async def test_cancel_returns_the_account_without_a_pending_setup(api: Api) -> None:
    token = await api.sign_up()
    await api.start(token)
    assert (await api.status(token))["pendingSetup"] is True
    payload = (await api.data(CANCEL, token=token))["cancelTwoFactorSetup"]
    account = account_of(payload)
    assert account["id"] == await viewer_id(api, token)
    assert account["twoFactor"]["pendingSetup"] is False
    assert account["twoFactor"]["enabled"] is False


async def test_a_refused_change_returns_no_account(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    variables = {"input": {"password": "not the password", "confirm": True}}
    payload = (await api.data(DISABLE, variables, token=token))["disableTwoFactor"]
    assert [error["code"] for error in payload["errors"]] == ["INVALID_CREDENTIALS"]
    assert payload["account"] is None
    assert (await api.status(token))["enabled"] is True
