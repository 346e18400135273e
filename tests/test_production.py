"""ENVIRONMENT=production: no GraphiQL and no introspection unless asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resolvers import two_factor as two_factor_resolvers
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


# ---------------------------------------------------------------- issue 6: hostile clients

SIGN_UP = """
mutation ($input: SignUpInput!) { signUp(input: $input) { session { token } errors { code } } }
"""


async def test_production_masks_an_unexpected_error(
    db_path: Path, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("connection to db-primary.internal:5432 failed (password hunter2)")

    async for client in served(db_path, tmp_path, clock):
        api = Api(client, clock)
        token = await api.sign_up()
        # The status is not at hand (as for a query of another account's), and reading it fails.
        monkeypatch.setattr(two_factor_resolvers, "status_at_hand", lambda *args: None)
        monkeypatch.setattr(two_factor_resolvers, "two_factor_status", broken)

        response = await client.post(
            "/graphql",
            json={"query": "{ twoFactorStatus { enabled } }"},
            headers={"Authorization": f"Bearer {token}"},
        )

        assert response.status_code == 200
        assert response.json() == {
            "data": None,
            "errors": [
                {
                    "message": "Unexpected error.",
                    "locations": [{"line": 1, "column": 3}],
                    "path": ["twoFactorStatus"],
                }
            ],
        }
        for leak in ("RuntimeError", "hunter2", "db-primary", "Traceback", "status.py"):
            assert leak not in response.text


@pytest.mark.parametrize(
    ("query", "variables", "wrong", "suggested"),
    [
        ("{ viewer { emial } }", None, "'emial'", "'email'"),
        ("{ viewer { notifications(frist: 1) { totalCount } } }", None, "'frist'", "'first'"),
        (
            "query ($f: Itn) { viewer { notifications(first: $f) { totalCount } } }",
            None,
            "'Itn'",
            "'Int'",
        ),
        (
            SIGN_UP,
            {"input": {"email": "a@b.fr", "password": "x" * 12, "locale": "EM"}},
            "'EM'",
            "'EN'",
        ),
    ],
    ids=["field", "argument", "type", "enum-value"],
)
async def test_production_suggests_no_names_development_does(
    db_path: Path,
    tmp_path: Path,
    clock: FrozenClock,
    query: str,
    variables: dict[str, Any] | None,
    wrong: str,
    suggested: str,
) -> None:
    """graphql-core answers a misspelt name with "Did you mean …?": with introspection
    off, that would read the schema out name by name."""
    request = {"query": query, "variables": variables}
    async for client in served(db_path, tmp_path, clock):
        body = (await client.post("/graphql", json=request)).json()
        assert body.get("data") is None
        messages = " ".join(error["message"] for error in body["errors"])
        # Nothing named at all (tests/test_production_messages.py), the code kept.
        assert wrong not in messages and body["errors"][0]["extensions"]["code"], messages
        assert "Did you mean" not in messages and suggested not in messages, messages
    async for client in start(create_app(make_settings(db_path, tmp_path / "dev"), clock=clock)):
        body = (await client.post("/graphql", json=request)).json()
        messages = " ".join(error["message"] for error in body["errors"])
        assert "Did you mean" in messages and suggested in messages, messages
