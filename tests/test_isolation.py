"""Two accounts in every isolation test (issue 17 item 3).

Each test acts on Alice's account through a service that reads or writes per-account rows,
with Bob's account holding rows of every kind (sessions, an open sign-in challenge, a TOTP
app, backup codes, a security key, remembered devices, link tokens, notifications, security
events): Bob's rows must be exactly what they were before. Where it applies, Alice cannot use
Bob's thing (his backup code, his challenge, his session id, his key id, his device token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from models import (
    Account,
    BackupCode,
    LinkToken,
    Notification,
    RecoveryDocument,
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
from models.two_factor import TwoFactorState
from services import (
    account_settings,
    accounts,
    authenticators,
    backup_codes,
    device_sessions,
    history,
    key_challenges,
    link_tokens,
    notifications,
    password_reset,
    recovery,
    remembered_devices,
    sign_in_challenges,
    totp,
    two_factor,
)
from services.crypto import token_digest
from services.errors import (
    Forbidden,
    InvalidCode,
    NotFound,
)
from services.link_tokens import LinkPurpose
from services.runtime import RequestMeta, Runtime
from services.throttle import second_factor_subject
from tests.helpers import PASSWORD, Api, error_codes
from tests.key_client import Keys
from tests.soft_authenticator import SoftAuthenticator

META = RequestMeta(ip_address="203.0.113.9", user_agent="isolation-tests/1.0")
ALICE = "alice@example.com"
BOB = "bob@example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(32))

# Every table with rows of one account's (RecoveryDocument through its request).
PER_ACCOUNT = (
    Session,
    SignInChallenge,
    LinkToken,
    RememberedDevice,
    SecurityEvent,
    Notification,
    RecoveryRequest,
    TwoFactor,
    BackupCode,
    SecurityKey,
    WebAuthnChallenge,
)


async def rows_of(account_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every stored row of the account, column by column, in id order."""
    snapshot: dict[str, list[dict[str, Any]]] = {
        "Account": await Account.filter(id=account_id).values(),
        "RecoveryDocument": await RecoveryDocument.filter(request__account_id=account_id)
        .order_by("id")
        .values(),
        "FailedAttempt": await FailedAttempt.filter(subject=second_factor_subject(account_id))
        .order_by("id")
        .values(),
    }
    for model in PER_ACCOUNT:
        snapshot[model.__name__] = await model.filter(account_id=account_id).order_by("id").values()
    return snapshot


@dataclass
class Holder:
    """One account with rows of every kind, and the secrets that open them."""

    email: str
    account: Account
    session_tokens: list[str]
    secret: str
    backup_codes: list[str]
    key: SoftAuthenticator
    challenge: dict[str, Any]
    device_token: str
    links: dict[LinkPurpose, str] = field(default_factory=dict)

    async def refreshed(self) -> Account:
        self.account = await Account.get(id=self.account.id)
        return self.account

    async def session_ids(self) -> list[int]:
        return [
            s.id
            for s in await Session.filter(account_id=self.account.id, revoked_at=None).order_by(
                "id"
            )
        ]


async def holder(api: Api, rt: Runtime, email: str) -> Holder:
    first = await api.sign_up(email)
    enabled = await api.enable_two_factor(first)
    api.totp_secrets[email] = enabled.secret
    keys = Keys(api)
    key = SoftAuthenticator()
    await keys.register(first, key)
    second = await api.sign_in_with_totp(email)
    challenge = await keys.challenge(email)
    account = await Account.get(email=email)
    device_token, _ = await remembered_devices.remember(rt, account, META)
    await Account.filter(id=account.id).update(
        billing_contact_email=f"billing.{email}", billing_contact_verified=False
    )
    account = await Account.get(id=account.id)
    links: dict[LinkPurpose, str] = {
        LinkPurpose.RESET_PASSWORD: await link_tokens.issue(
            rt, account.id, LinkPurpose.RESET_PASSWORD, timedelta(hours=1)
        ),
        LinkPurpose.VERIFY_BILLING_CONTACT: await link_tokens.issue(
            rt,
            account.id,
            LinkPurpose.VERIFY_BILLING_CONTACT,
            timedelta(days=1),
            subject=account.billing_contact_email,
        ),
    }
    return Holder(
        email=email,
        account=account,
        session_tokens=[first, second],
        secret=enabled.secret,
        backup_codes=enabled.backup_codes,
        key=key,
        challenge=challenge,
        device_token=device_token,
        links=links,
    )


