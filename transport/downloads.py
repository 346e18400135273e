"""The one HTTP route besides GraphQL: a recovery document, for support, by signed link."""

from __future__ import annotations

from urllib.parse import quote

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from services import access, accounts, documents, recovery
from services.errors import Forbidden, NotFound, TwoFactorRequired
from services.runtime import Runtime
from transport.context import bearer_token
from transport.session_cookie import cookie_token


class DocumentIdConvertor(Convertor[int]):
    """A document id in a path: at most 10 digits, like the database's 32-bit keys.
    Starlette's `int` takes any number of digits and int() raises past 4300 of them: a
    server error for a forged link."""

    regex = "[1-9][0-9]{0,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("document_id", DocumentIdConvertor())


async def recovery_document(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    # A support agent's browser with a cookie session opens the link directly.
    token = bearer_token(request.headers.get("authorization")) or cookie_token(
        request, runtime.settings
    )
    session = await accounts.authenticate(runtime, token) if token else None
    if session is None:
        return PlainTextResponse(
            "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        await access.require_acting_support(session.account)
    except TwoFactorRequired:
        # The error code first, as the API names it, so a client can tell it from a bad link.
        return PlainTextResponse(
            "TWO_FACTOR_REQUIRED: turn two-factor authentication on for this support account "
            "before opening recovery documents",
            status_code=403,
        )
    except Forbidden:
        return PlainTextResponse("Forbidden", status_code=403)
    try:
        document_id = int(request.path_params["document_id"])
        document, content = await documents.open_signed(
            runtime,
            document_id,
            request.query_params.get("expires", ""),
            request.query_params.get("signature", ""),
        )
    except Forbidden:
        return PlainTextResponse("Forbidden: the link is invalid or expired", status_code=403)
    except NotFound:
        return PlainTextResponse("Not found", status_code=404)
    await recovery.document_opened(runtime, session.account, document)
    return Response(
        content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document.file_name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
