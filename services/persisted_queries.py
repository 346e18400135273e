"""Persisted queries: documents a client names by an id instead of sending their text.

Two sources, looked up in this order:

- trusted documents, a manifest the operator gives (TRUSTED_DOCUMENTS): Apollo's persisted
  query manifest (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations":
  [{"id", "name", "type", "body"}]}`) or Relay's `{id: text}` map. With TRUSTED_DOCUMENTS_ONLY
  nothing else runs: a request whose text is not in the manifest is refused.
- automatic persisted queries (Apollo's APQ): a client sends a document's sha256 alone, and on
  a miss the text with its hash, which registers it. The store is bounded in entries and in
  bytes (least recently used first out), and lives in Redis when REDIS_URL is set, so every
  process serving the API knows what any of them was sent (each process keeps a copy of what
  it looked up, so a known hash costs no round trip).

A registered text must hash to the id it is sent under: otherwise a client could put any text
under the hash of another operation, and every client sending that hash would run it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.errors import PersistedQueryNotAllowed

logger = logging.getLogger("verrou.persisted_queries")

APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"
# The GraphQL-over-HTTP persisted documents proposal prefixes a sha256 id with its algorithm.
SHA256_PREFIX = "sha256:"
REDIS_TIMEOUT_SECONDS = 2.0


class ManifestError(ValueError):
    """TRUSTED_DOCUMENTS names a file that is not a manifest this server reads."""


class HashMismatch(ValueError):
    """A document sent for registration does not hash to the id it was sent under."""


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """The manifest's documents by id, whichever of the two formats the file is."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: {error}") from None
    if not isinstance(content, dict):
        raise ManifestError(f"{path}: a manifest is a JSON object")
    if content.get("format") == APOLLO_MANIFEST_FORMAT:
        if content.get("version") != 1:
            raise ManifestError(f"{path}: only version 1 of Apollo's manifest is read")
        operations = content.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"{path}: `operations` must be a list")
        documents = {}
        for operation in operations:
            if not isinstance(operation, dict):
                raise ManifestError(f"{path}: each operation is an object")
            document_id, body = operation.get("id"), operation.get("body")
            if not isinstance(document_id, str) or not isinstance(body, str):
                raise ManifestError(f"{path}: each operation needs a string `id` and `body`")
            documents[document_id] = body
        return documents
    if not all(isinstance(key, str) and isinstance(v, str) for key, v in content.items()):
        raise ManifestError(f"{path}: a Relay manifest maps each id to the document's text")
    return dict(content)


class DocumentStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, text: str) -> None: ...

    async def close(self) -> None: ...


