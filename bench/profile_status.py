"""Where a `twoFactorStatus` request's CPU goes: Verrou's ASGI app and the floors, called in
this process with no network, so that the numbers are CPU per request and not the load
generator's or the kernel's.

    .venv/bin/python bench/profile_status.py [--requests 3000] [--profile 25]

Each app is called as uvicorn calls it (an ASGI `http` scope, the body in one message) on one
freshly migrated SQLite file, with the account of bench/roundtrips.py (2FA on, 10 codes).
The floors of bench/floor_app.py are mounted on a bare Starlette app that shares Verrou's
Tortoise connection. `--profile N` prints cProfile's N costliest functions (cumulative and
own time) of Verrou's requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import floor_app
from bench.roundtrips import enable_two_factor, started_app
from bench.status import SIX_FIELDS_QUERY, STATUS_QUERY
from services.clock import FrozenClock

ROUNDS = 5
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_of(body: bytes, token: str) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: ASGIApp, body: bytes, token: str) -> bytes:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)  # as uvicorn: nothing more until the client leaves
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope_of(body, token), receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def interleaved(
    forms: Mapping[Any, tuple[ASGIApp, bytes]], token: str, requests: int, rounds: int = ROUNDS
) -> dict[Any, float]:
    """cpu_per_request of each (app, body), their rounds taken in turn, so that a change in
    what else the machine runs weighs on all of them alike."""
    for app, body in forms.values():
        for _ in range(200):
            await call(app, body, token)
    best = dict.fromkeys(forms, float("inf"))
    for _ in range(rounds):
        for name, (app, body) in forms.items():
            started = time.process_time()
            for _ in range(requests // rounds):
                await call(app, body, token)
            spent = (time.process_time() - started) / (requests // rounds) * 1e6
            best[name] = min(best[name], spent)
    return best


async def cpu_per_request(app: ASGIApp, body: bytes, token: str, requests: int) -> float:
    """Microseconds of this process's CPU per request, after a warm-up: the best of five
    rounds, so that another process on the machine costs less noise."""
    for _ in range(200):
        await call(app, body, token)
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(requests // ROUNDS):
            await call(app, body, token)
        rounds.append((time.process_time() - started) / (requests // ROUNDS) * 1e6)
    return min(rounds)


def floor(lookup: str) -> Starlette:
    async def endpoint(request: Any) -> Any:
        return await floor_app.answer(request, lookup)

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])


async def run(app: Starlette, token: str, requests: int, top: int) -> None:
    floors = {
        "floor (two lookups)": floor("two"),
        "floor (same SQL)": floor("sql"),
        "floor (one statement, query builder)": floor("orm"),
    }

    body = json.dumps({"query": SIX_FIELDS_QUERY}).encode()
    answers = {name: await call(f, body, token) for name, f in floors.items()}
    answers["graphql"] = await call(app, body, token)
    same_answers(answers, "targets")
    print(f"all answer {answers['graphql'].decode()}")
    two = json.dumps({"query": STATUS_QUERY}).encode()
    targets = {name: (f, body) for name, f in floors.items()}
    targets |= {"graphql": (app, body), "graphql, 2 fields": (app, two)}
    rows = await interleaved(targets, token, requests)
    base = rows["floor (two lookups)"]
    print(f"\nCPU per request, {requests} requests each, in-process (no network)\n")
    print("| target | µs per request | ratio (floor µs / target µs) |")
    print("|---|---:|---:|")
    for name, micros in rows.items():
        print(f"| {name} | {micros:,.0f} | {base / micros:.0%} |")
    if top:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            await call(app, body, token)
        profiler.disable()
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
            print(out.getvalue())


def same_answers(answers: Mapping[str, bytes], what: str) -> None:
    """Every target answers the same JSON (key order aside), or the comparison is void."""
    if len({json.dumps(json.loads(a), sort_keys=True) for a in answers.values()}) != 1:
        raise RuntimeError(f"the {what} disagree: {answers}")


@contextlib.asynccontextmanager
async def serving_app(**settings: Any) -> AsyncIterator[tuple[Starlette, str]]:
    """The app started on a fresh SQLite file (its lifespan run), and the session token of
    an account with 2FA on (bench/roundtrips.py's). `settings` adds to the development ones."""
    clock = FrozenClock(datetime.now(UTC))
    async with started_app(clock, log_level="WARNING", **settings) as (app, client):
        token, _ = await enable_two_factor(client, clock)
        yield app, token


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    async with serving_app() as (app, token):
        await run(app, token, args.requests, args.profile)


if __name__ == "__main__":
    asyncio.run(main())
