"""A software WebAuthn authenticator, so the tests can register and use security keys and passkeys.

It answers what a browser's `navigator.credentials.create()` and `.get()` return, in the WebAuthn
JSON form (`PublicKeyCredential.toJSON()`, @simplewebauthn/browser): every binary field is
base64url without padding. It plays the browser's part too (clientDataJSON, the origin), and
each keyword argument that departs from the default simulates one thing a hostile or broken client
could send: another origin, another RP ID, another challenge, no user presence or verification,
the other ceremony's clientData type, a sign count that went backwards.

Attestation is always "none": the tests check what the server does with a credential, not
which vendor made it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

# COSE algorithm identifiers (IANA "COSE Algorithms").
# ES512 (P-521): an algorithm Verrou neither offers nor accepts, for the tests that say so.
COSE_ALGORITHMS = {"ES256": -7, "RS256": -257, "EdDSA": -8, "ES512": -36}
# With no pubKeyCredParams at all, a client falls back to these (WebAuthn §5.1.3 step 10).
DEFAULT_COSE_ALGORITHMS = (-7, -257)

# authenticatorData flag bits (WebAuthn §6.1).
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


class AuthenticatorError(Exception):
    """The authenticator (or the browser in front of it) refused the ceremony."""

    dom_exception = "NotAllowedError"


class InvalidStateError(AuthenticatorError):
    """A credential of this authenticator is in excludeCredentials: it is already registered."""

    dom_exception = "InvalidStateError"


class NotSupportedError(AuthenticatorError):
    """None of pubKeyCredParams is the algorithm this authenticator signs with."""

    dom_exception = "NotSupportedError"


class NotAllowedError(AuthenticatorError):
    """The authenticator holds none of the credentials asked for."""


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """A credential the authenticator holds, keyed by its id in `SoftAuthenticator.credentials`."""

    credential_id: bytes
    alg: str
    private_key: PrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int
    discoverable: bool
    backup_eligible: bool
    backed_up: bool

    @property
    def cose_public_key(self) -> bytes:
        """The public key as a COSE_Key in CBOR, as it appears in the attested credential data."""
        public = self.private_key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            p521 = isinstance(public.curve, ec.SECP521R1)
            size = 66 if p521 else 32
            cose: dict[int, Any] = {
                1: 2,
                3: COSE_ALGORITHMS[self.alg],
                -1: 3 if p521 else 1,  # the COSE curve: P-521 or P-256
                -2: numbers.x.to_bytes(size, "big"),
                -3: numbers.y.to_bytes(size, "big"),
            }
        elif isinstance(public, rsa.RSAPublicKey):
            rsa_numbers = public.public_numbers()
            cose = {
                1: 3,
                3: -257,
                -1: _unsigned_bytes(rsa_numbers.n),
                -2: _unsigned_bytes(rsa_numbers.e),
            }
        else:
            cose = {1: 1, 3: -8, -1: 6, -2: public.public_bytes_raw()}
        return cbor2.dumps(cose)

    def sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            digest = hashes.SHA512() if self.alg == "ES512" else hashes.SHA256()
            return key.sign(data, ec.ECDSA(digest))  # DER-encoded, as WebAuthn wants
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(data)


class SoftAuthenticator:
    """One authenticator holding credentials of one algorithm, for any number of RPs and users."""

    def __init__(
        self, alg: str = "ES256", *, counts: bool = True, aaguid: bytes = bytes(16)
    ) -> None:
        if alg not in COSE_ALGORITHMS:
            raise ValueError(f"alg must be one of {sorted(COSE_ALGORITHMS)}, not {alg!r}")
        if len(aaguid) != 16:
            raise ValueError("an AAGUID is 16 bytes")
        self.alg = alg
        self.counts = counts
        self.aaguid = aaguid
        self.credentials: dict[bytes, Credential] = {}

    def create(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        user_verified: bool = True,
        user_present: bool = True,
        rp_id: str | None = None,
        discoverable: bool | None = None,
        backup_eligible: bool = False,
        backed_up: bool = False,
        client_data_type: str = "webauthn.create",
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """Make a credential from PublicKeyCredentialCreationOptions JSON, as create() would."""
        for excluded in options.get("excludeCredentials") or []:
            if from_b64url(excluded["id"]) in self.credentials:
                raise InvalidStateError(
                    "a credential in excludeCredentials is on this authenticator"
                )
        offered = [param["alg"] for param in options.get("pubKeyCredParams") or []]
        if COSE_ALGORITHMS[self.alg] not in (offered or DEFAULT_COSE_ALGORITHMS):
            raise NotSupportedError(f"pubKeyCredParams {offered} leave out {self.alg}")

        selection = options.get("authenticatorSelection") or {}
        if discoverable is None:
            discoverable = selection.get("residentKey") in ("required", "preferred") or bool(
                selection.get("requireResidentKey")
            )
        rp_id = options["rp"]["id"] if rp_id is None else rp_id
        credential = Credential(
            credential_id=secrets.token_bytes(16 + secrets.randbelow(17)),
            alg=self.alg,
            private_key=_generate_key(self.alg),
            rp_id=rp_id,
            user_handle=from_b64url(options["user"]["id"]),
            sign_count=0,
            discoverable=discoverable,
            backup_eligible=backup_eligible,
            backed_up=backed_up,
        )
        self.credentials[credential.credential_id] = credential

        attested_credential_data = (
            self.aaguid
            + len(credential.credential_id).to_bytes(2, "big")
            + credential.credential_id
            + credential.cose_public_key
        )
        authenticator_data = (
            _authenticator_data(
                credential,
                rp_id,
                FLAG_AT,
                user_present=user_present,
                user_verified=user_verified,
                sign_count=credential.sign_count,
            )
            + attested_credential_data
        )
        attestation_object = cbor2.dumps(
            {"fmt": "none", "attStmt": {}, "authData": authenticator_data}
        )
        client_data = _client_data_json(
            client_data_type, options["challenge"] if challenge is None else challenge, origin
        )
        extension_results: dict[str, Any] = {}
        if (options.get("extensions") or {}).get("credProps"):
            extension_results["credProps"] = {"rk": discoverable}
        response = {
            "clientDataJSON": b64url(client_data),
            "attestationObject": b64url(attestation_object),
            "transports": ["usb"],
        }
        return _public_key_credential(credential, response, extension_results)

    def get(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        credential_id: bytes | None = None,
        user_verified: bool = True,
        user_present: bool = True,
        rp_id: str | None = None,
        sign_count: int | None = None,
        challenge: str | None = None,
        client_data_type: str = "webauthn.get",
        with_user_handle: bool = True,
    ) -> dict[str, Any]:
        """Sign an assertion for PublicKeyCredentialRequestOptions JSON, as get() would.

        `sign_count` reports that count instead of the next one, and leaves the counter as it
        was: a cloned key, or one whose counter went back. `with_user_handle=False` leaves
        userHandle null, as a security key does for a credential that is not discoverable.
        """
        requested_rp_id = options.get("rpId") or urlsplit(origin).hostname or ""
        credential = self._choose(options, requested_rp_id, credential_id)
        if sign_count is None:
            if self.counts:
                credential.sign_count += 1
            sign_count = credential.sign_count

        authenticator_data = _authenticator_data(
            credential,
            requested_rp_id if rp_id is None else rp_id,
            0,
            user_present=user_present,
            user_verified=user_verified,
            sign_count=sign_count,
        )
        client_data = _client_data_json(
            client_data_type, options["challenge"] if challenge is None else challenge, origin
        )
        signature = credential.sign(authenticator_data + hashlib.sha256(client_data).digest())
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(authenticator_data),
            "signature": b64url(signature),
            "userHandle": b64url(credential.user_handle) if with_user_handle else None,
        }
        return _public_key_credential(credential, response, {})

    def _choose(
        self, options: dict[str, Any], rp_id: str, credential_id: bytes | None
    ) -> Credential:
        if credential_id is not None:
            if credential_id not in self.credentials:
                raise NotAllowedError("no such credential on this authenticator")
            return self.credentials[credential_id]
        allowed = options.get("allowCredentials") or []
        for entry in allowed:
            held = self.credentials.get(from_b64url(entry["id"]))
            if held is not None and held.rp_id == rp_id:
                return held
        if not allowed:
            for held in self.credentials.values():
                if held.discoverable and held.rp_id == rp_id:
                    return held
        raise NotAllowedError("this authenticator holds none of the credentials asked for")


def tamper_signature(credential: dict[str, Any]) -> dict[str, Any]:
    """A copy of an assertion with one bit of its signature flipped."""
    tampered = copy.deepcopy(credential)
    signature = bytearray(from_b64url(tampered["response"]["signature"]))
    # The last byte: in a DER ECDSA signature it is part of s, so the encoding stays valid and
    # only the cryptographic check can catch it.
    signature[-1] ^= 0x01
    tampered["response"]["signature"] = b64url(bytes(signature))
    return tampered


def _public_key_credential(
    credential: Credential, response: dict[str, Any], extension_results: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": b64url(credential.credential_id),
        "rawId": b64url(credential.credential_id),
        "type": "public-key",
        "authenticatorAttachment": "cross-platform",
        "response": response,
        "clientExtensionResults": extension_results,
    }


def _generate_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def _authenticator_data(
    credential: Credential,
    rp_id: str,
    extra_flags: int,
    *,
    user_present: bool,
    user_verified: bool,
    sign_count: int,
) -> bytes:
    flags = extra_flags
    flags |= FLAG_UP if user_present else 0
    flags |= FLAG_UV if user_verified else 0
    flags |= FLAG_BE if credential.backup_eligible else 0
    flags |= FLAG_BS if credential.backed_up else 0
    return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + sign_count.to_bytes(4, "big")


def _client_data_json(client_data_type: str, challenge: str, origin: str) -> bytes:
    client_data = {
        "type": client_data_type,
        "challenge": challenge,
        "origin": origin,
        "crossOrigin": False,
    }
    return json.dumps(client_data, separators=(",", ":")).encode()


def _unsigned_bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")
