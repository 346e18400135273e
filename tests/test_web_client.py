"""The reference web client at `/`: served in development, off in production unless asked
for, and the whole flow driven in headless Chromium (webclient/tests/client.mjs)."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pyotp
from cryptography.fernet import Fernet

from models import Account, Session, TwoFactor
from models.accounts import Locale
from models.two_factor import TwoFactorState
from server import create_app
from services import accounts, link_tokens, password_sign_in
from services.clock import FrozenClock
from services.link_tokens import LinkPurpose
from services.runtime import RequestMeta
from services.settings import Settings
from tests.browser_driver import ARTIFACTS, needs_browser, run_script, subscribed
from tests.conftest import LiveServer, make_settings, start
from tests.helpers import PASSWORD, Api, until

HTML = {"accept": "text/html"}
SUPPORT_EMAIL = "support@localhost"  # the default of SUPPORT_EMAIL


async def served(
    tmp_path: Path, db_path: Path, clock: FrozenClock, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(db_path, tmp_path / "var", **overrides)
    async for client in start(create_app(settings, clock=clock)):
        yield client


async def test_development_serves_the_client_at_the_root(api: Api) -> None:
    page = await api.client.get("/", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app/main.js"></script>' in page.text
    # Nothing a strict CSP would refuse: no inline script or style, nothing from elsewhere.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script"
    assert "<style" not in page.text and "style=" not in page.text
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))
    for url in ("/static/app/main.js", "/static/app/app.css", "/static/favicon.svg"):
        assert (await api.client.get(url)).status_code == 200, url


async def test_every_module_of_the_client_is_served(api: Api) -> None:
    """Follow the imports from main.js: a missing file would break the page."""
    seen: set[str] = set()
    pending = ["/static/app/main.js"]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = await api.client.get(url)
        assert response.status_code == 200, url
        # The vendored ES modules quote their imports with ' (and re-export with export * from);
        # a bare name (`from 'ws'`) is in graphql-ws's comments, never a browser's import.
        for imported in re.findall(r"""from ["']([./][^"']*)["']""", response.text):
            pending.append(str(httpx.URL(f"http://x{url}").join(imported).path))
    assert "/static/vendor/graphql-ws/client.js" in seen
    assert "/static/app/views/support.js" in seen
    assert "/static/app/views/passwords.js" in seen
    assert "/static/app/views/keys.js" in seen
    # @simplewebauthn/browser's ES module build: its index and every module it imports.
    assert "/static/vendor/simplewebauthn/methods/startRegistration.js" in seen
    assert "/static/vendor/simplewebauthn/methods/startAuthentication.js" in seen


async def test_the_vendored_webauthn_library_carries_its_licence(api: Api) -> None:
    licence = await api.client.get("/static/vendor/simplewebauthn/LICENSE.md")
    assert licence.status_code == 200
    assert "MIT License" in licence.text
    notices = (await api.client.get("/static/vendor/THIRD_PARTY_LICENSES.txt")).text
    assert "@simplewebauthn/browser 13." in notices


async def test_production_has_no_client_unless_asked_for(
    tmp_path: Path, db_path: Path, clock: FrozenClock
) -> None:
    production = {
        "environment": "production",
        "public_url": "https://verrou.example",
        "encryption_keys": Fernet.generate_key().decode(),
    }
    async for client in served(tmp_path, db_path, clock, **production):
        assert (await client.get("/", headers=HTML)).status_code == 404
        assert (await client.get("/static/app/main.js")).status_code == 404
    async for client in served(tmp_path, db_path, clock, **production, web_client=True):
        assert (await client.get("/", headers=HTML)).status_code == 200
        assert (await client.get("/static/app/main.js")).status_code == 200


def test_the_client_setting_defaults_to_the_environment(tmp_path: Path) -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, var_dir=tmp_path, **values)  # type: ignore[call-arg]

    assert settings().web_client_enabled
    assert not settings(web_client=False).web_client_enabled
    production = {
        "environment": "production",
        "database_url": "sqlite://x.sqlite3",
        "public_url": "https://verrou.example",
        "encryption_keys": Fernet.generate_key().decode(),
    }
    assert not settings(**production).web_client_enabled
    assert settings(**production, web_client=True).web_client_enabled


def support_link(mail_dir: Path) -> str | None:
    """The request link of the support email written to var/mail, if any yet."""
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] != SUPPORT_EMAIL:
            continue
        body = message.get_body(("plain",))
        assert body is not None
        found = re.search(r"#/support/recovery-requests/\d+", body.get_content())
        if found:
            return found.group(0)
    return None


@needs_browser
async def test_the_whole_flow_in_chromium(
    live: LiveServer, clock: FrozenClock, settings: Settings
) -> None:
    runtime = live.app.state.runtime
    customer = {"email": "claire@acme.example", "password": PASSWORD}
    support = {"email": "agent@verrou.example", "password": PASSWORD}
    await accounts.create_account(
        runtime,
        email=customer["email"],
        password=PASSWORD,
        company_name="ACME SAS",
        locale=Locale.EN,
    )
    # Support staff act only with 2FA on (services/access.py).
    async with httpx.AsyncClient(base_url=live.url) as client:
        agents = Api(client, clock)
        await agents.support_agent(runtime, support["email"])
    support_secret = agents.totp_secrets[support["email"]]
    secret: list[str] = []
    mail_dir = settings.var_dir / "mail"

    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        if "totp" in question:
            if question["totp"] != "current":
                secret[:] = [question["totp"]]
            # Each code is of a new time step: the server accepts a step once only.
            clock.advance(30)
            return {"code": pyotp.TOTP(secret[0]).at(clock.now())}
        if question.get("supportTotp"):
            clock.advance(30)
            return {"code": pyotp.TOTP(support_secret).at(clock.now())}
        if "subscribers" in question:
            await until(subscribed(live, question["subscribers"]), within=10)
            return {}
        if question.get("supportLink"):
            await until(lambda: support_link(mail_dir) is not None, within=20)
            return {"fragment": support_link(mail_dir)}
        raise AssertionError(f"unexpected question {question}")

    data = {"customer": customer, "support": support, "artifacts": str(ARTIFACTS / "web-client")}
    report = await run_script("client.mjs", live.url, data, answer, within=180)
    assert report.startswith("ok")
    shots = sorted(path.name for path in (ARTIFACTS / "web-client").glob("*.png"))
    assert "03-two-factor-off.png" in shots and len(shots) >= 15, shots


def reset_link(mail_dir: Path, address: str) -> str | None:
    """The reset link of the newest reset email to `address` written to var/mail, if any."""
    found = None
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        link = re.search(r"#/reset-password\?token=[A-Za-z0-9_-]+", body.get_content())
        if message["To"] == address and link:
            found = link.group(0)
    return found


@needs_browser
async def test_the_password_pages_in_chromium(
    live: LiveServer, clock: FrozenClock, settings: Settings
) -> None:
    runtime = live.app.state.runtime
    customer = {"email": "lea@acme.example", "password": PASSWORD}
    account = await accounts.create_account(
        runtime, email=customer["email"], password=PASSWORD, locale=Locale.EN
    )
    secret = pyotp.random_base32()
    await TwoFactor.create(
        account_id=account.id,
        encrypted_secret=runtime.keys.encrypt(secret.encode("ascii")),
        state=TwoFactorState.ACTIVE,
        created_at=clock.now(),
        enabled_at=clock.now(),
    )
    # 2FA on is the account's own column; a TOTP app written directly must set it too.
    await Account.filter(id=account.id).update(two_factor_enabled_at=clock.now())
    mail_dir = settings.var_dir / "mail"

    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        if "totp" in question:
            clock.advance(30)
            return {"code": pyotp.TOTP(secret).at(clock.now())}
        if question.get("resetLink"):
            await until(lambda: reset_link(mail_dir, customer["email"]) is not None, within=20)
            return {"fragment": reset_link(mail_dir, customer["email"])}
        if question.get("secureLink"):
            token = await link_tokens.issue(
                runtime, account.id, LinkPurpose.SECURE_ACCOUNT, timedelta(days=7)
            )
            return {"fragment": f"#/secure-account?token={token}"}
        raise AssertionError(f"unexpected question {question}")

    data = {
        "customer": customer,
        "newPassword": "a brand new passphrase 2026",
        "artifacts": str(ARTIFACTS / "web-client-passwords"),
    }
    report = await run_script("passwords.mjs", live.url, data, answer, within=120)
    assert report.startswith("ok")
    assert await Session.filter(account_id=account.id, revoked_at=None).count() == 0
    assert await password_sign_in.sign_in(
        runtime,
        RequestMeta(ip_address=None, user_agent=None),
        email=customer["email"],
        password="a brand new passphrase 2026",
    )
