"""Bearer tokens for Workflows triggers restricted to the tenant, by the OAuth 2.0 client credentials grant.

A workflow whose "When a ... request is received" trigger is set to "Any user in my tenant" or
"Specific users in my tenant" only runs for requests that carry a Microsoft Entra ID token of that
tenant (claims ``aud``, ``iss``, ``tid``, and ``oid`` for specific users; Power Automate's "Add OAuth
authentication for HTTP request triggers"). A channel's secret can hold the client credentials of an
app registration (notifier_secrets.EntraCredentials); ``TokenCache`` exchanges them at
``<authority>/<tenant>/oauth2/v2.0/token`` for an access token, form-encoded as the Microsoft identity
platform documents, and keeps it until shortly before it expires.

The client secret and every token are registered with notifier_logging.register_secret; no exception
message carries the secret, a token, or a URL query.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from notifier_logging import redact, register_secret
from notifier_secrets import EntraCredentials
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

__all__ = ["EntraCredentials", "TokenCache", "TokenError"]

USER_AGENT = "pipelines-platform-teams-notifier/1"
# A token is used until this long before Entra says it expires (capped at half its lifetime).
REFRESH_MARGIN_SECONDS = 300.0
DEFAULT_TIMEOUT_SECONDS = 5.0
_BODY_LIMIT = 64 * 1024
_DESCRIPTION_LIMIT = 240


class TokenError(Exception):
    """No token could be had: the endpoint refused, answered nonsense, or did not answer in time."""

    def __init__(self, message: str, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        # The OAuth error code of a refusal (invalid_client, unauthorized_client, invalid_scope...).
        self.error = error


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # on the injected clock


def _host(credentials: EntraCredentials) -> str:
    return urlsplit(credentials.authority).netloc


def _refusal(status: int, body: bytes, where: str) -> TokenError:
    """A TokenError for a non-2xx answer: the OAuth error, the first line of its description, the correlation ID."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return TokenError(f"token endpoint {where} answered HTTP {status} (no JSON error body)", status)
    error = document.get("error") if isinstance(document.get("error"), str) else None
    message = f"token endpoint {where} refused the client credentials: HTTP {status}"
    if error:
        message += f" {error[:64]}"
    description = document.get("error_description")
    if isinstance(description, str) and description.strip():
        # Entra's first line is "AADSTS<code>: <what is wrong>"; the rest is trace and correlation IDs.
        message += f": {description.strip().splitlines()[0][:_DESCRIPTION_LIMIT]}"
    correlation = document.get("correlation_id")
    if isinstance(correlation, str) and correlation:
        message += f" (correlation_id {correlation[:64]})"
    # redact(): whatever the endpoint echoes, registered secrets (the client secret) never get through.
    return TokenError(redact(message), status, error)


def _parse_token(body: bytes, where: str) -> tuple[str, float]:
    try:
        document = json.loads(body)
    except ValueError:
        raise TokenError(f"token endpoint {where} answered 2xx with a body that is not JSON") from None
    if not isinstance(document, dict):
        raise TokenError(f"token endpoint {where} answered 2xx with JSON that is not an object")
    token = document.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise TokenError(f"token endpoint {where} answered without a string access_token")
    token_type = document.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenError(f"token endpoint {where} answered a token_type other than Bearer")
    expires_in: Any = document.get("expires_in")
    try:
        # Entra answers a number; some (v1-style) endpoints a numeric string.
        lifetime = float(expires_in) if not isinstance(expires_in, bool) else float("nan")
    except (TypeError, ValueError):
        lifetime = float("nan")
    if not lifetime > 0 or lifetime == float("inf"):
        raise TokenError(f"token endpoint {where} answered without a positive expires_in")
    return token.strip(), lifetime


class TokenCache:
    """Access tokens per (authority, tenant, client, scope), requested once and reused until near expiry.

    ``clock`` is monotonic seconds (injectable for tests); ``http`` the shared urllib3 pool (the
    delivery's ``build_http()``), a pool of its own when omitted. One request at a time per cache:
    the notifier posts its channels one after another, and a token is requested about once an hour.
    """

    def __init__(
        self,
        http: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        refresh_margin_seconds: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._http = http or urllib3.PoolManager()
        self._clock = clock
        self._timeout = timeout_seconds
        self._margin = refresh_margin_seconds
        self._tokens: dict[tuple[str, str, str, str], _Token] = {}
        self._lock = threading.Lock()

    def authorization(self, credentials: EntraCredentials, timeout: float | None = None) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for the credentials; TokenError if none can be had.

        ``timeout`` (seconds) bounds a token request when one is needed (default: the cache's).
        """
        return {"Authorization": f"Bearer {self.token(credentials, timeout)}"}

    def token(self, credentials: EntraCredentials, timeout: float | None = None) -> str:
        register_secret(credentials.client_secret)
        with self._lock:
            cached = self._tokens.get(credentials.cache_key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            requested_at = self._clock()
            value, lifetime = self._request(credentials, self._timeout if timeout is None else timeout)
            margin = min(self._margin, lifetime / 2)
            self._tokens[credentials.cache_key] = _Token(value, requested_at + lifetime - margin)
            return value

    def invalidate(self, credentials: EntraCredentials) -> None:
        """Forget the credentials' token (the webhook answered 401): the next call requests a new one."""
        with self._lock:
            self._tokens.pop(credentials.cache_key, None)

    def _request(self, credentials: EntraCredentials, timeout: float) -> tuple[str, float]:
        where = _host(credentials)
        if not timeout > 0:
            raise TokenError(f"no time left to request a token from {where}")
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "scope": credentials.scope,
            }
        )
        try:
            response = self._http.urlopen(
                "POST",
                credentials.token_url,
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                },
                retries=False,  # one attempt: the caller's retry (and the Lambda retry) covers the rest
                redirect=False,
                timeout=urllib3.Timeout(total=timeout),
                preload_content=False,
            )
        except NewConnectionError as error:  # before the timeouts: urllib3 derives it from ConnectTimeoutError
            raise TokenError(f"token endpoint {where} could not be reached: {type(error).__name__}") from None
        except (Urllib3TimeoutError, TimeoutError):
            raise TokenError(f"token endpoint {where} did not answer within {timeout:g} s") from None
        except (HTTPError, OSError) as error:
            raise TokenError(f"token endpoint {where} could not be reached: {type(error).__name__}") from None
        try:
            try:
                payload = response.read(_BODY_LIMIT)
            except (Urllib3TimeoutError, TimeoutError):
                raise TokenError(f"token endpoint {where} did not answer within {timeout:g} s") from None
            except (HTTPError, OSError) as error:
                raise TokenError(f"token endpoint {where} broke off its answer: {type(error).__name__}") from None
        finally:
            response.drain_conn()
            response.release_conn()
        if not 200 <= response.status < 300:
            raise _refusal(response.status, payload, where)
        value, lifetime = _parse_token(payload, where)
        register_secret(value)
        return value, lifetime
