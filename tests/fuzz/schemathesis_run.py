"""A bounded schemathesis run against a real Verrou server, signed in.

Starts `server.py serve` on a free port with a fresh SQLite database in a temporary
directory, creates an account with the CLI (`create-account`), signs in over GraphQL for a
bearer token, then runs `schemathesis run` in GraphQL mode on /graphql with that token and
the check of tests/fuzz/schemathesis_hooks.py (no 5xx, no masked or INTERNAL error, no
Python in a message). Exits non-zero on any failure, or when the whole run passes its
time budget. `make fuzz` runs it; .ci/run runs `make fuzz` after `make test`.

With --postgres ADMIN_URL the server runs on a scratch PostgreSQL database instead (created,
then dropped): PostgreSQL refuses what SQLite stores (NUL in text, keys past 32 bits).

    python tests/fuzz/schemathesis_run.py [--budget SECONDS] [--max-examples N] [--seed N]
                                          [--postgres ADMIN_URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().with_name("schemathesis_hooks.py")
EMAIL = "fuzz@example.com"
PASSWORD = "fuzzing the whole schema"  # a throwaway account in a throwaway database
SIGN_IN = """
mutation S($input: SignInInput!) { signIn(input: $input) { session { token } errors { code } } }
"""
# Ending the fuzzer's own session would leave every later case UNAUTHENTICATED.
EXCLUDED = ["Mutation.signOut"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def database(directory: Path, postgres_admin_url: str | None) -> Iterator[str]:
    """The run's database URL: a SQLite file in `directory`, or a scratch PostgreSQL one."""
    if postgres_admin_url is None:
        yield f"sqlite://{directory / 'verrou.sqlite3'}"
        return
    name = f"verrou_fuzz_{secrets.token_hex(6)}"
    asyncio.run(_admin(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(postgres_admin_url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def environment(directory: Path, port: int, database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "SMTP_", "PUBLIC_"))
    }
    env.update(
        ENVIRONMENT="development",  # introspection on: schemathesis reads the schema
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=database_url,
        VAR_DIR=str(directory / "var"),
        ENCRYPTION_KEYS=Fernet.generate_key().decode("ascii"),
        OUTBOX_WORKER="false",  # no SMTP server here; mails wait in the outbox
        LOG_LEVEL="WARNING",
        LOG_FORMAT="text",
    )
    return env


def post(url: str, query: str, variables: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 (our own server on loopback)
        url,
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body: dict[str, object] = json.load(response)
        return body


def wait_until_ready(base: str, server: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server was not ready within {within:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds for everything")
    parser.add_argument("--max-examples", type=int, default=25, help="per operation")
    parser.add_argument("--seed", type=int, default=None, help="reproduce a run")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="run on PostgreSQL instead")
    args = parser.parse_args()
    started = time.monotonic()
    python = sys.executable
    schemathesis = str(Path(python).with_name("schemathesis"))

    with (
        tempfile.TemporaryDirectory(prefix="verrou-fuzz-") as tmp,
        database(Path(tmp), args.postgres) as database_url,
    ):
        directory = Path(tmp)
        port = free_port()
        env = environment(directory, port, database_url)
        created = subprocess.run(  # noqa: S603
            [python, str(ROOT / "server.py"), "create-account", EMAIL],
            input=f"{PASSWORD}\n".encode(),
            cwd=directory,  # no .env of the checkout is read
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            sys.stderr.write(created.stderr.decode(errors="replace"))
            raise SystemExit("create-account failed")

        server = subprocess.Popen(  # noqa: S603
            [python, str(ROOT / "server.py"), "serve"], cwd=directory, env=env
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base, server, within=30)
            signed_in = post(
                f"{base}/graphql", SIGN_IN, {"input": {"email": EMAIL, "password": PASSWORD}}
            )
            token = signed_in["data"]["signIn"]["session"]["token"]  # type: ignore[index]
            left = args.budget - (time.monotonic() - started)
            command = [
                schemathesis,
                "run",
                f"{base}/graphql",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "verrou_clean_errors",
                "--max-examples",
                str(args.max_examples),
                # Fuzzing stops when its share of the budget is spent; the rest is margin.
                "--max-time",
                str(max(1, int(left - 15))),
                "--request-timeout",
                "10",
                "--workers",
                "1",
                "--no-shrink",
                "--suppress-health-check",
                "all",
                *(option for name in EXCLUDED for option in ("--exclude-name", name)),
                *(["--seed", str(args.seed)] if args.seed is not None else []),
            ]
            fuzz_env = {**env, "SCHEMATHESIS_HOOKS": str(HOOKS)}
            try:
                result = subprocess.run(  # noqa: S603
                    command, cwd=directory, env=fuzz_env, timeout=max(1.0, left), check=False
                )
            except subprocess.TimeoutExpired:
                print(f"schemathesis passed the {args.budget:.0f} s budget", file=sys.stderr)
                return 1
            return result.returncode
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.exit(main())
