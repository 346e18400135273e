"""Lost-device recovery: the customer's request, support's decision, and the purge."""

from __future__ import annotations

from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import (
    Account,
    BackupCode,
    Notification,
    RecoveryDocument,
    RecoveryRequest,
    Session,
    SignInChallenge,
    TwoFactor,
)
from models.recovery import DocumentKind, RecoveryStatus
from services import access, documents, emails, notifications, security_events, session_events
from services.documents import CheckedFile, UploadedFile
from services.errors import AlreadyResolved, ChallengeExpired, Forbidden, InvalidInput, NotFound
from services.notifications import NotificationKind
from services.pagination import Page, page
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.sign_in_challenges import find_live

MESSAGE_MAX = 2000


def _checked_text(text: str | None, field: list[str]) -> str | None:
    text = (text or "").strip() or None
    if text is not None and len(text) > MESSAGE_MAX:
        raise InvalidInput("TEXT_TOO_LONG", field=field, params={"max": MESSAGE_MAX})
    return text


async def request(
    rt: Runtime,
    meta: RequestMeta,
    *,
    challenge_token: str,
    message: str | None,
    identity_document: UploadedFile,
    company_registration: UploadedFile | None,
) -> RecoveryRequest:
    """The challenge of a sign-in proves the password; the documents prove the person."""
    challenge = await find_live(rt, challenge_token)
    account = challenge.account
    message = _checked_text(message, ["input", "message"])
    if account.company_name and company_registration is None:
        raise InvalidInput("COMPANY_REGISTRATION_REQUIRED", field=["input", "companyRegistration"])
    if await RecoveryRequest.exists(open_for=account.id):
        raise InvalidInput("RECOVERY_ALREADY_PENDING", field=["input"])
    uploads = [(DocumentKind.IDENTITY, identity_document, "identityDocument")]
    if company_registration is not None:
        uploads.append(
            (DocumentKind.COMPANY_REGISTRATION, company_registration, "companyRegistration")
        )
    files = [
        (kind, await documents.read_checked(rt, upload, ["input", field]))
        for kind, upload, field in uploads
    ]
    stored = [(kind, checked, await documents.store(rt, checked)) for kind, checked in files]
    try:
        created, notification = await _record_request(rt, meta, challenge, message, stored)
    except BaseException:
        documents.remove_files(rt, [name for _, _, name in stored])
        raise
    await notifications.publish(rt, account, [notification])
    return created


async def _record_request(
    rt: Runtime,
    meta: RequestMeta,
    challenge: SignInChallenge,
    message: str | None,
    stored: list[tuple[DocumentKind, CheckedFile, str]],
) -> tuple[RecoveryRequest, Notification]:
    account = challenge.account
    now = rt.clock.now()
    async with in_transaction() as connection:
        # The challenge is spent: one request per proof of the password.
        spent = (
            await SignInChallenge.filter(id=challenge.id, used_at=None)
            .using_db(connection)
            .update(used_at=now)
        )
        if spent != 1:
            raise ChallengeExpired(field=["input", "challengeToken"])
        try:
            created = await RecoveryRequest.create(
                using_db=connection,
                account_id=account.id,
                open_for=account.id,
                message=message,
                created_at=now,
            )
        except IntegrityError:  # a concurrent request for the same account won
            raise InvalidInput("RECOVERY_ALREADY_PENDING", field=["input"]) from None
        for kind, checked, storage_name in stored:
            await RecoveryDocument.create(
                using_db=connection,
                request_id=created.id,
                kind=kind,
                file_name=checked.file_name,
                content_type=checked.content_type,
                size=len(checked.content),
                storage_name=storage_name,
                created_at=now,
            )
        reference = _reference(created.id)
        await security_events.record(
            rt, account.id, SecurityEventKind.RECOVERY_REQUESTED, meta, connection
        )
        notification = await notifications.record(
            rt,
            account,
            NotificationKind.RECOVERY_REQUESTED,
            meta,
            connection,
            {"request_id": reference},
        )
        await emails.enqueue_support_announcement(
            rt, account, reference, _support_link(rt, created.id), meta, connection
        )
    return created, notification


