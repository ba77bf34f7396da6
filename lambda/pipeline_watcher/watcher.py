"""Pipeline watcher: reports each execution that has been in progress longer than a threshold, once.

An EventBridge schedule invokes this function every INTERVAL_MINUTES. It lists the platform's
pipelines (names starting with PIPELINE_PREFIX), reads each one's recent executions and, for every
execution InProgress whose age at the schedule's own time falls in [STUCK_AFTER_MINUTES,
STUCK_AFTER_MINUTES + INTERVAL_MINUTES), puts one "CodePipeline Pipeline Execution Stuck" event on
the account's default bus. The notification rule for `pipeline_stuck` routes it to Teams like any
other event. Windows are measured from the scheduled time rounded down to the interval, so
consecutive runs' windows do not overlap (an execution is reported once) and a retried invocation
reports the same executions as the first attempt would have.

Handler: ``watcher.handler``. Environment: PIPELINE_PREFIX, STUCK_AFTER_MINUTES, INTERVAL_MINUTES.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "pipeline_watcher")

# The event this function emits (notifier_events and cdk_constructs/notification_patterns match it).
SOURCE = "platform.pipeline-watcher"
DETAIL_TYPE = "CodePipeline Pipeline Execution Stuck"
# PutEvents takes at most 10 entries a call (botocore model: PutEventsRequestEntryList max 10).
MAX_ENTRIES = 10
PUT_ATTEMPTS = 3
# Executions read per pipeline, newest first: a pipeline in QUEUED or PARALLEL mode can run several.
EXECUTIONS_PER_PIPELINE = 20
RUNNING = frozenset({"InProgress", "Stopping"})
# Standard retries back off on CodePipeline's throttling (its API rate quotas) instead of failing the run.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    prefix: str
    stuck_after: timedelta
    interval: timedelta


def load_settings(environ: Mapping[str, str]) -> Settings:
    prefix = environ.get("PIPELINE_PREFIX", "")
    if not prefix:
        raise SettingsError("PIPELINE_PREFIX: is required (the platform's pipelines are named <prefix><service>)")
    values = {}
    for name in ("STUCK_AFTER_MINUTES", "INTERVAL_MINUTES"):
        raw = environ.get(name, "")
        if not raw.isdigit() or int(raw) < 1:
            raise SettingsError(f"{name}: {raw!r} is not a positive whole number of minutes")
        values[name] = timedelta(minutes=int(raw))
    return Settings(prefix, values["STUCK_AFTER_MINUTES"], values["INTERVAL_MINUTES"])


def reference_time(scheduled: str, interval: timedelta) -> datetime:
    """The schedule's time rounded down to the interval: the same for a retry of the same run."""
    when = datetime.fromisoformat(scheduled.replace("Z", "+00:00")).astimezone(UTC)
    step = int(interval.total_seconds())
    return datetime.fromtimestamp(int(when.timestamp()) // step * step, UTC)


def platform_pipelines(codepipeline: Any, prefix: str) -> list[str]:
    """Every pipeline named ``prefix``*, all pages read first."""
    return [
        pipeline["name"]
        for page in codepipeline.get_paginator("list_pipelines").paginate()
        for pipeline in page.get("pipelines", [])
        if pipeline["name"].startswith(prefix)
    ]


def stuck_executions(codepipeline: Any, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Executions whose age at ``now`` first passed the threshold in the last interval."""
    found = []
    for name in platform_pipelines(codepipeline, settings.prefix):
        summaries = codepipeline.list_pipeline_executions(pipelineName=name, maxResults=EXECUTIONS_PER_PIPELINE)
        for execution in summaries.get("pipelineExecutionSummaries", []):
            started = execution.get("startTime")
            if execution.get("status") not in RUNNING or started is None:
                continue
            age = now - started
            if settings.stuck_after <= age < settings.stuck_after + settings.interval:
                found.append(
                    {
                        "pipeline": name,
                        "execution-id": execution["pipelineExecutionId"],
                        "state": "STUCK",
                        "status": execution["status"],
                        "start-time": started.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                        "running-minutes": int(age.total_seconds() // 60),
                        "threshold-minutes": int(settings.stuck_after.total_seconds() // 60),
                    }
                )
    return found


def put_all(events_client: Any, entries: list[dict[str, Any]]) -> None:
    """PutEvents in batches of 10, retrying only the entries that failed; raises if some still fail."""
    for start in range(0, len(entries), MAX_ENTRIES):
        pending = entries[start : start + MAX_ENTRIES]
        for _ in range(PUT_ATTEMPTS):
            result = events_client.put_events(Entries=pending)
            if not result.get("FailedEntryCount"):
                pending = []
                break
            pending = [entry for entry, out in zip(pending, result["Entries"], strict=True) if out.get("ErrorCode")]
        if pending:
            raise RuntimeError(f"PutEvents failed for {len(pending)} stuck-execution events after {PUT_ATTEMPTS} tries")


def run(codepipeline: Any, events_client: Any, settings: Settings, scheduled: str, region: str, account: str) -> int:
    now = reference_time(scheduled, settings.interval)
    stuck = stuck_executions(codepipeline, settings, now)
    entries = [
        {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Resources": [f"arn:aws:codepipeline:{region}:{account}:{detail['pipeline']}"],
            "Detail": json.dumps(detail, sort_keys=True),
        }
        for detail in stuck
    ]
    put_all(events_client, entries)
    for detail in stuck:
        logger.warning("execution stuck", **{k.replace("-", "_"): v for k, v in detail.items()})
    logger.info("pipelines watched", reference_time=now.isoformat(), stuck=len(stuck))
    return len(stuck)


@logger.inject_lambda_context(clear_state=True)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, int]:
    settings = load_settings(os.environ)
    codepipeline = boto3.client("codepipeline", config=AWS_CONFIG)
    events_client = boto3.client("events", config=AWS_CONFIG)
    return {"stuck": run(codepipeline, events_client, settings, event.time, event.region, event.account)}
