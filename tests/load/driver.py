"""Lambda's SQS event source mapping, in virtual time, driving a batch handler against the stand-in.

``run_burst`` sends each event into one FIFO queue per Teams channel (as the EventBridge rules do:
queue ``<platform>-notify-<channel>.fifo``, message group = the channel, content-based
deduplication), then for each channel polls like the event source mapping with
ReportBatchItemFailures: receive a batch (up to ``batch_size``, one group, one batch in flight),
invoke the handler with ``{"Records": [...]}`` and a Lambda context whose remaining time follows
the virtual clock, and delete every message not listed in ``batchItemFailures``. If the handler
raises, returns an invalid response (not JSON-serialisable, ``batchItemFailures`` not a list, an
``itemIdentifier`` that is missing, empty or not in the batch) or runs past the function timeout,
nothing is deleted: the whole batch comes back after the visibility timeout. When nothing is
visible the clock jumps to the next arrival or visibility expiry.

Channels one after another: each channel's queue, webhook and message group are independent of
the others', so channel k is simulated alone on its own timeline, which starts at virtual time
``origin_k`` (after channel k-1 finished, plus an hour) and counts as t=0 for that channel's
arrivals, its webhook's outage window (``TeamsStandIn.set_origin``) and every time in its report.
This is equivalent to the channels running concurrently from a common t=0 with the same absolute
outage window. The clock never goes backwards, and the handler's module state (as in one warm
Lambda execution environment) carries over from one channel to the next.

Wall time stays small: virtual time only moves when the handler (or the stand-in's latency) sleeps.
"""

from __future__ import annotations

import json
import random
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from tests.load.events import TimedEvent, body_of
from tests.load.fifo_queue import FifoQueue
from tests.load.teams_standin import TeamsStandIn
from tests.load.virtual_clock import VirtualClock, seeded_random

CHANNEL_GAP_SECONDS = 3600.0


class LambdaContext:
    """A Lambda context whose remaining time follows the virtual clock (Powertools reads the rest)."""

    def __init__(
        self,
        clock: VirtualClock,
        timeout_seconds: float,
        *,
        function_name: str,
        region: str,
        account: str,
        request_id: str,
        memory_limit_in_mb: int = 256,
    ) -> None:
        self._clock = clock
        self._deadline = clock.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2025/06/02/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.monotonic()) * 1000))


Invoke = Callable[[dict[str, Any], LambdaContext], Any]


@dataclass
class ChannelReport:
    channel: str
    queue: str = ""
    events_in: int = 0  # messages enqueued (sends the queue did not deduplicate)
    sends_deduplicated: int = 0  # sends dropped by the 5-minute content deduplication
    unique_events: int = 0  # distinct event ids enqueued: the cards expected
    cards_accepted: int = 0  # posts the stand-in answered 202
    events_delivered: int = 0  # expected event ids on at least one accepted card
    duplicates: int = 0  # extra acceptances of an expected event id (on this channel)
    lost: int = 0  # expected, never accepted, and not in the dead-letter queue
    dead_lettered: int = 0  # expected, never accepted, and in the dead-letter queue at the end
    dlq_messages: int = 0  # messages in the dead-letter queue at the end (delivered or not)
    unexpected: int = 0  # event ids on accepted cards that were never enqueued on this channel
    unattributed_cards: int = 0  # accepted cards without an X-Notifier-Event-Ids header
    rate_limited: int = 0  # 429s
    server_errors: int = 0  # injected 500s
    outage_failures: int = 0  # 503s during the outage
    rejected: int = 0  # 400s: not a Workflows message, or over 28 KB
    max_in_window: int = 0  # most accepted posts in any 1 s window (<= rate: the limit held)
    invocations: int = 0
    failed_invocations: int = 0  # raised or returned an invalid response: the whole batch retried
    timeouts: int = 0  # ran past the function timeout: the whole batch retried
    reported_failures: int = 0  # batchItemFailures entries
    redeliveries: int = 0  # records delivered with ApproximateReceiveCount > 1
    late_deletes: int = 0  # deletes refused because the visibility timeout had run out
    redriven: int = 0  # messages moved back from the dead-letter queue
    reordered: int = 0  # expected ids first delivered before an id enqueued ahead of them
    drain_seconds: float | None = None  # first enqueue -> last accepted post (virtual seconds)
    min_drain_seconds: float = 0.0  # what the rate limit and the outage allow at best
    ratio: float | None = None  # drain / min
    aborted: str = ""  # why the driver gave up (its bounds), if it did
    first_error: str = ""  # the first exception or invalid response of an invocation
    duplicate_ids: tuple[str, ...] = ()
    lost_ids: tuple[str, ...] = ()
    dead_lettered_ids: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        """What a correct handler must never do, in words (empty: nothing wrong)."""
        found = []
        for name in ("duplicates", "lost", "dead_lettered", "unexpected", "rejected", "timeouts"):
            value = getattr(self, name)
            if value:
                found.append(f"{self.channel}: {name}={value}")
        if self.aborted:
            found.append(f"{self.channel}: aborted ({self.aborted})")
        return found


