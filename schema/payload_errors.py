"""The one place where domain errors become payload `errors`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import strawberry

from resolvers.error_fields import api_path
from schema.enums import ErrorCode
from schema.limits import refuse_repeated
from schema.payloads import UserError
from services.errors import VerrouError
from services.i18n import translate

P = ParamSpec("P")
T = TypeVar("T")


def user_error(error: VerrouError, locale: str) -> UserError:
    return UserError(
        code=ErrorCode[error.code],
        field=api_path(error.field),
        message=translate(error.message_key, locale, error.params),
        retry_after=getattr(error, "retry_after", None),
    )


def payload_errors(
    payload: Callable[..., T],
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate a mutation resolver: a raised VerrouError becomes `payload(errors=[…])`.

    The resolver must take `info` as a keyword argument (Strawberry passes it so)."""

    def decorate(resolver: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(resolver)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                info = kwargs.get("info")
                if isinstance(info, strawberry.Info):
                    refuse_repeated(info._raw_info)
                return await resolver(*args, **kwargs)
            except VerrouError as error:
                info = kwargs["info"]
                if not isinstance(info, strawberry.Info):
                    raise
                return payload(errors=[user_error(error, info.context.locale)])

        return wrapper

    return decorate
