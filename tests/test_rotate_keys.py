"""Key rotation: with a new key first in ENCRYPTION_KEYS, `rotate-keys` re-encrypts every
TOTP secret and recovery document, so the old key can then be dropped; before it ran, a key
ring of the new key alone could read none of them."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from starlette.applications import Starlette

from models import RecoveryDocument, TwoFactor
from schema.global_id import to_global_id
from server import create_app
from services import rotation
from services.clock import FrozenClock
from services.crypto import KeyRing, KeyRingError
from services.settings import Settings
from tests.conftest import TEST_KEY, start
from tests.helpers import Api
from tests.test_cli import run_cli
from tests.test_recovery import (
    PASSPORT,
    customer,
    file_request,
    local_path,
    node,
    support_agent,
)

OLD = TEST_KEY
NEW = Fernet.generate_key().decode()


@asynccontextmanager
async def app_with_keys(
    settings: Settings, clock: FrozenClock, keys: str
) -> AsyncIterator[tuple[Starlette, Api]]:
    """The app on the test's database and var dir, with ENCRYPTION_KEYS set to keys."""
    app = create_app(settings.model_copy(update={"encryption_keys": SecretStr(keys)}), clock=clock)
    async for client in start(app):
        yield app, Api(client, clock)


AGENT_SECRETS: dict[Starlette, str] = {}


def documents(settings: Settings) -> list[str]:
    return [path.read_text() for path in sorted(settings.documents_dir.iterdir())]


def readable_by(keys: KeyRing, tokens: list[str]) -> list[bytes]:
    return [keys.decrypt(token) for token in tokens]


async def populate(app: Starlette, api: Api) -> str:
    """Alice with 2FA on and a recovery request with a document, Bob half-way through
    setup (a pending secret), a support agent with 2FA on (three secrets in all). Returns
    Alice's TOTP secret; the agent's is in AGENT_SECRETS."""
    _, enabled = await customer(api)
    await file_request(api, "alice@example.com")
    bob = await api.sign_up("bob@example.com")
    assert (await api.start(bob))["errors"] == []
    await support_agent(api, app)
    AGENT_SECRETS[app] = api.totp_secrets["agent@verrou.example"]
    return enabled.secret


async def test_after_rotation_the_new_key_alone_reads_every_secret_and_document(
    settings: Settings, clock: FrozenClock
) -> None:
    new_only, old_only = KeyRing((NEW.encode(),)), KeyRing((OLD.encode(),))

    async with app_with_keys(settings, clock, OLD) as (app, api):
        alice_secret = await populate(app, api)
        agent_secret = AGENT_SECRETS.pop(app)
        secrets = [device.encrypted_secret for device in await TwoFactor.all().order_by("id")]
        files = documents(settings)
        assert len(secrets) == 3 and len(files) == 1
        plain_secrets = readable_by(old_only, secrets)
        for token in [*secrets, *files]:
            with pytest.raises(KeyRingError):
                new_only.decrypt(token)

    async with app_with_keys(settings, clock, f"{NEW},{OLD}") as (app, _):
        steps: list[tuple[str, int, int]] = []
        report = await rotation.rotate_keys(
            app.state.runtime, lambda *step: steps.append(step), batch_size=1
        )
        assert (report.secrets, report.secrets_rotated) == (3, 3)
        assert (report.documents, report.documents_rotated) == (1, 1)
        assert report.backup_codes_unused == 20  # Alice's and the agent's
        # Batched: one report per row at batch_size=1, after the step's opening.
        assert steps == [
            ("secrets", 0, 3),
            ("secrets", 1, 3),
            ("secrets", 2, 3),
            ("secrets", 3, 3),
            ("documents", 0, 1),
            ("documents", 1, 1),
        ]
        rotated = [device.encrypted_secret for device in await TwoFactor.all().order_by("id")]
        assert readable_by(new_only, rotated) == plain_secrets
        assert readable_by(new_only, documents(settings)) == [PASSPORT]

    # The old key gone: the app still signs Alice in with her app's code and serves support
    # her document.
    async with app_with_keys(settings, clock, NEW) as (_, api):
        clock.advance(60)
        verified = await api.verify(await api.challenge(), api.code(alice_secret))
        assert verified["errors"] == [], verified
        api.totp_secrets["agent@verrou.example"] = agent_secret
        agent_token = await api.sign_in_with_totp("agent@verrou.example")
        requests = await RecoveryDocument.all().values_list("request_id", flat=True)
        seen = await node(api, to_global_id("RecoveryRequest", requests[0]), agent_token)
        assert seen is not None
        url = seen["documents"][0]["downloadUrl"]
        response = await api.client.get(
            local_path(url), headers={"Authorization": f"Bearer {agent_token}"}
        )
        assert response.status_code == 200 and response.content == PASSPORT


