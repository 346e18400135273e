"""services.webauthn_rp (and the key parts of key_challenges and key_sign_in), line by line
(issue 17 item 2): the options sent, what a registration and an assertion store or refuse,
and why each refusal is logged, with a software authenticator as the browser's key."""

from __future__ import annotations

import base64
import contextvars
import json
import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import (
    Account,
    Notification,
    RecoveryRequest,
    RememberedDevice,
    SecurityEvent,
    SecurityKey,
    Session,
    SignInChallenge,
    TwoFactor,
    WebAuthnChallenge,
)
from models.activity import FailedAttempt
from models.recovery import RecoveryStatus
from models.two_factor import TwoFactorState, WebAuthnChallengePurpose
from server import create_app
from services import changes, key_challenges, key_sign_in, webauthn_rp
from services.clock import FrozenClock
from services.crypto import token_digest
from services.errors import InvalidInput, RateLimited, SecurityKeyRejected
from services.runtime import RequestMeta, Runtime
from services.settings import Settings
from services.throttle import second_factor_subject
from services.webauthn_rp import KnownCredential, RelyingParty
from tests.conftest import T0, make_settings, start
from tests.helpers import Api, with_connection_only
from tests.key_client import Keys
from tests.soft_authenticator import SoftAuthenticator, b64url, tamper_signature

LOGGER = "verrou.webauthn"
HANDLE = b64url(b"\x07" * 32)


@pytest.fixture
def rp(settings: Settings) -> RelyingParty:
    return webauthn_rp.relying_party(settings)


def registration(
    rp: RelyingParty, *, passkey: bool, exclude: list[KnownCredential] | None = None
) -> tuple[bytes, dict[str, Any]]:
    challenge = webauthn_rp.new_challenge()
    options = webauthn_rp.registration_options(
        rp,
        challenge=challenge,
        user_handle=HANDLE,
        user_name="alice@example.com",
        display_name="Alice",
        exclude=exclude or [],
        passkey=passkey,
        timeout_seconds=120,
    )
    return challenge, options


def registered(
    rp: RelyingParty, key: SoftAuthenticator, *, passkey: bool = False, **create: Any
) -> webauthn_rp.NewCredential:
    challenge, options = registration(rp, passkey=passkey)
    return verified_registration(
        rp, challenge, key.create(options, rp.origins[0], **create), passkey=passkey
    )


def verified_registration(
    rp: RelyingParty, challenge: bytes, credential: dict[str, Any], *, passkey: bool = False
) -> webauthn_rp.NewCredential:
    """The server's reading and verification of what the browser sent for `challenge`."""
    return webauthn_rp.verify_registration(
        rp,
        webauthn_rp.read_answer(credential, registration=True),
        expected_digest=webauthn_rp.challenge_digest(challenge),
        require_user_verification=passkey,
    )


def assertion_options(
    rp: RelyingParty, known: list[KnownCredential], *, user_verification: bool = False
) -> tuple[bytes, dict[str, Any]]:
    challenge = webauthn_rp.new_challenge()
    options = webauthn_rp.authentication_options(
        rp,
        challenge=challenge,
        allow=known,
        user_verification=user_verification,
        timeout_seconds=90,
    )
    return challenge, options


# The relying party and the options ---------------------------------------------------------


def test_the_relying_party_is_the_servers_host_issuer_and_origins(settings: Settings) -> None:
    rp = webauthn_rp.relying_party(settings)
    assert rp.id == settings.webauthn_rp_id and rp.id
    assert rp.name == settings.totp_issuer
    assert rp.origins == settings.webauthn_origin_list and rp.origins


def test_challenges_and_handles_are_32_random_bytes() -> None:
    challenge = webauthn_rp.new_challenge()
    assert len(challenge) == 32 and challenge != webauthn_rp.new_challenge()
    handle = webauthn_rp.new_user_handle()
    assert len(base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))) == 32
    assert handle != webauthn_rp.new_user_handle() and "=" not in handle


def test_digests_are_sha256_hex_known_answers() -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert webauthn_rp.challenge_digest(b"") == empty
    assert webauthn_rp.credential_digest(b"") == empty
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert webauthn_rp.challenge_digest(b"abc") == abc == webauthn_rp.credential_digest(b"abc")


def test_registration_options_of_a_security_key(rp: RelyingParty) -> None:
    challenge, options = registration(
        rp, passkey=False, exclude=[KnownCredential(b64url(b"\x01" * 16), ["usb", "bogus"])]
    )
    assert options["rp"] == {"id": rp.id, "name": rp.name}
    assert options["user"] == {"id": HANDLE, "name": "alice@example.com", "displayName": "Alice"}
    assert options["challenge"] == b64url(challenge)
    assert options["timeout"] == 120_000
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["authenticatorSelection"]["residentKey"] == "discouraged"
    assert options["authenticatorSelection"]["userVerification"] == "discouraged"
    assert options["excludeCredentials"] == [
        {"id": b64url(b"\x01" * 16), "type": "public-key", "transports": ["usb"]}
    ]
    assert options["extensions"] == {"credProps": True}