class MemoryDocumentStore:
    """One process's store: least recently used out first, past either bound."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0

    async def get(self, sha256: str) -> str | None:
        text = self._documents.get(sha256)
        if text is not None:
            self._documents.move_to_end(sha256)
        return text

    async def put(self, sha256: str, text: str) -> None:
        size = len(text.encode("utf-8"))
        if size > self._max_bytes or sha256 in self._documents:
            return
        self._documents[sha256] = text
        self._bytes += size
        while len(self._documents) > self._max_entries or self._bytes > self._max_bytes:
            _, evicted = self._documents.popitem(last=False)
            self._bytes -= len(evicted.encode("utf-8"))

    async def close(self) -> None:
        return None


# One script, so that two processes registering at once never leave the byte count wrong:
# the text in a hash, its last use in a sorted set, and the total size in a counter.
_PUT_SCRIPT = """
local documents, recent, size = KEYS[1], KEYS[2], KEYS[3]
local id, text, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local max_entries, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('HSETNX', documents, id, text) == 1 then
  redis.call('INCRBY', size, #text)
end
redis.call('ZADD', recent, now, id)
while redis.call('ZCARD', recent) > max_entries
    or tonumber(redis.call('GET', size) or '0') > max_bytes do
  local oldest = redis.call('ZPOPMIN', recent)
  if #oldest == 0 then break end
  local old = redis.call('HGET', documents, oldest[1])
  if old then
    redis.call('HDEL', documents, oldest[1])
    redis.call('DECRBY', size, #old)
  end
end
"""


class RedisDocumentStore:
    """The store shared by every process on one Redis, with the same two bounds."""

    DOCUMENTS = "verrou:apq:documents"
    RECENT = "verrou:apq:recent"
    SIZE = "verrou:apq:bytes"

    def __init__(self, url: str, max_entries: int, max_bytes: int) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._put = self._redis.register_script(_PUT_SCRIPT)

    async def get(self, sha256: str) -> str | None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hget(self.DOCUMENTS, sha256)
                pipe.time()
                text, (seconds, micros) = await pipe.execute()
            if text is not None:
                # Recency on Redis's clock (TIME), the same for every process.
                await self._redis.zadd(self.RECENT, {sha256: seconds * 1e6 + micros}, xx=True)
        except RedisError as error:
            # The client then sends the text again, which runs: slower, never refused.
            logger.warning("persisted query store unavailable: %s", error)
            return None
        return text if isinstance(text, str) else None

    async def put(self, sha256: str, text: str) -> None:
        try:
            seconds, micros = await self._redis.time()
            await self._put(
                keys=[self.DOCUMENTS, self.RECENT, self.SIZE],
                args=[sha256, text, seconds * 1e6 + micros, self._max_entries, self._max_bytes],
            )
        except RedisError as error:
            # The request that sent the text still runs; the next one sends it again.
            logger.warning("persisted query store unavailable: %s", error)

    async def close(self) -> None:
        await self._redis.aclose()


class LocalFirstStore:
    """The shared store behind a memory store of this process's own (the same bounds): a
    hash this process has looked up or registered costs no round trip to Redis after that.
    A hash names its text, so a copy is never stale; one that Redis evicted still runs here
    until this process evicts it too, and Redis's recency counts only the lookups it sees."""

    def __init__(self, shared: DocumentStore, max_entries: int, max_bytes: int) -> None:
        self._shared = shared
        self._local = MemoryDocumentStore(max_entries, max_bytes)

    async def get(self, sha256: str) -> str | None:
        text = await self._local.get(sha256)
        if text is None:
            text = await self._shared.get(sha256)
            if text is not None:
                await self._local.put(sha256, text)
        return text

    async def put(self, sha256: str, text: str) -> None:
        await self._shared.put(sha256, text)
        await self._local.put(sha256, text)

    async def close(self) -> None:
        await self._shared.close()


class PersistedQueries:
    """What a request's id or hash stands for, and whether a text may run at all."""

    def __init__(
        self, trusted: Mapping[str, str], *, trusted_only: bool, store: DocumentStore
    ) -> None:
        self._trusted = dict(trusted)
        self._trusted_texts = frozenset(trusted.values())
        self.trusted_only = trusted_only
        self._store = store

    def trusted_document(self, document_id: str) -> str | None:
        """A trusted document by its manifest id, or by `sha256:<hash>` of its text."""
        text = self._trusted.get(document_id)
        if text is None and document_id.startswith(SHA256_PREFIX):
            text = self._trusted.get(document_id.removeprefix(SHA256_PREFIX))
        return text

    async def by_hash(self, sha256: str) -> str | None:
        """APQ's lookup: the manifest first (its ids are sha256 hashes too), then the store,
        which holds only what may run (nothing is registered under TRUSTED_DOCUMENTS_ONLY)."""
        trusted = self._trusted.get(sha256)
        if trusted is not None or self.trusted_only:
            return trusted
        return await self._store.get(sha256)

    def check_registration(self, sha256: str, text: str) -> None:
        """APQ's text with its hash, before it runs: the text must hash to its id, and be
        allowed to run at all."""
        if sha256_of(text) != sha256.lower():
            raise HashMismatch("provided sha does not match query")
        self.check_allowed(text)

    async def remember(self, sha256: str, text: str) -> None:
        """Once the text ran (it parsed and validated): the hash alone runs it from now on."""
        if not self.trusted_only:
            await self._store.put(sha256.lower(), text)

    def is_trusted(self, text: str) -> bool:
        """Whether the text is one of the manifest's documents."""
        return text in self._trusted_texts

    def check_allowed(self, text: str) -> None:
        if self.trusted_only and not self.is_trusted(text):
            raise PersistedQueryNotAllowed()

    async def close(self) -> None:
        await self._store.close()


def persisted_queries_from(
    *,
    trusted_documents: Path | None,
    trusted_only: bool,
    redis_url: str | None,
    max_entries: int,
    max_bytes: int,
) -> PersistedQueries:
    trusted = load_manifest(trusted_documents) if trusted_documents else {}
    store: DocumentStore = (
        LocalFirstStore(
            RedisDocumentStore(redis_url, max_entries, max_bytes), max_entries, max_bytes
        )
        if redis_url
        else MemoryDocumentStore(max_entries, max_bytes)
    )
    return PersistedQueries(trusted, trusted_only=trusted_only, store=store)
