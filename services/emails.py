"""Emails rendered from services/email_templates/ and queued in the outbox.

A security email always goes to the account email, and a copy worded for a third party to the
billing contact once it has confirmed its address (`billing_contact_verified`); an unverified
contact receives nothing but its verification email. A new kind needs one file per locale and
nothing in Python: email_templates/<locale>/<kind in lower case>.txt beside this module, which
sets `subject` and `summary` (plain text: what happened; the caller's params are in scope, and
`third_party` is true in the contact's copy). The shared layouts add when (in TIME_ZONE, with
its offset), from which IP address (or "our support" when support acted), which account, and
what to do if it was not the account's owner. In HTML, links to this server become `<a href>`
and everything else is escaped.

Text someone typed (a company name, support's note, a key's name, a device label: FREE_TEXT)
is data, never part of the message: `render` caps it, folds it onto one line, breaks what a
mail client would turn into a link ("evil.example" → "evil[.]example") and puts it in quotes,
before any template sees it. And no address gets more than MAIL_LIMIT_PER_KIND emails of one
kind, nor one account more than MAIL_LIMIT_PER_ACCOUNT emails, per MAIL_LIMIT_WINDOW_SECONDS:
the rest are dropped with a log line and a metric (the account's feed still has them), so
Verrou cannot be made to relay someone's text to an address of their choosing.

Announcements to support are internal, always in French, and framed by their own layout.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape
from tortoise.backends.base.client import BaseDBAsyncClient

from models import Account, OutboxEmail
from services import throttle, validation
from services.i18n import normalize_locale
from services.runtime import RequestMeta, Runtime

logger = logging.getLogger("verrou.emails")

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
# The billing contact's copy: framed as about "the account … of your company".
THIRD_PARTY = Layout("_third_party_layout", "_third_party_footer")
# The verification email goes to an address that has not confirmed anything yet.
VERIFICATION = Layout("_third_party_layout", "_verification_footer")
# The customer's "if it was not you" advice would mislead support; theirs says what not to expect.
SUPPORT = Layout("_support_layout", "_support_footer")
# An email carrying a link that acts on the account (a password reset): to the account's own
# address only, and its footer says to ignore it when nobody asked.
LINK = Layout("_layout", "_link_footer")

# Not a notification: sent to the contact alone, before it is one of the account's recipients.
CONTACT_VERIFICATION = "CONTACT_VERIFICATION"

_URL = re.compile(r"https?://[^\s<>\"']+")

# What people typed, by the name templates know it under, and the most of it an email shows.
FREE_TEXT: Mapping[str, int] = {
    "company_name": validation.COMPANY_MAX,
    "note": validation.MESSAGE_MAX,
    "message": validation.MESSAGE_MAX,
    "name": validation.KEY_NAME_MAX,
    "device": validation.DEVICE_LABEL_MAX,
}
_QUOTES = {"fr": ("« ", " »"), "en": ('"', '"')}
# What mail clients turn into links: a dot between a word and two letters or more (a domain,
# "www.x"), its full-width and ideographic look-alikes, and a scheme's "://".
_LINKABLE_DOT = re.compile(r"(?<=[^\W_])[.\u3002\uff0e\uff61](?=[^\W\d_]{2})")
_SCHEME = re.compile(r":(?=//)")


@dataclass(frozen=True)
class Recipient:
    address: str
    third_party: bool


def recipients(account: Account) -> list[Recipient]:
    """Who receives a security email about the account: its own email always, the billing
    contact (a copy for a third party) only once verified and when it is another address."""
    found = [Recipient(account.email, third_party=False)]
    contact = account.billing_contact_email
    if account.billing_contact_verified and contact != account.email:
        found.append(Recipient(contact, third_party=True))
    return found


def shown(text: str, locale: str, maximum: int) -> str:
    """Free text as an email shows it: quoted data on one line, at most `maximum` characters,
    with nothing a mail client would make a link of and no invisible formatting characters
    (a right-to-left override could make it read as something else)."""
    folded = " ".join(text.split())
    folded = "".join(c for c in folded if unicodedata.category(c) not in ("Cc", "Cf"))
    if len(folded) > maximum:
        folded = folded[: maximum - 1].rstrip() + "…"
    defanged = _SCHEME.sub("[:]", _LINKABLE_DOT.sub("[.]", folded))
    opening, closing = _QUOTES.get(locale, _QUOTES["en"])
    return f"{opening}{defanged}{closing}"


def _shown_free_text(values: Mapping[str, object], locale: str) -> dict[str, object]:
    return {
        key: shown(value, locale, FREE_TEXT[key])
        if key in FREE_TEXT and isinstance(value, str) and value
        else value
        for key, value in values.items()
    }


@jinja2.pass_context
def _linked(context: jinja2.runtime.Context, text: str) -> Markup:
    """`text` escaped, with the links to this server (and only those: a URL someone typed
    in a note or a company name stays text) as `<a href>`."""
    base = str(context.get("base_url") or "")
    parts: list[Markup] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        if not base or not (url == base or url.startswith(base + "/")):
            continue
        parts.append(escape(text[last : match.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.start() + len(url)
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["linked"] = _linked
    return env


def format_when(at: datetime, locale: str, time_zone: str = "UTC") -> str:
    """In `time_zone`, with its offset: 25/11/2026 à 13:00 (UTC+01:00), or
    25 November 2026 at 13:00 (UTC+01:00) (not the process's locale)."""
    at = at.astimezone(ZoneInfo(time_zone))
    offset = at.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}"
    if locale == "en":
        return f"{at.day} {_MONTHS_EN[at.month - 1]} {at.year} at {at:%H:%M} ({zone})"
    return f"{at:%d/%m/%Y} à {at:%H:%M} ({zone})"


