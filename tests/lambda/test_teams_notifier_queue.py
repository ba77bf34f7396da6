"""The SQS path: one FIFO batch of one channel -> its webhook, in order, paced, parked or given back.

A real HTTP server on 127.0.0.1 answers the posts; moto holds the idempotency table, the webhook
secrets and the channels' dead-letter queues. The batches are shaped as Lambda's SQS event source
mapping delivers them (see tests/load for the burst through a modelled queue).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
import uuid
from typing import Any

import pytest
from notifier_helpers import (
    CLIENTS,
    REGION,
    TOOLING_ACCOUNT,
    FakeContext,
    Reply,
    WebhookServer,
    check_envelope,
    dependencies,
    json_lines,
    load_event,
    load_notifier,
    put_webhook_secret,
)

SUCCEEDED = "codepipeline-pipeline-execution-succeeded.json"
FAILED = "codepipeline-pipeline-execution-failed.json"
QUEUE = "acme-notify-{}.fifo"
DEAD_LETTERS = "acme-notify-{}-dlq.fifo"


def queue_arn(channel: str) -> str:
    return f"arn:aws:sqs:{REGION}:{TOOLING_ACCOUNT}:{QUEUE.format(channel)}"


def sqs_record(body: str, channel: str, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    """A record exactly as Lambda's SQS event source mapping delivers one from a FIFO queue."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
            "SequenceNumber": "18849496460467696128",
            "MessageGroupId": channel,
            "MessageDeduplicationId": hashlib.sha256(body.encode()).hexdigest(),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn(channel),
        "awsRegion": REGION,
    }


