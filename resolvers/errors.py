"""Domain errors raised to the top level, and the signed-in guard."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from models import Account, Session
from resolvers.context import Context
from services.errors import Unauthenticated, VerrouError
from services.i18n import translate


class PublicError(GraphQLError):
    """A top-level error meant for the client: never masked, carries `extensions.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, extensions={"code": code})


def top_level_error(error: VerrouError, locale: str) -> PublicError:
    return PublicError(error.code, translate(error.message_key, locale, error.params))


def signed_in(info: strawberry.Info[Context, None]) -> tuple[Account, Session]:
    """The signed-in account and its session, or Unauthenticated."""
    session = info.context.session
    if session is None:
        raise Unauthenticated()
    return session.account, session