def mask_address(address: str) -> str:
    """j***@example.com: enough for its owner to recognise it, not to hand it to a stranger."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


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
    context = _shown_free_text({**params, **facts}, locale)
    name = f"{locale}/{kind.lower()}.txt"
    exported = vars(env.get_template(name).make_module(context))
    if "subject" not in exported or "summary" not in exported:
        raise ValueError(f"{name} must set both subject and summary")
    subject = " ".join(str(exported["subject"]).split())
    if context.get("copy"):
        # The contact's copy names the account in its subject: it may follow several.
        subject = f"{subject} ({context['account_email']})"
    summary = str(exported["summary"]).strip()
    footer = env.get_template(f"{locale}/{layout.footer}.txt").render(context).strip()
    body = {**context, "subject": subject, "summary": summary, "footer": footer}
    text = env.get_template(f"{locale}/{layout.name}.txt").render(body)
    html = env.get_template(f"{locale}/{layout.name}.html").render(body)
    return subject, text, html


def _facts(rt: Runtime, account: Account, meta: RequestMeta, locale: str) -> dict[str, object]:
    return facts_of(rt, account.email, account.company_name, meta, locale)


def facts_of(
    rt: Runtime, account_email: str, company_name: str | None, meta: RequestMeta, locale: str
) -> dict[str, object]:
    """What every layout says: when, from where, which account."""
    return {
        "when": format_when(rt.clock.now(), locale, rt.settings.time_zone),
        # Support acting on the account: its IP address is not the customer's to see.
        "ip_address": None if meta.by_support else meta.ip_address,
        "by_support": meta.by_support,
        "account_email": account_email,
        "company_name": company_name,
        "support_email": rt.settings.support_email,
        "base_url": rt.settings.base_url,
        "third_party": False,
        "copy": False,
    }


async def enqueue(
    rt: Runtime,
    account: Account,
    kind: str,
    meta: RequestMeta,
    params: Mapping[str, object],
    connection: BaseDBAsyncClient | None = None,
) -> list[OutboxEmail]:
    """Queue the emails telling the account holder about a change, in the change's
    transaction: the account email's first, then the verified billing contact's copy."""
    if kind.startswith(("SUPPORT_", "CONTACT_")):
        # Support's emails carry the back-office link; the customer must never receive one.
        # A contact's verification goes to that address alone.
        raise ValueError(f"{kind} is for support or a contact alone: use its own function")
    locale = normalize_locale(account.locale)
    rows = []
    for recipient in recipients(account):
        facts = {
            **_facts(rt, account, meta, locale),
            "third_party": recipient.third_party,
            "copy": recipient.third_party,
        }
        layout = THIRD_PARTY if recipient.third_party else CUSTOMER
        rendered = render(kind, locale, facts, params, layout)
        row = await _queue(rt, kind, account.id, recipient.address, rendered, connection)
        if row is not None:
            rows.append(row)
    return rows


async def enqueue_verification(
    rt: Runtime,
    account: Account,
    address: str,
    link: str,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
) -> OutboxEmail | None:
    """Queue the one email an unverified billing contact receives: its verification link."""
    locale = normalize_locale(account.locale)
    facts = {**_facts(rt, account, meta, locale), "third_party": True, "copy": False, "link": link}
    rendered = render(CONTACT_VERIFICATION, locale, facts, {}, VERIFICATION)
    return await _queue(rt, CONTACT_VERIFICATION, account.id, address, rendered, connection)


async def enqueue_link(
    rt: Runtime,
    account: Account,
    kind: str,
    meta: RequestMeta,
    params: Mapping[str, object],
    connection: BaseDBAsyncClient | None = None,
) -> OutboxEmail | None:
    """Queue an email whose link acts on the account (kinds LINK_*): to the account email and
    to nobody else, since whoever holds the link can use it."""
    if not kind.startswith("LINK_"):
        raise ValueError(f"{kind} is not a link email")
    locale = normalize_locale(account.locale)
    facts = {**_facts(rt, account, meta, locale), "third_party": False, "copy": False}
    rendered = render(kind, locale, facts, params, LINK)
    return await _queue(rt, kind, account.id, account.email, rendered, connection)


async def enqueue_support_announcement(
    rt: Runtime,
    account: Account,
    request_id: str,
    link: str,
    meta: RequestMeta,
    connection: BaseDBAsyncClient | None = None,
) -> OutboxEmail | None:
    """Queue the email telling support a recovery request awaits review; never the documents."""
    facts: dict[str, object] = {
        "when": format_when(rt.clock.now(), "fr", rt.settings.time_zone),
        "ip_address": meta.ip_address,
        "by_support": False,
        "account_email": account.email,
        "company_name": account.company_name,
        "base_url": rt.settings.base_url,
        "request_id": request_id,
        "link": link,
    }
    rendered = render(SUPPORT_RECOVERY_REQUESTED, "fr", facts, {}, SUPPORT)
    return await _queue(
        rt, SUPPORT_RECOVERY_REQUESTED, account.id, rt.settings.support_email, rendered, connection
    )


async def within_limits(
    rt: Runtime,
    kind: str,
    account_id: int,
    recipient: str,
    connection: BaseDBAsyncClient | None = None,
) -> bool:
    """Whether one more `kind` email about the account may go to `recipient`; when not, it is
    logged (kind and the recipient's domain only) and counted, and the caller drops it."""
    settings = rt.settings
    window = settings.mail_limit_window_seconds
    per_kind = throttle.mail_kind_subject(kind, recipient)
    per_account = throttle.mail_account_subject(account_id)
    if await throttle.take_quota(
        rt, per_kind, settings.mail_limit_per_kind, window, connection
    ) and await throttle.take_quota(
        rt, per_account, settings.mail_limit_per_account, window, connection
    ):
        return True
    rt.metrics.count_email_dropped(kind)
    logger.warning(
        "dropped a %s email about account %s to a recipient at %s: over the email limits "
        "(MAIL_LIMIT_PER_KIND, MAIL_LIMIT_PER_ACCOUNT)",
        kind,
        account_id,
        recipient.rpartition("@")[2] or "?",
    )
    return False


async def _queue(
    rt: Runtime,
    kind: str,
    account_id: int,
    recipient: str,
    rendered: tuple[str, str, str],
    connection: BaseDBAsyncClient | None,
) -> OutboxEmail | None:
    if not await within_limits(rt, kind, account_id, recipient, connection):
        return None
    now = rt.clock.now()
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
        # Headers kept on one line up to SMTP's 998: Python folds a long plain subject right
        # after "Subject:", which readers then show with a leading space.
        message=message.as_string(policy=message.policy.clone(max_line_length=998)),
        created_at=now,
        next_attempt_at=now,
    )
