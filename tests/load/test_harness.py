"""Tests of the load-test harness itself (virtual clock, Teams stand-in, FIFO model, events, driver).

The consumer here is a deliberately small reference SQS batch handler, NOT the notifier: one card
per record, paced at the webhook's rate, honouring Retry-After, retrying 5xx with backoff within
the deadline, and reporting the failed record and every later one (FIFO). Variants of it duplicate,
drop or fail on purpose, to prove the report catches them: the harness must be able to fail.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.load.driver import BurstReport, LambdaContext, kept_message_ids, run_burst
from tests.load.events import TimedEvent, burst, sample_paths
from tests.load.fifo_queue import DEDUPLICATION_INTERVAL_SECONDS, FifoQueue
from tests.load.teams_standin import (
    CARD_CONTENT_TYPE,
    EVENT_IDS_HEADER,
    TEAMS_MAX_PAYLOAD_BYTES,
    Outage,
    TeamsStandIn,
    WebhookConfig,
)
from tests.load.virtual_clock import VirtualClock

CHANNELS = ("alerts", "releases")


def card(text: str = "hello", padding: int = 0) -> dict[str, Any]:
    content = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text + "x" * padding}]}
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


class Client:
    """Plain HTTP posts to the stand-in over one kept-alive connection per webhook."""

    def __init__(self) -> None:
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def post(
        self, url: str, body: bytes, event_ids: Collection[str] = (), content_type: str = "application/json"
    ) -> tuple[int, dict[str, str]]:
        parts = urlsplit(url)
        key = f"{parts.hostname}:{parts.port}"
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=5
            )
        headers = {"Content-Type": content_type}
        if event_ids:
            headers[EVENT_IDS_HEADER] = ",".join(event_ids)
        connection.request("POST", f"{parts.path}?{parts.query}", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}

    def post_card(
        self, url: str, event_ids: Collection[str] = ("e-1",), **card_args: Any
    ) -> tuple[int, dict[str, str]]:
        return self.post(url, json.dumps(card(**card_args)).encode(), event_ids)

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()


@contextmanager
def standin(clock: VirtualClock, **config: Any) -> Iterator[TeamsStandIn]:
    with TeamsStandIn(clock, WebhookConfig(**config)) as server:
        yield server


class ReferenceConsumer:
    """A reference SQS batch handler (not the notifier) posting one card per record.

    ``duplicate``: event ids it posts twice; ``drop``: event ids it skips but reports processed;
    ``fail_times``: event id -> how many invocations it fails that record in (then it succeeds);
    ``idempotent``: remember delivered ids and never post one again.
    """

    def __init__(
        self,
        clock: VirtualClock,
        server: TeamsStandIn,
        *,
        rate: int = 4,
        max_attempts: int = 8,
        duplicate: Collection[str] = (),
        drop: Collection[str] = (),
        fail_times: Mapping[str, int] | None = None,
        idempotent: bool = False,
    ) -> None:
        self.clock = clock
        self.server = server
        self.rate = rate
        self.max_attempts = max_attempts
        self.duplicate = set(duplicate)
        self.drop = set(drop)
        self.fail_left = dict(fail_times or {})
        self.idempotent = idempotent
        self.delivered: set[tuple[str, str]] = set()
        self.next_slot: dict[str, float] = {}
        self.client = Client()
        self.calls = 0

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        self.calls += 1
        records = event["Records"]
        for index, record in enumerate(records):
            if not self.process(record, context):
                return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records[index:]]}
        return {"batchItemFailures": []}

    def process(self, record: dict[str, Any], context: LambdaContext) -> bool:
        channel = record["attributes"]["MessageGroupId"]
        event = json.loads(record["body"])
        event_id = event["id"]
        if self.fail_left.get(event_id, 0) > 0:
            self.fail_left[event_id] -= 1
            return False
        if event_id in self.drop or (self.idempotent and (channel, event_id) in self.delivered):
            return True
        copies = 2 if event_id in self.duplicate else 1
        for _ in range(copies):
            if not self.post(channel, event, context):
                return False
        self.delivered.add((channel, event_id))
        return True

    def post(self, channel: str, event: dict[str, Any], context: LambdaContext) -> bool:
        body = json.dumps(card(f"{event['detail-type']} {event['id']}")).encode()
        for attempt in range(1, self.max_attempts + 1):
            wait = self.next_slot.get(channel, 0.0) - self.clock.now()
            if wait > 0:
                self.clock.sleep(wait)
            if context.get_remaining_time_in_millis() < 5_000:
                return False
            status, headers = self.client.post(self.server.url(channel), body, [event["id"]])
            self.next_slot[channel] = self.clock.now() + 1 / self.rate
            if status == 202:
                return True
            if status == 429:
                self.clock.sleep(float(headers["retry-after"]))
            elif status >= 500:
                self.clock.sleep(min(8.0, 0.5 * 2**attempt))
            else:
                return False
        return False


def only(channel: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda _event: [channel]


def timed(events: list[dict[str, Any]], step: float = 0.0) -> list[TimedEvent]:
    return [TimedEvent(n * step, event) for n, event in enumerate(events)]


# --------------------------------------------------------------------------------------
# Virtual clock
# --------------------------------------------------------------------------------------


def test_virtual_clock_sleeps_without_waiting() -> None:
    clock = VirtualClock()
    started = time.perf_counter()
    for _ in range(1000):
        clock.sleep(0.25)
    assert clock.now() == clock.monotonic() == 250.0
    assert time.perf_counter() - started < 0.5
    clock.advance_to(100.0)  # never backwards
    assert clock.now() == 250.0
    clock.advance_to(300.5)
    assert clock.time() == clock.epoch_at(0.0) + 300.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


# --------------------------------------------------------------------------------------
# Teams stand-in
# --------------------------------------------------------------------------------------


def test_standin_rate_limit_holds_and_answers_429_with_retry_after() -> None:
    clock = VirtualClock()
    client = Client()
    with standin(clock) as server:
        url = server.url("alerts")
        statuses = [client.post_card(url, [f"e-{n}"]) for n in range(10)]
        assert [s for s, _ in statuses] == [202] * 4 + [429] * 6
        assert {h.get("retry-after") for s, h in statuses if s == 429} == {"1"}
        clock.sleep(0.5)
        status, headers = client.post_card(url)
        assert (status, headers["retry-after"]) == (429, "1")  # integer seconds, at least 1
        clock.sleep(0.5)  # t=1.0: the first four left the window (t-1, t]
        assert [client.post_card(url)[0] for _ in range(5)] == [202] * 4 + [429]
        stats = server.stats("alerts")
    client.close()
    assert (stats.accepted, stats.rate_limited, stats.max_in_window, stats.max_admitted_in_window) == (8, 8, 4, 4)
    assert (stats.first_accepted, stats.last_accepted) == (0.0, 1.0)


def test_standin_window_slides_rather_than_resetting_each_second() -> None:
    clock = VirtualClock(start=0.9)
    client = Client()
    with standin(clock) as server:
        url = server.url("alerts")
        assert [client.post_card(url)[0] for _ in range(4)] == [202] * 4
        clock.advance_to(1.1)  # a new calendar second, the same sliding window
        assert client.post_card(url)[0] == 429
        clock.advance_to(1.9)
        assert client.post_card(url)[0] == 202
        # Posts exactly 0.25 s apart: 4 in every 1 s window, never a 429.
        for _ in range(20):
            clock.sleep(0.25)
            assert client.post_card(url)[0] == 202
        stats = server.stats("alerts")
    client.close()
    assert stats.max_in_window == 4 and stats.rate_limited == 1


def test_standin_injected_500s_are_admitted_first_and_take_a_rate_slot() -> None:
    clock = VirtualClock()
    client = Client()
    with standin(clock, fail_requests=frozenset({2, 6})) as server:
        url = server.url("alerts")
        assert [client.post_card(url)[0] for _ in range(5)] == [202, 500, 202, 202, 429]
        clock.sleep(1.0)
        assert [client.post_card(url)[0] for _ in range(2)] == [202, 500]
        stats = server.stats("alerts")
        numbers = [post.number for post in server.accepted("alerts")]
    client.close()
    assert (stats.accepted, stats.injected_errors, stats.rate_limited) == (4, 2, 1)
    assert numbers == [1, 3, 4, 5]


def test_standin_seeded_failure_fraction_is_deterministic() -> None:
    def failed_numbers(seed: int) -> list[int]:
        clock = VirtualClock()
        client = Client()
        with standin(clock, fail_fraction=0.3, seed=seed) as server:
            url = server.url("alerts")
            for _ in range(40):
                client.post_card(url)
                clock.sleep(0.25)
            accepted = {post.number for post in server.accepted("alerts")}
        client.close()
        return [n for n in range(1, 41) if n not in accepted]

    first = failed_numbers(7)
    assert first == failed_numbers(7)
    assert first != failed_numbers(8)
    assert 4 <= len(first) <= 20


def test_standin_outage_window_answers_503_relative_to_the_webhook_origin() -> None:
    clock = VirtualClock()
    client = Client()
    with standin(clock, outage=Outage(10.0, 20.0)) as server:
        url = server.url("alerts")
        server.set_origin("alerts", 100.0)  # this webhook's t=0 is virtual second 100
        clock.advance_to(109.9)
        assert client.post_card(url)[0] == 202
        clock.advance_to(110.0)
        outage = [client.post_card(url)[0] for _ in range(6)]  # no rate slot taken: never 429
        clock.advance_to(119.999)
        outage.append(client.post_card(url)[0])
        clock.advance_to(120.0)
        assert client.post_card(url)[0] == 202
        stats = server.stats("alerts")
        times = [post.at for post in server.accepted("alerts")]
    client.close()
    assert outage == [503] * 7
    assert (stats.outage_failures, stats.accepted, stats.rate_limited) == (7, 2, 0)
    assert times == pytest.approx([9.9, 20.0])


def test_standin_accepts_only_workflows_messages_up_to_28_kb() -> None:
    clock = VirtualClock()
    client = Client()
    good = card()
    not_a_message = {**good, "type": "event"}
    wrong_content_type = {**good, "attachments": [{**good["attachments"][0], "contentType": "text/html"}]}
    no_card = {**good, "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": "hello"}]}
    with standin(clock, rate=100) as server:
        url = server.url("alerts")
        bodies = [
            json.dumps(b).encode() for b in (not_a_message, wrong_content_type, no_card, {**good, "attachments": []})
        ]
        statuses = [client.post(url, body) for body in [*bodies, b"{not json"]]
        assert [s for s, _ in statuses] == [400] * 5
        assert client.post(url, json.dumps(good).encode(), content_type="text/plain")[0] == 400
        assert client.post_card(url, padding=TEAMS_MAX_PAYLOAD_BYTES)[0] == 400
        just_fits = TEAMS_MAX_PAYLOAD_BYTES - len(json.dumps(card()).encode())
        assert client.post_card(url, ["a", "b"], padding=just_fits)[0] == 202
        assert client.post_card(url.replace("/alerts/", "/nowhere/"))[0] == 404
        stats = server.stats("alerts")
        [post] = server.accepted("alerts")
        reasons = [r.reason for r in server.log("alerts") if r.outcome == "rejected"]
    client.close()
    assert (stats.rejected, stats.accepted) == (7, 1)
    assert post.event_ids == ("a", "b") and post.body["type"] == "message"
    assert any("28672" in reason for reason in reasons)


def test_standin_records_the_event_ids_header_of_each_accepted_card() -> None:
    clock = VirtualClock()
    client = Client()
    with standin(clock) as server:
        url = server.url("alerts")
        client.post_card(url, ["id-1"])
        client.post_card(url, [" id-2", "id-3 "])
        client.post_card(url, [])
        assert [post.event_ids for post in server.accepted("alerts")] == [("id-1",), ("id-2", "id-3"), ()]
    client.close()


# --------------------------------------------------------------------------------------
# FIFO queue
# --------------------------------------------------------------------------------------


def fifo(clock: VirtualClock, **options: Any) -> FifoQueue:
    return FifoQueue("acme-notify-alerts.fifo", clock, **options)


def bodies(records: list[dict[str, Any]]) -> list[str]:
    return [r["body"] for r in records]


def test_fifo_batches_in_order_one_batch_in_flight_per_group() -> None:
    clock = VirtualClock()
    queue = fifo(clock, visibility_timeout=30)
    for n in range(25):
        queue.send(f"a{n}", "a")
    for n in range(3):
        queue.send(f"b{n}", "b")
    first = queue.receive_batch()
    assert bodies(first) == [f"a{n}" for n in range(10)]
    assert bodies(queue.receive_batch()) == ["b0", "b1", "b2"]  # group a has a batch in flight
    assert queue.receive_batch() == []
    assert queue.next_change_at() == 30.0
    assert queue.delete(r["receiptHandle"] for r in first) == 10
    assert bodies(queue.receive_batch(5)) == [f"a{n}" for n in range(10, 15)]
    sequence = [int(r["attributes"]["SequenceNumber"]) for r in first]
    assert sequence == sorted(sequence) and len(set(sequence)) == 10


def test_fifo_messages_not_deleted_return_after_the_visibility_timeout_at_the_head() -> None:
    clock = VirtualClock()
    queue = fifo(clock, visibility_timeout=30)
    for n in range(15):
        queue.send(f"m{n}", "alerts")
    batch = queue.receive_batch()
    queue.delete(r["receiptHandle"] for r in batch[:3])
    clock.advance_to(29.9)
    assert queue.receive_batch() == []
    clock.advance_to(30.0)
    again = queue.receive_batch()
    assert bodies(again) == [f"m{n}" for n in range(3, 13)]
    counts = [r["attributes"]["ApproximateReceiveCount"] for r in again]
    assert counts == ["2"] * 7 + ["1"] * 3
    assert (
        again[0]["attributes"]["ApproximateFirstReceiveTimestamp"]
        == batch[3]["attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    # The old receipt handles expired with the timeout: SQS refuses them.
    assert queue.delete(r["receiptHandle"] for r in batch[3:]) == 0
    assert queue.late_deletes == 7


def test_fifo_moves_a_message_to_the_dlq_on_the_receive_that_would_exceed_max_receive_count() -> None:
    clock = VirtualClock()
    dlq = FifoQueue("acme-notify-alerts-dlq.fifo", clock)
    queue = fifo(clock, visibility_timeout=10, dead_letter_queue=dlq, max_receive_count=2)
    queue.send("poison", "alerts")
    queue.send("next", "alerts")
    for expected in ("1", "2"):
        [poison] = queue.receive_batch(1)
        assert poison["attributes"]["ApproximateReceiveCount"] == expected
        clock.sleep(10)
    [record] = queue.receive_batch()  # the third receive: poison moves, next comes
    assert record["body"] == "next" and record["attributes"]["ApproximateReceiveCount"] == "1"
    assert len(dlq) == 1 and queue.moved_to_dlq == 1
    [dead] = dlq.receive_batch()
    assert dead["body"] == "poison" and dead["messageId"] == poison["messageId"]
    assert dead["attributes"]["DeadLetterQueueSourceArn"] == queue.arn


def test_fifo_message_move_task_redrives_with_new_ids_and_receive_count_reset() -> None:
    clock = VirtualClock()
    dlq = FifoQueue("acme-notify-alerts-dlq.fifo", clock)
    queue = fifo(clock, visibility_timeout=10, dead_letter_queue=dlq, max_receive_count=1)
    queue.send("poison", "alerts")
    [first] = queue.receive_batch()
    clock.sleep(10)
    assert queue.receive_batch() == [] and len(dlq) == 1
    assert dlq.start_message_move_task() == 1
    assert len(dlq) == 0
    [again] = queue.receive_batch()
    assert again["body"] == "poison" and again["messageId"] != first["messageId"]
    assert again["attributes"]["ApproximateReceiveCount"] == "1"
    with pytest.raises(ValueError, match="dead-letter"):
        queue.start_message_move_task()


def test_fifo_content_based_deduplication_within_five_minutes() -> None:
    clock = VirtualClock()
    queue = fifo(clock)
    first = queue.send('{"id":"e-1"}', "alerts")
    assert first.deduplicated is False
    [record] = queue.receive_batch()
    queue.delete([record["receiptHandle"]])  # deleted: the deduplication id is still tracked
    clock.advance_to(DEDUPLICATION_INTERVAL_SECONDS - 0.001)
    copy = queue.send('{"id":"e-1"}', "alerts")
    assert copy.deduplicated and copy.message_id == first.message_id and len(queue) == 0
    assert queue.send('{"id":"e-1","detail":{}}', "alerts").deduplicated is False  # another body
    clock.advance_to(DEDUPLICATION_INTERVAL_SECONDS)
    later = queue.send('{"id":"e-1"}', "alerts")
    assert later.deduplicated is False and later.message_id != first.message_id
    assert (len(queue), queue.deduplicated) == (2, 1)
    assert record["attributes"]["MessageDeduplicationId"] == hashlib.sha256(b'{"id":"e-1"}').hexdigest()
    with pytest.raises(ValueError, match="deduplication"):
        fifo(clock, content_based_deduplication=False).send("x", "alerts")


def test_fifo_lose_delete_once_delivers_a_processed_message_again() -> None:
    clock = VirtualClock()
    queue = fifo(clock, visibility_timeout=30)
    sent = queue.send("m", "alerts")
    queue.lose_delete_once(sent.message_id)
    [record] = queue.receive_batch()
    assert queue.delete([record["receiptHandle"]]) == 1  # the caller is told it is gone
    assert queue.lost_deletes == 1 and len(queue) == 1
    clock.sleep(30)
    [again] = queue.receive_batch()
    assert again["messageId"] == record["messageId"] and again["attributes"]["ApproximateReceiveCount"] == "2"
    assert queue.delete([again["receiptHandle"]]) == 1 and len(queue) == 0


def test_fifo_record_has_the_lambda_sqs_event_shape() -> None:
    clock = VirtualClock()
    queue = FifoQueue("acme-notify-alerts.fifo", clock, region="eu-west-1", account="111111111111")
    clock.advance_to(2.5)
    queue.send('{"id":"e-1"}', "alerts")
    clock.advance_to(3.0)
    [record] = queue.receive_batch()
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
        "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount", "SentTimestamp", "SequenceNumber", "MessageGroupId", "SenderId",
        "MessageDeduplicationId", "ApproximateFirstReceiveTimestamp",
    }  # fmt: skip
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "eu-west-1"
    assert record["eventSourceARN"] == "arn:aws:sqs:eu-west-1:111111111111:acme-notify-alerts.fifo"
    assert record["md5OfBody"] == hashlib.md5(b'{"id":"e-1"}', usedforsecurity=False).hexdigest()
    assert record["messageAttributes"] == {} and record["attributes"]["MessageGroupId"] == "alerts"
    assert int(record["attributes"]["SentTimestamp"]) == round(clock.epoch_at(2.5) * 1000)
    assert int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) == round(clock.epoch_at(3.0) * 1000)
    assert all(isinstance(v, str) for v in record["attributes"].values())


# --------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------


def test_burst_is_seeded_unique_and_keeps_the_aws_shape() -> None:
    events = burst(1000, seed=3, services=200, spread_seconds=5.0)
    assert [e.id for e in events] == [e.id for e in burst(1000, seed=3)]
    assert [e.id for e in events] != [e.id for e in burst(1000, seed=4)]
    assert len({e.id for e in events}) == 1000
    assert events[0].at == 0.0 and all(0.0 <= e.at < 5.0 for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert {e.sample for e in events} == {p.name for p in sample_paths()}
    assert len({e.service for e in events}) > 150
    samples = {p.name: json.loads(p.read_text()) for p in sample_paths()}
    for e in events[:100]:
        sample = samples[e.sample]
        assert set(e.event) == set(sample) and set(e.event["detail"]) == set(sample["detail"])
        assert e.event["source"] == sample["source"] and e.event["detail-type"] == sample["detail-type"]
        text = json.dumps(e.event)
        assert e.service in text and not any(n in text for n in ("myPipeline", "my-sample-project", "MyDemoRepo"))
        assert e.event["time"].startswith("2025-06-02T09:00:0")


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def test_lambda_context_follows_the_virtual_clock() -> None:
    clock = VirtualClock(start=50.0)
    context = LambdaContext(
        clock, 300.0, function_name="acme-teams-notifier", region="eu-west-1", account="111111111111", request_id="r-1"
    )
    assert context.get_remaining_time_in_millis() == 300_000
    clock.sleep(299.5)
    assert context.get_remaining_time_in_millis() == 500
    clock.sleep(1)
    assert context.get_remaining_time_in_millis() == 0
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:111111111111:function:acme-teams-notifier"
    assert (context.function_name, context.memory_limit_in_mb, context.aws_request_id) == (
        "acme-teams-notifier",
        256,
        "r-1",
    )


@pytest.mark.parametrize(
    ("response", "kept"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"itemId": "m2"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, None),
        ({"batchItemFailures": "m2"}, None),
        ("ok", None),
        ({"batchItemFailures": [], "at": object()}, None),  # not JSON-serialisable
    ],
)
def test_batch_item_failures_are_read_as_lambda_reads_them(response: Any, kept: set[str] | None) -> None:
    assert kept_message_ids(response, {"m1", "m2"}) == kept


def test_a_burst_of_1000_events_drains_at_the_rate_limit(record_load_report: Callable[[BurstReport], None]) -> None:
    clock = VirtualClock()
    events = burst(1000, seed=1)

    def route(event: Mapping[str, Any]) -> list[str]:
        return ["alerts", "releases"] if event["source"] == "aws.codepipeline" else ["alerts"]

    started = time.perf_counter()
    with standin(clock) as server:
        consumer = ReferenceConsumer(clock, server)
        report = run_burst(events, consumer, clock=clock, standin=server, channels=CHANNELS, route=route)
    record_load_report(report)
    assert time.perf_counter() - started < 10
    assert report.ok, report.problems()
    alerts, releases = report.channels
    assert (alerts.events_in, alerts.unique_events, alerts.cards_accepted, alerts.events_delivered) == (1000,) * 4
    assert 0 < releases.events_in < 1000 and releases.events_delivered == releases.events_in
    assert report.total.events_in == 1000 + releases.events_in
    assert (report.total.duplicates, report.total.lost, report.total.dead_lettered) == (0, 0, 0)
    assert report.total.max_in_window <= 4 and report.total.rate_limited == 0
    assert alerts.invocations >= 100 and alerts.redeliveries == 0 and alerts.reordered == 0
    assert alerts.min_drain_seconds == 249.0  # (1000 - 1) // 4
    assert alerts.drain_seconds is not None and 249.0 <= alerts.drain_seconds <= 251.0
    assert alerts.ratio is not None and 1.0 <= alerts.ratio < 1.01
    text = report.format_report()
    assert "total" in text and "OK" in text and "virtual" in text.lower()
    assert report.to_markdown().startswith("| channel | events in |")


def test_injected_500s_and_an_outage_happen_as_configured_and_are_counted() -> None:
    clock = VirtualClock()
    events = burst(200, seed=2)
    config = WebhookConfig(fail_requests=frozenset({5, 17, 18}), outage=Outage(20.0, 80.0))
    with TeamsStandIn(clock, config) as server:
        consumer = ReferenceConsumer(clock, server)
        report = run_burst(events, consumer, clock=clock, standin=server, channels=["alerts"])
    [alerts] = report.channels
    assert report.ok, report.problems()
    assert alerts.server_errors == 3 and alerts.outage_failures > 0 and alerts.events_delivered == 200
    # 200 cards + 3 failed posts at 4/s, plus the 60 s outage inside the drain.
    assert alerts.min_drain_seconds == (203 - 1) // 4 + 60.0
    assert alerts.drain_seconds is not None and alerts.drain_seconds >= alerts.min_drain_seconds
    assert alerts.max_in_window <= 4


def test_the_report_catches_a_duplicate_and_a_loss() -> None:
    clock = VirtualClock()
    events = burst(50, seed=5)
    twice, never = events[10].id, events[30].id
    with standin(clock) as server:
        consumer = ReferenceConsumer(clock, server, duplicate=[twice], drop=[never])
        report = run_burst(events, consumer, clock=clock, standin=server, channels=["alerts"])
    [alerts] = report.channels
    assert not report.ok
    assert (alerts.duplicates, alerts.duplicate_ids) == (1, (twice,))
    assert (alerts.lost, alerts.lost_ids) == (1, (never,))
    assert (alerts.cards_accepted, alerts.events_delivered, alerts.unique_events) == (50, 49, 50)
    assert report.problems() == ["alerts: duplicates=1", "alerts: lost=1"]
    assert "PROBLEMS" in report.format_report()


def test_a_lost_delete_is_redelivered_and_a_non_idempotent_consumer_duplicates() -> None:
    events = burst(30, seed=6)
    redelivered = events[12].id
    results = []
    for idempotent in (False, True):
        clock = VirtualClock()
        with standin(clock) as server:
            consumer = ReferenceConsumer(clock, server, idempotent=idempotent)
            results.append(
                run_burst(
                    events,
                    consumer,
                    clock=clock,
                    standin=server,
                    channels=["alerts"],
                    lose_delete_once=[redelivered],
                    visibility_timeout_seconds=60,
                ).channels[0]
            )
    naive, careful = results
    assert naive.redeliveries >= 1 and naive.duplicate_ids == (redelivered,) and naive.lost == 0
    assert careful.redeliveries == naive.redeliveries and careful.duplicates == 0 and careful.lost == 0


def test_eventbridge_sending_an_event_twice() -> None:
    [one, two] = [e.event for e in burst(2, seed=7)]
    changed = {**one, "detail": {**one["detail"], "version": "99"}}  # same id, another body
    events = [TimedEvent(0.0, one), TimedEvent(1.0, two), TimedEvent(2.0, one), TimedEvent(400.0, one)]
    clock = VirtualClock()
    with standin(clock) as server:
        report = run_burst(events, ReferenceConsumer(clock, server), clock=clock, standin=server, channels=["alerts"])
    [alerts] = report.channels
    # The copy at 2 s is deduplicated by content; the one at 400 s is past the 5 minutes.
    assert (alerts.sends_deduplicated, alerts.events_in, alerts.unique_events) == (1, 3, 2)
    assert alerts.duplicate_ids == (one["id"],)
    clock = VirtualClock()
    with standin(clock) as server:
        consumer = ReferenceConsumer(clock, server, idempotent=True)
        events = [TimedEvent(0.0, one), TimedEvent(1.0, changed)]
        report = run_burst(events, consumer, clock=clock, standin=server, channels=["alerts"])
    [alerts] = report.channels
    assert (alerts.sends_deduplicated, alerts.events_in, alerts.unique_events, alerts.duplicates) == (0, 2, 1, 0)


def test_a_failing_record_ends_in_the_dlq_and_a_redrive_delivers_it() -> None:
    # All 25 at t=0: batches of records 0-9, 10-19, 20-24.
    events = timed([e.event for e in burst(25, seed=8)])
    poison = events[9].id  # the last of the first batch

    def drain(fail_times: Mapping[str, int], redrive: bool) -> Any:
        clock = VirtualClock()
        with standin(clock) as server:
            consumer = ReferenceConsumer(clock, server, fail_times=fail_times)
            return run_burst(
                events,
                consumer,
                clock=clock,
                standin=server,
                channels=["alerts"],
                max_receive_count=3,
                visibility_timeout_seconds=60,
                redrive=redrive,
            ).channels[0]

    stuck = drain({poison: 99}, redrive=False)
    assert (stuck.dead_lettered, stuck.dead_lettered_ids, stuck.lost, stuck.dlq_messages) == (1, (poison,), 0, 1)
    assert stuck.problems() == ["alerts: dead_lettered=1"]
    # Receives: [0-9] (poison fails last), then twice [9-18] (poison first: all 10 reported), then
    # poison is dead-lettered and 10-18, received twice before, come a third time with 19.
    assert stuck.events_delivered == 24 and stuck.reported_failures == 1 + 10 + 10
    assert stuck.redeliveries == 1 + 10 + 9
    redriven = drain({poison: 3}, redrive=True)  # fails 3 receives, dead-lettered, then moved back
    assert (redriven.redriven, redriven.dead_lettered, redriven.lost, redriven.events_delivered) == (1, 0, 0, 25)
    # FIFO: a handler reports the failed record and every later one, so the records behind a
    # poison message in its batch reach maxReceiveCount with it and are dead-lettered too.
    early = events[3].id
    dragged = drain({early: 99}, redrive=False)
    assert dragged.dead_lettered_ids == tuple(sorted(e.id for e in events[3:10]))


@pytest.mark.parametrize("misbehaviour", ["raise", "invalid", "timeout"])
def test_an_exception_an_invalid_response_or_a_timeout_retries_the_whole_batch(misbehaviour: str) -> None:
    events = timed([e.event for e in burst(12, seed=9)])  # all at t=0: a first batch of 10
    clock = VirtualClock()
    with standin(clock) as server:
        consumer = ReferenceConsumer(clock, server, idempotent=True)
        first = True

        def invoke(event: dict[str, Any], context: LambdaContext) -> Any:
            nonlocal first
            if first:
                first = False
                if misbehaviour == "raise":
                    raise RuntimeError("boom")
                if misbehaviour == "timeout":
                    clock.sleep(301)
                    return {"batchItemFailures": []}
                return {"batchItemFailures": [{"itemIdentifier": ""}]}
            return consumer(event, context)

        report = run_burst(
            events, invoke, clock=clock, standin=server, channels=["alerts"], visibility_timeout_seconds=600
        )
    [alerts] = report.channels
    assert alerts.redeliveries == 10  # the whole first batch came back
    assert alerts.events_delivered == 12 and alerts.lost == 0 and alerts.duplicates == 0
    assert (alerts.failed_invocations, alerts.timeouts) == ((0, 1) if misbehaviour == "timeout" else (1, 0))
    assert alerts.problems() == (["alerts: timeouts=1"] if misbehaviour == "timeout" else [])
    assert ("boom" in alerts.first_error) == (misbehaviour == "raise")
    assert ("invalid response" in alerts.first_error) == (misbehaviour == "invalid")


def test_the_bounds_stop_a_handler_that_never_drains() -> None:
    clock = VirtualClock()
    events = burst(20, seed=10)
    started = time.perf_counter()
    with standin(clock) as server:

        def never(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

        report = run_burst(
            events,
            never,
            clock=clock,
            standin=server,
            channels=["alerts"],
            max_receive_count=1000,
            visibility_timeout_seconds=30,
            max_invocations=50,
        )
    [alerts] = report.channels
    assert alerts.aborted and alerts.invocations == 50 and alerts.lost == 20
    assert not report.ok and time.perf_counter() - started < 2
