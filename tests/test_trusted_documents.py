"""Trusted documents: TRUSTED_DOCUMENTS loads a manifest (Apollo's persisted query manifest, or
Relay's {id: text} map), requests name a document by `documentId` or Relay's `doc_id`, and
with TRUSTED_DOCUMENTS_ONLY nothing outside the manifest runs (PERSISTED_QUERY_NOT_ALLOWED)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate

from schema.build import build_schema
from server import create_app
from services.clock import FrozenClock
from services.persisted_queries import load_manifest
from services.settings import Settings, SettingsError
from tests.conftest import LiveServer, make_settings, start
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, subscriber

VIEWER = "query Viewer { viewer { email } }"
SIGN_UP = """mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { session { token } errors { code } }
}"""
ELSEWHERE = "query Elsewhere { viewer { id } }"
LIVE = "subscription Live { notifications { id kind } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"
NOT_ALLOWED = {
    "errors": [
        {
            "message": "The operation is not in the server's list of trusted documents.",
            "extensions": {"code": "PERSISTED_QUERY_NOT_ALLOWED"},
        }
    ]
}
serve = contextlib.asynccontextmanager(start)
ROOT = Path(__file__).resolve().parents[1]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apollo_manifest(path: Path) -> Path:
    operations = [
        {"id": sha256(VIEWER), "name": "Viewer", "type": "query", "body": VIEWER},
        {"id": sha256(SIGN_UP), "name": "SignUp", "type": "mutation", "body": SIGN_UP},
        {"id": sha256(LIVE), "name": "Live", "type": "subscription", "body": LIVE},
    ]
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_text(json.dumps(manifest))
    return path


@contextlib.asynccontextmanager
async def server(
    db_path: Path, tmp_path: Path, clock: FrozenClock, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(db_path, tmp_path / "var", **settings), clock=clock)
    async with serve(app) as client:
        yield client


@pytest.fixture
async def trusted(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    """A server with Apollo's manifest of VIEWER and SIGN_UP, and nothing else allowed."""
    manifest = apollo_manifest(tmp_path / "manifest.json")
    only = {"trusted_documents": manifest, "trusted_documents_only": True}
    async with server(db_path, tmp_path, clock, **only) as client:
        yield client


@pytest.mark.parametrize("key", ["documentId", "doc_id"])
async def test_a_document_of_the_manifest_runs_by_its_id(
    trusted: httpx.AsyncClient, key: str
) -> None:
    viewer = await trusted.post("/graphql", json={key: sha256(VIEWER)})
    assert viewer.json() == {"data": {"viewer": None}}
    signed_up = await trusted.post(
        "/graphql",
        json={
            key: sha256(SIGN_UP),
            "variables": {"input": {"email": "amy@example.com", "password": "a long passphrase"}},
        },
    )
    payload = signed_up.json()["data"]["signUp"]
    assert payload["errors"] == []
    assert payload["session"]["token"]


async def test_a_query_of_the_manifest_runs_by_its_id_over_get(trusted: httpx.AsyncClient) -> None:
    for document_id in (sha256(VIEWER), f"sha256:{sha256(VIEWER)}"):
        response = await trusted.get("/graphql", params={"documentId": document_id})
        assert (response.status_code, response.json()) == (200, {"data": {"viewer": None}})
    # A mutation of the manifest is still not run by GET.
    mutation = await trusted.get("/graphql", params={"documentId": sha256(SIGN_UP)})
    assert mutation.status_code == 405


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_only_trusted_documents_refuses_any_other_text(
    trusted: httpx.AsyncClient, accept: str
) -> None:
    refused = await trusted.post("/graphql", json={"query": ELSEWHERE}, headers={"accept": accept})
    assert refused.json() == NOT_ALLOWED
    assert refused.status_code == (400 if accept == GRAPHQL_RESPONSE else 200)
    over_get = await trusted.get("/graphql", params={"query": ELSEWHERE})
    assert over_get.json() == NOT_ALLOWED
    # The manifest's own text, sent in full, is trusted.
    in_full = await trusted.post("/graphql", json={"query": VIEWER})
    assert in_full.json() == {"data": {"viewer": None}}


