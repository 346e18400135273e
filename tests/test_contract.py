"""The schema served is the contract: nothing of ../shared/contract is renamed or dropped,
and the committed schema.graphql is what the code prints (`make schema` rewrites it).
Descriptions are checked in tests/test_descriptions.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import build_schema as parse_sdl
from graphql.utilities import find_breaking_changes

from schema.build import build_schema

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT.parent / "shared" / "contract" / "schema.graphql"


def test_committed_schema_file_is_the_printed_schema() -> None:
    assert (ROOT / "schema.graphql").read_text() == build_schema().as_str() + "\n"


def test_schema_breaks_nothing_of_the_public_contract() -> None:
    if not CONTRACT.exists():
        pytest.skip(f"no contract at {CONTRACT}: the comparison needs ../shared beside the repo")
    changes = find_breaking_changes(
        parse_sdl(CONTRACT.read_text()), parse_sdl(build_schema().as_str())
    )
    assert [change.description for change in changes] == []


def test_the_breaking_change_check_sees_changed_types() -> None:
    """Guards the comparison above: graphql-core's find_breaking_changes, on our printed
    schema with a field's type and an input field's type changed, reports both."""
    ours = build_schema().as_str()
    broken = ours.replace(
        "unreadNotificationCount: Int!", "unreadNotificationCount: String!"
    ).replace("challengeToken: String!", "challengeToken: Int!")
    # verifySignIn's and verifySignInWithSecurityKey's inputs, and requestTwoFactorRecovery's.
    assert broken.count("challengeToken: Int!") == 3
    changes = find_breaking_changes(parse_sdl(ours), parse_sdl(broken))
    descriptions = " | ".join(change.description for change in changes)
    assert "Account.unreadNotificationCount changed type from Int! to String!" in descriptions
    assert "challengeToken changed type from String! to Int!" in descriptions


PLANNED = CONTRACT.parent / "planned.graphql"
# Section C adds an argument to an existing field, written in a comment (SDL cannot extend a
# field): applied here to the contract's Subscription.notifications.
LIVE_FIELD = "  notifications: Notification!"
PLANNED_ARGUMENT = re.compile(
    r'notifications\( "(?P<description>[^"]+)" after: String = null \): Notification!'
)


def planned_argument(planned: str) -> str:
    """The commented field of section C as SDL, its description as planned.graphql says it."""
    comments = " ".join(
        line.lstrip("#").strip() for line in planned.splitlines() if line.startswith("#")
    )
    match = PLANNED_ARGUMENT.search(comments)
    assert match is not None, "section C's notifications(after:) comment was not found"
    described = f'"{match["description"]}"'
    return f"  notifications(\n    {described}\n    after: String = null\n  ): Notification!"


def planned_contract() -> str:
    """The contract with planned.graphql applied: its `extend`s, and the argument its
    section C gives in a comment."""
    text = PLANNED.read_text()
    contract = CONTRACT.read_text()
    assert contract.count(LIVE_FIELD) == 1
    return contract.replace(LIVE_FIELD, planned_argument(text)) + "\n" + text


def test_schema_has_the_planned_contract() -> None:
    """Sections A (account safety), B (security keys and passkeys) and C (client caches and
    reconnects) of planned.graphql are in the schema with their names and shapes:
    graphql-core reports any of them missing or changed as a breaking change."""
    if not PLANNED.exists():
        pytest.skip(f"no planned contract at {PLANNED}: needs ../shared beside the repo")
    planned = parse_sdl(planned_contract())
    for name in ("Authenticator", "PasskeySignIn", "SecurityKeyRegistration", "DeviceSession"):
        assert name in planned.type_map  # the sections were read
    assert "account" in planned.type_map["DisableTwoFactorPayload"].fields  # type: ignore[attr-defined]
    live = planned.type_map["Subscription"].fields["notifications"]  # type: ignore[attr-defined]
    assert live.args["after"].description.startswith("A notifications cursor")
    changes = find_breaking_changes(planned, parse_sdl(build_schema().as_str()))
    assert [change.description for change in changes] == []


def test_the_planned_check_sees_a_missing_mutation() -> None:
    if not PLANNED.exists():
        pytest.skip(f"no planned contract at {PLANNED}: needs ../shared beside the repo")
    ours = build_schema().as_str()
    without = re.sub(r"\n  \"\"\"[^\"]*\"\"\"\n  startPasskeySignIn: [^\n]+", "", ours)
    assert "startPasskeySignIn:" not in without
    changes = find_breaking_changes(parse_sdl(planned_contract()), parse_sdl(without))
    assert [c.description for c in changes] == ["Field Mutation.startPasskeySignIn was removed."]


def test_the_planned_check_sees_section_c_missing() -> None:
    """Without a payload's `account` or the subscription's `after`, the check fails."""
    if not PLANNED.exists():
        pytest.skip(f"no planned contract at {PLANNED}: needs ../shared beside the repo")
    ours = build_schema().as_str()
    disable = ours.index("type DisableTwoFactorPayload {")
    without_account = ours[:disable] + re.sub(
        r"\n  \"\"\"[^\"]*\"\"\"\n  account: Account", "", ours[disable:], count=1
    )
    live = ours.index("type Subscription {")
    without_after = ours[:live] + re.sub(
        r'notifications\(\n    """[\s\S]*?"""\n    after: String = null\n  \)',
        "notifications",
        ours[live:],
        count=1,
    )
    planned = parse_sdl(planned_contract())
    for broken, expected in [
        (without_account, "Field DisableTwoFactorPayload.account was removed."),
        (without_after, "Argument Subscription.notifications(after:) was removed."),
    ]:
        assert broken != ours
        changes = find_breaking_changes(planned, parse_sdl(broken))
        assert [c.description for c in changes] == [expected]
