"""Request errors that do not read the schema out when introspection is off.

graphql-core's validation and variable messages name what the schema holds: "Field
'signIn' argument 'input' of type 'SignInInput!' is required", "Cannot query field 'x' on
type 'Mutation'", "Field 'password' of required type 'String!' was not provided". With
introspection off (the production default) that is the schema, one refused request at a
time. There each such message is replaced by one that names nothing; the code stays (a
client still tells a document to fix from bad variables) and so do the locations, which
point into the client's own document. Parse errors quote only that document and keep their
text; the request limits' errors (their own codes) name a setting and a number.
"""

from __future__ import annotations

from graphql import GraphQLError

from schema.request_errors import BAD_USER_INPUT, VALIDATION_FAILED

GENERIC_MESSAGES = {
    VALIDATION_FAILED: "The document does not validate against the schema.",
    BAD_USER_INPUT: "The variables do not fit the types the document declares for them.",
}


def hide_schema_shape(error: GraphQLError) -> None:
    """Replace the message of a request error (no path: nothing ran) whose code is one of
    graphql-core's; run after the codes are given (schema/request_errors.py)."""
    if error.path is not None:
        return
    generic = GENERIC_MESSAGES.get((error.extensions or {}).get("code", ""))
    if generic is not None:
        error.message = generic