_BLANK = ChannelReport("")
_SUMMED = [f.name for f in fields(ChannelReport) if type(getattr(_BLANK, f.name)) is int and f.name != "max_in_window"]


@dataclass
class BurstReport:
    channels: list[ChannelReport]
    rate: int
    wall_seconds: float
    virtual_seconds: float  # the longest channel timeline (channels run concurrently in reality)
    total: ChannelReport = field(init=False)

    def __post_init__(self) -> None:
        total = ChannelReport("total")
        for name in _SUMMED:
            setattr(total, name, sum(getattr(c, name) for c in self.channels))
        total.max_in_window = max((c.max_in_window for c in self.channels), default=0)
        drains = [c.drain_seconds for c in self.channels if c.drain_seconds is not None]
        total.drain_seconds = max(drains) if drains else None
        total.min_drain_seconds = max((c.min_drain_seconds for c in self.channels), default=0.0)
        total.ratio = _ratio(total.drain_seconds, total.min_drain_seconds)
        total.aborted = "; ".join(c.aborted for c in self.channels if c.aborted)
        for name in ("duplicate_ids", "lost_ids", "dead_lettered_ids"):
            setattr(total, name, tuple(i for c in self.channels for i in getattr(c, name)))
        self.total = total

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        return [p for c in self.channels for p in c.problems()]

    def _rows(self) -> list[list[str]]:
        def num(value: float | None, digits: int = 1) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        rows = []
        for c in [*self.channels, self.total]:
            rows.append(
                [
                    c.channel,
                    str(c.events_in),
                    str(c.unique_events),
                    str(c.cards_accepted),
                    str(c.events_delivered),
                    str(c.duplicates),
                    str(c.lost),
                    str(c.dead_lettered),
                    str(c.rate_limited),
                    str(c.server_errors),
                    str(c.outage_failures),
                    str(c.invocations),
                    str(c.redeliveries),
                    f"{c.max_in_window}/{self.rate}",
                    num(c.drain_seconds),
                    num(c.min_drain_seconds),
                    num(c.ratio, 2),
                ]
            )
        return rows

    _HEADERS = [
        "channel", "events in", "unique", "cards", "delivered", "dup", "lost", "dlq", "429", "500",
        "outage", "invocations", "redelivered", "max/1s", "drain s", "min s", "ratio",
    ]  # fmt: skip

    def format_report(self) -> str:
        """A plain-text table (virtual seconds), then the verdict."""
        rows = [self._HEADERS, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self._HEADERS))]
        lines = [
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(self._footer())
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The same table in Markdown (for docs/performance.md)."""
        lines = ["| " + " | ".join(self._HEADERS) + " |", "|" + "---|" + "---:|" * (len(self._HEADERS) - 1)]
        for row in self._rows():
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n\n" + self._footer() + "\n"

    def _footer(self) -> str:
        verdict = "OK" if self.ok else "PROBLEMS: " + "; ".join(self.problems())
        return (
            f"Virtual time: {self.virtual_seconds:.1f} simulated s in {self.wall_seconds:.1f} wall s (sleeps advance a "
            f"virtual clock; HTTP to the 127.0.0.1 Teams stand-in is real). Rate limit {self.rate}/s per webhook.\n"
            "drain = first enqueue to last accepted post; min = (cards carrying a new event id + injected 500s - 1)"
            " // rate + the outage inside the drain.\n"
            f"Verdict: {verdict}"
        )


def _ratio(drain: float | None, minimum: float) -> float | None:
    if drain is None or minimum <= 0:
        return None
    return drain / minimum


def event_id_of(body: str) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    value = document.get("id") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def kept_message_ids(response: Any, batch_ids: Collection[str]) -> set[str] | None:
    """The message ids to keep, as Lambda reads a ReportBatchItemFailures response (None: all of them)."""
    try:
        json.dumps(response)
    except (TypeError, ValueError):
        return None
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return None
        failed.add(identifier)
    return failed


def run_burst(
    events: Sequence[TimedEvent],
    invoke: Invoke,
    *,
    clock: VirtualClock,
    standin: TeamsStandIn,
    channels: Sequence[str],
    route: Callable[[Mapping[str, Any]], Iterable[str]] | None = None,
    platform: str = "acme",
    region: str = "eu-west-1",
    account: str = "111111111111",
    function_name: str = "acme-teams-notifier",
    batch_size: int = 10,
    function_timeout_seconds: float = 300.0,
    visibility_timeout_seconds: float | None = None,
    max_receive_count: int = 5,
    redrive: bool = False,
    lose_delete_once: Collection[str] = (),
    max_virtual_seconds: float = 6 * 3600.0,
    max_invocations: int = 10_000,
    seed: int = 0,
) -> BurstReport:
    """Drive ``invoke`` through the burst, channel by channel; returns the report.

    ``route(event)`` names the channels an event goes to (default: every channel); ``channels``
    are also the stand-in's webhook names. ``visibility_timeout_seconds`` defaults to 6 x the
    function timeout (the AWS recommendation for SQS event sources). ``redrive``: once a channel's
    queue is empty, move its dead-letter queue back once and drain again. ``lose_delete_once``:
    event ids whose first delete is lost (delivered again, as SQS may). The bounds
    (``max_virtual_seconds`` per channel timeline, ``max_invocations`` per channel) stop a handler
    that never drains; what is left counts as lost.
    """
    started = time.perf_counter()
    settings = _Settings(
        platform=platform,
        region=region,
        account=account,
        function_name=function_name,
        batch_size=batch_size,
        function_timeout=function_timeout_seconds,
        visibility_timeout=(
            visibility_timeout_seconds if visibility_timeout_seconds is not None else 6 * function_timeout_seconds
        ),
        max_receive_count=max_receive_count,
        redrive=redrive,
        lose_delete_once=frozenset(lose_delete_once),
        max_virtual_seconds=max_virtual_seconds,
        max_invocations=max_invocations,
        rng=seeded_random(f"driver:{seed}"),
    )
    routed = route or (lambda _event: channels)
    reports = []
    longest = 0.0
    for channel in channels:
        standin.url(channel)  # registered, with the default config unless configured before
        origin = clock.now()
        standin.set_origin(channel, origin)
        arrivals = sorted((e for e in events if channel in set(routed(e.event))), key=lambda e: e.at)
        reports.append(_run_channel(channel, arrivals, invoke, clock, standin, settings))
        longest = max(longest, clock.now() - origin)
        clock.advance(CHANNEL_GAP_SECONDS)
    rates = {standin.config(c).rate for c in channels}
    return BurstReport(reports, min(rates, default=0), time.perf_counter() - started, longest)


@dataclass(frozen=True)
class _Settings:
    platform: str
    region: str
    account: str
    function_name: str
    batch_size: int
    function_timeout: float
    visibility_timeout: float
    max_receive_count: int
    redrive: bool
    lose_delete_once: frozenset[str]
    max_virtual_seconds: float
    max_invocations: int
    rng: random.Random


def _run_channel(
    channel: str,
    arrivals: list[TimedEvent],
    invoke: Invoke,
    clock: VirtualClock,
    standin: TeamsStandIn,
    settings: _Settings,
) -> ChannelReport:
    """One channel's event source mapping, from its origin until its queue is empty (or a bound)."""
    origin = clock.now()
    queue_options: dict[str, Any] = {"region": settings.region, "account": settings.account}
    dlq = FifoQueue(f"{settings.platform}-notify-{channel}-dlq.fifo", clock, **queue_options)
    queue = FifoQueue(
        f"{settings.platform}-notify-{channel}.fifo",
        clock,
        visibility_timeout=settings.visibility_timeout,
        dead_letter_queue=dlq,
        max_receive_count=settings.max_receive_count,
        **queue_options,
    )
    report = ChannelReport(channel, queue=queue.name)
    lose = set(settings.lose_delete_once)
    enqueued_order: list[str] = []
    next_arrival = 0
    redrive_left = settings.redrive
    while True:
        t = clock.now() - origin
        while next_arrival < len(arrivals) and origin + arrivals[next_arrival].at <= clock.now():
            item = arrivals[next_arrival]
            next_arrival += 1
            result = queue.send(body_of(item.event), group_id=channel)
            if not result.deduplicated:
                enqueued_order.append(item.id)
                if item.id in lose:
                    lose.discard(item.id)
                    queue.lose_delete_once(result.message_id)
        if t > settings.max_virtual_seconds or report.invocations >= settings.max_invocations:
            report.aborted = f"stopped at t={t:.0f} s after {report.invocations} invocations"
            break
        batch = queue.receive_batch(settings.batch_size)
        if batch:
            _invoke_once(batch, invoke, clock, queue, report, settings)
            continue
        upcoming = [queue.next_change_at()]
        if next_arrival < len(arrivals):
            upcoming.append(origin + arrivals[next_arrival].at)
        times = [u for u in upcoming if u is not None]
        if times:
            clock.advance_to(min(times))
        elif redrive_left and len(dlq):
            redrive_left = False
            report.redriven += dlq.start_message_move_task()
        else:
            break
    _summarise(report, standin, queue, dlq, arrivals, enqueued_order)
    return report


def _invoke_once(
    batch: list[dict[str, Any]],
    invoke: Invoke,
    clock: VirtualClock,
    queue: FifoQueue,
    report: ChannelReport,
    settings: _Settings,
) -> None:
    """One invocation, then the deletes Lambda makes for it."""
    report.invocations += 1
    report.redeliveries += sum(1 for r in batch if r["attributes"]["ApproximateReceiveCount"] != "1")
    context = LambdaContext(
        clock,
        settings.function_timeout,
        function_name=settings.function_name,
        region=settings.region,
        account=settings.account,
        request_id=str(uuid.UUID(int=settings.rng.getrandbits(128), version=4)),
    )
    begin = clock.now()
    try:
        response: Any = invoke({"Records": batch}, context)
    except Exception as error:
        report.failed_invocations += 1
        report.first_error = report.first_error or "".join(traceback.format_exception(error)[-3:])
        return
    if clock.now() - begin > settings.function_timeout:
        report.timeouts += 1  # Lambda would have stopped it: nothing deleted
        return
    failed = kept_message_ids(response, {r["messageId"] for r in batch})
    if failed is None:
        report.failed_invocations += 1
        report.first_error = report.first_error or f"invalid response: {response!r:.300}"
        return
    report.reported_failures += len(failed)
    queue.delete(r["receiptHandle"] for r in batch if r["messageId"] not in failed)


def _summarise(
    report: ChannelReport,
    standin: TeamsStandIn,
    queue: FifoQueue,
    dlq: FifoQueue,
    arrivals: Sequence[TimedEvent],
    enqueued_order: list[str],
) -> None:
    channel = report.channel
    stats = standin.stats(channel)
    posts = sorted(standin.accepted(channel), key=lambda p: p.at)
    expected = set(enqueued_order)
    report.events_in = len(enqueued_order)
    report.sends_deduplicated = queue.deduplicated
    report.unique_events = len(expected)
    report.cards_accepted = len(posts)
    report.rate_limited = stats.rate_limited
    report.server_errors = stats.injected_errors
    report.outage_failures = stats.outage_failures
    report.rejected = stats.rejected
    report.max_in_window = stats.max_in_window
    report.late_deletes = queue.late_deletes

    seen: Counter[str] = Counter()
    first_order: list[str] = []
    needed = 0
    for post in posts:
        if not post.event_ids:
            report.unattributed_cards += 1
            needed += 1
        if any(i not in seen for i in post.event_ids):
            needed += 1
        for event_id in post.event_ids:
            if event_id not in seen:
                first_order.append(event_id)
            seen[event_id] += 1
    report.unexpected = sum(1 for i in seen if i not in expected)
    delivered = expected & set(seen)
    report.events_delivered = len(delivered)
    duplicate_ids = sorted(i for i in delivered if seen[i] > 1)
    report.duplicates = sum(seen[i] - 1 for i in duplicate_ids)
    report.duplicate_ids = tuple(duplicate_ids)
    in_dlq = {i for i in (event_id_of(m.body) for m in dlq.messages()) if i is not None}
    report.dlq_messages = len(dlq)
    report.dead_lettered_ids = tuple(sorted(i for i in expected - delivered if i in in_dlq))
    report.dead_lettered = len(report.dead_lettered_ids)
    report.lost_ids = tuple(sorted(expected - delivered - in_dlq))
    report.lost = len(report.lost_ids)
    rank = {event_id: n for n, event_id in enumerate(enqueued_order)}
    highest = -1
    for event_id in first_order:
        if event_id in rank:
            if rank[event_id] < highest:
                report.reordered += 1
            highest = max(highest, rank[event_id])

    if posts and arrivals:
        first_in, last_in = arrivals[0].at, arrivals[-1].at
        report.drain_seconds = posts[-1].at - first_in
        slots = needed + stats.injected_errors
        base = (slots - 1) // stats.rate if slots else 0
        outage = standin.config(channel).outage
        overlap = outage.overlap(first_in, posts[-1].at) if outage else 0.0
        report.min_drain_seconds = max(base + overlap, last_in - first_in)
        report.ratio = _ratio(report.drain_seconds, report.min_drain_seconds)
