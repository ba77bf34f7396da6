"""Structured JSON logging (the platform_logging layer), with webhook URLs redacted.

The notifier logs through its own logger (``teams_notifier``) that does not propagate to the
root logger, so the Lambda runtime's own handler does not print every line a second time.

Webhook URLs are secrets (whoever holds one can post into the channel). Code never passes
them to a log call, and as a second line of defence every value registered with
``register_secret`` is replaced by ``[REDACTED]`` in the formatted line.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import platform_logging

LOGGER_NAME = "teams_notifier"
REDACTED = "[REDACTED]"

# A Workflows webhook URL carries its credential in the `sig` query parameter.
_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s\"']+")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


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
    platform_logging.set_request_id(request_id)


def get_logger() -> logging.Logger:
    return platform_logging.get_logger(LOGGER_NAME)


def log(level: int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` (None values are left out)."""
    platform_logging.log(get_logger(), level, message, **fields)


def log_exception(message: str, **fields: Any) -> None:
    platform_logging.log(get_logger(), logging.ERROR, message, exc_info=True, **fields)


platform_logging.add_redactor(redact)
