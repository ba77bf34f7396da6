"""The notifier's Powertools Logger (one JSON object per line on stdout), with webhook secrets redacted.

Webhook URLs are secrets (whoever holds one can post into the channel). Code never passes them to
a log call; as a second line of defence every value registered with ``register_secret``, and any
``sig=`` query value, is replaced by ``[REDACTED]`` in the formatted line.
"""

from __future__ import annotations

import logging
import re
import threading

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from notifier_settings import service_name

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


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON line, passed through ``redact`` (the documented ``serialize`` extension point)."""

    def serialize(self, log: LogRecord) -> str:
        return redact(super().serialize(log))


class RedactingFilter(logging.Filter):
    """For other libraries' loggers: urllib3 logs the request path and query (the ``sig``) on retries."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; the handler reports it
            return True
        record.msg, record.args = redact(message), None
        return True


logger = Logger(service=service_name(), logger_formatter=RedactingFormatter(use_rfc3339=True, utc=True))
