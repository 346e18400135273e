"""Lost-device recovery, end to end through the app: the customer's multipart request, the
support queue and decision, signed document downloads, encryption at rest and the purge."""

from __future__ import annotations

import contextlib
import email
import email.policy
import gc
import json
import os
import subprocess
import sys
import warnings
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from models import Account, BackupCode, RecoveryDocument, RecoveryRequest, TwoFactor
from schema.global_id import from_global_id, to_global_id
from server import create_app
from services import recovery
from services.clock import FrozenClock
from services.settings import Settings
from tests.conftest import mail_settings_for, make_settings, start
from tests.helpers import Api, Enabled, until
from tests.smtp_server import SmtpServer

# The app leaves the uploads' temporary files open (see
# test_uploaded_files_are_closed_once_the_request_is_answered): without this, that one bug
# makes whichever test the garbage collector happens to run in fail. Remove once fixed.

ROOT = Path(__file__).parents[1]
IP = "203.0.113.7"
USER_AGENT = "verrou-tests/1.0"
BILLING = "billing@acme.example"
SUPPORT_EMAIL = "support@verrou.example"
AGENT = "agent@verrou.example"

# Tiny valid files, recognised by their first bytes. The markers must never leave the app
# except through a support download.
PASSPORT = b"%PDF-1.4\n1 0 obj << /Marker (PASSPORT-OF-ALICE-4242) >> endobj\n%%EOF\n"
KBIS = b"%PDF-1.7\n1 0 obj << /Marker (KBIS-OF-ACME-9999) >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(32))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(32))
NOT_A_PDF = b"Just some text pretending to be a PDF.\n"

File = tuple[str, bytes, str]
IDENTITY: File = ("passport.pdf", PASSPORT, "application/pdf")
REGISTRATION: File = ("kbis.pdf", KBIS, "application/pdf")

REQUEST_FIELDS = """
  id status message createdAt resolvedAt resolutionNote
  account { email }
  documents { kind fileName contentType size downloadUrl }
"""

