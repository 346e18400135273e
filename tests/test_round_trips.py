"""Database round trips per operation: the status costs the one statement that signs the
request in, and lists cost a fixed number of statements whatever their length."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from tests.helpers import PASSWORD, Api
from tests.test_recovery import customer, file_request, support_agent

ROUND_TRIP_LOGGER = "tortoise.db_client"


class Statements(logging.Handler):
    """The SQL statements Tortoise sends (it logs each at DEBUG) from the task of the
    request being measured: the mail worker and live events query on tasks of their own.
    (httpx's ASGI transport runs the app in the caller's task.)"""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []
        self.task: asyncio.Task[object] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(("Created connection", "Closed connection")):
            return
        if asyncio.current_task() is self.task:
            self.sql.append(record.getMessage())


@pytest.fixture
def statements() -> Iterator[Statements]:
    handler = Statements()
    logger = logging.getLogger(ROUND_TRIP_LOGGER)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def measured(api: Api, statements: Statements, query: str, token: str) -> list[str]:
    statements.sql.clear()
    statements.task = asyncio.current_task()
    await api.data(query, token=token)
    statements.task = None
    return list(statements.sql)


STATUS = "{ twoFactorStatus { enabled enabledAt pendingSetup backupCodesRemaining } }"
VIEWER = "{ viewer { email twoFactor { enabled backupCodesRemaining backupCodesGeneratedAt } } }"


async def test_the_status_is_read_with_the_session_in_one_statement(
    api: Api, statements: Statements
) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    for query in (STATUS, VIEWER):
        sql = await measured(api, statements, query, token)
        assert len(sql) == 1, sql
    data = await api.data(STATUS, token=token)
    assert data["twoFactorStatus"]["enabled"] is True
    assert data["twoFactorStatus"]["backupCodesRemaining"] == 10


async def test_a_used_backup_code_shows_in_the_next_status(api: Api) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    await api.verify(await api.challenge(), enabled.backup_codes[0])
    data = await api.data(STATUS, token=token)
    assert data["twoFactorStatus"]["backupCodesRemaining"] == 9


async def test_without_two_factor_the_status_is_still_one_statement(
    api: Api, statements: Statements
) -> None:
    token = await api.sign_up()
    sql = await measured(api, statements, STATUS, token)
    assert len(sql) == 1, sql
    data = await api.data(STATUS, token=token)
    assert data["twoFactorStatus"] == {
        "enabled": False,
        "enabledAt": None,
        "pendingSetup": False,
        "backupCodesRemaining": 0,
    }


async def test_a_mutation_answers_with_the_status_it_made_not_the_one_it_started_with(
    api: Api,
) -> None:
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    regenerate = """
    mutation($input: RegenerateBackupCodesInput!) {
      regenerateBackupCodes(input: $input) {
        status { backupCodesRemaining }
        backupCodes
      }
    }"""
    await api.verify(await api.challenge(), enabled.backup_codes[0])
    data = await api.data(regenerate, {"input": {"password": PASSWORD}}, token=token)
    assert data["regenerateBackupCodes"]["status"]["backupCodesRemaining"] == 10


async def test_twenty_notifications_cost_as_many_statements_as_one(
    api: Api, statements: Statements
) -> None:
    """No N+1: each notification's `account` comes from the context, not a query."""
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    query = (
        "{ viewer { notifications(first: 20) { edges { node { message account { email } } } } } }"
    )
    one = await measured(api, statements, query, token)
    for code in enabled.backup_codes[:5]:
        await api.verify(await api.challenge(), code)
    many = await measured(api, statements, query, token)
    assert len(many) == len(one) <= 3, many


QUEUE = """
{ recoveryRequests(first: 20) { edges { node {
    id account { email } documents { kind fileName }
} } } }
"""


async def test_the_recovery_queue_costs_as_many_statements_for_six_requests_as_for_two(
    api: Api, app: Starlette, statements: Statements
) -> None:
    """Each request's account and documents come through batch loaders: one query each for
    the whole page, not one per request."""
    agent = await support_agent(api, app)
    for number in range(6):
        email = f"customer{number}@example.com"
        await customer(api, email)
        await file_request(api, email)
        if number == 1:
            await api.data(QUEUE, token=agent)  # the session's last-seen write, if due
            two = await measured(api, statements, QUEUE, agent)
    await api.data(QUEUE, token=agent)
    six = await measured(api, statements, QUEUE, agent)
    data = await api.data(QUEUE, token=agent)
    edges = data["recoveryRequests"]["edges"]
    assert len(edges) == 6
    assert all(edge["node"]["account"]["email"].startswith("customer") for edge in edges)
    assert all(edge["node"]["documents"] for edge in edges)
    assert len(six) == len(two), six


async def test_a_mutation_reads_the_status_afresh_even_for_the_signed_in_account(
    api: Api,
) -> None:
    """The status read with the session is the request's start: a mutation that changes it
    (here a backup code spent by a sign-in sent with the same account's token) answers with
    the new one, not that snapshot."""
    token = await api.sign_up()
    enabled = await api.enable_two_factor(token)
    verify = """
    mutation($input: VerifySignInInput!) {
      verifySignIn(input: $input) { session { account { twoFactor { backupCodesRemaining } } } }
    }"""
    challenge = await api.challenge()
    variables = {"input": {"challengeToken": challenge, "code": enabled.backup_codes[0]}}
    data = await api.data(verify, variables, token=token)
    assert data["verifySignIn"]["session"]["account"]["twoFactor"]["backupCodesRemaining"] == 9