def test_registration_options_of_a_passkey(rp: RelyingParty) -> None:
    _, options = registration(rp, passkey=True)
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options.get("excludeCredentials", []) == []


def test_authentication_options(rp: RelyingParty) -> None:
    known = [
        KnownCredential(b64url(b"\x02" * 20), ["nfc", "usb"]),
        KnownCredential(b64url(b"\x03" * 20), ["carrier-pigeon"]),
    ]
    challenge, options = assertion_options(rp, known)
    assert options["rpId"] == rp.id
    assert options["challenge"] == b64url(challenge)
    assert options["timeout"] == 90_000
    assert options["userVerification"] == "discouraged"
    assert options["allowCredentials"] == [
        {"id": b64url(b"\x02" * 20), "type": "public-key", "transports": ["nfc", "usb"]},
        {"id": b64url(b"\x03" * 20), "type": "public-key"},  # no known transport: none named
    ]
    _, passkey = assertion_options(rp, [], user_verification=True)
    assert passkey["userVerification"] == "required"
    assert passkey.get("allowCredentials", []) == []


# Reading answers ---------------------------------------------------------------------------


def test_an_answer_is_read_from_an_object_or_its_json_text(rp: RelyingParty) -> None:
    key = SoftAuthenticator()
    challenge, options = registration(rp, passkey=False)
    created = key.create(options, rp.origins[0])
    for form in (created, json.dumps(created)):
        answer = webauthn_rp.read_answer(form, registration=True)
        assert answer.challenge == challenge
        assert answer.raw_id == next(iter(key.credentials))
        assert answer.credential == created


@pytest.mark.parametrize("credential", ["{not json", "[1, 2]", 42, None, ["a"], "null"])
def test_anything_but_an_object_is_a_rejected_key(credential: object) -> None:
    with pytest.raises(SecurityKeyRejected) as refused:
        webauthn_rp.read_answer(credential, registration=False)
    assert refused.value.field == "credential"


def test_a_malformed_answer_is_refused_and_logged_by_its_kind(
    rp: RelyingParty, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with pytest.raises(SecurityKeyRejected) as refused:
        webauthn_rp.read_answer({"id": "x"}, registration=True)
    assert refused.value.field == "credential"
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "security key answer refused: malformed (InvalidJSONStructure)"
    ]


def test_a_credential_id_longer_than_1364_characters_is_refused(rp: RelyingParty) -> None:
    key = SoftAuthenticator()
    _, options = assertion_options(rp, [])
    registered(rp, key, passkey=True)
    answer = key.get(options, rp.origins[0])
    at_limit = b64url(b"\x05" * 1023)
    assert len(at_limit) == 1364
    read = webauthn_rp.read_answer(
        {**answer, "id": at_limit, "rawId": at_limit}, registration=False
    )
    assert read.raw_id == b"\x05" * 1023
    over = at_limit + "A"
    with pytest.raises(SecurityKeyRejected):
        webauthn_rp.read_answer({**answer, "id": over, "rawId": over}, registration=False)


# Registrations -----------------------------------------------------------------------------


def test_a_registration_stores_what_the_key_said(rp: RelyingParty) -> None:
    key = SoftAuthenticator(aaguid=bytes(range(16)))
    new = registered(rp, key, backup_eligible=True, backed_up=True)
    raw_id = next(iter(key.credentials))
    assert new.credential_id == b64url(raw_id)
    assert new.credential_digest == webauthn_rp.credential_digest(raw_id)
    assert new.public_key == b64url(key.credentials[raw_id].cose_public_key)
    assert new.sign_count == 0
    assert new.transports == ["usb"]
    assert new.discoverable is False  # credProps said rk: false
    assert new.user_verified is True
    assert new.backed_up is True
    assert new.aaguid == "00010203-0405-0607-0809-0a0b0c0d0e0f"


def test_a_registration_without_cred_props_is_discoverable_only_for_a_passkey(
    rp: RelyingParty,
) -> None:
    for passkey in (False, True):
        key = SoftAuthenticator()
        challenge, options = registration(rp, passkey=passkey)
        created = key.create({**options, "extensions": {}}, rp.origins[0])
        created["response"]["transports"] = ["nfc", "usb", "nfc", "smoke-signal", 7]
        answer = webauthn_rp.read_answer(created, registration=True)
        new = webauthn_rp.verify_registration(
            rp,
            answer,
            expected_digest=webauthn_rp.challenge_digest(challenge),
            require_user_verification=passkey,
        )
        assert new.discoverable is passkey
        assert new.transports == ["nfc", "usb"]  # known ones, once each, sorted
        assert new.backed_up is False


