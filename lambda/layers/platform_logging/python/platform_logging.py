"""Structured logs for the platform's Lambda functions: one JSON object per line on stdout.

Shipped as a Lambda layer (lambda/layers/platform_logging), imported as `platform_logging`.
Each function logs through its own logger, which does not propagate to the root logger, so
the Lambda runtime's handler does not print every line a second time.

    LOGGER = get_logger("deployer")
    log(LOGGER, logging.INFO, "deployment started", deployment_id=deployment_id)
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_CORE_KEYS = frozenset({"timestamp", "level", "logger", "message", "request_id"})
_request_id: ContextVar[str | None] = ContextVar("platform_logging_request_id", default=None)
_redactors: list[Callable[[str], str]] = []


def set_request_id(request_id: str | None) -> None:
    """Tag every following line with this Lambda request id."""
    _request_id.set(request_id)


def add_redactor(redact: Callable[[str], str]) -> None:
    """Pass every formatted line through `redact` (e.g. to hide secrets a bug might log)."""
    if redact not in _redactors:
        _redactors.append(redact)


class JsonFormatter(logging.Formatter):
    """timestamp, level, logger, message, request_id, the call's fields, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if v is not None and k not in _CORE_KEYS})
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry.setdefault("error_type", type(error).__name__)
            entry.setdefault("error", str(error))
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        line = json.dumps(entry, default=str, ensure_ascii=False)
        for redact in _redactors:
            line = redact(line)
        return line


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at the time of the call (test harnesses swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def get_logger(name: str, level: int = logging.INFO) -> logging.Logger:
    """The function's JSON logger (configured once per process)."""
    logger = logging.getLogger(name)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def log(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """One structured line: `fields` become top-level keys (None values are left out)."""
    logger.log(level, message, extra={"fields": fields}, exc_info=fields.pop("exc_info", None))
