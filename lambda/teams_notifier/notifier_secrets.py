"""Webhooks from Secrets Manager, through Powertools Parameters' bounded cache.

The secret value is the Teams Workflows webhook URL, in one of three forms:

- the plain string ``https://...``;
- the JSON object ``{"url": "https://..."}``;
- the JSON object ``{"url": "https://...", "entra": {...}}`` for a workflow whose trigger only
  accepts callers of its tenant ("Who can trigger the flow": "Any user in my tenant" or "Specific
  users in my tenant"): ``entra`` holds the client credentials of an app registration,
  ``{"tenant_id", "client_id", "client_secret", "scope"}`` and optionally ``"authority"``
  (default ``https://login.microsoftonline.com``), which notifier_auth exchanges for a bearer token.

Any https host is accepted (Workflows URLs moved from ``*.logic.azure.com`` to Power Platform
hosts in 2025; nothing here depends on the host). Plain http is accepted only towards this machine
(local test servers). Neither the URL, the client secret nor the secret value ever goes into an
exception message or a log line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.parameters import GetParameterError, SecretsProvider
from notifier_logging import register_secret

# Plain http is accepted only towards this machine (local test servers); Teams is https.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
ENTRA_KEYS = ("tenant_id", "client_id", "client_secret", "scope", "authority")
_REQUIRED_ENTRA_KEYS = ENTRA_KEYS[:4]
# A directory (tenant) ID is a GUID or a domain name; it becomes a path segment of the token URL.
_TENANT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


class WebhookSecretError(Exception):
    """The secret could not be read or does not hold a usable webhook."""


def _allowed_scheme(scheme: str, host: str) -> bool:
    return scheme == "https" or (scheme == "http" and host in _LOOPBACK_HOSTS)


def _check_url(text: str) -> str:
    """``text`` if it is an absolute https URL (http only to loopback); the error never echoes it."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise WebhookSecretError("secret value is not a URL") from None
    if not host:
        raise WebhookSecretError("secret value is not an absolute URL")
    if _allowed_scheme(parts.scheme, host):
        return text
    raise WebhookSecretError("webhook URL must use https")


@dataclass(frozen=True)
class EntraCredentials:
    """An app registration's client credentials for one channel's workflow (client credentials grant).

    ``scope`` is requested as is (for the flow service audience ``https://service.flow.microsoft.com/``
    that is ``https://service.flow.microsoft.com//.default``: resource ID + ``/.default``).
    """

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    authority: str = DEFAULT_AUTHORITY

    def __post_init__(self) -> None:
        for name in _REQUIRED_ENTRA_KEYS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise WebhookSecretError(f'secret JSON "entra" has no non-empty string "{name}"')
        if not _TENANT.match(self.tenant_id):
            raise WebhookSecretError('secret JSON "entra" "tenant_id" must be a directory ID (GUID) or domain name')
        if _CONTROL_OR_SPACE.search(self.client_id):
            raise WebhookSecretError('secret JSON "entra" "client_id" must not contain spaces or control characters')
        if not isinstance(self.authority, str):
            raise WebhookSecretError('secret JSON "entra" "authority" must be a string')
        object.__setattr__(self, "authority", _check_authority(self.authority))

    @property
    def token_url(self) -> str:
        """The Microsoft identity platform v2.0 token endpoint of the tenant."""
        return f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def cache_key(self) -> tuple[str, str, str, str]:
        return (self.authority, self.tenant_id.lower(), self.client_id, self.scope)


def _check_authority(value: str) -> str:
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise WebhookSecretError('secret JSON "entra" "authority" is not a URL') from None
    if not host or parts.query or parts.fragment or parts.username or parts.password:
        raise WebhookSecretError('secret JSON "entra" "authority" must be an absolute URL without query or user')
    if not _allowed_scheme(parts.scheme, host):
        raise WebhookSecretError('secret JSON "entra" "authority" must use https')
    return text


@dataclass(frozen=True)
class Webhook:
    """Where to post one channel's cards, and the credentials its trigger wants (None: the URL's ``sig`` only)."""

    url: str = field(repr=False)
    entra: EntraCredentials | None = None


def _entra(value: Any) -> EntraCredentials:
    if not isinstance(value, dict):
        raise WebhookSecretError('secret JSON "entra" must be an object')
    unknown = sorted(str(key) for key in value if key not in ENTRA_KEYS)
    if unknown:
        raise WebhookSecretError(
            f'secret JSON "entra" has unknown key(s) {", ".join(unknown)}; allowed: {", ".join(ENTRA_KEYS)}'
        )
    for name in _REQUIRED_ENTRA_KEYS:
        if name not in value:
            raise WebhookSecretError(f'secret JSON "entra" has no "{name}"')
    fields = {name: value[name] for name in ENTRA_KEYS if name in value}
    for name in ("tenant_id", "client_id", "scope", "authority"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    return EntraCredentials(**fields)


def parse_webhook(value: str) -> Webhook:
    """The webhook a secret value holds (plain URL, ``{"url": ...}`` or ``{"url": ..., "entra": {...}}``)."""
    text = value.strip()
    entra = None
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise WebhookSecretError("secret value looks like JSON but does not parse") from None
        url = document.get("url") if isinstance(document, dict) else None
        if not isinstance(url, str):
            raise WebhookSecretError('secret JSON has no string "url" key')
        text = url.strip()
        if "entra" in document and document["entra"] is not None:
            entra = _entra(document["entra"])
    return Webhook(_check_url(text), entra)


def parse_webhook_secret(value: str) -> str:
    """The webhook URL held by a secret value (any of the forms of ``parse_webhook``)."""
    return parse_webhook(value).url


class WebhookSecrets:
    """Webhooks through a Powertools SecretsProvider, each cached for ``max_age`` seconds (0: never)."""

    def __init__(self, client: Any, max_age: int) -> None:
        self._provider = SecretsProvider(boto3_client=client)
        self._max_age = max_age
        # Secrets to read again on next use, bypassing the cache.
        self._stale: set[str] = set()

    def webhook(self, secret_id: str) -> Webhook:
        """The channel's URL and, if its secret has them, the Entra client credentials for its trigger."""
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
            webhook = parse_webhook(value)
        except WebhookSecretError:
            self._stale.add(secret_id)  # e.g. the placeholder: pick up the URL as soon as it is stored
            raise
        register_secret(webhook.url)
        if webhook.entra is not None:
            register_secret(webhook.entra.client_secret)
        return webhook

    def webhook_url(self, secret_id: str) -> str:
        return self.webhook(secret_id).url

    def invalidate(self, secret_id: str) -> None:
        """Read the secret again next time (after the webhook refused its URL, so a rotated one is picked up)."""
        self._stale.add(secret_id)