REQUEST_RECOVERY = f"""
mutation Request($input: RequestTwoFactorRecoveryInput!) {{
  requestTwoFactorRecovery(input: $input) {{
    request {{ {REQUEST_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""

RESOLVE = f"""
mutation Resolve($input: ResolveRecoveryRequestInput!) {{
  resolveRecoveryRequest(input: $input) {{
    request {{ {REQUEST_FIELDS} }}
    errors {{ code field message }}
  }}
}}
"""

QUEUE = """
query Queue($status: RecoveryStatus, $first: Int, $after: String) {
  recoveryRequests(status: $status, first: $first, after: $after) {
    totalCount
    edges { cursor node { id status message account { email } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

NODE = f"""
query Node($id: ID!) {{ node(id: $id) {{ id ... on RecoveryRequest {{ {REQUEST_FIELDS} }} }} }}
"""

FEED = "query { viewer { notifications(first: 50) { edges { node { kind level message } } } } }"

SECURITY_EVENTS = """
query Events($first: Int, $after: String) {
  viewer {
    securityEvents(first: $first, after: $after) {
      edges { cursor node { kind ipAddress userAgent createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

VIEWER = "query { viewer { email } }"
STATUS = "query { twoFactorStatus { enabled method backupCodesRemaining } }"


# ---------------------------------------------------------------- helpers


async def upload(
    api: Api,
    challenge_token: str,
    files: dict[str, File],
    message: str | None = None,
    *,
    session: str | None = None,
) -> httpx.Response:
    """requestTwoFactorRecovery as a GraphQL multipart request; `files` maps input field names
    (identityDocument, companyRegistration) to (file name, bytes, declared content type)."""
    variables: dict[str, Any] = {
        "input": {"challengeToken": challenge_token, "message": message, **dict.fromkeys(files)}
    }
    operations = {"query": REQUEST_RECOVERY, "variables": variables}
    names = list(files)
    mapping = {str(i): [f"variables.input.{name}"] for i, name in enumerate(names)}
    headers = {"Authorization": f"Bearer {session}"} if session else {}
    return await api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files={str(i): files[name] for i, name in enumerate(names)},
        headers=headers,
    )


async def request_recovery(
    api: Api,
    challenge_token: str,
    files: dict[str, File] | None = None,
    message: str | None = "I lost my phone",
) -> dict[str, Any]:
    """The payload of a request that must reach the resolver."""
    response = await upload(
        api, challenge_token, {"identityDocument": IDENTITY} if files is None else files, message
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["requestTwoFactorRecovery"]
    return payload


async def file_request(api: Api, email: str, **kwargs: Any) -> str:
    """A new challenge of `email` and a successful request with it; the request's id."""
    payload = await request_recovery(api, await api.challenge(email), **kwargs)
    assert payload["errors"] == [], payload
    request_id: str = payload["request"]["id"]
    return request_id


async def customer(api: Api, email: str = "alice@example.com", **extra: Any) -> tuple[str, Enabled]:
    """A customer with 2FA on; their session token (opened before losing the device)."""
    token = await api.sign_up(email, billingContactEmail=BILLING, locale="EN", **extra)
    return token, await api.enable_two_factor(token)


async def support_agent(api: Api, app: Starlette, email: str = AGENT) -> str:
    """A SUPPORT account with 2FA on; a session token of it."""
    return await api.support_agent(app.state.runtime, email)


async def support_session(api: Api, email: str = AGENT) -> str:
    return await api.sign_in_with_totp(email)


async def resolve(
    api: Api,
    token: str,
    request_id: str,
    decision: str,
    note: str | None = None,
    *,
    confirm: bool = True,
) -> dict[str, Any]:
    """Support's decision; an approval with its second confirmation unless told not to."""
    variables = {
        "input": {"id": request_id, "decision": decision, "note": note, "confirm": confirm}
    }
    payload: dict[str, Any] = (await api.data(RESOLVE, variables, token=token))[
        "resolveRecoveryRequest"
    ]
    return payload


async def node(api: Api, request_id: str, token: str | None) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.data(NODE, {"id": request_id}, token=token))["node"]
    return found


async def kinds_in_feed(api: Api, token: str) -> list[str]:
    data = await api.data(FEED, token=token)
    return [edge["node"]["kind"] for edge in data["viewer"]["notifications"]["edges"]]


async def security_history(api: Api, token: str) -> list[dict[str, Any]]:
    """Every security event of the viewer, walked two at a time with first/after."""
    events: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = (await api.data(SECURITY_EVENTS, {"first": 2, "after": after}, token=token))[
            "viewer"
        ]["securityEvents"]
        events += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return events
        after = page["pageInfo"]["endCursor"]


async def account_id(email: str) -> int:
    return (await Account.get(email=email)).id


def pk(request_id: str) -> int:
    decoded = from_global_id(request_id)
    assert decoded is not None and decoded[0] == "RecoveryRequest", request_id
    return decoded[1]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def local_path(url: str) -> str:
    """The path and query of a download link, to GET it through the in-process client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


def parse_mail(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    content: str = body.get_content()
    return content


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[Starlette, Api]]:
    """An app of its own settings, started; stopped cleanly even when the test fails."""
    app = create_app(settings, clock=clock)
    clients = cast(AsyncGenerator[httpx.AsyncClient, None], start(app))
    async with contextlib.aclosing(clients):
        async for client in clients:
            yield app, Api(client, clock)


@pytest.fixture
def mail_settings(db_path: Path, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return mail_settings_for(
        db_path,
        tmp_path / "var",
        smtp,
        support_email=SUPPORT_EMAIL,
        public_url="https://verrou.example",
        outbox_poll_seconds=0.05,
    )


# ---------------------------------------------------------------- customer side


async def test_a_challenge_and_an_identity_document_file_a_pending_request(
    api: Api, clock: FrozenClock
) -> None:
    await customer(api)
    challenge = await api.challenge()

    payload = await request_recovery(api, challenge, message="  Phone fell in the Seine  ")

    assert payload["errors"] == []
    created = payload["request"]
    assert created["status"] == "PENDING"
    assert created["message"] == "Phone fell in the Seine"
    assert at(created["createdAt"]) == clock.now()
    assert created["resolvedAt"] is None and created["resolutionNote"] is None
    # The requester has no session: neither the account nor the documents are shown.
    assert created["account"] is None
    assert created["documents"] == []
    row = await RecoveryRequest.get(id=pk(created["id"]))
    assert row.status == "PENDING" and row.created_at == clock.now()


async def test_an_unknown_challenge_token_is_challenge_expired(api: Api) -> None:
    await customer(api)

    payload = await request_recovery(api, "not-a-challenge-token")

    assert payload["request"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("CHALLENGE_EXPIRED", ["input", "challengeToken"])
    ]
    assert await RecoveryRequest.all().count() == 0


async def test_an_expired_challenge_token_is_challenge_expired(
    api: Api, clock: FrozenClock
) -> None:
    await customer(api)
    challenge = await api.challenge()
    clock.advance(5 * 60 + 1)

    payload = await request_recovery(api, challenge)

    assert [e["code"] for e in payload["errors"]] == ["CHALLENGE_EXPIRED"]
    assert await RecoveryRequest.all().count() == 0


async def test_a_challenge_spent_by_verify_sign_in_is_challenge_expired(api: Api) -> None:
    _, enabled = await customer(api)
    challenge = await api.challenge()
    verified = await api.verify(challenge, api.code(enabled.secret))
    assert verified["errors"] == [] and verified["session"] is not None

    payload = await request_recovery(api, challenge)

    assert [e["code"] for e in payload["errors"]] == ["CHALLENGE_EXPIRED"]
    assert await RecoveryRequest.all().count() == 0


async def test_a_request_spends_its_challenge(api: Api, app: Starlette) -> None:
    await customer(api)
    agent = await support_agent(api, app)
    challenge = await api.challenge()
    first = await request_recovery(api, challenge)
    assert first["errors"] == []
    # Rejected, so the one-open-request rule is out of the way: only the spent token refuses.
    assert (await resolve(api, agent, first["request"]["id"], "REJECT"))["errors"] == []

    again = await request_recovery(api, challenge)

    assert [e["code"] for e in again["errors"]] == ["CHALLENGE_EXPIRED"]
    assert await RecoveryRequest.all().count() == 1


async def test_the_identity_document_is_required(api: Api) -> None:
    await customer(api)
    challenge = await api.challenge()

    body = await api.gql(REQUEST_RECOVERY, {"input": {"challengeToken": challenge}})
    assert body.get("errors"), body
    assert body.get("data") is None

    only_registration = await upload(api, challenge, {"companyRegistration": REGISTRATION})
    assert only_registration.json().get("errors"), only_registration.text
    assert await RecoveryRequest.all().count() == 0


async def test_an_account_with_a_company_must_send_its_registration(
    api: Api, app: Starlette
) -> None:
    await customer(api, companyName="ACME SAS")
    agent = await support_agent(api, app)

    missing = await request_recovery(api, await api.challenge())
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [
        ("INVALID_INPUT", ["input", "companyRegistration"])
    ]
    assert missing["errors"][0]["message"]
    assert await RecoveryRequest.all().count() == 0

    files = {"identityDocument": IDENTITY, "companyRegistration": REGISTRATION}
    request_id = await file_request(api, "alice@example.com", files=files)
    seen = await node(api, request_id, agent)
    assert seen is not None
    assert [(d["kind"], d["fileName"], d["size"]) for d in seen["documents"]] == [
        ("IDENTITY", "passport.pdf", len(PASSPORT)),
        ("COMPANY_REGISTRATION", "kbis.pdf", len(KBIS)),
    ]


async def test_an_account_without_a_company_needs_no_registration(api: Api) -> None:
    await customer(api)

    payload = await request_recovery(api, await api.challenge())

    assert payload["errors"] == []


async def test_a_file_is_refused_by_its_content_whatever_its_name_and_declared_type(
    api: Api,
) -> None:
    await customer(api)

    files = {"identityDocument": ("x.pdf", NOT_A_PDF, "application/pdf")}
    payload = await request_recovery(api, await api.challenge(), files=files)

    assert payload["request"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNSUPPORTED_FILE_TYPE", ["input", "identityDocument"])
    ]
    assert await RecoveryRequest.all().count() == 0
    assert await RecoveryDocument.all().count() == 0


async def test_a_file_is_accepted_by_its_content_whatever_its_name_and_declared_type(
    api: Api, app: Starlette
) -> None:
    await customer(api, companyName="ACME SAS")
    agent = await support_agent(api, app)

    files = {
        "identityDocument": ("photo.txt", PNG, "text/plain"),
        "companyRegistration": ("scan", JPEG, "application/octet-stream"),
    }
    request_id = await file_request(api, "alice@example.com", files=files)

    seen = await node(api, request_id, agent)
    assert seen is not None
    assert [(d["fileName"], d["contentType"], d["size"]) for d in seen["documents"]] == [
        ("photo.txt", "image/png", len(PNG)),
        ("scan", "image/jpeg", len(JPEG)),
    ]


async def test_a_document_over_the_size_limit_is_file_too_large(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", max_document_bytes=1000)
    async with running(settings, clock) as (_, api):
        await customer(api, companyName="ACME SAS")
        at_limit = b"%PDF-1.4\n" + b"x" * (1000 - 9)
        over_limit = at_limit + b"x"

        too_large = await request_recovery(
            api,
            await api.challenge(),
            files={
                "identityDocument": IDENTITY,
                "companyRegistration": ("kbis.pdf", over_limit, "application/pdf"),
            },
        )
        assert [(e["code"], e["field"]) for e in too_large["errors"]] == [
            ("FILE_TOO_LARGE", ["input", "companyRegistration"])
        ]
        too_large = await request_recovery(
            api,
            await api.challenge(),
            files={
                "identityDocument": ("id.pdf", over_limit, "application/pdf"),
                "companyRegistration": REGISTRATION,
            },
        )
        assert [(e["code"], e["field"]) for e in too_large["errors"]] == [
            ("FILE_TOO_LARGE", ["input", "identityDocument"])
        ]
        assert await RecoveryRequest.all().count() == 0

        fits = await request_recovery(
            api,
            await api.challenge(),
            files={
                "identityDocument": ("id.pdf", at_limit, "application/pdf"),
                "companyRegistration": REGISTRATION,
            },
        )
        assert fits["errors"] == []


async def test_the_default_document_limit_is_ten_megabytes(settings: Settings) -> None:
    assert settings.max_document_bytes == 10 * 1000 * 1000


async def test_a_request_body_over_the_limit_is_refused_with_413_before_parsing(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", max_document_bytes=500_000)
    limit = settings.max_request_bytes
    assert limit == 2 * 500_000 + 1_000_000
    async with running(settings, clock) as (_, api):
        await customer(api)
        huge = b"%PDF-1.4\n" + b"x" * limit

        challenge = await api.challenge()
        declared = await upload(
            api, challenge, {"identityDocument": ("big.pdf", huge, "application/pdf")}
        )
        assert declared.status_code == 413, declared.text

        # The same multipart body without a Content-Length (chunked): counted as it streams in.
        operations = {
            "query": REQUEST_RECOVERY,
            "variables": {"input": {"challengeToken": challenge, "identityDocument": None}},
        }
        encoded = httpx.Request(
            "POST",
            "http://testserver/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.identityDocument"]}),
            },
            files={"0": ("big.pdf", huge, "application/pdf")},
        )
        body = encoded.read()

        async def chunks() -> AsyncIterator[bytes]:
            for offset in range(0, len(body), 64 * 1024):
                yield body[offset : offset + 64 * 1024]

        chunked = await api.client.post(
            "/graphql",
            content=chunks(),
            headers={"Content-Type": encoded.headers["Content-Type"]},
        )
        assert chunked.status_code == 413, chunked.text
        assert await RecoveryRequest.all().count() == 0
        assert not settings.documents_dir.exists() or not any(settings.documents_dir.iterdir())


async def test_uploaded_files_are_closed_once_the_request_is_answered(api: Api) -> None:
    await customer(api, companyName="ACME SAS")
    files = {"identityDocument": IDENTITY, "companyRegistration": ("photo.png", PNG, "image/png")}
    challenge = await api.challenge()
    gc.collect()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = await upload(api, challenge, files)
        assert response.status_code == 200, response.text
        gc.collect()

    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []


async def test_only_one_pending_request_per_account(api: Api) -> None:
    await customer(api)
    await file_request(api, "alice@example.com")

    second = await request_recovery(api, await api.challenge())

    assert second["request"] is None
    # The input as a whole is refused, not one of its fields.
    assert [(e["code"], e["field"]) for e in second["errors"]] == [("INVALID_INPUT", ["input"])]
    assert second["errors"][0]["message"].strip()
    assert await RecoveryRequest.all().count() == 1


async def test_a_new_request_may_be_filed_once_the_previous_one_is_resolved(
    api: Api, app: Starlette
) -> None:
    await customer(api)
    agent = await support_agent(api, app)
    first = await file_request(api, "alice@example.com")
    assert (await resolve(api, agent, first, "REJECT", "Blurry scan"))["errors"] == []

    second = await request_recovery(api, await api.challenge())

    assert second["errors"] == []
    assert second["request"]["id"] != first
    assert second["request"]["status"] == "PENDING"


async def test_a_request_emails_the_account_holder_and_announces_it_to_support(
    mail_settings: Settings, smtp: SmtpServer, clock: FrozenClock
) -> None:
    async with running(mail_settings, clock) as (_, api):
        await customer(api, companyName="ACME SAS")
        # The billing contact's verification, 2FA turned on.
        await until(lambda: len(smtp.envelopes) == 2)
        files = {"identityDocument": IDENTITY, "companyRegistration": REGISTRATION}

        request_id = await file_request(api, "alice@example.com", files=files)

        await until(lambda: len(smtp.envelopes) == 4)
    by_recipient = {tuple(e.rcpt_tos): e for e in smtp.envelopes[2:]}
    # The acknowledgement goes to the account email (the unverified contact never asked).
    assert set(by_recipient) == {("alice@example.com",), (SUPPORT_EMAIL,)}

    acknowledgement = parse_mail(by_recipient["alice@example.com",].original_content or b"")
    assert acknowledgement["Subject"] == "Request to turn off two-factor authentication received"
    assert f"#{pk(request_id)}" in text_of(acknowledgement)

    raw = by_recipient[SUPPORT_EMAIL,].original_content or b""
    announcement = parse_mail(raw)
    assert "alice@example.com" in announcement["Subject"]
    link = f"https://verrou.example/#/support/recovery-requests/{pk(request_id)}"
    assert link in text_of(announcement)
    # Never the documents: only the text and HTML bodies, and none of the bytes.
    assert [part.get_content_type() for part in announcement.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert list(announcement.iter_attachments()) == []
    for marker in (b"PASSPORT-OF-ALICE-4242", b"KBIS-OF-ACME-9999", b"passport.pdf"):
        assert marker not in raw
    assert b"JVBERi0" not in raw  # "%PDF-" in base64


async def test_a_request_is_in_the_feed_and_the_security_history(api: Api) -> None:
    token, _ = await customer(api)

    await file_request(api, "alice@example.com")

    assert (await kinds_in_feed(api, token))[0] == "RECOVERY_REQUESTED"
    events = await security_history(api, token)
    requested = [event for event in events if event["kind"] == "RECOVERY_REQUESTED"]
    assert len(requested) == 1
    assert (requested[0]["ipAddress"], requested[0]["userAgent"]) == (IP, USER_AGENT)
    assert events[0]["kind"] == "RECOVERY_REQUESTED"  # newest first


# ---------------------------------------------------------------- support side


async def test_the_queue_is_for_support_only(api: Api) -> None:
    token, _ = await customer(api)
    await file_request(api, "alice@example.com")

    for session in (token, None):
        body = await api.gql(QUEUE, token=session)
        assert body.get("data") is None, body
        assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]


async def test_support_pages_through_the_queue_oldest_first(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    agent = await support_agent(api, app)
    ids = []
    for name in ("carol", "alice", "bob"):
        await customer(api, f"{name}@example.com")
        clock.advance(60)
        ids.append(await file_request(api, f"{name}@example.com", message=f"from {name}"))

    everything = (await api.data(QUEUE, token=agent))["recoveryRequests"]
    assert everything["totalCount"] == 3
    assert [edge["node"]["id"] for edge in everything["edges"]] == ids
    assert [edge["node"]["account"]["email"] for edge in everything["edges"]] == [
        "carol@example.com",
        "alice@example.com",
        "bob@example.com",
    ]

    seen: list[str] = []
    after: str | None = None
    for _ in ids:
        page = (await api.data(QUEUE, {"first": 1, "after": after}, token=agent))[
            "recoveryRequests"
        ]
        assert page["totalCount"] == 3
        assert len(page["edges"]) == 1
        seen.append(page["edges"][0]["node"]["id"])
        after = page["pageInfo"]["endCursor"]
        assert page["edges"][0]["cursor"] == after
    assert seen == ids
    assert page["pageInfo"]["hasNextPage"] is False
    first_page = (await api.data(QUEUE, {"first": 1}, token=agent))["recoveryRequests"]
    assert first_page["pageInfo"]["hasNextPage"] is True

    assert (await resolve(api, agent, ids[1], "REJECT"))["errors"] == []
    pending = (await api.data(QUEUE, {"status": "PENDING"}, token=agent))["recoveryRequests"]
    assert [edge["node"]["id"] for edge in pending["edges"]] == [ids[0], ids[2]]
    rejected = (await api.data(QUEUE, {"status": "REJECTED"}, token=agent))["recoveryRequests"]
    assert [edge["node"]["id"] for edge in rejected["edges"]] == [ids[1]]
    assert rejected["totalCount"] == 1


async def test_account_and_documents_are_shown_to_support_only(api: Api, app: Starlette) -> None:
    alice, _ = await customer(api)
    bob, _ = await customer(api, "bob@example.com")
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")

    by_support = await node(api, request_id, agent)
    assert by_support is not None
    assert by_support["account"] == {"email": "alice@example.com"}
    assert [(d["kind"], d["contentType"]) for d in by_support["documents"]] == [
        ("IDENTITY", "application/pdf")
    ]

    # The customer (a session opened before losing the device) sees the status only.
    by_owner = await node(api, request_id, alice)
    assert by_owner is not None
    assert (by_owner["id"], by_owner["status"], by_owner["message"]) == (
        request_id,
        "PENDING",
        "I lost my phone",
    )
    assert by_owner["account"] is None
    assert by_owner["documents"] == []

    assert await node(api, request_id, bob) is None
    assert await node(api, request_id, None) is None


async def test_the_customer_sees_the_outcome_after_signing_in_again(
    api: Api, app: Starlette
) -> None:
    _, enabled = await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    assert (await resolve(api, agent, request_id, "REJECT", "Blurry scan"))["errors"] == []

    # Found the phone after all: a fresh sign-in with a code.
    api.clock.advance(30)
    verified = await api.verify(await api.challenge(), api.code(enabled.secret))
    assert verified["errors"] == []

    seen = await node(api, request_id, verified["session"]["token"])
    assert seen is not None
    assert (seen["status"], seen["resolutionNote"]) == ("REJECTED", "Blurry scan")
    assert seen["account"] is None and seen["documents"] == []


async def test_a_download_link_serves_the_document_to_a_support_session_only(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    alice, _ = await customer(api, companyName="ACME SAS")
    agent = await support_agent(api, app)
    files = {
        "identityDocument": ("passport scan.pdf", PASSPORT, "application/pdf"),
        "companyRegistration": ("kbis.png", PNG, "image/png"),
    }
    request_id = await file_request(api, "alice@example.com", files=files)
    seen = await node(api, request_id, agent)
    assert seen is not None
    identity, registration = seen["documents"]

    url = identity["downloadUrl"]
    parts = urlsplit(url)
    assert parts.path.startswith("/recovery-documents/")
    query = parse_qs(parts.query)
    assert set(query) == {"expires", "signature"}
    assert 0 < int(query["expires"][0]) - clock.now().timestamp() <= 600

    as_support = {"Authorization": f"Bearer {agent}"}
    response = await api.client.get(local_path(url), headers=as_support)
    assert response.status_code == 200, response.text
    assert response.content == PASSPORT
    assert response.headers["content-type"].startswith("application/pdf")
    assert response.headers["content-disposition"].startswith("attachment")
    assert "passport%20scan.pdf" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"

    png = await api.client.get(local_path(registration["downloadUrl"]), headers=as_support)
    assert png.status_code == 200
    assert png.content == PNG
    assert png.headers["content-type"].startswith("image/png")

    as_customer = await api.client.get(
        local_path(url), headers={"Authorization": f"Bearer {alice}"}
    )
    assert as_customer.status_code == 403
    assert PASSPORT not in as_customer.content
    anonymous = await api.client.get(local_path(url))
    assert anonymous.status_code == 401
    assert PASSPORT not in anonymous.content

    signature = query["signature"][0]
    tampered = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    forged = await api.client.get(with_query(url, signature=tampered), headers=as_support)
    assert forged.status_code == 403
    longer = await api.client.get(
        with_query(url, expires=str(int(query["expires"][0]) + 3600)), headers=as_support
    )
    assert longer.status_code == 403
    other = urlsplit(registration["downloadUrl"]).path
    swapped = await api.client.get(f"{other}?{parts.query}", headers=as_support)
    assert swapped.status_code == 403

    clock.advance(601)
    expired = await api.client.get(local_path(url), headers=as_support)
    assert expired.status_code == 403
    assert PASSPORT not in expired.content


async def test_approval_turns_two_factor_off_and_ends_the_customers_sessions(
    api: Api, app: Starlette, clock: FrozenClock
) -> None:
    before, _ = await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    clock.advance(3600)
    assert await TwoFactor.filter(account__email="alice@example.com").exists()
    assert await BackupCode.filter(account__email="alice@example.com").exists()

    payload = await resolve(api, agent, request_id, "APPROVE", "  Identity checked  ")

    assert payload["errors"] == []
    resolved = payload["request"]
    assert resolved["status"] == "APPROVED"
    assert at(resolved["resolvedAt"]) == clock.now()
    assert resolved["resolutionNote"] == "Identity checked"
    row = await RecoveryRequest.get(id=pk(request_id))
    reviewer = await account_id(AGENT)
    assert (row.status, row.reviewer_id, row.resolved_at) == ("APPROVED", reviewer, clock.now())

    assert not await TwoFactor.filter(account__email="alice@example.com").exists()
    assert not await BackupCode.filter(account__email="alice@example.com").exists()
    assert (await api.data(VIEWER, token=before))["viewer"] is None
    assert (await api.data(VIEWER, token=agent))["viewer"] == {"email": AGENT}

    signed_in = await api.sign_in()
    assert signed_in["errors"] == [] and signed_in["challenge"] is None
    after = signed_in["session"]["token"]
    assert (await api.status(after))["enabled"] is False

    assert (await kinds_in_feed(api, after))[:2] == ["RECOVERY_APPROVED", "RECOVERY_REQUESTED"]
    events = await security_history(api, after)
    recovery_events = [e for e in events if e["kind"].startswith("RECOVERY_")]
    assert [e["kind"] for e in recovery_events] == ["RECOVERY_APPROVED", "RECOVERY_REQUESTED"]
    # The request is the customer's; the decision is support's: recorded without support's
    # IP address and browser, which are not the customer's (test_billing_contact.py).
    approved, requested = recovery_events
    assert (requested["ipAddress"], requested["userAgent"]) == (IP, USER_AGENT)
    assert (approved["ipAddress"], approved["userAgent"]) == (None, None)
    assert at(recovery_events[0]["createdAt"]) == clock.now()


async def test_rejection_leaves_two_factor_on(api: Api, app: Starlette, clock: FrozenClock) -> None:
    before, _ = await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    clock.advance(60)

    payload = await resolve(api, agent, request_id, "REJECT", "The photo is unreadable")

    assert payload["errors"] == []
    resolved = payload["request"]
    assert (resolved["status"], resolved["resolutionNote"]) == (
        "REJECTED",
        "The photo is unreadable",
    )
    assert at(resolved["resolvedAt"]) == clock.now()
    row = await RecoveryRequest.get(id=pk(request_id))
    assert (row.reviewer_id, row.resolved_at) == (await account_id(AGENT), clock.now())

    assert await TwoFactor.filter(account__email="alice@example.com").exists()
    assert (await api.status(before))["enabled"] is True
    assert (await api.sign_in())["challenge"] is not None
    assert (await kinds_in_feed(api, before))[0] == "RECOVERY_REJECTED"
    events = await security_history(api, before)
    assert events[0]["kind"] == "RECOVERY_REJECTED"
    # Support's decision: not support's IP address and browser in the customer's history.
    assert (events[0]["ipAddress"], events[0]["userAgent"]) == (None, None)


@pytest.mark.parametrize(
    ("decision", "subject", "sessions_end"),
    [
        ("APPROVE", "Two-factor authentication turned off at your request", True),
        ("REJECT", "Request to turn off two-factor authentication declined", False),
    ],
)
async def test_the_decision_is_emailed_to_the_account_holder_with_the_note(
    mail_settings: Settings,
    smtp: SmtpServer,
    clock: FrozenClock,
    decision: str,
    subject: str,
    sessions_end: bool,
) -> None:
    async with running(mail_settings, clock) as (app, api):
        await customer(api)
        agent = await support_agent(api, app)
        request_id = await file_request(api, "alice@example.com")
        # The contact's verification, enabled (the customer's and the agent's), acknowledged,
        # announced.
        await until(lambda: len(smtp.envelopes) == 5)

        payload = await resolve(api, agent, request_id, decision, "Checked by Jeanne")
        assert payload["errors"] == []

        await until(lambda: len(smtp.envelopes) == 6)
    envelope = smtp.envelopes[5]
    assert envelope.rcpt_tos == ["alice@example.com"]
    message = parse_mail(envelope.original_content or b"")
    assert message["Subject"] == subject
    text = text_of(message)
    assert "Checked by Jeanne" in text
    assert f"#{pk(request_id)}" in text
    assert ("sessions were signed out" in text) is sessions_end


async def test_a_request_cannot_be_resolved_twice(api: Api, app: Starlette) -> None:
    await customer(api)
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    assert (await resolve(api, agent, request_id, "REJECT", "first"))["errors"] == []

    for decision in ("APPROVE", "REJECT"):
        again = await resolve(api, agent, request_id, decision, "second")
        assert again["request"] is None
        assert [e["code"] for e in again["errors"]] == ["ALREADY_RESOLVED"]

    row = await RecoveryRequest.get(id=pk(request_id))
    assert (row.status, row.resolution_note) == ("REJECTED", "first")
    assert await TwoFactor.filter(account__email="alice@example.com").exists()


async def test_an_agent_cannot_resolve_their_own_request(api: Api, app: Starlette) -> None:
    own_session = await support_agent(api, app)  # with 2FA: the agent can lose the device
    request_id = await file_request(api, AGENT)

    payload = await resolve(api, own_session, request_id, "APPROVE")

    assert payload["request"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("FORBIDDEN", ["input", "id"])]
    row = await RecoveryRequest.get(id=pk(request_id))
    assert (row.status, row.reviewer_id) == ("PENDING", None)
    assert await TwoFactor.filter(account__email=AGENT).exists()

    colleague = await support_agent(api, app, "colleague@verrou.example")
    assert (await resolve(api, colleague, request_id, "APPROVE"))["errors"] == []


async def test_a_customer_cannot_resolve_a_request(api: Api) -> None:
    alice, _ = await customer(api)
    request_id = await file_request(api, "alice@example.com")

    payload = await resolve(api, alice, request_id, "APPROVE")

    assert payload["request"] is None
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert (await RecoveryRequest.get(id=pk(request_id))).status == "PENDING"
    assert await TwoFactor.filter(account__email="alice@example.com").exists()


async def test_resolving_an_unknown_request_is_not_found(api: Api, app: Starlette) -> None:
    agent = await support_agent(api, app)

    for unknown in (to_global_id("RecoveryRequest", 4242), to_global_id("Account", 1), "junk"):
        payload = await resolve(api, agent, unknown, "APPROVE")
        assert payload["request"] is None
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], unknown


# ---------------------------------------------------------------- data protection


async def test_documents_are_encrypted_at_rest_under_random_names(
    api: Api, app: Starlette, settings: Settings
) -> None:
    await customer(api, companyName="ACME SAS")
    files = {
        "identityDocument": IDENTITY,
        "companyRegistration": ("photo.png", PNG, "image/png"),
    }
    await file_request(api, "alice@example.com", files=files)

    directory = settings.documents_dir
    assert directory == settings.var_dir / "recovery"
    stored = sorted(directory.iterdir())
    assert len(stored) == 2
    storage_names = {row.storage_name for row in await RecoveryDocument.all()}
    assert {path.name for path in stored} == storage_names
    keys = app.state.runtime.keys
    decrypted = []
    for path in stored:
        content = path.read_bytes()
        assert content not in (PASSPORT, PNG)
        assert b"PASSPORT-OF-ALICE-4242" not in content
        assert b"%PDF" not in content and b"\x89PNG" not in content
        assert "passport" not in path.name and "photo" not in path.name
        assert path.suffix == ""
        decrypted.append(keys.decrypt(content.decode()))
    assert sorted(decrypted) == sorted([PASSPORT, PNG])  # the app's own key opens them


async def test_documents_are_purged_thirty_days_after_resolution(
    api: Api, app: Starlette, settings: Settings, clock: FrozenClock
) -> None:
    await customer(api)
    await customer(api, "bob@example.com")
    agent = await support_agent(api, app)
    resolved = await file_request(api, "alice@example.com")
    pending = await file_request(api, "bob@example.com")
    assert (await resolve(api, agent, resolved, "REJECT"))["errors"] == []
    assert len(list(settings.documents_dir.iterdir())) == 2

    clock.advance(30 * 86400)
    agent = await support_session(api)  # the first session expired meanwhile
    assert await recovery.purge(app.state.runtime) == 0
    assert len(list(settings.documents_dir.iterdir())) == 2
    seen = await node(api, resolved, agent)
    assert seen is not None and len(seen["documents"]) == 1

    clock.advance(1)
    assert await recovery.purge(app.state.runtime) == 1

    remaining = list(settings.documents_dir.iterdir())
    assert [path.name for path in remaining] == [
        row.storage_name for row in await RecoveryDocument.all()
    ]
    seen = await node(api, resolved, agent)
    assert seen is not None and seen["documents"] == []
    assert seen["status"] == "REJECTED"  # the request itself stays, for the record
    still_pending = await node(api, pending, agent)
    assert still_pending is not None and len(still_pending["documents"]) == 1
    assert await recovery.purge(app.state.runtime) == 0


def test_the_purge_command_runs_on_an_empty_database(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("ENCRYPTION_KEYS", None)
    env.update(
        {
            "DATABASE_URL": f"sqlite://{tmp_path / 'x.sqlite3'}",
            "VAR_DIR": str(tmp_path / "var"),
            "ENVIRONMENT": "development",
        }
    )
    result = subprocess.run(
        [sys.executable, "server.py", "purge-documents"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "purged 0 recovery document(s)"


async def test_support_reads_a_requesters_security_history_but_not_their_inbox(
    api: Api, app: Starlette
) -> None:
    await customer(api)
    await file_request(api, "alice@example.com")
    agent = await support_agent(api, app)
    history = """{ recoveryRequests { edges { node { account {
        email securityEvents(first: 5) { edges { node { kind } } }
    } } } } }"""
    data = await api.data(history, token=agent)
    account = data["recoveryRequests"]["edges"][0]["node"]["account"]
    assert account["email"] == "alice@example.com"
    assert account["securityEvents"]["edges"]
    for field in ("notifications(first: 5) { edges { node { id } } }", "unreadNotificationCount"):
        inbox = f"{{ recoveryRequests {{ edges {{ node {{ account {{ {field} }} }} }} }} }}"
        body = await api.gql(inbox, token=agent)
        assert body["data"]["recoveryRequests"]["edges"][0]["node"]["account"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