async def test_only_trusted_documents_registers_no_persisted_query(
    trusted: httpx.AsyncClient,
) -> None:
    """APQ cannot smuggle a text in: registering is refused, and its hash stays unknown."""
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(ELSEWHERE)}}
    register = await trusted.post("/graphql", json={"query": ELSEWHERE, "extensions": extensions})
    assert register.json() == NOT_ALLOWED
    by_hash = await trusted.post("/graphql", json={"extensions": extensions})
    assert by_hash.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # Apollo's link with the manifest's documents: their hashes are the manifest's ids.
    extensions["persistedQuery"]["sha256Hash"] = sha256(VIEWER)
    hashed = await trusted.post("/graphql", json={"extensions": extensions})
    assert hashed.json() == {"data": {"viewer": None}}


async def test_an_id_the_manifest_lacks_is_not_found(trusted: httpx.AsyncClient) -> None:
    response = await trusted.post("/graphql", json={"documentId": sha256(ELSEWHERE)})
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    both = await trusted.post("/graphql", json={"documentId": sha256(VIEWER), "query": VIEWER})
    assert both.status_code == 400


async def test_a_relay_manifest_is_read_and_other_texts_run_without_only(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    manifest = tmp_path / "relay.json"
    manifest.write_text(json.dumps({"a1b2": VIEWER}))
    async with server(db_path, tmp_path, clock, trusted_documents=manifest) as client:
        by_id = await client.post("/graphql", json={"doc_id": "a1b2"})
        assert by_id.json() == {"data": {"viewer": None}}
        unknown = await client.post("/graphql", json={"doc_id": "c3d4"})
        assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        other = await client.post("/graphql", json={"query": ELSEWHERE})
        assert other.json() == {"data": {"viewer": None}}


def test_only_trusted_documents_without_a_manifest_is_a_configuration_error(
    db_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="TRUSTED_DOCUMENTS_ONLY=true requires"):
        make_settings(db_path, tmp_path / "var", trusted_documents_only=True)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps(["a list"]),
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}),
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]}),
        json.dumps({"a1b2": 42}),
    ],
    ids=["not json", "a list", "version 2", "operation without body", "relay non-text"],
)
def test_a_manifest_the_server_cannot_read_stops_it_at_start(
    db_path: Path, tmp_path: Path, content: str
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(content)
    with pytest.raises(SettingsError, match="TRUSTED_DOCUMENTS: "):
        make_settings(db_path, tmp_path / "var", trusted_documents=manifest)
    with pytest.raises(SettingsError, match="TRUSTED_DOCUMENTS: "):
        make_settings(db_path, tmp_path / "var", trusted_documents=tmp_path / "missing.json")


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    """The `live` server's: only the manifest's documents."""
    manifest = apollo_manifest(tmp_path / "manifest.json")
    return make_settings(
        db_path, tmp_path / "var", trusted_documents=manifest, trusted_documents_only=True
    )


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_only_trusted_documents_holds_over_websocket_too(
    live: LiveServer, protocol: str
) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        variables = {"input": {"email": "ws@example.com", "password": "a long passphrase"}}
        signed_up = await http.post("/graphql", json={"query": SIGN_UP, "variables": variables})
        token = signed_up.json()["data"]["signUp"]["session"]["token"]
    outside = "subscription { notifications { id } }"
    async with subscriber(live.ws_url, token, protocol=protocol, query=outside) as socket:
        refused = await socket.receive()
        assert refused["type"] == "error"
        errors = refused["payload"] if protocol == TRANSPORT_WS else [refused["payload"]]
        assert [error["extensions"]["code"] for error in errors] == ["PERSISTED_QUERY_NOT_ALLOWED"]
        # The manifest's subscription on the same socket is accepted: no error comes.
        await socket.subscribe(LIVE, operation_id="2")
        with pytest.raises(TimeoutError):
            await socket.next_event(within=0.5)


def test_the_web_clients_manifest_loads_and_every_document_validates() -> None:
    """webclient/trusted-documents.json (`make webclient-manifest`) is a manifest the server
    reads, and each of its documents runs on this schema: a web client deployed with
    TRUSTED_DOCUMENTS_ONLY is refused nothing. `make conformance` checks it lists every
    operation the web client sends."""
    documents = load_manifest(ROOT / "webclient" / "trusted-documents.json")
    assert {"Viewer", "SignIn", "Live"} <= {
        definition.name.value
        for text in documents.values()
        for definition in parse(text).definitions
        if isinstance(definition, OperationDefinitionNode) and definition.name
    }
    schema = build_schema()._schema  # type: ignore[attr-defined]
    invalid = {
        document_id: [error.message for error in validate(schema, parse(text))]
        for document_id, text in documents.items()
        if validate(schema, parse(text))
    }
    assert invalid == {}
    assert all(sha256(text) == document_id for document_id, text in documents.items())
