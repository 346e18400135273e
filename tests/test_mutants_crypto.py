"""services/crypto.py: the key ring's edges no other test pinned (issue 17, item 2)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services import crypto
from services.crypto import DEV_KEY_FILE, KeyRing, KeyRingError, load_key_ring

A, B = Fernet.generate_key(), Fernet.generate_key()
NO_KEY = "a stored secret decrypts under no key of ENCRYPTION_KEYS"


def test_an_empty_ring_is_refused() -> None:
    with pytest.raises(KeyRingError) as raised:
        KeyRing(())
    assert str(raised.value) == "ENCRYPTION_KEYS holds no key"


def test_a_malformed_key_is_named_by_its_position_only() -> None:
    with pytest.raises(KeyRingError) as raised:
        KeyRing((A, b"short"))
    assert str(raised.value) == "ENCRYPTION_KEYS: key #2 is not 32 bytes of URL-safe base64"


def test_a_key_with_other_than_ascii_is_refused_like_any_malformed_key(tmp_path: Path) -> None:
    # Refused by position, never by a codec error quoting the character it choked on.
    with pytest.raises(KeyRingError) as raised:
        load_key_ring(f"{A.decode()},{B.decode()[:-2]}é=", tmp_path, development=False)
    assert str(raised.value) == "ENCRYPTION_KEYS: key #2 is not 32 bytes of URL-safe base64"


def test_a_stored_secret_with_other_than_ascii_decrypts_under_no_key() -> None:
    tampered = KeyRing((A,)).encrypt(b"secret")[:-1] + "é"
    for attempt in (KeyRing((A,)).rotate, KeyRing((A,)).decrypt):
        with pytest.raises(KeyRingError) as raised:
            attempt(tampered)
        assert str(raised.value) == NO_KEY
    assert not KeyRing((A,)).is_current(tampered)


def test_keys_are_read_comma_separated_with_blanks_ignored(tmp_path: Path) -> None:
    ring = load_key_ring(f" {A.decode()} ,, {B.decode()} ,", tmp_path, development=False)
    assert ring.keys == (A, B)
    assert not (tmp_path / DEV_KEY_FILE).exists()
    # Blanks only: none given, so development makes its own and production refuses.
    with pytest.raises(KeyRingError) as raised:
        load_key_ring(" , ", tmp_path, development=False)
    assert str(raised.value) == "ENCRYPTION_KEYS is required outside development"
    assert len(load_key_ring(" , ", tmp_path, development=True).keys) == 1


def test_a_development_key_already_written_by_another_process_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / DEV_KEY_FILE).write_text(A.decode() + "\n")
    with caplog.at_level(logging.WARNING, logger="verrou.crypto"):
        assert load_key_ring("", tmp_path, development=True).keys == (A,)
    assert caplog.records == []


def test_a_generated_development_key_is_announced_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="verrou.crypto"):
        ring = load_key_ring("", tmp_path, development=True)
    assert [record.getMessage() for record in caplog.records] == [
        f"generated a development encryption key in {tmp_path / DEV_KEY_FILE}"
    ]
    assert ring.keys[0].decode() not in caplog.text


def test_new_data_is_encrypted_under_the_newest_key() -> None:
    token = KeyRing((A, B)).encrypt(b"secret")
    assert Fernet(A).decrypt(token.encode()) == b"secret"
    assert KeyRing((A, B)).is_current(token)
    assert not KeyRing((B, A)).is_current(token)


def test_rotation_of_a_token_no_key_reads_is_refused() -> None:
    foreign = KeyRing((B,)).encrypt(b"secret")
    for attempt in (KeyRing((A,)).rotate, KeyRing((A,)).decrypt):
        with pytest.raises(KeyRingError) as raised:
            attempt(foreign)
        assert str(raised.value) == NO_KEY
    assert KeyRing((A, B)).rotate(foreign) != foreign
    assert KeyRing((A,)).decrypt(KeyRing((A, B)).rotate(foreign)) == b"secret"


def test_a_signature_is_checked_against_every_key_and_nothing_else() -> None:
    ring = KeyRing((A, B))
    signature = KeyRing((B,)).sign("message", b"purpose")
    assert ring.verify("message", signature, b"purpose")
    assert not ring.verify("message!", signature, b"purpose")
    assert not ring.verify("message", signature.upper(), b"purpose")
    assert not ring.verify("message", "", b"purpose")
    # Text compare_digest cannot take (not ASCII) is a wrong signature, not an error.
    assert not ring.verify("message", "é" * 64, b"purpose")


def test_subkeys_differ_by_key_and_by_purpose() -> None:
    assert crypto._subkey(A, b"one") != crypto._subkey(A, b"two")
    assert crypto._subkey(A, b"one") != crypto._subkey(B, b"one")
    # Not the encryption key itself, nor a plain hash of it.
    assert crypto._subkey(A, b"one") != base64.urlsafe_b64decode(A)


def test_tokens_carry_256_random_bits() -> None:
    tokens = {crypto.new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(base64.urlsafe_b64decode(token + "=")) == 32 for token in tokens)