@dataclass
class Pair:
    rt: Runtime
    api: Api
    alice: Holder
    bob: Holder
    bobs_rows: dict[str, list[dict[str, Any]]]

    async def assert_bob_untouched(self) -> None:
        assert await rows_of(self.bob.account.id) == self.bobs_rows


@pytest.fixture
async def pair(app: Starlette, api: Api) -> Pair:
    rt: Runtime = app.state.runtime
    alice = await holder(api, rt, ALICE)
    bob = await holder(api, rt, BOB)
    bobs_rows = await rows_of(bob.account.id)
    # Bob holds rows of every kind the tests watch (recovery requests are filed in their tests).
    assert all(bobs_rows[model.__name__] for model in PER_ACCOUNT if model is not RecoveryRequest)
    return Pair(rt, api, alice, bob, bobs_rows)


# Backup codes ------------------------------------------------------------------------------


async def test_spend_refuses_another_accounts_code(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    bobs_code = totp.normalize_code(bob.backup_codes[0])
    assert await backup_codes.spend(rt, alice.account.id, bobs_code) is False
    await pair.assert_bob_untouched()
    assert await backup_codes.spend(
        rt, alice.account.id, totp.normalize_code(alice.backup_codes[0])
    )
    await pair.assert_bob_untouched()
    # Bob's code still works for Bob.
    assert await backup_codes.spend(rt, bob.account.id, bobs_code) is True


async def test_replace_batch_keeps_another_accounts_codes(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    before = {row.digest for row in await BackupCode.filter(account_id=alice.account.id)}
    async with in_transaction() as connection:
        codes = await backup_codes.replace_batch(rt, alice.account, connection)
    after = {row.digest for row in await BackupCode.filter(account_id=alice.account.id)}
    assert len(codes) == len(after) == 10 and not before & after
    await pair.assert_bob_untouched()


async def test_regenerate_keeps_another_accounts_codes(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    codes = await backup_codes.regenerate(rt, alice.account, PASSWORD, META)
    assert len(codes) == 10
    assert await BackupCode.filter(account_id=alice.account.id, used_at=None).count() == 10
    await pair.assert_bob_untouched()


async def test_a_backup_code_of_another_account_opens_no_sign_in(pair: Pair) -> None:
    alice, bob = pair.alice, pair.bob
    challenge = await pair.api.challenge(ALICE)
    refused = await pair.api.verify(challenge, bob.backup_codes[1])
    assert refused["session"] is None and error_codes(refused) == ["INVALID_CODE"]
    await pair.assert_bob_untouched()
    accepted = await pair.api.verify(challenge, alice.backup_codes[1])
    assert accepted["session"] is not None
    await pair.assert_bob_untouched()


# Pending setups and turning 2FA off --------------------------------------------------------


@dataclass
class Pending:
    rt: Runtime
    alice: Account
    alice_secret: str
    bob: Account
    bob_secret: str
    bobs_rows: dict[str, list[dict[str, Any]]]


@pytest.fixture
async def pending(app: Starlette, api: Api) -> Pending:
    """Alice and Bob, each with a pending TOTP setup."""
    rt: Runtime = app.state.runtime
    secrets: dict[str, str] = {}
    for email in (ALICE, BOB):
        token = await api.sign_up(email)
        started = await api.start(token)
        assert started["errors"] == [], started
        secrets[email] = started["setup"]["secret"]
    alice, bob = await Account.get(email=ALICE), await Account.get(email=BOB)
    bobs_rows = await rows_of(bob.id)
    assert bobs_rows["TwoFactor"][0]["state"] == TwoFactorState.PENDING
    return Pending(rt, alice, secrets[ALICE], bob, secrets[BOB], bobs_rows)


async def test_starting_again_replaces_only_the_accounts_own_pending_setup(
    pending: Pending,
) -> None:
    setup = await two_factor.start(pending.rt, pending.alice, PASSWORD, META)
    assert setup.secret != pending.alice_secret
    assert await TwoFactor.filter(account_id=pending.alice.id).count() == 1
    assert await rows_of(pending.bob.id) == pending.bobs_rows


async def test_confirm_activates_only_the_accounts_own_setup(pending: Pending) -> None:
    rt = pending.rt
    code = pyotp.TOTP(pending.alice_secret).at(rt.clock.now())
    codes = await two_factor.confirm(rt, pending.alice, code, META)
    assert codes is not None and len(codes) == 10
    assert await rows_of(pending.bob.id) == pending.bobs_rows


async def test_confirm_refuses_a_code_of_another_accounts_setup(pending: Pending) -> None:
    rt = pending.rt
    bobs_code = pyotp.TOTP(pending.bob_secret).at(rt.clock.now())
    with pytest.raises(InvalidCode):
        await two_factor.confirm(rt, pending.alice, bobs_code, META)
    assert await rows_of(pending.bob.id) == pending.bobs_rows


async def test_cancel_deletes_only_the_accounts_own_pending_setup(pending: Pending) -> None:
    await two_factor.cancel(pending.alice)
    assert not await TwoFactor.exists(account_id=pending.alice.id)
    assert await rows_of(pending.bob.id) == pending.bobs_rows


async def test_turning_2fa_off_leaves_another_account_as_it_was(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    await two_factor.disable(rt, alice.account, PASSWORD, True, META)
    alices = await rows_of(alice.account.id)
    for emptied in ("TwoFactor", "BackupCode", "SecurityKey", "RememberedDevice"):
        assert alices[emptied] == [], emptied
    assert all(row["used_at"] is not None for row in alices["SignInChallenge"])
    await pair.assert_bob_untouched()


async def test_accept_totp_refuses_another_accounts_code(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    pair.api.clock.advance(30)
    bobs_code = pair.api.code(bob.secret)
    with pytest.raises(InvalidCode):
        await two_factor.accept_totp(rt, alice.account.id, bobs_code)
    await two_factor.accept_totp(rt, alice.account.id, pair.api.code(alice.secret))
    await pair.assert_bob_untouched()


# Sign-in challenges ------------------------------------------------------------------------


async def test_verifying_a_challenge_closes_only_that_challenge(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    pair.api.clock.advance(30)
    verified = await sign_in_challenges.verify(
        rt, META, token=alice.challenge["token"], code=pair.api.code(alice.secret)
    )
    assert verified.issued.account.id == alice.account.id
    await pair.assert_bob_untouched()


async def test_another_accounts_challenge_is_not_opened_by_ones_own_code(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    pair.api.clock.advance(30)
    with pytest.raises(InvalidCode):
        await sign_in_challenges.verify(
            rt, META, token=bob.challenge["token"], code=pair.api.code(alice.secret)
        )
    with pytest.raises(InvalidCode):
        await sign_in_challenges.verify(
            rt, META, token=bob.challenge["token"], code=alice.backup_codes[2]
        )
    # Nothing was opened for Bob, and Alice's code is still unused.
    assert await Session.filter(account_id=bob.account.id).count() == len(pair.bobs_rows["Session"])
    assert await BackupCode.filter(account_id=alice.account.id, used_at=None).count() == 10


async def test_another_accounts_key_does_not_answer_ones_challenge(pair: Pair) -> None:
    keys = Keys(pair.api)
    alice, bob = pair.alice, pair.bob
    # Bob's key signs Alice's challenge: refused, and Bob's key is not touched.
    bobs_credential = next(iter(bob.key.credentials))
    answer = bob.key.get(
        alice.challenge["securityKeyOptions"], keys.origin, credential_id=bobs_credential
    )
    refused = await keys.verify(alice.challenge["token"], answer)
    assert refused["session"] is None and error_codes(refused) == ["SECURITY_KEY_REJECTED"]
    await pair.assert_bob_untouched()
    # Alice's own key answers it, and Bob's rows stay as they were.
    own = alice.key.get(alice.challenge["securityKeyOptions"], keys.origin)
    accepted = await keys.verify(alice.challenge["token"], own)
    assert accepted["session"] is not None
    await pair.assert_bob_untouched()


# Sessions ----------------------------------------------------------------------------------


async def test_sign_out_ends_only_that_session(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    session = await accounts.authenticate(rt, alice.session_tokens[0])
    assert session is not None
    await accounts.sign_out(rt, session, META)
    assert len(await alice.session_ids()) == 1
    await pair.assert_bob_untouched()


async def test_sign_out_everywhere_leaves_another_accounts_sessions_and_devices(
    pair: Pair,
) -> None:
    rt, alice = pair.rt, pair.alice
    ended = await device_sessions.sign_out_everywhere(rt, alice.account, META, keep=None)
    assert ended == 2 and await alice.session_ids() == []
    assert not await RememberedDevice.exists(account_id=alice.account.id)
    await pair.assert_bob_untouched()


async def test_revoke_refuses_another_accounts_session_id(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    for bobs_session in await bob.session_ids():
        with pytest.raises(NotFound):
            await device_sessions.revoke(rt, alice.account, META, bobs_session)
    await pair.assert_bob_untouched()
    own = (await alice.session_ids())[0]
    await device_sessions.revoke(rt, alice.account, META, own)
    assert own not in await alice.session_ids()
    await pair.assert_bob_untouched()


async def test_listing_sessions_shows_only_the_accounts_own(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    listed = await device_sessions.list_for(rt, alice.account, alice.account.id, None)
    assert [s.id for s in listed] == sorted(await alice.session_ids(), reverse=True)
    with pytest.raises(Forbidden):
        await device_sessions.list_for(rt, alice.account, bob.account.id, None)
    for bobs_session in await bob.session_ids():
        assert await device_sessions.find_own(rt, alice.account, bobs_session, None) is None


# Notifications -----------------------------------------------------------------------------


async def test_marking_every_notification_read_leaves_another_accounts_unread(
    pair: Pair,
) -> None:
    rt, alice = pair.rt, pair.alice
    assert await history.mark_notifications_read(rt, alice.account.id, None) == 0
    assert not await Notification.exists(account_id=alice.account.id, read_at=None)
    await pair.assert_bob_untouched()


async def test_marking_another_accounts_notifications_read_does_nothing(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    bobs = [row["id"] for row in pair.bobs_rows["Notification"]]
    unread = await history.unread_notification_count(alice.account.id)
    assert await history.mark_notifications_read(rt, alice.account.id, bobs) == unread > 0
    await pair.assert_bob_untouched()
    for pk in bobs:
        assert await history.find_own("Notification", pk, alice.account.id) is None
    for pk in [row["id"] for row in pair.bobs_rows["SecurityEvent"]]:
        assert await history.find_own("SecurityEvent", pk, alice.account.id) is None
    assert await history.unread_notification_count(bob.account.id) == len(bobs)


async def test_reading_notifications_and_events_shows_only_the_accounts_own(
    pair: Pair,
) -> None:
    alice = pair.alice
    own_notes = set(
        await Notification.filter(account_id=alice.account.id).values_list("id", flat=True)
    )
    own_events = set(
        await SecurityEvent.filter(account_id=alice.account.id).values_list("id", flat=True)
    )
    listed = await history.notifications(alice.account.id, first=100, after=None, unread_only=False)
    assert {edge.node.id for edge in listed.edges} == own_notes
    events = await history.security_events(alice.account.id, first=100, after=None)
    assert {edge.node.id for edge in events.edges} == own_events
    replayed = [row.id async for row in notifications.newer_than(alice.account.id, 0)]
    assert set(replayed) == own_notes


# Recovery documents ------------------------------------------------------------------------


class Upload:
    def __init__(self, content: bytes, filename: str = "passport.png") -> None:
        self.filename: str | None = filename
        self._content = content

    async def read(self, size: int = -1) -> bytes:
        chunk, self._content = self._content[: max(size, 0) or None], b""
        return chunk


async def file_request(pair: Pair, holder: Holder) -> RecoveryRequest:
    challenge = await pair.api.challenge(holder.email)
    return await recovery.request(
        pair.rt,
        META,
        challenge_token=challenge,
        message="lost my phone",
        identity_document=Upload(PNG),
        company_registration=None,
    )


async def test_filing_a_recovery_request_leaves_another_account_as_it_was(pair: Pair) -> None:
    filed = await file_request(pair, pair.alice)
    assert filed.account_id == pair.alice.account.id
    assert await RecoveryDocument.filter(request_id=filed.id).count() == 1
    await pair.assert_bob_untouched()


async def test_approving_a_recovery_turns_off_only_that_accounts_2fa(pair: Pair) -> None:
    rt = pair.rt
    await pair.api.support_agent(rt, "agent@example.com")
    agent = await Account.get(email="agent@example.com")
    bobs = await file_request(pair, pair.bob)
    pair.bobs_rows = await rows_of(pair.bob.account.id)
    filed = await file_request(pair, pair.alice)
    resolved = await recovery.resolve(rt, agent, filed.id, True, "checked", META, confirm=True)
    assert resolved.reviewer_id == agent.id
    assert (await pair.alice.refreshed()).two_factor_enabled_at is None
    await pair.assert_bob_untouched()
    # Bob's own request is still pending, his documents still his.
    assert (await RecoveryRequest.get(id=bobs.id)).resolved_at is None


async def test_reading_recovery_requests_and_documents_is_per_account(pair: Pair) -> None:
    rt = pair.rt
    await pair.api.support_agent(rt, "agent@example.com")
    agent = await Account.get(email="agent@example.com")
    bobs = await file_request(pair, pair.bob)
    filed = await file_request(pair, pair.alice)
    pair.bobs_rows = await rows_of(pair.bob.account.id)
    assert await recovery.visible(pair.alice.account, bobs.id) is None
    assert await recovery.visible(pair.bob.account, filed.id) is None
    assert (await recovery.visible(pair.alice.account, filed.id)) is not None
    by_request = await recovery.documents_of_requests([filed.id])
    assert list(by_request) == [filed.id]
    document = by_request[filed.id][0]
    await recovery.document_opened(rt, agent, document)
    assert await SecurityEvent.exists(
        account_id=pair.alice.account.id, kind="RECOVERY_DOCUMENT_OPENED"
    )
    await pair.assert_bob_untouched()


# Link tokens -------------------------------------------------------------------------------


async def test_requesting_a_password_reset_leaves_another_accounts_links(pair: Pair) -> None:
    await password_reset.request_reset(pair.rt, META, email=ALICE)
    assert await LinkToken.filter(
        account_id=pair.alice.account.id, purpose=LinkPurpose.RESET_PASSWORD.value
    ).exists()
    await pair.assert_bob_untouched()


async def test_a_password_reset_closes_only_the_accounts_own_sessions_and_links(
    pair: Pair,
) -> None:
    rt, alice = pair.rt, pair.alice
    await password_reset.reset_password(
        rt, META, token=alice.links[LinkPurpose.RESET_PASSWORD], new_password="a brand new password"
    )
    assert await alice.session_ids() == []
    assert not await RememberedDevice.exists(account_id=alice.account.id)
    await pair.assert_bob_untouched()


async def test_revoking_links_revokes_only_the_accounts_own(pair: Pair) -> None:
    for purpose in (LinkPurpose.RESET_PASSWORD, LinkPurpose.VERIFY_BILLING_CONTACT):
        await link_tokens.revoke(pair.alice.account.id, purpose)
        assert not await LinkToken.exists(
            account_id=pair.alice.account.id, purpose=purpose.value, used_at=None
        )
    await pair.assert_bob_untouched()


async def test_a_link_spent_is_the_accounts_own_row(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    token = alice.links[LinkPurpose.RESET_PASSWORD]
    spent = await link_tokens.spend(rt, token, LinkPurpose.RESET_PASSWORD)
    assert spent.account_id == alice.account.id and spent.token_hash == token_digest(token)
    await pair.assert_bob_untouched()


async def test_billing_contact_verification_is_per_account(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    async with in_transaction() as connection:
        await account_settings.send_verification(rt, alice.account, META, connection)
    await pair.assert_bob_untouched()
    latest = await LinkToken.filter(
        account_id=alice.account.id,
        purpose=LinkPurpose.VERIFY_BILLING_CONTACT.value,
        used_at=None,
    ).count()
    assert latest == 1  # the older link of Alice's was replaced, Bob's kept
    # The new link verifies Alice's contact only.
    await LinkToken.filter(account_id=alice.account.id).delete()
    token = await link_tokens.issue(
        rt,
        alice.account.id,
        LinkPurpose.VERIFY_BILLING_CONTACT,
        timedelta(days=1),
        subject=alice.account.billing_contact_email,
    )
    verified = await account_settings.verify_billing_contact(rt, token, META)
    assert verified.id == alice.account.id and verified.billing_contact_verified
    await pair.assert_bob_untouched()


# Remembered devices ------------------------------------------------------------------------


async def test_another_accounts_device_token_is_not_recognised(pair: Pair) -> None:
    rt, alice, bob = pair.rt, pair.alice, pair.bob
    account = await alice.refreshed()
    assert await remembered_devices.recognise(rt, account, bob.device_token) is None
    own = await remembered_devices.recognise(rt, account, alice.device_token)
    assert own is not None and own.account_id == alice.account.id
    await pair.assert_bob_untouched()


async def test_forgetting_devices_forgets_only_the_accounts_own(pair: Pair) -> None:
    assert await remembered_devices.forget_all(pair.alice.account.id) == 1
    await pair.assert_bob_untouched()


async def test_valid_until_ignores_another_accounts_devices(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    bobs = [row["id"] for row in pair.bobs_rows["RememberedDevice"]]
    assert await remembered_devices.valid_until(rt, alice.account.id, bobs) == {}
    own = await RememberedDevice.get(account_id=alice.account.id)
    assert await remembered_devices.valid_until(rt, alice.account.id, [own.id, *bobs]) == {
        own.id: own.expires_at
    }


# Authenticators and security keys ----------------------------------------------------------


async def bobs_authenticators(pair: Pair) -> list[tuple[str, int]]:
    return [(authenticators.TOTP, row["id"]) for row in pair.bobs_rows["TwoFactor"]] + [
        (authenticators.SECURITY_KEY, row["id"]) for row in pair.bobs_rows["SecurityKey"]
    ]


async def test_renaming_refuses_another_accounts_authenticator(pair: Pair) -> None:
    alice = pair.alice
    for kind, pk in await bobs_authenticators(pair):
        with pytest.raises(NotFound):
            await authenticators.rename(alice.account, kind, pk, "Mine now")
    await pair.assert_bob_untouched()
    for listed in await authenticators.list_for(alice.account.id, "en"):
        renamed = await authenticators.rename(alice.account, listed.kind, listed.pk, "Renamed")
        assert renamed.name == "Renamed"
    await pair.assert_bob_untouched()


async def test_removing_refuses_another_accounts_authenticator(pair: Pair) -> None:
    rt, alice = pair.rt, pair.alice
    for kind, pk in await bobs_authenticators(pair):
        with pytest.raises(NotFound):
            await authenticators.remove(rt, alice.account, kind, pk, PASSWORD, True, META)
    await pair.assert_bob_untouched()
    for listed in await authenticators.list_for(alice.account.id, "en"):
        await authenticators.remove(rt, alice.account, listed.kind, listed.pk, PASSWORD, True, META)
    assert (await alice.refreshed()).two_factor_enabled_at is None
    await pair.assert_bob_untouched()


async def test_listing_authenticators_and_keys_shows_only_the_accounts_own(pair: Pair) -> None:
    alice = pair.alice
    listed = await authenticators.list_for(alice.account.id, "en")
    own_keys = await SecurityKey.filter(account_id=alice.account.id).values_list("id", flat=True)
    own_app = await TwoFactor.filter(account_id=alice.account.id).values_list("id", flat=True)
    assert sorted((a.kind, a.pk) for a in listed) == sorted(
        [(authenticators.TOTP, pk) for pk in own_app]
        + [(authenticators.SECURITY_KEY, pk) for pk in own_keys]
    )
    known = await key_challenges.known_keys(alice.account.id)
    own_credentials = await SecurityKey.filter(account_id=alice.account.id).values_list(
        "credential_id", flat=True
    )
    assert sorted(key.credential_id for key in known) == sorted(own_credentials)
    for kind, pk in await bobs_authenticators(pair):
        assert await authenticators.find_own(alice.account, kind, pk) is None
