"""Security keys and passkeys through the real schema and app, answered by the software
authenticator of tests/soft_authenticator.py (checked against py_webauthn on its own)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from models import Account, FailedAttempt, SecurityEvent, SecurityKey, WebAuthnChallenge
from services.runtime import Runtime
from tests.helpers import PASSWORD, Api, error_codes
from tests.soft_authenticator import SoftAuthenticator, b64url, tamper_signature

START = """
mutation S($input: StartSecurityKeyRegistrationInput!) {
  startSecurityKeyRegistration(input: $input) {
    registration { options expiresAt } errors { code field message }
  }
}
"""
FINISH = """
mutation F($input: FinishSecurityKeyRegistrationInput!) {
  finishSecurityKeyRegistration(input: $input) {
    authenticator { id kind name passkey lastUsedAt flaggedAt }
    account { twoFactor { enabled method backupCodesRemaining } }
    backupCodes
    errors { code field message }
  }
}
"""
STATUS = """
query { twoFactorStatus { enabled method backupCodesRemaining pendingSetup
  authenticators { id kind name passkey createdAt lastUsedAt flaggedAt } } }
"""
SIGN_IN = """
mutation S($email: String!) {
  signIn(input: {email: $email, password: "%s"}) {
    session { token } challenge { token methods securityKeyOptions } errors { code }
  }
}
""" % PASSWORD  # noqa: UP031 (the password is the helpers' constant)
VERIFY_KEY = """
mutation V($input: VerifySignInWithSecurityKeyInput!) {
  verifySignInWithSecurityKey(input: $input) {
    session { token account { email } } usedBackupCode backupCodesRemaining deviceToken
    errors { code field }
  }
}
"""
START_PASSKEY = """
mutation { startPasskeySignIn { passkeySignIn { token options expiresAt } errors { code } } }
"""
FINISH_PASSKEY = """
mutation F($input: FinishPasskeySignInInput!) {
  finishPasskeySignIn(input: $input) { session { token account { email } } errors { code field } }
}
"""
RENAME = """
mutation R($input: RenameAuthenticatorInput!) {
  renameAuthenticator(input: $input) { authenticator { id name } errors { code field } }
}
"""
REMOVE = """
mutation R($input: RemoveAuthenticatorInput!) {
  removeAuthenticator(input: $input) {
    account { twoFactor { enabled method backupCodesRemaining authenticators { name } } }
    errors { code field }
  }
}
"""


def origin_of(runtime: Runtime) -> str:
    return f"http://localhost:{runtime.settings.port}"


class Keys:
    """Registration and sign-in with a software authenticator, as a browser would."""

    def __init__(self, api: Api, runtime: Runtime) -> None:
        self.api = api
        self.origin = origin_of(runtime)

    async def start(self, token: str, *, passkey: bool = False) -> dict[str, Any]:
        payload = (
            await self.api.data(
                START, {"input": {"password": PASSWORD, "passkey": passkey}}, token=token
            )
        )["startSecurityKeyRegistration"]
        assert payload["errors"] == [], payload
        options: dict[str, Any] = payload["registration"]["options"]
        return options

    async def finish(self, token: str, credential: dict[str, Any], name: str) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.api.data(
                FINISH, {"input": {"credential": credential, "name": name}}, token=token
            )
        )["finishSecurityKeyRegistration"]
        return payload

    async def register(
        self,
        token: str,
        authenticator: SoftAuthenticator,
        name: str = "YubiKey 5C",
        *,
        passkey: bool = False,
    ) -> dict[str, Any]:
        options = await self.start(token, passkey=passkey)
        payload = await self.finish(token, authenticator.create(options, self.origin), name)
        assert payload["errors"] == [], payload
        return payload

    async def challenge(self, email: str) -> dict[str, Any]:
        payload = (await self.api.data(SIGN_IN, {"email": email}))["signIn"]
        assert payload["challenge"] is not None, payload
        challenge: dict[str, Any] = payload["challenge"]
        return challenge

    async def verify(self, challenge_token: str, credential: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.api.data(
                VERIFY_KEY,
                {"input": {"challengeToken": challenge_token, "credential": credential}},
            )
        )["verifySignInWithSecurityKey"]
        return payload

    async def start_passkey(self) -> dict[str, Any]:
        payload = (await self.api.data(START_PASSKEY))["startPasskeySignIn"]
        assert payload["errors"] == [], payload
        started: dict[str, Any] = payload["passkeySignIn"]
        return started

    async def finish_passkey(self, token: str, credential: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.api.data(
                FINISH_PASSKEY, {"input": {"token": token, "credential": credential}}
            )
        )["finishPasskeySignIn"]
        return payload


@pytest.fixture
def runtime(app: Starlette) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
def keys(api: Api, runtime: Runtime) -> Keys:
    return Keys(api, runtime)


async def events(email: str, kind: str) -> int:
    account = await Account.get(email=email)
    return await SecurityEvent.filter(account_id=account.id, kind=kind).count()


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
async def test_a_first_key_turns_two_factor_on_and_signs_in(
    api: Api, keys: Keys, alg: str
) -> None:
    token = await api.sign_up("alice@example.com")
    key = SoftAuthenticator(alg)
    added = await keys.register(token, key, "My key")
    assert added["authenticator"]["kind"] == "SECURITY_KEY"
    assert added["authenticator"]["name"] == "My key"
    assert added["authenticator"]["passkey"] is False
    assert len(added["backupCodes"]) == 10
    assert added["account"]["twoFactor"] == {
        "enabled": True,
        "method": "SECURITY_KEY",
        "backupCodesRemaining": 10,
    }

    challenge = await keys.challenge("alice@example.com")
    assert challenge["methods"] == ["SECURITY_KEY", "BACKUP_CODE"]
    options = challenge["securityKeyOptions"]
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(c) for c in key.credentials]
    assert options["rpId"] == "localhost"
    verified = await keys.verify(challenge["token"], key.get(options, keys.origin))
    assert verified["errors"] == []
    assert verified["session"]["account"]["email"] == "alice@example.com"
    assert verified["usedBackupCode"] is False
    assert await events("alice@example.com", "SECURITY_KEY_USED") == 1
    status = (await api.data(STATUS, token=verified["session"]["token"]))["twoFactorStatus"]
    assert status["authenticators"][0]["lastUsedAt"] is not None
