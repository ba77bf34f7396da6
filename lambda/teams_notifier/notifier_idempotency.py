"""At most one post per (event id, channel): Powertools Idempotency on the Deliveries table.

The table (partition key ``pk``, TTL attribute ``expires_at``) holds one record per event and
channel. Powertools keys it ``delivery#<sha256 of {"channel", "event_id"}>`` and writes ``status``
(INPROGRESS | COMPLETED), ``in_progress_expiration`` (epoch ms; a crashed invocation's claim may be
taken over after it) and ``data`` (what the post returned). A failed post deletes the record, so
the Lambda retry of the event can post.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from notifier_delivery import DeliveryResult
from notifier_logging import logger

KEY_ATTRIBUTE = "pk"
EXPIRY_ATTRIBUTE = "expires_at"
KEY_PREFIX = "delivery"
# A claim outlives the invocation that took it by this much (the remaining time is added).
CLAIM_MARGIN_SECONDS = 10.0


class Claim(StrEnum):
    POSTED = "posted"  # this invocation posted the card
    DONE = "done"  # an earlier invocation posted it
    IN_PROGRESS = "in_progress"  # another invocation holds a live claim
    FAILED = "failed"  # not posted: the post failed, or the table could not be asked


@dataclass
class _Attempt:
    sent: bool = False
    result: DeliveryResult | None = None


class _NotDeliveredError(Exception):
    """Raised inside the idempotent function so Powertools deletes the claim."""


class _ClaimWindow(LambdaContext):
    """What Powertools reads from the Lambda context: the in-progress record expires after this."""

    def __init__(self, remaining_seconds: Callable[[], float]) -> None:
        self._remaining_seconds = remaining_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return int((self._remaining_seconds() + CLAIM_MARGIN_SECONDS) * 1000)


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools' response hook: the record was COMPLETED, nothing was posted now."""
    return {**(response or {}), "replayed": True}


class OncePerChannel:
    def __init__(self, client: Any, table: str, ttl_seconds: int) -> None:
        self._config = IdempotencyConfig(
            expires_after_seconds=ttl_seconds,
            raise_on_no_idempotency_key=True,
            hash_function="sha256",
            response_hook=_replayed,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table, key_attr=KEY_ATTRIBUTE, expiry_attr=EXPIRY_ATTRIBUTE, boto3_client=client
        )
        self._post = idempotent_function(
            _post,
            data_keyword_argument="delivery",
            persistence_store=persistence,
            config=self._config,
            key_prefix=KEY_PREFIX,
        )

    def post(
        self,
        event_id: str,
        channel: str,
        kind: str,
        send: Callable[[], DeliveryResult],
        remaining_seconds: Callable[[], float],
    ) -> tuple[Claim, DeliveryResult | None]:
        """Run ``send`` unless this (event, channel) was posted or is being posted; returns what happened."""
        fields: dict[str, Any] = {"event_id": event_id, "kind": kind, "channel": channel}
        self._config.register_lambda_context(_ClaimWindow(remaining_seconds))
        attempt = _Attempt()
        try:
            reply = self._post(
                delivery={"event_id": event_id, "channel": channel}, kind=kind, send=send, attempt=attempt
            )
        except _NotDeliveredError:
            return Claim.FAILED, attempt.result
        except IdempotencyAlreadyInProgressError:
            return Claim.IN_PROGRESS, None
        except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError):
            if not attempt.sent:
                logger.exception("idempotency claim failed; not posting", **fields)
                return Claim.FAILED, None
            if attempt.result is not None and attempt.result.ok:
                # The card is posted; a lost "done" only risks a repost if the event is delivered again.
                logger.exception("could not mark the channel done", **fields)
                return Claim.POSTED, attempt.result
            # The claim then blocks the slot until in_progress_expiration.
            logger.exception("could not release the claim", **fields)
            return Claim.FAILED, attempt.result
        if isinstance(reply, dict) and reply.get("replayed"):
            return Claim.DONE, None
        return Claim.POSTED, attempt.result


def _post(
    *, delivery: dict[str, str], kind: str, send: Callable[[], DeliveryResult], attempt: _Attempt
) -> dict[str, Any]:
    attempt.sent = True
    result = attempt.result = send()
    if not result.ok:
        raise _NotDeliveredError(result.outcome)
    return {**delivery, "kind": kind, "status_code": result.status_code, "attempts": result.attempts}


def post_together(
    deliveries: OncePerChannel,
    event_ids: Sequence[str],
    channel: str,
    kind: str,
    send: Callable[[list[str]], DeliveryResult],
    remaining_seconds: Callable[[], float],
) -> tuple[Claim, DeliveryResult | None, list[str]]:
    """One card for several events (a burst summary), each event still posted at most once per channel.

    Every event's claim is taken, one inside the other, and ``send`` posts the card for those not
    already done; the claims are then completed together, or all released if the post failed.
    Returns the outcome, the post's result and the events the card carried.
    """
    carried: list[str] = []

    def claim_from(index: int) -> DeliveryResult:
        while index < len(event_ids):

            def rest(position: int = index) -> DeliveryResult:
                carried.append(event_ids[position])
                return claim_from(position + 1)

            claim, result = deliveries.post(event_ids[index], channel, kind, rest, remaining_seconds)
            if claim is Claim.DONE:  # posted before: leave it out and go on outside its claim
                index += 1
                continue
            if claim is Claim.IN_PROGRESS:
                return DeliveryResult(False, 0, None, "in_progress")
            return result or DeliveryResult(False, 0, None, "claim_failed")
        return send(list(carried)) if carried else DeliveryResult(True, 0, None, "nothing_to_post")

    result = claim_from(0)
    if result.ok:
        return (Claim.POSTED if carried else Claim.DONE), result, carried
    return (Claim.IN_PROGRESS if result.outcome == "in_progress" else Claim.FAILED), result, []
