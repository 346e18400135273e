"""Relay: `node(id)` refetches every Node the caller may see and nothing else, and every
connection follows the cursor connection spec (edges { cursor node }, pageInfo, first/after)
through a whole walk forward."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from schema.global_id import from_global_id, to_global_id
from tests.helpers import Api
from tests.test_recovery import customer, file_request, resolve, support_agent

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Account { email }
    ... on Notification { notificationKind: kind }
    ... on SecurityEvent { eventKind: kind }
    ... on RecoveryRequest { status }
  }
}
"""

IDS = """
query {
  viewer {
    id
    notifications(first: 100) { edges { node { id kind } } }
    securityEvents(first: 100) { edges { node { id kind } } }
  }
}
"""


async def node(api: Api, global_id: str, token: str | None) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.data(NODE, {"id": global_id}, token=token))["node"]
    return found


async def ids_of(api: Api, token: str) -> dict[str, Any]:
    viewer: dict[str, Any] = (await api.data(IDS, token=token))["viewer"]
    return viewer


async def two_customers_and_support(api: Api, app: Starlette) -> tuple[str, str, str, str]:
    """alice and bob with 2FA on and a recovery request each; an agent. Tokens, and the id
    of alice's request."""
    alice, _ = await customer(api, "alice@example.com")
    bob, _ = await customer(api, "bob@example.com")
    alice_request = await file_request(api, "alice@example.com")
    await file_request(api, "bob@example.com")
    agent = await support_agent(api, app)
    return alice, bob, agent, alice_request


async def test_node_refetches_each_kind_of_node_of_the_caller(api: Api, app: Starlette) -> None:
    alice, _, _, alice_request = await two_customers_and_support(api, app)
    mine = await ids_of(api, alice)
    notification = mine["notifications"]["edges"][0]["node"]
    event = mine["securityEvents"]["edges"][0]["node"]

    assert await node(api, mine["id"], alice) == {
        "__typename": "Account",
        "id": mine["id"],
        "email": "alice@example.com",
    }
    assert await node(api, notification["id"], alice) == {
        "__typename": "Notification",
        "id": notification["id"],
        "notificationKind": notification["kind"],
    }
    assert await node(api, event["id"], alice) == {
        "__typename": "SecurityEvent",
        "id": event["id"],
        "eventKind": event["kind"],
    }
    assert await node(api, alice_request, alice) == {
        "__typename": "RecoveryRequest",
        "id": alice_request,
        "status": "PENDING",
    }


async def test_node_of_someone_else_is_null(api: Api, app: Starlette) -> None:
    alice, bob, _, alice_request = await two_customers_and_support(api, app)
    mine = await ids_of(api, alice)
    others = [
        mine["id"],
        mine["notifications"]["edges"][0]["node"]["id"],
        mine["securityEvents"]["edges"][0]["node"]["id"],
        alice_request,
    ]
    for global_id in others:
        assert await node(api, global_id, bob) is None, global_id
        assert await node(api, global_id, None) is None, global_id


async def test_support_refetches_requests_and_their_accounts_but_not_feeds(
    api: Api, app: Starlette
) -> None:
    """Support sees every recovery request and its account (RecoveryRequest.account), so
    both refetch through node; a customer's notifications and events do not."""
    alice, _, agent, alice_request = await two_customers_and_support(api, app)
    mine = await ids_of(api, alice)
    assert (await node(api, alice_request, agent)) == {
        "__typename": "RecoveryRequest",
        "id": alice_request,
        "status": "PENDING",
    }
    assert (await node(api, mine["id"], agent)) == {
        "__typename": "Account",
        "id": mine["id"],
        "email": "alice@example.com",
    }
    assert await node(api, mine["notifications"]["edges"][0]["node"]["id"], agent) is None
    # An account without a recovery request is no business of support's.
    carol = await api.sign_up("carol@example.com")
    assert await node(api, (await ids_of(api, carol))["id"], agent) is None
    # A resolved request stays visible to support.
    assert (await resolve(api, agent, alice_request, "REJECT"))["errors"] == []
    assert (await node(api, alice_request, agent) or {})["status"] == "REJECTED"


