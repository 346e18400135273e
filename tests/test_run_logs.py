"""`make run` for a developer: readable text logs and the addresses to open, printed once;
JSON lines in production or with LOG_FORMAT=json. Tortoise's start and shutdown lines (the
first line `make run` used to print) show only when debugging."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.settings import Settings
from tests.test_cli import ROOT, cli_env, free_port, wait_until_healthy
from transport import logs


def record(name: str = "verrou.requests", **extra: object) -> logging.LogRecord:
    line = logging.LogRecord(name, logging.INFO, __file__, 1, "request", None, None)
    for key, value in extra.items():
        setattr(line, key, value)
    return line


@pytest.mark.parametrize(
    ("environment", "log_format", "as_json"),
    [
        ("development", None, False),
        ("production", None, True),
        ("development", "json", True),
        ("production", "text", False),
    ],
)
def test_the_log_format_follows_the_environment_unless_set(
    environment: str, log_format: str | None, as_json: bool
) -> None:
    values = {"environment": environment, "log_format": log_format}
    settings = Settings.model_construct(**values)  # the format alone, not a whole deployment
    assert settings.logs_as_json is as_json


def test_text_lines_carry_the_fields_of_the_json_line() -> None:
    text = logs.TextFormatter().format(record(method="POST", path="/graphql", status=200))
    assert text.endswith("INFO    verrou.requests  request  method=POST path=/graphql status=200")
    as_json = json.loads(logs.JsonFormatter().format(record(status=200)))
    assert (as_json["message"], as_json["status"]) == ("request", 200)


@pytest.mark.parametrize(("level", "tortoise"), [("INFO", "WARNING"), ("DEBUG", "DEBUG")])
def test_tortoise_speaks_only_when_debugging(level: str, tortoise: str) -> None:
    config = logs.dict_config(level, as_json=False)
    assert config["loggers"]["tortoise"]["level"] == tortoise
    assert config["formatters"]["default"]["()"] == "transport.logs.TextFormatter"


def serve_output(tmp_path: Path, **extra: str) -> list[str]:
    """The lines `server.py serve` writes until it answers /healthz, and its shutdown's."""
    port = free_port()
    log = tmp_path / "server.log"
    env = cli_env(tmp_path, HOST="127.0.0.1", PORT=str(port), **extra)
    if "LOG_FORMAT" not in extra:
        env.pop("LOG_FORMAT", None)  # the format of the environment running the tests
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "server.py", "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                wait_until_healthy(client, process)
        finally:
            process.terminate()
            process.wait(timeout=20)
    return log.read_text().splitlines()


@pytest.mark.sqlite_only
def test_development_prints_the_addresses_once_and_readable_lines(tmp_path: Path) -> None:
    lines = serve_output(tmp_path)
    port = next(line for line in lines if "GraphiQL" in line).rsplit(":", 1)[1].split("/")[0]
    base = f"http://localhost:{port}"
    assert f"  GraphiQL    {base}/graphql" in lines
    assert f"  Web client  {base}/" in lines
    assert f"  Health      {base}/healthz" in lines
    assert sum("GraphiQL" in line for line in lines) == 1
    assert not any(line.startswith("{") for line in lines), lines
    assert not any("Tortoise-ORM" in line for line in lines), lines


@pytest.mark.sqlite_only
def test_log_format_json_keeps_every_line_json_and_prints_no_banner(tmp_path: Path) -> None:
    lines = serve_output(tmp_path, LOG_FORMAT="json")
    assert lines
    parsed = [json.loads(line) for line in lines]
    assert "Tortoise-ORM shutdown" not in [line["message"] for line in parsed]
