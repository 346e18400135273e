"""Per-request batch loaders: a list of N objects asks for its related rows in one query.

Made with each context; `cache=False` because a WebSocket's context lives as long as its
connection, and rows change between its operations: these batch, they do not remember.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from services import reads, recovery
from services.records import Account, RecoveryDocument


async def _documents(request_ids: Sequence[int]) -> list[list[RecoveryDocument]]:
    found = await recovery.documents_of_requests(list(request_ids))
    return [found.get(request_id, []) for request_id in request_ids]


@dataclass
class Loaders:
    accounts: DataLoader[int, Account | None] = field(
        default_factory=lambda: DataLoader(load_fn=reads.accounts_by_id, cache=False)
    )
    recovery_documents: DataLoader[int, list[RecoveryDocument]] = field(
        default_factory=lambda: DataLoader(load_fn=_documents, cache=False)
    )
