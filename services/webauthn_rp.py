"""Verrou as a WebAuthn relying party: the options it sends and the answers it checks.

A thin layer over py_webauthn (`webauthn` on PyPI), which builds the options and verifies
registrations and assertions. What it adds: the relying party (the host of PUBLIC_URL, its
origin and WEBAUTHN_ORIGINS), the challenge read out of the answer so it can be looked up by
its digest (challenges are stored hashed), a sign-count rule that runs only after the
signature is verified, and one refusal, `SecurityKeyRejected`, for anything that does not
verify: the client learns nothing about which check failed.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import webauthn
from webauthn.helpers import (
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from services.errors import InvalidInput, SecurityKeyRejected
from services.settings import Settings

logger = logging.getLogger("verrou.webauthn")

# ES256 first (every authenticator has it), then EdDSA, then RS256 (Windows Hello).
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}
# A credential id is at most 1023 bytes; its base64url is at most 1364 characters.
CREDENTIAL_ID_MAX = 1364


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origins: list[str]


def relying_party(settings: Settings) -> RelyingParty:
    """The relying party of this server, or InvalidInput when keys cannot work here."""
    rp_id = settings.webauthn_rp_id
    if rp_id is None:
        # Browsers refuse an IP address as relying party id.
        raise InvalidInput("SECURITY_KEYS_NEED_HOST_NAME")
    return RelyingParty(rp_id, settings.totp_issuer, settings.webauthn_origin_list)


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def challenge_digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def credential_digest(raw_id: bytes) -> str:
    return hashlib.sha256(raw_id).hexdigest()


def new_user_handle() -> str:
    """A random user.id: nothing about the account (not even its number) leaves with it."""
    return bytes_to_base64url(secrets.token_bytes(32))


@dataclass(frozen=True)
class KnownCredential:
    credential_id: str  # base64url
    transports: list[str]


def _descriptors(credentials: list[KnownCredential]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=webauthn.base64url_to_bytes(known.credential_id),
            transports=[AuthenticatorTransport(t) for t in known.transports if t in _TRANSPORTS]
            or None,
        )
        for known in credentials
    ]


def registration_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    user_handle: str,
    user_name: str,
    display_name: str,
    exclude: list[KnownCredential],
    passkey: bool,
    timeout_seconds: int,
) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions in WebAuthn JSON form."""
    requirement = (
        UserVerificationRequirement.REQUIRED if passkey else UserVerificationRequirement.DISCOURAGED
    )
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=webauthn.base64url_to_bytes(user_handle),
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=timeout_seconds * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=(
                ResidentKeyRequirement.REQUIRED if passkey else ResidentKeyRequirement.DISCOURAGED
            ),
            user_verification=requirement,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=ALGORITHMS,
    )
    as_json = options_to_json_dict(options)
    # credProps: the browser says whether the credential it made is discoverable.
    as_json["extensions"] = {"credProps": True}
    return as_json


def authentication_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    allow: list[KnownCredential],
    user_verification: bool,
    timeout_seconds: int,
) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions in WebAuthn JSON form; `allow` empty for a passkey."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=timeout_seconds * 1000,
        allow_credentials=_descriptors(allow),
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user_verification
            else UserVerificationRequirement.DISCOURAGED
        ),
    )
    return options_to_json_dict(options)


def _as_object(credential: object) -> dict[str, Any]:
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except ValueError:
            raise SecurityKeyRejected(field="credential") from None
    if not isinstance(credential, dict):
        raise SecurityKeyRejected(field="credential")
    return credential


@dataclass(frozen=True)
class Answer:
    """A registration or assertion as received, before verification: the challenge its
    client data names (to find the stored one by digest) and the credential id."""

    credential: dict[str, Any]
    challenge: bytes
    raw_id: bytes


def read_answer(credential: object, *, registration: bool) -> Answer:
    """Parse what the browser sent; anything malformed is a rejected key, not a crash."""
    payload = _as_object(credential)
    try:
        parsed = (
            parse_registration_credential_json(payload)
            if registration
            else parse_authentication_credential_json(payload)
        )
        if len(parsed.id) > CREDENTIAL_ID_MAX:
            raise SecurityKeyRejected(field="credential")
        client_data = parse_client_data_json(bytes(parsed.response.client_data_json))
    except (WebAuthnException, binascii.Error, ValueError, TypeError, KeyError) as exc:
        logger.info("security key answer refused: malformed (%s)", type(exc).__name__)
        raise SecurityKeyRejected(field="credential") from None
    return Answer(payload, bytes(client_data.challenge), bytes(parsed.raw_id))


@dataclass(frozen=True)
class NewCredential:
    credential_id: str
    credential_digest: str
    public_key: str
    sign_count: int
    transports: list[str]
    discoverable: bool
    user_verified: bool
    backed_up: bool
    aaguid: str


def _check_challenge(answer: Answer, expected_digest: str) -> None:
    """The challenge the client data names must be the one stored (as its digest)."""
    if not hmac.compare_digest(challenge_digest(answer.challenge), expected_digest):
        logger.info("security key answer refused: not this ceremony's challenge")
        raise SecurityKeyRejected(field="credential")


def verify_registration(
    rp: RelyingParty, answer: Answer, *, expected_digest: str, require_user_verification: bool
) -> NewCredential:
    _check_challenge(answer, expected_digest)
    try:
        verified = webauthn.verify_registration_response(
            credential=answer.credential,
            expected_challenge=answer.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origins,
            require_user_verification=require_user_verification,
            supported_pub_key_algs=ALGORITHMS,
        )
    except Exception as exc:
        logger.info("security key registration refused: %s", type(exc).__name__)
        raise SecurityKeyRejected(field="credential") from None
    response = answer.credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    extensions = answer.credential.get("clientExtensionResults")
    cred_props = extensions.get("credProps") if isinstance(extensions, dict) else None
    resident = cred_props.get("rk") if isinstance(cred_props, dict) else None
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        credential_digest=credential_digest(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=sorted(
            {t for t in transports if isinstance(t, str) and t in _TRANSPORTS}
            if isinstance(transports, list)
            else set()
        ),
        # Without credProps the browser did not say: only a passkey request makes one for sure.
        discoverable=resident if isinstance(resident, bool) else require_user_verification,
        user_verified=verified.user_verified,
        backed_up=verified.credential_backed_up,
        aaguid=verified.aaguid,
    )


@dataclass(frozen=True)
class Assertion:
    sign_count: int
    user_verified: bool
    backed_up: bool


def verify_assertion(
    rp: RelyingParty,
    answer: Answer,
    *,
    expected_digest: str,
    public_key: str,
    require_user_verification: bool,
) -> Assertion:
    """Origin, RP ID hash, challenge, user presence (and verification), signature. The sign
    count is left to `counter_went_back`, after the signature proved the key answered."""
    _check_challenge(answer, expected_digest)
    try:
        verified = webauthn.verify_authentication_response(
            credential=answer.credential,
            expected_challenge=answer.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origins,
            credential_public_key=webauthn.base64url_to_bytes(public_key),
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except Exception as exc:
        logger.info("security key assertion refused: %s", type(exc).__name__)
        raise SecurityKeyRejected(field="credential") from None
    return Assertion(verified.new_sign_count, verified.user_verified, verified.credential_backed_up)


def counter_went_back(stored: int, received: int) -> bool:
    """WebAuthn §6.1.1: a key that counts must report more than last time. Keys that never
    count (0 and 0) are not held to it."""
    return (stored > 0 or received > 0) and received <= stored


def user_handle_of(answer: Answer) -> str | None:
    response = answer.credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    return handle if isinstance(handle, str) and handle else None
