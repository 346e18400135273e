"""Point 12 for the password actions: the notification reaches the open sockets of the
sessions a change ends, before those sockets close with 4403."""

from __future__ import annotations

from datetime import timedelta

from models import Account
from services import link_tokens
from services.link_tokens import LinkPurpose
from tests.conftest import LiveServer
from tests.helpers import PASSWORD, Api, until
from tests.test_subscriptions import over_socket, ready
from tests.ws_client import subscriber

__all__ = ["over_socket"]  # the fixture, used by name

# Today the change publishes its notification before it announces the ended sessions
# (services/changes.py), but the session watch closes the socket as soon as it reads the
# announcement, before the subscription's execution has sent the event: the close wins.
# Point 12 of issue 12 ("Events before the door closes") is the transport's fix: remove this
# mark when it lands (not strict: under load the event sometimes wins the race today).

CHANGE_PASSWORD = """
mutation Change($input: ChangePasswordInput!) {
  changePassword(input: $input) { errors { code } }
}
"""
SECURE = """
mutation Secure($input: SecureAccountInput!) { secureAccount(input: $input) { errors { code } } }
"""


async def test_change_password_tells_the_other_sessions_before_closing_them(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    laptop = await api.sign_up()
    phone = (await api.sign_in())["session"]["token"]
    async with subscriber(live.ws_url, phone) as ended:
        await until(ready(live, 1))
        variables = {"input": {"currentPassword": PASSWORD, "newPassword": "a new passphrase 2026"}}
        changed = await api.data(CHANGE_PASSWORD, variables, token=laptop)
        assert changed["changePassword"]["errors"] == []
        event = (await ended.next_event())["data"]["notifications"]
        assert event["kind"] == "PASSWORD_CHANGED"
        assert await ended.close_code() == 4403


async def test_secure_account_tells_every_session_before_closing_them(
    live: LiveServer, over_socket: Api
) -> None:
    api = over_socket
    token = await api.sign_up()
    account = await Account.get(email="alice@example.com")
    link = await link_tokens.issue(
        live.app.state.runtime, account.id, LinkPurpose.SECURE_ACCOUNT, timedelta(days=7)
    )
    async with subscriber(live.ws_url, token) as ended:
        await until(ready(live, 1))
        secured = await api.data(SECURE, {"input": {"token": link}})
        assert secured["secureAccount"]["errors"] == []
        event = (await ended.next_event())["data"]["notifications"]
        assert event["kind"] == "SESSIONS_REVOKED"
        assert await ended.close_code() == 4403
