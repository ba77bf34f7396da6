"""Webhook URLs from Secrets Manager, through a small per-secret cache.

The secret value is the Teams Workflows webhook URL, either the plain string ``https://...``
or the JSON object ``{"url": "https://..."}``. Neither the URL nor the secret value ever goes
into an exception message or a log line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from notifier_logging import register_secret

# Plain http is accepted only towards this machine (local test servers); Teams is https.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class WebhookSecretError(Exception):
    """The secret could not be read or does not hold a usable webhook URL."""


def parse_webhook_secret(value: str) -> str:
    """The webhook URL held by a secret value (plain URL or ``{"url": ...}``)."""
    text = value.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise WebhookSecretError("secret value looks like JSON but does not parse") from None
        url = document.get("url") if isinstance(document, dict) else None
        if not isinstance(url, str):
            raise WebhookSecretError('secret JSON has no string "url" key')
        text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise WebhookSecretError("secret value is not a URL") from None
    if not host:
        raise WebhookSecretError("secret value is not an absolute URL")
    if parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS):
        return text
    raise WebhookSecretError("webhook URL must use https")


@dataclass
class _Entry:
    url: str
    fetched_at: float


class SecretCache:
    """Reads webhook URLs from Secrets Manager and keeps each one for ``ttl_seconds``."""

    def __init__(self, client: Any, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def webhook_url(self, secret_id: str) -> str:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(secret_id)
            if entry is not None and now - entry.fetched_at < self._ttl:
                return entry.url
        url = self._fetch(secret_id)
        with self._lock:
            self._entries[secret_id] = _Entry(url, now)
        return url

    def invalidate(self, secret_id: str) -> None:
        """Forget a cached URL (after the webhook refused it, so a rotated secret is picked up)."""
        with self._lock:
            self._entries.pop(secret_id, None)

    def _fetch(self, secret_id: str) -> str:
        try:
            response = self._client.get_secret_value(SecretId=secret_id)
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
            raise WebhookSecretError(f"cannot read secret: {code or type(error).__name__}") from None
        value = response.get("SecretString")
        if not isinstance(value, str) or not value.strip():
            raise WebhookSecretError("secret has no SecretString")
        register_secret(value.strip())
        url = parse_webhook_secret(value)
        register_secret(url)
        return url
