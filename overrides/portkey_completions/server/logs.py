"""The server's log lines: every logger of the package and uvicorn's, as text or JSON, each with its request's trace id.

`serve` hands `log_config(level, form)` to uvicorn, which applies it in every worker process.
`--log-format text` (the default) writes `time level logger [trace id] message`; `json` writes one
object per line with `time`, `level`, `logger`, `message` and `trace_id` (an access line adds
`method`, `path`, `status`, `duration_ms`, `alternative`, `route`; see `access_log.py`).

The trace id reaches a line through `trace_id`, a context variable the door sets for the
request's task: a log record is made deep in any room, by Python's logging, which is handed no
scope and no call record. This is the one place ASGI leaves no other way (ARCHITECTURE.md).
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
from typing import Any, Literal, get_args

Format = Literal["text", "json"]
FORMATS: tuple[Format, ...] = get_args(Format)
TEXT = "%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s"

trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


class TraceIds(logging.Filter):
    """Gives every record its request's trace id (`-` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id"):
            record.trace_id = trace_id.get() or "-"
        return True


def json_line(at: float, level: str, logger: str, message: str, trace: str | None, **fields: Any) -> str:
    """One JSON log line (no newline): the fields every line has, then `fields` (an access line's)."""
    line = {
        "time": datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
        "trace_id": trace,
        **fields,
    }
    return json.dumps(line, ensure_ascii=False, default=str)


class JsonLines(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        exception = {"exception": self.formatException(record.exc_info)} if record.exc_info else {}
        trace = getattr(record, "trace_id", None) or trace_id.get()
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(), trace, **exception)


def log_config(level: str, form: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's `log_config`: the package's loggers and uvicorn's, at `level`."""
    formatter = {"()": JsonLines} if form == "json" else {"format": TEXT}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "lines"}
    handler["filters"] = ["trace_ids"]  # type: ignore[assignment]
    logger = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"trace_ids": {"()": TraceIds}},
        "formatters": {"lines": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            "portkey_completions": logger,
            "uvicorn": logger,
            # Python's warnings, once `logging.captureWarnings` is on: in the same form as every line.
            "py.warnings": logger,
            "uvicorn.error": {"level": level.upper()},
            # Off: the access log is the app's own (access_log.py), a fraction of the cost.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
