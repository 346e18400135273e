"""A client of the security-key API driven by the software authenticator, as a browser
would drive it (tests/test_security_keys.py, tests/races.py, the end-to-end test)."""

from __future__ import annotations

from typing import Any

from tests.helpers import PASSWORD, Api
from tests.soft_authenticator import SoftAuthenticator

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
mutation S($email: String!, $password: String!) {
  signIn(input: {email: $email, password: $password}) {
    session { token } challenge { token methods securityKeyOptions } errors { code }
  }
}
"""
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


class Keys:
    """Registration and sign-in with a software authenticator, as a browser would; `port`
    is the app's (the relying party is http://localhost:PORT by default)."""

    def __init__(self, api: Api, port: int | None = None) -> None:
        self.api = api
        self.origin = f"http://localhost:{api.port if port is None else port}"

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
        variables = {"email": email, "password": PASSWORD}
        payload = (await self.api.data(SIGN_IN, variables))["signIn"]
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
