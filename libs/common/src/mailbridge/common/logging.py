"""Logging set-up: one JSON object per line on stderr, or plain text for people."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import faststream  # noqa: F401  (creates FastStream's own loggers, adopted below)
from mailbridge.common.tracing import current_account_id, current_trace_id

# Record attributes that are not extra fields; uvicorn's `color_message` is for terminals only.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message", "asctime", "color_message",
}  # fmt: skip


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; `extra={...}` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TraceContextFilter(logging.Filter):
    """Adds the running step's `trace_id` and `account_id` (common.tracing) to every record
    logged inside it, so the JSON lines of one request's work can be found in every service.
    A value the caller passed in `extra` is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "trace_id") and (trace_id := current_trace_id()) is not None:
            record.trace_id = trace_id
        if not hasattr(record, "account_id") and (account_id := current_account_id()) is not None:
            record.account_id = str(account_id)
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Replace the root handlers with one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _adopt_faststream_loggers()


def _adopt_faststream_loggers() -> None:
    """FastStream's app logger (`faststream`: "FastStream app starting...") comes with its own
    coloured stderr handler and does not propagate; its lines would sit unformatted between the
    JSON ones. Its loggers (and any `faststream.*` made so far) write through the root handler
    instead, at the root's level."""
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "faststream"]
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
