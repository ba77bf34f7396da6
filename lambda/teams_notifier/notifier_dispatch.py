"""What happens to one parsed event: classify, route, build the card once, post it to each channel.

Each channel is guarded by an idempotency claim, so a repeated delivery of the same event
posts at most once per channel. Every channel is tried; if any failed, DeliveryFailedError is raised
at the end so Lambda retries the event (channels already done are skipped then).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from notifier_cards import CardContext, CommitInfo, build_card, workflows_message
from notifier_delivery import DeliveryResult
from notifier_events import AwsEvent, EventKind, classify
from notifier_idempotency import ClaimStatus, IdempotencyError, IdempotencyStore
from notifier_logging import log, log_exception
from notifier_secrets import SecretCache, WebhookSecretError
from notifier_settings import Settings

# A claim outlives the invocation that took it by this much (the remaining time is added).
CLAIM_MARGIN_SECONDS = 10.0
DEFAULT_BUDGET_SECONDS = 60.0


class Poster(Protocol):
    def __call__(
        self, url: str, body: bytes, remaining_seconds: Callable[[], float], log_fields: Mapping[str, Any]
    ) -> DeliveryResult: ...


class CommitLookup(Protocol):
    def __call__(self, event: AwsEvent, kind: EventKind, own_account: str | None) -> CommitInfo | None: ...


@dataclass(frozen=True)
class Dependencies:
    secrets: SecretCache
    store: IdempotencyStore
    commit_lookup: CommitLookup
    post: Poster


@dataclass(frozen=True)
class Deadline:
    remaining_seconds: Callable[[], float]

    @classmethod
    def from_context(cls, context: Any, default_seconds: float = DEFAULT_BUDGET_SECONDS) -> Deadline:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if callable(getter):
            return cls(lambda: float(getter()) / 1000.0)
        end = time.monotonic() + default_seconds
        return cls(lambda: end - time.monotonic())


@dataclass
class Summary:
    event_id: str
    kind: str
    routed: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "routed": list(self.routed),
            "posted": list(self.posted),
            "duplicates": list(self.duplicates),
            "failed": list(self.failed),
        }


class DeliveryFailedError(RuntimeError):
    """At least one channel could not be posted to; raised so Lambda retries the event."""

    def __init__(self, summary: Summary) -> None:
        super().__init__(
            f"event {summary.event_id} ({summary.kind}): delivery failed for channel(s) {', '.join(summary.failed)}"
        )
        self.summary = summary


def channels_for(kind: EventKind, settings: Settings) -> tuple[str, ...]:
    if kind is EventKind.UNRECOGNISED:
        return settings.fallback_channels
    return settings.channels_for(kind.value)


def _deliver(
    channel: str,
    event: AwsEvent,
    kind: EventKind,
    body: bytes,
    settings: Settings,
    deps: Dependencies,
    deadline: Deadline,
) -> str:
    """Post to one channel; returns posted | duplicate | failed."""
    fields = {"event_id": event.id, "kind": kind.value, "channel": channel}
    secret_id = settings.channel_secrets[channel]
    try:
        url = deps.secrets.webhook_url(secret_id)
    except WebhookSecretError as error:
        log(logging.ERROR, "webhook secret unusable", secret_id=secret_id, error=str(error), **fields)
        return "failed"
    try:
        claim = deps.store.claim(event.id, channel, kind.value, deadline.remaining_seconds() + CLAIM_MARGIN_SECONDS)
    except IdempotencyError:
        log_exception("idempotency claim failed; not posting", **fields)
        return "failed"
    if claim.status is not ClaimStatus.CLAIMED:
        log(logging.INFO, "duplicate", existing_status=claim.status.value, **fields)
        return "duplicate"
    try:
        result = deps.post(url, body, deadline.remaining_seconds, fields)
    except Exception:
        log_exception("delivery raised unexpectedly", **fields)
        deps.store.release(claim)
        return "failed"
    if result.ok:
        deps.store.complete(claim)
        log(logging.INFO, "posted", attempts=result.attempts, status_code=result.status_code, **fields)
        return "posted"
    deps.store.release(claim)
    if result.outcome == "rejected":
        # The webhook refused the URL or the card; re-read the secret next time in case it was rotated.
        deps.secrets.invalidate(secret_id)
    log(
        logging.ERROR,
        "channel failed",
        outcome=result.outcome,
        attempts=result.attempts,
        status_code=result.status_code,
        **fields,
    )
    return "failed"


def notify(
    event: AwsEvent, settings: Settings, deps: Dependencies, deadline: Deadline, own_account: str | None = None
) -> Summary:
    kind = classify(event, settings.pull_request_project_suffix)
    summary = Summary(event.id, kind.value)
    fields = {"event_id": event.id, "kind": kind.value, "source": event.source, "detail_type": event.detail_type}
    channels = channels_for(kind, settings)
    if not channels:
        log(logging.INFO, "not routed", **fields)
        return summary
    summary.routed = list(channels)
    commit = deps.commit_lookup(event, kind, own_account)
    card = build_card(event, kind, CardContext(settings.platform_name, settings.environments), commit)
    body = json.dumps(workflows_message(card), ensure_ascii=False).encode("utf-8")
    log(logging.INFO, "card built", channels=list(channels), card_bytes=len(body), **fields)
    for channel in channels:
        outcome = _deliver(channel, event, kind, body, settings, deps, deadline)
        {"posted": summary.posted, "duplicate": summary.duplicates, "failed": summary.failed}[outcome].append(channel)
    if summary.failed:
        log(
            logging.ERROR,
            "event not fully delivered; raising so Lambda retries",
            posted=summary.posted,
            duplicates=summary.duplicates,
            failed=summary.failed,
            **fields,
        )
        raise DeliveryFailedError(summary)
    log(logging.INFO, "event handled", posted=summary.posted, duplicates=summary.duplicates, **fields)
    return summary
