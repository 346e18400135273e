"""The recovery waiting period (support's approval schedules 2FA off; the owner may cancel)
and support staff with 2FA, through the API over the real app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import Account, Notification, RecoveryRequest, TwoFactor
from models.accounts import Role
from services import accounts, link_tokens, recovery_schedule
from services.clock import FrozenClock
from services.link_tokens import LinkPurpose
from services.settings import Settings
from tests.conftest import mail_settings_for, make_settings
from tests.helpers import PASSWORD, Api, until
from tests.postgres import POSTGRES_URL, scratch_database
from tests.smtp_server import SmtpServer
from tests.test_recovery import (
    AGENT,
    NODE,
    SUPPORT_EMAIL,
    customer,
    file_request,
    kinds_in_feed,
    local_path,
    parse_mail,
    pk,
    request_recovery,
    resolve,
    running,
    security_history,
    support_agent,
    text_of,
)

WAIT = 3600
STATUS = "query { twoFactorStatus { enabled } }"
QUEUE = "query { recoveryRequests(first: 5) { totalCount } }"
SCHEDULE_FIELDS = "id status effectiveAt resolvedBy resolvedAt"
NODE_SCHEDULE = (
    f"query Node($id: ID!) {{ node(id: $id) {{ ... on RecoveryRequest {{ {SCHEDULE_FIELDS} }} }} }}"
)
CANCEL = f"""
mutation Cancel($input: CancelTwoFactorRecoveryInput!) {{
  cancelTwoFactorRecovery(input: $input) {{
    request {{ {SCHEDULE_FIELDS} }}
    errors {{ code field }}
  }}
}}
"""
CANCEL_LINK = re.compile(r"https://verrou\.example/#/cancel-recovery\?token=([A-Za-z0-9_\-]+)")


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(db_path, tmp_path / "var", recovery_wait_seconds=WAIT)


@pytest.fixture
def waiting_mail_settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(
        db_path,
        tmp_path / "var",
        smtp,
        support_email=SUPPORT_EMAIL,
        public_url="https://verrou.example",
        outbox_poll_seconds=0.05,
        recovery_wait_seconds=WAIT,
    )


async def approved(api: Api, app: Starlette, email: str = "alice@example.com") -> str:
    """A request of `email` (who has 2FA on) approved by support: SCHEDULED. Its id."""
    agent = await support_agent(api, app) if AGENT not in api.support_tokens else None
    request_id = await file_request(api, email)
    payload = await resolve(api, agent or api.support_tokens[AGENT], request_id, "APPROVE")
    assert payload["errors"] == [], payload
    return request_id


async def schedule_of(api: Api, request_id: str, token: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(NODE_SCHEDULE, {"id": request_id}, token=token))["node"]
    return found


async def cancel(api: Api, *, token: str | None = None, session: str | None = None) -> Any:
    return (await api.data(CANCEL, {"input": {"token": token}}, token=session))[
        "cancelTwoFactorRecovery"
    ]


async def two_factor_on(email: str) -> bool:
    return await TwoFactor.filter(account__email=email).exists()


# ---------------------------------------------------------------- the approval


async def test_an_approval_without_confirm_is_confirmation_required(
    api: Api, app: Starlette
) -> None:
    await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")

    payload = await resolve(api, agent, request_id, "APPROVE", confirm=False)

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("CONFIRMATION_REQUIRED", ["input", "confirm"])
    ]
    assert (await RecoveryRequest.get(id=pk(request_id))).status == "PENDING"
    # A rejection needs no second confirmation.
    assert (await resolve(api, agent, request_id, "REJECT", confirm=False))["errors"] == []


async def test_an_approval_schedules_two_factor_off_and_keeps_it_on_meanwhile(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    alice, _ = await customer(api)
    request_id = await approved(api, app)

    agent = api.support_tokens[AGENT]
    seen = await schedule_of(api, request_id, agent)
    assert seen["status"] == "SCHEDULED"
    assert seen["effectiveAt"] == (clock.now() + timedelta(seconds=WAIT)).isoformat()
    assert seen["resolvedBy"] == AGENT
    # The owner sees the schedule, not who decided; 2FA and the session are still there.
    assert (await schedule_of(api, request_id, alice))["resolvedBy"] is None
    assert (await api.data(STATUS, token=alice))["twoFactorStatus"]["enabled"] is True
    assert (await kinds_in_feed(api, alice))[0] == "RECOVERY_SCHEDULED"
    assert (await security_history(api, alice))[0]["kind"] == "RECOVERY_SCHEDULED"
    # Still the account's open request: no second one while it waits.
    second = await request_recovery(api, await api.challenge())
    assert [e["code"] for e in second["errors"]] == ["INVALID_INPUT"]
    assert (await RecoveryRequest.filter(account__email="alice@example.com").count()) == 1
    # Before effectiveAt the job leaves it alone.
    clock.advance(WAIT - 1)
    assert await recovery_schedule.apply_due(app.state.runtime) == 0
    assert await two_factor_on("alice@example.com")


async def test_the_owner_is_emailed_at_once_with_a_cancel_link_that_works_once(
    waiting_mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(waiting_mail_settings, clock) as (app, api):
        await customer(api)
        request_id = await approved(api, app)
        await until(lambda: any("cancel-recovery" in text(e) for e in smtp.envelopes))
        email = next(e for e in smtp.envelopes if "cancel-recovery" in text(e))
        # To the account email (its billing contact never confirmed its address).
        assert email.rcpt_tos == ["alice@example.com"]
        body = text_of(parse_mail(email.original_content or b""))
        assert f"#{pk(request_id)}" in body
        match = CANCEL_LINK.search(body)
        assert match is not None, body
        token = match.group(1)
        # The token is in the email only: neither the feed nor the database holds it.
        assert not [n for n in await Notification.all() if token in str(n.params)]

        payload = await cancel(api, token=token)  # no session: the link is enough

        assert payload["errors"] == []
        assert payload["request"]["status"] == "CANCELLED"
        again = await cancel(api, token=token)
        assert [(e["code"], e["field"]) for e in again["errors"]] == [
            ("LINK_EXPIRED", ["input", "token"])
        ]
        await until(lambda: any("was cancelled" in text(e) for e in smtp.envelopes))
        clock.advance(WAIT)
        assert await recovery_schedule.apply_due(app.state.runtime) == 0
        assert await two_factor_on("alice@example.com")
        # The account may ask again later.
        assert (await RecoveryRequest.get(id=pk(request_id))).open_for is None


def text(envelope: Any) -> str:
    raw: bytes = envelope.original_content or b""
    return text_of(parse_mail(raw))


async def test_a_totp_sign_in_during_the_wait_cancels_only_that_accounts_recovery(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    _, alice_device = await customer(api)
    await customer(api, "bob@example.com")
    alice_request = await approved(api, app)
    bob_request = await approved(api, app, "bob@example.com")

    clock.advance(30)
    challenge = await api.challenge()
    verified = await api.verify(challenge, api.code(alice_device.secret))
    assert verified["errors"] == []
    alice = verified["session"]["token"]

    assert (await RecoveryRequest.get(id=pk(alice_request))).status == "CANCELLED"
    assert (await RecoveryRequest.get(id=pk(bob_request))).status == "SCHEDULED"
    assert (await kinds_in_feed(api, alice))[0] == "RECOVERY_CANCELLED"
    clock.advance(WAIT)
    assert await recovery_schedule.apply_due(app.state.runtime) == 1
    assert await two_factor_on("alice@example.com")
    assert not await two_factor_on("bob@example.com")


async def test_a_backup_code_sign_in_also_cancels_it(api: Api, app: Starlette) -> None:
    _, device = await customer(api)
    request_id = await approved(api, app)

    verified = await api.verify(await api.challenge(), device.backup_codes[0])

    assert verified["errors"] == []
    assert (await RecoveryRequest.get(id=pk(request_id))).status == "CANCELLED"


SECURE = """
mutation Secure($input: SecureAccountInput!) { secureAccount(input: $input) { errors { code } } }
"""


async def test_this_wasnt_me_cancels_a_scheduled_recovery_of_that_account_only(
    api: Api, app: Starlette
) -> None:
    await customer(api)
    await customer(api, "bob@example.com")
    alices = await approved(api, app)
    bobs = await approved(api, app, "bob@example.com")
    alice = await Account.get(email="alice@example.com")
    token = await link_tokens.issue(
        app.state.runtime, alice.id, LinkPurpose.SECURE_ACCOUNT, timedelta(days=7)
    )

    secured = (await api.data(SECURE, {"input": {"token": token}}))["secureAccount"]

    assert secured["errors"] == []
    assert (await RecoveryRequest.get(id=pk(alices))).status == "CANCELLED"
    assert (await RecoveryRequest.get(id=pk(bobs))).status == "SCHEDULED"
    assert await two_factor_on("alice@example.com")


async def test_the_signed_in_owner_cancels_without_a_token_and_no_one_else_can(
    api: Api, app: Starlette
) -> None:
    alice, _ = await customer(api)
    bob, _ = await customer(api, "bob@example.com")
    request_id = await approved(api, app)

    assert [e["code"] for e in (await cancel(api, session=bob))["errors"]] == ["NOT_FOUND"]
    assert [e["code"] for e in (await cancel(api))["errors"]] == ["UNAUTHENTICATED"]
    assert (await RecoveryRequest.get(id=pk(request_id))).status == "SCHEDULED"

    payload = await cancel(api, session=alice)

    assert payload["errors"] == []
    assert payload["request"]["status"] == "CANCELLED"
    assert "RECOVERY_CANCELLED" in [e["kind"] for e in await security_history(api, alice)]


async def test_at_effective_at_a_new_app_start_turns_two_factor_off_once(
    settings: Settings, clock: FrozenClock
) -> None:
    async with running(settings, clock) as (app, api):
        alice, _ = await customer(api)
        await customer(api, "bob@example.com")
        request_id = await approved(api, app)

    clock.advance(WAIT)
    # A process started after the waiting period ended applies it at once.
    async with running(settings, clock) as (app, api):
        for _ in range(500):
            if (await RecoveryRequest.get(id=pk(request_id))).status == "APPROVED":
                break
            await asyncio.sleep(0.01)
        assert (await RecoveryRequest.get(id=pk(request_id))).status == "APPROVED"
        assert not await two_factor_on("alice@example.com")
        assert await two_factor_on("bob@example.com")
        assert "errors" in await api.gql(STATUS, token=alice)  # every session ended
        assert await recovery_schedule.apply_due(app.state.runtime) == 0
    async with running(settings, clock) as (app, api):
        assert await recovery_schedule.apply_due(app.state.runtime) == 0
        alice = (await api.sign_in())["session"]["token"]  # the password alone now
        assert (await kinds_in_feed(api, alice)).count("RECOVERY_APPROVED") == 1


# ---------------------------------------------------------------- support staff with 2FA


async def test_a_support_account_without_two_factor_cannot_act(api: Api, app: Starlette) -> None:
    await customer(api)
    request_id = await file_request(api, "alice@example.com")
    colleague = await support_agent(api, app)
    document = (await api.data(NODE, {"id": request_id}, token=colleague))["node"]["documents"][0]
    await accounts.create_account(
        app.state.runtime, email="new@verrou.example", password=PASSWORD, role=Role.SUPPORT
    )
    newcomer = (await api.sign_in("new@verrou.example"))["session"]["token"]

    queue = await api.gql(QUEUE, token=newcomer)
    assert [e["extensions"]["code"] for e in queue["errors"]] == ["TWO_FACTOR_REQUIRED"]
    payload = await resolve(api, newcomer, request_id, "APPROVE")
    assert [e["code"] for e in payload["errors"]] == ["TWO_FACTOR_REQUIRED"]
    assert (await RecoveryRequest.get(id=pk(request_id))).status == "PENDING"
    download = await api.client.get(
        local_path(document["downloadUrl"]), headers={"Authorization": f"Bearer {newcomer}"}
    )
    assert download.status_code == 403
    assert download.text.startswith("TWO_FACTOR_REQUIRED")

    # Once 2FA is on, the same session may act.
    await api.enable_two_factor(newcomer)
    assert "errors" not in await api.gql(QUEUE, token=newcomer)
    assert (await resolve(api, newcomer, request_id, "REJECT"))["errors"] == []


# ---------------------------------------------------------------- PostgreSQL: exactly once


@pytest.fixture
async def pg(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[tuple[Starlette, Api]]:
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set: PostgreSQL race tests skipped")
    async with scratch_database() as database:
        settings = make_settings(
            tmp_path / "unused.sqlite3",
            tmp_path / "var",
            database_url=database.url,
            recovery_wait_seconds=WAIT,
            # The test runs the job itself, from several connections at once.
            recovery_job_interval_seconds=3600,
        )
        async with running(settings, clock) as started:
            yield started


@pytest.mark.postgres
async def test_jobs_racing_on_postgresql_apply_a_recovery_exactly_once(
    pg: tuple[Starlette, Api], clock: FrozenClock
) -> None:
    app, api = pg
    await customer(api)
    await customer(api, "bob@example.com")
    alice_request = await approved(api, app)
    bob_request = await approved(api, app, "bob@example.com")
    clock.advance(WAIT)

    applied = await asyncio.gather(
        *(recovery_schedule.apply_due(app.state.runtime) for _ in range(6))
    )

    assert sum(applied) == 2
    for request_id in (alice_request, bob_request):
        assert (await RecoveryRequest.get(id=pk(request_id))).status == "APPROVED"
    approvals = await Notification.filter(kind="RECOVERY_APPROVED").count()
    assert approvals == 2
