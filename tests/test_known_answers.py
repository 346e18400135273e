"""Known answers for every derivation and digest whose output is stored or sent out (issue 17,
item 5): fixed inputs under a fixed key, the output written here as a literal. A change that
would silently invalidate stored data (subkeys, backup-code digests, token digests, signed
links, remembered-device bindings, ciphertexts) fails here first. The literals were computed
once with the code as it was when written; never recompute them to make a test pass: a
different answer means every stored value of that kind stops matching after an upgrade."""

from __future__ import annotations

import base64
import dataclasses
import importlib
from datetime import timedelta

from starlette.applications import Starlette

from models import Account, LinkToken, Session
from services import accounts, crypto, documents, link_tokens, remembered_devices, webauthn_rp
from services.crypto import KeyRing
from services.link_tokens import LinkPurpose
from services.runtime import Runtime
from tests.conftest import T0
from tests.helpers import Api

NEW = base64.urlsafe_b64encode(bytes(range(32)))  # b"AAECAwQF…"
OLD = base64.urlsafe_b64encode(bytes(range(32, 64)))
RING = KeyRing((NEW, OLD))
CODE = "abcde12345"
TOKEN = "fixed-token"
TOKEN_DIGEST = "648f312cf893d191028cba09f60f8ffe95624c9ef2d40a0c2f0db0e356e37e0f"

MIGRATION_0011 = importlib.import_module("migrations.0011_backup_codes_bound_to_account")


def test_subkeys_are_the_known_ones() -> None:
    assert (
        crypto._subkey(NEW, b"purpose").hex()
        == "89bcf50d70a207ffbcb393f8eadb9890964520d9b2d210d14c569f1e514228fe"
    )
    assert (
        crypto._digest_subkey(NEW).hex()
        == "b80fc9ce675b2eb64a6afdd325c8bd5adfd3cd038cd569b8cf04c055ae10d42e"
    )


def test_unbound_backup_code_digests_are_the_known_ones() -> None:
    """The form stored before migration 0011 (still what the bound form is made from)."""
    assert RING.digests(CODE) == [
        "2d06017aad0842c9afc4db29c7695dd07ae745e81c02277f4c954119b5c0fbbd",
        "b5422f758b312b600e4c9a775ca6e65a8e2e0450cc300d65438db2e75d5a1fce",
    ]


def test_bound_backup_code_digests_are_the_known_ones() -> None:
    assert RING.account_digests(42, CODE) == [
        "58f1c80d11910f04345d363411473f96914252c8ef45d67069f95708dce009dd",
        "e172babd71dc6897ecb24079182d2716e333a833a2efdebc4b13f50423bbc5b2",
    ]


def test_migration_0011_binds_as_the_service_does() -> None:
    bound = "2a63039e707e64836105a703802297f9262a8a732a50b505f80a5a039015a1e6"
    assert crypto.bind_to_account(42, "0" * 64) == bound
    assert MIGRATION_0011.bind(42, "0" * 64) == bound
    unbound = RING.digests(CODE)[0]
    assert MIGRATION_0011.bind(42, unbound) == RING.account_digests(42, CODE)[0]


def test_signatures_are_the_known_ones_and_verify_under_any_key() -> None:
    message, purpose = "7:1764590400", b"recovery-document-download"
    signature = "3d499ea78108aa3accf5e498a57a968a683d87f8bdad68e60ec7d138b1535bca"
    assert RING.sign(message, purpose) == signature
    assert RING.verify(message, signature, purpose)
    # Made under NEW, checked by a ring where NEW is now the older key.
    assert KeyRing((OLD, NEW)).verify(message, signature, purpose)
    assert not KeyRing((OLD,)).verify(message, signature, purpose)
    assert not RING.verify(message, signature, b"another-purpose")


def test_a_recovery_document_link_is_signed_as_before(app: Starlette) -> None:
    rt: Runtime = dataclasses.replace(app.state.runtime, keys=RING)
    assert rt.settings.download_link_ttl_seconds == 600  # the literal below is for T0 + 600 s
    assert documents.download_url(rt, 7).endswith(
        "/recovery-documents/7?expires=1795608600"
        "&signature=db285797df7babbd06b2b3e57cfb6618a6b7d146214a4eb342a2c8943f622557"
    )


def test_the_remembered_device_binding_is_the_known_one() -> None:
    account = Account(id=1, password_hash="hash", two_factor_enabled_at=T0)
    assert (
        RING.sign(remembered_devices._binding_message(account), remembered_devices._BINDING)
        == "5283b04c98ef458a271412898229b00ae68bb49986c0957a12692f94765c9568"
    )


def test_token_and_webauthn_digests_are_the_known_ones() -> None:
    assert crypto.token_digest(TOKEN) == TOKEN_DIGEST
    assert (
        webauthn_rp.challenge_digest(bytes(32))
        == "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    )
    assert (
        webauthn_rp.credential_digest(b"credential")
        == "e265b6f564601a1fe8dc42785cd18a868bd8013eb5899560e79248767a683e6b"
    )


def test_a_secret_encrypted_under_the_older_key_still_decrypts() -> None:
    # Fernet output is random (IV, time): a fixed token made under OLD instead.
    token = (
        "gAAAAABpLYNAAAAAAAAAAAAAAAAAAAAAAN3dudw3CteFS9BjoSr5oxa7ZubZspkg_ZNd95VLZ2w_"
        "ne932qxWPUoWamFKuhe1iMYWdIYuaQk93lHv88dBOD0="
    )
    assert RING.decrypt(token) == b"JBSWY3DPEHPK3PXP"
    assert not RING.is_current(token)
    assert KeyRing((OLD,)).is_current(token)


async def test_a_session_stored_by_its_known_digest_authenticates(api: Api, app: Starlette) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    await Session.create(
        token_hash=TOKEN_DIGEST,
        account_id=account.id,
        created_at=T0,
        expires_at=T0 + timedelta(days=1),
        last_seen_at=T0,
    )
    session = await accounts.authenticate(app.state.runtime, TOKEN)
    assert session is not None and session.account_id == account.id


async def test_a_link_token_stored_by_its_known_digest_is_spent(api: Api, app: Starlette) -> None:
    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    await LinkToken.create(
        token_hash=TOKEN_DIGEST,
        account_id=account.id,
        purpose=LinkPurpose.SECURE_ACCOUNT.value,
        created_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )
    spent = await link_tokens.spend(app.state.runtime, TOKEN, LinkPurpose.SECURE_ACCOUNT)
    assert spent.account_id == account.id and spent.used_at is not None
