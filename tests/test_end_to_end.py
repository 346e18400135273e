"""The whole lifecycle over a real uvicorn socket, as a client app would live it."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

import httpx
import pyotp

from services.clock import FrozenClock
from tests.conftest import LiveServer
from tests.helpers import (
    CONFIRM,
    PASSWORD,
    SIGN_IN,
    SIGN_UP,
    START,
    STATUS,
    VERIFY_SIGN_IN,
    Api,
    error_codes,
    until,
)
from tests.key_client import REMOVE, Keys
from tests.key_client import STATUS as KEY_STATUS
from tests.soft_authenticator import SoftAuthenticator

REGENERATE = """
mutation Regenerate($input: RegenerateBackupCodesInput!) {
  regenerateBackupCodes(input: $input) {
    backupCodes status { backupCodesRemaining } errors { code }
  }
}
"""
DISABLE = """
mutation Disable($input: DisableTwoFactorInput!) {
  disableTwoFactor(input: $input) { status { enabled backupCodesRemaining } errors { code } }
}
"""
SIGN_OUT = "mutation { signOut { errors { code } } }"
FEED = """
query {
  viewer {
    notifications(first: 1) { edges { node { kind } } }
    sessions { deviceLabel current }
  }
}
"""


async def call(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, object] | None = None,
    token: str | None = None,
) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, object] = body["data"]
    return data


async def test_whole_lifecycle_over_a_real_socket(live: LiveServer, clock: FrozenClock) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client:
        assert (await client.get("/healthz")).status_code == 200

        signed_up = (
            await call(
                client, SIGN_UP, {"input": {"email": "bob@example.com", "password": PASSWORD}}
            )
        )["signUp"]
        token = signed_up["session"]["token"]  # type: ignore[index]

        setup = (await call(client, START, {"input": {"password": PASSWORD}}, token))[
            "startTwoFactor"
        ]
        secret = setup["setup"]["secret"]  # type: ignore[index]
        totp = pyotp.TOTP(secret)
        confirmed = (await call(client, CONFIRM, {"input": {"code": totp.at(clock.now())}}, token))[
            "confirmTwoFactor"
        ]
        assert error_codes(confirmed) == []  # type: ignore[arg-type]
        backup_codes = confirmed["backupCodes"]  # type: ignore[index]
        assert len(backup_codes) == 10

        assert error_codes((await call(client, SIGN_OUT, token=token))["signOut"]) == []  # type: ignore[arg-type]
        assert (
            "errors"
            in (
                await client.post(
                    "/graphql", json={"query": STATUS}, headers={"Authorization": f"Bearer {token}"}
                )
            ).json()
        )

        async def challenge() -> str:
            signed_in = (
                await call(
                    client, SIGN_IN, {"input": {"email": "bob@example.com", "password": PASSWORD}}
                )
            )["signIn"]
            assert signed_in["session"] is None  # type: ignore[index]
            return signed_in["challenge"]["token"]  # type: ignore[index, no-any-return]

        # The code that confirmed the setup is spent.
        replayed = (
            await call(
                client,
                VERIFY_SIGN_IN,
                {"input": {"challengeToken": await challenge(), "code": totp.at(clock.now())}},
            )
        )["verifySignIn"]
        assert error_codes(replayed) == ["CODE_ALREADY_USED"]  # type: ignore[arg-type]

        clock.advance(30)
        code = totp.at(clock.now())
        with_totp = (
            await call(
                client,
                VERIFY_SIGN_IN,
                {"input": {"challengeToken": await challenge(), "code": code}},
            )
        )["verifySignIn"]
        assert error_codes(with_totp) == []  # type: ignore[arg-type]
        token = with_totp["session"]["token"]  # type: ignore[index]

        replayed = (
            await call(
                client,
                VERIFY_SIGN_IN,
                {"input": {"challengeToken": await challenge(), "code": code}},
            )
        )["verifySignIn"]
        assert error_codes(replayed) == ["CODE_ALREADY_USED"]  # type: ignore[arg-type]

        with_backup = (
            await call(
                client,
                VERIFY_SIGN_IN,
                {"input": {"challengeToken": await challenge(), "code": backup_codes[3].upper()}},
            )
        )["verifySignIn"]  # type: ignore[index]
        assert with_backup["usedBackupCode"] is True  # type: ignore[index]
        assert with_backup["backupCodesRemaining"] == 9  # type: ignore[index]

        regenerated = (await call(client, REGENERATE, {"input": {"password": PASSWORD}}, token))[
            "regenerateBackupCodes"
        ]
        assert len(regenerated["backupCodes"]) == 10  # type: ignore[index]
        stale = (
            await call(
                client,
                VERIFY_SIGN_IN,
                {"input": {"challengeToken": await challenge(), "code": backup_codes[4]}},
            )
        )["verifySignIn"]  # type: ignore[index]
        assert error_codes(stale) == ["INVALID_CODE"]  # type: ignore[arg-type]

        disabled = (
            await call(client, DISABLE, {"input": {"password": PASSWORD, "confirm": True}}, token)
        )["disableTwoFactor"]
        assert disabled["status"] == {"enabled": False, "backupCodesRemaining": 0}  # type: ignore[index]
        plain = (
            await call(
                client, SIGN_IN, {"input": {"email": "bob@example.com", "password": PASSWORD}}
            )
        )["signIn"]
        assert plain["session"]["token"]  # type: ignore[index]
        assert plain["challenge"] is None  # type: ignore[index]

        # A sign-in from a browser this account never used: NEW_SIGN_IN in the feed, and the
        # new session in the list of signed-in devices, labelled.
        firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
        response = await client.post(
            "/graphql",
            json={
                "query": SIGN_IN,
                "variables": {"input": {"email": "bob@example.com", "password": PASSWORD}},
            },
            headers={"user-agent": firefox},
        )
        new_device = response.json()["data"]["signIn"]["session"]["token"]
        feed = (await call(client, FEED, token=new_device))["viewer"]
        assert feed["notifications"]["edges"][0]["node"]["kind"] == "NEW_SIGN_IN"  # type: ignore[index]
        devices = feed["sessions"]  # type: ignore[index]
        assert [d["deviceLabel"] for d in devices if d["current"]] == ["Firefox on Linux"]


REQUEST_RESET = """
mutation Request($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code } }
}
"""
RESET = """
mutation Reset($input: ResetPasswordInput!) {
  resetPassword(input: $input) { session { token } challenge { token } errors { code } }
}
"""
RESET_LINK = re.compile(r"/#/reset-password\?token=([A-Za-z0-9_-]+)")


def plain_text(raw: str) -> str:
    message = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    text: str = part.get_content()
    return text


async def test_password_reset_over_a_real_socket(live: LiveServer, clock: FrozenClock) -> None:
    """The emailed link (written by the development mail transport), a new password, and
    the second factor still due before a session."""
    mail_dir = live.app.state.runtime.settings.var_dir / "mail"
    new_password = "a brand new passphrase 2026"
    async with httpx.AsyncClient(base_url=live.url) as client:
        variables = {"input": {"email": "carol@example.com", "password": PASSWORD}}
        old_token = (await call(client, SIGN_UP, variables))["signUp"]["session"]["token"]  # type: ignore[index]
        setup = await call(client, START, {"input": {"password": PASSWORD}}, old_token)
        totp = pyotp.TOTP(setup["startTwoFactor"]["setup"]["secret"])  # type: ignore[index]
        await call(client, CONFIRM, {"input": {"code": totp.at(clock.now())}}, old_token)
        clock.advance(30)

        asked = await call(client, REQUEST_RESET, {"input": {"email": "carol@example.com"}})
        assert error_codes(asked["requestPasswordReset"]) == []  # type: ignore[arg-type]

        def links() -> list[str]:
            texts = [plain_text(path.read_text()) for path in sorted(mail_dir.glob("*.eml"))]
            return [found.group(1) for text in texts if (found := RESET_LINK.search(text))]

        await until(lambda: mail_dir.is_dir() and links())
        variables = {"input": {"token": links()[0], "newPassword": new_password}}
        reset = (await call(client, RESET, variables))["resetPassword"]
        assert error_codes(reset) == [] and reset["session"] is None  # type: ignore[arg-type, index]
        verified = (
            await call(
                client,
                VERIFY_SIGN_IN,
                {
                    "input": {
                        "challengeToken": reset["challenge"]["token"],  # type: ignore[index]
                        "code": totp.at(clock.now()),
                    }
                },
            )
        )["verifySignIn"]
        assert error_codes(verified) == [] and verified["session"]["token"]  # type: ignore[arg-type, index]
        old = await client.post(
            "/graphql", json={"query": STATUS}, headers={"Authorization": f"Bearer {old_token}"}
        )
        assert "errors" in old.json()  # the reset ended the session it did not open


async def test_a_totp_app_and_a_security_key_over_a_real_socket(
    live: LiveServer, clock: FrozenClock
) -> None:
    """An account with both factors: either one signs in, over uvicorn's HTTP parser."""
    port = live.app.state.runtime.settings.port
    async with httpx.AsyncClient(base_url=live.url) as client:
        api = Api(client, clock, port)
        keys = Keys(api)
        token = await api.sign_up("dora@example.com")
        enabled = await api.enable_two_factor(token)
        key = SoftAuthenticator("ES256")
        added = await keys.register(token, key, "YubiKey")
        assert added["backupCodes"] is None  # the TOTP app's codes stay
        assert added["account"]["twoFactor"]["method"] == "TOTP"

        challenge = await keys.challenge("dora@example.com")
        assert challenge["methods"] == ["TOTP", "SECURITY_KEY", "BACKUP_CODE"]
        answer = key.get(challenge["securityKeyOptions"], keys.origin)
        by_key = await keys.verify(challenge["token"], answer)
        assert error_codes(by_key) == [] and by_key["session"]["token"]

        by_app = await api.verify(await api.challenge("dora@example.com"), api.code(enabled.secret))
        assert error_codes(by_app) == [] and by_app["session"]["token"]

        status = (await api.data(KEY_STATUS, token=token))["twoFactorStatus"]
        app_id = next(a["id"] for a in status["authenticators"] if a["kind"] == "TOTP")
        removed = (
            await api.data(
                REMOVE,
                {"input": {"id": app_id, "password": PASSWORD, "confirm": True}},
                token=token,
            )
        )["removeAuthenticator"]
        assert removed["account"]["twoFactor"]["method"] == "SECURITY_KEY"
        later = await keys.challenge("dora@example.com")
        assert later["methods"] == ["SECURITY_KEY", "BACKUP_CODE"]
        answer = key.get(later["securityKeyOptions"], keys.origin)
        assert error_codes(await keys.verify(later["token"], answer)) == []
