"""The whole lifecycle over a real uvicorn socket, as a client app would live it."""

from __future__ import annotations

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
    error_codes,
)

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
