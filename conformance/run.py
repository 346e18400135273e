"""Protocol conformance against a real server: `make conformance` (and .ci/run) runs this.

Starts `server.py serve` on a free port with a throw-away SQLite database, runs the
graphql-http audit suite (audit.mjs), prepares an account with 2FA on (the CLI, then
GraphQL), runs the subscription checks with the npm graphql-ws client (subscriptions.mjs) and
Apollo Client's persisted queries (persisted.mjs, which writes the manifest of what it sent),
and stops the server. Then a second server runs that manifest only (TRUSTED_DOCUMENTS_ONLY),
and persisted.mjs checks it again. Without a server: TypeScript types generated from
schema.graphql and the web client's operations must compile (typed-clients.mjs), and the web
client's trusted documents manifest must list every operation it sends (manifest.mjs). Exits
non-zero when any step fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EMAIL = "conformance@example.com"
# A throw-away account on a throw-away database.
PASSWORD = "conformance-only password 7f3a"  # noqa: S105


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def server(var_dir: Path, **settings: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'verrou.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    env.pop("REDIS_URL", None)
    # Fixed arguments of our own: nothing untrusted reaches a command line here.
    created = subprocess.run(  # noqa: S603
        [sys.executable, "server.py", "create-account", EMAIL],
        input=PASSWORD + "\n",
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    print(created.stdout.strip())
    process = subprocess.Popen([sys.executable, "server.py", "serve"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode} before answering")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready within 30 s")
            time.sleep(0.2)
        yield f"{base}/graphql"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gql(
    url: str, query: str, variables: dict[str, object], token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(url, json={"query": query, "variables": variables}, headers=headers)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors while preparing the account: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


def account_with_two_factor(url: str) -> str:
    """Sign the CLI-created account in, turn 2FA on; its session token."""
    signed_in = gql(
        url,
        "mutation ($input: SignInInput!) { signIn(input: $input) { session { token } "
        "errors { code } } }",
        {"input": {"email": EMAIL, "password": PASSWORD}},
    )["signIn"]
    token: str = signed_in["session"]["token"]
    setup = gql(
        url,
        "mutation ($input: StartTwoFactorInput!) { startTwoFactor(input: $input) "
        "{ setup { secret } errors { code } } }",
        {"input": {"password": PASSWORD}},
        token,
    )["startTwoFactor"]
    code = pyotp.TOTP(setup["setup"]["secret"]).now()
    confirmed = gql(
        url,
        "mutation ($input: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $input) "
        "{ status { enabled } errors { code } } }",
        {"input": {"code": code}},
        token,
    )["confirmTwoFactor"]
    if confirmed["errors"] or not confirmed["status"]["enabled"]:
        raise SystemExit(f"could not turn 2FA on: {confirmed}")
    return token


def node(script: str, *args: str, **env: str) -> int:
    print(f"\n== node {script} {' '.join(args)}", flush=True)
    executable = shutil.which("node")
    if executable is None:
        raise SystemExit("node is not installed (the conformance checks need Node.js 20+)")
    return subprocess.run(  # noqa: S603
        [executable, script, *args], cwd=HERE, env={**os.environ, **env}, check=False
    ).returncode


def main() -> int:
    if not (HERE / "node_modules").is_dir():
        raise SystemExit("conformance/node_modules is missing: run `npm ci` in conformance/")
    with tempfile.TemporaryDirectory(prefix="verrou-conformance-") as var_dir:
        manifest = Path(var_dir) / "persisted-query-manifest.json"
        with server(Path(var_dir) / "open") as url:
            audits = node("audit.mjs", url)
            token = account_with_two_factor(url)
            subscriptions = node(
                "subscriptions.mjs", url, VERROU_TOKEN=token, VERROU_PASSWORD=PASSWORD
            )
            persisted = node("persisted.mjs", url, str(manifest))
        trusted = 1
        if manifest.exists():
            only = {"TRUSTED_DOCUMENTS": str(manifest), "TRUSTED_DOCUMENTS_ONLY": "true"}
            with server(Path(var_dir) / "trusted", **only) as url:
                trusted = node("persisted.mjs", url, "--trusted")
    typed = node("typed-clients.mjs")
    manifest_complete = node("manifest.mjs")
    steps = {
        "audit": audits,
        "subscriptions": subscriptions,
        "persisted queries": persisted,
        "trusted documents": trusted,
        "typed clients": typed,
        "web client manifest": manifest_complete,
    }
    failed = [name for name, code in steps.items() if code]
    print(f"\nconformance: {'FAILED: ' + ', '.join(failed) if failed else 'every check passes'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
