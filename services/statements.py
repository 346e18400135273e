"""Statements of the hot paths written once per SQL dialect, and rows made into models.

Tortoise builds each statement with pypika on every call; on the sign-in path (a throttle
row written, counted and deleted, the account read, the device's earlier sign-ins read, a
security event and a session written) that building cost more CPU than the statements
themselves (bench/README.md, "signIn at argon2's pace"). The text of each statement here is
made once per dialect and kept; values still go through each field's `to_db_value` as
Tortoise's own executor does, and rows read come back as the model instances Tortoise
would make (`Model._init_from_db`), so callers cannot tell the difference. Each is a
batch step (`inserted_id`, `created`, `selected`: services.batches), so that a flow can send
several in one trip, and a call (`insert`, `create`, `select`) that sends it alone.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import datetime
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import DatetimeField
from tortoise.models import Model

from services import batches, sqlite_client
from services.batches import Batch, Statement

M = TypeVar("M", bound=Model)


def marks(dialect: str, count: int) -> list[str]:
    """`count` placeholders: $1, $2... for asyncpg, ? for SQLite."""
    if dialect == "postgres":
        return [f"${number}" for number in range(1, count + 1)]
    return ["?"] * count


@functools.cache
def _insert(model: type[Model], names: tuple[str, ...], dialect: str) -> str:
    fields_map = model._meta.fields_db_projection
    columns = ", ".join(f'"{fields_map[name]}"' for name in names)
    values = ", ".join(marks(dialect, len(names)))
    # Only our own models' table and column names go into the text; values are parameters.
    returning = ' RETURNING "id"' if dialect == "postgres" else ""
    return f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES ({values}){returning}'  # noqa: S608


def db_values(model: type[Model], values: dict[str, Any]) -> list[Any]:
    fields_map = model._meta.fields_map
    return [fields_map[name].to_db_value(value, model) for name, value in values.items()]


def inserted_id(model: type[Model], dialect: str, **values: Any) -> Batch[int]:
    """Write one row of `model` with these fields (by field name, `account_id` for a foreign
    key), within a batch (services.batches); its id."""
    sql = _insert(model, tuple(values), dialect)
    row_id: int = yield Statement(sql, db_values(model, values), returns_id=True)
    return row_id


def created(model: type[M], dialect: str, **values: Any) -> Batch[M]:
    """`inserted_id`, and the row as the instance `Model.create` would have returned. Give
    every field but the id (None where it is NULL): this module knows no defaults."""
    if not _whole(model, tuple(values)):
        raise TypeError(f"statements.created({model.__name__}) needs every field but the id")
    row_id = yield from inserted_id(model, dialect, **values)
    return model._init_from_db(id=row_id, **values)


async def insert(model: type[Model], connection: BaseDBAsyncClient | None, **values: Any) -> int:
    """`inserted_id` in a trip of its own, in `connection` when given."""
    return await batches.run(functools.partial(inserted_id, model, **values), connection)


async def create(model: type[M], connection: BaseDBAsyncClient | None, **values: Any) -> M:
    """`created` in a trip of its own, in `connection` when given."""
    return await batches.run(functools.partial(created, model, **values), connection)


@functools.cache
def _whole(model: type[Model], names: tuple[str, ...]) -> bool:
    given = {model._meta.fields_db_projection[name] for name in names}
    return given | {model._meta.db_pk_column} == set(model._meta.db_fields)


@functools.cache
def _layout(model: type[Model], alias: str) -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    """(row key, column) of each column of the model, and its datetime columns."""
    prefix = f"{alias}." if alias else ""
    columns = tuple((f"{prefix}{column}", column) for column in model._meta.db_fields)
    times = frozenset(
        key for key, _, field in model._meta.db_complex_fields if isinstance(field, DatetimeField)
    )
    return columns, times


def columns(model: type[Model], alias: str = "") -> str:
    """Every column of the model, for a SELECT; named `alias.column` when aliased."""
    if not alias:
        return ", ".join(f'"{column}"' for column in model._meta.db_fields)
    return ", ".join(
        f'{alias}."{column}" AS "{alias}.{column}"' for column in model._meta.db_fields
    )


def instance(model: type[M], row: dict[str, Any], alias: str = "") -> M | None:
    """The model instance of a row read with `columns(model, alias)`; None when every
    column is NULL (a LEFT JOIN that found nothing). On SQLite, whose rows hold times as
    text, the times are read by `datetime.fromisoformat` (Tortoise's pure-Python ISO 8601
    parser cost more than the rest of a status request's GraphQL work)."""
    layout, times = _layout(model, alias)
    values = {column: row[key] for key, column in layout}
    if all(value is None for value in values.values()):
        return None
    for column in times:
        text = values[column]
        if isinstance(text, str):
            with contextlib.suppress(ValueError):  # else Tortoise's own parser reads it
                values[column] = datetime.fromisoformat(text)
    return model._init_from_db(**values)


@functools.cache
def _select(model: type[Model], names: tuple[str, ...], dialect: str) -> str:
    fields_map = model._meta.fields_db_projection
    conditions = " AND ".join(
        f'"{fields_map[name]}" = {mark}'
        for name, mark in zip(names, marks(dialect, len(names)), strict=True)
    )
    # Only our own models' table and column names go into the text; values are parameters.
    return f'SELECT {columns(model)} FROM "{model._meta.db_table}" WHERE {conditions}'  # noqa: S608


def selected(model: type[M], dialect: str, **equal: Any) -> Batch[list[M]]:
    """The rows of `model` whose fields have these values (by field name, `account_id` for a
    foreign key), as `Model.filter(**equal)` returns them, in no particular order; within a
    batch."""
    if not equal:
        raise TypeError("statements.select needs at least one field to match")
    rows = yield Statement(_select(model, tuple(equal), dialect), db_values(model, equal))
    return [found for row in rows if (found := instance(model, row)) is not None]


async def select(model: type[M], connection: BaseDBAsyncClient | None, **equal: Any) -> list[M]:
    """`selected` in a trip of its own, in `connection` when given (else read as
    `sqlite_client.read` reads: on SQLite, on the loop's own thread when it can be)."""
    if connection is None:
        return await sqlite_client.read(functools.partial(selected, model, **equal))
    return await batches.run(functools.partial(selected, model, **equal), connection)
