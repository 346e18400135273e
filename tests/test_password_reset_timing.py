"""requestPasswordReset takes as long for an unknown email as for a known one."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import cast

import httpx

from models import OutboxEmail
from server import create_app
from services.clock import FrozenClock
from tests.conftest import make_settings, start
from tests.helpers import Api
from tests.test_passwords import request_reset


async def test_a_reset_request_takes_as_long_for_an_unknown_email(
    db_path: Path, tmp_path: Path, clock: FrozenClock
) -> None:
    """Medians of 15 tries each, within a factor of 2 (as sign-in's test). Without the mail
    worker, whose sending would only add noise to the known email's side."""
    quiet = make_settings(db_path, tmp_path / "quiet", outbox_worker=False)
    clients = cast(AsyncGenerator[httpx.AsyncClient, None], start(create_app(quiet, clock=clock)))
    async with contextlib.aclosing(clients):
        client = await anext(clients)
        api = Api(client, clock)
        await api.sign_up("alice@example.com")
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        addresses = {"known": "alice@example.com", "unknown": "nobody@example.com"}
        await request_reset(api, "warm@example.com")
        for _ in range(15):
            for kind, address in addresses.items():
                clock.advance(16 * 60)  # past the throttle's window
                began = time.perf_counter()
                assert (await request_reset(api, address))["errors"] == []
                timings[kind].append(time.perf_counter() - began)
        assert await OutboxEmail.filter(recipient="alice@example.com").count() == 15
    medians = {kind: statistics.median(values) for kind, values in timings.items()}
    assert 0.5 < medians["unknown"] / medians["known"] < 2, medians
