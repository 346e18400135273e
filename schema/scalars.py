"""The contract's custom scalars. Strawberry ships DateTime and Upload with descriptions of
its own; these replace them through the schema config's `scalar_map`, keeping Strawberry's
serialisation and parsing (JSON, for WebAuthn options and credentials, passes any value
through as it is).

Both refuse a value of the wrong kind while the variables are coerced (a BAD_USER_INPUT
request error): an Upload argument given text or a number in the JSON variables, and a
JSON argument given a file part of a multipart request. Passed on, either reached a
service that read it as the other kind, and failed there as an unexpected error."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.file_uploads.scalars import UploadDefinition
from strawberry.scalars import JSON
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types.scalar import ScalarDefinition

_JSON_LEAVES = (str, int, float, bool, type(None))


def parse_upload(value: object) -> UploadFile:
    if not isinstance(value, UploadFile):
        # graphql-core turns a ValueError here into the request error.
        raise ValueError(
            "a file part of a multipart request is expected here, with null in its place in "
            "`operations`"
        )
    return value


def parse_json(value: object) -> object:
    pending = [value]  # iterative: variables may nest as deep as the body's JSON allows
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif not isinstance(item, _JSON_LEAVES):
            raise ValueError("a JSON value is expected here, not a file")
    return value


SCALARS: dict[object, ScalarDefinition] = {
    datetime: dataclasses.replace(
        DateTimeDefinition,
        description=(
            "An ISO-8601 date-time, always with a UTC offset, e.g. 2026-11-25T12:00:00+00:00."
        ),
    ),
    JSON: dataclasses.replace(
        DEFAULT_SCALAR_REGISTRY[JSON],
        description=(
            "Any JSON value. Used for WebAuthn options and credentials, in the JSON forms that "
            "the browser API (and @simplewebauthn/browser) reads and writes."
        ),
        specified_by_url=None,
        parse_value=parse_json,
    ),
    Upload: dataclasses.replace(
        UploadDefinition,
        description=(
            "A file part of a request made with the GraphQL multipart request spec: send "
            "null in its place in `operations`, and map the file's form field to that path."
        ),
        parse_value=parse_upload,
    ),
}
