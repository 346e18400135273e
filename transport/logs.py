"""Log lines for a serving process: JSON objects, one per line, for log shippers (production's
default), or short text lines for a developer's terminal (development's)."""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`12:04:05 INFO  verrou.requests  request  method=POST path=/graphql status=200`: the
    JSON line's fields, in an order a person reads."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created).astimezone().strftime("%H:%M:%S")
        extra = " ".join(
            f"{key}={value}" for key, value in vars(record).items() if key not in _STANDARD
        )
        line = f"{at} {record.levelname:<7} {record.name}  {record.getMessage()}"
        if extra:
            line = f"{line}  {extra}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def dict_config(level: str, *, as_json: bool) -> dict[str, Any]:
    """For logging.config.dictConfig, and for uvicorn's `log_config`, which applies it in
    every worker process too."""
    formatter = "transport.logs.JsonFormatter" if as_json else "transport.logs.TextFormatter"
    # Tortoise says "started" (with its objects' reprs) and "shutdown" at INFO for every
    # connection it opens, the migrations' one included: noise unless debugging.
    tortoise_level = "DEBUG" if level.upper() == "DEBUG" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["default"], "level": level.upper()},
        # uvicorn's loggers write through the root handler, in the same format.
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            "tortoise": {"level": tortoise_level},
        },
    }


def configure(level: str, *, as_json: bool) -> None:
    logging.config.dictConfig(dict_config(level, as_json=as_json))
