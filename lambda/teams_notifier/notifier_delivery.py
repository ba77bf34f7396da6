"""POST a JSON document to a Teams Workflows webhook; urllib3's Retry retries it within the Lambda deadline.

- any 2xx is success (Workflows answers 202 Accepted);
- 429 waits for Retry-After (seconds or an HTTP date), else capped exponential backoff with jitter;
- 5xx, connection errors and timeouts retry with that backoff;
- any other status (other 4xx, or a redirect, which is not followed) fails at once.
Every attempt counts against ``max_attempts``, and no wait or attempt is started that would
run past the deadline minus a safety margin.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, cast

import urllib3
from notifier_logging import RedactingFilter, logger
from urllib3.exceptions import InvalidHeader, MaxRetryError, ProtocolError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:  # annotations only (urllib3 1.26 has no BaseHTTPResponse)
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

USER_AGENT = "pipelines-platform-teams-notifier/1"
_ERROR_BODY_LIMIT = 300
RETRYABLE_STATUSES = frozenset({429, *range(500, 600)})

# urllib3 logs the request path and query (the webhook's `sig`) when it retries.
for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(RedactingFilter())


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    http_timeout_seconds: float
    backoff_base_seconds: float = 0.2
    backoff_cap_seconds: float = 4.0
    # Time kept back at the end of the invocation (to record the outcome and log).
    safety_margin_seconds: float = 2.0
    # An attempt is not started with less time than this left for it.
    min_attempt_seconds: float = 0.05


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int
    status_code: int | None
    # delivered | rejected | retries_exhausted | out_of_time
    outcome: str


def build_http() -> urllib3.PoolManager:
    """One pool for the execution environment: warm invocations reuse the TLS connection to Teams."""
    return urllib3.PoolManager()


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header value (delta-seconds or HTTP-date), None if unusable."""
    if value is None or not value.strip():
        return None
    try:
        return float(Retry().parse_retry_after(value.strip()))
    except InvalidHeader:
        return None


def backoff_seconds(attempt: int, policy: RetryPolicy, jitter: Callable[[], float]) -> float:
    """Equal-jitter exponential backoff after failed attempt number ``attempt`` (1-based)."""
    ceiling = min(policy.backoff_cap_seconds, policy.backoff_base_seconds * (2 ** (attempt - 1)))
    return ceiling / 2 + jitter() * ceiling / 2


@dataclass
class _Run:
    """One post_json call, shared by the Retry objects urllib3 derives from each other."""

    policy: RetryPolicy
    remaining_seconds: Callable[[], float]
    sleep: Callable[[float], None]
    jitter: Callable[[], float]
    fields: dict[str, Any]
    timeout: float
    # Called before every attempt (the channel's pacer) and with every 429's Retry-After seconds.
    before_attempt: Callable[[], None] = lambda: None
    retry_after: Callable[[float], None] = lambda seconds: None
    attempt: int = 1
    started: float = 0.0
    status: int | None = None
    outcome: str = "retries_exhausted"

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)


def _root_cause(error: BaseException) -> BaseException:
    """The OS-level error under urllib3's wrappers (ConnectionRefusedError, TimeoutError...)."""
    for _ in range(5):
        inner = error.__cause__
        if inner is None and isinstance(error, ProtocolError) and len(error.args) > 1:
            inner = error.args[1] if isinstance(error.args[1], BaseException) else None
        if inner is None:
            break
        error = inner
    return error


def _body_text(response: BaseHTTPResponse) -> str:
    try:
        return response.read(_ERROR_BODY_LIMIT).decode("utf-8", "replace")
    except Exception:
        return ""


