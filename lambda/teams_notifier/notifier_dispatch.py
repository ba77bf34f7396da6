"""What happens to one parsed event: classify, route, build the card once, post it to each channel.

Each channel is guarded by an idempotency claim, so a repeated delivery of the same event
posts at most once per channel. Every channel is tried; if any failed, DeliveryFailedError is raised
at the end so Lambda retries the event (channels already done are skipped then).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from notifier_auth import TokenCache, TokenError
from notifier_cards import CardContext, CommitInfo, build_card, workflows_message
from notifier_delivery import DeliveryResult
from notifier_events import AwsEvent, EventKind, classify, log_fields
from notifier_idempotency import Claim, OncePerChannel
from notifier_logging import logger
from notifier_secrets import Webhook, WebhookSecretError, WebhookSecrets
from notifier_settings import Settings

DEFAULT_BUDGET_SECONDS = 60.0


class Poster(Protocol):
    def __call__(
        self,
        url: str,
        body: bytes,
        remaining_seconds: Callable[[], float],
        log_fields: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        before_attempt: Callable[[], None] | None = None,
        retry_after: Callable[[float], None] | None = None,
    ) -> DeliveryResult: ...


class CommitLookup(Protocol):
    def __call__(self, event: AwsEvent, kind: EventKind, own_account: str | None) -> CommitInfo | None: ...


@dataclass(frozen=True)
class Dependencies:
    secrets: WebhookSecrets
    deliveries: OncePerChannel
    commit_lookup: CommitLookup
    post: Poster
    # Entra ID tokens for workflows whose trigger only accepts callers of the tenant.
    tokens: TokenCache | None = None


def authorization(webhook: Webhook, deps: Dependencies, remaining_seconds: Callable[[], float]) -> dict[str, str]:
    """The Authorization header a webhook needs (none for a plain Workflows URL); TokenError if none can be had."""
    if webhook.entra is None or deps.tokens is None:
        return {}
    return deps.tokens.authorization(webhook.entra, timeout=max(0.1, min(5.0, remaining_seconds() - 2.0)))


def post_to_webhook(
    webhook: Webhook,
    secret_id: str,
    body: bytes,
    deps: Dependencies,
    remaining_seconds: Callable[[], float],
    fields: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    **options: Any,
) -> DeliveryResult:
    """Post with the webhook's Entra ID token, if it needs one; after a 401 the next post asks for a fresh token.

    Outcome "no_token" when no token could be had; "token_refused" when the webhook refused the token.
    """
    try:
        token = authorization(webhook, deps, remaining_seconds)
    except TokenError as error:
        logger.error("no Entra ID token", error=str(error), status=error.status, oauth_error=error.error, **fields)
        if error.status in (400, 401):
            deps.secrets.invalidate(secret_id)  # a rotated client secret is read next time
        return DeliveryResult(False, 0, error.status, "no_token")
    result = deps.post(webhook.url, body, remaining_seconds, fields, headers={**token, **(headers or {})}, **options)
    if result.status_code == 401 and webhook.entra is not None and deps.tokens is not None:
        deps.tokens.invalidate(webhook.entra)  # the token may have been revoked
        return DeliveryResult(False, result.attempts, 401, "token_refused")
    return result


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
    fields: dict[str, Any] = {"event_id": event.get_id, "kind": kind.value, "channel": channel}
    secret_id = settings.channel_secrets[channel]
    try:
        webhook = deps.secrets.webhook(secret_id)
    except WebhookSecretError as error:
        logger.error("webhook secret unusable", secret_id=secret_id, error=str(error), **fields)
        return "failed"

    def send() -> DeliveryResult:
        return post_to_webhook(webhook, secret_id, body, deps, deadline.remaining_seconds, fields)

    try:
        claim, result = deps.deliveries.post(event.get_id, channel, kind.value, send, deadline.remaining_seconds)
    except Exception:
        logger.exception("delivery raised unexpectedly", **fields)
        return "failed"
    if claim in (Claim.DONE, Claim.IN_PROGRESS):
        logger.info("duplicate", existing_status=claim.value, **fields)
        return "duplicate"
    if claim is Claim.POSTED:
        attempts, status_code = (result.attempts, result.status_code) if result else (None, None)
        logger.info("posted", attempts=attempts, status_code=status_code, **fields)
        return "posted"
    if result is not None:
        if result.outcome in ("rejected", "token_refused"):
            # The webhook refused the URL or the card; re-read the secret next time in case it was rotated.
            deps.secrets.invalidate(secret_id)
        logger.error(
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
    summary = Summary(event.get_id, kind.value)
    fields: dict[str, Any] = {
        **log_fields(event, kind, settings.environments),
        "source": event.source,
        "detail_type": event.detail_type,
    }
    channels = channels_for(kind, settings)
    if not channels:
        logger.info("not routed", **fields)
        return summary
    summary.routed = list(channels)
    commit = deps.commit_lookup(event, kind, own_account)
    card = build_card(event, kind, CardContext.of(settings), commit)
    body = json.dumps(workflows_message(card), ensure_ascii=False).encode("utf-8")
    logger.info("card built", channels=list(channels), card_bytes=len(body), **fields)
    for channel in channels:
        outcome = _deliver(channel, event, kind, body, settings, deps, deadline)
        {"posted": summary.posted, "duplicate": summary.duplicates, "failed": summary.failed}[outcome].append(channel)
    if summary.failed:
        logger.error(
            "event not fully delivered; raising so Lambda retries",
            posted=summary.posted,
            duplicates=summary.duplicates,
            failed=summary.failed,
            **fields,
        )
        raise DeliveryFailedError(summary)
    logger.info("event handled", posted=summary.posted, duplicates=summary.duplicates, **fields)
    return summary
