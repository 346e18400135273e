"""The schema served is the contract: nothing of ../shared/contract is renamed or dropped,
and the committed schema.graphql is what the code prints (`make schema` rewrites it).
Descriptions are checked in tests/test_descriptions.py."""

from __future__ import annotations

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
