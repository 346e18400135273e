"""A connection's bad `first` or `after` is a top-level INVALID_INPUT whose
`extensions.field` names the argument and whose message, in the account's language, says
what is allowed (the limit, or where a cursor comes from)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from services.pagination import encode_cursor
from tests.helpers import Api
from tests.test_recovery import support_agent
from tests.test_relay import CONNECTIONS

LIMIT = {"EN": "at most 100 items a page", "FR": "100 éléments au plus par page"}
CURSOR = {"EN": "This cursor is not valid", "FR": "Ce curseur n'est pas valide"}


async def refusal(api: Api, name: str, token: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await api.gql(CONNECTIONS[name], variables, token=token)
    assert body["data"] is None or body["data"].get(name) is None, body
    [error] = body["errors"]
    assert error["path"][-1] == name
    refused: dict[str, Any] = error
    return refused


async def signed_up(api: Api, locale: str) -> str:
    return await api.sign_up(f"{locale.lower()}@example.com", locale=locale)


@pytest.mark.parametrize("locale", ["EN", "FR"])
@pytest.mark.parametrize("first", [0, -1, 101, 1000])
@pytest.mark.parametrize("name", ["notifications", "securityEvents"])
async def test_first_outside_1_to_100_names_first_and_the_limit(
    api: Api, name: str, first: int, locale: str
) -> None:
    token = await signed_up(api, locale)
    error = await refusal(api, name, token, {"first": first})
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": ["first"]}
    assert LIMIT[locale] in error["message"]
    assert "1" in error["message"] and "first" in error["message"]


@pytest.mark.parametrize("locale", ["EN", "FR"])
@pytest.mark.parametrize(
    "after",
    [
        "garbage",
        "",
        encode_cursor(7) + "=",  # another spelling of a good cursor
        "Y3Vyc29yOjA=",  # "cursor:0"
        "x" * 10_000,
    ],
)
async def test_a_bad_cursor_names_after(api: Api, after: str, locale: str) -> None:
    token = await signed_up(api, locale)
    error = await refusal(api, "notifications", token, {"first": 5, "after": after})
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": ["after"]}
    assert error["message"].startswith(CURSOR[locale])


@pytest.mark.parametrize(
    ("variables", "field"), [({"first": 0}, "first"), ({"after": "?"}, "after")]
)
async def test_the_recovery_queue_names_the_argument_too(
    api: Api, app: Starlette, variables: dict[str, Any], field: str
) -> None:
    agent = await support_agent(api, app)
    error = await refusal(api, "recoveryRequests", agent, variables)
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": [field]}


async def test_the_limits_themselves_are_accepted(api: Api) -> None:
    token = await signed_up(api, "EN")
    for first in (1, 100):
        data = await api.data(CONNECTIONS["notifications"], {"first": first}, token=token)
        assert data["viewer"]["notifications"]["totalCount"] >= 0
    data = await api.data(
        CONNECTIONS["notifications"], {"first": 5, "after": encode_cursor(7)}, token=token
    )
    assert data["viewer"]["notifications"]["pageInfo"]["hasPreviousPage"] is True
