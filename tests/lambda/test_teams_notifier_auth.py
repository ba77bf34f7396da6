"""Entra ID client credentials tokens for tenant-restricted Workflows triggers (notifier_auth).

A real token endpoint on 127.0.0.1 (ephemeral port) checks the form the Microsoft identity platform
documents for the client credentials grant and answers like it: {"access_token", "expires_in",
"token_type": "Bearer"}, or a 400/401 with an AADSTS error body.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
import urllib3
from notifier_helpers import NOTIFIER_DIR  # noqa: F401 - puts the notifier's modules on sys.path

from notifier_auth import TokenCache, TokenError  # isort: skip
from notifier_logging import REDACTED, redact  # isort: skip
from notifier_secrets import EntraCredentials, Webhook, WebhookSecretError  # isort: skip

TENANT = "0a1b2c3d-1111-2222-3333-444455556666"
CLIENT = "9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"
SECRET = "Cl1ent~S3cret.value-not-its-id"
SCOPE = "https://service.flow.microsoft.com//.default"


@dataclass(frozen=True)
class TokenReply:
    status: int = 200
    body: bytes | None = None  # None: a fresh token
    expires_in: Any = 3600
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenRequest:
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


class TokenServer:
    """Answers POST /<tenant>/oauth2/v2.0/token with the next scripted reply (default: a new token)."""

    def __init__(self) -> None:
        self.requests: list[TokenRequest] = []
        self.issued: list[str] = []
        self._script: deque[TokenReply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
                with server._lock:
                    server.requests.append(TokenRequest(self.path, dict(self.headers.items()), form))
                    reply = server._script.popleft() if server._script else TokenReply()
                    if reply.body is None:
                        token = f"eyJ0eXAiOiJKV1Qi.token-{len(server.issued) + 1}.sig"
                        server.issued.append(token)
                        payload = json.dumps(
                            {"token_type": "Bearer", "expires_in": reply.expires_in, "access_token": token}
                        ).encode()
                    else:
                        payload = reply.body
                if reply.delay:
                    server._closing.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: TokenReply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.issued.clear()
            self._script.clear()

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def shared_token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture
def token_server(shared_token_server: TokenServer) -> TokenServer:
    shared_token_server.reset()
    return shared_token_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def credentials(server: TokenServer, **overrides: Any) -> EntraCredentials:
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "scope": SCOPE,
        "authority": server.authority,
    }
    values.update(overrides)
    return EntraCredentials(**values)


def aadsts_body(error: str, code: int, description: str) -> bytes:
    return json.dumps(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: 255d1aef-8c98-452f-ac51-23d051240864"
            "\r\nCorrelation ID: fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\r\nTimestamp: 2026-01-09 02:02:12Z",
            "error_codes": [code],
            "timestamp": "2026-01-09 02:02:12Z",
            "trace_id": "255d1aef-8c98-452f-ac51-23d051240864",
            "correlation_id": "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7",
        }
    ).encode()


# --------------------------------------------------------------------------------------
# The request and the cache
# --------------------------------------------------------------------------------------


def test_the_token_is_requested_with_the_documented_client_credentials_form(token_server: TokenServer) -> None:
    cache = TokenCache()
    header = cache.authorization(credentials(token_server))
    assert header == {"Authorization": f"Bearer {token_server.issued[0]}"}
    [request] = token_server.requests
    assert request.path == f"/{TENANT}/oauth2/v2.0/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT],
        "client_secret": [SECRET],
        "scope": [SCOPE],  # the double slash survives the form encoding
    }


def test_one_token_request_serves_many_calls(token_server: TokenServer) -> None:
    cache = TokenCache(urllib3.PoolManager())
    creds = credentials(token_server)
    headers = {cache.authorization(creds)["Authorization"] for _ in range(25)}
    # equal credentials (another object, the tenant in other case) share the token
    headers.add(cache.authorization(credentials(token_server, tenant_id=TENANT.upper()))["Authorization"])
    assert headers == {f"Bearer {token_server.issued[0]}"}
    assert len(token_server.requests) == 1


def test_tokens_are_kept_per_authority_tenant_client_and_scope(token_server: TokenServer) -> None:
    cache = TokenCache()
    variants = [
        credentials(token_server),
        credentials(token_server, scope="https://api.example.com/.default"),
        credentials(token_server, client_id="11111111-2222-3333-4444-555555555555"),
        credentials(token_server, tenant_id="contoso.onmicrosoft.com"),
        credentials(token_server, authority=f"http://localhost:{token_server.port}"),
    ]
    tokens = [cache.authorization(v)["Authorization"] for v in variants]
    assert len(set(tokens)) == len(variants) == len(token_server.requests)
    assert [cache.authorization(v)["Authorization"] for v in variants] == tokens  # all cached now
    assert len(token_server.requests) == len(variants)
    assert token_server.requests[3].path == "/contoso.onmicrosoft.com/oauth2/v2.0/token"


def test_the_token_is_refreshed_five_minutes_before_it_expires(token_server: TokenServer) -> None:
    clock = Clock()
    cache = TokenCache(clock=clock)
    creds = credentials(token_server)
    first = cache.authorization(creds)
    clock.now += 3600 - 300 - 1  # expires_in 3600, 5-minute margin: still used
    assert cache.authorization(creds) == first
    assert len(token_server.requests) == 1
    clock.now += 1
    second = cache.authorization(creds)
    assert second == {"Authorization": f"Bearer {token_server.issued[1]}"} != first
    assert len(token_server.requests) == 2
    clock.now += 3000
    assert cache.authorization(creds) == second


def test_a_short_lived_token_is_kept_for_half_its_lifetime(token_server: TokenServer) -> None:
    """A margin longer than the lifetime would ask for a new token on every post."""
    token_server.script(TokenReply(expires_in="120"))  # a numeric string is accepted too
    clock = Clock()
    cache = TokenCache(clock=clock)
    creds = credentials(token_server)
    first = cache.authorization(creds)
    clock.now += 59
    assert cache.authorization(creds) == first
    clock.now += 1
    assert cache.authorization(creds) != first
    assert len(token_server.requests) == 2


def test_invalidate_makes_the_next_call_request_a_new_token(token_server: TokenServer) -> None:
    cache = TokenCache(clock=Clock())
    creds = credentials(token_server)
    first = cache.authorization(creds)
    cache.invalidate(creds)
    second = cache.authorization(creds)
    assert first != second
    assert cache.authorization(creds) == second
    assert len(token_server.requests) == 2
    cache.invalidate(credentials(token_server, scope="never-requested"))  # unknown credentials: no error


def test_the_secret_and_every_token_are_redacted_from_logs(token_server: TokenServer) -> None:
    cache = TokenCache()
    cache.authorization(credentials(token_server))
    assert redact(f"token {token_server.issued[0]} for {SECRET}") == f"token {REDACTED} for {REDACTED}"


def test_the_credentials_repr_carries_neither_secret_nor_url(token_server: TokenServer) -> None:
    creds = credentials(token_server)
    webhook = Webhook("https://example.invalid/workflows/x?sig=SIG-repr", creds)
    assert SECRET not in repr(creds)
    assert SECRET not in repr(webhook) and "SIG-repr" not in repr(webhook)


# --------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "code", "description"),
    [
        (
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{CLIENT}'. Received: {SECRET}",
        ),
        (
            400,
            "invalid_scope",
            1002012,
            "The provided value for scope https://service.flow.microsoft.com/.default is not valid.",
        ),
        (400, "unauthorized_client", 700016, f"Application with identifier '{CLIENT}' was not found in the directory"),
    ],
)
def test_a_refusal_says_what_entra_said_and_never_the_secret(
    token_server: TokenServer, status: int, error: str, code: int, description: str
) -> None:
    token_server.script(TokenReply(status, aadsts_body(error, code, description)))
    cache = TokenCache()
    with pytest.raises(TokenError) as raised:
        cache.authorization(credentials(token_server))
    message = str(raised.value)
    assert f"HTTP {status}" in message and error in message and f"AADSTS{code}" in message
    assert "127.0.0.1" in message  # which endpoint
    assert "correlation_id fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7" in message
    assert "Trace ID" not in message  # only the first line of the description
    assert SECRET not in message  # even when the endpoint echoes it
    assert (raised.value.status, raised.value.error) == (status, error)
    # nothing cached: the next call asks again (and succeeds)
    assert cache.authorization(credentials(token_server))["Authorization"] == f"Bearer {token_server.issued[0]}"
    assert len(token_server.requests) == 2


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (TokenReply(200, b"<html>sign in</html>"), "not JSON"),
        (TokenReply(200, b"[]"), "not an object"),
        (TokenReply(200, b'{"token_type": "Bearer", "expires_in": 3599}'), "access_token"),
        (TokenReply(200, b'{"token_type": "Bearer", "expires_in": 3599, "access_token": 7}'), "access_token"),
        (TokenReply(200, b'{"token_type": "pop", "expires_in": 3599, "access_token": "t"}'), "Bearer"),
        (TokenReply(200, b'{"expires_in": 3599, "access_token": "t"}'), "Bearer"),
        (TokenReply(200, b'{"token_type": "Bearer", "access_token": "t"}'), "expires_in"),
        (TokenReply(200, b'{"token_type": "Bearer", "expires_in": -5, "access_token": "t"}'), "expires_in"),
        (TokenReply(200, b'{"token_type": "Bearer", "expires_in": "soon", "access_token": "t"}'), "expires_in"),
        (TokenReply(200, b'{"token_type": "Bearer", "expires_in": true, "access_token": "t"}'), "expires_in"),
        (TokenReply(502, b"<html>Bad Gateway</html>"), "HTTP 502 (no JSON error body)"),
        (TokenReply(401, b""), "HTTP 401 (no JSON error body)"),
        (TokenReply(302, b"", headers={"Location": "https://elsewhere.example/"}), "HTTP 302"),  # not followed
    ],
)
def test_a_malformed_answer_is_a_clear_token_error(token_server: TokenServer, reply: TokenReply, problem: str) -> None:
    token_server.script(reply)
    with pytest.raises(TokenError, match=r"token endpoint 127\.0\.0\.1") as raised:
        TokenCache().authorization(credentials(token_server))
    assert problem in str(raised.value)
    assert SECRET not in str(raised.value)
    assert len(token_server.requests) == 1  # no retry, no redirect followed


def test_a_hung_endpoint_times_out(token_server: TokenServer) -> None:
    token_server.script(TokenReply(delay=3.0))
    started = time.monotonic()
    with pytest.raises(TokenError, match=r"did not answer within 0\.3 s"):
        TokenCache(timeout_seconds=5).authorization(credentials(token_server), timeout=0.3)
    assert time.monotonic() - started < 2.0


def test_the_cache_default_timeout_applies(token_server: TokenServer) -> None:
    token_server.script(TokenReply(delay=3.0))
    with pytest.raises(TokenError, match=r"did not answer within 0\.25 s"):
        TokenCache(timeout_seconds=0.25).authorization(credentials(token_server))


def test_no_time_left_is_refused_before_any_request(token_server: TokenServer) -> None:
    with pytest.raises(TokenError, match="no time left"):
        TokenCache().authorization(credentials(token_server), timeout=0)
    assert token_server.requests == []


def test_an_unreachable_endpoint_is_a_token_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    creds = EntraCredentials(TENANT, CLIENT, SECRET, SCOPE, authority=f"http://127.0.0.1:{port}")
    with pytest.raises(TokenError, match="could not be reached: NewConnectionError") as raised:
        TokenCache().authorization(creds, timeout=1)
    assert SECRET not in str(raised.value)


# --------------------------------------------------------------------------------------
# The authority
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("https://login.microsoftonline.com", "https://login.microsoftonline.com"),
        ("https://login.microsoftonline.us/", "https://login.microsoftonline.us"),
        ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
        ("http://localhost:8443/", "http://localhost:8443"),
        ("http://[::1]:8443", "http://[::1]:8443"),
    ],
)
def test_the_authority_is_https_or_loopback(authority: str, expected: str) -> None:
    creds = EntraCredentials(TENANT, CLIENT, SECRET, SCOPE, authority=authority)
    assert creds.authority == expected
    assert creds.token_url == f"{expected}/{TENANT}/oauth2/v2.0/token"


def test_the_default_authority_is_microsoft_entra() -> None:
    creds = EntraCredentials(TENANT, CLIENT, SECRET, SCOPE)
    assert creds.token_url == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


@pytest.mark.parametrize(
    "authority",
    ["http://login.microsoftonline.com", "ftp://127.0.0.1", "login.microsoftonline.com", "https://x/?q=1"],
)
def test_another_authority_is_refused(authority: str) -> None:
    with pytest.raises(WebhookSecretError, match='"authority"'):
        EntraCredentials(TENANT, CLIENT, SECRET, SCOPE, authority=authority)
