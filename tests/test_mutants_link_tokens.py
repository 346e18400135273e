"""services.link_tokens, line by line (issue 17 item 2): every column issue() writes, the
token's strength, spend's refusal field and its row, and what revoke() keeps."""

from __future__ import annotations

import contextvars
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from models import Account, LinkToken
from services import link_tokens
from services.clock import FrozenClock
from services.crypto import token_digest
from services.errors import LinkExpired
from services.link_tokens import LinkPurpose
from services.runtime import Runtime
from tests.conftest import T0
from tests.helpers import Api, with_connection_only

HOUR = timedelta(hours=1)


async def alice(api: Api) -> Account:
    await api.sign_up("alice@example.com")
    return await Account.get(email="alice@example.com")


async def test_issue_stores_every_column_of_the_link(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    account = await alice(api)
    token = await link_tokens.issue(
        rt, account.id, LinkPurpose.VERIFY_BILLING_CONTACT, HOUR, subject="billing@example.com"
    )
    row = await LinkToken.get(token_hash=token_digest(token))
    assert row.account_id == account.id
    assert row.purpose == "verify_billing_contact"
    assert row.subject == "billing@example.com"
    assert (row.created_at, row.expires_at, row.used_at) == (T0, T0 + HOUR, None)
    # 256 random bits, URL-safe.
    assert len(token) >= 43 and token.replace("-", "").replace("_", "").isalnum()
    plain = await link_tokens.issue(rt, account.id, LinkPurpose.RESET_PASSWORD, HOUR)
    assert (await LinkToken.get(token_hash=token_digest(plain))).subject is None


async def test_the_purposes_are_stored_by_their_names(app: Starlette, api: Api) -> None:
    """Stored rows name their purpose: renaming one would orphan every link in flight."""
    assert {purpose.value for purpose in LinkPurpose} == {
        "verify_billing_contact",
        "reset_password",
        "secure_account",
        "cancel_recovery",
    }


async def test_issue_and_spend_use_the_callers_transaction(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    account = await alice(api)
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            token = await link_tokens.issue(
                rt, account.id, LinkPurpose.SECURE_ACCOUNT, HOUR, connection
            )
            raise RuntimeError("the change failed")
    assert not await LinkToken.exists(token_hash=token_digest(token))
    token = await link_tokens.issue(rt, account.id, LinkPurpose.SECURE_ACCOUNT, HOUR)
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            spent = await link_tokens.spend(rt, token, LinkPurpose.SECURE_ACCOUNT, connection)
            assert spent.used_at == T0
            raise RuntimeError("what the link does failed")
    # The failure left the link unused.
    assert (await LinkToken.get(token_hash=token_digest(token))).used_at is None


async def test_issue_spend_and_revoke_use_only_the_connection_they_are_given(
    app: Starlette, api: Api
) -> None:
    # Run from a task that did not open the transaction: the connection argument is the only
    # way their statements reach it (docs/mutation-testing.md).
    rt: Runtime = app.state.runtime
    account = await alice(api)
    kept = await link_tokens.issue(rt, account.id, LinkPurpose.RESET_PASSWORD, HOUR)
    outside = contextvars.copy_context()
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            token = await with_connection_only(
                outside,
                link_tokens.issue(rt, account.id, LinkPurpose.SECURE_ACCOUNT, HOUR, connection),
            )
            spent = await with_connection_only(
                outside, link_tokens.spend(rt, token, LinkPurpose.SECURE_ACCOUNT, connection)
            )
            assert spent.token_hash == token_digest(token) and spent.used_at == T0
            await with_connection_only(
                outside, link_tokens.revoke(account.id, LinkPurpose.RESET_PASSWORD, connection)
            )
            gone = LinkToken.filter(token_hash=token_digest(kept)).using_db(connection)
            assert not await gone.exists()
            raise RuntimeError("what the link does failed")
    assert not await LinkToken.exists(token_hash=token_digest(token))
    assert await LinkToken.exists(token_hash=token_digest(kept), used_at=None)


async def test_spend_returns_the_spent_row_and_names_the_callers_field(
    app: Starlette, api: Api, clock: FrozenClock
) -> None:
    rt: Runtime = app.state.runtime
    account = await alice(api)
    other = await link_tokens.issue(rt, account.id, LinkPurpose.CANCEL_RECOVERY, HOUR)
    token = await link_tokens.issue(rt, account.id, LinkPurpose.CANCEL_RECOVERY, HOUR)
    clock.advance(60)
    spent = await link_tokens.spend(rt, token, LinkPurpose.CANCEL_RECOVERY)
    assert spent.token_hash == token_digest(token) and spent.used_at == T0 + timedelta(minutes=1)
    assert (await LinkToken.get(token_hash=token_digest(other))).used_at is None
    with pytest.raises(LinkExpired) as refused:
        await link_tokens.spend(rt, token, LinkPurpose.CANCEL_RECOVERY, field="link")
    assert refused.value.field == "link"
    with pytest.raises(LinkExpired) as default:
        await link_tokens.spend(rt, "never-issued", LinkPurpose.CANCEL_RECOVERY)
    assert default.value.field == "token"


async def test_revoke_deletes_only_unused_links_of_its_purpose(app: Starlette, api: Api) -> None:
    rt: Runtime = app.state.runtime
    account = await alice(api)
    used = await link_tokens.issue(rt, account.id, LinkPurpose.RESET_PASSWORD, HOUR)
    await link_tokens.spend(rt, used, LinkPurpose.RESET_PASSWORD)
    unused = await link_tokens.issue(rt, account.id, LinkPurpose.RESET_PASSWORD, HOUR)
    other = await link_tokens.issue(rt, account.id, LinkPurpose.SECURE_ACCOUNT, HOUR)
    async with in_transaction() as connection:
        await link_tokens.revoke(account.id, LinkPurpose.RESET_PASSWORD, connection)
    assert not await LinkToken.exists(token_hash=token_digest(unused))
    # The spent link stays (the record of its use), and other purposes are untouched.
    assert await LinkToken.exists(token_hash=token_digest(used), used_at__isnull=False)
    assert await LinkToken.exists(token_hash=token_digest(other), used_at=None)
