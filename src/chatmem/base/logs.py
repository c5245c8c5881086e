"""Log output: text or JSON lines (``CHATMEM_LOG_FORMAT``), each carrying the id of the request it
belongs to.

A JSON line holds time, level, logger, message, the request id when there is one, and only the extra
fields named in ``FIELDS`` (route template, method, status, duration, tenant): whatever else a caller
attaches to a record is left out, so content, metadata values or credentials cannot reach the log by
way of ``extra=``.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
from contextvars import ContextVar
from typing import Any

import orjson

# Set by the server's request middleware for the duration of a request (threads it hands work to
# inherit it with the context).
REQUEST_ID: ContextVar[str | None] = ContextVar("chatmem_request_id", default=None)

FIELDS = ("route", "method", "status", "duration_ms", "tenant")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        fields = record.__dict__
        for name in FIELDS:
            if name in fields:
                line[name] = fields[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    """The plain format, with ``[request id]`` appended to the lines written during a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = REQUEST_ID.get()
        return text if request_id is None else f"{text} [{request_id}]"


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for chatmem and uvicorn alike: one handler on stderr at the root,
    the chosen format. uvicorn applies it in each of its worker processes (``log_config``)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"chatmem": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "chatmem", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        # uvicorn's own loggers come with handlers of their own: route them through the root instead.
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(log_format: str, level: str) -> None:
    logging.config.dictConfig(logging_config(log_format, level))
