"""The software authenticator, checked against py_webauthn itself (no Verrou server involved).

What py_webauthn accepts from it, the server will accept; what py_webauthn refuses here, the
server's tests can send to prove the server refuses it too. Each refusal is matched on its
message, so a response refused for some other reason (a malformed one) would not pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    options_to_json_dict,
    parse_attestation_object,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from tests.soft_authenticator import (
    InvalidStateError,
    NotAllowedError,
    NotSupportedError,
    SoftAuthenticator,
    b64url,
    from_b64url,
    tamper_signature,
)

RP_ID = "localhost"
ORIGIN = "http://localhost:8000"
ALGS = ["ES256", "RS256", "EdDSA"]


@dataclass
class Registered:
    authenticator: SoftAuthenticator
    credential_id: bytes
    user_id: bytes
    verified: VerifiedRegistration


def registration_options(
    user_id: bytes = b"user-1",
    *,
    exclude: Sequence[bytes] = (),
    resident_key: ResidentKeyRequirement | None = None,
    algs: list[COSEAlgorithmIdentifier] | None = None,
) -> tuple[dict, bytes]:
    options = generate_registration_options(
        rp_id=RP_ID,
        rp_name="Verrou",
        user_id=user_id,
        user_name="ada@example.com",
        exclude_credentials=[PublicKeyCredentialDescriptor(id=id_) for id_ in exclude],
        authenticator_selection=(
            AuthenticatorSelectionCriteria(resident_key=resident_key) if resident_key else None
        ),
        supported_pub_key_algs=algs,
    )
    return options_to_json_dict(options), options.challenge


def authentication_options(allow: Sequence[bytes] = ()) -> tuple[dict, bytes]:
    options = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=id_) for id_ in allow],
    )
    return options_to_json_dict(options), options.challenge


def register(authenticator: SoftAuthenticator, user_id: bytes, **create_kwargs: Any) -> Registered:
    options, challenge = registration_options(user_id)
    response = authenticator.create(options, ORIGIN, **create_kwargs)
    verified = verify_registration_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )
    return Registered(authenticator, verified.credential_id, user_id, verified)


@pytest.fixture(scope="module", params=ALGS)
def pair(request: pytest.FixtureRequest) -> tuple[Registered, Registered]:
    """Two credentials of one authenticator per algorithm, made once per module (RSA is slow)."""
    authenticator = SoftAuthenticator(request.param)
    first = register(authenticator, b"user-1", backup_eligible=True, backed_up=True)
    second = register(authenticator, b"user-2")
    return first, second


@pytest.fixture
def registered(pair: tuple[Registered, Registered]) -> Registered:
    return pair[0]


def sign_in(
    registered: Registered,
    *,
    origin: str = ORIGIN,
    public_key: bytes | None = None,
    require_user_verification: bool = False,
    transform: Callable[[dict], dict] = lambda response: response,
    **get_kwargs: Any,
) -> VerifiedAuthentication:
    """Ask the authenticator for an assertion of this credential and let py_webauthn verify it."""
    options, challenge = authentication_options([registered.credential_id])
    current = registered.authenticator.credentials[registered.credential_id].sign_count
    response = registered.authenticator.get(options, origin, **get_kwargs)
    return verify_authentication_response(
        credential=transform(response),
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=public_key or registered.verified.credential_public_key,
        credential_current_sign_count=current,
        require_user_verification=require_user_verification,
    )


# Registration -----------------------------------------------------------------------------------


def test_registration_is_accepted_with_the_key_count_and_flags_it_was_made_with(
    registered: Registered,
) -> None:
    credential = registered.authenticator.credentials[registered.credential_id]
    verified = registered.verified
    assert verified.credential_id == credential.credential_id
    assert 16 <= len(verified.credential_id) <= 32
    assert verified.credential_public_key == credential.cose_public_key
    # The COSE key decodes to the very public key of the credential's private key.
    decoded = decoded_public_key_to_cryptography(
        decode_credential_public_key(verified.credential_public_key)
    )
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert decoded.public_bytes(*spki) == credential.private_key.public_key().public_bytes(*spki)
    assert verified.sign_count == 0
    assert verified.user_verified is True
    assert verified.credential_backed_up is True
    assert verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert verified.fmt == "none"
    assert verified.aaguid == "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("user_verified", "backup_eligible", "backed_up", "device_type"),
    [
        (False, False, False, CredentialDeviceType.SINGLE_DEVICE),
        (True, True, False, CredentialDeviceType.MULTI_DEVICE),
    ],
)
def test_registration_reports_the_flags_as_set(
    user_verified: bool, backup_eligible: bool, backed_up: bool, device_type: str
) -> None:
    authenticator = SoftAuthenticator("EdDSA", aaguid=bytes(range(16)))
    verified = register(
        authenticator,
        b"user-1",
        user_verified=user_verified,
        backup_eligible=backup_eligible,
        backed_up=backed_up,
    ).verified
    assert verified.user_verified is user_verified
    assert verified.credential_backed_up is backed_up
    assert verified.credential_device_type == device_type
    assert verified.aaguid == "00010203-0405-0607-0809-0a0b0c0d0e0f"


def test_registration_is_webauthn_json() -> None:
    options, _ = registration_options(b"user-1")
    response = SoftAuthenticator().create(options, ORIGIN)
    assert response["id"] == response["rawId"]
    assert response["type"] == "public-key"
    assert response["authenticatorAttachment"] == "cross-platform"
    assert response["response"]["transports"] == ["usb"]
    assert response["clientExtensionResults"] == {}
    for field in ("clientDataJSON", "attestationObject"):
        assert "=" not in response["response"][field]
    assert "=" not in response["id"]
    client_data = from_b64url(response["response"]["clientDataJSON"])
    assert client_data == (
        b'{"type":"webauthn.create","challenge":"'
        + options["challenge"].encode()
        + b'","origin":"http://localhost:8000","crossOrigin":false}'
    )
    attestation = parse_attestation_object(from_b64url(response["response"]["attestationObject"]))
    assert attestation.fmt == "none"
    assert attestation.auth_data.flags.at is True
    assert attestation.auth_data.flags.up is True


@pytest.mark.parametrize(
    ("create_kwargs", "verify_kwargs", "match"),
    [
        ({"origin": "http://evil.example"}, {}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, {}, "Unexpected RP ID hash"),
        ({"challenge": b64url(b"another challenge")}, {}, "challenge was not expected"),
        ({"user_present": False}, {}, "User presence was required"),
        ({"user_verified": False}, {"require_user_verification": True}, "User verification"),
        ({"client_data_type": "webauthn.get"}, {}, "Unexpected client data type"),
    ],
)
def test_py_webauthn_refuses_a_bad_registration(
    create_kwargs: dict, verify_kwargs: dict, match: str
) -> None:
    options, challenge = registration_options(b"user-1")
    create_kwargs = dict(create_kwargs)
    origin = create_kwargs.pop("origin", ORIGIN)
    response = SoftAuthenticator().create(options, origin, **create_kwargs)
    with pytest.raises(InvalidRegistrationResponse, match=match):
        verify_registration_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            **verify_kwargs,
        )


def test_an_authenticator_refuses_to_register_twice_for_excluded_credentials() -> None:
    authenticator = SoftAuthenticator()
    first = register(authenticator, b"user-1")
    options, _ = registration_options(b"user-1", exclude=[first.credential_id])
    with pytest.raises(InvalidStateError):
        authenticator.create(options, ORIGIN)
    assert list(authenticator.credentials) == [first.credential_id]
    # Another authenticator holds none of them, so it registers.
    SoftAuthenticator().create(options, ORIGIN)


def test_an_authenticator_refuses_when_its_algorithm_is_not_offered() -> None:
    options, _ = registration_options(algs=[COSEAlgorithmIdentifier.ECDSA_SHA_256])
    with pytest.raises(NotSupportedError):
        SoftAuthenticator("EdDSA").create(options, ORIGIN)
    SoftAuthenticator("ES256").create(options, ORIGIN)


# Authentication ---------------------------------------------------------------------------------


def test_assertions_are_accepted_with_increasing_sign_counts(registered: Registered) -> None:
    credential = registered.authenticator.credentials[registered.credential_id]
    for _ in range(2):
        before = credential.sign_count
        verified = sign_in(registered, require_user_verification=True)
        assert verified.credential_id == registered.credential_id
        assert verified.new_sign_count == before + 1 == credential.sign_count
        assert verified.user_verified is True
        assert verified.credential_backed_up is True


def test_an_assertion_is_webauthn_json_naming_its_user(registered: Registered) -> None:
    options, _ = authentication_options([registered.credential_id])
    response = registered.authenticator.get(options, ORIGIN)
    assert response["id"] == response["rawId"] == b64url(registered.credential_id)
    assert response["type"] == "public-key"
    assert response["clientExtensionResults"] == {}
    assert response["response"]["userHandle"] == b64url(registered.user_id)
    for field in ("clientDataJSON", "authenticatorData", "signature"):
        assert "=" not in response["response"][field]


def test_py_webauthn_refuses_a_tampered_signature(registered: Registered) -> None:
    with pytest.raises(InvalidAuthenticationResponse, match="Could not verify"):
        sign_in(registered, transform=tamper_signature)
    sign_in(registered)


def test_py_webauthn_refuses_a_signature_by_another_credentials_key(
    pair: tuple[Registered, Registered],
) -> None:
    first, second = pair
    with pytest.raises(InvalidAuthenticationResponse, match="Could not verify"):
        sign_in(second, public_key=first.verified.credential_public_key)
    sign_in(second)


@pytest.mark.parametrize(
    ("get_kwargs", "match"),
    [
        ({"origin": "http://evil.example"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
        ({"challenge": b64url(b"another challenge")}, "challenge was not expected"),
        ({"user_present": False}, "User was not present"),
        (
            {"user_verified": False, "require_user_verification": True},
            "User verification is required",
        ),
        ({"client_data_type": "webauthn.create"}, "Unexpected client data type"),
        ({"sign_count": 0}, "was not greater than current count"),
    ],
)
def test_py_webauthn_refuses_a_bad_assertion(
    registered: Registered, get_kwargs: dict[str, Any], match: str
) -> None:
    sign_in(registered)  # accepted as it comes; and the count is above 0, so a 0 goes back
    with pytest.raises(InvalidAuthenticationResponse, match=match):
        sign_in(registered, **get_kwargs)


def test_a_given_sign_count_leaves_the_counter_alone() -> None:
    authenticator = SoftAuthenticator()
    registered = register(authenticator, b"user-1")
    options, _ = authentication_options([registered.credential_id])
    response = authenticator.get(options, ORIGIN, sign_count=7)
    auth_data = from_b64url(response["response"]["authenticatorData"])
    assert int.from_bytes(auth_data[33:37], "big") == 7
    assert authenticator.credentials[registered.credential_id].sign_count == 0


def test_an_authenticator_without_a_counter_always_reports_zero() -> None:
    authenticator = SoftAuthenticator("ES256", counts=False)
    registered = register(authenticator, b"user-1")
    assert registered.verified.sign_count == 0
    for _ in range(3):
        options, challenge = authentication_options([registered.credential_id])
        verified = verify_authentication_response(
            credential=authenticator.get(options, ORIGIN),
            expected_challenge=challenge,
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            credential_public_key=registered.verified.credential_public_key,
            credential_current_sign_count=0,
        )
        assert verified.new_sign_count == 0


# Passkeys (discoverable credentials) ------------------------------------------------------------


def test_a_passkey_signs_in_without_allow_credentials_and_names_its_user() -> None:
    authenticator = SoftAuthenticator("ES256", counts=False)
    register(authenticator, b"not-a-passkey")  # not discoverable: never picked below
    options, challenge = registration_options(
        b"user-7", resident_key=ResidentKeyRequirement.REQUIRED
    )
    options["extensions"] = {"credProps": True}
    created = authenticator.create(options, ORIGIN, backup_eligible=True, backed_up=True)
    assert created["clientExtensionResults"] == {"credProps": {"rk": True}}
    verified = verify_registration_response(
        credential=created,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )

    options, challenge = authentication_options()
    assert "allowCredentials" not in options or options["allowCredentials"] == []
    response = authenticator.get(options, ORIGIN)
    assert from_b64url(response["rawId"]) == verified.credential_id
    assert from_b64url(response["response"]["userHandle"]) == b"user-7"
    result = verify_authentication_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=verified.credential_public_key,
        credential_current_sign_count=0,
    )
    assert result.credential_backed_up is True

    anonymous = authenticator.get(options, ORIGIN, with_user_handle=False)
    assert anonymous["response"]["userHandle"] is None


def test_discoverable_follows_resident_key_unless_told() -> None:
    authenticator = SoftAuthenticator()
    for resident_key, expected in [
        (ResidentKeyRequirement.PREFERRED, True),
        (ResidentKeyRequirement.DISCOURAGED, False),
        (None, False),
    ]:
        options, _ = registration_options(resident_key=resident_key)
        options["extensions"] = {"credProps": True}
        created = authenticator.create(options, ORIGIN)
        assert created["clientExtensionResults"]["credProps"]["rk"] is expected
        assert authenticator.credentials[from_b64url(created["rawId"])].discoverable is expected
    options, _ = registration_options(resident_key=ResidentKeyRequirement.REQUIRED)
    created = authenticator.create(options, ORIGIN, discoverable=False)
    assert authenticator.credentials[from_b64url(created["rawId"])].discoverable is False


def test_an_authenticator_holding_none_of_the_credentials_refuses() -> None:
    authenticator = SoftAuthenticator()
    register(authenticator, b"user-1")  # not discoverable
    stranger = register(SoftAuthenticator(), b"user-2")
    with pytest.raises(NotAllowedError):
        authenticator.get(authentication_options([stranger.credential_id])[0], ORIGIN)
    with pytest.raises(NotAllowedError):
        authenticator.get(authentication_options()[0], ORIGIN)
    with pytest.raises(NotAllowedError):
        authenticator.get(authentication_options()[0], ORIGIN, credential_id=b"unknown")


def test_client_data_is_compact_json_in_the_browser_order() -> None:
    authenticator = SoftAuthenticator()
    registered = register(authenticator, b"user-1")
    options, _ = authentication_options([registered.credential_id])
    response = authenticator.get(options, ORIGIN)
    client_data = from_b64url(response["response"]["clientDataJSON"])
    assert list(json.loads(client_data)) == ["type", "challenge", "origin", "crossOrigin"]
    assert b" " not in client_data
    assert json.loads(client_data)["challenge"] == options["challenge"]
