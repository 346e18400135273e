"""Lost-device recovery: the customer's request, support's decision, and the purge.

Each of support's actions is a security event on the customer's account and an audit line
with the support account's id (services.audit): a decision, a document opened, the queue
viewed (an audit line only: it is no one customer's).
"""

from __future__ import annotations

from datetime import timedelta

from tortoise.exceptions import IntegrityError

from models import Account, RecoveryDocument, RecoveryRequest, SignInChallenge
from models.recovery import DocumentKind, RecoveryStatus
from services import (
    access,
    audit,
    changes,
    documents,
    emails,
    recovery_schedule,
    security_events,
    validation,
)
from services.audit import SupportAction
from services.changes import Change
from services.documents import CheckedFile, UploadedFile
from services.errors import (
    WHOLE_INPUT,
    AlreadyResolved,
    ChallengeExpired,
    ConfirmationRequired,
    Forbidden,
    InvalidInput,
    NotFound,
)
from services.notifications import NotificationKind
from services.pagination import Page, page
from services.runtime import RequestMeta, Runtime
from services.security_events import SecurityEventKind
from services.sign_in_challenges import find_live


def _free_text(text: str | None, field: str) -> str | None:
    """A message for support or the customer: trimmed, capped, no control characters but
    line breaks and tabs."""
    return validation.optional_text(text, field, validation.MESSAGE_MAX, multiline=True)


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
    message = _free_text(message, "message")
    challenge = await find_live(rt, challenge_token)
    account = challenge.account
    if account.company_name and company_registration is None:
        raise InvalidInput("COMPANY_REGISTRATION_REQUIRED", field="company_registration")
    if await RecoveryRequest.exists(open_for=account.id):
        raise InvalidInput("RECOVERY_ALREADY_PENDING", field=WHOLE_INPUT)
    uploads = [(DocumentKind.IDENTITY, identity_document, "identity_document")]
    if company_registration is not None:
        uploads.append(
            (DocumentKind.COMPANY_REGISTRATION, company_registration, "company_registration")
        )
    files = [
        (kind, await documents.read_checked(rt, upload, field)) for kind, upload, field in uploads
    ]
    stored = [(kind, checked, await documents.store(rt, checked)) for kind, checked in files]
    # The files are written before the transaction: they go again unless it commits.
    storage_names = [name for _, _, name in stored]
    async with changes.account_change(
        rt, account, meta, on_rollback=lambda: documents.remove_files(rt, storage_names)
    ) as change:
        return await _record_request(change, challenge, message, stored)


async def _record_request(
    change: Change,
    challenge: SignInChallenge,
    message: str | None,
    stored: list[tuple[DocumentKind, CheckedFile, str]],
) -> RecoveryRequest:
    rt, account, connection = change.rt, change.account, change.connection
    now = rt.clock.now()
    # The challenge is spent: one request per proof of the password.
    spent = (
        await SignInChallenge.filter(id=challenge.id, used_at=None)
        .using_db(connection)
        .update(used_at=now)
    )
    if spent != 1:
        raise ChallengeExpired(field="challenge_token")
    try:
        created = await RecoveryRequest.create(
            using_db=connection,
            account_id=account.id,
            open_for=account.id,
            message=message,
            created_at=now,
        )
    except IntegrityError:  # a concurrent request for the same account won
        raise InvalidInput("RECOVERY_ALREADY_PENDING", field=WHOLE_INPUT) from None
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
    await change.record_event(SecurityEventKind.RECOVERY_REQUESTED)
    await change.notify(NotificationKind.RECOVERY_REQUESTED, {"request_id": reference})
    await emails.enqueue_support_announcement(
        rt, account, reference, _support_link(rt, created.id), change.meta, connection
    )
    return created


async def resolve(
    rt: Runtime,
    reviewer: Account,
    request_id: int,
    approve: bool,
    note: str | None,
    meta: RequestMeta,
    *,
    confirm: bool = False,
) -> RecoveryRequest:
    """Support's decision. An approval needs `confirm` (the second confirmation) and, with
    a waiting period, only schedules 2FA turning off (services.recovery_schedule)."""
    note = _free_text(note, "note")
    await access.require_acting_support(reviewer)
    if approve and not confirm:
        raise ConfirmationRequired(field="confirm")
    pending = await RecoveryRequest.get_or_none(id=request_id).select_related("account")
    if pending is None:
        raise NotFound(field="id")
    if pending.account_id == reviewer.id:
        raise Forbidden("CANNOT_RESOLVE_OWN_REQUEST", field="id")
    account = pending.account
    now = rt.clock.now()
    wait = recovery_schedule.waiting_period(rt)
    scheduled = approve and wait.total_seconds() > 0
    status = (
        RecoveryStatus.SCHEDULED
        if scheduled
        else RecoveryStatus.APPROVED
        if approve
        else RecoveryStatus.REJECTED
    )
    # Written on the customer's account: support's IP address and browser are not theirs.
    on_behalf = RequestMeta(by_support=True)
    async with changes.account_change(rt, account, on_behalf) as change:
        # The status decides in one conditional UPDATE: resolving twice cannot both pass.
        decided = (
            await RecoveryRequest.filter(id=request_id, status=RecoveryStatus.PENDING)
            .using_db(change.connection)
            .update(
                status=status,
                # A scheduled request stays the account's open one until it ends.
                open_for=account.id if scheduled else None,
                effective_at=now + wait if scheduled else None,
                resolved_at=now,
                resolution_note=note,
                reviewer_id=reviewer.id,
            )
        )
        if decided != 1:
            raise AlreadyResolved(field="id")
        if scheduled:
            await recovery_schedule.schedule(change, request_id, note, now + wait)
        elif approve:
            await recovery_schedule.turn_off_for_recovery(change, request_id, note)
        else:
            await change.record_event(SecurityEventKind.RECOVERY_REJECTED)
            await change.notify(
                NotificationKind.RECOVERY_REJECTED,
                {"request_id": _reference(request_id), "note": note or ""},
            )
    action = (
        SupportAction.RECOVERY_SCHEDULED
        if scheduled
        else SupportAction.RECOVERY_APPROVED
        if approve
        else SupportAction.RECOVERY_REJECTED
    )
    audit.support_action(action, reviewer.id, account_id=account.id, request_id=request_id)
    return await RecoveryRequest.get(id=request_id)


_reference = recovery_schedule.reference


def _support_link(rt: Runtime, request_id: int) -> str:
    return f"{rt.settings.base_url}/#/support/recovery-requests/{request_id}"


async def queue(
    status: RecoveryStatus | None, *, first: int, after: str | None, viewer: Account | None = None
) -> Page[RecoveryRequest]:
    """Oldest first: the queue support works through (`viewer`, support, is audited)."""
    if viewer is not None:
        audit.support_action(SupportAction.QUEUE_VIEWED, viewer.id)
    query = RecoveryRequest.all()
    if status is not None:
        query = query.filter(status=status)
    return await page(query, first=first, after=after, newest_first=False)


async def document_opened(rt: Runtime, viewer: Account, document: RecoveryDocument) -> None:
    """Support downloaded a document: the customer's history says so (without support's
    IP address or browser), and the audit line says who."""
    request = await RecoveryRequest.get(id=document.request_id)
    await security_events.record(
        rt,
        request.account_id,
        SecurityEventKind.RECOVERY_DOCUMENT_OPENED,
        RequestMeta(by_support=True),
    )
    audit.support_action(
        SupportAction.DOCUMENT_OPENED,
        viewer.id,
        account_id=request.account_id,
        request_id=request.id,
        document_id=document.id,
    )


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
