"""The contract's custom scalars. Strawberry ships DateTime and Upload with descriptions of
its own; these replace them through the schema config's `scalar_map`, keeping Strawberry's
serialisation and parsing (JSON, for WebAuthn options and credentials, passes any value
through as it is)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from strawberry.file_uploads import Upload
from strawberry.file_uploads.scalars import UploadDefinition
from strawberry.scalars import JSON
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types.scalar import ScalarDefinition

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
    ),
    Upload: dataclasses.replace(
        UploadDefinition,
        description=(
            "A file part of a request made with the GraphQL multipart request spec: send "
            "null in its place in `operations`, and map the file's form field to that path."
        ),
    ),
}
