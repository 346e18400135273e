"""No mail relay (issue 14, item 6): nobody can make Verrou send many emails, or their own
text, to an address of their choosing.

- A mutation that changes 2FA or sends email runs once per request: its other aliases answer
  INVALID_INPUT (MUTATION_REPEATED) and do nothing.
- At most MAIL_LIMIT_PER_KIND emails of one kind go to one address, and MAIL_LIMIT_PER_ACCOUNT
  about one account, per MAIL_LIMIT_WINDOW_SECONDS; the rest are dropped, logged and counted.
- Free text (company name, notes, key names, device labels) is quoted data in emails: capped,
  on one line, and nothing in it becomes a link.
- signUp is limited per client address.
"""

from __future__ import annotations

import email
import email.policy
import logging
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from models import Account, BackupCode, Notification, OutboxEmail
from services import emails
from services.clock import FrozenClock
from services.runtime import RequestMeta, Runtime
from services.settings import Settings
from tests.conftest import make_settings
from tests.helpers import PASSWORD, SIGN_UP, Api, error_codes

META = RequestMeta(ip_address="203.0.113.7", user_agent="verrou-tests/1.0")
VICTIM = "victim@elsewhere.example"
REGENERATE = (
    "regenerateBackupCodes(input: {password: $password})"
    " { backupCodes errors { code field message } }"
)


@pytest.fixture
def settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(db_path, tmp_path / "var", outbox_worker=False)


def aliases(field: str, count: int) -> str:
    return "\n".join(f"a{n}: {field}" for n in range(count))


async def outbox_to(address: str, subject_part: str = "") -> list[OutboxEmail]:
    rows = await OutboxEmail.filter(recipient=address).order_by("id")
    return [row for row in rows if subject_part in row.subject]


