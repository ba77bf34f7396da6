"""One SQS batch from a channel's FIFO queue -> that channel's Teams webhook, in order, at its rate.

Lambda's event source mapping hands the function up to 10 records of one channel at a time (the
queue's single message group). Powertools' SqsFifoPartialProcessor runs them in order and stops at
the first failure, reporting it and every later record as batch item failures, so SQS gives them
back in the same order and nothing after a failed card overtakes it. What each record does:

- an event the channel is routed: one card, claimed per (event, channel) in the idempotency table
  so a redelivered or redriven record never posts twice;
- a burst: past ``burst_summary_after`` cards of one kind on the channel within a minute, the
  batch's remaining events of that kind become one summary card (each event still claimed);
- a card Teams refuses (4xx other than 429), a secret without a usable URL, or a message that is
  not an event: parked at once in the channel's dead-letter queue (with the reason), so it does
  not hold the channel up for five receives; `python -m tools.notifications redrive` brings the
  dead letters back once the cause is fixed;
- a post that did not get through in time (Teams down, throttling, timeouts): the record fails,
  and SQS redelivers it and the rest after the visibility timeout (after 5 receives, the
  dead-letter queue).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from notifier_cards import CardContext, build_card, build_summary_card, summary_item, workflows_message
from notifier_delivery import DeliveryResult
from notifier_dispatch import Deadline, Dependencies, post_to_webhook
from notifier_events import AwsEvent, EventKind, MalformedEventError, classify, log_fields, parse_event
from notifier_idempotency import Claim, post_together
from notifier_logging import logger
from notifier_secrets import WebhookSecretError
from notifier_settings import Settings

BURST_WINDOW_SECONDS = 60.0
EVENT_IDS_HEADER = "X-Notifier-Event-Ids"
# A record is not started with less time than this left (one attempt, its slot and the margin).
MIN_RECORD_SECONDS = 10.0


class RecordFailedError(Exception):
    """The record was not delivered and should come back (SQS redelivers it after the visibility timeout)."""


class Parker(Protocol):
    def __call__(self, channel: str, record: SQSRecord, reason: str) -> None: ...


@dataclass
class BurstWindow:
    """Individual cards posted per (channel, kind) in the last minute, in this execution environment."""

    monotonic: Callable[[], float] = time.monotonic
    _posted: dict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def recent(self, channel: str, kind: str) -> int:
        times = self._posted[(channel, kind)]
        horizon = self.monotonic() - BURST_WINDOW_SECONDS
        while times and times[0] <= horizon:
            times.popleft()
        return len(times)

    def posted(self, channel: str, kind: str) -> None:
        self._posted[(channel, kind)].append(self.monotonic())


@dataclass
class _Item:
    """What one record of the batch is, decided before anything is posted."""

    record: SQSRecord
    event: AwsEvent | None = None
    kind: EventKind | None = None
    problem: str | None = None  # why it is not an event
    summary: _Summary | None = None  # set when the record is part of a burst summary


@dataclass
class _Summary:
    kind: EventKind
    items: list[_Item] = field(default_factory=list)
    outcome: str | None = None  # posted | done | failed, once the first of its records ran


@dataclass(frozen=True)
class BatchRuntime:
    """What the batch path needs beyond the single-event dependencies."""

    park: Parker
    pace: Callable[[str], float]
    hold: Callable[[str, float], None]
    bursts: BurstWindow


def channel_of(record: Mapping[str, Any], settings: Settings) -> str | None:
    """The channel whose queue the record came from (its ARN ends in the queue name)."""
    arn = record.get("eventSourceARN")
    return settings.channel_queues.get(arn.rsplit(":", 1)[-1]) if isinstance(arn, str) else None


def _read(record: SQSRecord, settings: Settings) -> _Item:
    item = _Item(record)
    try:
        item.event = parse_event(json.loads(record.body))
    except json.JSONDecodeError as error:
        item.problem = f"body is not JSON ({error.msg} at position {error.pos})"
        return item
    except MalformedEventError as error:
        item.problem = str(error)
        return item
    item.kind = classify(item.event, settings.pull_request_project_suffix)
    return item


def _plan(items: list[_Item], channel: str, settings: Settings, bursts: BurstWindow) -> None:
    """Mark the records that go into a burst summary: those past the per-minute allowance of their kind."""
    allowance = settings.burst_summary_after
    if allowance <= 0:
        return
    by_kind: dict[EventKind, list[_Item]] = defaultdict(list)
    for item in items:
        if item.kind is not None and item.kind is not EventKind.UNRECOGNISED:
            by_kind[item.kind].append(item)
    for kind, of_kind in by_kind.items():
        individual = max(0, allowance - bursts.recent(channel, kind.value))
        overflow = of_kind[individual:]
        if len(overflow) >= 2:  # a summary of one card is just the card
            summary = _Summary(kind, overflow)
            for item in overflow:
                item.summary = summary


def _routed(item: _Item, channel: str, settings: Settings) -> bool:
    if item.kind is EventKind.UNRECOGNISED:
        return channel in settings.fallback_channels
    return item.kind is not None and channel in settings.channels_for(item.kind.value)


class ChannelBatch:
    """The record handler for one batch of one channel."""

    def __init__(
        self,
        channel: str,
        settings: Settings,
        deps: Dependencies,
        runtime: BatchRuntime,
        deadline: Deadline,
        own_account: str | None = None,
    ) -> None:
        self.own_account = own_account
        self.channel = channel
        self.settings = settings
        self.deps = deps
        self.runtime = runtime
        self.deadline = deadline
        self.items: dict[str, _Item] = {}
        self.context = CardContext.of(settings)
        self.counts: dict[str, int] = defaultdict(int)

    def read(self, records: list[Mapping[str, Any]]) -> None:
        items = [_read(SQSRecord(dict(raw)), self.settings) for raw in records]
        _plan(items, self.channel, self.settings, self.runtime.bursts)
        self.items = {item.record.message_id: item for item in items}

    # ----- the record handler Powertools calls, in order -----

    def __call__(self, record: SQSRecord) -> str:
        item = self.items.get(record.message_id) or _read(record, self.settings)
        fields: dict[str, Any] = {"channel": self.channel, "message_id": record.message_id}
        if item.event is None:
            self._park(item, "not_an_event", item.problem or "not an event", fields)
            return "parked"
        fields.update(log_fields(item.event, item.kind, self.settings.environments))
        if not _routed(item, self.channel, self.settings):
            logger.info("not routed to this channel", **fields)
            self.counts["not_routed"] += 1
            return "not_routed"
        if self.deadline.remaining_seconds() < MIN_RECORD_SECONDS:
            raise RecordFailedError("not enough time left in this invocation; SQS will deliver it again")
        if item.summary is not None:
            return self._summary(item, item.summary, fields)
        return self._single(item, fields)

    def _single(self, item: _Item, fields: dict[str, Any]) -> str:
        assert item.event is not None and item.kind is not None
        event, kind = item.event, item.kind
        commit = self.deps.commit_lookup(event, kind, self.own_account)
        card = build_card(event, kind, self.context, commit)
        body = json.dumps(workflows_message(card), ensure_ascii=False).encode("utf-8")
        outcome = self._post([event.get_id], kind, body, fields, single=True)
        return outcome

    def _summary(self, item: _Item, summary: _Summary, fields: dict[str, Any]) -> str:
        if summary.outcome is not None:  # the first record of the summary posted it (or found it done)
            self.counts["summarized"] += 1
            return f"in_summary_{summary.outcome}"
        events_by_id: dict[str, AwsEvent] = {}
        for member in summary.items:
            if member.event is not None and _routed(member, self.channel, self.settings):
                events_by_id.setdefault(member.event.get_id, member.event)
        ids = list(events_by_id)

        def build(carried: list[str]) -> bytes:
            items = [summary_item(events_by_id[i], summary.kind, self.context) for i in carried]
            card = build_summary_card(summary.kind, items, self.context, int(BURST_WINDOW_SECONDS))
            return json.dumps(workflows_message(card), ensure_ascii=False).encode("utf-8")

        fields = {**fields, "summary_of": len(ids)}
        summary.outcome = self._post(ids, summary.kind, build, fields, single=False)
        self.counts["summarized"] += 1
        return summary.outcome

    # ----- posting -----

    def _post(
        self,
        event_ids: list[str],
        kind: EventKind,
        body: bytes | Callable[[list[str]], bytes],
        fields: dict[str, Any],
        *,
        single: bool,
    ) -> str:
        channel = self.channel
        secret_id = self.settings.channel_secrets[channel]
        try:
            webhook = self.deps.secrets.webhook(secret_id)
        except WebhookSecretError as error:
            message = str(error)
            logger.error("webhook secret unusable", secret_id=secret_id, error=message, **fields)
            if message.startswith("cannot read secret"):
                raise RecordFailedError(message) from None  # Secrets Manager trouble: try again later
            self._park_all(event_ids, "unusable_secret", message, fields)
            return "parked"

        def wait_for_slot() -> None:
            self.runtime.pace(channel)

        def send(carried: list[str]) -> DeliveryResult:
            payload = body if isinstance(body, bytes) else body(carried)
            return post_to_webhook(
                webhook,
                secret_id,
                payload,
                self.deps,
                self.deadline.remaining_seconds,
                {**fields, "card_bytes": len(payload)},
                headers={EVENT_IDS_HEADER: ",".join(carried)},
                before_attempt=wait_for_slot,
                retry_after=lambda seconds: self.runtime.hold(channel, seconds),
            )

        if single:
            claim, result = self.deps.deliveries.post(
                event_ids[0], channel, kind.value, lambda: send(event_ids), self.deadline.remaining_seconds
            )
            carried = event_ids if claim is Claim.POSTED else []
        else:
            claim, result, carried = post_together(
                self.deps.deliveries, event_ids, channel, kind.value, send, self.deadline.remaining_seconds
            )
        if claim is Claim.POSTED:
            if single:
                self.runtime.bursts.posted(channel, kind.value)
            self.counts["posted"] += 1
            logger.info(
                "posted",
                events=len(carried),
                attempts=result.attempts if result else None,
                status_code=result.status_code if result else None,
                **fields,
            )
            return "posted"
        if claim is Claim.DONE:
            self.counts["duplicates"] += 1
            logger.info("duplicate: already posted to this channel", **fields)
            return "done"
        if claim is Claim.IN_PROGRESS:
            # Another invocation claimed it and has not finished (or died): come back after its claim expires.
            raise RecordFailedError("another invocation holds the claim")
        outcome = result.outcome if result else "claim_failed"
        if outcome == "rejected":
            self.deps.secrets.invalidate(secret_id)  # a rotated URL is picked up next time
            self._park_all(
                event_ids, "rejected", f"the webhook refused the card (HTTP {result and result.status_code})", fields
            )
            return "parked"
        logger.error("channel failed; the batch goes back to the queue", outcome=outcome, **fields)
        raise RecordFailedError(f"not delivered: {outcome}")

    # ----- parking -----

    def _park(self, item: _Item, reason: str, detail: str, fields: Mapping[str, Any]) -> None:
        logger.error("parked in the dead-letter queue", reason=reason, detail=detail[:300], **fields)
        self.runtime.park(self.channel, item.record, f"{reason}: {detail}"[:256])
        self.counts["parked"] += 1

    def _park_all(self, event_ids: list[str], reason: str, detail: str, fields: Mapping[str, Any]) -> None:
        wanted = set(event_ids)
        for item in self.items.values():
            if item.event is not None and item.event.get_id in wanted:
                self._park(item, reason, detail, fields)
                if item.summary is not None:
                    item.summary.outcome = "parked"
                wanted.discard(item.event.get_id)


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def handle_batch(
    event: Mapping[str, Any],
    context: Any,
    settings: Settings,
    deps: Dependencies,
    runtime: BatchRuntime,
    own_account: str | None = None,
) -> dict[str, Any]:
    """Process one SQS batch; returns the partial batch response Lambda expects."""
    records = list(event.get("Records") or [])
    channels = {channel_of(record, settings) for record in records}
    if len(channels) != 1 or None in channels:
        sources = sorted({str(r.get("eventSourceARN")) for r in records})
        logger.error("batch from an unknown or mixed queue; every record goes back", sources=sources)
        return {"batchItemFailures": [{"itemIdentifier": r.get("messageId")} for r in records]}
    (channel,) = channels
    assert channel is not None
    batch = ChannelBatch(channel, settings, deps, runtime, Deadline.from_context(context), own_account)
    batch.read(records)
    logger.info("batch received", channel=channel, records=len(records))
    processor = SqsFifoPartialProcessor()
    # A batch that failed entirely (Teams down) is reported record by record like a partial one, not
    # raised: the records return to the queue either way, and the backlog alarm watches a long outage.
    # A public attribute of every Powertools batch processor; SqsFifoPartialProcessor's constructor does
    # not take it yet (aws-powertools/powertools-lambda-python#7596).
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(event=dict(event), record_handler=batch, processor=processor, context=context)
    logger.info(
        "batch handled",
        channel=channel,
        records=len(records),
        failed=len(response.get("batchItemFailures", [])),
        outcomes=dict(batch.counts),
    )
    return dict(response)
