"""services.link_tokens: an emailed link works once, for its purpose, before it expires, and
only for its own account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.applications import Starlette

from models import Account, LinkToken
from services import link_tokens
from services.clock import FrozenClock
from services.crypto import token_digest
from services.errors import LinkExpired
from services.link_tokens import LinkPurpose
from services.runtime import Runtime
from tests.helpers import Api

DAY = timedelta(days=1)


async def two_accounts(api: Api) -> tuple[Account, Account]:
    await api.sign_up("alice@example.com")
    await api.sign_up("bob@example.com")
    return await Account.get(email="alice@example.com"), await Account.get(email="bob@example.com")


async def test_a_link_token_is_spent_once_and_only_its_hash_is_stored(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    alice, _ = await two_accounts(api)
    token = await link_tokens.issue(rt, alice.id, LinkPurpose.RESET_PASSWORD, DAY)

    stored = await LinkToken.get(account_id=alice.id)
    assert stored.token_hash == token_digest(token) and token not in stored.token_hash
    spent = await link_tokens.spend(rt, token, LinkPurpose.RESET_PASSWORD)
    assert (spent.account_id, spent.used_at) == (alice.id, rt.clock.now())
    with pytest.raises(LinkExpired) as refused:
        await link_tokens.spend(rt, token, LinkPurpose.RESET_PASSWORD)
    assert refused.value.field == "token"


async def test_a_link_token_expires_at_its_deadline(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt: Runtime = app.state.runtime
    alice, _ = await two_accounts(api)
    early = await link_tokens.issue(rt, alice.id, LinkPurpose.SECURE_ACCOUNT, DAY)
    late = await link_tokens.issue(rt, alice.id, LinkPurpose.SECURE_ACCOUNT, DAY)

    clock.advance(DAY.total_seconds() - 1)
    assert (await link_tokens.spend(rt, early, LinkPurpose.SECURE_ACCOUNT)).account_id == alice.id
    clock.advance(1)  # exactly at expires_at: no longer valid
    with pytest.raises(LinkExpired):
        await link_tokens.spend(rt, late, LinkPurpose.SECURE_ACCOUNT)


async def test_a_link_token_opens_nothing_but_its_purpose(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    alice, _ = await two_accounts(api)
    token = await link_tokens.issue(rt, alice.id, LinkPurpose.VERIFY_BILLING_CONTACT, DAY)

    for purpose in set(LinkPurpose) - {LinkPurpose.VERIFY_BILLING_CONTACT}:
        with pytest.raises(LinkExpired):
            await link_tokens.spend(rt, token, purpose)
    with pytest.raises(LinkExpired):
        await link_tokens.spend(rt, "not-a-token", LinkPurpose.VERIFY_BILLING_CONTACT)
    # The refusals spent nothing.
    assert (await link_tokens.spend(rt, token, LinkPurpose.VERIFY_BILLING_CONTACT)).used_at


async def test_revoking_a_purpose_leaves_other_purposes_and_accounts_alone(
    app: Starlette, api: Api
) -> None:
    rt: Runtime = app.state.runtime
    alice, bob = await two_accounts(api)
    alices = await link_tokens.issue(rt, alice.id, LinkPurpose.RESET_PASSWORD, DAY)
    alices_other = await link_tokens.issue(rt, alice.id, LinkPurpose.SECURE_ACCOUNT, DAY)
    bobs = await link_tokens.issue(rt, bob.id, LinkPurpose.RESET_PASSWORD, DAY)

    await link_tokens.revoke(alice.id, LinkPurpose.RESET_PASSWORD)

    with pytest.raises(LinkExpired):
        await link_tokens.spend(rt, alices, LinkPurpose.RESET_PASSWORD)
    assert (await link_tokens.spend(rt, alices_other, LinkPurpose.SECURE_ACCOUNT)).account_id == (
        alice.id
    )
    assert (await link_tokens.spend(rt, bobs, LinkPurpose.RESET_PASSWORD)).account_id == bob.id
