"""A real SMTP server (aiosmtpd) for the tests, which can be stopped and started again."""

from __future__ import annotations

import asyncio
import email
import threading
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession


class SmtpServer:
    """aiosmtpd on a fixed port, so it can be stopped ("SMTP down") and started again."""

    def __init__(self, port: int, *, with_auth: bool = False) -> None:
        self.port = port
        self.with_auth = with_auth
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self._controller: Controller | None = None
        self.hold: threading.Event | None = None

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        if self.hold is not None:  # a slow server: answer only once the test lets go
            await asyncio.to_thread(self.hold.wait)
        self.envelopes.append(envelope)
        return "250 OK"

    def _authenticate(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=True)

    def start(self) -> None:
        extra: dict[str, Any] = {}
        if self.with_auth:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **extra)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def message_ids(self) -> Counter[str]:
        parsed = (email.message_from_bytes(e.original_content or b"") for e in self.envelopes)
        return Counter(str(message["Message-ID"]) for message in parsed)
