"""No secret in clear at rest or in the logs, after a whole lifecycle over a real socket.

The attacker here has read access to the database files, the document directory and the log
output (a backup, a log shipper, a support engineer's screen). Every password, token, code
and TOTP secret the lifecycle used is searched for in every form it could leak in: the TOTP
secret as base32, lower-case base32, hex, base64 and raw bytes; backup codes with and without
their dash; six-digit codes as whole numbers.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from tortoise import Tortoise

from services.clock import FrozenClock
from tests.conftest import free_port
from tests.helpers import PASSWORD, Api
from tests.test_recovery import IDENTITY, PASSPORT, QUEUE, REQUEST_FIELDS, upload
from transport import logs

AGENT_PASSWORD = "support agent's own long passphrase"
WRONG_PASSWORD = "a wrong password, also secret"

REGENERATE = """
mutation R($password: String!) {
  regenerateBackupCodes(input: {password: $password}) { backupCodes errors { code } }
}
"""
RESOLVE = f"""
mutation Resolve($input: ResolveRecoveryRequestInput!) {{
  resolveRecoveryRequest(input: $input) {{ request {{ {REQUEST_FIELDS} }} errors {{ code }} }}
}}
"""
NODE = f"query N($id: ID!) {{ node(id: $id) {{ ... on RecoveryRequest {{ {REQUEST_FIELDS} }} }} }}"
STATUS = "query { twoFactorStatus { enabled } }"


@dataclass
class Secrets:
    """What the lifecycle handled that must never be readable by an outsider."""

    texts: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)  # six digits: matched as whole numbers
    raw: set[bytes] = field(default_factory=set)  # binary forms, for the files

    def add_totp_secret(self, secret: str) -> None:
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        self.texts |= {
            secret,
            secret.lower(),
            secret.rstrip("="),
            key.hex(),
            key.hex().upper(),
            base64.b64encode(key).decode(),
            base64.urlsafe_b64encode(key).decode().rstrip("="),
        }
        self.raw.add(key)

    def add_backup_codes(self, codes: list[str]) -> None:
        for code in codes:
            self.texts |= {code, code.replace("-", ""), code.upper(), code.replace("-", "").upper()}

    def found_in(self, text: str) -> list[str]:
        leaked = [secret for secret in self.texts if secret in text]
        leaked += [code for code in self.codes if re.search(rf"(?<!\d){code}(?!\d)", text)]
        return leaked

    def found_in_bytes(self, content: bytes) -> list[str]:
        leaked = [repr(raw) for raw in self.raw if raw in content]
        return leaked + self.found_in(content.decode("latin-1"))


@dataclass
class Traced:
    url: str
    printed: io.StringIO


@pytest.fixture
async def traced(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Traced]:
    """The app behind uvicorn at DEBUG, served as `server.py serve` serves it: without
    uvicorn's access log, whose lines carry query strings (and so the signature of a
    download link); RequestLog logs each request without its query. (uvicorn's TRACE level
    prints every ASGI scope, query string included: not a level to run in production.)"""
    caplog.set_level(logging.DEBUG)  # every logger, Tortoise's SQL statements included
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="debug", access_log=False)
    # uvicorn's own handlers print to the captured stderr; propagating sends the same records
    # to caplog as well. Not uvicorn.access: access_log=False leaves it without handlers and
    # without propagation, and a propagating logger would turn the access log back on.
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
    # And what uvicorn prints goes to a buffer the test reads (pytest's capture of stderr
    # stops at each phase).
    printed = io.StringIO()
    for handler in logging.getLogger("uvicorn").handlers:
        assert isinstance(handler, logging.StreamHandler)
        monkeypatch.setattr(handler, "stream", printed)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    try:
        yield Traced(f"http://127.0.0.1:{port}", printed)
    finally:
        server.should_exit = True
        await serving


async def lifecycle(api: Api, app: Starlette, secrets: Secrets) -> None:
    """Sign up, turn 2FA on, sign in with a TOTP code and with a backup code, regenerate,
    ask for recovery with a document, support downloads it and approves (2FA off)."""
    token = await api.sign_up()
    secrets.texts |= {PASSWORD, WRONG_PASSWORD, AGENT_PASSWORD, token}

    setup = (await api.start(token))["setup"]
    secrets.add_totp_secret(setup["secret"])
    confirm_code = api.code(setup["secret"])
    secrets.codes.add(confirm_code)
    confirmed = await api.confirm(token, confirm_code)
    assert confirmed["errors"] == []
    secrets.add_backup_codes(confirmed["backupCodes"])

    api.clock.advance(30)
    challenge = await api.challenge()
    sign_in_code = api.code(setup["secret"])
    secrets.codes.add(sign_in_code)
    with_totp = await api.verify(challenge, sign_in_code)
    assert with_totp["errors"] == []
    backup_challenge = await api.challenge()
    with_backup = await api.verify(backup_challenge, confirmed["backupCodes"][0])
    assert with_backup["errors"] == []
    secrets.texts |= {
        challenge,
        backup_challenge,
        with_totp["session"]["token"],
        with_backup["session"]["token"],
    }

    regenerated = (await api.data(REGENERATE, {"password": PASSWORD}, token=token))[
        "regenerateBackupCodes"
    ]
    assert regenerated["errors"] == []
    secrets.add_backup_codes(regenerated["backupCodes"])
    assert (await api.sign_in(password=WRONG_PASSWORD))["errors"]

    recovery_challenge = await api.challenge()
    secrets.texts.add(recovery_challenge)
    sent = await upload(api, recovery_challenge, {"identityDocument": IDENTITY}, "lost my phone")
    assert sent.status_code == 200, sent.text
    request_id = sent.json()["data"]["requestTwoFactorRecovery"]["request"]["id"]

    agent = await api.support_agent(app.state.runtime, "agent@example.com", AGENT_PASSWORD)
    secrets.texts.add(agent)
    assert (await api.data(QUEUE, {"first": 5}, token=agent))["recoveryRequests"]["totalCount"]
    document = (await api.data(NODE, {"id": request_id}, token=agent))["node"]["documents"][0]
    link = urlsplit(document["downloadUrl"])
    secrets.texts.add(parse_qs(link.query)["signature"][0])
    downloaded = await api.client.get(f"{link.path}?{link.query}", headers=bearer(agent))
    assert downloaded.status_code == 200 and downloaded.content == PASSPORT

    approved = (
        await api.data(
            RESOLVE,
            {"input": {"id": request_id, "decision": "APPROVE", "confirm": True}},
            token=agent,
        )
    )["resolveRecoveryRequest"]
    assert approved["errors"] == []
    assert "errors" in await api.gql(STATUS, token=token)  # its sessions ended with 2FA


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_text(records: list[logging.LogRecord]) -> str:
    """Every record as the JSON formatter would print it (extras included), minus the
    wall-clock time, whose microseconds are six digits of noise."""
    formatter = logs.JsonFormatter()
    lines = []
    for record in records:
        line = json.loads(formatter.format(record))
        del line["time"]
        lines.append(json.dumps(line, ensure_ascii=False))
    return "\n".join(lines)


async def database_rows() -> str:
    """Every row of every table, as text (SQLite or PostgreSQL alike)."""
    connection = Tortoise.get_connection("default")
    dump: list[str] = []
    for model in Tortoise.apps["models"].values():
        _, rows = await connection.execute_query(f'SELECT * FROM "{model._meta.db_table}"')  # noqa: S608 - table names from our models
        dump += [f"{model._meta.db_table}: {dict(row)!r}" for row in rows]
    return "\n".join(dump)


def files_under(directory: Path) -> dict[Path, bytes]:
    """The SQLite database (with any journal) and the recovery documents, as bytes."""
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


async def test_no_secret_of_a_whole_lifecycle_is_in_the_logs_the_database_or_the_files(
    app: Starlette,
    traced: Traced,
    clock: FrozenClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pytest hangs its capture handler on every non-propagating logger as the test starts,
    # uvicorn.access included, and uvicorn logs access whenever that logger has a handler:
    # take it off, so the access log stays off as `server.py serve` has it.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "handlers", [])
    secrets = Secrets()
    async with httpx.AsyncClient(base_url=traced.url) as client:
        await lifecycle(Api(client, clock), app, secrets)

    assert len(secrets.texts) > 40 and len(secrets.codes) == 2 and secrets.raw
    # httpx and httpcore are this test's client, not the server.
    records = [
        record
        for record in caplog.get_records("setup") + caplog.get_records("call")
        if not record.name.startswith(("httpx", "httpcore"))
    ]
    # The scan would be empty without these: SQL, the request log and uvicorn's access log.
    logged_by = {record.name for record in records}
    assert {"tortoise.db_client", "verrou.requests", "uvicorn.error"} <= logged_by, logged_by
    assert any("INSERT" in record.getMessage() for record in records)
    leaks = {r.name for r in records if secrets.found_in(log_text([r]))}
    assert not leaks, leaks
    assert secrets.found_in("\n".join(r.getMessage() for r in records)) == []
    printed = traced.printed.getvalue()
    assert "Application startup complete" in printed
    assert secrets.found_in(printed) == []

    rows = await database_rows()
    assert "alice@example.com" in rows and "lost my phone" in rows
    assert secrets.found_in(rows) == []

    files = files_under(tmp_path)
    assert any(path.parent.name == "recovery" for path in files), files
    for path, content in files.items():
        assert secrets.found_in_bytes(content) == [], path
        assert b"PASSPORT-OF-ALICE-4242" not in content, path
