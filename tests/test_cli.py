"""The command line of server.py, run as a real process: migrate, create-account, serve."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import PASSWORD, SIGN_UP

ROOT = Path(__file__).parents[1]
TIMEOUT = 60


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ENCRYPTION_KEYS", None)
    env.pop("GRAPHIQL", None)
    env.update(
        {
            "DATABASE_URL": f"sqlite://{tmp_path / 'x.sqlite3'}",
            "VAR_DIR": str(tmp_path / "var"),
            "ENVIRONMENT": "development",
            **extra,
        }
    )
    return env


def run_cli(
    tmp_path: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        env=cli_env(tmp_path, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


@pytest.mark.sqlite_only
def test_migrate_creates_the_tables(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "migrate")

    assert result.returncode == 0, result.stderr
    found = tables(tmp_path / "x.sqlite3")
    assert {"account", "two_factor", "session", "security_event", "failed_attempt"} <= found


@pytest.mark.sqlite_only
def test_create_account_stores_a_support_account_with_an_argon2id_hash(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "create-account",
        "Agent@Example.com",
        "--role",
        "support",
        "--company",
        "ACME",
        "--billing-email",
        "billing@example.com",
        "--locale",
        "en",
        stdin=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr

    with sqlite3.connect(tmp_path / "x.sqlite3") as connection:
        rows = connection.execute(
            "SELECT email, role, company_name, billing_contact_email, locale, password_hash "
            "FROM account"
        ).fetchall()
    assert len(rows) == 1
    email, role, company, billing, locale, password_hash = rows[0]
    assert (email, role, company, billing, locale) == (
        "agent@example.com",
        "support",
        "ACME",
        "billing@example.com",
        "en",
    )
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    # Support staff cannot act on recoveries without 2FA of their own: said at once.
    assert "must turn two-factor authentication on" in result.stdout


@pytest.mark.sqlite_only
def test_create_account_of_a_customer_says_nothing_about_support_two_factor(
    tmp_path: Path,
) -> None:
    result = run_cli(tmp_path, "create-account", "lea@example.com", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "created customer account lea@example.com" in result.stdout
    assert "two-factor" not in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.sqlite_only
def test_create_account_twice_with_one_email_fails_with_email_taken(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "create-account", "agent@example.com", stdin=PASSWORD + "\n")
    assert first.returncode == 0, first.stderr

    second = run_cli(tmp_path, "create-account", "AGENT@example.com", stdin=PASSWORD + "\n")
    assert second.returncode != 0
    assert "EMAIL_TAKEN" in second.stderr

    with sqlite3.connect(tmp_path / "x.sqlite3") as connection:
        assert connection.execute("SELECT count(*) FROM account").fetchone() == (1,)


@pytest.mark.sqlite_only
def test_create_account_with_a_short_password_fails(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "create-account", "agent@example.com", stdin="short\n")

    assert result.returncode != 0
    assert "INVALID_INPUT" in result.stderr
    with sqlite3.connect(tmp_path / "x.sqlite3") as connection:
        assert connection.execute("SELECT count(*) FROM account").fetchone() == (0,)


@pytest.mark.sqlite_only
def test_create_account_names_the_option_a_refusal_is_about(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "create-account",
        "agent@example.com",
        "--billing-email",
        "not-an-address",
        stdin=PASSWORD + "\n",
    )

    assert result.returncode == 1
    assert (
        "error: INVALID_INPUT (INVALID_EMAIL) on --billing-email: This email address is not valid."
        in result.stderr.splitlines()
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not answer /healthz within 20 s")


@pytest.mark.sqlite_only
def test_serve_answers_health_graphiql_and_graphql_over_a_socket(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "server.py", "serve"],
            cwd=ROOT,
            env=cli_env(tmp_path, HOST="127.0.0.1", PORT=str(port)),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                wait_until_healthy(client, process)

                health = client.get("/healthz")
                assert health.status_code == 200
                assert health.text == "ok"

                ide = client.get("/graphql", headers={"Accept": "text/html"})
                assert ide.status_code == 200
                assert ide.headers["content-type"].startswith("text/html")
                assert "graphiql" in ide.text.lower()

                response = client.post(
                    "/graphql",
                    json={
                        "query": SIGN_UP,
                        "variables": {
                            "input": {"email": "Served@Example.com", "password": PASSWORD}
                        },
                    },
                )
                assert response.status_code == 200, response.text
                payload = response.json()["data"]["signUp"]
                assert payload["errors"] == []
                assert payload["session"]["account"]["email"] == "served@example.com"
                assert len(payload["session"]["token"]) >= 43
        except BaseException:
            print(log.read_text(errors="replace"))
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    # The served process migrated and wrote to the configured database.
    with sqlite3.connect(tmp_path / "x.sqlite3") as connection:
        emails = connection.execute("SELECT email FROM account").fetchall()
    assert emails == [("served@example.com",)]


def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "migrate", DOWNLOAD_LINK_TTL_SECONDS="900")
    assert result.returncode == 2
    assert "DOWNLOAD_LINK_TTL_SECONDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_purge_documents_runs_on_an_empty_database(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "purge-documents")
    assert result.returncode == 0, result.stderr
    assert "purged 0 recovery document(s)" in result.stdout