async def resolve(
    rt: Runtime,
    reviewer: Account,
    request_id: int,
    approve: bool,
    note: str | None,
    meta: RequestMeta,
) -> RecoveryRequest:
    access.require_support(reviewer)
    pending = await RecoveryRequest.get_or_none(id=request_id).select_related("account")
    if pending is None:
        raise NotFound(field=["input", "id"])
    if pending.account_id == reviewer.id:
        raise Forbidden("CANNOT_RESOLVE_OWN_REQUEST", field=["input", "id"])
    note = _checked_text(note, ["input", "note"])
    account = pending.account
    now = rt.clock.now()
    status = RecoveryStatus.APPROVED if approve else RecoveryStatus.REJECTED
    async with in_transaction() as connection:
        # The status decides in one conditional UPDATE: resolving twice cannot both pass.
        decided = (
            await RecoveryRequest.filter(id=request_id, status=RecoveryStatus.PENDING)
            .using_db(connection)
            .update(
                status=status,
                open_for=None,
                resolved_at=now,
                resolution_note=note,
                reviewer_id=reviewer.id,
            )
        )
        if decided != 1:
            raise AlreadyResolved(field=["input", "id"])
        if approve:
            await _turn_two_factor_off(rt, account.id, connection)
        await security_events.record(
            rt,
            account.id,
            SecurityEventKind.RECOVERY_APPROVED if approve else SecurityEventKind.RECOVERY_REJECTED,
            meta,
            connection,
        )
        notification = await notifications.record(
            rt,
            account,
            NotificationKind.RECOVERY_APPROVED if approve else NotificationKind.RECOVERY_REJECTED,
            meta,
            connection,
            {"request_id": _reference(request_id), "note": note or ""},
        )
    await notifications.publish(rt, account, [notification])
    if approve:
        await session_events.announce_ended(rt, account.id, None)
    return await RecoveryRequest.get(id=request_id)


async def _turn_two_factor_off(rt: Runtime, account_id: int, connection: BaseDBAsyncClient) -> None:
    """Secret, codes, open challenges and every session of the account: all gone."""
    now = rt.clock.now()
    await TwoFactor.filter(account_id=account_id).using_db(connection).delete()
    await BackupCode.filter(account_id=account_id).using_db(connection).delete()
    challenges = SignInChallenge.filter(account_id=account_id, used_at=None)
    await challenges.using_db(connection).update(used_at=now)
    sessions = Session.filter(account_id=account_id, revoked_at=None)
    await sessions.using_db(connection).update(revoked_at=now)


def _reference(request_id: int) -> str:
    """How emails name a request (the customer may quote it to support)."""
    return f"#{request_id}"


def _support_link(rt: Runtime, request_id: int) -> str:
    return f"{rt.settings.base_url}/#/support/recovery-requests/{request_id}"


async def queue(
    status: RecoveryStatus | None, *, first: int, after: str | None
) -> Page[RecoveryRequest]:
    """Oldest first: the queue support works through."""
    query = RecoveryRequest.all()
    if status is not None:
        query = query.filter(status=status)
    return await page(query, first=first, after=after, newest_first=False)


async def visible(viewer: Account, request_id: int) -> RecoveryRequest | None:
    found = await RecoveryRequest.get_or_none(id=request_id)
    return found if found is not None and access.may_see_recovery_request(viewer, found) else None


async def documents_of_requests(request_ids: list[int]) -> dict[int, list[RecoveryDocument]]:
    """The documents of several requests in one query, by request id."""
    by_request: dict[int, list[RecoveryDocument]] = {}
    for document in await RecoveryDocument.filter(request_id__in=request_ids).order_by("id"):
        by_request.setdefault(document.request_id, []).append(document)
    return by_request


async def purge(rt: Runtime) -> int:
    """Delete the documents of requests resolved longer ago than the retention period."""
    cutoff = rt.clock.now() - timedelta(days=rt.settings.document_retention_days)
    due = await RecoveryRequest.filter(
        resolved_at__lt=cutoff, documents_purged_at=None
    ).values_list("id", flat=True)
    removed = 0
    for request_id in due:
        stale = await RecoveryDocument.filter(request_id=request_id)
        documents.remove_files(rt, [document.storage_name for document in stale])
        await RecoveryDocument.filter(request_id=request_id).delete()
        await RecoveryRequest.filter(id=request_id).update(documents_purged_at=rt.clock.now())
        removed += len(stale)
    return removed
