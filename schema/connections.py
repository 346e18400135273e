"""Relay cursor connections: one generic `Connection[T]` and `Edge[T]`.

Strawberry names `Connection[Notification]` `NotificationConnection` (and its edge
`NotificationEdge`), but gives every specialization the generic's descriptions; the contract
words each page its own way, so `describe_connections` writes those words into the built
schema, from one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry
from graphql import GraphQLObjectType, GraphQLSchema

T = TypeVar("T")


@strawberry.type(description="Relay cursor pagination.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items after endCursor.")
    has_previous_page: bool = strawberry.field(description="Items before startCursor.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge: pass it as `after`."
    )


@strawberry.type(description="An edge of a connection.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page.")
    page_info: PageInfo = strawberry.field(description="Cursors of the page.")
    total_count: int = strawberry.field(description="All matching items, not only this page.")


@dataclass(frozen=True)
class Wording:
    page: str  # the connection's description
    node: str  # its edge's `node`
    total_count: str


WORDING = {
    "Notification": Wording(
        page="A page of notifications, newest first.",
        node="The notification.",
        total_count="All matching notifications, not only this page.",
    ),
    "SecurityEvent": Wording(
        page="A page of security events, newest first.",
        node="The event.",
        total_count="All events of the account, not only this page.",
    ),
    "RecoveryRequest": Wording(
        page="A page of recovery requests, oldest pending first.",
        node="The request.",
        total_count="All matching requests.",
    ),
}


def describe_connections(schema: GraphQLSchema) -> None:
    for node_name, wording in WORDING.items():
        connection = _object_type(schema, f"{node_name}Connection")
        edge = _object_type(schema, f"{node_name}Edge")
        connection.description = wording.page
        connection.fields["totalCount"].description = wording.total_count
        edge.description = f"An edge of a {node_name}Connection."
        edge.fields["node"].description = wording.node


def _object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    found = schema.get_type(name)
    if not isinstance(found, GraphQLObjectType):
        raise LookupError(f"the schema has no object type {name}")
    return found
