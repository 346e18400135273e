"""services/totp.py line by line, where tests/test_totp_vectors.py leaves off: the exact Key
Uri a setup hands to authenticator apps (docs/mutation-testing.md)."""

from __future__ import annotations

from services import totp


def test_the_key_uri_spells_out_every_parameter_percent_encoded() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "Verrou Example", "alice+2fa@example.com")
    assert uri == (
        "otpauth://totp/Verrou%20Example:alice%2B2fa@example.com"
        "?secret=JBSWY3DPEHPK3PXP&issuer=Verrou%20Example&algorithm=SHA1&digits=6&period=30"
    )


def test_the_key_uri_label_keeps_the_separator_and_the_at_sign() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "Acme", "a/b@example.com")
    assert uri.startswith("otpauth://totp/Acme:a%2Fb@example.com?")
