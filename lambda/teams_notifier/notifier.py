"""Lambda entry point (handler ``notifier.handler``): EventBridge events -> Microsoft Teams Adaptive Cards.

Logs through the Powertools Logger (request id and cold start on every line, via inject_lambda_context).
Settings are read and checked when the module loads (a bad one fails the cold start with the
variable's name); AWS clients are made on the first invocation and reused.

Invoked by the SQS event source mapping of each lambda channel's FIFO queue: one batch of one
channel at a time, posted in order at the channel's rate (notifier_batch). A single EventBridge
event passed directly (a manual `aws lambda invoke` with a sample event) is still handled: it is
posted to every channel routed for its kind, without pacing, and a failure raises.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import urllib3
from botocore.config import Config
from notifier_auth import TokenCache
from notifier_batch import BatchRuntime, BurstWindow, handle_batch, is_sqs_batch
from notifier_cards import CommitInfo
from notifier_delivery import DeliveryResult, RetryPolicy, build_http, post_json
from notifier_dispatch import Deadline, DeliveryFailedError, Dependencies, notify
from notifier_enrichment import lookup_commit
from notifier_events import AwsEvent, EventKind, MalformedEventError, parse_event
from notifier_idempotency import OncePerChannel
from notifier_logging import logger
from notifier_pacing import Pacer
from notifier_secrets import WebhookSecrets
from notifier_settings import Settings, load_settings

__all__ = [
    "DeliveryFailedError",
    "MalformedEventError",
    "build_dependencies",
    "build_runtime",
    "handle",
    "handle_sqs",
    "handler",
    "logger",
]

SETTINGS: Settings = load_settings()

# botocore: retries["max_attempts"] counts retries; "total_max_attempts" counts every attempt.
AWS_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 3})
# Commit lookup is decoration: fail fast, a single attempt.
LOOKUP_CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 1})

_dependencies: Dependencies | None = None
_runtime: BatchRuntime | None = None


def build_dependencies(
    settings: Settings,
    *,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
    http: urllib3.PoolManager | None = None,
    codepipeline_client: Callable[[str], Any] | None = None,
) -> Dependencies:
    """Wire AWS clients and the HTTP poster (tests pass their own sleep, jitter, pool or clients)."""
    # The default session shares its loaded service models between clients (and warm invocations).
    make_client = session.client if session is not None else boto3.client
    policy = RetryPolicy(max_attempts=settings.max_attempts, http_timeout_seconds=settings.http_timeout_seconds)
    pool = http or build_http()

    @functools.cache
    def pipeline_client(region: str) -> Any:
        return make_client("codepipeline", region_name=region or None, config=LOOKUP_CLIENT_CONFIG)

    client_for_region = codepipeline_client or pipeline_client

    def commit_lookup(event: AwsEvent, kind: EventKind, own_account: str | None) -> CommitInfo | None:
        return lookup_commit(event, kind, client_for_region, own_account)

    def post(
        url: str,
        body: bytes,
        remaining_seconds: Callable[[], float],
        log_fields: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        before_attempt: Callable[[], None] | None = None,
        retry_after: Callable[[float], None] | None = None,
    ) -> DeliveryResult:
        return post_json(
            url,
            body,
            policy=policy,
            remaining_seconds=remaining_seconds,
            sleep=sleep,
            jitter=jitter,
            http=pool,
            log_fields=log_fields,
            headers=headers,
            before_attempt=before_attempt,
            retry_after=retry_after,
        )

    return Dependencies(
        secrets=WebhookSecrets(make_client("secretsmanager", config=AWS_CLIENT_CONFIG), settings.secret_cache_seconds),
        deliveries=OncePerChannel(
            make_client("dynamodb", config=AWS_CLIENT_CONFIG),
            settings.idempotency_table,
            settings.idempotency_ttl_seconds,
        ),
        commit_lookup=commit_lookup,
        post=post,
        tokens=TokenCache(http=pool),
    )


def build_runtime(
    settings: Settings,
    *,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    sqs_client: Any = None,
) -> BatchRuntime:
    """The batch path's pacer, burst window and dead-letter parking (tests pass a virtual clock)."""
    make_client = session.client if session is not None else boto3.client
    client = sqs_client or make_client("sqs", config=AWS_CLIENT_CONFIG)
    pacer = Pacer(settings.rate_for, monotonic=monotonic, sleep=sleep)

    def park(channel: str, record: Any, reason: str) -> None:
        queue_url = settings.dead_letter_queues.get(channel)
        if queue_url is None:
            raise RuntimeError(f"no dead-letter queue configured for channel {channel!r}")
        client.send_message(
            QueueUrl=queue_url,
            MessageBody=record.body,
            MessageGroupId=channel,
            # The source message's id: parking the same record twice within 5 minutes stores it once.
            MessageDeduplicationId=record.message_id,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason},
                "source_message_id": {"DataType": "String", "StringValue": record.message_id},
            },
        )

    return BatchRuntime(park=park, pace=pacer.wait, hold=pacer.hold, bursts=BurstWindow(monotonic))


def _own_account(context: Any) -> str | None:
    arn = getattr(context, "invoked_function_arn", None)
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[4] if len(parts) > 4 and parts[4] else None


@logger.inject_lambda_context(clear_state=True)
def handle(event: Any, context: Any, settings: Settings, dependencies: Dependencies) -> dict[str, Any]:
    """Parse, classify, route and deliver one event; returns a summary of what was posted."""
    try:
        parsed = parse_event(event)
    except MalformedEventError as error:
        # Key names only: a Lambda payload sent here by mistake can carry credentials.
        keys = sorted(map(str, event))[:20] if isinstance(event, Mapping) else None
        logger.error("malformed event", error=str(error), event_type=type(event).__name__, event_keys=keys)
        raise
    logger.append_keys(event_id=parsed.get_id)
    logger.info(
        "event received",
        source=parsed.source,
        detail_type=parsed.detail_type,
        account=parsed.account,
        region=parsed.region,
    )
    summary = notify(parsed, settings, dependencies, Deadline.from_context(context), _own_account(context))
    return summary.as_dict()


@logger.inject_lambda_context(clear_state=True)
def handle_sqs(
    event: Any, context: Any, settings: Settings, dependencies: Dependencies, runtime: BatchRuntime
) -> dict[str, Any]:
    """One batch of one channel's queue; returns the partial batch response."""
    return handle_batch(event, context, settings, dependencies, runtime, _own_account(context))


def handler(event: Any, context: Any) -> dict[str, Any]:
    global _dependencies, _runtime
    if _dependencies is None:
        _dependencies = build_dependencies(SETTINGS)
    if is_sqs_batch(event):
        if _runtime is None:
            _runtime = build_runtime(SETTINGS)
        return handle_sqs(event, context, SETTINGS, _dependencies, _runtime)
    return handle(event, context, SETTINGS, _dependencies)
