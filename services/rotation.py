"""Key rotation: re-encrypt everything at rest under the newest key of ENCRYPTION_KEYS.

Put a new key first in ENCRYPTION_KEYS (keep the old one after it), deploy, then run
`python server.py rotate-keys`. It re-encrypts every TOTP secret and every recovery document
under the new key, in batches; once it has finished, the old key can leave the list.

Safe to interrupt and to run again: a value already under the newest key is skipped, so a
second run finishes at once, and a run stopped half-way resumes where the first left off.
A secret is replaced with a conditional UPDATE on its old ciphertext, so a user restarting
2FA setup meanwhile keeps the new secret; a document file is replaced atomically.

What cannot be rotated: backup codes are kept only as HMACs (bound to their account, see
services.crypto.KeyRing.account_digests), never decryptable, so an unused code made under the
old key verifies only while that key is in the list. The report counts
them; removing the old key earlier means those users regenerate their codes (or use TOTP).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from models import BackupCode, RecoveryDocument, TwoFactor
from services.runtime import Runtime

BATCH_SIZE = 100
# step name, items looked at so far, items in all
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RotationReport:
    secrets: int  # TwoFactor rows looked at
    secrets_rotated: int
    documents: int
    documents_rotated: int
    documents_missing: int  # rows whose file is gone (purged meanwhile)
    backup_codes_unused: int  # HMACs: not rotatable, see the module's docstring


async def rotate_keys(
    rt: Runtime, progress: Progress | None = None, batch_size: int = BATCH_SIZE
) -> RotationReport:
    report = progress or (lambda step, done, total: None)
    secrets, secrets_rotated = await _rotate_secrets(rt, report, batch_size)
    documents, documents_rotated, missing = await _rotate_documents(rt, report, batch_size)
    return RotationReport(
        secrets=secrets,
        secrets_rotated=secrets_rotated,
        documents=documents,
        documents_rotated=documents_rotated,
        documents_missing=missing,
        backup_codes_unused=await BackupCode.filter(used_at=None).count(),
    )


async def _rotate_secrets(rt: Runtime, progress: Progress, batch_size: int) -> tuple[int, int]:
    total = await TwoFactor.all().count()
    done = rotated = 0
    last_id = 0
    progress("secrets", done, total)
    while batch := await TwoFactor.filter(id__gt=last_id).order_by("id").limit(batch_size):
        for device in batch:
            if not rt.keys.is_current(device.encrypted_secret):
                rotated += await replace_secret(
                    device.id, device.encrypted_secret, rt.keys.rotate(device.encrypted_secret)
                )
        done += len(batch)
        last_id = batch[-1].id
        progress("secrets", done, max(total, done))
    return done, rotated


async def replace_secret(device_id: int, read: str, rotated: str) -> int:
    """1 if written; 0 if the row changed since it was read (a restarted setup's new
    secret, already under the newest key, must not be overwritten with the old one)."""
    return await TwoFactor.filter(id=device_id, encrypted_secret=read).update(
        encrypted_secret=rotated
    )


async def _rotate_documents(
    rt: Runtime, progress: Progress, batch_size: int
) -> tuple[int, int, int]:
    directory = rt.settings.documents_dir
    total = await RecoveryDocument.all().count()
    done = rotated = missing = 0
    last_id = 0
    progress("documents", done, total)
    while batch := await RecoveryDocument.filter(id__gt=last_id).order_by("id").limit(batch_size):
        for document in batch:
            # Files are up to max_document_bytes: decrypting is CPU work, off the loop.
            outcome = await asyncio.to_thread(_rotate_file, rt, directory / document.storage_name)
            rotated += outcome == "rotated"
            missing += outcome == "missing"
        done += len(batch)
        last_id = batch[-1].id
        progress("documents", done, max(total, done))
    return done, rotated, missing


def _rotate_file(rt: Runtime, path: Path) -> str:
    try:
        encrypted = path.read_text()
    except FileNotFoundError:
        return "missing"
    if rt.keys.is_current(encrypted):
        return "current"
    rotated = rt.keys.rotate(encrypted)
    # Written beside it, then renamed over it: a reader sees the old file or the new one.
    partial = path.with_name(path.name + ".rotating")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(rotated)
    os.replace(partial, path)
    return "rotated"


class TextProgress:
    """`rotate-keys: secrets 120/120, documents 4/4` on stderr: rewritten in place on a
    terminal, one line per finished step otherwise (logs, CI)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.steps: dict[str, tuple[int, int]] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        self.steps[step] = (done, total)
        line = "rotate-keys: " + ", ".join(
            f"{name} {count}/{of}" for name, (count, of) in self.steps.items()
        )
        if self.in_place:
            self.stream.write("\r" + line)
        elif done == total:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.in_place and self.steps:
            self.stream.write("\n")
            self.stream.flush()
