"""An in-memory Amazon SQS FIFO queue, as Lambda's event source mapping consumes it, in virtual time.

Modelled (times are the ``VirtualClock``'s):

- ``send``: deduplication by ``MessageDeduplicationId`` (with content-based deduplication, the
  SHA-256 of the body) within the 5-minute deduplication interval, tracked even after the first
  copy was deleted, as SQS does;
- ``receive_batch``: up to 10 messages of one message group, in order, and only from a group with
  no message in flight (one in-flight batch per group); received messages are invisible for the
  visibility timeout and their ApproximateReceiveCount goes up. Records have the exact shape of an
  SQS record in a Lambda event;
- ``delete``: with a receipt handle from the latest receive, before its visibility timeout ran
  out (an expired handle is refused, as for FIFO queues, and counted in ``late_deletes``); a
  message not deleted becomes visible again after the timeout, still at the head of its group;
- a redrive policy: a message already received ``max_receive_count`` times is moved to the
  dead-letter queue on the receive that would exceed it; ``start_message_move_task`` on the
  dead-letter queue moves its messages back to the source (new message ids, receive count 0;
  modelled as bypassing the deduplication interval);
- injected at-least-once delivery: ``lose_delete_once(message_id)`` makes the next delete of
  that message look successful but not happen, so it is delivered again.

Not modelled: long polling, message attributes, throughput limits, several pollers per group.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.load.virtual_clock import VirtualClock, seeded_random

DEDUPLICATION_INTERVAL_SECONDS = 300.0
MAX_BATCH = 10
# The sender id of the AWS documentation's sample SQS event (EventBridge sends as a service).
SENDER_ID = "AIDAIO23YVJENQZJOL4VO"
_FIRST_SEQUENCE_NUMBER = 18_849_496_460_467_696_128
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")


@dataclass(frozen=True)
class SendResult:
    message_id: str
    sequence_number: str
    deduplicated: bool  # True: a copy sent within the interval; nothing was enqueued


@dataclass
class Message:
    message_id: str
    body: str
    group_id: str
    dedup_id: str
    sequence_number: int
    sent_at: float
    receive_count: int = 0
    first_received_at: float | None = None
    receipt_handle: str | None = None
    invisible_until: float = float("-inf")
    lose_next_delete: bool = False
    dead_letter_source_arn: str | None = None

    def in_flight(self, now: float) -> bool:
        return now < self.invisible_until


def _ms(epoch_seconds: float) -> str:
    return str(round(epoch_seconds * 1000))


class FifoQueue:
    def __init__(
        self,
        name: str,
        clock: VirtualClock,
        *,
        region: str = "eu-west-1",
        account: str = "111111111111",
        visibility_timeout: float = 30.0,
        content_based_deduplication: bool = True,
        dead_letter_queue: FifoQueue | None = None,
        max_receive_count: int | None = None,
        seed: int = 0,
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a FIFO queue name (up to 80 characters, ending in .fifo)")
        if (dead_letter_queue is None) != (max_receive_count is None):
            raise ValueError("a redrive policy needs both dead_letter_queue and max_receive_count")
        if max_receive_count is not None and not 1 <= max_receive_count <= 1000:
            raise ValueError("maxReceiveCount is 1 to 1000")
        self.name = name
        self.clock = clock
        self.region = region
        self.account = account
        self.arn = f"arn:aws:sqs:{region}:{account}:{name}"
        self.visibility_timeout = visibility_timeout
        self.content_based_deduplication = content_based_deduplication
        self.dead_letter_queue = dead_letter_queue
        self.max_receive_count = max_receive_count
        self.source: FifoQueue | None = None  # on a dead-letter queue: the queue that dead-letters to it
        if dead_letter_queue is not None:
            dead_letter_queue.source = self
        self._rng = seeded_random(f"{seed}:{name}")
        self._sequence = _FIRST_SEQUENCE_NUMBER
        self._groups: dict[str, list[Message]] = {}  # each in sequence order
        self._dedup: dict[str, tuple[float, SendResult]] = {}
        self._by_handle: dict[str, Message] = {}
        # counters
        self.sent = 0
        self.deduplicated = 0
        self.received = 0
        self.deleted = 0
        self.late_deletes = 0
        self.lost_deletes = 0
        self.moved_to_dlq = 0

    # -- sending --------------------------------------------------------------------------

    def send(self, body: str, group_id: str, dedup_id: str | None = None) -> SendResult:
        """SendMessage. Without ``dedup_id``, content-based deduplication must be on."""
        if not group_id:
            raise ValueError("a FIFO queue needs a MessageGroupId")
        if dedup_id is None:
            if not self.content_based_deduplication:
                raise ValueError("no MessageDeduplicationId and content-based deduplication is off")
            dedup_id = hashlib.sha256(body.encode()).hexdigest()
        now = self.clock.now()
        seen = self._dedup.get(dedup_id)
        if seen is not None and now - seen[0] < DEDUPLICATION_INTERVAL_SECONDS:
            self.deduplicated += 1
            first = seen[1]
            return SendResult(first.message_id, first.sequence_number, deduplicated=True)
        message = self._enqueue(body, group_id, dedup_id, sent_at=now)
        result = SendResult(message.message_id, str(message.sequence_number), deduplicated=False)
        self._dedup[dedup_id] = (now, result)
        self.sent += 1
        return result

    def _enqueue(
        self, body: str, group_id: str, dedup_id: str, sent_at: float, message_id: str | None = None
    ) -> Message:
        self._sequence += 1 + self._rng.randrange(1000)  # increasing, not consecutive (as SQS)
        message = Message(message_id or self._new_id(), body, group_id, dedup_id, self._sequence, sent_at)
        self._groups.setdefault(group_id, []).append(message)
        return message

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- receiving ------------------------------------------------------------------------

    def receive_batch(self, max_messages: int = MAX_BATCH) -> list[dict[str, Any]]:
        """Up to ``max_messages`` (1-10) records of one message group with nothing in flight."""
        if not 1 <= max_messages <= MAX_BATCH:
            raise ValueError("MaxNumberOfMessages is 1 to 10")
        now = self.clock.now()
        groups = sorted(
            (messages for messages in self._groups.values() if messages),
            key=lambda messages: messages[0].sequence_number,
        )
        for messages in groups:
            if any(m.in_flight(now) for m in messages):
                continue
            batch: list[Message] = []
            for message in list(messages):
                if len(batch) == max_messages:
                    break
                if self.max_receive_count is not None and message.receive_count >= self.max_receive_count:
                    self._dead_letter(message)
                    continue
                batch.append(message)
            if batch:
                return [self._receive(message, now) for message in batch]
        return []

    def _receive(self, message: Message, now: float) -> dict[str, Any]:
        if message.receipt_handle is not None:
            self._by_handle.pop(message.receipt_handle, None)
        message.receive_count += 1
        if message.first_received_at is None:
            message.first_received_at = now
        message.invisible_until = now + self.visibility_timeout
        handle = "AQEB" + base64.b64encode(self._rng.randbytes(96)).decode()
        message.receipt_handle = handle
        self._by_handle[handle] = message
        self.received += 1
        return self.record(message)

    def record(self, message: Message) -> dict[str, Any]:
        """The message as a record of a Lambda SQS event."""
        attributes = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": _ms(self.clock.epoch_at(message.sent_at)),
            "SequenceNumber": str(message.sequence_number),
            "MessageGroupId": message.group_id,
            "SenderId": SENDER_ID,
            "MessageDeduplicationId": message.dedup_id,
            "ApproximateFirstReceiveTimestamp": _ms(self.clock.epoch_at(message.first_received_at or 0.0)),
        }
        if message.dead_letter_source_arn is not None:
            attributes["DeadLetterQueueSourceArn"] = message.dead_letter_source_arn
        return {
            "messageId": message.message_id,
            "receiptHandle": message.receipt_handle or "",
            "body": message.body,
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.region,
        }

    # -- deleting -------------------------------------------------------------------------

    def delete(self, receipt_handles: Iterable[str]) -> int:
        """DeleteMessage for each handle; returns how many the caller was told were deleted."""
        now = self.clock.now()
        done = 0
        for handle in receipt_handles:
            message = self._by_handle.get(handle)
            if message is None or message.receipt_handle != handle or not message.in_flight(now):
                self.late_deletes += 1
                continue
            done += 1
            if message.lose_next_delete:  # the caller hears "deleted"; the message stays
                message.lose_next_delete = False
                self.lost_deletes += 1
                continue
            self._remove(message)
            self.deleted += 1
        return done

    def lose_delete_once(self, message_id: str) -> None:
        """The next delete of this message is acknowledged but lost: it will be delivered again."""
        self._find(message_id).lose_next_delete = True

    def _find(self, message_id: str) -> Message:
        for messages in self._groups.values():
            for message in messages:
                if message.message_id == message_id:
                    return message
        raise KeyError(message_id)

    def _remove(self, message: Message) -> None:
        self._groups[message.group_id].remove(message)
        if message.receipt_handle is not None:
            self._by_handle.pop(message.receipt_handle, None)

    # -- dead letters ---------------------------------------------------------------------

    def _dead_letter(self, message: Message) -> None:
        assert self.dead_letter_queue is not None
        self._remove(message)
        dlq = self.dead_letter_queue
        moved = dlq._enqueue(message.body, message.group_id, message.dedup_id, message.sent_at, message.message_id)
        moved.receive_count = message.receive_count
        moved.first_received_at = message.first_received_at
        moved.dead_letter_source_arn = self.arn
        dlq.sent += 1
        self.moved_to_dlq += 1

    def start_message_move_task(self, destination: FifoQueue | None = None) -> int:
        """On a dead-letter queue: move every message back to the source queue; returns how many."""
        target = destination or self.source
        if target is None:
            raise ValueError(f"{self.name} is no queue's dead-letter queue; name a destination")
        moved = 0
        for message in sorted(self.messages(), key=lambda m: m.sequence_number):
            self._remove(message)
            target._enqueue(message.body, message.group_id, message.dedup_id, sent_at=self.clock.now())
            target.sent += 1
            moved += 1
        return moved

    # -- looking ---------------------------------------------------------------------------

    def messages(self) -> list[Message]:
        """Every message still in the queue (visible or in flight), each group in order."""
        return [message for messages in self._groups.values() for message in messages]

    def __len__(self) -> int:
        return sum(len(messages) for messages in self._groups.values())

    def in_flight(self) -> int:
        now = self.clock.now()
        return sum(1 for message in self.messages() if message.in_flight(now))

    def next_change_at(self) -> float | None:
        """When ``receive_batch`` may next return something: now if it could now, None if empty."""
        now = self.clock.now()
        times: list[float] = []
        for messages in self._groups.values():
            if messages:
                busy = [m.invisible_until for m in messages if m.in_flight(now)]
                times.append(max(busy) if busy else now)
        return min(times, default=None)
