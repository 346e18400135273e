"""/metrics on a listener of its own (METRICS_ADDRESS): an address a scraper on a private
network reaches and the public balancer does not. The API's port then has no /metrics.

It runs inside the app's lifespan, so every process serving the API serves it too. Its socket
is bound with SO_REUSEPORT: with `--workers N` every worker listens on the one address and
each scrape reaches one of them, as on the API's port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.routing import Route

from transport import probes
from transport.browser import VerrouStarlette


class _InnerServer(uvicorn.Server):
    """Signals belong to the server of the API, whose shutdown ends the lifespan and so
    this one: installed here too, they would be taken from it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise RuntimeError(
            f"METRICS_ADDRESS: cannot listen on {host}:{port} ({error.strerror})"
        ) from error
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def metrics_listener(
    address: tuple[str, int] | None, state: dict[str, Any]
) -> AsyncIterator[None]:
    """Serve /metrics on `address` while the block runs; `state` is what probes.metrics
    reads from the app (its runtime and subscriptions)."""
    if address is None:
        yield
        return
    app = VerrouStarlette(routes=[Route("/metrics", probes.metrics)])
    for name, value in state.items():
        setattr(app.state, name, value)
    sock = _bind(*address)
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, access_log=False, log_level="warning"
    )
    server = _InnerServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="verrou-metrics-listener")
    try:
        while not server.started:
            if serving.done():
                serving.result()  # its failure, raised here
                raise RuntimeError("METRICS_ADDRESS: the metrics listener stopped at start")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
