"""Security keys and passkeys through the real schema and app, answered by the software
authenticator of tests/soft_authenticator.py (checked against py_webauthn on its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from models import (
    Account,
    BackupCode,
    FailedAttempt,
    Notification,
    OutboxEmail,
    SecurityEvent,
    SecurityKey,
    SignInChallenge,
    WebAuthnChallenge,
)
from schema.global_id import to_global_id
from server import create_app
from services.clock import FrozenClock
from tests.conftest import make_settings
from tests.conftest import start as start_app
from tests.helpers import PASSWORD, Api, error_codes
from tests.key_client import FINISH as FINISH_QUERY
from tests.key_client import FINISH_PASSKEY as FINISH_PASSKEY_QUERY
from tests.key_client import REMOVE, RENAME, START, START_PASSKEY, STATUS, Keys
from tests.key_client import VERIFY_KEY as VERIFY_KEY_QUERY
from tests.soft_authenticator import (
    InvalidStateError,
    SoftAuthenticator,
    b64url,
    tamper_signature,
)
from tests.test_recovery import file_request, resolve, support_agent


@pytest.fixture
def keys(api: Api) -> Keys:
    return Keys(api)


async def events(email: str, kind: str) -> int:
    account = await Account.get(email=email)
    return await SecurityEvent.filter(account_id=account.id, kind=kind).count()


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
async def test_a_first_key_turns_two_factor_on_and_signs_in(api: Api, keys: Keys, alg: str) -> None:
    token = await api.sign_up("alice@example.com")
    key = SoftAuthenticator(alg)
    added = await keys.register(token, key, "My key")
    assert added["authenticator"]["kind"] == "SECURITY_KEY"
    assert added["authenticator"]["name"] == "My key"
    assert added["authenticator"]["passkey"] is False
    assert len(added["backupCodes"]) == 10
    assert added["account"]["twoFactor"] == {
        "enabled": True,
        "method": "SECURITY_KEY",
        "backupCodesRemaining": 10,
    }

    challenge = await keys.challenge("alice@example.com")
    assert challenge["methods"] == ["SECURITY_KEY", "BACKUP_CODE"]
    options = challenge["securityKeyOptions"]
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(c) for c in key.credentials]
    assert options["rpId"] == "localhost"
    verified = await keys.verify(challenge["token"], key.get(options, keys.origin))
    assert verified["errors"] == []
    assert verified["session"]["account"]["email"] == "alice@example.com"
    assert verified["usedBackupCode"] is False
    assert await events("alice@example.com", "SECURITY_KEY_USED") == 1
    status = (await api.data(STATUS, token=verified["session"]["token"]))["twoFactorStatus"]
    assert status["authenticators"][0]["lastUsedAt"] is not None


# ----------------------------------------------------------------- refusals, each counted


async def attempts_of(subject: str) -> int:
    return await FailedAttempt.filter(subject=subject).count()


REGISTRATION_CASES = {
    "wrong origin": {"origin": "http://evil.example"},
    "wrong relying party id": {"rp_id": "evil.example"},
    "another challenge": {"challenge": b64url(b"\x01" * 32)},
    "no user verification for a passkey": {"passkey": True, "user_verified": False},
    "a passkey that is not discoverable": {"passkey": True, "discoverable": False},
    "user not present": {"user_present": False},
}


@pytest.mark.parametrize("case", list(REGISTRATION_CASES))
async def test_a_registration_that_does_not_verify_is_rejected_and_counted(
    api: Api, keys: Keys, case: str
) -> None:
    token = await api.sign_up("alice@example.com")
    tweak = dict(REGISTRATION_CASES[case])
    passkey = bool(tweak.pop("passkey", False))
    origin = str(tweak.pop("origin", keys.origin))
    options = await keys.start(token, passkey=passkey)
    credential = SoftAuthenticator().create(options, origin, **tweak)
    refused = await keys.finish(token, credential, "Key")
    assert refused["errors"][0]["code"] == "SECURITY_KEY_REJECTED"
    assert refused["errors"][0]["field"] == ["input", "credential"]
    assert refused["authenticator"] is None
    account = await Account.get(email="alice@example.com")
    assert await attempts_of(f"security-key-registration:{account.id}") == 1
    assert await events("alice@example.com", "SECURITY_KEY_REJECTED") == 1
    assert await SecurityKey.all().count() == 0
    assert (await api.data(STATUS, token=token))["twoFactorStatus"]["enabled"] is False


async def test_a_registration_answer_counts_once_and_its_challenge_expires(
    api: Api, keys: Keys
) -> None:
    token = await api.sign_up("alice@example.com")
    options = await keys.start(token)
    credential = SoftAuthenticator().create(options, keys.origin)
    assert (await keys.finish(token, credential, "Key"))["errors"] == []
    # The same answer again: its challenge is spent.
    again = await keys.finish(token, credential, "Key")
    assert error_codes(again) == ["SECURITY_KEY_REJECTED"]
    # A challenge answered after its five minutes.
    late_options = await keys.start(token)
    api.clock.advance(5 * 60 + 1)
    late = await keys.finish(token, SoftAuthenticator().create(late_options, keys.origin), "Late")
    assert error_codes(late) == ["SECURITY_KEY_REJECTED"]
    assert await SecurityKey.all().count() == 1
    assert await events("alice@example.com", "SECURITY_KEY_REJECTED") == 2


async def test_the_password_is_asked_again_before_a_registration(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    payload = (
        await api.data(START, {"input": {"password": "not the password at all"}}, token=token)
    )["startSecurityKeyRegistration"]
    assert error_codes(payload) == ["INVALID_CREDENTIALS"]
    assert payload["registration"] is None
    assert await WebAuthnChallenge.all().count() == 0
    anonymous = await api.data(START, {"input": {"password": PASSWORD}})
    assert error_codes(anonymous["startSecurityKeyRegistration"]) == ["UNAUTHENTICATED"]


async def with_key(api: Api, keys: Keys, email: str, alg: str = "ES256") -> SoftAuthenticator:
    token = await api.sign_up(email)
    key = SoftAuthenticator(alg)
    await keys.register(token, key)
    return key


SIGN_IN_CASES = ["wrong origin", "wrong relying party id", "tampered signature", "not present"]


@pytest.mark.parametrize("case", SIGN_IN_CASES)
async def test_a_sign_in_answer_that_does_not_verify_is_rejected_and_counted(
    api: Api, keys: Keys, case: str
) -> None:
    key = await with_key(api, keys, "alice@example.com")
    challenge = await keys.challenge("alice@example.com")
    options = challenge["securityKeyOptions"]
    if case == "wrong origin":
        answer = key.get(options, "http://evil.example")
    elif case == "wrong relying party id":
        answer = key.get(options, keys.origin, rp_id="evil.example")
    elif case == "tampered signature":
        answer = tamper_signature(key.get(options, keys.origin))
    else:
        answer = key.get(options, keys.origin, user_present=False)
    refused = await keys.verify(challenge["token"], answer)
    assert error_codes(refused) == ["SECURITY_KEY_REJECTED"]
    assert refused["session"] is None
    account = await Account.get(email="alice@example.com")
    assert await attempts_of(f"second-factor:{account.id}") == 1
    assert await SignInChallenge.get(account_id=account.id).values_list("attempts", flat=True) == 1
    assert await events("alice@example.com", "SECURITY_KEY_REJECTED") == 1
    assert await events("alice@example.com", "SECOND_FACTOR_FAILED") == 1


async def test_another_accounts_key_does_not_answer(api: Api, keys: Keys) -> None:
    await with_key(api, keys, "alice@example.com")
    bobs = await with_key(api, keys, "bob@example.com")
    challenge = await keys.challenge("alice@example.com")
    bob_credential = next(iter(bobs.credentials))
    answer = bobs.get(challenge["securityKeyOptions"], keys.origin, credential_id=bob_credential)
    refused = await keys.verify(challenge["token"], answer)
    assert error_codes(refused) == ["SECURITY_KEY_REJECTED"]
    assert await events("alice@example.com", "SECURITY_KEY_REJECTED") == 1
    # Bob's key itself is untouched: it still signs Bob in.
    bob_challenge = await keys.challenge("bob@example.com")
    answer = bobs.get(bob_challenge["securityKeyOptions"], keys.origin)
    assert (await keys.verify(bob_challenge["token"], answer))["errors"] == []


async def test_an_answer_is_single_use(api: Api, keys: Keys) -> None:
    key = await with_key(api, keys, "alice@example.com")
    first = await keys.challenge("alice@example.com")
    answer = key.get(first["securityKeyOptions"], keys.origin)
    assert (await keys.verify(first["token"], answer))["errors"] == []
    # Again at the same challenge: it is spent.
    assert error_codes(await keys.verify(first["token"], answer)) == ["CHALLENGE_EXPIRED"]
    # At a new challenge: the answer names the old challenge.
    second = await keys.challenge("alice@example.com")
    assert error_codes(await keys.verify(second["token"], answer)) == ["SECURITY_KEY_REJECTED"]


async def test_five_refused_answers_spend_the_challenge(api: Api, keys: Keys) -> None:
    key = await with_key(api, keys, "alice@example.com")
    challenge = await keys.challenge("alice@example.com")
    options = challenge["securityKeyOptions"]
    for _ in range(5):
        bad = tamper_signature(key.get(options, keys.origin))
        assert error_codes(await keys.verify(challenge["token"], bad)) == ["SECURITY_KEY_REJECTED"]
    good = key.get(options, keys.origin)
    assert error_codes(await keys.verify(challenge["token"], good)) == ["CHALLENGE_EXPIRED"]


async def test_a_counter_that_goes_back_flags_the_key(api: Api, keys: Keys) -> None:
    key = await with_key(api, keys, "alice@example.com")
    first = await keys.challenge("alice@example.com")
    assert (await keys.verify(first["token"], key.get(first["securityKeyOptions"], keys.origin)))[
        "errors"
    ] == []
    stored = await SecurityKey.get()
    assert stored.sign_count == 1
    # A copy of the key that answers with the count the original had before.
    second = await keys.challenge("alice@example.com")
    cloned = key.get(second["securityKeyOptions"], keys.origin, sign_count=1)
    assert error_codes(await keys.verify(second["token"], cloned)) == ["SECURITY_KEY_REJECTED"]
    assert await events("alice@example.com", "SECURITY_KEY_FLAGGED") == 1
    account = await Account.get(email="alice@example.com")
    told = await Notification.filter(account_id=account.id, kind="SECURITY_KEY_FLAGGED")
    assert [n.params for n in told] == [{"name": "YubiKey 5C"}]
    flagged = await SecurityKey.get()
    assert flagged.flagged_at is not None
    assert flagged.sign_count == 1
    # From now on the key is refused, even with a count that moves forward, and not offered.
    third = key.get(second["securityKeyOptions"], keys.origin, sign_count=5)
    assert error_codes(await keys.verify(second["token"], third)) == ["SECURITY_KEY_REJECTED"]
    later = await keys.challenge("alice@example.com")
    assert later["methods"] == ["BACKUP_CODE"]
    assert later["securityKeyOptions"] is None


async def test_a_key_that_does_not_count_signs_in_again_and_again(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    key = SoftAuthenticator(counts=False)
    await keys.register(token, key)
    for _ in range(3):
        challenge = await keys.challenge("alice@example.com")
        answer = key.get(challenge["securityKeyOptions"], keys.origin)
        assert (await keys.verify(challenge["token"], answer))["errors"] == []
    assert (await SecurityKey.get()).sign_count == 0


# ----------------------------------------------------------------- passkeys


async def test_a_passkey_signs_in_without_a_password(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    phone = SoftAuthenticator()
    added = await keys.register(token, phone, "iPhone", passkey=True)
    assert added["authenticator"]["passkey"] is True
    started = await keys.start_passkey()
    assert started["options"]["allowCredentials"] == []
    assert started["options"]["userVerification"] == "required"
    signed_in = await keys.finish_passkey(
        started["token"], phone.get(started["options"], keys.origin)
    )
    assert signed_in["errors"] == []
    assert signed_in["session"]["account"]["email"] == "alice@example.com"
    assert await events("alice@example.com", "SECURITY_KEY_USED") == 1
    assert await events("alice@example.com", "SIGNED_IN") == 2  # signUp, then the passkey


PASSKEY_CASES = [
    "no user verification",
    "unknown credential",
    "token used twice",
    "expired",
    "a second-factor key",
    "tampered signature",
]


@pytest.mark.parametrize("case", PASSKEY_CASES)
async def test_a_passkey_sign_in_that_does_not_verify_is_rejected(
    api: Api, keys: Keys, case: str
) -> None:
    token = await api.sign_up("alice@example.com")
    phone = SoftAuthenticator()
    if case == "a second-factor key":
        # Discoverable, but registered as a second factor: it never signs in on its own.
        options = await keys.start(token)
        made = phone.create(options, keys.origin, discoverable=True)
        assert (await keys.finish(token, made, "YubiKey"))["errors"] == []
        stored = await SecurityKey.get()
        assert (stored.discoverable, stored.passkey) == (True, False)
    else:
        await keys.register(token, phone, "iPhone", passkey=True)
    started = await keys.start_passkey()
    options = started["options"]
    answer = phone.get(options, keys.origin)
    if case == "no user verification":
        answer = phone.get(options, keys.origin, user_verified=False)
    elif case == "unknown credential":
        await SecurityKey.all().delete()
    elif case == "token used twice":
        assert (await keys.finish_passkey(started["token"], answer))["errors"] == []
        answer = phone.get(options, keys.origin)
    elif case == "expired":
        api.clock.advance(5 * 60 + 1)
    elif case == "tampered signature":
        answer = tamper_signature(answer)
    refused = await keys.finish_passkey(started["token"], answer)
    assert error_codes(refused) == ["SECURITY_KEY_REJECTED"]
    assert refused["session"] is None
    # Counted against the client address (the test client's, whatever it is).
    assert await FailedAttempt.filter(subject__startswith="passkey:").count() == 1


async def test_unknown_and_wrong_passkeys_get_the_same_answer(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    phone = SoftAuthenticator()
    await keys.register(token, phone, "iPhone", passkey=True)
    started = await keys.start_passkey()
    wrong = await keys.finish_passkey(
        started["token"], tamper_signature(phone.get(started["options"], keys.origin))
    )
    stranger = SoftAuthenticator()
    other = await keys.start_passkey()
    stranger.create(
        {
            "challenge": b64url(b"x" * 32),
            "rp": {"id": "localhost", "name": "Verrou"},
            "user": {"id": b64url(b"u" * 32), "name": "eve", "displayName": "eve"},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
            "authenticatorSelection": {"residentKey": "required"},
        },
        keys.origin,
    )
    unknown = await keys.finish_passkey(other["token"], stranger.get(other["options"], keys.origin))
    assert wrong["errors"] == unknown["errors"]


# ----------------------------------------------------------------- several authenticators

FEED = "query { viewer { notifications(first: 20) { edges { node { kind message } } } } }"
NODE = "query N($id: ID!) { node(id: $id) { ... on Authenticator { name kind } } }"
CONFIRM = """
mutation C($code: String!) {
  confirmTwoFactor(input: {code: $code}) { backupCodes errors { code } }
}
"""


async def feed(api: Api, token: str) -> list[str]:
    edges = (await api.data(FEED, token=token))["viewer"]["notifications"]["edges"]
    return [edge["node"]["kind"] for edge in edges]


async def rename(api: Api, token: str, id_: str, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = (
        await api.data(RENAME, {"input": {"id": id_, "name": name}}, token=token)
    )["renameAuthenticator"]
    return payload


async def remove(
    api: Api, token: str, id_: str, *, confirm: bool = True, password: str = PASSWORD
) -> dict[str, Any]:
    variables = {"input": {"id": id_, "password": password, "confirm": confirm}}
    payload: dict[str, Any] = (await api.data(REMOVE, variables, token=token))[
        "removeAuthenticator"
    ]
    return payload


async def test_a_totp_app_and_keys_side_by_side(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    key = SoftAuthenticator()
    first = await keys.register(token, key, "YubiKey")
    codes = first["backupCodes"]
    # Adding the TOTP app while keys have 2FA on: no new codes, the old ones stay valid.
    setup = await api.start(token)
    secret = setup["setup"]["secret"]
    added = (await api.data(CONFIRM, {"code": api.code(secret)}, token=token))["confirmTwoFactor"]
    assert added == {"backupCodes": None, "errors": []}
    api.clock.advance(30)
    status = (await api.data(STATUS, token=token))["twoFactorStatus"]
    assert status["method"] == "TOTP"
    assert status["backupCodesRemaining"] == 10
    assert [(a["kind"], a["name"]) for a in status["authenticators"]] == [
        ("SECURITY_KEY", "YubiKey"),
        ("TOTP", "Application d'authentification"),  # the account's language
    ]
    assert (await feed(api, token))[:2] == ["AUTHENTICATOR_ADDED", "TWO_FACTOR_ENABLED"]
    challenge = await keys.challenge("alice@example.com")
    assert challenge["methods"] == ["TOTP", "SECURITY_KEY", "BACKUP_CODE"]
    # Either factor answers the challenge; a backup code of the first batch too.
    assert (await api.verify(challenge["token"], codes[0]))["errors"] == []

    key_id, app_id = (a["id"] for a in status["authenticators"])
    assert (await rename(api, token, app_id, "Phone"))["authenticator"]["name"] == "Phone"
    assert error_codes(await rename(api, token, key_id, "   ")) == ["INVALID_INPUT"]
    assert error_codes(await remove(api, token, app_id, confirm=False)) == ["CONFIRMATION_REQUIRED"]
    assert error_codes(await remove(api, token, app_id, password="wrong password!!")) == [
        "INVALID_CREDENTIALS"
    ]
    removed = await remove(api, token, app_id)
    assert removed["errors"] == []
    assert removed["account"]["twoFactor"]["method"] == "SECURITY_KEY"
    assert removed["account"]["twoFactor"]["authenticators"] == [{"name": "YubiKey"}]
    assert (await feed(api, token))[0] == "AUTHENTICATOR_REMOVED"
    # The last one: 2FA off, the backup codes gone.
    last = await remove(api, token, key_id)
    assert last["account"]["twoFactor"] == {
        "enabled": False,
        "method": None,
        "backupCodesRemaining": 0,
        "authenticators": [],
    }
    assert (await feed(api, token))[0] == "TWO_FACTOR_DISABLED"
    account = await Account.get(email="alice@example.com")
    assert await BackupCode.filter(account_id=account.id).count() == 0
    assert await events("alice@example.com", "AUTHENTICATOR_REMOVED") == 2
    assert (await api.sign_in("alice@example.com"))["session"] is not None


async def test_another_accounts_authenticators_are_out_of_reach(api: Api, keys: Keys) -> None:
    await with_key(api, keys, "bob@example.com")
    alice = await api.sign_up("alice@example.com")
    bob_key = await SecurityKey.get()
    bob_id = to_global_id("SecurityKey", bob_key.id)
    assert error_codes(await rename(api, alice, bob_id, "Mine")) == ["NOT_FOUND"]
    assert error_codes(await remove(api, alice, bob_id)) == ["NOT_FOUND"]
    assert (await api.data(NODE, {"id": bob_id}, token=alice))["node"] is None
    assert error_codes(await remove(api, alice, "not an id")) == ["NOT_FOUND"]
    untouched = await SecurityKey.get()
    assert untouched.name == "YubiKey 5C"


async def test_disabling_two_factor_removes_every_authenticator(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    await keys.register(token, SoftAuthenticator(), "One")
    await keys.register(token, SoftAuthenticator(), "Two", passkey=True)
    await keys.start(token)  # a registration left open
    enabled = await api.start(token)
    assert enabled["errors"] == []
    disabled = await api.data(
        "mutation D($password: String!) { disableTwoFactor(input: {password: $password, "
        "confirm: true}) { errors { code } } }",
        {"password": PASSWORD},
        token=token,
    )
    assert disabled["disableTwoFactor"]["errors"] == []
    assert await SecurityKey.all().count() == 0
    assert await WebAuthnChallenge.all().count() == 0
    assert await BackupCode.all().count() == 0
    status = (await api.data(STATUS, token=token))["twoFactorStatus"]
    assert status["enabled"] is False
    assert status["authenticators"] == []
    assert status["pendingSetup"] is False


async def test_ten_keys_at_most_and_existing_ones_excluded(api: Api, keys: Keys) -> None:
    token = await api.sign_up("alice@example.com")
    authenticators = [SoftAuthenticator() for _ in range(10)]
    for number, authenticator in enumerate(authenticators):
        await keys.register(token, authenticator, f"Key {number}")
    payload = (await api.data(START, {"input": {"password": PASSWORD}}, token=token))[
        "startSecurityKeyRegistration"
    ]
    assert error_codes(payload) == ["INVALID_INPUT"]
    assert "10" in payload["errors"][0]["message"]
    # Below the limit, the options name every key already there: the browser refuses to
    # register one of them twice.
    await remove(api, token, to_global_id("SecurityKey", (await SecurityKey.first()).id))
    options = await keys.start(token)
    excluded = {c["id"] for c in options["excludeCredentials"]}
    assert excluded == {b64url(c) for a in authenticators[1:] for c in a.credentials}
    with pytest.raises(InvalidStateError):
        authenticators[1].create(options, keys.origin)


async def test_keys_need_a_host_name(
    tmp_path: Path, db_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(db_path, tmp_path / "var", public_url="http://192.0.2.10:8000")
    async for client in start_app(create_app(settings, clock=clock)):
        assert "security keys and passkeys are off" in caplog.text
        api = Api(client, clock, settings.port)
        token = await api.sign_up("alice@example.com")
        payload = (await api.data(START, {"input": {"password": PASSWORD}}, token=token))[
            "startSecurityKeyRegistration"
        ]
        assert error_codes(payload) == ["INVALID_INPUT"]
        assert (
            "host name" in payload["errors"][0]["message"]
            or "nom d'hôte" in (payload["errors"][0]["message"])
        )
        passkey = (await api.data(START_PASSKEY))["startPasskeySignIn"]
        assert error_codes(passkey) == ["INVALID_INPUT"]


async def test_webauthn_origins_adds_an_origin(
    tmp_path: Path, db_path: Path, clock: FrozenClock
) -> None:
    app_origin = "android:apk-key-hash:abc123"
    settings = make_settings(
        db_path, tmp_path / "var", public_url="https://verrou.example", webauthn_origins=app_origin
    )
    async for client in start_app(create_app(settings, clock=clock)):
        api = Api(client, clock, settings.port)
        keys = Keys(api, 0)
        token = await api.sign_up("alice@example.com")
        options = await keys.start(token)
        assert options["rp"]["id"] == "verrou.example"
        key = SoftAuthenticator()
        from_app = await keys.finish(token, key.create(options, app_origin), "App key")
        assert from_app["errors"] == []
        options = await keys.start(token)
        from_web = await keys.finish(
            token, SoftAuthenticator().create(options, "https://verrou.example"), "Web key"
        )
        assert from_web["errors"] == []
        options = await keys.start(token)
        elsewhere = await keys.finish(
            token, SoftAuthenticator().create(options, "https://other.example"), "Other"
        )
        assert error_codes(elsewhere) == ["SECURITY_KEY_REJECTED"]


async def test_adding_and_removing_keys_emails_the_account(
    tmp_path: Path, db_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var")
    async for client in start_app(create_app(settings, clock=clock)):
        api = Api(client, clock, settings.port)
        keys = Keys(api)
        token = await api.sign_up("alice@example.com", locale="EN")
        await keys.register(token, SoftAuthenticator(), "First key")
        second = await keys.register(token, SoftAuthenticator(), "Second key")
        await remove(api, token, second["authenticator"]["id"])
        subjects = [
            row.subject
            for row in await OutboxEmail.filter(recipient="alice@example.com").order_by("id")
        ]
        assert subjects == [
            "Two-factor authentication turned on for your account",
            "A security key was added to your account",
            "A security key was removed from your account",
        ]
        bodies = [row.message for row in await OutboxEmail.all().order_by("id")]
        assert "First key" in bodies[0]
        assert "Second key" in bodies[1]
        assert "Second key" in bodies[2]


async def test_an_approved_recovery_removes_every_key(api: Api, keys: Keys, app: Starlette) -> None:
    """Lost-device recovery covers keys: the customer lost the key, support approves."""
    await with_key(api, keys, "alice@example.com")
    await with_key(api, keys, "bob@example.com")
    agent = await support_agent(api, app)
    request_id = await file_request(api, "alice@example.com")
    assert (await resolve(api, agent, request_id, "APPROVE"))["errors"] == []
    alice = await Account.get(email="alice@example.com")
    assert alice.two_factor_enabled_at is None
    assert await SecurityKey.filter(account_id=alice.id).count() == 0
    assert await BackupCode.filter(account_id=alice.id).count() == 0
    # Bob's key is his own business.
    bob = await Account.get(email="bob@example.com")
    assert await SecurityKey.filter(account_id=bob.id).count() == 1
    assert (await api.sign_in("alice@example.com"))["session"] is not None


MALFORMED: list[object] = [
    None,
    "",
    "not json",
    "[]",
    42,
    [],
    {},
    {"id": "x"},
    {"id": "AA", "rawId": "AA", "type": "public-key", "response": 5},
    {"id": "AA", "rawId": "AA", "type": "public-key", "response": {}},
    {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "!!"}},
    {
        "id": "AA",
        "rawId": "AA",
        "type": "public-key",
        "response": {
            "clientDataJSON": b64url(b'{"type": 1, "challenge": [], "origin": null}'),
            "attestationObject": "AA",
            "authenticatorData": "AA",
            "signature": "AA",
        },
    },
    {"id": "A" * 5000, "rawId": "A" * 5000, "type": "public-key", "response": {}},
]


@pytest.mark.parametrize("credential", MALFORMED, ids=range(len(MALFORMED)))
async def test_a_malformed_credential_is_a_rejected_key_never_a_server_error(
    api: Api, keys: Keys, credential: object
) -> None:
    token = await api.sign_up("alice@example.com")
    await keys.start(token)
    registering = await api.gql(
        FINISH_QUERY, {"input": {"credential": credential, "name": "Key"}}, token=token
    )
    await keys.register(token, SoftAuthenticator())
    challenge = await keys.challenge("alice@example.com")
    signing_in = await api.gql(
        VERIFY_KEY_QUERY,
        {"input": {"challengeToken": challenge["token"], "credential": credential}},
    )
    started = await keys.start_passkey()
    passwordless = await api.gql(
        FINISH_PASSKEY_QUERY, {"input": {"token": started["token"], "credential": credential}}
    )
    for body, field in (
        (registering, "finishSecurityKeyRegistration"),
        (signing_in, "verifySignInWithSecurityKey"),
        (passwordless, "finishPasskeySignIn"),
    ):
        if credential is None:  # a null for JSON! is the client's GraphQL error
            assert body["errors"][0]["extensions"]["code"] != "INTERNAL_SERVER_ERROR"
            continue
        assert "errors" not in body, body
        assert error_codes(body["data"][field]) == ["SECURITY_KEY_REJECTED"], body
