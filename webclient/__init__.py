"""The browser side of Verrou: GraphiQL and the reference web client, both served from here.

Every asset is a file under `static/` (GraphiQL, React and graphql-ws are vendored copies of the
npm packages pinned in webclient/package-lock.json, see webclient/vendor.mjs), so the pages work
with no network beyond this server. The HTML has no inline script or style, so the strict
Content-Security-Policy of transport/browser.py (HTML_CSP) is enough for it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
_PAGES = Path(__file__).resolve().parent / "pages"


def _page(name: str) -> str:
    return (_PAGES / name).read_text(encoding="utf-8")


GRAPHIQL_HTML = _page("graphiql.html")
CLIENT_HTML = _page("client.html")


def graphiql_page() -> HTMLResponse:
    """What GET /graphql answers a browser when GraphiQL is on."""
    return HTMLResponse(GRAPHIQL_HTML)


async def web_client(request: Request) -> HTMLResponse:
    return HTMLResponse(CLIENT_HTML)


def routes(*, graphiql: bool, client: bool) -> list[BaseRoute]:
    """`/static` for whichever page is on, and the client at `/`."""
    if not (graphiql or client):
        return []
    mounted: list[BaseRoute] = [
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if client:
        mounted.append(Route("/", web_client, methods=["GET"]))
    return mounted
