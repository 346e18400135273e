"""Security keys and passkeys in the reference web client: webclient/tests/keys.mjs drives the
real pages in headless Chromium, whose virtual authenticators play a USB key and the device's
own passkey store, against a live server whose relying party is `localhost`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp
import pytest

from models import Account, SecurityKey, TwoFactor
from models.accounts import Locale
from services import accounts
from services.clock import FrozenClock
from services.settings import Settings
from tests.browser_driver import ARTIFACTS, needs_browser, run_script, subscribed
from tests.conftest import LiveServer, free_port, make_settings
from tests.helpers import PASSWORD, until


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    # WebAuthn wants a host name, not an IP address: the page is opened on localhost, the
    # relying party id is PUBLIC_URL's host, and the WebSocket origin check trusts it too.
    port = free_port()
    return make_settings(
        db_path, tmp_path / "var", port=port, public_url=f"http://localhost:{port}"
    )


@needs_browser
async def test_security_keys_and_passkeys_in_chromium(
    live: LiveServer, clock: FrozenClock, settings: Settings
) -> None:
    runtime = live.app.state.runtime
    customer = {"email": "claire@acme.example", "password": PASSWORD}
    account = await accounts.create_account(
        runtime, email=customer["email"], password=PASSWORD, locale=Locale.EN
    )

    async def answer(question: dict[str, Any]) -> dict[str, Any]:
        if "totp" in question:
            # A time step of its own: the server accepts each step once.
            clock.advance(30)
            return {"code": pyotp.TOTP(question["totp"]).at(clock.now())}
        if "subscribers" in question:
            await until(subscribed(live, question["subscribers"]), within=10)
            return {}
        raise AssertionError(f"unexpected question {question}")

    artifacts = ARTIFACTS / "web-client-security-keys"
    data = {"customer": customer, "artifacts": str(artifacts)}
    report = await run_script(
        "keys.mjs", f"http://localhost:{settings.port}", data, answer, within=240
    )
    assert report.startswith("ok")
    # What the pages did reached the server: the key removed, the renamed passkey flagged, the
    # app added on top, 2FA still on.
    keys = await SecurityKey.filter(account_id=account.id).values("name", "passkey", "flagged_at")
    assert [(key["name"], key["passkey"]) for key in keys] == [("Work laptop", True)]
    assert keys[0]["flagged_at"] is not None
    assert await TwoFactor.filter(account_id=account.id).exists()
    assert (await Account.get(id=account.id)).two_factor_on
    shots = sorted(path.name for path in artifacts.glob("*.png"))
    for screen in ("security-keys-listed", "challenge-with-security-key", "flagged-passkey"):
        assert any(screen in shot and "375" in shot for shot in shots), (screen, shots)
