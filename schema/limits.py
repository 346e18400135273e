"""How much one GraphQL request may ask for, checked before any of it runs.

Two stages, both before execution:

- `RequestLimits.check_request`, before parsing: the document's size in bytes, the variables'
  size, and the document's token count. The parser's CPU and memory grow with the tokens, so
  a document refused here is never parsed.
- validation rules, with the schema's own: the depth of nested fields and the number of
  aliases. Aliases are the cheap way to make one request do the work of many.

Every refusal is a top-level error with `extensions.code` (`REQUEST_TOO_LARGE` for sizes,
`QUERY_TOO_COMPLEX` for the shape of the document), `extensions.limit` (the setting to raise)
and `extensions.max`; its message names the limit and its value.

One more limit is checked as each mutation starts (`refuse_repeated`, from the payload errors'
wrapper): a mutation that changes 2FA or sends email (ONCE_PER_REQUEST) runs once per
request. Its other aliases answer a payload error (INVALID_INPUT, MUTATION_REPEATED) and do
nothing: one request must not send fifteen emails or regenerate codes fifteen times.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValidationContext,
    ValidationRule,
    VariableNode,
)
from graphql.language import Lexer

from services.errors import InvalidInput
from services.settings import Settings

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


class LimitExceeded(GraphQLError):
    """A request over one of the limits; never masked (it has no path)."""

    def __init__(self, code: str, setting: str, maximum: int, message: str) -> None:
        super().__init__(message, extensions={"code": code, "limit": setting, "max": maximum})
        self.code = code


@dataclass(frozen=True)
class RequestLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_document_bytes: int = 100_000
    max_variables_bytes: int = 100_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_document_bytes=settings.graphql_max_document_bytes,
            max_variables_bytes=settings.graphql_max_variables_bytes,
        )

    def check_request(
        self, query: str | None, variables: Mapping[str, Any] | None
    ) -> LimitExceeded | None:
        """The first limit the request is over, before its document is parsed."""
        if query is not None:
            size = len(query.encode("utf-8", "surrogatepass"))
            if size > self.max_document_bytes:
                return LimitExceeded(
                    REQUEST_TOO_LARGE,
                    "GRAPHQL_MAX_DOCUMENT_BYTES",
                    self.max_document_bytes,
                    f"The GraphQL document is {size} bytes; the limit is "
                    f"{self.max_document_bytes} bytes (GRAPHQL_MAX_DOCUMENT_BYTES).",
                )
        if variables:
            size = variables_size(variables)
            if size > self.max_variables_bytes:
                return LimitExceeded(
                    REQUEST_TOO_LARGE,
                    "GRAPHQL_MAX_VARIABLES_BYTES",
                    self.max_variables_bytes,
                    f"The variables are {size} bytes of JSON; the limit is "
                    f"{self.max_variables_bytes} bytes (GRAPHQL_MAX_VARIABLES_BYTES).",
                )
        if query is not None and over_token_limit(query, self.max_tokens):
            return LimitExceeded(
                QUERY_TOO_COMPLEX,
                "GRAPHQL_MAX_TOKENS",
                self.max_tokens,
                f"The GraphQL document has more than {self.max_tokens} tokens, "
                f"the limit (GRAPHQL_MAX_TOKENS).",
            )
        return None

    def validation_rules(self) -> tuple[type[ValidationRule], ...]:
        """Made once per schema: the validation cache keys on the rule classes."""
        return (depth_rule(self.max_depth), alias_rule(self.max_aliases))


def variables_size(variables: Mapping[str, Any]) -> int:
    # Uploaded files (multipart) count for nothing here: MAX_DOCUMENT_BYTES bounds them.
    encoded = json.dumps(variables, separators=(",", ":"), default=lambda _: None)
    return len(encoded.encode("utf-8", "surrogatepass"))


@functools.lru_cache(maxsize=256)
def over_token_limit(query: str, max_tokens: int) -> bool:
    """Counts the lexer's tokens (comments included), stopping one past the limit.
    A document the lexer cannot read is left for the parser to report."""
    lexer = Lexer(Source(query))
    count = 0
    try:
        while True:
            token = lexer.advance()
            # The comments skipped on the way hang between the previous token and this one.
            skipped = lexer.last_token.next
            while skipped is not None and skipped is not token:
                count += 1
                skipped = skipped.next
            if token.kind is TokenKind.EOF:
                return count > max_tokens
            count += 1
            if count > max_tokens:
                return True
    except GraphQLError:
        return False


def _fragments(context: ValidationContext) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in context.document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def _operations(context: ValidationContext) -> list[OperationDefinitionNode]:
    return [
        definition
        for definition in context.document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]


class _FragmentWalk:
    """Folds a selection set through its fragments, each fragment once: a fragment spread
    twice in each of twenty fragments would otherwise cost 2^20 visits. A fragment cycle
    (which the schema's own rules report) counts for nothing."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[tuple[str, str], int] = {}

    def depth(self, selection_set: SelectionSetNode | None) -> int:
        """Levels of fields below; introspection fields (`__schema`, `__type`) count for
        nothing, as in Strawberry's QueryDepthLimiter (GraphiQL's own query goes deeper)."""
        deepest = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue
                deepest = max(deepest, 1 + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment(selection.name.value, self.depth))
        return deepest

    def aliases(self, selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += (1 if selection.alias else 0) + self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self.aliases)
        return total

    def _fragment(self, name: str, fold: Callable[[SelectionSetNode | None], int]) -> int:
        key = (fold.__name__, name)
        if key not in self.memo:
            fragment = self.fragments.get(name)
            self.memo[key] = 0  # in progress: a cycle stops here
            self.memo[key] = fold(fragment.selection_set) if fragment else 0
        return self.memo[key]


def depth_rule(max_depth: int) -> type[ValidationRule]:
    class MaxDepth(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            walk = _FragmentWalk(_fragments(context))
            for operation in _operations(context):
                depth = walk.depth(operation.selection_set)
                if depth > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(
                        LimitExceeded(
                            QUERY_TOO_COMPLEX,
                            "GRAPHQL_MAX_DEPTH",
                            max_depth,
                            f"Operation '{name}' is {depth} levels deep; the limit is "
                            f"{max_depth} (GRAPHQL_MAX_DEPTH).",
                        )
                    )

    return MaxDepth


def alias_rule(max_aliases: int) -> type[ValidationRule]:
    class MaxAliases(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            walk = _FragmentWalk(_fragments(context))
            # Every operation of the document, as Strawberry's MaxAliasesLimiter counts.
            total = sum(walk.aliases(operation.selection_set) for operation in _operations(context))
            if total > max_aliases:
                context.report_error(
                    LimitExceeded(
                        QUERY_TOO_COMPLEX,
                        "GRAPHQL_MAX_ALIASES",
                        max_aliases,
                        f"The document has {total} aliases; the limit is {max_aliases} "
                        f"(GRAPHQL_MAX_ALIASES).",
                    )
                )

    return MaxAliases


# Mutations that change 2FA, a password, the account or its sessions, or send email. Sign-up
# and sign-in stay out: each alias of theirs is throttled on its own (SIGN_UP_MAX_PER_ADDRESS,
# MAX_FAILURES, a challenge's attempts), as tests/test_graphql_limits.py relies on.
ONCE_PER_REQUEST = frozenset(
    {
        "startTwoFactor",
        "confirmTwoFactor",
        "regenerateBackupCodes",
        "disableTwoFactor",
        "requestTwoFactorRecovery",
        "resolveRecoveryRequest",
        "cancelTwoFactorRecovery",
        "changePassword",
        "requestPasswordReset",
        "resetPassword",
        "secureAccount",
        "updateAccount",
        "verifyBillingContact",
        "startSecurityKeyRegistration",
        "finishSecurityKeyRegistration",
        "removeAuthenticator",
        "revokeSession",
        "signOutEverywhere",
    }
)


def refuse_repeated(info: GraphQLResolveInfo[Any]) -> None:
    """Raise MUTATION_REPEATED for a top-level ONCE_PER_REQUEST mutation that is not the first
    of its name in the operation (aliases, fragments and @skip/@include counted as the
    executor counts them)."""
    name = info.field_name
    if name not in ONCE_PER_REQUEST or info.path.prev is not None:
        return
    keys = _top_level_keys(info, info.operation.selection_set, set())
    first = next((key for key, field_name in keys if field_name == name), None)
    if first is not None and info.path.key != first:
        raise InvalidInput("MUTATION_REPEATED", params={"mutation": name})


def _top_level_keys(
    info: GraphQLResolveInfo[Any], selection_set: SelectionSetNode, seen: set[str]
) -> list[tuple[str, str]]:
    """(response key, field name) of each field the operation runs, in execution order."""
    keys: list[tuple[str, str]] = []
    for selection in selection_set.selections:
        if not _included(selection, info.variable_values):
            continue
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            keys.append((key, selection.name.value))
        elif isinstance(selection, InlineFragmentNode):
            keys += _top_level_keys(info, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = info.fragments.get(selection.name.value)
            if fragment is not None:
                keys += _top_level_keys(info, fragment.selection_set, seen)
    return keys


def _included(selection: SelectionNode, variables: object) -> bool:
    """False under @skip(if: true) or @include(if: false), literal or variable. The
    variables are a plain dict under Strawberry's executor, VariableValues under
    graphql-core 3.3's own."""
    given = variables if isinstance(variables, Mapping) else getattr(variables, "coerced", {})
    for directive in selection.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        arguments = directive.arguments or ()
        condition = next((a.value for a in arguments if a.name.value == "if"), None)
        if isinstance(condition, VariableNode):
            value = given.get(condition.name.value)
        else:
            value = isinstance(condition, BooleanValueNode) and condition.value
        if (name == "skip") == (value is True):
            return False
    return True
