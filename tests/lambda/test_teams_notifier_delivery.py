"""Delivery against a real HTTP server on 127.0.0.1: success, 429 with Retry-After, 5xx retries,
4xx without retry, hung servers and the time budget, and idempotency per (event, channel)."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from notifier_helpers import (
    CLIENTS,
    TABLE,
    FakeContext,
    Reply,
    WebhookServer,
    check_envelope,
    delivery_item,
    delivery_key,
    dependencies,
    json_lines,
    load_event,
    load_notifier,
    put_webhook_secret,
    table_items,
)

EVENT = "codepipeline-pipeline-execution-failed.json"
EVENT_ID = "01234567-EXAMPLE"
BOTH = {"pipeline_failed": ["alerts", "releases"]}


def start(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> tuple[Any, Any]:
    module = load_notifier(monkeypatch, **settings)
    return module, dependencies(module)


def invoke(module: Any, deps: Any, event: dict[str, Any] | None = None, timeout: float = 60.0) -> dict[str, Any]:
    result: dict[str, Any] = module.handle(event or load_event(EVENT), FakeContext(timeout), module.SETTINGS, deps)
    return result


def log_lines(capsys: pytest.CaptureFixture[str], message: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(capsys.readouterr().out) if line["message"] == message]


# ----------------------------------------------------------------------------------------
# One channel, scripted answers
# ----------------------------------------------------------------------------------------


def test_202_is_posted_once_and_recorded_done(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch)
    before = int(time.time())
    summary = invoke(module, deps)
    assert summary == {
        "event_id": "01234567-EXAMPLE",
        "kind": "pipeline_failed",
        "routed": ["alerts"],
        "posted": ["alerts"],
        "duplicates": [],
        "failed": [],
    }
    [post] = server.posts()
    assert post.path == server.path("alerts")
    assert post.headers["Content-Type"] == "application/json"
    check_envelope(post.json())
    item = delivery_item(EVENT_ID, "alerts")
    assert item["status"]["S"] == "COMPLETED"
    recorded = json.loads(item["data"]["S"])
    assert recorded["channel"] == "alerts" and recorded["kind"] == "pipeline_failed"
    assert before + 172800 <= int(item["expires_at"]["N"]) <= int(time.time()) + 172800
    # A done record is never taken over, even once its in-progress window has passed.
    _age_claim(delivery_key(EVENT_ID, "alerts"))
    assert invoke(module, deps)["duplicates"] == ["alerts"]
    assert len(server.posts()) == 1


@pytest.mark.parametrize("status", [200, 201, 204])
def test_any_2xx_is_success(status: int, monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(status))
    assert invoke(module, deps)["posted"] == ["alerts"]
    assert len(server.posts()) == 1


def test_429_waits_for_retry_after_then_posts(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(429, {"Retry-After": "1"}), Reply(202))
    summary = invoke(module, deps)
    assert summary["posted"] == ["alerts"]
    first, second = server.posts()
    assert second.at - first.at >= 0.95  # really waited the second Teams asked for
    [wait] = log_lines(capsys, "waiting before retry")
    assert (wait["status_code"], wait["wait_seconds"], wait["retry_after"]) == (429, 1.0, True)


def test_429_gives_up_when_retry_after_exceeds_the_remaining_time(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(429, {"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(module.DeliveryFailedError) as raised:
        invoke(module, deps, timeout=10.0)
    assert time.monotonic() - started < 1.0  # did not sleep 30 s
    assert len(server.posts()) == 1
    assert raised.value.summary.failed == ["alerts"]
    assert table_items() == {}  # claim released: the Lambda retry may post


def test_500_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(500, body=b"upstream broke"), Reply(202))
    assert invoke(module, deps)["posted"] == ["alerts"]
    first, second = server.posts()
    assert second.at - first.at >= 0.09  # backoff after attempt 1 is 0.1-0.2 s
    assert first.body == second.body


def test_400_is_not_retried_and_fails(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(400, body=b'{"error": "bad card"}'))
    with pytest.raises(module.DeliveryFailedError, match="alerts"):
        invoke(module, deps)
    assert len(server.posts()) == 1
    [refused] = log_lines(capsys, "webhook refused the card (not retried)")
    assert refused["status_code"] == 400
    assert refused["response_body"] == '{"error": "bad card"}'
    assert table_items() == {}


def test_a_redirect_is_not_followed(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(302, {"Location": server.url("releases")}))
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, deps)
    assert [r.path for r in server.requests] == [server.path("alerts")]


def test_a_refused_webhook_url_is_read_again_on_retry(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    """After a 404 the cached URL is dropped, so a rotated secret is used by the Lambda retry."""
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(404))
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, deps)
    put_webhook_secret("alerts", server.url("alerts-rotated"))
    assert invoke(module, deps)["posted"] == ["alerts"]
    assert [r.path for r in server.posts()] == [server.path("alerts"), server.path("alerts-rotated")]


def test_hung_server_times_out_retries_and_fails_quickly(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module, deps = start(monkeypatch, HTTP_TIMEOUT_SECONDS="0.2", MAX_ATTEMPTS="3")
    server.script("alerts", *[Reply(202, delay=10)] * 3)
    started = time.monotonic()
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, deps)
    elapsed = time.monotonic() - started
    assert len(server.posts()) == 3  # every attempt reached the server and timed out
    assert 0.6 <= elapsed < 2.0  # 3 x 0.2 s timeouts + two short backoffs (0.1-0.2 s, 0.2-0.4 s)
    failures = log_lines(capsys, "webhook attempt failed: no response")
    assert [f["attempt"] for f in failures] == [1, 2, 3]
    assert all("timed out" in f["error"] for f in failures)


def test_hung_server_retries_stop_at_the_lambda_deadline(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    """With 3 s left and a 2 s safety margin, retries stop after about 1 s although 10 attempts are allowed."""
    module, deps = start(monkeypatch, HTTP_TIMEOUT_SECONDS="0.4", MAX_ATTEMPTS="10")
    server.script("alerts", *[Reply(202, delay=10)] * 10)
    started = time.monotonic()
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, deps, timeout=3.0)
    elapsed = time.monotonic() - started
    assert 1 <= len(server.posts()) <= 3
    assert elapsed < 1.5  # left the safety margin of the 3 s budget unused


def test_connection_refused_is_retried_then_fails(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    put_webhook_secret("alerts", f"http://127.0.0.1:{closed_port}/workflows/alerts?sig=x")
    module, deps = start(monkeypatch, MAX_ATTEMPTS="2")
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, deps)
    failures = log_lines(capsys, "webhook attempt failed: no response")
    assert [f["attempt"] for f in failures] == [1, 2]
    assert all(f["error_type"] == "ConnectionRefusedError" for f in failures)


# ----------------------------------------------------------------------------------------
# Idempotency across channels and deliveries (moto DynamoDB)
# ----------------------------------------------------------------------------------------


def test_the_same_event_twice_posts_once_per_channel(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module, deps = start(monkeypatch, ROUTES=BOTH)
    first = invoke(module, deps)
    second = invoke(module, deps)
    assert (first["posted"], first["duplicates"]) == (["alerts", "releases"], [])
    assert (second["posted"], second["duplicates"]) == ([], ["alerts", "releases"])
    assert len(server.posts("alerts")) == 1 and len(server.posts("releases")) == 1
    assert [d["channel"] for d in log_lines(capsys, "duplicate")] == ["alerts", "releases"]
    assert {k: v["status"]["S"] for k, v in table_items().items()} == {
        delivery_key(EVENT_ID, "alerts"): "COMPLETED",
        delivery_key(EVENT_ID, "releases"): "COMPLETED",
    }


@pytest.mark.parametrize(
    ("replies", "failed_first"),
    [
        ([Reply(202, delay=5), Reply(202)], False),  # a timeout, then accepted
        ([Reply(429, {"Retry-After": "0"}), Reply(202)], False),
        ([Reply(500), Reply(202)], False),
        ([Reply(503), Reply(500), Reply(202)], True),  # attempts exhausted: the Lambda retry posts
    ],
    ids=["timeout", "429", "500", "5xx-exhausted"],
)
def test_a_duplicate_posts_once_after_faults(
    replies: list[Reply], failed_first: bool, monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    module, deps = start(monkeypatch, HTTP_TIMEOUT_SECONDS="0.3", MAX_ATTEMPTS="2")
    server.script("alerts", *replies)
    if failed_first:
        with pytest.raises(module.DeliveryFailedError):
            invoke(module, deps)
    assert invoke(module, deps)["posted"] == ["alerts"]
    assert invoke(module, deps)["duplicates"] == ["alerts"]  # EventBridge delivers it once more
    assert len(server.posts()) == len(replies)  # nothing was sent after the accepted post


def test_a_retry_posts_only_the_channel_that_failed(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch, ROUTES=BOTH)
    server.script("alerts", Reply(400))
    with pytest.raises(module.DeliveryFailedError) as raised:
        invoke(module, deps)
    assert (raised.value.summary.posted, raised.value.summary.failed) == (["releases"], ["alerts"])
    # Lambda's async retry delivers the same event again; alerts now answers 202.
    retry = invoke(module, deps)
    assert (retry["posted"], retry["duplicates"]) == (["alerts"], ["releases"])
    assert len(server.posts("alerts")) == 2  # the 400 and the successful retry
    assert len(server.posts("releases")) == 1


def test_every_channel_is_tried_before_raising(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch, ROUTES={"pipeline_failed": ["alerts", "releases"]})
    server.script("alerts", Reply(403))
    server.script("releases", Reply(403))
    with pytest.raises(module.DeliveryFailedError) as raised:
        invoke(module, deps)
    assert raised.value.summary.failed == ["alerts", "releases"]
    assert len(server.posts()) == 2


class Crash(BaseException):
    """The runtime killing the invocation mid-post (a timeout): nothing below the handler gets to clean up."""


def _age_claim(key: str) -> None:
    """Move a record's in-progress expiry into the past, as if its invocation's deadline (+ margin) had passed."""
    CLIENTS.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": key}},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int((time.time() - 1) * 1000))}},
    )


def test_a_live_claim_of_another_invocation_is_skipped(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    """EventBridge delivers the event twice at once: the second invocation sees the first one's claim."""
    module, deps = start(monkeypatch)
    concurrent: list[dict[str, Any]] = []

    def post(url: str, body: bytes, remaining: Any, fields: Any, **options: Any) -> Any:
        concurrent.append(invoke(module, deps))  # runs while this invocation holds the claim
        return real_post(url, body, remaining, fields, **options)

    real_post = deps.post
    assert invoke(module, dataclasses.replace(deps, post=post))["posted"] == ["alerts"]
    assert [(c["posted"], c["duplicates"]) for c in concurrent] == [([], ["alerts"])]
    assert len(server.posts()) == 1


