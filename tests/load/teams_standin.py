"""A stand-in for Microsoft Teams Workflows webhooks: a real HTTP server on 127.0.0.1, virtual time.

One path per webhook (one webhook per Teams channel)::

    http://127.0.0.1:<port>/workflows/<webhook>/triggers/manual/paths/invoke?api-version=1&sig=...

What each POST gets, checked in this order (times are virtual seconds since the webhook's origin,
see ``set_origin``; the server reads the ``VirtualClock`` it is given, the one the client sleeps on):

1. an outage ``[start, end)``: 503, no Retry-After (the service is down: the request is refused
   before the rate limiter and takes no rate slot). A status code rather than a dropped
   connection, so that no client waits on a real socket timeout;
2. the rate limit, a sliding window: at most ``rate`` admitted requests in any 1.0 s window. Over
   it: 429 with ``Retry-After`` in whole seconds (at least 1, as Teams / Power Automate send),
   not admitted, not counted against the window;
3. injected failures: admitted requests whose number (1-based, per webhook) is in
   ``fail_requests``, or drawn with probability ``fail_fraction`` from a seeded generator, get
   500: they did take a rate slot, as a real server that failed would have;
4. validation: the body must be at most 28 KB and a Workflows message
   ``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
   "content": {"type": "AdaptiveCard", ...}}]}`` sent as application/json, else 400 (rejected;
   the request was admitted, so it took a slot);
5. otherwise 202 Accepted, recorded as an ``AcceptedPost`` with the event ids of the
   ``X-Notifier-Event-Ids`` request header (comma separated): the card's identity, from which
   the driver counts duplicates and losses.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.load.virtual_clock import VirtualClock, seeded_random

EVENT_IDS_HEADER = "X-Notifier-Event-Ids"
TEAMS_MAX_PAYLOAD_BYTES = 28 * 1024
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
WINDOW_SECONDS = 1.0
# Float slack for the window edge: a post exactly 1.0 s after another one is in a new window.
_EPSILON = 1e-9
_PATH = re.compile(r"^/workflows/(?P<webhook>[A-Za-z0-9_.-]+)/triggers/manual/paths/invoke$")


@dataclass(frozen=True)
class Outage:
    """Every request in ``[start, end)`` (virtual seconds since the webhook's origin) gets 503."""

    start: float
    end: float

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end

    def overlap(self, start: float, end: float) -> float:
        """Seconds of the outage inside ``[start, end]``."""
        return max(0.0, min(self.end, end) - max(self.start, start))


@dataclass(frozen=True)
class WebhookConfig:
    rate: int = 4  # admitted requests per sliding 1.0 s window
    fail_requests: frozenset[int] = frozenset()  # admitted-request numbers (1-based) answered 500
    fail_fraction: float = 0.0  # or: this share of admitted requests answered 500 ...
    seed: int = 0  # ... drawn from random.Random(f"{seed}:{webhook}")
    outage: Outage | None = None
    latency_seconds: float = 0.0  # virtual seconds each answer takes (advances the shared clock)


@dataclass(frozen=True)
class AcceptedPost:
    webhook: str
    at: float  # virtual seconds since the webhook's origin
    number: int  # admitted-request number
    event_ids: tuple[str, ...]  # from the X-Notifier-Event-Ids header; () if absent
    body: dict[str, Any]


@dataclass(frozen=True)
class RequestRecord:
    """Every request the server answered."""

    webhook: str | None  # None: a path that is no webhook (404)
    at: float
    status: int
    outcome: str  # accepted | rate_limited | injected_error | outage | rejected | not_found
    retry_after: int | None = None
    reason: str = ""
    event_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebhookStats:
    webhook: str
    rate: int
    requests: int
    accepted: int
    rate_limited: int  # 429s
    injected_errors: int  # 500s
    outage_failures: int  # 503s
    rejected: int  # 400s
    max_in_window: int  # most accepted posts in any 1.0 s window: <= rate if the limit held
    max_admitted_in_window: int  # the same over every admitted request (accepted, 500, 400)
    first_accepted: float | None
    last_accepted: float | None


def max_in_window(times: Iterable[float], window: float = WINDOW_SECONDS) -> int:
    """Most of ``times`` inside any half-open window ``(t - window, t]``: the limiter's own rule."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window + _EPSILON:
            start += 1
        best = max(best, end - start + 1)
    return best


def message_problem(raw: bytes, content_type: str | None) -> str | None:
    """Why Teams would refuse this body (None: a valid Workflows message)."""
    if len(raw) > TEAMS_MAX_PAYLOAD_BYTES:
        return f"body of {len(raw)} bytes is over {TEAMS_MAX_PAYLOAD_BYTES}"
    if (content_type or "").split(";", 1)[0].strip().lower() != "application/json":
        return f"content type {content_type!r} is not application/json"
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON"
    if not isinstance(body, dict) or body.get("type") != "message":
        return 'body is not {"type": "message", ...}'
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "no attachments"
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
            return f"an attachment is not {CARD_CONTENT_TYPE}"
        content = attachment.get("content")
        if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
            return "an attachment's content is not an AdaptiveCard object"
    return None


def parse_event_ids(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass
class _Webhook:
    name: str
    config: WebhookConfig
    origin: float = 0.0
    admitted: int = 0
    window: deque[float] = field(default_factory=deque)  # admitted times inside the last window
    admitted_times: list[float] = field(default_factory=list)
    posts: list[AcceptedPost] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: seeded_random(""))


class TeamsStandIn:
    """Teams Workflows webhooks on 127.0.0.1 (use as a context manager, or start()/close())."""

    def __init__(
        self,
        clock: VirtualClock,
        default: WebhookConfig | None = None,
        webhooks: Mapping[str, WebhookConfig] | None = None,
    ) -> None:
        self.clock = clock
        self.default = default or WebhookConfig()
        self._lock = threading.Lock()
        self._hooks: dict[str, _Webhook] = {}
        self._log: list[RequestRecord] = []
        for name, config in (webhooks or {}).items():
            self.add_webhook(name, config)
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.standin = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- webhooks -------------------------------------------------------------------------

    def add_webhook(self, name: str, config: WebhookConfig | None = None) -> str:
        """Register (or reconfigure) a webhook; returns its URL."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"webhook name {name!r}: letters, digits, '.', '_' and '-' only")
        with self._lock:
            hook = self._hooks.get(name)
            config = config or (hook.config if hook else self.default)
            if hook is None:
                self._hooks[name] = _Webhook(name, config, rng=seeded_random(f"{config.seed}:{name}"))
            else:
                hook.config = config
                hook.rng = seeded_random(f"{config.seed}:{name}")
        return self.url(name)

    def url(self, name: str) -> str:
        """The webhook's URL (registering it with the default config if new)."""
        if name not in self._hooks:
            self.add_webhook(name)
        return (
            f"http://127.0.0.1:{self.port}/workflows/{name}/triggers/manual/paths/invoke?api-version=1&sig=SIG-{name}"
        )

    def config(self, name: str) -> WebhookConfig:
        return self._hooks[name].config

    def set_origin(self, name: str, t: float) -> None:
        """Virtual time ``t`` is second 0 of this webhook's timeline (its outage and recorded times)."""
        with self._lock:
            self._hooks[name].origin = t

    @property
    def webhooks(self) -> list[str]:
        return list(self._hooks)

    # -- results --------------------------------------------------------------------------

    def accepted(self, name: str | None = None) -> list[AcceptedPost]:
        with self._lock:
            hooks = [self._hooks[name]] if name is not None else list(self._hooks.values())
            return [post for hook in hooks for post in hook.posts]

    def log(self, name: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._log if name is None or r.webhook == name]

    def stats(self, name: str) -> WebhookStats:
        records = self.log(name)
        with self._lock:
            hook = self._hooks[name]
            times = [post.at for post in hook.posts]
            admitted = list(hook.admitted_times)
            rate = hook.config.rate

        def count(outcome: str) -> int:
            return sum(1 for r in records if r.outcome == outcome)

        return WebhookStats(
            webhook=name,
            rate=rate,
            requests=len(records),
            accepted=len(times),
            rate_limited=count("rate_limited"),
            injected_errors=count("injected_error"),
            outage_failures=count("outage"),
            rejected=count("rejected"),
            max_in_window=max_in_window(times),
            max_admitted_in_window=max_in_window(admitted),
            first_accepted=min(times, default=None),
            last_accepted=max(times, default=None),
        )

    # -- the server's decision ------------------------------------------------------------

    def answer(self, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict[str, str]]:
        """Status and headers for one POST (called by the server thread; public for unit tests)."""
        headers = {name.lower(): value for name, value in headers.items()}
        match = _PATH.match(path.split("?", 1)[0])
        with self._lock:
            hook = self._hooks.get(match["webhook"]) if match else None
            if hook is None:
                self._log.append(RequestRecord(None, self.clock.now(), 404, "not_found"))
                return 404, {}
            t = self.clock.now() - hook.origin
            ids = parse_event_ids(headers.get(EVENT_IDS_HEADER.lower()))
            record, reply_headers = self._decide(hook, t, headers, raw, ids)
            self._log.append(record)
            latency = hook.config.latency_seconds
        if latency > 0:
            self.clock.sleep(latency)
        return record.status, reply_headers

    def _decide(  # headers: lower-case names
        self, hook: _Webhook, t: float, headers: Mapping[str, str], raw: bytes, ids: tuple[str, ...]
    ) -> tuple[RequestRecord, dict[str, str]]:
        config = hook.config
        if config.outage is not None and config.outage.covers(t):
            return RequestRecord(hook.name, t, 503, "outage", event_ids=ids), {}
        while hook.window and hook.window[0] <= t - WINDOW_SECONDS + _EPSILON:
            hook.window.popleft()
        if len(hook.window) >= config.rate:
            wait = hook.window[0] + WINDOW_SECONDS - t
            retry_after = max(1, math.ceil(wait - _EPSILON))
            record = RequestRecord(hook.name, t, 429, "rate_limited", retry_after=retry_after, event_ids=ids)
            return record, {"Retry-After": str(retry_after)}
        hook.window.append(t)
        hook.admitted_times.append(t)
        hook.admitted += 1
        number = hook.admitted
        drawn = config.fail_fraction > 0 and hook.rng.random() < config.fail_fraction
        if number in config.fail_requests or drawn:
            return RequestRecord(hook.name, t, 500, "injected_error", event_ids=ids), {}
        problem = message_problem(raw, headers.get("content-type"))
        if problem is not None:
            return RequestRecord(hook.name, t, 400, "rejected", reason=problem, event_ids=ids), {}
        hook.posts.append(AcceptedPost(hook.name, t, number, ids, json.loads(raw)))
        return RequestRecord(hook.name, t, 202, "accepted", event_ids=ids), {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    standin: TeamsStandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client's connection pool is reused, as with Teams
    timeout = 10  # an idle kept-alive connection's thread ends after this many (real) seconds
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall)
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():  # a repeated header: its values comma-joined
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        status, reply_headers = self.server.standin.answer(self.path, headers, raw)
        body = b"" if status == 202 else json.dumps({"status": status}).encode()
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return
