"""Test helpers: GraphQL calls and the common multi-step flows."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
import pyotp

from models.accounts import Role
from services import accounts
from services.clock import FrozenClock
from services.runtime import Runtime

PASSWORD = "correct horse battery staple"
T = TypeVar("T")

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    session { token expiresAt account { id email locale twoFactor { enabled } } }
    errors { code field message retryAfter }
  }
}
"""

SIGN_IN = """
mutation SignIn($input: SignInInput!) {
  signIn(input: $input) {
    session { token expiresAt account { email } }
    challenge { token expiresAt methods }
    errors { code field message retryAfter }
  }
}
"""

VERIFY_SIGN_IN = """
mutation Verify($input: VerifySignInInput!) {
  verifySignIn(input: $input) {
    session { token expiresAt account { email twoFactor { enabled backupCodesRemaining } } }
    usedBackupCode
    backupCodesRemaining
    errors { code field message retryAfter }
  }
}
"""

START = """
mutation Start($input: StartTwoFactorInput!) {
  startTwoFactor(input: $input) {
    setup {
      secret otpauthUri qrCodeSvg qrCodeDataUri issuer accountName
      algorithm digits period expiresAt
    }
    errors { code field message retryAfter }
  }
}
"""

CONFIRM = """
mutation Confirm($input: ConfirmTwoFactorInput!) {
  confirmTwoFactor(input: $input) {
    status { enabled method enabledAt pendingSetup backupCodesRemaining backupCodesGeneratedAt }
    backupCodes
    errors { code field message retryAfter }
  }
}
"""

STATUS = """
query { twoFactorStatus {
  enabled method enabledAt pendingSetup backupCodesRemaining backupCodesGeneratedAt
} }
"""


@dataclass
class Enabled:
    secret: str
    backup_codes: list[str]


class Api:
    """The API as a client sees it, over the real app."""

    def __init__(self, client: httpx.AsyncClient, clock: FrozenClock, port: int = 0) -> None:
        self.client = client
        self.clock = clock
        # The port of the app's settings: browsers' origins (http://localhost:PORT) name it.
        self.port = port
        # email -> TOTP key, of the accounts that turned 2FA on through these helpers
        self.totp_secrets: dict[str, str] = {}
        self._last_steps: dict[str, int] = {}
        # email -> the session token support_agent opened
        self.support_tokens: dict[str, str] = {}

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The whole JSON response (data and errors)."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """`data` of a response that must have no top-level errors."""
        body = await self.gql(query, variables, token=token)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    async def sign_up(self, email: str = "alice@example.com", **extra: Any) -> str:
        payload = (
            await self.data(SIGN_UP, {"input": {"email": email, "password": PASSWORD, **extra}})
        )["signUp"]
        assert payload["errors"] == []
        token: str = payload["session"]["token"]
        return token

    async def sign_in(
        self, email: str = "alice@example.com", password: str = PASSWORD
    ) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.data(SIGN_IN, {"input": {"email": email, "password": password}})
        )["signIn"]
        return payload

    async def challenge(self, email: str = "alice@example.com") -> str:
        payload = await self.sign_in(email)
        assert payload["errors"] == [] and payload["session"] is None, payload
        token: str = payload["challenge"]["token"]
        return token

    async def verify(self, challenge: str, code: str) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.data(VERIFY_SIGN_IN, {"input": {"challengeToken": challenge, "code": code}})
        )["verifySignIn"]
        return payload

    async def start(self, token: str, password: str = PASSWORD) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.data(START, {"input": {"password": password}}, token=token)
        )["startTwoFactor"]
        return payload

    async def confirm(self, token: str, code: str) -> dict[str, Any]:
        payload: dict[str, Any] = (
            await self.data(CONFIRM, {"input": {"code": code}}, token=token)
        )["confirmTwoFactor"]
        return payload

    async def status(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = (await self.data(STATUS, token=token))["twoFactorStatus"]
        return result

    def code(self, secret: str, steps: int = 0) -> str:
        """The app's code at the pinned clock, `steps` periods away."""
        at: datetime = self.clock.now()
        return pyotp.TOTP(secret).at(at, counter_offset=steps)

    async def enable_two_factor(self, token: str, password: str = PASSWORD) -> Enabled:
        setup = await self.start(token, password)
        assert setup["errors"] == [], setup
        secret: str = setup["setup"]["secret"]
        confirmed = await self.confirm(token, self.code(secret))
        assert confirmed["errors"] == [], confirmed
        # The confirming step is spent: later sign-ins need a later code.
        self.clock.advance(30)
        return Enabled(secret=secret, backup_codes=confirmed["backupCodes"])

    async def support_agent(self, runtime: Runtime, email: str, password: str = PASSWORD) -> str:
        """A new SUPPORT account with 2FA on (support cannot act without it); a session
        token of it, opened before 2FA was turned on."""
        await accounts.create_account(runtime, email=email, password=password, role=Role.SUPPORT)
        signed_in = await self.sign_in(email, password)
        assert signed_in["errors"] == [] and signed_in["session"] is not None, signed_in
        token: str = signed_in["session"]["token"]
        self._last_steps[email] = self._step()
        self.totp_secrets[email] = (await self.enable_two_factor(token, password)).secret
        self.support_tokens[email] = token
        return token

    def _step(self) -> int:
        return int(self.clock.now().timestamp()) // 30

    async def sign_in_with_totp(self, email: str, password: str = PASSWORD) -> str:
        """A session of an account whose 2FA these helpers turned on: password, then the
        app's code (of a new time step)."""
        challenge = (await self.sign_in(email, password))["challenge"]["token"]
        if self._last_steps.get(email) == self._step():
            self.clock.advance(30)  # a step is accepted once
        self._last_steps[email] = self._step()
        verified = await self.verify(challenge, self.code(self.totp_secrets[email]))
        assert verified["errors"] == [], verified
        token: str = verified["session"]["token"]
        return token


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    """Wait for something another task or process does; fail if it does not happen."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


async def with_connection_only(
    outside: contextvars.Context, coroutine: Coroutine[Any, Any, T], within: float = 5.0
) -> T:
    """Run `coroutine` in a task of the context `outside`, copied before a transaction was
    opened, so the only way its queries reach that transaction is the connection passed to
    them: Tortoise gives a query without `using_db` the transaction of the task's context,
    which here is none. A query that forgets its connection then runs outside the
    transaction (it outlives a rollback) or, on SQLite, waits for the transaction's lock
    (a timeout here)."""
    task = asyncio.get_running_loop().create_task(coroutine, context=outside)
    return await asyncio.wait_for(task, within)
