"""Turning 2FA on: startTwoFactor, the setup it returns, confirmTwoFactor and cancel."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pyotp
import pytest
import resvg_py
import zxingcpp
from PIL import Image

from server import create_app
from services.clock import FrozenClock
from tests.conftest import T0, make_settings, start
from tests.helpers import PASSWORD, Api, error_codes

EMAIL = "alice@example.com"
SETUP_TTL = timedelta(minutes=10)
BASE32 = re.compile(r"[A-Z2-7]+")
BACKUP_CODE_FORM = re.compile(r"[0-9a-z]{5}-[0-9a-z]{5}")
QUIET_ZONE_MODULES = 4
MIN_MODULE_PX = 4

CANCEL = """
mutation { cancelTwoFactorSetup {
  status { enabled pendingSetup backupCodesRemaining }
  errors { code field message }
} }
"""

VIEWER_TWO_FACTOR = """
query { viewer { twoFactor {
  enabled method enabledAt pendingSetup backupCodesRemaining backupCodesGeneratedAt
} } }
"""

SECURITY_EVENTS = """
query { viewer { securityEvents(first: 20) { edges { node { kind } } } } }
"""

TYPE_FIELDS = """
query Fields($name: String!) { __type(name: $name) { fields { name } } }
"""


# ---------------------------------------------------------------- helpers


def expected_uri(secret: str, email: str, issuer: str = "Verrou") -> str:
    # The Key Uri Format's own example keeps "@" literal in the label
    # (otpauth://totp/ACME%20Co:john.doe@email.com?...); every other reserved
    # character of the issuer and the account name is percent-encoded.
    return (
        f"otpauth://totp/{quote(issuer)}:{quote(email, safe='@')}"
        f"?secret={secret}&issuer={quote(issuer)}&algorithm=SHA1&digits=6&period=30"
    )


def window_codes(secret: str, at: datetime) -> set[str]:
    """The codes the server accepts at `at`: the step before, the current one, the next."""
    totp = pyotp.TOTP(secret)
    return {totp.at(at, counter_offset=offset) for offset in (-1, 0, 1)}


def wrong_code(secret: str, at: datetime) -> str:
    accepted = window_codes(secret, at)
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def png_of_data_uri(data_uri: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert data_uri.startswith(prefix), data_uri[:40]
    raw = base64.b64decode(data_uri.removeprefix(prefix), validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def read_single_qr(image: Image.Image) -> zxingcpp.Barcode:
    barcodes = zxingcpp.read_barcodes(image)
    assert len(barcodes) == 1, barcodes
    barcode = barcodes[0]
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    assert barcode.valid
    return barcode


def assert_scannable(image: Image.Image, text: str) -> None:
    """One QR code holding `text`, modules of >= 4 px, a white quiet zone of >= 4 modules."""
    barcode = read_single_qr(image)
    assert barcode.text == text

    extra = cast(dict[str, Any], barcode.extra)
    version = int(extra["Version"])
    modules = 17 + 4 * version
    position = barcode.position
    symbol_px = position.top_right.x - position.top_left.x
    module_px = symbol_px / modules
    assert module_px >= MIN_MODULE_PX, module_px
    assert image.width >= (modules + 2 * QUIET_ZONE_MODULES) * MIN_MODULE_PX

    # The quiet zone: 4 modules of white on every side of the symbol.
    margin = round(QUIET_ZONE_MODULES * module_px)
    left, top = position.top_left.x, position.top_left.y
    right, bottom = position.bottom_right.x, position.bottom_right.y
    assert left >= margin and top >= margin
    assert image.width - right >= margin and image.height - bottom >= margin
    gray = image.convert("L")
    width, height = gray.size
    pixels = gray.load()
    assert pixels is not None
    border = max(margin, QUIET_ZONE_MODULES * MIN_MODULE_PX)
    for y in range(height):
        for x in range(width):
            if x < border or y < border or x >= width - border or y >= height - border:
                value = pixels[x, y]
                assert isinstance(value, int) and value >= 250, (x, y, value)


def db_bytes(db_path: Path) -> bytes:
    content = db_path.read_bytes()
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():
        content += wal.read_bytes()
    return content


def query_db(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


async def started(api: Api, token: str) -> dict[str, Any]:
    payload = await api.start(token)
    assert payload["errors"] == [], payload
    setup: dict[str, Any] = payload["setup"]
    return setup


async def event_kinds(api: Api, token: str) -> list[str]:
    data = await api.data(SECURITY_EVENTS, token=token)
    return [edge["node"]["kind"] for edge in data["viewer"]["securityEvents"]["edges"]]


# ---------------------------------------------------------------- startTwoFactor


async def test_start_with_wrong_password_is_refused_and_starts_nothing(api: Api) -> None:
    token = await api.sign_up()

    payload = await api.start(token, password="not the password at all")

    assert payload["setup"] is None
    assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    assert payload["errors"][0]["field"] == ["input", "password"]
    status = await api.status(token)
    assert status["pendingSetup"] is False
    assert status["enabled"] is False
    # Nothing to confirm: no setup was created.
    confirmed = await api.confirm(token, "123456")
    assert error_codes(confirmed) == ["NO_PENDING_SETUP"]


async def test_start_when_already_enabled_is_refused(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)

    payload = await api.start(token)

    assert payload["setup"] is None
    assert error_codes(payload) == ["TWO_FACTOR_ALREADY_ENABLED"]
    status = await api.status(token)
    assert status["enabled"] is True
    assert status["pendingSetup"] is False
    assert status["backupCodesRemaining"] == 10
    # The active device's secret is untouched: its codes still sign in.
    api.clock.advance(30)
    verified = await api.verify(await api.challenge(), api.code(enabled.secret))
    assert error_codes(verified) == []


async def test_setup_secret_is_base32_with_at_least_160_bits(api: Api) -> None:
    token = await api.sign_up()

    setup = await started(api, token)

    secret = setup["secret"]
    assert BASE32.fullmatch(secret), secret
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    assert len(key) >= 20
    # A fresh random secret per account.
    other = await started(api, await api.sign_up("bob@example.com"))
    assert other["secret"] != secret


async def test_setup_describes_the_authenticator_parameters(api: Api) -> None:
    token = await api.sign_up()

    setup = await started(api, token)

    assert setup["otpauthUri"] == expected_uri(setup["secret"], EMAIL)
    assert setup["issuer"] == "Verrou"
    assert setup["accountName"] == EMAIL
    assert setup["algorithm"] == "SHA1"
    assert setup["digits"] == 6
    assert setup["period"] == 30
    assert parse_time(setup["expiresAt"]) == T0 + SETUP_TTL
    status = await api.status(token)
    assert status["pendingSetup"] is True
    assert status["enabled"] is False
    assert status["method"] is None


async def test_otpauth_uri_encodes_the_account_name(api: Api) -> None:
    email = "bob+ops@example.com"
    token = await api.sign_up(email)

    setup = await started(api, token)

    uri = setup["otpauthUri"]
    assert uri == expected_uri(setup["secret"], email)
    assert "bob%2Bops@example.com" in uri
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == f"/Verrou:{email}"
    assert parse_qs(parts.query) == {
        "secret": [setup["secret"]],
        "issuer": ["Verrou"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }


async def test_otpauth_uri_uses_the_configured_issuer(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", totp_issuer="Acme Hosting")
    app = create_app(settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        token = await api.sign_up()

        setup = await started(api, token)

        assert setup["issuer"] == "Acme Hosting"
        assert setup["otpauthUri"] == (
            f"otpauth://totp/Acme%20Hosting:{quote(EMAIL, safe='@')}"
            f"?secret={setup['secret']}&issuer=Acme%20Hosting"
            "&algorithm=SHA1&digits=6&period=30"
        )
        image = png_of_data_uri(setup["qrCodeDataUri"])
        assert read_single_qr(image).text == setup["otpauthUri"]


# ---------------------------------------------------------------- QR codes


async def test_png_qr_code_is_readable_by_a_scanner(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    image = png_of_data_uri(setup["qrCodeDataUri"])

    assert_scannable(image, setup["otpauthUri"])


async def test_svg_qr_code_is_standalone_and_readable_by_a_scanner(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)
    svg: str = setup["qrCodeSvg"]

    stripped = svg.lstrip()
    assert stripped.startswith("<svg") or stripped.startswith("<?xml"), svg[:80]
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "href" not in svg
    assert "<link" not in svg
    assert "<script" not in svg
    assert "url(" not in svg

    png = resvg_py.svg_to_bytes(svg_string=svg)
    image = Image.open(io.BytesIO(bytes(png)))
    image.load()
    # No background passed to the renderer: the SVG must paint its own white.
    flat = Image.new("RGBA", image.size, (0, 0, 0, 255))
    flat.alpha_composite(image.convert("RGBA"))
    assert_scannable(flat.convert("L"), setup["otpauthUri"])


# ---------------------------------------------------------------- expiry, restart, cancel


async def test_setup_expires_after_ten_minutes(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    api.clock.advance(SETUP_TTL.total_seconds() + 1)

    status = await api.status(token)
    assert status["pendingSetup"] is False
    assert status["enabled"] is False
    confirmed = await api.confirm(token, api.code(setup["secret"]))
    assert error_codes(confirmed) == ["SETUP_EXPIRED"]
    assert confirmed["backupCodes"] is None
    assert (await api.status(token))["enabled"] is False


async def test_setup_is_still_pending_just_before_it_expires(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    api.clock.advance(SETUP_TTL.total_seconds() - 1)

    assert (await api.status(token))["pendingSetup"] is True
    confirmed = await api.confirm(token, api.code(setup["secret"]))
    assert error_codes(confirmed) == []


async def test_starting_again_replaces_the_setup(api: Api) -> None:
    token = await api.sign_up()
    first = await started(api, token)
    second = await started(api, token)

    assert second["secret"] != first["secret"]
    now = api.clock.now()
    second_window = window_codes(second["secret"], now)
    stale = next(
        code
        for code in (api.code(first["secret"], offset) for offset in (0, -1, 1))
        if code not in second_window
    )
    refused = await api.confirm(token, stale)
    assert error_codes(refused) == ["INVALID_CODE"]
    assert (await api.status(token))["enabled"] is False

    confirmed = await api.confirm(token, api.code(second["secret"]))
    assert error_codes(confirmed) == []
    assert confirmed["status"]["enabled"] is True


async def test_cancel_drops_the_pending_setup(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    cancelled = (await api.data(CANCEL, token=token))["cancelTwoFactorSetup"]

    assert cancelled["errors"] == []
    assert cancelled["status"]["pendingSetup"] is False
    assert cancelled["status"]["enabled"] is False
    assert (await api.status(token))["pendingSetup"] is False
    confirmed = await api.confirm(token, api.code(setup["secret"]))
    assert error_codes(confirmed) == ["NO_PENDING_SETUP"]
    assert confirmed["backupCodes"] is None


# ---------------------------------------------------------------- confirmTwoFactor


async def test_confirm_without_start_has_no_pending_setup(api: Api) -> None:
    token = await api.sign_up()

    confirmed = await api.confirm(token, "123456")

    assert error_codes(confirmed) == ["NO_PENDING_SETUP"]
    assert confirmed["status"] is None
    assert confirmed["backupCodes"] is None


async def test_confirm_with_wrong_code_is_refused(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    confirmed = await api.confirm(token, wrong_code(setup["secret"], api.clock.now()))

    assert error_codes(confirmed) == ["INVALID_CODE"]
    assert confirmed["errors"][0]["field"] == ["input", "code"]
    assert confirmed["backupCodes"] is None
    status = await api.status(token)
    assert status["enabled"] is False
    assert status["pendingSetup"] is True
    # The setup survives a typo: the right code still works.
    assert error_codes(await api.confirm(token, api.code(setup["secret"]))) == []


async def test_confirm_accepts_the_code_of_the_previous_step(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    confirmed = await api.confirm(token, api.code(setup["secret"], -1))

    assert error_codes(confirmed) == []
    assert confirmed["status"]["enabled"] is True


async def test_confirm_accepts_the_code_of_the_next_step(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    confirmed = await api.confirm(token, api.code(setup["secret"], 1))

    assert error_codes(confirmed) == []
    assert confirmed["status"]["enabled"] is True


async def test_confirm_refuses_codes_two_steps_away(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)
    accepted = window_codes(setup["secret"], api.clock.now())

    for offset in (-2, 2):
        code = api.code(setup["secret"], offset)
        assert code not in accepted  # a one-in-a-million coincidence would void this check
        confirmed = await api.confirm(token, code)
        assert error_codes(confirmed) == ["INVALID_CODE"], offset
        assert (await api.status(token))["enabled"] is False


async def test_confirm_turns_two_factor_on_and_returns_ten_backup_codes(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    confirmed = await api.confirm(token, api.code(setup["secret"]))

    assert confirmed["errors"] == []
    status = confirmed["status"]
    assert status["enabled"] is True
    assert status["method"] == "TOTP"
    assert parse_time(status["enabledAt"]) == T0
    assert status["pendingSetup"] is False
    assert status["backupCodesRemaining"] == 10
    assert parse_time(status["backupCodesGeneratedAt"]) == T0
    codes = confirmed["backupCodes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert BACKUP_CODE_FORM.fullmatch(code), code
    assert await api.status(token) == status


async def test_confirm_again_is_refused_and_shows_no_codes(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)
    assert error_codes(await api.confirm(token, api.code(setup["secret"]))) == []
    api.clock.advance(30)

    again = await api.confirm(token, api.code(setup["secret"]))

    assert error_codes(again) == ["TWO_FACTOR_ALREADY_ENABLED"]
    assert again["backupCodes"] is None
    assert (await api.status(token))["backupCodesRemaining"] == 10


async def test_backup_codes_are_never_shown_again(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)

    status = await api.status(token)
    viewer = (await api.data(VIEWER_TWO_FACTOR, token=token))["viewer"]["twoFactor"]

    assert status == viewer
    assert status["backupCodesRemaining"] == 10
    for fields in (
        (await api.data(TYPE_FIELDS, {"name": "TwoFactorStatus"}))["__type"]["fields"],
        (await api.data(TYPE_FIELDS, {"name": "Account"}))["__type"]["fields"],
    ):
        names = {field["name"] for field in fields}
        assert "backupCodes" not in names
        assert {n for n in names if "backupcode" in n.lower()} <= {
            "backupCodesRemaining",
            "backupCodesGeneratedAt",
        }
    text = json.dumps([status, viewer])
    for code in enabled.backup_codes:
        assert code not in text
        assert code.replace("-", "") not in text


# ---------------------------------------------------------------- at rest


@pytest.mark.sqlite_only
async def test_secret_and_backup_codes_are_not_stored_in_clear(api: Api, db_path: Path) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)

    content = db_bytes(db_path)
    assert enabled.secret.encode() not in content
    assert enabled.secret.lower().encode() not in content
    for code in enabled.backup_codes:
        assert code.encode() not in content
        assert code.replace("-", "").encode() not in content
        assert code.replace("-", "").upper().encode() not in content

    rows = query_db(db_path, "SELECT encrypted_secret, state FROM two_factor")
    assert len(rows) == 1
    encrypted_secret, state = rows[0]
    assert state == "active"
    assert encrypted_secret != enabled.secret
    assert enabled.secret not in encrypted_secret

    digests = [row[0] for row in query_db(db_path, "SELECT digest FROM backup_code")]
    assert len(digests) == 10
    assert len(set(digests)) == 10
    plain = {c for code in enabled.backup_codes for c in (code, code.replace("-", ""))}
    for digest in digests:
        assert re.fullmatch(r"[0-9a-f]{64}", digest), digest
        assert digest not in plain


# ---------------------------------------------------------------- concurrency


async def confirm_concurrently(api: Api, db_path: Path, count: int) -> str:
    """`count` confirmations with one correct code at once: exactly one turns 2FA on."""
    token = await api.sign_up()
    setup = await started(api, token)
    code = api.code(setup["secret"])

    results = await asyncio.gather(*(api.confirm(token, code) for _ in range(count)))

    winners = [result for result in results if result["errors"] == []]
    losers = [result for result in results if result["errors"] != []]
    assert len(winners) == 1, [error_codes(result) for result in results]
    assert len(losers) == count - 1
    for loser in losers:
        assert loser["backupCodes"] is None
        assert error_codes(loser)[0] in {"NO_PENDING_SETUP", "TWO_FACTOR_ALREADY_ENABLED"}
    assert len(winners[0]["backupCodes"]) == 10
    assert query_db(db_path, "SELECT COUNT(*) FROM backup_code") == [(10,)]
    assert query_db(db_path, "SELECT COUNT(*) FROM two_factor") == [(1,)]
    assert (await api.status(token))["backupCodesRemaining"] == 10
    assert (await event_kinds(api, token)).count("TWO_FACTOR_ENABLED") == 1
    # The winner's codes are the ones stored: the first of them signs in.
    verified = await api.verify(await api.challenge(), winners[0]["backupCodes"][0])
    assert error_codes(verified) == []
    return token


@pytest.mark.sqlite_only
async def test_concurrent_confirmations_enable_once(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    # 20 in-flight attempts exceed the default throttle (max_failures=10), which then
    # refuses the whole burst; raise it so the race on the device row is what is tested.
    settings = make_settings(db_path, tmp_path / "var", max_failures=100)
    async for client in start(create_app(settings, clock=clock)):
        await confirm_concurrently(Api(client, clock), db_path, 20)


@pytest.mark.sqlite_only
async def test_concurrent_confirmations_within_the_default_throttle_enable_once(
    api: Api, db_path: Path
) -> None:
    await confirm_concurrently(api, db_path, 10)


async def test_losing_the_confirmation_race_is_not_a_second_factor_failure(
    api: Api, db_path: Path
) -> None:
    token = await api.sign_up()
    setup = await started(api, token)
    code = api.code(setup["secret"])
    results = await asyncio.gather(*(api.confirm(token, code) for _ in range(10)))
    assert sum(result["errors"] == [] for result in results) == 1
    api.clock.advance(30)

    # Every request carried the right code: none of them may eat the failure budget
    # (max_failures=10) that protects sign-in, so two typos are just two INVALID_CODEs.
    challenge = await api.challenge()
    typo = wrong_code(setup["secret"], api.clock.now())
    first = await api.verify(challenge, typo)
    second = await api.verify(challenge, typo)

    assert error_codes(first) == ["INVALID_CODE"]
    assert error_codes(second) == ["INVALID_CODE"]


# ---------------------------------------------------------------- security events


async def test_start_records_setup_started(api: Api) -> None:
    token = await api.sign_up()
    assert "TWO_FACTOR_SETUP_STARTED" not in await event_kinds(api, token)

    await started(api, token)

    assert (await event_kinds(api, token)).count("TWO_FACTOR_SETUP_STARTED") == 1


async def test_confirm_records_two_factor_enabled(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)
    assert "TWO_FACTOR_ENABLED" not in await event_kinds(api, token)

    assert error_codes(await api.confirm(token, api.code(setup["secret"]))) == []

    kinds = await event_kinds(api, token)
    assert kinds.count("TWO_FACTOR_ENABLED") == 1
    assert "SECOND_FACTOR_FAILED" not in kinds


async def test_wrong_confirmation_code_records_second_factor_failed(api: Api) -> None:
    token = await api.sign_up()
    setup = await started(api, token)

    refused = await api.confirm(token, wrong_code(setup["secret"], api.clock.now()))
    assert error_codes(refused) == ["INVALID_CODE"]

    kinds = await event_kinds(api, token)
    assert kinds.count("SECOND_FACTOR_FAILED") == 1
    assert "TWO_FACTOR_ENABLED" not in kinds


async def test_wrong_password_records_no_setup_started(api: Api) -> None:
    token = await api.sign_up()

    await api.start(token, password=PASSWORD + "x")

    assert "TWO_FACTOR_SETUP_STARTED" not in await event_kinds(api, token)
