"""ENVIRONMENT=production: no GraphiQL and no introspection unless asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from server import create_app
from services.clock import FrozenClock
from tests.conftest import make_settings, start
from tests.helpers import Api

INTROSPECTION = "{ __schema { queryType { name } } }"


async def served(
    db_path: Path, tmp_path: Path, clock: FrozenClock, **extra: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        db_path,
        tmp_path / "var",
        environment="production",
        public_url="https://verrou.example",
        **extra,
    )
    async for client in start(create_app(settings, clock=clock)):
        yield client


async def test_production_hides_graphiql_and_introspection(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    async for client in served(db_path, tmp_path, clock):
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        body = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
        assert body.get("data") is None
        assert body["errors"]
        ordinary = (await client.post("/graphql", json={"query": "{ viewer { email } }"})).json()
        assert ordinary == {"data": {"viewer": None}}


async def test_production_can_turn_them_back_on(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    async for client in served(db_path, tmp_path, clock, graphiql=True, graphql_introspection=True):
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" in page.text.lower()
        body = (await client.post("/graphql", json={"query": INTROSPECTION})).json()
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_development_serves_graphiql(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" in page.text.lower()
