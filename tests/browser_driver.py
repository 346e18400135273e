"""Run a browser test script of webclient/tests/ (node + playwright-core + Debian's Chromium)
against a live server, answering its questions.

The script reads one JSON line of input on stdin; each "ASK <json>" line it prints is handed
to `answer`, whose JSON result goes back on stdin. The script exits 0 only when its steps passed
and the page had no console error, failed request or request to another origin.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from services.broker import InProcessBroker
from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "webclient"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))

Answer = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        return "webclient/node_modules is missing: run `npm ci` in webclient/ (.ci/run does)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)"
    return None


needs_browser = pytest.mark.skipif(
    browser_missing() is not None, reason=f"browser test skipped: {browser_missing()}"
)


def subscribed(live: LiveServer, members: int) -> Callable[[], bool]:
    """`members` live subscriptions are registered, and each group listens to the broker."""
    fanout = live.app.state.subscriptions
    broker = live.app.state.runtime.broker
    assert isinstance(broker, InProcessBroker)

    def check() -> bool:
        # Besides the groups, the session watch listens once per account with open sockets.
        watched = live.app.state.session_watch.account_count()
        return bool(
            fanout.member_count() == members
            and broker.subscriber_count() == fanout.group_count() + watched
        )

    return check


async def run_script(
    script: str, base_url: str, data: dict[str, Any], answer: Answer, within: float = 90
) -> str:
    """Run webclient/tests/<script> and return its output; fail the test with its report
    otherwise."""
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        str(WEB / "tests" / script),
        base_url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdin and process.stdout and process.stderr
    stdin, stdout = process.stdin, process.stdout

    async def converse() -> list[str]:
        stdin.write(json.dumps(data).encode() + b"\n")
        await stdin.drain()
        output: list[str] = []
        async for raw in stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("ASK "):
                reply = await answer(json.loads(line[4:]))
                stdin.write(json.dumps(reply).encode() + b"\n")
                await stdin.drain()
            else:
                output.append(line)
        return output

    try:
        async with asyncio.timeout(within):
            output, errors = await asyncio.gather(converse(), process.stderr.read())
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = "\n".join(output) + "\n" + errors.decode()
    assert process.returncode == 0, f"{script} failed:\n{report}"
    return report
