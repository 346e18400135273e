"""Domain errors raised to the top level, and the signed-in guard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from graphql import GraphQLError

from resolvers.context import Info
from resolvers.error_fields import argument_path
from services.errors import Unauthenticated, VerrouError
from services.i18n import translate
from services.records import Account, Session


class PublicError(GraphQLError):
    """A top-level error meant for the client: never masked, carries `extensions.code`."""

    def __init__(self, code: str, message: str, field: list[str] | None = None) -> None:
        extensions: dict[str, object] = {"code": code}
        if field is not None:
            extensions["field"] = field
        super().__init__(message, extensions=extensions)


def top_level_error(error: VerrouError, locale: str) -> PublicError:
    """A field's refusal; `extensions.field` names the argument at fault (["first"])."""
    message = translate(error.message_key, locale, error.params)
    return PublicError(error.code, message, argument_path(error.field))


@contextlib.contextmanager
def raised_top_level(info: Info) -> Iterator[None]:
    """A field (not a mutation's payload): a domain error becomes a top-level error."""
    try:
        yield
    except VerrouError as error:
        raise top_level_error(error, info.context.locale) from None


def signed_in(info: Info) -> tuple[Account, Session]:
    """The signed-in account and its session, or Unauthenticated."""
    session = info.context.session
    if session is None:
        raise Unauthenticated()
    return session.account, session