class DeadlineRetry(Retry):
    """urllib3's Retry that logs each failed attempt, backs off with equal jitter (injectable sleep and
    jitter for tests), and gives up when the wait plus another attempt would not fit before the deadline."""

    # Retry-After is honoured on 429 only (a 413 with Retry-After stays a refusal).
    RETRY_AFTER_STATUS_CODES = frozenset({429})

    def __init__(self, *args: Any, run: _Run, wait: tuple[float, bool] = (0.0, False), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run = run
        # (seconds, from Retry-After): chosen once in increment(), so the deadline check and sleep() agree.
        self.wait = wait

    def new(self, **kw: Any) -> Self:
        return super().new(run=self.run, **kw)

    def get_backoff_time(self) -> float:
        return backoff_seconds(max(1, len(self.history)), self.run.policy, self.run.jitter)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        run = self.run
        run.status = response.status if response is not None else None
        if response is not None:
            logger.warning(
                "webhook attempt failed",
                attempt=run.attempt,
                status_code=run.status,
                elapsed_ms=run.elapsed_ms(),
                response_body=_body_text(response) or None,
                **run.fields,
            )
        else:
            cause = _root_cause(error) if error is not None else None
            logger.warning(
                "webhook attempt failed: no response",
                attempt=run.attempt,
                error_type=type(cause).__name__,
                error=str(cause)[:200],
                elapsed_ms=run.elapsed_ms(),
                **run.fields,
            )
        new = super().increment(method, url, response, error, _pool, _stacktrace)  # MaxRetryError when exhausted
        after = retry_after_seconds(response.headers.get("Retry-After")) if run.status == 429 and response else None
        if after is not None:
            run.retry_after(after)
        new.wait = (after, True) if after is not None else (new.get_backoff_time(), False)
        left_after_wait = run.remaining_seconds() - run.policy.safety_margin_seconds - new.wait[0]
        if left_after_wait < run.timeout:
            logger.error(
                "delivery gave up: not enough time left to wait and retry",
                attempts=run.attempt,
                status_code=run.status,
                wait_seconds=round(new.wait[0], 3),
                **run.fields,
            )
            run.outcome = "out_of_time"
            raise MaxRetryError(cast("ConnectionPool", _pool), url, error or ResponseError("out of time"))
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        seconds, from_header = self.wait
        logger.info(
            "waiting before retry",
            attempt=self.run.attempt,
            status_code=self.run.status,
            wait_seconds=round(seconds, 3),
            retry_after=from_header,
            **self.run.fields,
        )
        self.run.sleep(seconds)
        self.run.before_attempt()
        self.run.attempt += 1
        self.run.started = time.monotonic()


def post_json(
    url: str,
    body: bytes,
    *,
    policy: RetryPolicy,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
    http: urllib3.PoolManager | None = None,
    log_fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    before_attempt: Callable[[], None] | None = None,
    retry_after: Callable[[float], None] | None = None,
) -> DeliveryResult:
    """POST ``body`` to ``url`` until it is accepted, refused, or out of attempts or time.

    headers: added to every attempt (e.g. Authorization); before_attempt: called before each attempt
    (a pacer that waits for the channel's next slot); retry_after: told each 429's Retry-After.
    """
    fields = dict(log_fields or {})
    if before_attempt is not None:
        before_attempt()  # the first attempt waits for its slot before its time budget is measured
    # urllib3 gives every attempt this timeout; DeadlineRetry starts one only with that much time left.
    timeout = min(policy.http_timeout_seconds, remaining_seconds() - policy.safety_margin_seconds)
    if timeout < policy.min_attempt_seconds:
        logger.error("delivery gave up: no time left", attempts=0, **fields)
        return DeliveryResult(False, 0, None, "out_of_time")
    run = _Run(policy, remaining_seconds, sleep, jitter, fields, timeout, started=time.monotonic())
    if before_attempt is not None:
        run.before_attempt = before_attempt
    if retry_after is not None:
        run.retry_after = retry_after
    retry = DeadlineRetry(
        total=policy.max_attempts - 1,
        allowed_methods=None,  # POST too, as before: after a timeout a rare duplicate card beats a lost one
        status_forcelist=RETRYABLE_STATUSES,
        raise_on_status=False,
        run=run,
    )
    try:
        response = (http or build_http()).urlopen(
            "POST",
            url,
            body=body,
            headers={**(headers or {}), "Content-Type": "application/json", "User-Agent": USER_AGENT},
            retries=retry,
            redirect=False,  # a webhook that redirects is misconfigured: never re-send the card elsewhere
            timeout=urllib3.Timeout(total=timeout),
            preload_content=False,
        )
    except MaxRetryError:  # no response to the last attempt, or out of time
        if run.outcome == "retries_exhausted":
            logger.error("delivery gave up: attempts exhausted", attempts=run.attempt, status_code=None, **fields)
        return DeliveryResult(False, run.attempt, run.status, run.outcome)
    status = response.status
    try:
        if 200 <= status < 300:
            logger.info(
                "webhook accepted the card",
                attempt=run.attempt,
                status_code=status,
                elapsed_ms=run.elapsed_ms(),
                **fields,
            )
            return DeliveryResult(True, run.attempt, status, "delivered")
        if status in RETRYABLE_STATUSES:  # urllib3 hands back the last answer once it stops retrying
            if run.outcome == "retries_exhausted":
                logger.error("delivery gave up: attempts exhausted", attempts=run.attempt, status_code=status, **fields)
            return DeliveryResult(False, run.attempt, status, run.outcome)
        logger.error(
            "webhook refused the card (not retried)",
            attempt=run.attempt,
            status_code=status,
            elapsed_ms=run.elapsed_ms(),
            response_body=_body_text(response) or None,
            **fields,
        )
        return DeliveryResult(False, run.attempt, status, "rejected")
    finally:
        response.drain_conn()
