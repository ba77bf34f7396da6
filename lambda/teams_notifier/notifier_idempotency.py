"""At most one post per (event id, channel), recorded in DynamoDB.

Table: partition key ``pk`` (string), TTL attribute ``expires_at`` (epoch seconds). One item per
event and channel::

    pk               "<event id>#<channel>"
    status           "in_progress" | "done"
    claim_token      random id of the invocation holding the claim
    claim_expires_at epoch seconds; after it an in_progress claim may be taken over
    expires_at       epoch seconds; DynamoDB TTL deletes the item after it
    event_id, channel, kind, updated_at

Flow per channel: ``claim`` (conditional PutItem) -> post -> ``complete`` (status done) or
``release`` (delete the claim so a retry of the event can post).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from notifier_logging import log

IN_PROGRESS = "in_progress"
DONE = "done"


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"
    DONE = "done"  # already posted
    IN_PROGRESS = "in_progress"  # another invocation holds a live claim


class IdempotencyError(Exception):
    """DynamoDB could not be asked (not a duplicate): the channel counts as failed."""


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    key: str
    token: str


def item_key(event_id: str, channel: str) -> str:
    return f"{event_id}#{channel}"


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


class IdempotencyStore:
    def __init__(self, client: Any, table: str, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock

    def claim(self, event_id: str, channel: str, kind: str, claim_seconds: float) -> Claim:
        """Take the (event, channel) slot unless it is done or held by a live claim."""
        now = int(self._clock())
        key = item_key(event_id, channel)
        token = uuid.uuid4().hex
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": key},
                    "status": {"S": IN_PROGRESS},
                    "claim_token": {"S": token},
                    "claim_expires_at": {"N": str(now + max(1, int(claim_seconds)))},
                    "expires_at": {"N": str(now + self._ttl)},
                    "event_id": {"S": event_id},
                    "channel": {"S": channel},
                    "kind": {"S": kind},
                    "updated_at": {"N": str(now)},
                },
                ConditionExpression="attribute_not_exists(pk) OR (#status = :in_progress AND claim_expires_at < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":in_progress": {"S": IN_PROGRESS}, ":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                old = getattr(error, "response", {}).get("Item") or {}
                status = old.get("status", {}).get("S")
                return Claim(ClaimStatus.DONE if status == DONE else ClaimStatus.IN_PROGRESS, key, "")
            raise IdempotencyError(f"claim failed: {_error_code(error) or type(error).__name__}") from error
        return Claim(ClaimStatus.CLAIMED, key, token)

    def complete(self, claim: Claim) -> None:
        """Mark a claimed slot as posted; it then lives until the TTL removes it."""
        now = int(self._clock())
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": claim.key}},
                UpdateExpression=(
                    "SET #status = :done, expires_at = :expires, updated_at = :now REMOVE claim_expires_at"
                ),
                ConditionExpression="claim_token = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":done": {"S": DONE},
                    ":expires": {"N": str(now + self._ttl)},
                    ":now": {"N": str(now)},
                    ":token": {"S": claim.token},
                },
            )
        except Exception as error:
            # The card is posted; a lost "done" only risks a repost if the event is delivered again.
            log(
                logging.ERROR,
                "could not mark the channel done",
                key=claim.key,
                error_code=_error_code(error) or type(error).__name__,
            )

    def release(self, claim: Claim) -> None:
        """Drop our claim after a failed post so the next try of the event can post."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": claim.key}},
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={":token": {"S": claim.token}},
            )
        except Exception as error:
            # The claim then blocks the slot until claim_expires_at.
            log(
                logging.ERROR,
                "could not release the claim",
                key=claim.key,
                error_code=_error_code(error) or type(error).__name__,
            )
