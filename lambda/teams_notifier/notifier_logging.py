"""Structured JSON logging: one JSON object per line on stdout.

The notifier logs through its own logger (``teams_notifier``) that does not propagate to the
root logger, so the Lambda runtime's own handler does not print every line a second time.

Webhook URLs are secrets (whoever holds one can post into the channel). Code never passes
them to a log call, and as a second line of defence every value registered with
``register_secret`` is replaced by ``[REDACTED]`` in the formatted line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "teams_notifier"
REDACTED = "[REDACTED]"

# A Workflows webhook URL carries its credential in the `sig` query parameter.
_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s\"']+")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_request_id: str | None = None


def register_secret(value: str) -> None:
    """Never print ``value`` in a log line from now on."""
    if value:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return _SIGNATURE.sub(r"\1" + REDACTED, text)


def set_request_id(request_id: str | None) -> None:
    """Tag every following line with the Lambda request id."""
    global _request_id
    _request_id = request_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if _request_id:
            entry["request_id"] = _request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if value is not None and key not in entry:
                    entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error_type"] = type(error).__name__
            entry["error"] = str(error)
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class _StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at the time of the call (pytest's capsys swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def get_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def log(level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` (None values are left out)."""
    get_logger().log(level, message, extra={"fields": fields})


def log_exception(message: str, **fields: Any) -> None:
    get_logger().error(message, exc_info=True, extra={"fields": fields})
