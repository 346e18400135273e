"""Recovery documents: checked by content, encrypted at rest, served through signed links."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

from models import RecoveryDocument
from services.errors import FileTooLarge, Forbidden, NotFound, UnsupportedFileType
from services.runtime import Runtime
from services.var_files import write_private

CHUNK = 64 * 1024
_DOWNLOAD = b"document-download/v1"
# Accepted by what the bytes are, never by the name or the declared type.
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class UploadedFile(Protocol):
    """What the HTTP layer hands over (Starlette's UploadFile is one)."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class CheckedFile:
    file_name: str
    content_type: str
    content: bytes


def sniff(head: bytes) -> str | None:
    for magic, content_type in _SIGNATURES:
        if head.startswith(magic):
            return content_type
    return None


async def read_checked(rt: Runtime, upload: UploadedFile, field: str) -> CheckedFile:
    """Read in chunks, stopping as soon as the size limit is passed."""
    limit = rt.settings.max_document_bytes
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(field=field, params={"max_mb": limit // 1_000_000})
        chunks.append(chunk)
    content = b"".join(chunks)
    content_type = sniff(content[:16])
    if content_type is None:
        raise UnsupportedFileType(field=field)
    return CheckedFile(
        file_name=_safe_name(upload.filename), content_type=content_type, content=content
    )


def _safe_name(name: str | None) -> str:
    # Only ever shown and offered as a download name; the stored file has a random one.
    cleaned = "".join(c for c in (name or "") if c.isprintable() and c not in '/\\"')
    return cleaned.strip()[:200] or "document"


async def store(rt: Runtime, checked: CheckedFile) -> str:
    """Encrypt and write under a random name; returns that name."""
    directory = rt.settings.documents_dir
    storage_name = secrets.token_hex(16)
    encrypted = await asyncio.to_thread(rt.keys.encrypt, checked.content)
    await asyncio.to_thread(_write, directory, storage_name, encrypted)
    return storage_name


def _write(directory: Path, name: str, encrypted: str) -> None:
    write_private(directory / name, encrypted)


async def load(rt: Runtime, document: RecoveryDocument) -> bytes:
    path = rt.settings.documents_dir / document.storage_name
    try:
        encrypted = await asyncio.to_thread(path.read_text)
    except FileNotFoundError:
        raise NotFound() from None
    return await asyncio.to_thread(lambda: rt.keys.decrypt(encrypted))


def remove_files(rt: Runtime, storage_names: list[str]) -> None:
    for name in storage_names:
        (rt.settings.documents_dir / name).unlink(missing_ok=True)


def download_url(rt: Runtime, document_id: int) -> str:
    expires = int(
        (rt.clock.now() + timedelta(seconds=rt.settings.download_link_ttl_seconds)).timestamp()
    )
    signature = rt.keys.sign(f"{document_id}:{expires}", _DOWNLOAD)
    query = urlencode({"expires": expires, "signature": signature})
    return f"{rt.settings.base_url}/recovery-documents/{document_id}?{query}"


async def open_signed(
    rt: Runtime, document_id: int, expires: str, signature: str
) -> tuple[RecoveryDocument, bytes]:
    """The document and its content, if the link is genuine and still valid."""
    if not expires.isdigit() or not rt.keys.verify(
        f"{document_id}:{expires}", signature, _DOWNLOAD
    ):
        raise Forbidden()
    if datetime.fromtimestamp(int(expires), rt.clock.now().tzinfo) < rt.clock.now():
        raise Forbidden()
    document = await RecoveryDocument.get_or_none(id=document_id)
    if document is None:
        raise NotFound()
    return document, await load(rt, document)
