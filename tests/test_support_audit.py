"""Support's actions are seen (issue 14, item 10): each decision and each document opened is a
security event on the customer's account (without support's IP address) and an audit line
(logger "verrou.audit") with the support account's id and the request's, never a document's
name or content, a note or the customer's email; viewing the queue is an audit line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import make_settings
from tests.helpers import Api
from tests.test_recovery import (
    AGENT,
    IDENTITY,
    IP,
    PASSPORT,
    QUEUE,
    account_id,
    customer,
    file_request,
    local_path,
    node,
    pk,
    resolve,
    security_history,
    support_agent,
)

NOTE = "Secret-ish note 7781"


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="verrou.audit")
    return caplog


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "verrou.audit"]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    names = ("action", "support_account_id", "account_id", "request_id", "document_id")
    return {name: getattr(record, name) for name in names if hasattr(record, name)}


def carries_nothing_of_the_customer(record: logging.LogRecord) -> None:
    line = record.getMessage() + repr(vars(record))
    for secret in ("alice@example.com", NOTE, "passport", "PASSPORT-OF-ALICE", "I lost my phone"):
        assert secret not in line, (secret, line)


@pytest.mark.parametrize(
    ("decision", "wait", "action", "event"),
    [
        ("APPROVE", 0, "RECOVERY_APPROVED", "RECOVERY_APPROVED"),
        ("APPROVE", 3600, "RECOVERY_SCHEDULED", "RECOVERY_SCHEDULED"),
        ("REJECT", 0, "RECOVERY_REJECTED", "RECOVERY_REJECTED"),
    ],
)
async def test_a_decision_is_an_event_on_the_account_and_an_audit_line(
    db_path: Path,
    tmp_path: Path,
    clock: FrozenClock,
    audit: pytest.LogCaptureFixture,
    decision: str,
    wait: int,
    action: str,
    event: str,
) -> None:
    from server import create_app
    from tests.conftest import start

    settings: Settings = make_settings(db_path, tmp_path / "var", recovery_wait_seconds=wait)
    app = create_app(settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        token, _ = await customer(api)
        agent = await support_agent(api, app)
        request_id = await file_request(api, "alice@example.com")
        audit.clear()

        payload = await resolve(api, agent, request_id, decision, NOTE)

        assert payload["errors"] == []
        (line,) = audit_lines(audit)
        assert fields(line) == {
            "action": action,
            "support_account_id": await account_id(AGENT),
            "account_id": await account_id("alice@example.com"),
            "request_id": pk(request_id),
        }
        carries_nothing_of_the_customer(line)
        if decision == "APPROVE" and wait == 0:
            # Approved at once: every session ended; the history is read after signing in.
            token = (await api.sign_in())["session"]["token"]
        kinds = [e for e in await security_history(api, token) if e["kind"] == event]
        assert len(kinds) == 1 and kinds[0]["ipAddress"] is None


async def test_a_refused_decision_writes_no_audit_line(
    api: Api, app: Starlette, audit: pytest.LogCaptureFixture
) -> None:
    """The line says what happened: a second decision on a resolved request did nothing."""
    await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    await resolve(api, agent, request_id, "REJECT")
    audit.clear()

    again = await resolve(api, agent, request_id, "APPROVE")

    assert [e["code"] for e in again["errors"]] == ["ALREADY_RESOLVED"]
    assert audit_lines(audit) == []


async def test_opening_a_document_is_an_event_on_the_account_and_an_audit_line(
    api: Api, app: Starlette, audit: pytest.LogCaptureFixture
) -> None:
    token, _ = await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com", files={"identityDocument": IDENTITY})
    seen = await node(api, request_id, agent)
    assert seen is not None
    (document,) = seen["documents"]
    before = [e["kind"] for e in await security_history(api, token)]
    assert "RECOVERY_DOCUMENT_OPENED" not in before
    audit.clear()

    response = await api.client.get(
        local_path(document["downloadUrl"]), headers={"Authorization": f"Bearer {agent}"}
    )

    assert response.status_code == 200 and response.content == PASSPORT
    (line,) = audit_lines(audit)
    recorded = fields(line)
    assert recorded["action"] == "DOCUMENT_OPENED"
    assert recorded["support_account_id"] == await account_id(AGENT)
    assert recorded["account_id"] == await account_id("alice@example.com")
    assert recorded["request_id"] == pk(request_id)
    assert isinstance(recorded["document_id"], int)
    carries_nothing_of_the_customer(line)
    events = await security_history(api, token)
    opened = [e for e in events if e["kind"] == "RECOVERY_DOCUMENT_OPENED"]
    # Support's own address and browser are not the customer's to see.
    assert len(opened) == 1 and (opened[0]["ipAddress"], opened[0]["userAgent"]) == (None, None)
    assert IP not in {e["ipAddress"] for e in opened}


async def test_a_refused_download_is_neither_an_event_nor_an_audit_line(
    api: Api, app: Starlette, audit: pytest.LogCaptureFixture
) -> None:
    token, _ = await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    seen = await node(api, request_id, agent)
    assert seen is not None
    url = seen["documents"][0]["downloadUrl"]
    audit.clear()

    as_customer = await api.client.get(
        local_path(url), headers={"Authorization": f"Bearer {token}"}
    )
    forged = await api.client.get(
        local_path(url).replace("signature=", "signature=AA"),
        headers={"Authorization": f"Bearer {agent}"},
    )

    assert (as_customer.status_code, forged.status_code) == (403, 403)
    assert audit_lines(audit) == []
    kinds = [e["kind"] for e in await security_history(api, token)]
    assert "RECOVERY_DOCUMENT_OPENED" not in kinds


async def test_viewing_the_queue_is_an_audit_line(
    api: Api, app: Starlette, audit: pytest.LogCaptureFixture
) -> None:
    await customer(api)
    agent = await support_agent(api, app)
    await file_request(api, "alice@example.com")
    audit.clear()

    data = await api.data(QUEUE, {"first": 10}, token=agent)

    assert data["recoveryRequests"]["totalCount"] == 1
    (line,) = audit_lines(audit)
    assert fields(line) == {"action": "QUEUE_VIEWED", "support_account_id": await account_id(AGENT)}
    carries_nothing_of_the_customer(line)
