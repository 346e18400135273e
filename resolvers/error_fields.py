"""Domain field names of service errors, as the API's input paths.

Services name the input a refusal is about in their own words (`billing_contact_email`); a
payload's `UserError.field` is the path in the GraphQL request (`["input", "billingContactEmail"]`).
"""

from __future__ import annotations


def api_path(field: str | list[str] | None) -> list[str] | None:
    """The GraphQL input path of a domain field name (a list is passed through as is)."""
    if field is None or isinstance(field, list):
        return field
    head, *rest = field.split("_")
    return ["input", head + "".join(part.capitalize() for part in rest)]
