"""What the GraphQL view answers at the HTTP level, beyond Strawberry's defaults."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType


class QueriesOnlyOverGet:
    """A mutation sent with GET is 405 Method Not Allowed (with `Allow: POST`), not
    Strawberry's 400: the method is what is wrong. GET requests can be triggered by a link
    or an image on another site, so nothing that changes state may run on one."""

    async def execute_single(self, **kwargs: Any) -> ExecutionResult:
        try:
            result: ExecutionResult = await super().execute_single(**kwargs)  # type: ignore[misc]
        except HTTPException as error:
            refused = error.__cause__
            if not (
                isinstance(refused, InvalidOperationTypeError)
                and refused.operation_type is OperationType.MUTATION
                and kwargs["request_adapter"].method == "GET"
            ):
                raise
            response = kwargs["sub_response"]
            response.status_code = 405
            response.headers["Allow"] = "POST"
            return ExecutionResult(
                data=None,
                errors=[GraphQLError(error.reason, extensions={"code": "METHOD_NOT_ALLOWED"})],
            )
        return result
