"""The command line: `python server.py [serve|migrate|create-account|purge-documents|purge|
rotate-keys]`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from tortoise import Tortoise
from uvicorn.supervisors import multiprocess

from models.accounts import Locale, Role
from services import accounts, purge, recovery, rotation
from services.crypto import KeyRingError
from services.database import apply_migrations, tortoise_config
from services.errors import WHOLE_INPUT, VerrouError
from services.i18n import translate
from services.runtime import make_runtime
from services.settings import Settings, SettingsError
from transport import logs
from transport.ws_protocol import LeanWebSocketsProtocol

# server.create_app; with --workers, uvicorn imports it by name in every worker.
AppFactory = Callable[[Settings], Starlette]


def _serve(settings: Settings, workers: int, app_factory: AppFactory) -> None:
    tune_garbage_collector()
    # Once, before any worker starts.
    asyncio.run(apply_migrations(settings.database_url))
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "proxy_headers": True,
        # Notifications are a few hundred bytes: compressing them saves nothing, and each
        # connection's zlib state would cost more memory than the rest of it.
        "ws_per_message_deflate": False,
        # uvicorn's own choice (websockets' sans-I/O protocol) with a lighter receive queue.
        "ws": LeanWebSocketsProtocol,
        # Logging is ours (logs.py), in every worker; RequestLog writes one line per request.
        "log_config": logs.dict_config(settings.log_level, as_json=settings.logs_as_json),
        "access_log": False,
    }
    if workers > 1:
        config = uvicorn.Config("server:create_app", factory=True, workers=workers, **options)
        announce(settings)
        # uvicorn's supervisor builds each worker's server in its Process class; ours gives
        # every worker a GracefulServer. (Its workers are spawned: they unpickle the
        # target, a method of GracefulProcess, and so import this module.)
        multiprocess.Process = GracefulProcess  # type: ignore[misc]  # no option names the class
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    config = uvicorn.Config(app_factory(settings), **options)
    try:
        GracefulServer(config, on_started=lambda: announce(settings)).run()
    except KeyboardInterrupt:
        # Ctrl+C: uvicorn has shut down gracefully, then raises it again; no traceback.
        return


def announce(settings: Settings) -> None:
    """In development, the addresses to open, once, where the developer looks: `make run`
    otherwise shows log lines only. Not among JSON lines: whatever reads those reads JSON."""
    if not settings.is_development or settings.logs_as_json:
        return
    if settings.public_url:
        base = settings.base_url
    else:
        # localhost, not 127.0.0.1: security keys need a host name (docs/security-keys.md).
        local = settings.host in {"127.0.0.1", "0.0.0.0", "::", "::1", "localhost"}  # noqa: S104
        base = f"http://{'localhost' if local else settings.host}:{settings.port}"
    lines = [f"Verrou is running in development on {base}"]
    if settings.graphiql_enabled:
        lines.append(f"  GraphiQL    {base}/graphql")
    if settings.web_client_enabled:
        lines.append(f"  Web client  {base}/")
    lines.append(f"  Health      {base}/healthz")
    print("\n".join(lines), file=sys.stderr, flush=True)


class GracefulServer(uvicorn.Server):
    """On SIGTERM uvicorn stops accepting and finishes in-flight requests, but closes
    WebSockets with 1012; ours get 1001 (going away) first."""

    def __init__(
        self, config: uvicorn.Config, on_started: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.loaded_app
        # Down through uvicorn's wrappers (proxy headers and the like) to the app itself.
        while app is not None and not hasattr(app, "state"):
            app = getattr(app, "app", None)
        if app is not None:
            await app.state.going_away()
        await super().shutdown(sockets)


class GracefulProcess(multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GracefulServer(config=self.config)
        return self._server


def tune_garbage_collector() -> None:
    """Collect less often than CPython's default (700 allocations, 10, 10): with thousands of
    open subscriptions, one notification's fan-out otherwise triggers collections that walk
    the whole heap in its middle (bench/subscribers.py: 720 -> 510 ms of CPU for 5,000
    subscribers, and no more 1.4 s outliers). Not much less often, though: a collection's
    pause grows with what it walks, the youngest generation's allocations and what survived
    into the middle one. With 20,000 sockets (a heap of two million objects) 30,000 and 50
    paused the loop 30-40 ms every 2 s and about 0.8 s once every minute or two (push p99
    560 ms, status p99 42 ms in bench/sockets.py); 10,000 and 5 pause it 10-15 ms and
    60-90 ms (p99 32 and 18 ms). A full collection still waits for 100 of the middle ones.
    No gc.freeze(): it shrinks the count that full collections are weighed against, and
    made them more frequent, not less."""
    gc.set_threshold(10_000, 5, 100)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


# How create-account names the inputs a service may refuse (services speak domain names).
_CREATE_ACCOUNT_INPUTS = {
    "email": "EMAIL",
    "password": "the password (stdin)",
    "company_name": "--company",
    "billing_contact_email": "--billing-email",
}


def _refusal(error: VerrouError, inputs: dict[str, str]) -> str:
    """`INVALID_INPUT (INVALID_EMAIL) on --billing-email: This email address is not valid.`"""
    where = ""
    if error.field is not None and error.field != WHOLE_INPUT:
        where = f" on {inputs.get(error.field, error.field)}"
    message = translate(error.message_key, "en", error.params)
    return f"{error.code} ({error.message_key}){where}: {message}"


async def _create_account(settings: Settings, args: argparse.Namespace) -> int:
    runtime = make_runtime(settings)
    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        account = await accounts.create_account(
            runtime,
            email=args.email,
            password=_read_password(),
            company_name=args.company,
            billing_contact_email=args.billing_email,
            locale=Locale(args.locale),
            role=Role(args.role),
        )
    except VerrouError as error:
        print(f"error: {_refusal(error, _CREATE_ACCOUNT_INPUTS)}", file=sys.stderr)
        return 1
    finally:
        await Tortoise.close_connections()
    print(f"created {account.role.value} account {account.email}")
    if account.role == Role.SUPPORT:
        # services.access refuses a support account without 2FA every recovery action.
        print(
            "this support account must turn two-factor authentication on (sign in, then "
            "startTwoFactor and confirmTwoFactor, or the web client's security page) before "
            "it can see the recovery queue, decide a request or open a document"
        )
    return 0


async def _purge_documents(settings: Settings) -> int:
    runtime = make_runtime(settings)
    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        removed = await recovery.purge(runtime)
    finally:
        await Tortoise.close_connections()
    print(f"purged {removed} recovery document(s)")
    return 0


async def _purge_tables(settings: Settings) -> int:
    runtime = make_runtime(settings)
    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        deleted = await purge.purge_tables(runtime)
    finally:
        await Tortoise.close_connections()
    for table, count in deleted.items():
        print(f"{table}: purged {count} stale row(s)")
    return 0


async def _rotate_keys(settings: Settings) -> int:
    runtime = make_runtime(settings)
    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    progress = rotation.TextProgress(sys.stderr)
    try:
        report = await rotation.rotate_keys(runtime, progress)
    except KeyRingError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    finally:
        progress.close()
        await Tortoise.close_connections()
    print(
        f"re-encrypted {report.secrets_rotated} of {report.secrets} TOTP secret(s) and "
        f"{report.documents_rotated} of {report.documents} recovery document(s) "
        "under the first key of ENCRYPTION_KEYS"
    )
    if report.documents_missing:
        print(f"{report.documents_missing} document file(s) were already gone (purged)")
    if report.backup_codes_unused:
        print(
            f"{report.backup_codes_unused} unused backup code(s) are HMACs, which cannot be "
            "re-keyed: those made under an older key verify only while it is listed"
        )
    return 0


def main(argv: list[str] | None = None, *, app_factory: AppFactory) -> int:
    """The commands; `app_factory` is server.create_app (passed in, so this module never
    imports server.py, which runs it)."""
    parser = argparse.ArgumentParser(prog="server.py", description="Verrou 2FA backend")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the API (the default)")
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="apply the database migrations")
    create = commands.add_parser("create-account", help="create an account; password on stdin")
    create.add_argument("email")
    create.add_argument("--role", choices=["customer", "support"], default="customer")
    create.add_argument("--company")
    create.add_argument("--billing-email")
    create.add_argument("--locale", choices=["fr", "en"], default="fr")
    commands.add_parser(
        "purge-documents", help="delete recovery documents past their retention period"
    )
    commands.add_parser(
        "purge", help="delete stale rows (failed attempts, expired challenges...), once"
    )
    commands.add_parser(
        "rotate-keys",
        help="re-encrypt secrets and documents under the first key of ENCRYPTION_KEYS",
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        for problem in error.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper() or "settings"
            print(f"configuration error: {name}: {problem['msg']}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, as_json=settings.logs_as_json)

    if args.command == "migrate":
        asyncio.run(apply_migrations(settings.database_url))
        print("migrations applied")
        return 0
    if args.command == "create-account":
        return asyncio.run(_create_account(settings, args))
    if args.command == "purge-documents":
        return asyncio.run(_purge_documents(settings))
    if args.command == "purge":
        return asyncio.run(_purge_tables(settings))
    if args.command == "rotate-keys":
        return asyncio.run(_rotate_keys(settings))
    _serve(settings, getattr(args, "workers", 1), app_factory)
    return 0