@pytest.mark.parametrize(
    "global_id",
    [
        "not base64 at all!",
        to_global_id("Account", 999_999),
        to_global_id("Session", 1),
        to_global_id("BackupCode", 1),
        to_global_id("Notification", 0),
        "",
    ],
)
async def test_node_of_an_unknown_or_unexposed_id_is_null(api: Api, global_id: str) -> None:
    token = await api.sign_up()
    assert await node(api, global_id, token) is None


async def test_a_kind_mismatch_is_null(api: Api) -> None:
    """A Notification's number under another type name finds nothing."""
    token = await api.sign_up()
    await api.enable_two_factor(token)
    notification_id = (await ids_of(api, token))["notifications"]["edges"][0]["node"]["id"]
    decoded = from_global_id(notification_id)
    assert decoded is not None
    assert await node(api, to_global_id("SecurityEvent", decoded[1] + 10_000), token) is None


# ---------------------------------------------------------------- connections

PAGE = """
  totalCount edges { cursor node { id } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
"""
VARIABLES = "$first: Int, $after: String"
CONNECTIONS = {
    "notifications": f"query Page({VARIABLES}) {{ viewer {{ "
    f"notifications(first: $first, after: $after) {{ {PAGE} }} }} }}",
    "securityEvents": f"query Page({VARIABLES}) {{ viewer {{ "
    f"securityEvents(first: $first, after: $after) {{ {PAGE} }} }} }}",
    "recoveryRequests": f"query Page({VARIABLES}) {{ "
    f"recoveryRequests(first: $first, after: $after) {{ {PAGE} }} }}",
}


async def walk(api: Api, name: str, token: str, first: int) -> tuple[list[str], list[dict]]:
    """Every node id, page by page, following endCursor; and every page's connection."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        data = await api.data(CONNECTIONS[name], {"first": first, "after": after}, token=token)
        connection = data["viewer"][name] if "viewer" in data else data[name]
        pages.append(connection)
        ids += [edge["node"]["id"] for edge in connection["edges"]]
        info = connection["pageInfo"]
        if not info["hasNextPage"]:
            return ids, pages
        after = info["endCursor"]
        assert len(pages) < 50, "the walk does not end"


def assert_cursor_spec(pages: list[dict[str, Any]], first: int) -> None:
    for index, page in enumerate(pages):
        edges, info = page["edges"], page["pageInfo"]
        last = index == len(pages) - 1
        assert info["hasNextPage"] is not last
        assert info["hasPreviousPage"] is (index > 0)
        assert len(edges) == first or (last and len(edges) <= first)
        if edges:
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
        else:
            assert info["startCursor"] is None and info["endCursor"] is None
        assert len({edge["cursor"] for edge in edges}) == len(edges)


@pytest.mark.parametrize("first", [1, 2, 3, 100])
async def test_a_whole_walk_forward_of_each_account_connection(api: Api, first: int) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    for _ in range(2):  # more notifications and events
        await api.verify(await api.challenge(), enabled.backup_codes.pop())
    for name in ("notifications", "securityEvents"):
        everything, _ = await walk(api, name, token, 100)
        ids, pages = await walk(api, name, token, first)
        assert len(everything) >= 3, name
        assert ids == everything, name  # every node once, in order, none skipped
        assert all(page["totalCount"] == len(everything) for page in pages)
        assert_cursor_spec(pages, first)


async def test_a_whole_walk_forward_of_the_recovery_queue(api: Api, app: Starlette) -> None:
    emails = [f"customer{n}@example.com" for n in range(5)]
    for email in emails:
        await customer(api, email)
    filed = [await file_request(api, email) for email in emails]
    agent = await support_agent(api, app)
    ids, pages = await walk(api, "recoveryRequests", agent, 2)
    assert ids == filed  # oldest pending first
    assert [len(page["edges"]) for page in pages] == [2, 2, 1]
    assert_cursor_spec(pages, 2)


async def test_an_empty_connection_has_null_cursors(api: Api) -> None:
    token = await api.sign_up()
    ids, pages = await walk(api, "notifications", token, 5)
    assert ids == []
    assert pages == [
        {
            "totalCount": 0,
            "edges": [],
            "pageInfo": {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": None,
                "endCursor": None,
            },
        }
    ]
