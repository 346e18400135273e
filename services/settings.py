"""The one settings object: every environment variable Verrou reads is read here, once."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.persisted_queries import ManifestError, load_manifest


class SettingsError(RuntimeError):
    """The environment cannot run Verrou; the message names the variable to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite://var/verrou.sqlite3"
    redis_url: str | None = None
    var_dir: Path = Path("var")

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    mail_from: str = "Verrou <no-reply@localhost>"
    support_email: str = "support@localhost"
    smtp_timeout_seconds: float = 10.0
    # How often the mail worker looks for rows it was not woken for (other processes',
    # retries that came due); a change made by this process wakes it at once.
    outbox_poll_seconds: float = 5.0
    # Off only for tools that must not send (the worker runs in the app's lifespan).
    outbox_worker: bool = True

    # Comma-separated Fernet keys, newest first. Empty in development: a key is generated
    # once into var/ (see services.crypto.load_key_ring).
    encryption_keys: SecretStr = SecretStr("")
    public_url: str | None = None
    totp_issuer: str = "Verrou"
    # --- account safety (issue 12): the zone emails show times in (an IANA name) ---
    time_zone: str = "Europe/Paris"

    # Lost-device recovery: uploads, where documents live, and how long after resolution.
    recovery_dir: Path | None = None  # default: <var_dir>/recovery
    max_document_bytes: int = 10 * 1000 * 1000
    document_retention_days: int = 30
    download_link_ttl_seconds: int = Field(default=600, le=600)
    purge_interval_seconds: float = 3600.0
    # --- table purge (issue 14): sent emails are kept this long (services/purge.py) ---
    outbox_retention_days: int = Field(default=7, ge=1)
    # An approved recovery turns 2FA off this long after support's decision, so the owner
    # can cancel it if the request was not theirs; 0 turns it off at once.
    recovery_wait_seconds: int = Field(default=259200, ge=0)
    # How often each serving process looks for waiting periods that have ended.
    recovery_job_interval_seconds: float = Field(default=60.0, gt=0)

    # --- sessions (issue 6): an absolute and an idle lifetime --------------------------
    # SESSION_ABSOLUTE_SECONDS (formerly SESSION_TTL_SECONDS, still read): from sign-in.
    session_absolute_seconds: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        validation_alias=AliasChoices("session_absolute_seconds", "session_ttl_seconds"),
    )
    # Unused this long and the session ends; uses are recorded at most once a minute.
    session_idle_seconds: int = Field(default=2 * 3600, ge=120)
    # verifySignIn(rememberDevice: true) skips the second factor this many days; 0: off.
    remember_device_days: int = Field(default=30, ge=0, le=365)
    # --- end sessions ---------------------------------------------------------------------
    # --- sockets and their sessions (issue 14) ---
    # How often each process checks the sessions of its open WebSockets (revoked, expired, or
    # idle past SESSION_IDLE_SECONDS) and closes those that ended, with 4403.
    socket_session_check_seconds: float = Field(default=60.0, gt=0)
    # --- end sockets ---
    challenge_ttl_seconds: int = 5 * 60
    setup_ttl_seconds: int = 10 * 60
    challenge_max_attempts: int = 5
    # More than this many failures of one kind in the window and the account is RATE_LIMITED.
    max_failures: int = 10
    failure_window_seconds: int = 15 * 60
    # --- no mail relay (issue 14): security emails per recipient, and sign-ups per address ---
    # At most MAIL_LIMIT_PER_KIND emails of one kind to one address, and MAIL_LIMIT_PER_ACCOUNT
    # emails about one account, per MAIL_LIMIT_WINDOW_SECONDS; the rest are dropped (logged and
    # counted in verrou_emails_dropped_total; the account's feed still has every notification).
    mail_limit_per_kind: int = Field(default=5, ge=1)
    mail_limit_per_account: int = Field(default=30, ge=1)
    mail_limit_window_seconds: int = Field(default=600, ge=60)
    # signUp from one client address: at most this many per window, then RATE_LIMITED.
    sign_up_max_per_address: int = Field(default=20, ge=1)
    sign_up_window_seconds: int = Field(default=3600, ge=60)
    # --- end no mail relay ---
    backup_code_count: int = 10
    backup_codes_low_threshold: int = 2

    # argon2id cost; the floor is OWASP's minimum (19 MiB, 2 iterations, 1 lane).
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)

    graphiql: bool | None = None
    graphql_introspection: bool | None = None
    # --- Web client and GraphiQL (webclient/) ---
    # The reference web client at `/`; unset: on in development, off in production.
    web_client: bool | None = None
    # --- end web client ---
    log_level: str = "INFO"
    # "json": one JSON object per line (what log shippers read); "text" for a terminal.
    # Unset: text in development, JSON otherwise.
    log_format: Literal["json", "text"] | None = None

    # -- GraphQL request limits (issue 6): checked before a document runs (schema/limits.py).
    graphql_max_depth: int = Field(default=10, ge=1)
    # One request must not do the work of many (30 sign-ins = 30 argon2 hashes).
    graphql_max_aliases: int = Field(default=15, ge=0)
    graphql_max_tokens: int = Field(default=2000, ge=100)
    # Over these: HTTP 413. Uploaded files are not variables bytes (MAX_DOCUMENT_BYTES).
    graphql_max_document_bytes: int = Field(default=100_000, ge=1000)
    graphql_max_variables_bytes: int = Field(default=100_000, ge=1000)
    # -- end of GraphQL request limits
    # -- Persisted queries and trusted documents (services/persisted_queries.py) --
    # A manifest of trusted documents: Apollo's persisted query manifest or Relay's {id: text}.
    trusted_documents: Path | None = None
    # Run nothing but the manifest's documents (advised in production for first-party clients).
    trusted_documents_only: bool = False
    # Automatic persisted queries: the store's bounds (per process, or on Redis when shared).
    persisted_queries_max_entries: int = Field(default=1000, ge=1)
    persisted_queries_max_bytes: int = Field(default=5_000_000, ge=100_000)
    # -- end of persisted queries
    # ---- browsers (CORS, WebSocket origins, the session cookie) ----
    # Comma-separated origins (scheme://host[:port]) whose pages may call the API with
    # credentials and open its WebSocket. Empty: only the server's own origin (base_url).
    cors_origins: str = ""
    # Security keys and passkeys: origins besides the server's own whose WebAuthn answers
    # are accepted (a mobile app's, e.g. android:apk-key-hash:...), comma-separated.
    webauthn_origins: str = ""
    # ---- /metrics (issue 14): who may read it -------------------------------------------
    # A bearer token /metrics then requires (Authorization: Bearer <token>), wherever served.
    metrics_token: SecretStr | None = None
    # host:port of a listener of its own that alone serves /metrics (the API's port has none).
    metrics_address: str | None = None

    @model_validator(mode="after")
    def _check_metrics(self) -> Settings:
        token = self.metrics_token.get_secret_value() if self.metrics_token else None
        if token is not None and len(token) < 16:
            raise SettingsError(
                "METRICS_TOKEN: at least 16 characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        if self.metrics_address is not None and parse_address(self.metrics_address) is None:
            raise SettingsError(
                f"METRICS_ADDRESS: {self.metrics_address!r} is not host:port like "
                "10.0.0.5:9100 or [::1]:9100"
            )
        return self

    @property
    def metrics_listen(self) -> tuple[str, int] | None:
        """(host, port) of the separate /metrics listener, when METRICS_ADDRESS asks for one."""
        return parse_address(self.metrics_address) if self.metrics_address else None

    @property
    def metrics_on_api_port(self) -> bool:
        """Whether the API's own port serves /metrics: not when it has a listener of its own,
        and in production only behind METRICS_TOKEN (a scrape open to anyone would show
        what every counter says to whoever asks)."""
        if self.metrics_address is not None:
            return False
        return self.is_development or self.metrics_token is not None

    @model_validator(mode="after")
    def _check_cors_origins(self) -> Settings:
        for origin in self.cors_origins.split(","):
            if origin.strip() and normalize_origin(origin) is None:
                raise SettingsError(
                    f"CORS_ORIGINS: {origin.strip()!r} is not an origin like https://app.example.com"
                    " (scheme, host and optional port; no path, no '*')"
                )
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [o for o in (normalize_origin(v) for v in self.cors_origins.split(",")) if o]

    @property
    def own_origins(self) -> list[str]:
        """The origin of PUBLIC_URL; without one, the listening address's, and on a loopback
        address also http://localhost:PORT (browsers accept security keys only on a host name,
        and treat localhost as a secure context)."""
        public = urlsplit(self.base_url)  # PUBLIC_URL may carry a path: its origin is what counts
        own = normalize_origin(f"{public.scheme}://{public.netloc}")
        origins = [own] if own else []
        if self._local_default:
            origins.append(f"http://localhost:{self.port}")
        return origins

    @property
    def _local_default(self) -> bool:
        loopback = ("127.0.0.1", "::1", "0.0.0.0", "localhost")  # noqa: S104 (names, no bind)
        return self.public_url is None and self.host in loopback

    @property
    def trusted_origins(self) -> frozenset[str]:
        """The server's own origins and CORS_ORIGINS: the pages that may open a WebSocket."""
        return frozenset([*self.cors_origin_list, *self.own_origins])

    @property
    def webauthn_rp_id(self) -> str | None:
        """The relying party id of security keys: the host of PUBLIC_URL (localhost for the
        development default); None when it is an IP address, which browsers refuse."""
        if self._local_default:
            return "localhost"
        host = urlsplit(self.base_url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host or None
        return None

    @property
    def webauthn_origin_list(self) -> list[str]:
        extra = [o.strip() for o in self.webauthn_origins.split(",") if o.strip()]
        own = [o for o in self.own_origins if urlsplit(o).hostname == self.webauthn_rp_id]
        return [*own, *extra]

    @model_validator(mode="after")
    def _check_time_zone(self) -> Settings:
        try:
            ZoneInfo(self.time_zone)
        except (ValueError, ZoneInfoNotFoundError):
            raise SettingsError(
                f"TIME_ZONE: {self.time_zone!r} is not a time zone like Europe/Paris or UTC"
            ) from None
        return self

    @model_validator(mode="after")
    def _check_trusted_documents(self) -> Settings:
        if self.trusted_documents is None:
            if self.trusted_documents_only:
                raise SettingsError("TRUSTED_DOCUMENTS_ONLY=true requires TRUSTED_DOCUMENTS")
            return self
        try:
            load_manifest(self.trusted_documents)
        except ManifestError as error:
            raise SettingsError(f"TRUSTED_DOCUMENTS: {error}") from None
        return self

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.environment != "production":
            return self
        explicit = self.model_fields_set
        if not self.encryption_keys.get_secret_value():
            raise SettingsError("ENVIRONMENT=production requires ENCRYPTION_KEYS")
        if "database_url" not in explicit:
            raise SettingsError("ENVIRONMENT=production requires an explicit DATABASE_URL")
        if not self.public_url:
            raise SettingsError("ENVIRONMENT=production requires PUBLIC_URL")
        return self

    @property
    def session_ttl_seconds(self) -> int:
        """The absolute session lifetime under its first name."""
        return self.session_absolute_seconds

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def logs_as_json(self) -> bool:
        return not self.is_development if self.log_format is None else self.log_format == "json"

    @property
    def graphiql_enabled(self) -> bool:
        return self.is_development if self.graphiql is None else self.graphiql

    @property
    def web_client_enabled(self) -> bool:
        return self.is_development if self.web_client is None else self.web_client

    @property
    def introspection_enabled(self) -> bool:
        if self.graphql_introspection is None:
            return self.is_development
        return self.graphql_introspection

    @property
    def max_request_bytes(self) -> int:
        """Two documents and the rest of a multipart request."""
        return 2 * self.max_document_bytes + 1_000_000

    @property
    def documents_dir(self) -> Path:
        return self.recovery_dir or self.var_dir / "recovery"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")  # a name, an IPv4 or an IPv6 address


def normalize_origin(value: str) -> str | None:
    """`value` as browsers write it in an Origin header (lowercase, no default port), or
    None when it is not an origin: '*', 'null', a path or credentials are refused, since
    a wildcard with credentials would let any site act as the signed-in user."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if not _HOSTNAME.fullmatch(parts.hostname):  # no '*.example.com' patterns
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme.lower()]:
        host = f"{host}:{port}"
    return f"{parts.scheme.lower()}://{host}"


def parse_address(value: str) -> tuple[str, int] | None:
    """("10.0.0.5", 9100) of "10.0.0.5:9100", ("::1", 9100) of "[::1]:9100"; None when
    `value` is not host:port with a port from 1 to 65535."""
    try:
        parts = urlsplit("//" + value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None or port == 0 or parts.path or parts.username:
        return None
    return parts.hostname, port