def test_a_registration_without_transports_stores_none(rp: RelyingParty) -> None:
    key = SoftAuthenticator()
    challenge, options = registration(rp, passkey=False)
    created = key.create(options, rp.origins[0])
    # Only a list of known transports counts: not a string, not an object, not nothing.
    for odd in ("usb", {"usb": True}, None):
        response = {k: v for k, v in created["response"].items() if k != "transports"}
        if odd is not None:
            response["transports"] = odd
        new = verified_registration(rp, challenge, {**created, "response": response})
        assert new.transports == [], odd


def test_a_registration_for_another_challenge_is_refused_and_logged(
    rp: RelyingParty, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    key = SoftAuthenticator()
    _, options = registration(rp, passkey=False)
    answer = webauthn_rp.read_answer(key.create(options, rp.origins[0]), registration=True)
    with pytest.raises(SecurityKeyRejected) as refused:
        webauthn_rp.verify_registration(
            rp,
            answer,
            expected_digest=webauthn_rp.challenge_digest(b"another"),
            require_user_verification=False,
        )
    assert refused.value.field == "credential"
    assert caplog.records[-1].getMessage() == (
        "security key answer refused: not this ceremony's challenge"
    )


def test_extension_results_that_are_not_an_object_say_nothing(rp: RelyingParty) -> None:
    # A client's odd clientExtensionResults is read as no credProps, never a crash.
    challenge, options = registration(rp, passkey=False)
    created = SoftAuthenticator().create(options, rp.origins[0])
    for odd in ("rk", ["rk"], 7):
        stored = verified_registration(rp, challenge, {**created, "clientExtensionResults": odd})
        assert stored.discoverable is False


def test_a_key_of_an_algorithm_not_offered_is_refused(rp: RelyingParty) -> None:
    # Verrou offers and accepts ES256, EdDSA and RS256 only, whatever a client answers with
    # (an ES512 key, P-521, here), even should py_webauthn's own default list grow.
    challenge, options = registration(rp, passkey=False)
    options = {**options, "pubKeyCredParams": [{"type": "public-key", "alg": -36}]}
    created = SoftAuthenticator("ES512").create(options, rp.origins[0])
    with pytest.raises(SecurityKeyRejected):
        verified_registration(rp, challenge, created)


def test_a_registration_from_another_origin_is_refused_and_logged(
    rp: RelyingParty, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    key = SoftAuthenticator()
    challenge, options = registration(rp, passkey=False)
    created = key.create(options, "https://evil.example")
    with pytest.raises(SecurityKeyRejected) as refused:
        webauthn_rp.verify_registration(
            rp,
            webauthn_rp.read_answer(created, registration=True),
            expected_digest=webauthn_rp.challenge_digest(challenge),
            require_user_verification=False,
        )
    assert refused.value.field == "credential"
    assert caplog.records[-1].getMessage() == (
        "security key registration refused: InvalidRegistrationResponse"
    )


def test_a_passkey_registration_needs_user_verification(rp: RelyingParty) -> None:
    with pytest.raises(SecurityKeyRejected):
        registered(rp, SoftAuthenticator(), passkey=True, user_verified=False)
    assert registered(rp, SoftAuthenticator(), user_verified=False).user_verified is False


# Assertions --------------------------------------------------------------------------------


def signed_in(
    rp: RelyingParty,
    key: SoftAuthenticator,
    new: webauthn_rp.NewCredential,
    *,
    require_user_verification: bool = False,
    **get: Any,
) -> webauthn_rp.Assertion:
    challenge, options = assertion_options(rp, [KnownCredential(new.credential_id, [])])
    answer = webauthn_rp.read_answer(key.get(options, rp.origins[0], **get), registration=False)
    return webauthn_rp.verify_assertion(
        rp,
        answer,
        expected_digest=webauthn_rp.challenge_digest(challenge),
        public_key=new.public_key,
        require_user_verification=require_user_verification,
    )


def test_an_assertion_reports_the_keys_count_and_flags(rp: RelyingParty) -> None:
    key = SoftAuthenticator()
    new = registered(rp, key, backup_eligible=True, backed_up=True)
    first = signed_in(rp, key, new)
    assert (first.sign_count, first.user_verified, first.backed_up) == (1, True, True)
    second = signed_in(rp, key, new, user_verified=False)
    assert (second.sign_count, second.user_verified) == (2, False)
    # The stored count is checked by counter_went_back, not here: any count verifies.
    assert signed_in(rp, key, new, sign_count=0).sign_count == 0


def test_an_assertion_without_user_verification_is_refused_when_required(
    rp: RelyingParty,
) -> None:
    key = SoftAuthenticator()
    new = registered(rp, key, passkey=True)
    assert signed_in(rp, key, new, require_user_verification=True).user_verified is True
    with pytest.raises(SecurityKeyRejected):
        signed_in(rp, key, new, require_user_verification=True, user_verified=False)


def test_a_forged_assertion_is_refused_and_logged(
    rp: RelyingParty, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    key = SoftAuthenticator()
    new = registered(rp, key)
    challenge, options = assertion_options(rp, [KnownCredential(new.credential_id, [])])
    forged = tamper_signature(key.get(options, rp.origins[0]))
    with pytest.raises(SecurityKeyRejected) as refused:
        webauthn_rp.verify_assertion(
            rp,
            webauthn_rp.read_answer(forged, registration=False),
            expected_digest=webauthn_rp.challenge_digest(challenge),
            public_key=new.public_key,
            require_user_verification=False,
        )
    assert refused.value.field == "credential"
    assert caplog.records[-1].getMessage() == (
        "security key assertion refused: InvalidAuthenticationResponse"
    )


def test_an_assertion_for_another_challenge_is_refused(rp: RelyingParty) -> None:
    key = SoftAuthenticator()
    new = registered(rp, key)
    _, options = assertion_options(rp, [KnownCredential(new.credential_id, [])])
    answer = webauthn_rp.read_answer(key.get(options, rp.origins[0]), registration=False)
    with pytest.raises(SecurityKeyRejected):
        webauthn_rp.verify_assertion(
            rp,
            answer,
            expected_digest=webauthn_rp.challenge_digest(b"another"),
            public_key=new.public_key,
            require_user_verification=False,
        )


@pytest.mark.parametrize(
    ("stored", "received", "went_back"),
    [(0, 0, False), (0, 1, False), (5, 6, False), (5, 5, True), (5, 4, True), (1, 0, True)],
)
def test_counter_went_back(stored: int, received: int, went_back: bool) -> None:
    assert webauthn_rp.counter_went_back(stored, received) is went_back


def test_user_handle_of_an_answer(rp: RelyingParty) -> None:
    def answer(response: object) -> webauthn_rp.Answer:
        return webauthn_rp.Answer({"response": response}, b"", b"")

    assert webauthn_rp.user_handle_of(answer({"userHandle": HANDLE})) == HANDLE
    assert webauthn_rp.user_handle_of(answer({"userHandle": ""})) is None
    assert webauthn_rp.user_handle_of(answer({"userHandle": None})) is None
    assert webauthn_rp.user_handle_of(answer({"userHandle": 5})) is None
    assert webauthn_rp.user_handle_of(answer("not an object")) is None
    assert webauthn_rp.user_handle_of(webauthn_rp.Answer({}, b"", b"")) is None


# key_challenges: the security-key part of a sign-in challenge -------------------------------


async def stored_key(account_id: int, credential_id: bytes, **columns: Any) -> SecurityKey:
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": "Key",
        "credential_id": b64url(credential_id),
        "credential_digest": webauthn_rp.credential_digest(credential_id),
        "public_key": b64url(b"public"),
        "sign_count": 0,
        "transports": "",
        "user_handle": HANDLE,
        "created_at": T0,
        **columns,
    }
    return await SecurityKey.create(**values)


async def test_known_keys_name_usable_keys_with_their_transports(app: Starlette, api: Api) -> None:
    await api.sign_up("alice@example.com")
    account = await Account.get(email="alice@example.com")
    await stored_key(account.id, b"\x01" * 16, transports="nfc,usb")
    await stored_key(account.id, b"\x02" * 16, transports="")
    await stored_key(account.id, b"\x03" * 16, flagged_at=T0)
    usable = await key_challenges.known_keys(account.id)
    assert usable == [
        KnownCredential(b64url(b"\x01" * 16), ["nfc", "usb"]),
        KnownCredential(b64url(b"\x02" * 16), []),
    ]
    every = await key_challenges.known_keys(account.id, usable_only=False)
    assert [k.credential_id for k in every] == [b64url(bytes([n]) * 16) for n in (1, 2, 3)]


async def test_the_second_step_offers_what_the_account_has(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    await api.sign_up("alice@example.com")
    account = await Account.get(email="alice@example.com")
    nothing = await key_challenges.second_step(rt, account.id)
    assert nothing == key_challenges.SecondStep(["BACKUP_CODE"], None, None)
    await stored_key(account.id, b"\x01" * 16, transports="usb")
    keys_only = await key_challenges.second_step(rt, account.id)
    assert keys_only.methods == ["SECURITY_KEY", "BACKUP_CODE"]
    options = keys_only.options
    assert options is not None and keys_only.challenge_digest is not None
    assert options["rpId"] == "localhost"
    assert options["timeout"] == rt.settings.challenge_ttl_seconds * 1000
    assert options["userVerification"] == "discouraged"
    assert options["allowCredentials"] == [
        {"id": b64url(b"\x01" * 16), "type": "public-key", "transports": ["usb"]}
    ]
    challenge = base64.urlsafe_b64decode(options["challenge"] + "==")
    assert webauthn_rp.challenge_digest(challenge) == keys_only.challenge_digest
    await TwoFactor.create(
        account_id=account.id,
        encrypted_secret="x",
        state=TwoFactorState.ACTIVE,
        created_at=T0,
    )
    both = await key_challenges.second_step(rt, account.id)
    assert both.methods == ["TOTP", "SECURITY_KEY", "BACKUP_CODE"]


async def test_the_second_step_offers_the_accounts_own_active_totp_app_only(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    await api.enable_two_factor(await api.sign_up("bob@example.com"))  # Bob's app is on
    await api.sign_up("alice@example.com")
    alice = await Account.get(email="alice@example.com")
    await stored_key(alice.id, b"\x02" * 16)
    assert (await key_challenges.second_step(rt, alice.id)).methods == [
        "SECURITY_KEY",
        "BACKUP_CODE",
    ]
    # Her own app while its setup is pending is not a factor yet either.
    await TwoFactor.create(
        account_id=alice.id, encrypted_secret="x", state=TwoFactorState.PENDING, created_at=T0
    )
    assert (await key_challenges.second_step(rt, alice.id)).methods == [
        "SECURITY_KEY",
        "BACKUP_CODE",
    ]


async def test_on_an_ip_address_keys_are_not_offered(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", public_url="https://203.0.113.5")
    app = create_app(settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock, settings.port)
        await api.sign_up("alice@example.com")
        account = await Account.get(email="alice@example.com")
        await stored_key(account.id, b"\x01" * 16)
        offered = await key_challenges.second_step(app.state.runtime, account.id)
        assert offered == key_challenges.SecondStep(["BACKUP_CODE"], None, None)


# key_sign_in: passkeys and the second step ---------------------------------------------------

PASSKEY_META = RequestMeta(ip_address="198.51.100.23", user_agent="passkey-tests/1.0")


async def alice_with_passkey(api: Api) -> tuple[Keys, SoftAuthenticator, Account]:
    keys = Keys(api)
    token = await api.sign_up("alice@example.com")
    phone = SoftAuthenticator()
    await keys.register(token, phone, "Phone", passkey=True)
    return keys, phone, await Account.get(email="alice@example.com")


def test_passkey_subjects_name_the_client_address() -> None:
    assert key_sign_in.passkey_subject("198.51.100.23") == "passkey:198.51.100.23"
    assert key_sign_in.passkey_subject(None) == "passkey:unknown"


async def test_start_passkey_stores_a_hashed_ceremony_for_five_minutes(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    row = await WebAuthnChallenge.get(token_hash=token_digest(started.token))
    challenge = base64.urlsafe_b64decode(str(started.options["challenge"]) + "==")
    assert row.challenge_hash == webauthn_rp.challenge_digest(challenge)
    assert row.purpose == WebAuthnChallengePurpose.PASSKEY_SIGN_IN
    assert (row.created_at, row.expires_at, row.used_at) == (T0, T0 + timedelta(minutes=5), None)
    assert row.account_id is None
    assert started.expires_at == T0 + timedelta(minutes=5)
    assert started.options["timeout"] == 300_000
    assert started.options["userVerification"] == "required"
    assert started.options.get("allowCredentials", []) == []
    assert len(started.token) >= 43


async def test_a_client_address_starts_a_hundred_passkey_ceremonies_per_window(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    for _ in range(100):
        await key_sign_in.start_passkey(rt, PASSKEY_META)
    with pytest.raises(RateLimited):
        await key_sign_in.start_passkey(rt, PASSKEY_META)
    assert await FailedAttempt.filter(subject="passkey-start:198.51.100.23").count() == 100
    await key_sign_in.start_passkey(rt, RequestMeta())  # another address: its own count
    assert await FailedAttempt.filter(subject="passkey-start:unknown").count() == 1


async def test_a_passkey_sign_in_records_the_use_and_forgets_its_attempts(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    api.clock.advance(60)
    answer = phone.get(started.options, keys.origin)
    issued = await key_sign_in.finish_passkey(
        rt, PASSKEY_META, token=started.token, credential=answer
    )
    assert issued.account.id == account.id
    key = await SecurityKey.get(account_id=account.id)
    assert (key.sign_count, key.last_used_at) == (1, T0 + timedelta(minutes=1))
    assert await SecurityEvent.filter(account_id=account.id, kind="SECURITY_KEY_USED").count() == 1
    assert await SecurityEvent.filter(account_id=account.id, kind="SIGNED_IN").count() == 2
    assert not await FailedAttempt.filter(subject__startswith="passkey:").exists()
    assert not await FailedAttempt.filter(subject=second_factor_subject(account.id)).exists()
    used = await WebAuthnChallenge.get(token_hash=token_digest(started.token))
    assert used.used_at == T0 + timedelta(minutes=1)


async def test_a_refused_passkey_counts_against_the_address_and_the_account(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    forged = tamper_signature(phone.get(started.options, keys.origin))
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=forged)
    assert refused.value.field == "credential"
    assert await FailedAttempt.filter(subject="passkey:198.51.100.23").count() == 1
    assert await FailedAttempt.filter(subject=second_factor_subject(account.id)).count() == 1
    assert await SecurityEvent.filter(account_id=account.id, kind="SECURITY_KEY_REJECTED").count()
    # The ceremony is spent by the refused answer too.
    with pytest.raises(SecurityKeyRejected) as again:
        await key_sign_in.finish_passkey(
            rt,
            PASSKEY_META,
            token=started.token,
            credential=phone.get(started.options, keys.origin),
        )
    assert again.value.field == "token"


async def test_a_passkey_ceremony_ends_at_its_deadline(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, _ = await alice_with_passkey(api)
    late = await key_sign_in.start_passkey(rt, PASSKEY_META)
    clock.advance(5 * 60 - 1)
    early = await key_sign_in.start_passkey(rt, PASSKEY_META)
    answer = phone.get(late.options, keys.origin)
    await key_sign_in.finish_passkey(rt, PASSKEY_META, token=late.token, credential=answer)
    clock.advance(5 * 60)  # exactly at the second ceremony's end
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.finish_passkey(
            rt, PASSKEY_META, token=early.token, credential=phone.get(early.options, keys.origin)
        )
    assert refused.value.field == "token"


async def test_a_passkey_ceremony_token_of_another_purpose_is_refused(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, _ = await alice_with_passkey(api)
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    await WebAuthnChallenge.filter(token_hash=token_digest(started.token)).update(
        purpose=WebAuthnChallengePurpose.REGISTER
    )
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.finish_passkey(
            rt,
            PASSKEY_META,
            token=started.token,
            credential=phone.get(started.options, keys.origin),
        )
    assert refused.value.field == "token"


async def test_a_second_factor_key_or_a_foreign_user_handle_does_not_sign_in_alone(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    # The same credential, its handle replaced: refused.
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    answer = phone.get(started.options, keys.origin)
    answer["response"]["userHandle"] = b64url(b"\x09" * 32)
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=answer)
    assert refused.value.field == "credential"
    # A key registered as a second factor only: refused although it verifies.
    await SecurityKey.filter(account_id=account.id).update(passkey=False)
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    with pytest.raises(SecurityKeyRejected):
        await key_sign_in.finish_passkey(
            rt,
            PASSKEY_META,
            token=started.token,
            credential=phone.get(started.options, keys.origin),
        )
    assert await Session.filter(account_id=account.id).count() == 1  # sign-up's


async def test_a_key_that_does_not_count_stays_at_zero(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    keys = Keys(api)
    token = await api.sign_up("alice@example.com")
    phone = SoftAuthenticator(counts=False)
    await keys.register(token, phone, "Phone", passkey=True)
    for _ in range(2):
        started = await key_sign_in.start_passkey(rt, PASSKEY_META)
        answer = phone.get(started.options, keys.origin)
        await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=answer)
    assert (await SecurityKey.get(name="Phone")).sign_count == 0


async def test_a_keys_use_is_recorded_only_through_the_changes_connection(
    app: Starlette, api: Api
) -> None:
    # From a task that did not open the change's transaction (tests/helpers.py): the new
    # count and time are the change's, gone with its rollback.
    rt: Runtime = app.state.runtime
    _, _, account = await alice_with_passkey(api)
    key = await SecurityKey.get(account_id=account.id)
    api.clock.advance(60)

    class Rollback(Exception):
        pass

    outside = contextvars.copy_context()
    with pytest.raises(Rollback):
        async with changes.account_change(rt, account, PASSKEY_META) as change:
            recording = key_sign_in._record_use(change, key, key.sign_count + 5)
            await with_connection_only(outside, recording)
            moved = await SecurityKey.filter(id=key.id).using_db(change.connection).get()
            assert (moved.sign_count, moved.last_used_at) == (key.sign_count + 5, rt.clock.now())
            raise Rollback
    kept = await SecurityKey.get(id=key.id)
    assert (kept.sign_count, kept.last_used_at) == (key.sign_count, key.last_used_at)


async def test_a_counter_gone_back_flags_the_key_once_and_tells_its_name(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    ok = await key_sign_in.start_passkey(rt, PASSKEY_META)
    first = phone.get(ok.options, keys.origin)
    await key_sign_in.finish_passkey(rt, PASSKEY_META, token=ok.token, credential=first)
    for _ in range(2):  # a count of 0 after 1 went back; then the key is flagged already
        started = await key_sign_in.start_passkey(rt, PASSKEY_META)
        answer = phone.get(started.options, keys.origin, sign_count=0)
        with pytest.raises(SecurityKeyRejected) as refused:
            await key_sign_in.finish_passkey(
                rt, PASSKEY_META, token=started.token, credential=answer
            )
        assert refused.value.field == "credential"
    key = await SecurityKey.get(account_id=account.id)
    assert key.flagged_at == T0 and key.sign_count == 1
    flagged = await Notification.filter(account_id=account.id, kind="SECURITY_KEY_FLAGGED")
    assert [n.params for n in flagged] == [{"name": "Phone"}]
    events = SecurityEvent.filter(account_id=account.id, kind="SECURITY_KEY_FLAGGED")
    assert await events.count() == 1


async def test_the_second_step_refuses_a_challenge_opened_before_the_account_had_keys(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    token = await api.sign_up("alice@example.com")
    enabled = await api.enable_two_factor(token)
    assert enabled.secret
    challenge = await api.challenge()
    keys = Keys(api)
    key = SoftAuthenticator()
    await keys.register(token, key)
    fresh = await keys.challenge("alice@example.com")
    answer = key.get(fresh["securityKeyOptions"], keys.origin)
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.verify_second_step(rt, PASSKEY_META, token=challenge, credential=answer)
    assert refused.value.field == "credential"
    # No attempt of the challenge was taken.
    assert (await SignInChallenge.get(token_hash=token_digest(challenge))).attempts == 0


async def test_the_second_step_with_a_key_remembers_the_device_when_asked(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    token = await api.sign_up("alice@example.com")
    await api.enable_two_factor(token)
    keys = Keys(api)
    key = SoftAuthenticator()
    await keys.register(token, key)
    challenge = await keys.challenge("alice@example.com")
    answer = key.get(challenge["securityKeyOptions"], keys.origin)
    verified = await key_sign_in.verify_second_step(
        rt, PASSKEY_META, token=challenge["token"], credential=answer, remember_device=True
    )
    assert verified.device_token is not None and not verified.used_backup_code
    device = await RememberedDevice.get(token_hash=token_digest(verified.device_token))
    assert device.account_id == verified.issued.account.id
    stored = await SecurityKey.get(account_id=device.account_id)
    assert stored.sign_count == 1 and stored.last_used_at == T0 + timedelta(seconds=30)


async def gone_back(rt: Runtime, keys: Keys, key: SoftAuthenticator) -> None:
    """A passkey answer of `key` reporting count 0 after it counted: refused."""
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    answer = key.get(started.options, keys.origin, sign_count=0)
    with pytest.raises(SecurityKeyRejected):
        await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=answer)


async def counted_once(rt: Runtime, keys: Keys, key: SoftAuthenticator) -> None:
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    answer = key.get(started.options, keys.origin)
    await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=answer)


async def test_flagging_a_key_leaves_the_other_keys_alone(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    keys = Keys(api)
    token = await api.sign_up("alice@example.com")
    phone, laptop = SoftAuthenticator(), SoftAuthenticator()
    await keys.register(token, phone, "Phone", passkey=True)
    await keys.register(token, laptop, "Laptop", passkey=True)
    account = await Account.get(email="alice@example.com")
    await counted_once(rt, keys, phone)
    await gone_back(rt, keys, phone)
    flags = dict(await SecurityKey.filter(account_id=account.id).values_list("name", "flagged_at"))
    assert flags == {"Phone": T0, "Laptop": None}


async def test_two_gone_back_answers_at_once_flag_and_tell_once(
    app: Starlette, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    await counted_once(rt, keys, phone)
    real = key_sign_in._flag
    raced: list[bool] = []

    async def after_a_parallel_flag(*args: Any, **kwargs: Any) -> None:
        if not raced:
            raced.append(True)
            await gone_back(rt, keys, phone)  # read the key unflagged too, flags it first
        await real(*args, **kwargs)

    monkeypatch.setattr(key_sign_in, "_flag", after_a_parallel_flag)
    await gone_back(rt, keys, phone)
    assert raced == [True]
    told = await Notification.filter(account_id=account.id, kind="SECURITY_KEY_FLAGGED").count()
    assert told == 1
    events = SecurityEvent.filter(account_id=account.id, kind="SECURITY_KEY_FLAGGED")
    assert await events.count() == 1


async def test_a_key_flagged_while_its_answer_is_checked_is_refused(
    app: Starlette, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    await counted_once(rt, keys, phone)
    real = key_sign_in._verified_key
    raced: list[bool] = []

    async def flagged_meanwhile(*args: Any, **kwargs: Any) -> int:
        count = await real(*args, **kwargs)
        if not raced:
            raced.append(True)
            await gone_back(rt, keys, phone)  # a copy of the key answers: flagged
        return count

    monkeypatch.setattr(key_sign_in, "_verified_key", flagged_meanwhile)
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    answer = phone.get(started.options, keys.origin)
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=answer)
    assert raced == [True] and refused.value.field == "credential"
    key = await SecurityKey.get(account_id=account.id)
    assert key.flagged_at == T0 and key.sign_count == 1
    assert await Session.filter(account_id=account.id).count() == 2  # sign-up's, counted_once's


async def test_one_passkey_ceremony_used_twice_at_once_opens_one_session(
    app: Starlette, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    started = await key_sign_in.start_passkey(rt, PASSKEY_META)
    answer = phone.get(started.options, keys.origin)
    real = WebAuthnChallenge.get_or_none
    raced: list[bool] = []

    async def read_then_lose(*args: Any, **kwargs: Any) -> WebAuthnChallenge | None:
        ceremony = await real(*args, **kwargs)
        if not raced:  # both read it unused; the parallel one finishes first
            raced.append(True)
            await key_sign_in.finish_passkey(
                rt, PASSKEY_META, token=started.token, credential=answer
            )
        return ceremony

    monkeypatch.setattr(WebAuthnChallenge, "get_or_none", read_then_lose)
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.finish_passkey(rt, PASSKEY_META, token=started.token, credential=answer)
    assert raced == [True] and refused.value.field == "token"
    assert await Session.filter(account_id=account.id).count() == 2  # sign-up's, the winner's


async def test_a_passkey_sign_in_alerts_a_new_device_and_cancels_a_scheduled_recovery(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    keys, phone, account = await alice_with_passkey(api)
    scheduled = await RecoveryRequest.create(
        account_id=account.id,
        status=RecoveryStatus.SCHEDULED,
        open_for=account.id,
        created_at=T0,
        effective_at=T0 + timedelta(days=3),
    )
    await counted_once(rt, keys, phone)
    assert (await RecoveryRequest.get(id=scheduled.id)).status == RecoveryStatus.CANCELLED
    cancelled = await Notification.get(account_id=account.id, kind="RECOVERY_CANCELLED")
    assert cancelled.params == {"request_id": f"#{scheduled.id}", "reason": "SIGNED_IN"}
    # The passkey's browser had never signed in to the account: the owner is told.
    alerts = await Notification.filter(account_id=account.id, kind="NEW_SIGN_IN")
    assert [n.params for n in alerts] == [{"device": "unknown"}]


async def test_the_second_step_with_a_key_remembers_nothing_unless_asked(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    token = await api.sign_up("alice@example.com")
    await api.enable_two_factor(token)
    keys = Keys(api)
    key = SoftAuthenticator()
    await keys.register(token, key)
    challenge = await keys.challenge("alice@example.com")
    answer = key.get(challenge["securityKeyOptions"], keys.origin)
    off = replace(rt, settings=rt.settings.model_copy(update={"remember_device_days": 0}))
    with pytest.raises(InvalidInput) as refused:
        await key_sign_in.verify_second_step(
            off, PASSKEY_META, token=challenge["token"], credential=answer, remember_device=True
        )
    assert (refused.value.message_key, refused.value.field) == (
        "REMEMBER_DEVICE_OFF",
        "remember_device",
    )
    verified = await key_sign_in.verify_second_step(
        rt, PASSKEY_META, token=challenge["token"], credential=answer
    )
    assert verified.device_token is None
    assert not await RememberedDevice.exists()


async def test_the_second_step_takes_any_of_the_accounts_keys_without_verification(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    token = await api.sign_up("alice@example.com")
    await api.enable_two_factor(token)
    keys = Keys(api)
    first, second, stranger = SoftAuthenticator(), SoftAuthenticator(), SoftAuthenticator()
    await keys.register(token, first, "First")
    await keys.register(token, second, "Second")
    bob = await api.sign_up("bob@example.com")
    await keys.register(bob, stranger, "Bob's")
    # Another account's key: refused on the credential.
    challenge = await keys.challenge("alice@example.com")
    options = challenge["securityKeyOptions"]
    bobs_id = next(iter(stranger.credentials))
    foreign = stranger.get(options, keys.origin, credential_id=bobs_id)
    with pytest.raises(SecurityKeyRejected) as refused:
        await key_sign_in.verify_second_step(
            rt, PASSKEY_META, token=challenge["token"], credential=foreign
        )
    assert refused.value.field == "credential"
    # The second of two keys, without user verification (not asked at the second step).
    answer = second.get(options, keys.origin, user_verified=False)
    verified = await key_sign_in.verify_second_step(
        rt, PASSKEY_META, token=challenge["token"], credential=answer
    )
    assert verified.issued.account.email == "alice@example.com"
    used = await SecurityKey.get(name="Second")
    assert used.sign_count == 1 and (await SecurityKey.get(name="First")).sign_count == 0
