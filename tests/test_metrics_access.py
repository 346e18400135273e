"""/metrics is no oracle (issue 14, item 4): no series moves differently for an email with
an account and one without, and in production only a holder of METRICS_TOKEN, or whoever
reaches the separate METRICS_ADDRESS, reads it."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from server import create_app
from services import password_reset
from services.clock import FrozenClock
from services.metrics import Metrics
from services.security_events import SecurityEventKind
from services.settings import Settings, SettingsError
from tests.conftest import free_port, make_settings, start
from tests.helpers import PASSWORD, SIGN_IN, Api
from transport.metrics_listener import metrics_listener

TOKEN = "metrics-token-0123456789abcdef"
KNOWN = "known@example.com"
UNKNOWN = "unknown@example.com"
REQUEST_RESET = """
mutation Reset($input: RequestPasswordResetInput!) {
  requestPasswordReset(input: $input) { errors { code } }
}
"""


@contextlib.asynccontextmanager
async def client_of(settings: Settings, clock: FrozenClock, address: str) -> AsyncIterator[Api]:
    """A fresh app (its metrics start at zero) and a client calling from `address`."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, clock)


def delta(before: str, after: str) -> str:
    """The exposition text of `after`, each sample replaced by how much it moved since
    `before` (a series new since then moved from 0). Durations' buckets and sums are blanked:
    how long a request took is the timing tests' subject (tests/test_password_reset_timing.py)
    and no two runs take the same microseconds. Every other byte is compared, the counts of
    durations included."""
    sample = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$")
    old = {m[1]: float(m[2]) for m in map(sample.match, before.splitlines()) if m}
    lines = []
    for line in after.splitlines():
        match = sample.match(line)
        if match is None:
            lines.append(line)
        elif re.match(r"verrou_request_duration_seconds_(bucket|sum)\b", match[1]):
            lines.append(f"{match[1]} _")
        else:
            lines.append(f"{match[1]} {float(match[2]) - old.get(match[1], 0.0):+g}")
    return "\n".join(lines)


async def what_an_email_shows(api: Api, email: str) -> str:
    """Everything anyone can do with an email alone, past every limit: how /metrics moved."""
    before = (await api.client.get("/metrics")).text
    wrong = {"email": email, "password": "not the password at all"}
    for _ in range(12):  # MAX_FAILURES is 10: the last ones are RATE_LIMITED
        await api.gql(SIGN_IN, {"input": wrong})
    for _ in range(password_reset.REQUESTS_PER_EMAIL + 2):
        await api.gql(REQUEST_RESET, {"input": {"email": email}})
    # The same email in other cases and with spaces: the same account, or the same nobody.
    await api.gql(SIGN_IN, {"input": {**wrong, "email": f"  {email.upper()} "}})
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    return delta(before, response.text) + "\n"


async def test_metrics_move_the_same_for_a_known_and_an_unknown_email(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    # No mail worker: the reset email for the known account stays queued, as it would be
    # under a slow SMTP server, and must not show in the outbox gauge either.
    settings = make_settings(db_path, tmp_path / "var", outbox_worker=False)
    async with client_of(settings, clock, "198.51.100.1") as api:
        await api.sign_up(KNOWN)
    # Each run from its own address, so the per-address throttle of one does not reach the
    # other's; each on a fresh app, so its /metrics is exactly what its run added.
    async with client_of(settings, clock, "198.51.100.2") as api:
        known = await what_an_email_shows(api, KNOWN)
    async with client_of(settings, clock, "198.51.100.3") as api:
        unknown = await what_an_email_shows(api, UNKNOWN)

    assert known == unknown
    # And the runs did reach what they were meant to: failures, refusals, a queued email.
    assert "verrou_sign_in_failures_total +10\n" in known
    assert "verrou_rate_limited_total +5\n" in known
    assert 'verrou_requests_total{operation="requestPasswordReset",outcome="ok"} +5\n' in known
    assert "verrou_outbox_pending +0\n" in known
    async with client_of(settings, clock, "198.51.100.4") as api:
        clock.advance(11 * 60)
        # The gauge itself works: emails still queued 10 minutes on (the sign-up's, the
        # reset link) are counted.
        later = (await api.client.get("/metrics")).text
        pending = re.search(r"^verrou_outbox_pending (\d+)$", later, re.MULTILINE)
        assert pending is not None and int(pending.group(1)) > 0, later


@pytest.mark.parametrize(
    "kind",
    [SecurityEventKind.SIGN_IN_FAILED, SecurityEventKind.PASSWORD_RESET_REQUESTED],
)
def test_events_an_email_alone_can_cause_are_not_shown(kind: SecurityEventKind) -> None:
    """Only the events of a session or of a second-step challenge are shown: a new kind of
    event is not a new series until someone decides it says nothing of accounts."""
    metrics = Metrics()
    before = metrics.render({})
    metrics.count_security_event(kind.value)
    assert metrics.render({}) == before


def test_the_shown_events_are_those_a_password_is_needed_for() -> None:
    metrics = Metrics()
    for kind in ("TWO_FACTOR_ENABLED", "TWO_FACTOR_DISABLED", "SECOND_FACTOR_FAILED"):
        metrics.count_security_event(kind)
    metrics.count_sign_in_failure()
    text = metrics.render({})
    for name in (
        "verrou_two_factor_enabled_total",
        "verrou_two_factor_disabled_total",
        "verrou_second_factor_failures_total",
        "verrou_sign_in_failures_total",
    ):
        assert f"{name} 1\n" in text


# ---- who may read /metrics ---------------------------------------------------------------


def production(db_path: Path, var_dir: Path, **extra: Any) -> Settings:
    return make_settings(
        db_path, var_dir, environment="production", public_url="https://verrou.example", **extra
    )


async def test_development_serves_metrics_to_anyone(api: Api) -> None:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert "verrou_requests_total" in response.text


async def test_production_without_a_token_or_an_address_serves_no_metrics(
    db_path: Path, tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="verrou")
    async for client in start(create_app(production(db_path, tmp_path), clock=clock)):
        response = await client.get("/metrics")
        assert response.status_code == 404
        assert "verrou_" not in response.text
        assert (await client.get("/healthz")).status_code == 200
    assert any("METRICS_TOKEN" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token-0123456789abcdef",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer ",
    ],
    ids=["none", "wrong", "a prefix", "longer", "basic", "no scheme", "empty"],
)
async def test_with_a_token_metrics_answers_only_its_bearer(
    db_path: Path, tmp_path: Path, clock: FrozenClock, authorization: str | None
) -> None:
    settings = production(db_path, tmp_path, metrics_token=TOKEN)
    async for client in start(create_app(settings, clock=clock)):
        headers = {} if authorization is None else {"Authorization": authorization}
        refused = await client.get("/metrics", headers=headers, params={"token": TOKEN})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "verrou_" not in refused.text
        allowed = await client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN} "})
        assert allowed.status_code == 200
        assert "verrou_sign_in_failures_total" in allowed.text