def parse(row: OutboxEmail) -> tuple[str, str]:
    message = email.message_from_string(row.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def repeated(payload: dict[str, Any], mutation: str) -> bool:
    return [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_INPUT", None)] and (
        mutation in payload["errors"][0]["message"]
    )


# ---------------------------------------------------------------- once per request


async def test_aliases_of_regenerate_backup_codes_run_once(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    account = await Account.get(email="alice@example.com")
    before = await OutboxEmail.filter(recipient=account.email).count()

    body = await api.gql(
        f"mutation R($password: String!) {{\n{aliases(REGENERATE, 15)}\n}}",
        {"password": PASSWORD},
        token=token,
    )

    assert "errors" not in body, body
    data = body["data"]
    assert data["a0"]["errors"] == [] and len(data["a0"]["backupCodes"]) == 10
    for n in range(1, 15):
        assert repeated(data[f"a{n}"], "regenerateBackupCodes"), data[f"a{n}"]
        assert data[f"a{n}"]["backupCodes"] is None
    # One batch of codes, one email: the codes a0 returned are the account's.
    codes = await BackupCode.filter(account_id=account.id, used_at=None).count()
    assert codes == 10
    assert await OutboxEmail.filter(recipient=account.email).count() == before + 1
    assert (
        await Notification.filter(account_id=account.id, kind="BACKUP_CODES_REGENERATED").count()
        == 1
    )


async def test_aliases_of_request_password_reset_send_one_email(api: Api) -> None:
    await api.sign_up(locale="EN")
    field = (
        'requestPasswordReset(input: {email: "alice@example.com"})'
        " { errors { code field message } }"
    )

    body = await api.gql(f"mutation {{\n{aliases(field, 10)}\n}}")

    assert "errors" not in body, body
    assert body["data"]["a0"]["errors"] == []
    assert all(repeated(body["data"][f"a{n}"], "requestPasswordReset") for n in range(1, 10))
    assert len(await outbox_to("alice@example.com", "Reset the password")) == 1


async def test_aliases_of_update_account_change_it_once(api: Api) -> None:
    token = await api.sign_up()
    fields = "\n".join(
        f'a{n}: updateAccount(input: {{billingContactEmail: "c{n}@elsewhere.example"}})'
        " { errors { code field message } }"
        for n in range(5)
    )

    body = await api.gql(f"mutation {{\n{fields}\n}}", token=token)

    assert body["data"]["a0"]["errors"] == []
    assert all(repeated(body["data"][f"a{n}"], "updateAccount") for n in range(1, 5))
    account = await Account.get(email="alice@example.com")
    assert account.billing_contact_email == "c0@elsewhere.example"
    # Only the first contact was sent a verification email.
    assert [len(await outbox_to(f"c{n}@elsewhere.example")) for n in range(5)] == [1, 0, 0, 0, 0]


async def test_repeats_hidden_in_fragments_are_refused_too(api: Api) -> None:
    token = await api.sign_up()
    await api.enable_two_factor(token)
    document = (
        "mutation R($password: String!) { first: " + REGENERATE + " ...More }\n"
        "fragment More on Mutation { ... on Mutation { second: " + REGENERATE + " } }"
    )

    body = await api.gql(document, {"password": PASSWORD}, token=token)

    assert body["data"]["first"]["errors"] == []
    assert repeated(body["data"]["second"], "regenerateBackupCodes")


async def test_a_skipped_first_alias_leaves_the_next_one_to_run(api: Api) -> None:
    """The first alias that runs is the one allowed, as the executor sees the document."""
    token = await api.sign_up()
    await api.enable_two_factor(token)
    document = (
        "mutation R($password: String!, $skip: Boolean!) {\n"
        f"  first: {REGENERATE.replace(') {', ') @skip(if: $skip) {', 1)}\n"
        f"  second: {REGENERATE}\n"
        f"  third: {REGENERATE}\n"
        "}"
    )

    body = await api.gql(document, {"password": PASSWORD, "skip": True}, token=token)

    assert "first" not in body["data"]
    assert body["data"]["second"]["errors"] == []
    assert repeated(body["data"]["third"], "regenerateBackupCodes")


async def test_different_mutations_in_one_request_each_run(api: Api) -> None:
    """The control: the rule is about the same mutation twice, not about aliases."""
    token = await api.sign_up()
    await api.enable_two_factor(token)
    document = (
        "mutation R($password: String!) {\n"
        f"  codes: {REGENERATE}\n"
        '  account: updateAccount(input: {companyName: "Acme"}) { errors { code } }\n'
        "}"
    )

    body = await api.gql(document, {"password": PASSWORD}, token=token)

    assert body["data"]["codes"]["errors"] == [] and body["data"]["account"]["errors"] == []
    assert (await Account.get(email="alice@example.com")).company_name == "Acme"


# ---------------------------------------------------------------- emails per recipient


async def test_a_sixth_email_of_a_kind_within_the_window_is_dropped_logged_and_counted(
    api: Api, rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    token = await api.sign_up(locale="EN")
    await api.enable_two_factor(token)
    one = f"mutation R($password: String!) {{ {REGENERATE} }}"
    caplog.set_level(logging.WARNING, logger="verrou.emails")

    for _ in range(7):
        body = await api.gql(one, {"password": PASSWORD}, token=token)
        assert body["data"]["regenerateBackupCodes"]["errors"] == []
        api.clock.advance(10)

    subject = "New backup codes"
    assert len(await outbox_to("alice@example.com", subject)) == 5
    # The account's feed keeps every one: only the emails are capped.
    account = await Account.get(email="alice@example.com")
    assert (
        await Notification.filter(account_id=account.id, kind="BACKUP_CODES_REGENERATED").count()
        == 7
    )
    dropped = [r.getMessage() for r in caplog.records if r.name == "verrou.emails"]
    assert len(dropped) == 2 and all("BACKUP_CODES_REGENERATED" in line for line in dropped)
    assert all("alice" not in line and "example.com" in line for line in dropped)
    metrics = (await api.client.get("/metrics")).text
    assert 'verrou_emails_dropped_total{kind="BACKUP_CODES_REGENERATED"} 2' in metrics

    # Once the window has passed, the next one goes again.
    api.clock.advance(rt.settings.mail_limit_window_seconds)
    await api.gql(one, {"password": PASSWORD}, token=token)
    assert len(await outbox_to("alice@example.com", subject)) == 6


async def test_one_address_gets_at_most_five_verifications_whatever_the_accounts(
    api: Api, rt: Runtime
) -> None:
    """Each account may name the victim as its billing contact: the limit is the address's."""
    for n in range(7):
        await api.sign_up(f"mallory{n}@example.com", billingContactEmail=VICTIM)

    assert len(await outbox_to(VICTIM)) == 5
    assert rt.metrics.emails_dropped["CONTACT_VERIFICATION"] == 2


async def test_the_support_address_gets_at_most_five_announcements_per_window(
    api: Api, rt: Runtime
) -> None:
    for n in range(7):
        await api.sign_up(f"user{n}@example.com")
    accounts = await Account.all().order_by("id")

    for n, account in enumerate(accounts):
        await emails.enqueue_support_announcement(rt, account, f"#{n}", "http://x/#/s", META)

    assert len(await outbox_to(rt.settings.support_email)) == 5


async def test_a_rolled_back_change_uses_none_of_the_quota(api: Api, rt: Runtime) -> None:
    from tortoise.transactions import in_transaction

    await api.sign_up()
    account = await Account.get(email="alice@example.com")
    with pytest.raises(RuntimeError):
        async with in_transaction() as connection:
            for _ in range(5):
                await emails.enqueue(
                    rt, account, "BACKUP_CODES_LOW", META, {"remaining": 1}, connection
                )
            raise RuntimeError("the change fails")

    rows = [
        await emails.enqueue(rt, account, "BACKUP_CODES_LOW", META, {"remaining": 1})
        for _ in range(5)
    ]
    assert all(len(row) == 1 for row in rows)


@pytest.fixture
def tight_settings(db_path: Path, tmp_path: Path) -> Settings:
    return make_settings(
        db_path,
        tmp_path / "var",
        outbox_worker=False,
        mail_limit_per_account=3,
        sign_up_max_per_address=3,
    )


async def test_emails_about_one_account_are_capped_across_kinds(
    tight_settings: Settings, clock: FrozenClock
) -> None:
    from server import create_app
    from tests.conftest import start

    app = create_app(tight_settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        await api.sign_up()
        rt: Runtime = app.state.runtime
        account = await Account.get(email="alice@example.com")
        sent = [
            await emails.enqueue(rt, account, kind, META, params)
            for kind, params in [
                ("BACKUP_CODES_LOW", {"remaining": 1}),
                ("BACKUP_CODE_USED", {"remaining": 3}),
                ("TWO_FACTOR_ENABLED", {}),
                ("TWO_FACTOR_DISABLED", {}),
            ]
        ]
        assert [len(rows) for rows in sent] == [1, 1, 1, 0]
        assert rt.metrics.emails_dropped["TWO_FACTOR_DISABLED"] == 1


# ---------------------------------------------------------------- sign-up per address


async def test_sign_up_is_limited_per_client_address(
    tight_settings: Settings, clock: FrozenClock
) -> None:
    from server import create_app
    from tests.conftest import start

    app = create_app(tight_settings, clock=clock)
    async for client in start(app):
        api = Api(client, clock)
        malformed = {"input": {"email": "not an email", "password": PASSWORD}}
        for _ in range(5):
            # Refused as malformed: no account, no email, nothing counted.
            assert error_codes((await api.data(SIGN_UP, malformed))["signUp"]) == ["INVALID_INPUT"]
        await api.sign_up("user0@example.com")
        taken = {"input": {"email": "user0@example.com", "password": PASSWORD}}
        # An email already taken counts: it tells whether the email has an account.
        assert error_codes((await api.data(SIGN_UP, taken))["signUp"]) == ["EMAIL_TAKEN"]
        await api.sign_up("user2@example.com")

        refused = (
            await api.data(SIGN_UP, {"input": {"email": "user3@example.com", "password": PASSWORD}})
        )["signUp"]
        assert error_codes(refused) == ["RATE_LIMITED"] and refused["errors"][0]["retryAfter"] > 0
        assert refused["session"] is None
        assert not await Account.exists(email="user3@example.com")

        # Another client address is not held back by this one's sign-ups.
        other = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
        async with httpx.AsyncClient(transport=other, base_url="http://testserver") as second:
            await Api(second, clock).sign_up("user4@example.com")

        # The window over, this address may sign up again.
        clock.advance(tight_settings.sign_up_window_seconds + 1)
        await api.sign_up("user5@example.com")


# ---------------------------------------------------------------- free text is data


@pytest.mark.parametrize("locale", ["fr", "en"])
async def test_a_company_name_that_looks_like_a_link_never_becomes_one(
    api: Api, rt: Runtime, locale: str
) -> None:
    # The server's own address, which the HTML layout turns into links in its own text.
    company = f"{rt.settings.base_url}/#/reset www.evil.example"
    token = await api.sign_up(locale=locale.upper())
    body = await api.gql(
        "mutation U($name: String!)"
        " { updateAccount(input: {companyName: $name}) { errors { code } } }",
        {"name": company},
        token=token,
    )
    assert body["data"]["updateAccount"]["errors"] == []

    row = (await outbox_to("alice@example.com"))[-1]
    text, html = parse(row)
    for shown in (text, html):
        assert "www.evil.example" not in shown and "www[.]evil[.]example" in shown
        assert company not in shown
    assert "#/reset" in html and 'href="' + company not in html
    quoted = {"fr": "« http[:]//", "en": '"http[:]//'}[locale]
    assert quoted in text


async def test_a_support_note_is_one_quoted_capped_line(rt: Runtime, api: Api) -> None:
    await api.sign_up(locale="EN")
    account = await Account.get(email="alice@example.com")
    note = "Call us\n\nIf this was not you, open https://evil.example/login now" + "x" * 3000
    (row,) = await emails.enqueue(
        rt, account, "RECOVERY_REJECTED", META, {"request_id": "#1", "note": note}
    )
    text, html = parse(row)
    line = next(line for line in text.splitlines() if line.startswith("Note from support:"))
    assert line.startswith(
        'Note from support: "Call us If this was not you, open https[:]//evil[.]example/login'
    )
    quoted = line.removeprefix('Note from support: "')
    assert quoted.endswith('…"')
    assert len(quoted.removesuffix('"').replace("[.]", ".").replace("[:]", ":")) == 2000
    assert "https://evil" not in text and "https://evil" not in html and "<a " not in html


def test_shown_removes_invisible_formatting_and_breaks_links() -> None:
    # A right-to-left override would make "moc.live" read as "evil.com".
    assert emails.shown("Acme\u202e moc.live", "en", 100) == '"Acme moc[.]live"'
    assert emails.shown("evil\uff0eexample", "fr", 100) == "« evil[.]example »"
    assert emails.shown("S.A. Dupont & Fils", "fr", 100) == "« S.A. Dupont & Fils »"
    assert emails.shown("abcdef", "en", 4) == '"abc…"'
