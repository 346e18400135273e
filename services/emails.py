"""Emails rendered from services/email_templates/ and queued in the outbox.

Security emails go to the billing contact. A new kind needs one file per locale and nothing in
Python: email_templates/<locale>/<kind in lower case>.txt beside this module, which sets
`subject` and `summary` (plain text: what happened; the caller's params are in scope). The
shared layouts add when, from which IP address, which account, and what to do if it was not the
account's owner.

Announcements to support are internal, always in French, and framed by their own layout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path

import jinja2
from tortoise.backends.base.client import BaseDBAsyncClient

from models import Account, OutboxEmail
from services.i18n import normalize_locale
from services.runtime import RequestMeta, Runtime

TEMPLATE_DIR = Path(__file__).resolve().parent / "email_templates"
SUPPORT_RECOVERY_REQUESTED = "SUPPORT_RECOVERY_REQUESTED"

_KIND = re.compile(r"[A-Z][A-Z0-9_]*")
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class Layout:
    """The frame of a kind: <locale>/<name>.txt and .html around it, <locale>/<footer>.txt last."""

    name: str
    footer: str


CUSTOMER = Layout("_layout", "_footer")
# The customer's "if it was not you" advice would mislead support; theirs says what not to expect.
SUPPORT = Layout("_support_layout", "_support_footer")
# An email carrying a link that acts on the account (a password reset): to the account's own
# address only, and its footer says to ignore it when nobody asked.
LINK = Layout("_layout", "_link_footer")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def format_when(at: datetime, locale: str) -> str:
    """25/11/2026 à 12:00 UTC, or 25 November 2026 at 12:00 UTC (not the process's locale)."""
    at = at.astimezone(UTC)
    if locale == "en":
        return f"{at.day} {_MONTHS_EN[at.month - 1]} {at.year} at {at:%H:%M} UTC"
    return f"{at:%d/%m/%Y} à {at:%H:%M} UTC"


def mail_from_address(mail_from: str) -> str:
    """The bare address of MAIL_FROM ("Verrou <no-reply@x>" → "no-reply@x")."""
    return parseaddr(mail_from)[1] or mail_from


def render(
    kind: str,
    locale: str,
    facts: Mapping[str, object],
    params: Mapping[str, object],
    layout: Layout = CUSTOMER,
) -> tuple[str, str, str]:
    """(subject, text, html) of one kind of email; jinja2.TemplateNotFound for an unknown kind."""
    if not _KIND.fullmatch(kind):
        raise ValueError(f"not an email kind: {kind!r}")
    env = environment()
    # The facts win over params, so a parameter can never stand in for the IP or the account.
    context = {**params, **facts}
    name = f"{locale}/{kind.lower()}.txt"
    exported = vars(env.get_template(name).make_module(context))
    if "subject" not in exported or "summary" not in exported:
        raise ValueError(f"{name} must set both subject and summary")
    subject = " ".join(str(exported["subject"]).split())
    summary = str(exported["summary"]).strip()
    footer = env.get_template(f"{locale}/{layout.footer}.txt").render(context).strip()
    body = {**context, "subject": subject, "summary": summary, "footer": footer}
    text = env.get_template(f"{locale}/{layout.name}.txt").render(body)
    html = env.get_template(f"{locale}/{layout.name}.html").render(body)
    return subject, text, html


async def enqueue(
    rt: Runtime,
    account: Account,
    kind: str,
    meta: RequestMeta,
    params: Mapping[str, object],
    connection: BaseDBAsyncClient | None = None,
) -> OutboxEmail:
    """Queue the email telling the billing contact about a change, in the change's transaction."""
    if kind.startswith("SUPPORT_"):
        # Support's emails carry the back-office link; the customer must never receive one.
        raise ValueError(f"{kind} is for support: use its own function")
    now = rt.clock.now()
    locale = normalize_locale(account.locale)
    facts: dict[str, object] = {
        "when": format_when(now, locale),
        "ip_address": meta.ip_address,
        "account_email": account.email,
        "company_name": account.company_name,
        "support_email": rt.settings.support_email,
    }
    rendered = render(kind, locale, facts, params)
    return await _queue(rt, account.billing_contact_email, now, rendered, connection)


async def enqueue_link(
    rt: Runtime,
    account: Account,
    kind: str,
    meta: RequestMeta,
    params: Mapping[str, object],
    connection: BaseDBAsyncClient | None = None,
) -> OutboxEmail:
    """Queue an email whose link acts on the account (kinds LINK_*): to the account email and
    to nobody else, since whoever holds the link can use it."""
    if not kind.startswith("LINK_"):
        raise ValueError(f"{kind} is not a link email")
    now = rt.clock.now()
    locale = normalize_locale(account.locale)
    facts: dict[str, object] = {
        "when": format_when(now, locale),
        "ip_address": meta.ip_address,
        "account_email": account.email,
        "company_name": account.company_name,
        "support_email": rt.settings.support_email,
    }
    rendered = render(kind, locale, facts, params, LINK)
    return await _queue(rt, account.email, now, rendered, connection)


async def enqueue_support_announcement(
    rt: Runtime,
    account: Account,
    request_id: str,
    link: str,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
) -> OutboxEmail:
    """Queue the email telling support a recovery request awaits review; never the documents."""
    now = rt.clock.now()
    facts: dict[str, object] = {
        "when": format_when(now, "fr"),
        "ip_address": meta.ip_address,
        "account_email": account.email,
        "company_name": account.company_name,
        "request_id": request_id,
        "link": link,
    }
    rendered = render(SUPPORT_RECOVERY_REQUESTED, "fr", facts, {}, SUPPORT)
    return await _queue(rt, rt.settings.support_email, now, rendered, connection)


async def _queue(
    rt: Runtime,
    recipient: str,
    now: datetime,
    rendered: tuple[str, str, str],
    connection: BaseDBAsyncClient | None,
) -> OutboxEmail:
    subject, text, html = rendered
    mail_from = rt.settings.mail_from
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    domain = mail_from_address(mail_from).rpartition("@")[2] or "localhost"
    message_id = make_msgid(domain=domain)
    message["Message-ID"] = message_id
    # Quoted-printable keeps the stored message 7-bit, as SMTP without SMTPUTF8 needs.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")

    return await OutboxEmail.create(
        using_db=connection,
        recipient=recipient,
        subject=subject[:255],
        message_id=message_id,
        message=message.as_string(),
        created_at=now,
        next_attempt_at=now,
    )