async def test_a_token_set_in_development_is_required_there_too(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = make_settings(db_path, tmp_path / "var", metrics_token=TOKEN)
    async for client in start(create_app(settings, clock=clock)):
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


@pytest.mark.parametrize("token", [None, TOKEN], ids=["address only", "address and token"])
async def test_with_an_address_metrics_is_served_there_only(
    db_path: Path, tmp_path: Path, clock: FrozenClock, token: str | None
) -> None:
    port = free_port()
    settings = production(
        db_path, tmp_path, metrics_address=f"127.0.0.1:{port}", metrics_token=token
    )
    async for client in start(create_app(settings, clock=clock)):
        await Api(client, clock).gql(SIGN_IN, {"input": {"email": KNOWN, "password": PASSWORD}})
        assert (await client.get("/metrics")).status_code == 404
        assert (
            await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        ).status_code == 404
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:
            plain = await scraper.get("/metrics")
            bearer = await scraper.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            other = await scraper.get("/graphql")
        if token is None:
            assert plain.status_code == 200
        else:
            assert plain.status_code == 401
        assert bearer.status_code == 200
        # The same process's counters: the sign-in above is in them.
        assert "verrou_sign_in_failures_total 1\n" in bearer.text
        assert other.status_code == 404  # the listener serves /metrics and nothing else
    # Closed with the app.
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:
            await scraper.get("/metrics")


async def test_workers_share_the_metrics_address() -> None:
    """Every worker of `--workers N` runs the lifespan: each binds the same address."""
    port = free_port()
    async with (
        metrics_listener(("127.0.0.1", port), {}),
        metrics_listener(("127.0.0.1", port), {}),
    ):
        pass


async def test_an_address_taken_by_another_program_stops_the_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(
            RuntimeError, match=f"METRICS_ADDRESS: cannot listen on 127.0.0.1:{port}"
        ):
            async with metrics_listener(("127.0.0.1", port), {}):
                pass


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"metrics_token": "short"}, "METRICS_TOKEN"),
        ({"metrics_address": "9100"}, "METRICS_ADDRESS"),
        ({"metrics_address": "metrics.internal"}, "METRICS_ADDRESS"),
        ({"metrics_address": "10.0.0.5:99999"}, "METRICS_ADDRESS"),
        ({"metrics_address": "http://10.0.0.5:9100/metrics"}, "METRICS_ADDRESS"),
    ],
)
def test_bad_metrics_settings_refuse_to_start(values: dict[str, str], message: str) -> None:
    with pytest.raises((SettingsError, ValidationError), match=message):
        Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_metrics_settings_read_host_and_port() -> None:
    ipv6 = Settings(_env_file=None, metrics_address="[::1]:9100")  # type: ignore[call-arg]
    assert ipv6.metrics_listen == ("::1", 9100)
    assert not ipv6.metrics_on_api_port
    assert Settings(_env_file=None).metrics_on_api_port  # type: ignore[call-arg]
