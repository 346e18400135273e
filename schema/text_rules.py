"""Text no column can hold: refused in the document, before anything runs.

PostgreSQL's text types cannot store U+0000 (asyncpg raises CharacterNotInRepertoireError),
so a NUL in any string argument would end as an unexpected, masked error, or worse, work on
SQLite and fail on PostgreSQL. Variables are JSON and request_json refuses it there; this
rule covers string literals written in the document itself (`"\\u0000"`).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule


class NoNulInStrings(ValidationRule):
    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError("String values cannot contain U+0000 (NUL).", node))
