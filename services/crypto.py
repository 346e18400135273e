"""Secrets at rest: the key ring, keyed digests and random tokens.

TOTP secrets (and later recovery documents) are encrypted with a MultiFernet built from
ENCRYPTION_KEYS, newest first: new data is encrypted with the first key, data written under
any listed key still decrypts, so keys can rotate (services/rotation.py then re-encrypts
everything under the new key). Backup codes are never decrypted, only
compared, so they are stored as HMACs under a key derived from each ring key; a lookup
computes the digest under every key so rotation does not invalidate outstanding codes. The
stored form is bound to the account (`account_digests`): one account's code never matches
another account's row, even in a query that forgot to filter by account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.var_files import FILE_MODE, private_dir

logger = logging.getLogger("verrou.crypto")

DEV_KEY_FILE = "encryption.key"


class KeyRingError(RuntimeError):
    """ENCRYPTION_KEYS is malformed (the message never contains a key)."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("ENCRYPTION_KEYS holds no key")
        for position, key in enumerate(self.keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                raise KeyRingError(
                    f"ENCRYPTION_KEYS: key #{position} is not 32 bytes of URL-safe base64"
                ) from None

    @property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self.keys])

    def encrypt(self, plaintext: bytes) -> str:
        return self._fernet.encrypt(plaintext).decode()

    def decrypt(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise KeyRingError("a stored secret decrypts under no key of ENCRYPTION_KEYS") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise KeyRingError("a stored secret decrypts under no key of ENCRYPTION_KEYS") from None

    def is_current(self, token: str) -> bool:
        """Whether token is encrypted under the newest key already (nothing to rotate)."""
        try:
            Fernet(self.keys[0]).decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def sign(self, message: str, purpose: bytes) -> str:
        """HMAC-SHA256 of message under the newest key's subkey for purpose."""
        subkey = _subkey(self.keys[0], purpose)
        return hmac.new(subkey, message.encode(), hashlib.sha256).hexdigest()

    def verify(self, message: str, signature: str, purpose: bytes) -> bool:
        """Whether signature was made by sign() under any key of the ring (constant time)."""
        if not signature.isascii():  # compare_digest refuses other text
            return False
        expected = [
            hmac.new(_subkey(key, purpose), message.encode(), hashlib.sha256).hexdigest()
            for key in self.keys
        ]
        return any([hmac.compare_digest(candidate, signature) for candidate in expected])

    def digests(self, value: str) -> list[str]:
        """HMAC-SHA256 of value under each key's digest subkey; the newest key's first.
        The unbound form (stored for backup codes until migration 0011)."""
        return [
            hmac.new(_digest_subkey(key), value.encode(), hashlib.sha256).hexdigest()
            for key in self.keys
        ]

    def account_digests(self, account_id: int, value: str) -> list[str]:
        """The stored form of a backup code: `digests(value)` each bound to the account;
        the newest key's first."""
        return [bind_to_account(account_id, digest) for digest in self.digests(value)]


BOUND_DIGEST_CONTEXT = b"verrou/backup-code-account/v2"


def bind_to_account(account_id: int, digest: str) -> str:
    """HMAC-SHA256 over the account id, keyed with a keyed digest (`KeyRing.digests`).

    Made from the unbound digest rather than from the code, so that migration 0011 could
    bind the digests stored before it without the keys (and without the codes)."""
    message = BOUND_DIGEST_CONTEXT + b"\x00" + str(account_id).encode()
    return hmac.new(bytes.fromhex(digest), message, hashlib.sha256).hexdigest()


def _subkey(key: bytes, purpose: bytes) -> bytes:
    # One subkey per purpose, so an HMAC key is never the encryption key itself.
    return hashlib.sha256(b"verrou/" + purpose + b"\x00" + base64.urlsafe_b64decode(key)).digest()


def _digest_subkey(key: bytes) -> bytes:
    return _subkey(key, b"backup-code-digest/v1")


def load_key_ring(encryption_keys: str, var_dir: Path, *, development: bool) -> KeyRing:
    keys = [part.strip() for part in encryption_keys.split(",") if part.strip()]
    if not keys:
        if not development:
            raise KeyRingError("ENCRYPTION_KEYS is required outside development")
        keys = [_development_key(var_dir)]
    return KeyRing(tuple(key.encode() for key in keys))


def _development_key(var_dir: Path) -> str:
    path = var_dir / DEV_KEY_FILE
    if not path.exists():
        private_dir(var_dir)
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                os.fchmod(fd, FILE_MODE)
                handle.write(Fernet.generate_key().decode())
            logger.warning("generated a development encryption key in %s", path)
    return path.read_text().strip()


def new_token() -> str:
    """A bearer or challenge token: 256 random bits."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
