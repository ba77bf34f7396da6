"""The notifier itself under a burst: >= 1,000 real-shaped events through FIFO queues to Teams.

The function under test is the deployed handler's SQS path (``handle_sqs`` with the runtime and
dependencies ``handler`` builds), loaded with the settings the notifications stack gives it. What
is simulated, and how:

- the queues: ``tests/load/fifo_queue`` (one FIFO queue per channel, one message group, 5-minute
  content deduplication, visibility timeout 6 x the function timeout, maxReceiveCount 5, a FIFO
  dead-letter queue), polled as Lambda's event source mapping does with ReportBatchItemFailures
  (``tests/load/driver``): batches of 10, one batch in flight per group, deletes of what the
  response does not list, whole-batch retry after the visibility timeout on an error or timeout;
- Teams: ``tests/load/teams_standin`` on 127.0.0.1 (real HTTP), 4 posts per sliding second per
  webhook, 429 with Retry-After above that, injected 500s and a 30-second outage (503);
- time: a virtual clock; the function's sleeps (pacing, Retry-After, back-off) and its deadline
  (the context's remaining time) run on it, so hours of queue time take seconds of wall time;
- AWS: moto for the idempotency table, the webhook secrets and the parking dead-letter queues.

The events: a seeded burst drawn from every EventBridge sample in tests/fixtures/aws-events
(real AWS shapes, renamed per service), routed to a channel only when the channel's routes name
the event's kind, as the channel's EventBridge rule does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda"))  # notifier_helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "teams_notifier"))  # the notifier's modules

from notifier_events import EVENT_KINDS, classify, parse_event
from notifier_helpers import (
    CLIENTS,
    load_notifier,
    mocked_aws,
    put_webhook_secret,
)

from tests.load.driver import BurstReport, LambdaContext, run_burst
from tests.load.events import TimedEvent, burst
from tests.load.teams_standin import Outage, TeamsStandIn, WebhookConfig
from tests.load.virtual_clock import VirtualClock

FUNCTION_TIMEOUT_SECONDS = 120.0  # cdk_constructs/teams_notifier.py
RATE = 4  # posts per second per webhook: Microsoft's documented limit, the channel default
OUTAGE = Outage(start=60.0, end=90.0)  # 30 s of 503s, a minute into the burst
BURST_EVENTS = 1200

ALL_KINDS_ROUTE = "*"
RELEASE_KINDS = (
    "pipeline_started", "pipeline_succeeded", "pipeline_failed", "approval_waiting", "deployment_started",
    "deployment_succeeded", "deployment_failed",
)  # fmt: skip


RESTART_SAMPLES = (
    "codepipeline-pipeline-execution-started.json",
    "notifier-codedeploy-deployment-start.json",
    "codepipeline-pipeline-execution-succeeded.json",
)


@dataclass
class Scenario:
    report: BurstReport
    events: list[TimedEvent]
    routed: dict[str, int]
    standin: TeamsStandIn


# What each channel subscribes to: "alerts" takes every kind, "releases" the pipeline and
# deployment lifecycle (so the two queues hold different, overlapping mixes).
ROUTES: dict[str, Any] = {"alerts": ALL_KINDS_ROUTE, "releases": RELEASE_KINDS}


def channels_for(kind: str) -> list[str]:
    """The channels whose routes name ``kind``."""
    return [c for c, kinds in ROUTES.items() if kinds == ALL_KINDS_ROUTE or kind in kinds]


def route(event: Mapping[str, Any]) -> list[str]:
    """The channels whose rule would match an event: its kind (as the notifier classifies it) is routed there."""
    return channels_for(classify(parse_event(dict(event)), "-pr").value)


def run_scenario(
    monkeypatch: pytest.MonkeyPatch,
    *,
    count: int = BURST_EVENTS,
    summaries_after: int | None,
    webhook: WebhookConfig,
    lose_delete_once: int = 0,
    seed: int = 7,
    redrive: bool = False,
    samples: tuple[str, ...] | None = None,
    record: Callable[[BurstReport], None],
) -> Scenario:
    """Run the burst; the report is recorded for the terminal summary and printed."""
    clock = VirtualClock()
    events = burst(count, seed=seed, services=300, spread_seconds=20.0, samples=samples)
    with TeamsStandIn(clock, webhook) as standin, mocked_aws(None):
        sqs = CLIENTS.client("sqs")
        channels = ("alerts", "releases")
        dead_letters = {
            c: sqs.create_queue(QueueName=f"acme-notify-{c}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            for c in channels
        }
        for channel in channels:
            put_webhook_secret(channel, standin.url(channel))
        module = load_notifier(
            monkeypatch,
            POWERTOOLS_LOG_LEVEL="WARNING",  # 1,500 cards x 3 INFO lines would be noise here
            ROUTES={kind: channels_for(kind) for kind in EVENT_KINDS},
            CHANNEL_QUEUES={f"acme-notify-{c}.fifo": c for c in channels},
            DEAD_LETTER_QUEUES=dead_letters,
            RATE_LIMITS=dict.fromkeys(channels, RATE),
            BURST_SUMMARY_AFTER="0" if summaries_after is None else str(summaries_after),
            MAX_ATTEMPTS="40",
            HTTP_TIMEOUT_SECONDS="10",
        )
        settings = module.SETTINGS
        dependencies = module.build_dependencies(settings, session=CLIENTS, sleep=clock.sleep)
        runtime = module.build_runtime(settings, session=CLIENTS, sleep=clock.sleep, monotonic=clock.monotonic)

        def invoke(event: dict[str, Any], context: LambdaContext) -> Any:
            return module.handle_sqs(event, context, settings, dependencies, runtime)

        routed = {c: sum(1 for e in events if c in route(e.event)) for c in channels}
        lost_deletes = [e.id for e in events[: lose_delete_once * 7 : 7]]
        report = run_burst(
            events,
            invoke,
            clock=clock,
            standin=standin,
            channels=channels,
            route=route,
            function_timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
            lose_delete_once=lost_deletes,
            redrive=redrive,
        )
    record(report)
    print(report.format_report())
    return Scenario(report, events, routed, standin)


WEBHOOK = WebhookConfig(rate=RATE, fail_fraction=0.02, seed=3, outage=OUTAGE, latency_seconds=0.05)


def test_a_burst_of_1200_events_drains_at_the_rate_limit_with_nothing_lost_or_duplicated(
    monkeypatch: pytest.MonkeyPatch, record_load_report: Callable[[BurstReport], None]
) -> None:
    """One card per event (summaries off): the rate limit is the floor, and the notifier keeps to it."""
    scenario = run_scenario(monkeypatch, summaries_after=None, webhook=WEBHOOK, record=record_load_report)
    report = scenario.report
    total = report.total
    assert total.unique_events >= 1000, scenario.routed
    assert report.problems() == []
    assert total.lost == 0 and total.duplicates == 0 and total.dead_lettered == 0
    assert total.events_delivered == total.unique_events
    assert total.server_errors > 0 and total.outage_failures > 0  # the faults really happened
    for channel in report.channels:
        assert channel.max_in_window <= RATE, channel
        assert channel.ratio is not None and channel.ratio <= 1.10, channel
        assert channel.reordered == 0, channel  # FIFO: first deliveries in enqueue order


def test_burst_summaries_and_lost_deletes_post_every_event_once(
    monkeypatch: pytest.MonkeyPatch, record_load_report: Callable[[BurstReport], None]
) -> None:
    """A platform change restarts every pipeline: 1,000 events of three kinds, summaries on (the
    default: more than 10 cards of one kind in a minute collapse into one), 12 deletes lost.

    A lost delete holds the channel's only message group until the visibility timeout (720 s):
    SQS FIFO delivers nothing more from a group while one of its messages is in flight. The drain
    time is reported, not held to the rate floor; what must hold is once-only delivery.
    """
    scenario = run_scenario(
        monkeypatch,
        count=1000,
        summaries_after=10,
        webhook=WEBHOOK,
        lose_delete_once=12,
        seed=11,
        samples=RESTART_SAMPLES,
        record=record_load_report,
    )
    report = scenario.report
    total = report.total
    assert total.unique_events >= 1000, scenario.routed
    assert report.problems() == []
    assert total.lost == 0 and total.duplicates == 0 and total.events_delivered == total.unique_events
    assert total.redeliveries >= 12  # the lost deletes came back; idempotency kept them from posting again
    assert total.cards_accepted < total.unique_events / 2  # bursts collapsed into summary cards
    summaries = [p for p in scenario.standin.accepted() if len(p.event_ids) > 1]
    assert summaries
    for channel in report.channels:
        assert channel.max_in_window <= RATE, channel


def test_an_hour_long_outage_dead_letters_and_the_redrive_delivers_each_event_once(
    monkeypatch: pytest.MonkeyPatch, record_load_report: Callable[[BurstReport], None]
) -> None:
    """Teams down for an hour: the first batches exhaust maxReceiveCount (5) into the dead-letter
    queue; once the queue is empty the dead-letter queue is moved back (StartMessageMoveTask, as
    ``python -m tools.notifications redrive`` does) and everything is delivered, once."""
    down = WebhookConfig(rate=RATE, outage=Outage(0.0, 3600.0), latency_seconds=0.05)
    scenario = run_scenario(
        monkeypatch, count=60, summaries_after=None, webhook=down, seed=5, redrive=True, record=record_load_report
    )
    report = scenario.report
    total = report.total
    print(f"moved back from the dead-letter queues: {total.redriven}")
    assert total.redriven > 0  # the outage really exhausted the receives
    assert total.lost == 0 and total.duplicates == 0 and total.dead_lettered == 0
    assert total.events_delivered == total.unique_events > 0
    assert report.problems() == []