def test_a_crash_mid_delivery_blocks_until_the_claim_expires_then_is_taken_over(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    module, deps = start(monkeypatch)

    def crash(url: str, body: bytes, remaining: Any, fields: Any, **options: Any) -> Any:
        raise Crash

    with pytest.raises(Crash):
        invoke(module, dataclasses.replace(deps, post=crash))
    key = delivery_key(EVENT_ID, "alerts")
    assert table_items()[key]["status"]["S"] == "INPROGRESS"
    assert invoke(module, deps)["duplicates"] == ["alerts"]  # its claim is still live
    _age_claim(key)  # the crashed invocation's deadline and margin have passed
    assert invoke(module, deps)["posted"] == ["alerts"]
    assert len(server.posts()) == 1
    assert table_items()[key]["status"]["S"] == "COMPLETED"


def test_claim_lasts_longer_than_the_invocation(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module, deps = start(monkeypatch)
    seen: dict[str, Any] = {}

    def post(url: str, body: bytes, remaining: Any, fields: Any, **options: Any) -> Any:
        seen.update(delivery_item(EVENT_ID, "alerts"))
        return real_post(url, body, remaining, fields, **options)

    real_post = deps.post
    deps = dataclasses.replace(deps, post=post)
    now = int(time.time())
    invoke(module, deps, timeout=45.0)
    assert seen["status"]["S"] == "INPROGRESS"
    # remaining time (45 s) plus a 10 s margin; Powertools keeps it in milliseconds
    assert now + 50 <= int(seen["in_progress_expiration"]["N"]) // 1000 <= now + 57


class FailingTable:
    """The function's DynamoDB client with one operation failing (the rest reach moto)."""

    def __init__(self, operation: str) -> None:
        self.client = CLIENTS.client("dynamodb")
        self.operation = operation

    def __getattr__(self, name: str) -> Any:
        if name == self.operation:
            raise self.client.exceptions.ProvisionedThroughputExceededException(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, name
            )
        return getattr(self.client, name)


def with_table(module: Any, deps: Any, operation: str) -> Any:
    from notifier_idempotency import OncePerChannel

    settings = module.SETTINGS
    failing = OncePerChannel(FailingTable(operation), settings.idempotency_table, settings.idempotency_ttl_seconds)
    return dataclasses.replace(deps, deliveries=failing)


def test_a_post_whose_done_mark_is_lost_still_counts_as_posted(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module, deps = start(monkeypatch)
    assert invoke(module, with_table(module, deps, "update_item"))["posted"] == ["alerts"]
    assert len(server.posts()) == 1
    assert log_lines(capsys, "could not mark the channel done")


def test_a_claim_that_cannot_be_released_blocks_until_it_expires(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module, deps = start(monkeypatch)
    server.script("alerts", Reply(400))
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, with_table(module, deps, "delete_item"))
    assert log_lines(capsys, "could not release the claim")
    assert invoke(module, deps)["duplicates"] == ["alerts"]  # the claim is still live
    _age_claim(delivery_key(EVENT_ID, "alerts"))
    assert invoke(module, deps)["posted"] == ["alerts"]
    assert len(server.posts()) == 2


def test_dynamodb_unavailable_fails_the_channel_without_posting(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    module, deps = start(monkeypatch, IDEMPOTENCY_TABLE="no-such-table")
    with pytest.raises(module.DeliveryFailedError):
        invoke(module, deps)
    assert server.posts() == []


# ----------------------------------------------------------------------------------------
# post_json directly: Retry-After forms and the backoff schedule (recording sleep)
# ----------------------------------------------------------------------------------------


def test_retry_after_http_date_and_backoff_schedule(server: WebhookServer, monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_delivery import RetryPolicy, backoff_seconds, post_json, retry_after_seconds

    when = datetime.now(UTC) + timedelta(seconds=30)
    server.script(
        "alerts",
        Reply(429, {"Retry-After": format_datetime(when, usegmt=True)}),
        Reply(503),
        Reply(502),
        Reply(202),
    )
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=4, http_timeout_seconds=1.0)
    result = post_json(
        server.url("alerts"),
        b"{}",
        policy=policy,
        remaining_seconds=lambda: 300.0,
        sleep=sleeps.append,
        jitter=lambda: 1.0,
    )
    assert (result.ok, result.attempts, result.status_code) == (True, 4, 202)
    assert 28.0 <= sleeps[0] <= 30.0  # HTTP-date Retry-After
    assert sleeps[1:] == [0.4, 0.8]  # base 0.2 s doubled per attempt, jitter at its maximum
    assert len(server.posts()) == 4

    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    assert retry_after_seconds(past) == 0.0
    assert backoff_seconds(30, policy, lambda: 1.0) == policy.backoff_cap_seconds
    assert backoff_seconds(1, policy, lambda: 0.0) == pytest.approx(0.1)


def test_attempts_are_capped(server: WebhookServer, monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_delivery import RetryPolicy, post_json

    server.script("alerts", *[Reply(503)] * 5)
    sleeps: list[float] = []
    result = post_json(
        server.url("alerts"),
        b"{}",
        policy=RetryPolicy(max_attempts=3, http_timeout_seconds=1.0),
        remaining_seconds=lambda: 300.0,
        sleep=sleeps.append,
    )
    assert (result.ok, result.attempts, result.outcome) == (False, 3, "retries_exhausted")
    assert len(sleeps) == 2
    assert len(server.posts()) == 3
