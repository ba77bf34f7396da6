"""Webhook URLs from Secrets Manager, through Powertools Parameters' bounded cache.

The secret value is the Teams Workflows webhook URL, either the plain string ``https://...``
or the JSON object ``{"url": "https://..."}``. Neither the URL nor the secret value ever goes
into an exception message or a log line.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.parameters import GetParameterError, SecretsProvider
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


class WebhookSecrets:
    """Webhook URLs through a Powertools SecretsProvider, each cached for ``max_age`` seconds (0: never)."""

    def __init__(self, client: Any, max_age: int) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._max_age = max_age
        # Secrets to read again on next use, bypassing the cache.
        self._stale: set[str] = set()

    def webhook_url(self, secret_id: str) -> str:
        try:
            value = self._provider.get(secret_id, max_age=self._max_age, force_fetch=secret_id in self._stale)
        except GetParameterError as error:
            # Powertools raises it inside its except block: the AWS error is the context.
            response = getattr(error.__context__, "response", None)
            code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
            raise WebhookSecretError(f"cannot read secret: {code or type(error.__context__).__name__}") from None
        self._stale.discard(secret_id)
        if not isinstance(value, str) or not value.strip():
            self._stale.add(secret_id)
            raise WebhookSecretError("secret has no SecretString")
        register_secret(value.strip())
        try:
            url = parse_webhook_secret(value)
        except WebhookSecretError:
            self._stale.add(secret_id)  # e.g. the placeholder: pick up the URL as soon as it is stored
            raise
        register_secret(url)
        return url

    def invalidate(self, secret_id: str) -> None:
        """Read the secret again next time (after the webhook refused its URL, so a rotated one is picked up)."""
        self._stale.add(secret_id)
