"""Domain field names of service errors, as the API's input paths: the one place they meet.

Services name the input a refusal is about in their own words (`billing_contact_email`,
`ids.2`; services/errors.py); a payload's `UserError.field` is the path in the GraphQL request
(`["input", "billingContactEmail"]`, `["input", "ids", "2"]`). Every mutation takes its
arguments in one `input` object whose fields are the domain names in camelCase.
"""

from __future__ import annotations

from services.errors import WHOLE_INPUT


def api_path(field: str | None) -> list[str] | None:
    """The GraphQL input path of a domain field name; None stays None."""
    if field is None:
        return None
    if field == WHOLE_INPUT:
        return ["input"]
    return ["input", *(_camel_case(part) for part in field.split("."))]


def argument_path(field: str | None) -> list[str] | None:
    """The path of a field's argument (a connection's `first`), for a top-level error."""
    return None if field is None else [_camel_case(part) for part in field.split(".")]


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