def event_like(name: str, event_id: str, pipeline: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    event["id"] = event_id
    if pipeline is not None:
        event["detail"]["pipeline"] = pipeline
        event["resources"] = [f"arn:aws:codepipeline:{REGION}:{TOOLING_ACCOUNT}:{pipeline}"]
    return event


def batch(*events: dict[str, Any] | str, channel: str = "alerts") -> dict[str, Any]:
    return {"Records": [sqs_record(e if isinstance(e, str) else json.dumps(e), channel) for e in events]}


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def ids_of(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


class Notifier:
    """The function with its queue settings, real dependencies and a runtime on the real clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
        sqs = CLIENTS.client("sqs")
        self.dead_letter_urls = {
            c: sqs.create_queue(QueueName=DEAD_LETTERS.format(c), Attributes={"FifoQueue": "true"})["QueueUrl"]
            for c in ("alerts", "releases")
        }
        defaults: dict[str, Any] = {
            "CHANNEL_QUEUES": {QUEUE.format(c): c for c in ("alerts", "releases")},
            "DEAD_LETTER_QUEUES": self.dead_letter_urls,
            "RATE_LIMITS": {"alerts": 20, "releases": 20},
            "BURST_SUMMARY_AFTER": "0",
        }
        defaults.update(settings)
        self.module = load_notifier(monkeypatch, **defaults)
        self.deps = dependencies(self.module)
        self.runtime = self.module.build_runtime(self.module.SETTINGS, session=CLIENTS)

    def __call__(self, event: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        result: dict[str, Any] = self.module.handle_sqs(
            event, FakeContext(timeout), self.module.SETTINGS, self.deps, self.runtime
        )
        return result

    def dead_letters(self, channel: str = "alerts") -> list[dict[str, Any]]:
        messages = CLIENTS.client("sqs").receive_message(
            QueueUrl=self.dead_letter_urls[channel], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return list(messages.get("Messages", []))


def posted_ids(server: WebhookServer, channel: str = "alerts") -> list[list[str]]:
    return [post.headers["X-Notifier-Event-Ids"].split(",") for post in server.posts(channel)]


# ----------------------------------------------------------------------------------------
# Order, pacing, Retry-After
# ----------------------------------------------------------------------------------------


def test_a_batch_posts_every_event_in_order_at_the_channel_rate(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch, RATE_LIMITS={"alerts": 10, "releases": 20})
    event = batch(*(event_like(FAILED, f"evt-{n}", f"acme-svc{n}") for n in range(4)))
    assert notify(event) == {"batchItemFailures": []}
    posts = server.posts("alerts")
    assert posted_ids(server) == [["evt-0"], ["evt-1"], ["evt-2"], ["evt-3"]]
    for post in posts:
        check_envelope(post.json())
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(posts)]
    assert min(gaps) >= 0.09, gaps  # 10 per second: a slot every 0.1 s (timer slack of 10 ms)


def test_retry_after_holds_the_channel_and_the_card_still_posts_once(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch)
    server.script("alerts", Reply(429, {"Retry-After": "1"}))
    event = batch(event_like(FAILED, "evt-a", "acme-a"), event_like(FAILED, "evt-b", "acme-b"))
    assert notify(event) == {"batchItemFailures": []}
    posts = server.posts("alerts")
    assert [p.headers["X-Notifier-Event-Ids"] for p in posts] == ["evt-a", "evt-a", "evt-b"]
    assert posts[1].at - posts[0].at >= 0.99  # waited the whole Retry-After
    assert posts[2].at - posts[1].at >= 0.04  # and the next card its slot


# ----------------------------------------------------------------------------------------
# What fails goes back, in order; what was posted never posts again
# ----------------------------------------------------------------------------------------


def test_a_failed_post_gives_back_it_and_every_later_record(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch, MAX_ATTEMPTS="2")
    server.script("alerts", Reply(202), Reply(503), Reply(503))
    event = batch(*(event_like(FAILED, f"evt-{n}", f"acme-{n}") for n in range(4)))
    response = notify(event)
    assert failures(response) == ids_of(event)[1:]
    assert posted_ids(server) == [["evt-0"], ["evt-1"], ["evt-1"]]  # evt-1 refused twice; nothing after it
    # SQS delivers the whole batch again: evt-0 is not posted twice, the rest post in order.
    assert notify(event) == {"batchItemFailures": []}
    # evt-1's two refused attempts, then the redelivery: evt-1, evt-2, evt-3 (evt-0 is done).
    assert posted_ids(server) == [["evt-0"], ["evt-1"], ["evt-1"], ["evt-1"], ["evt-2"], ["evt-3"]]


def test_a_redelivered_or_duplicated_event_posts_once(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    notify = Notifier(monkeypatch)
    first = event_like(FAILED, "evt-1", "acme-1")
    again = dict(first, time="2026-12-02T08:00:00Z")  # EventBridge at least once: same id, new message
    assert notify(batch(first, again)) == {"batchItemFailures": []}
    assert notify(batch(first)) == {"batchItemFailures": []}
    assert posted_ids(server) == [["evt-1"]]


def test_too_little_time_left_gives_the_records_back_without_posting(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch)
    event = batch(event_like(FAILED, "evt-1", "acme-1"), event_like(FAILED, "evt-2", "acme-2"))
    assert failures(notify(event, timeout=5)) == ids_of(event)
    assert server.posts() == []


# ----------------------------------------------------------------------------------------
# Parked at once: refused cards, unusable secrets, messages that are not events
# ----------------------------------------------------------------------------------------


def test_a_refused_card_is_parked_and_the_channel_goes_on(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch)
    server.script("alerts", Reply(400, body=b'{"error":{"code":"InvalidRequestContent"}}'))
    event = batch(event_like(FAILED, "evt-1", "acme-1"), event_like(FAILED, "evt-2", "acme-2"))
    assert notify(event) == {"batchItemFailures": []}
    assert posted_ids(server) == [["evt-1"], ["evt-2"]]
    [parked] = notify.dead_letters()
    assert json.loads(parked["Body"])["id"] == "evt-1"
    assert parked["MessageAttributes"]["reason"]["StringValue"].startswith("rejected: the webhook refused")
    assert parked["MessageAttributes"]["source_message_id"]["StringValue"] == ids_of(event)[0]


def test_not_an_event_is_parked_with_the_reason(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    notify = Notifier(monkeypatch)
    event = batch("not json", json.dumps({"id": "x"}), event_like(FAILED, "evt-1", "acme-1"))
    assert notify(event) == {"batchItemFailures": []}
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in notify.dead_letters())
    assert reasons[0].startswith("not_an_event: body is not JSON")
    assert reasons[1].startswith("not_an_event: event lacks source, detail-type, detail")
    assert posted_ids(server) == [["evt-1"]]


def test_a_secret_without_a_url_parks_and_an_unreadable_one_retries(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch, SECRET_CACHE_SECONDS="0")
    put_webhook_secret("alerts", '{"url": ""}')  # the placeholder the stack creates
    event = batch(event_like(FAILED, "evt-1", "acme-1"))
    assert notify(event) == {"batchItemFailures": []}
    [parked] = notify.dead_letters()
    assert parked["MessageAttributes"]["reason"]["StringValue"].startswith("unusable_secret")
    CLIENTS.client("secretsmanager").delete_secret(SecretId="acme/teams/alerts", ForceDeleteWithoutRecovery=True)
    assert failures(notify(event)) == ids_of(event)  # Secrets Manager trouble: try again later
    assert server.posts() == []


# ----------------------------------------------------------------------------------------
# Routing and the batch's queue
# ----------------------------------------------------------------------------------------


def test_an_event_not_routed_to_the_channel_is_skipped(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    notify = Notifier(monkeypatch, ROUTES={"pipeline_failed": ["alerts"], "pipeline_succeeded": ["releases"]})
    event = batch(event_like(SUCCEEDED, "evt-ok", "acme-1"), event_like(FAILED, "evt-bad", "acme-1"))
    assert notify(event) == {"batchItemFailures": []}
    assert posted_ids(server) == [["evt-bad"]]


def test_an_unknown_event_gets_a_generic_card_on_a_fallback_channel(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch)
    unknown = {
        "version": "0",
        "id": "evt-new",
        "detail-type": "CodePipeline Something New",
        "source": "aws.codepipeline",
        "account": TOOLING_ACCOUNT,
        "time": "2026-12-02T08:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"pipeline": "acme-1", "whatever": {"nested": True}},
    }
    assert notify(batch(unknown)) == {"batchItemFailures": []}
    [post] = server.posts("alerts")
    check_envelope(post.json())


def test_a_batch_from_an_unknown_queue_goes_back_whole(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    notify = Notifier(monkeypatch)
    event = batch(event_like(FAILED, "evt-1", "acme-1"), channel="nobody")
    assert failures(notify(event)) == ids_of(event)
    assert server.posts() == []
    assert any(line["message"].startswith("batch from an unknown") for line in json_lines(capsys.readouterr().out))


def test_the_handler_tells_a_batch_from_a_single_event(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    notify = Notifier(monkeypatch)
    assert notify.module.is_sqs_batch(batch(event_like(FAILED, "evt-1")))
    assert not notify.module.is_sqs_batch(load_event(FAILED))
    assert not notify.module.is_sqs_batch({"Records": [{"eventSource": "aws:sns"}]})


# ----------------------------------------------------------------------------------------
# Bursts: one summary card per batch past the per-minute allowance
# ----------------------------------------------------------------------------------------


def test_a_burst_becomes_one_summary_card_and_a_redelivery_posts_nothing(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch, BURST_SUMMARY_AFTER="2", ROUTES={"pipeline_succeeded": ["alerts"]})
    event = batch(*(event_like(SUCCEEDED, f"evt-{n}", f"acme-svc{n}") for n in range(7)))
    assert notify(event) == {"batchItemFailures": []}
    assert posted_ids(server) == [["evt-0"], ["evt-1"], [f"evt-{n}" for n in range(2, 7)]]
    summary = check_envelope(server.posts("alerts")[2].json())
    text = json.dumps(summary)
    for n in range(2, 7):
        assert f"acme-svc{n}" in text  # each pipeline named, and linked
    assert notify(event) == {"batchItemFailures": []}
    assert len(server.posts()) == 3
    # Within the same minute, the next batch of that kind is summarized from its first card.
    assert notify(batch(*(event_like(SUCCEEDED, f"evt-next-{n}", f"acme-svc{n}") for n in range(3)))) == {
        "batchItemFailures": []
    }
    assert posted_ids(server)[-1] == [f"evt-next-{n}" for n in range(3)]


def test_a_summary_leaves_out_events_already_posted_and_fails_as_one(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch, BURST_SUMMARY_AFTER="1", MAX_ATTEMPTS="1", ROUTES={"pipeline_succeeded": ["alerts"]})
    # The minute's one individual card: evt-2.
    assert notify(batch(event_like(SUCCEEDED, "evt-2", "acme-2"))) == {"batchItemFailures": []}
    event = batch(*(event_like(SUCCEEDED, f"evt-{n}", f"acme-{n}") for n in range(5)))
    server.script("alerts", Reply(500))
    # The summary is the batch's first record: it fails, and every record goes back with it.
    assert failures(notify(event)) == ids_of(event)
    assert notify(event) == {"batchItemFailures": []}
    carried = ["evt-0", "evt-1", "evt-3", "evt-4"]  # evt-2 was posted already
    assert posted_ids(server) == [["evt-2"], carried, carried]


# ----------------------------------------------------------------------------------------
# A trigger restricted to the tenant: an Entra ID token per post, cached, refreshed after a 401
# ----------------------------------------------------------------------------------------


def test_a_tenant_restricted_workflow_gets_a_cached_bearer_token(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    notify = Notifier(monkeypatch)
    token_path = "/tenant-1/oauth2/v2.0/token"
    entra = {
        "tenant_id": "tenant-1",
        "client_id": "app-1",
        "client_secret": "cl13nt-s3cr3t",
        "scope": "https://service.flow.microsoft.com//.default",
        "authority": f"http://127.0.0.1:{server.port}",
    }
    put_webhook_secret("alerts", json.dumps({"url": server.url("alerts"), "entra": entra}))

    def token(value: str) -> Reply:
        return Reply(
            200,
            {"Content-Type": "application/json"},
            json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": value}).encode(),
        )

    server.script_path(token_path, token("tok-1"), token("tok-2"))
    server.script("alerts", Reply(202), Reply(202), Reply(401))
    event = batch(*(event_like(FAILED, f"evt-{n}", f"acme-{n}") for n in range(3)))
    # Two posts with one token; the third is refused: it comes back, with a fresh token next time.
    assert failures(notify(event)) == ids_of(event)[2:]
    assert [p.headers["Authorization"] for p in server.posts("alerts")] == ["Bearer tok-1"] * 3
    assert notify(event) == {"batchItemFailures": []}
    assert server.posts("alerts")[-1].headers["Authorization"] == "Bearer tok-2"
    assert posted_ids(server) == [["evt-0"], ["evt-1"], ["evt-2"], ["evt-2"]]
    token_requests = [r for r in server.requests if r.path == token_path]
    assert len(token_requests) == 2 and b"grant_type=client_credentials" in token_requests[0].body
