"""Automatic persisted queries, Apollo's protocol: a client sends a document's sha256 alone;
an unknown hash answers the error Apollo Client's link waits for (HTTP 200), the link sends
the text with its hash, and from then on the hash alone runs it, over POST and GET. A text
under another text's hash is refused; the store is bounded and shared through Redis."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import create_app
from services.clock import FrozenClock
from services.persisted_queries import MemoryDocumentStore, RedisDocumentStore
from services.settings import Settings
from tests.conftest import free_port, make_settings, start
from tests.redis_server import REDIS_SERVER, RedisServer

VIEWER = "query Viewer { viewer { email } }"
OTHER = "query Other { viewer { id } }"
NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}
GRAPHQL_RESPONSE = "application/graphql-response+json"
serve = contextlib.asynccontextmanager(start)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


async def by_hash(
    client: httpx.AsyncClient, text: str, *, method: str = "POST", **headers: str
) -> httpx.Response:
    """What Apollo's link sends first: the hash and the operation's name, no text."""
    name = re.search(r"(?:query|mutation) (\w+)", text)
    assert name is not None
    if method == "GET":
        params = {"operationName": name[1], "extensions": json.dumps(apq(text))}
        return await client.get("/graphql", params=params, headers=headers)
    body = {"operationName": name[1], "variables": {}, "extensions": apq(text)}
    return await client.post("/graphql", json=body, headers=headers)


async def with_text(
    client: httpx.AsyncClient, text: str, *, method: str = "POST", sent_hash: str | None = None
) -> httpx.Response:
    """What the link sends after a miss: the same request with the text."""
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sent_hash or sha256(text)}}
    if method == "GET":
        params = {"query": text, "extensions": json.dumps(extensions)}
        return await client.get("/graphql", params=params)
    return await client.post("/graphql", json={"query": text, "extensions": extensions})


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_an_unknown_hash_answers_what_apollos_link_expects(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await by_hash(client, VIEWER, method=method)
    assert response.status_code == 200
    assert response.json() == NOT_FOUND
    assert response.headers["cache-control"] == "no-store"
    # The newer media type too: still 200, the link retries on the body it reads.
    newer = await by_hash(client, VIEWER, method=method, accept=GRAPHQL_RESPONSE)
    assert (newer.status_code, newer.json()) == (200, NOT_FOUND)
    assert newer.headers["content-type"].startswith(GRAPHQL_RESPONSE)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_the_text_with_its_hash_registers_it_then_the_hash_alone_runs_it(
    client: httpx.AsyncClient, method: str
) -> None:
    assert (await by_hash(client, VIEWER, method=method)).json() == NOT_FOUND
    registered = await with_text(client, VIEWER, method=method)
    assert registered.json() == {"data": {"viewer": None}}
    again = await by_hash(client, VIEWER, method=method)
    assert (again.status_code, again.json()) == (200, {"data": {"viewer": None}})
    # Another document is still unknown.
    assert (await by_hash(client, OTHER, method=method)).json() == NOT_FOUND


async def test_a_text_under_another_documents_hash_is_refused_and_not_stored(
    client: httpx.AsyncClient,
) -> None:
    """Otherwise anyone could put their text under the hash every app sends for another."""
    hijack = await with_text(client, OTHER, sent_hash=sha256(VIEWER))
    assert hijack.status_code == 400
    assert hijack.text == "provided sha does not match query"
    assert (await by_hash(client, VIEWER)).json() == NOT_FOUND


async def test_a_text_that_does_not_validate_is_not_stored(client: httpx.AsyncClient) -> None:
    """The store is bounded: a document that cannot run must not take a place in it."""
    invalid = "query Invalid { viewer { noSuchField } }"
    answered = await with_text(client, invalid)
    assert answered.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await by_hash(client, invalid)).json() == NOT_FOUND


@pytest.mark.parametrize(
    "persisted_query",
    [{"version": 2, "sha256Hash": "0" * 64}, {"version": 1, "sha256Hash": "abc"}, "hash"],
    ids=["unknown version", "not a sha256", "not an object"],
)
async def test_a_malformed_persisted_query_is_a_400_that_says_why(
    client: httpx.AsyncClient, persisted_query: object
) -> None:
    response = await client.post(
        "/graphql", json={"extensions": {"persistedQuery": persisted_query}}
    )
    assert response.status_code == 400
    assert "persistedQuery" in response.text


async def test_a_mutation_by_hash_is_not_run_over_get(client: httpx.AsyncClient) -> None:
    sign_out = "mutation SignOut { signOut { errors { code } } }"
    assert (await with_text(client, sign_out)).status_code == 200
    params = {"extensions": json.dumps(apq(sign_out))}
    response = await client.get("/graphql", params=params)
    assert response.status_code == 405


async def test_the_memory_store_keeps_its_bounds_least_recently_used_out() -> None:
    store = MemoryDocumentStore(max_entries=2, max_bytes=100)
    await store.put("a", "x" * 40)
    await store.put("b", "y" * 40)
    assert await store.get("a") == "x" * 40  # a is now the most recent
    await store.put("c", "z" * 10)  # three entries: b goes
    assert [await store.get(key) for key in "abc"] == ["x" * 40, None, "z" * 10]
    await store.put("d", "w" * 55)  # three entries again: a, the least recently used, goes
    assert await store.get("a") is None
    assert await store.get("d") == "w" * 55
    await store.put("huge", "h" * 101)  # over the whole budget: never stored
    assert await store.get("huge") is None


async def test_the_app_store_is_bounded_by_its_settings(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", persisted_queries_max_entries=1)
    async with serve(create_app(settings, clock=clock)) as client:
        await with_text(client, VIEWER)
        await with_text(client, OTHER)
        assert (await by_hash(client, VIEWER)).json() == NOT_FOUND
        assert (await by_hash(client, OTHER)).json() == {"data": {"viewer": None}}


# ---- shared through Redis ---------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: the shared store's tests start one")
    server = RedisServer(REDIS_SERVER, free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


async def test_a_text_registered_with_one_process_runs_by_hash_on_another(
    db_path: Path, tmp_path: Path, clock: FrozenClock, redis_server: RedisServer
) -> None:
    first = make_settings(db_path, tmp_path / "var", redis_url=redis_server.url)
    second = make_settings(db_path, tmp_path / "var", redis_url=redis_server.url)
    async with serve(create_app(first, clock=clock)) as one:
        async with serve(create_app(second, clock=clock)) as other:
            assert (await by_hash(other, VIEWER)).json() == NOT_FOUND
            assert (await with_text(one, VIEWER)).status_code == 200
            assert (await by_hash(other, VIEWER)).json() == {"data": {"viewer": None}}


async def test_the_redis_store_keeps_its_bounds(redis_server: RedisServer) -> None:
    store = RedisDocumentStore(redis_server.url, max_entries=2, max_bytes=100)
    try:
        await store.put("a", "x" * 40)
        await store.put("b", "y" * 40)
        assert await store.get("a") == "x" * 40
        await store.put("c", "z" * 10)
        assert [await store.get(key) for key in "abc"] == ["x" * 40, None, "z" * 10]
        await store.put("d", "w" * 55)
        assert await store.get("a") is None
        assert await store.get("d") == "w" * 55
        await store.put("é", "é" * 40)  # 80 bytes, not 40 characters: only it remains
        assert [await store.get(key) for key in ("c", "d", "é")] == [None, None, "é" * 40]
    finally:
        await store.close()


async def test_a_redis_outage_costs_a_retry_with_the_text_never_a_failure(
    db_path: Path, tmp_path: Path, clock: FrozenClock, redis_server: RedisServer
) -> None:
    settings = make_settings(db_path, tmp_path / "var", redis_url=redis_server.url)
    async with serve(create_app(settings, clock=clock)) as client:
        redis_server.stop()
        assert (await by_hash(client, VIEWER)).json() == NOT_FOUND
        assert (await with_text(client, VIEWER)).json() == {"data": {"viewer": None}}


@pytest.fixture
async def client(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings, clock=clock)) as http:
        yield http


async def test_a_process_keeps_what_it_looked_up_in_the_shared_store(
    db_path: Path, tmp_path: Path, clock: FrozenClock, redis_server: RedisServer
) -> None:
    """Once a process has looked a hash up in Redis, it answers it from its own memory: the
    hash names the text, so the copy cannot be stale, and a lookup costs no round trip."""
    first = make_settings(db_path, tmp_path / "one", redis_url=redis_server.url)
    second = make_settings(db_path, tmp_path / "two", redis_url=redis_server.url)
    async with serve(create_app(first, clock=clock)) as one:
        async with serve(create_app(second, clock=clock)) as other:
            assert (await with_text(one, VIEWER)).status_code == 200
            assert (await by_hash(other, VIEWER)).json() == {"data": {"viewer": None}}
            redis_server.stop()
            # Both still know it: one registered it, the other looked it up.
            assert (await by_hash(other, VIEWER)).json() == {"data": {"viewer": None}}
            assert (await by_hash(one, VIEWER)).json() == {"data": {"viewer": None}}