async def test_rotation_resumes_after_an_interruption_and_a_second_run_changes_nothing(
    settings: Settings, clock: FrozenClock
) -> None:
    async with app_with_keys(settings, clock, OLD) as (app, api):
        await populate(app, api)

    class Interrupted(Exception):
        pass

    def stop_after_first_secret(step: str, done: int, total: int) -> None:
        if (step, done) == ("secrets", 1):
            raise Interrupted

    async with app_with_keys(settings, clock, f"{NEW},{OLD}") as (app, _):
        runtime = app.state.runtime
        with pytest.raises(Interrupted):
            await rotation.rotate_keys(runtime, stop_after_first_secret, batch_size=1)
        resumed = await rotation.rotate_keys(runtime, batch_size=1)
        assert (resumed.secrets_rotated, resumed.documents_rotated) == (2, 1)
        before_again = [d.encrypted_secret for d in await TwoFactor.all().order_by("id")]
        files_before_again = documents(settings)
        again = await rotation.rotate_keys(runtime)
        assert (again.secrets_rotated, again.documents_rotated) == (0, 0)
        # Nothing was rewritten the second time.
        assert [d.encrypted_secret for d in await TwoFactor.all().order_by("id")] == before_again
        assert documents(settings) == files_before_again
        assert not list(settings.documents_dir.glob("*.rotating"))


async def test_a_secret_replaced_during_rotation_is_not_overwritten(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_with_keys(settings, clock, OLD) as (app, api):
        await populate(app, api)

    async with app_with_keys(settings, clock, f"{NEW},{OLD}") as (app, _):
        runtime = app.state.runtime
        fresh = runtime.keys.encrypt(b"A NEW SECRET FROM A RESTARTED SETUP")
        first = await TwoFactor.all().order_by("id").first()
        assert first is not None
        real_replace = rotation.replace_secret

        async def replace_after_the_user_restarts_setup(
            device_id: int, read: str, rotated: str
        ) -> int:
            # Between the rotation's read and its write, the row gets a new secret.
            if device_id == first.id:
                await TwoFactor.filter(id=device_id).update(encrypted_secret=fresh)
            return await real_replace(device_id, read, rotated)

        monkeypatch.setattr(rotation, "replace_secret", replace_after_the_user_restarts_setup)
        report = await rotation.rotate_keys(runtime)
        assert report.secrets_rotated == 2  # the other rows; this one was left alone
        assert (await TwoFactor.get(id=first.id)).encrypted_secret == fresh


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = rotation.TextProgress(terminal)
    for done in range(3):
        progress("secrets", done, 2)
    progress("documents", 1, 1)
    progress.close()
    assert terminal.getvalue() == (
        "\rrotate-keys: secrets 0/2"
        "\rrotate-keys: secrets 1/2"
        "\rrotate-keys: secrets 2/2"
        "\rrotate-keys: secrets 2/2, documents 1/1\n"
    )


@pytest.mark.sqlite_only
async def test_the_rotate_keys_command_rotates_with_a_progress_line_per_step(
    settings: Settings, clock: FrozenClock, db_path: Path, tmp_path: Path
) -> None:
    async with app_with_keys(settings, clock, OLD) as (app, api):
        await populate(app, api)

    extra = {
        "DATABASE_URL": f"sqlite://{db_path}",
        "VAR_DIR": str(settings.var_dir),
        "ENCRYPTION_KEYS": f"{NEW},{OLD}",
    }
    result = run_cli(tmp_path, "rotate-keys", **extra)
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("rotate-keys")]
    assert progress == [
        "rotate-keys: secrets 3/3",
        "rotate-keys: secrets 3/3, documents 1/1",
    ]
    assert "re-encrypted 3 of 3 TOTP secret(s) and 1 of 1 recovery document(s)" in result.stdout
    assert "20 unused backup code(s)" in result.stdout

    again = run_cli(tmp_path, "rotate-keys", **extra)
    assert "re-encrypted 0 of 3 TOTP secret(s) and 0 of 1" in again.stdout

    new_only = KeyRing((NEW.encode(),))
    async with app_with_keys(settings, clock, NEW):
        assert len(readable_by(new_only, [d.encrypted_secret for d in await TwoFactor.all()])) == 3
    assert readable_by(new_only, documents(settings)) == [PASSPORT]


@pytest.mark.sqlite_only
async def test_rotate_keys_without_the_old_key_fails_without_echoing_a_key(
    settings: Settings, clock: FrozenClock, db_path: Path, tmp_path: Path
) -> None:
    async with app_with_keys(settings, clock, OLD) as (app, api):
        await populate(app, api)
    result = run_cli(
        tmp_path,
        "rotate-keys",
        DATABASE_URL=f"sqlite://{db_path}",
        VAR_DIR=str(settings.var_dir),
        ENCRYPTION_KEYS=NEW,  # the old key left out too early
    )
    assert result.returncode == 1
    assert "decrypts under no key of ENCRYPTION_KEYS" in result.stderr
    assert NEW not in result.stderr + result.stdout and OLD not in result.stderr + result.stdout
