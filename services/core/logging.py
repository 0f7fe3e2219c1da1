"""Process-wide logging: readable lines or JSON lines, each carrying the current request id (and,
in JSON, the current span's ``trace_id`` and ``span_id`` when traces are on:
:mod:`services.core.tracing`)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from opentelemetry import trace

from services.core.config import LogSettings

request_id: ContextVar[str | None] = ContextVar("ndxp_request_id", default=None)

_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        current = trace.get_current_span().get_span_context()
        if current.is_valid:
            entry["trace_id"] = f"{current.trace_id:032x}"
            entry["span_id"] = f"{current.span_id:016x}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: LogSettings) -> None:
    """Install one stderr handler on the root logger (idempotent: replaces a previous one)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_ndxp", False)]:
        root.removeHandler(old)
    handler._ndxp = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level)
    # aiokafka logs every reconnect attempt at ERROR; warnings are what an operator needs.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # Alembic tells at INFO how it talks to the database each time a revision is read or a
    # service starts; ndxp logs the revision itself. DEBUG shows everything again.
    logging.getLogger("alembic").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    )
