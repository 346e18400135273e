"""GraphiQL works offline: our page, assets served by the app itself, subscriptions over
graphql-ws with the token of the headers editor."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import create_app
from services.clock import FrozenClock
from tests.browser_driver import (
    ARTIFACTS,
    WEB,
    browser_missing,
    needs_browser,
    run_script,
    subscribed,
)
from tests.conftest import LiveServer, make_settings, start
from tests.helpers import Api, until

HTML = {"accept": "text/html,application/xhtml+xml"}
SIGN_OUT = "mutation { signOut { errors { code } } }"


def assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


async def test_graphiql_page_uses_only_assets_the_app_serves(api: Api) -> None:
    response = await api.client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert "<title>Verrou · GraphiQL</title>" in page
    # Nothing from a CDN, and nothing a strict CSP would refuse.
    assert "//" not in "".join(assets(page))
    assert "<style" not in page and "style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "inline script"
    urls = assets(page)
    assert "/static/vendor/graphiql/graphiql.min.js" in urls
    for url in urls:
        served = await api.client.get(url)
        assert served.status_code == 200, url
    module = await api.client.get("/static/graphiql/boot.js")
    assert module.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    imported = re.findall(r'from "([^"]+)"', module.text)
    assert imported == ["/static/vendor/graphql-ws/client.js"]
    for url in imported:
        assert (await api.client.get(url)).status_code == 200


async def test_vendored_assets_carry_their_licences(api: Api) -> None:
    for url in (
        "/static/vendor/graphiql/LICENSE",
        "/static/vendor/react/LICENSE",
        "/static/vendor/react-dom/LICENSE",
        "/static/vendor/graphql-ws/LICENSE.md",
    ):
        response = await api.client.get(url)
        assert response.status_code == 200 and "MIT" in response.text, url
    notices = (await api.client.get("/static/vendor/THIRD_PARTY_LICENSES.txt")).text
    assert "graphiql 3.9.0 (MIT)" in notices and "codemirror " in notices


async def test_the_css_has_no_inlined_font_a_strict_csp_would_refuse(api: Api) -> None:
    css = (await api.client.get("/static/vendor/graphiql/graphiql.min.css")).text
    assert "data:font" not in css
    fonts = re.findall(r"url\((fonts/[^)]+)\)", css)
    assert fonts
    for font in set(fonts):
        assert (await api.client.get(f"/static/vendor/graphiql/{font}")).status_code == 200


async def served(
    tmp_path: Path, db_path: Path, clock: FrozenClock, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(db_path, tmp_path / "var", **overrides)
    async for client in start(create_app(settings, clock=clock)):
        yield client


async def test_without_graphiql_nor_client_no_static_files_are_served(
    tmp_path: Path, db_path: Path, clock: FrozenClock
) -> None:
    async for client in served(tmp_path, db_path, clock, graphiql=False, web_client=False):
        assert (await client.get("/static/vendor/graphiql/graphiql.min.js")).status_code == 404
        assert "GraphiQL" not in (await client.get("/graphql", headers=HTML)).text


@pytest.mark.skipif(
    not (WEB / "node_modules" / "graphiql").is_dir() or shutil.which("node") is None,
    reason="webclient/node_modules is missing: run `npm ci` in webclient/ (.ci/run does)",
)
def test_committed_vendor_copy_matches_the_lock() -> None:
    node = shutil.which("node")
    assert node is not None
    check = subprocess.run(  # noqa: S603 - our own script
        [node, str(WEB / "vendor.mjs"), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


@needs_browser
async def test_graphiql_runs_a_query_and_a_subscription_in_chromium(
    live: LiveServer, clock: FrozenClock
) -> None:
    assert browser_missing() is None
    async with httpx.AsyncClient(base_url=live.url) as client:
        api = Api(client, clock)
        email = "dev@example.com"
        token = await api.sign_up(email, locale="EN")
        secret = (await api.start(token))["setup"]["secret"]

        async def answer(question: dict[str, Any]) -> dict[str, Any]:
            if question == {"signOut": True}:
                signed_out = await api.data(SIGN_OUT, token=token)
                assert signed_out["signOut"]["errors"] == [], signed_out
                return {}
            assert question == {"subscribed": True}
            await until(subscribed(live, 1), within=10)
            confirmed = await api.confirm(token, api.code(secret))
            assert confirmed["errors"] == [], confirmed
            return {}

        data = {"token": token, "email": email, "artifacts": str(ARTIFACTS / "graphiql")}
        report = await run_script("graphiql.mjs", live.url, data, answer)
    assert report.startswith("ok")
