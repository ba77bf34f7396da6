"""POST a JSON document to a Teams Workflows webhook, with retries that respect the Lambda deadline.

- any 2xx is success (Workflows answers 202 Accepted);
- 429 waits for Retry-After (seconds or an HTTP date) when the remaining time allows, then retries;
- 5xx, connection errors and timeouts retry with capped exponential backoff and jitter;
- any other status (other 4xx, or a redirect, which is not followed) fails at once.
Every attempt counts against ``max_attempts``, and no wait or attempt is started that would
run past the deadline minus a safety margin.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any

from notifier_logging import log

USER_AGENT = "pipelines-platform-teams-notifier/1"
_ERROR_BODY_LIMIT = 300


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


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Message | None
    body: str


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; never re-send the card elsewhere or as a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def build_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_RefuseRedirects())


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value (delta-seconds or HTTP-date), None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_seconds(attempt: int, policy: RetryPolicy, jitter: Callable[[], float]) -> float:
    """Equal-jitter exponential backoff after failed attempt number ``attempt`` (1-based)."""
    ceiling = min(policy.backoff_cap_seconds, policy.backoff_base_seconds * (2 ** (attempt - 1)))
    return ceiling / 2 + jitter() * ceiling / 2


def _send(opener: urllib.request.OpenerDirector, url: str, body: bytes, timeout: float) -> _Reply:
    request = urllib.request.Request(  # noqa: S310 - the URL was checked to be https (or loopback http)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(4096)
            return _Reply(response.status, response.headers, "")
    except urllib.error.HTTPError as error:
        try:
            text = error.read(_ERROR_BODY_LIMIT).decode("utf-8", "replace")
        except Exception:
            text = ""
        finally:
            error.close()
        return _Reply(error.code, error.headers, text)


def post_json(
    url: str,
    body: bytes,
    *,
    policy: RetryPolicy,
    remaining_seconds: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
    opener: urllib.request.OpenerDirector | None = None,
    log_fields: Mapping[str, Any] | None = None,
) -> DeliveryResult:
    """POST ``body`` to ``url`` until it is accepted, refused, or out of attempts or time."""
    opener = opener or build_opener()
    fields = dict(log_fields or {})
    status: int | None = None
    attempt = 0
    while attempt < policy.max_attempts:
        budget = remaining_seconds() - policy.safety_margin_seconds
        timeout = min(policy.http_timeout_seconds, budget)
        if timeout < policy.min_attempt_seconds:
            log(logging.ERROR, "delivery gave up: no time left", attempts=attempt, status_code=status, **fields)
            return DeliveryResult(False, attempt, status, "out_of_time")
        attempt += 1
        started = time.monotonic()
        retry_after: float | None = None
        try:
            reply = _send(opener, url, body, timeout)
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets, bad replies
            status = None
            reason = getattr(error, "reason", error)
            log(
                logging.WARNING,
                "webhook attempt failed: no response",
                attempt=attempt,
                error_type=type(reason).__name__,
                error=str(reason)[:200],
                elapsed_ms=round((time.monotonic() - started) * 1000),
                **fields,
            )
        else:
            status = reply.status
            elapsed_ms = round((time.monotonic() - started) * 1000)
            if 200 <= status < 300:
                log(
                    logging.INFO,
                    "webhook accepted the card",
                    attempt=attempt,
                    status_code=status,
                    elapsed_ms=elapsed_ms,
                    **fields,
                )
                return DeliveryResult(True, attempt, status, "delivered")
            retryable = status == 429 or status >= 500
            log(
                logging.WARNING if retryable else logging.ERROR,
                "webhook attempt failed" if retryable else "webhook refused the card (not retried)",
                attempt=attempt,
                status_code=status,
                elapsed_ms=elapsed_ms,
                response_body=reply.body or None,
                **fields,
            )
            if not retryable:
                return DeliveryResult(False, attempt, status, "rejected")
            if status == 429:
                retry_after = retry_after_seconds(reply.headers.get("Retry-After") if reply.headers else None)
        if attempt >= policy.max_attempts:
            break
        wait = retry_after if retry_after is not None else backoff_seconds(attempt, policy, jitter)
        left_after_wait = remaining_seconds() - policy.safety_margin_seconds - wait
        if left_after_wait < min(policy.http_timeout_seconds, 1.0):
            log(
                logging.ERROR,
                "delivery gave up: not enough time left to wait and retry",
                attempts=attempt,
                status_code=status,
                wait_seconds=round(wait, 3),
                **fields,
            )
            return DeliveryResult(False, attempt, status, "out_of_time")
        log(
            logging.INFO,
            "waiting before retry",
            attempt=attempt,
            status_code=status,
            wait_seconds=round(wait, 3),
            retry_after=retry_after is not None,
            **fields,
        )
        sleep(wait)
    log(logging.ERROR, "delivery gave up: attempts exhausted", attempts=attempt, status_code=status, **fields)
    return DeliveryResult(False, attempt, status, "retries_exhausted")
