"""The one settings object: every environment variable Verrou reads is read here, once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    # Lost-device recovery: uploads, where documents live, and how long after resolution.
    recovery_dir: Path | None = None  # default: <var_dir>/recovery
    max_document_bytes: int = 10 * 1000 * 1000
    document_retention_days: int = 30
    download_link_ttl_seconds: int = Field(default=600, le=600)
    purge_interval_seconds: float = 3600.0

    # --- sessions (issue 6): an absolute and an idle lifetime --------------------------
    # SESSION_ABSOLUTE_SECONDS (formerly SESSION_TTL_SECONDS, still read): from sign-in.
    session_absolute_seconds: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        validation_alias=AliasChoices("session_absolute_seconds", "session_ttl_seconds"),
    )
    # Unused this long and the session ends; uses are recorded at most once a minute.
    session_idle_seconds: int = Field(default=2 * 3600, ge=120)
    # --- end sessions ---------------------------------------------------------------------
    challenge_ttl_seconds: int = 5 * 60
    setup_ttl_seconds: int = 10 * 60
    challenge_max_attempts: int = 5
    # More than this many failures of one kind in the window and the account is RATE_LIMITED.
    max_failures: int = 10
    failure_window_seconds: int = 15 * 60
    backup_code_count: int = 10
    backup_codes_low_threshold: int = 2

    # argon2id cost; the floor is OWASP's minimum (19 MiB, 2 iterations, 1 lane).
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)

    graphiql: bool | None = None
    graphql_introspection: bool | None = None
    log_level: str = "INFO"
    # "json": one JSON object per line (what log shippers read); "text" for a terminal.
    log_format: Literal["json", "text"] = "json"

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
    def graphiql_enabled(self) -> bool:
        return self.is_development if self.graphiql is None else self.graphiql

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
