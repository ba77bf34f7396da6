"""EventBridge events: check the envelope, wrap it in Powertools' EventBridgeEvent, classify it into a kind.

Real events have quirks that must not crash the notifier: ``account`` can be a JSON number,
``detail.version`` a number or a string, and dates inside ``detail`` are in several formats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent


class EventKind(StrEnum):
    PIPELINE_STARTED = "pipeline_started"
    PIPELINE_SUCCEEDED = "pipeline_succeeded"
    PIPELINE_FAILED = "pipeline_failed"
    PIPELINE_CANCELED = "pipeline_canceled"
    PIPELINE_SUPERSEDED = "pipeline_superseded"
    PIPELINE_STUCK = "pipeline_stuck"
    STAGE_FAILED = "stage_failed"
    APPROVAL_WAITING = "approval_waiting"
    APPROVAL_APPROVED = "approval_approved"
    APPROVAL_REJECTED = "approval_rejected"
    BUILD_SUCCEEDED = "build_succeeded"
    BUILD_FAILED = "build_failed"
    DEPLOYMENT_STARTED = "deployment_started"
    DEPLOYMENT_SUCCEEDED = "deployment_succeeded"
    DEPLOYMENT_FAILED = "deployment_failed"
    DEPLOYMENT_STOPPED = "deployment_stopped"
    PULL_REQUEST_CREATED = "pull_request_created"
    PULL_REQUEST_UPDATED = "pull_request_updated"
    PULL_REQUEST_MERGED = "pull_request_merged"
    PULL_REQUEST_BUILD_SUCCEEDED = "pull_request_build_succeeded"
    PULL_REQUEST_BUILD_FAILED = "pull_request_build_failed"
    UNRECOGNISED = "unrecognised"


# The kinds a route can name (everything except the generic fallback).
# An AWS account id, wherever an event or a setting names one.
ACCOUNT_ID = re.compile(r"^\d{12}$")

EVENT_KINDS: tuple[str, ...] = tuple(kind.value for kind in EventKind if kind is not EventKind.UNRECOGNISED)

PIPELINE_EXECUTION = "CodePipeline Pipeline Execution State Change"
STAGE_EXECUTION = "CodePipeline Stage Execution State Change"
ACTION_EXECUTION = "CodePipeline Action Execution State Change"
BUILD_STATE = "CodeBuild Build State Change"
DEPLOYMENT_STATE = "CodeDeploy Deployment State-change Notification"
PULL_REQUEST_STATE = "CodeCommit Pull Request State Change"
# The platform's pipeline watcher (lambda/pipeline_watcher; a test holds the two equal).
WATCHER_SOURCE = "platform.pipeline-watcher"
EXECUTION_STUCK = "CodePipeline Pipeline Execution Stuck"

_PIPELINE_STATES = {
    "STARTED": EventKind.PIPELINE_STARTED,
    "SUCCEEDED": EventKind.PIPELINE_SUCCEEDED,
    "FAILED": EventKind.PIPELINE_FAILED,
    "CANCELED": EventKind.PIPELINE_CANCELED,
    "SUPERSEDED": EventKind.PIPELINE_SUPERSEDED,
}
_APPROVAL_STATES = {
    "STARTED": EventKind.APPROVAL_WAITING,
    "SUCCEEDED": EventKind.APPROVAL_APPROVED,
    "FAILED": EventKind.APPROVAL_REJECTED,
}
_BUILD_FAILED_STATES = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
_DEPLOYMENT_STATES = {
    "START": EventKind.DEPLOYMENT_STARTED,
    "SUCCESS": EventKind.DEPLOYMENT_SUCCEEDED,
    "FAILURE": EventKind.DEPLOYMENT_FAILED,
    "STOP": EventKind.DEPLOYMENT_STOPPED,
}


class MalformedEventError(ValueError):
    """The input is not an EventBridge event this function can read (sent to the on-failure destination)."""


class AwsEvent(EventBridgeEvent):
    """An EventBridge event whose envelope ``parse_event`` checked and normalised (text fields are strings)."""

    def text(self, key: str) -> str | None:
        """A top-level ``detail`` field as text, or None if absent, empty or not a scalar."""
        return scalar_text(self.detail.get(key))

    def nested(self, *path: str) -> Any:
        """A nested ``detail`` value, or None if any step is missing or not an object."""
        value: Any = self.detail
        for key in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value


def log_fields(event: AwsEvent, kind: EventKind | None, environments: Mapping[str, str]) -> dict[str, Any]:
    """What every log line about an event carries; the delivery dashboard's Logs Insights queries read
    kind, environment, pipeline and execution_id (cdk_constructs/delivery_dashboard.py)."""
    fields = {
        "event_id": event.get_id,
        "kind": kind.value if kind else None,
        "environment": environments.get(event.account) or event.account or None,
        "pipeline": event.text("pipeline"),
        "execution_id": event.text("execution-id"),
    }
    return {key: value for key, value in fields.items() if value is not None}


def scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def _account(value: Any) -> str:
    # Some published samples carry the account as a JSON number; ids are 12 digits.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).zfill(12)
    text = scalar_text(value)
    return text or ""


def parse_event(raw: Any) -> AwsEvent:
    """Read an EventBridge event; raise MalformedEventError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise MalformedEventError(f"event is a {type(raw).__name__}, not a JSON object")
    missing = [key for key in ("id", "source", "detail-type", "detail") if key not in raw or raw[key] is None]
    if missing:
        present = ", ".join(sorted(map(str, raw)))[:300]
        raise MalformedEventError(f"event lacks {', '.join(missing)}; keys present: {present}")
    if not isinstance(raw["detail"], Mapping):
        raise MalformedEventError(f"event detail is a {type(raw['detail']).__name__}, not a JSON object")
    envelope: dict[str, Any] = dict(raw)
    for key in ("id", "source", "detail-type"):
        text = scalar_text(raw[key])
        if text is None:
            raise MalformedEventError(f"event {key} is empty or not a string")
        envelope[key] = text
    # The data class reads fields as they are: give it the optional ones as strings, never missing.
    resources = raw.get("resources")
    envelope["resources"] = [t for t in map(scalar_text, resources if isinstance(resources, list) else []) if t]
    envelope["account"] = _account(raw.get("account"))
    envelope["region"] = scalar_text(raw.get("region")) or ""
    envelope["time"] = scalar_text(raw.get("time")) or ""
    return AwsEvent(envelope)


def _upper(value: str | None) -> str:
    return (value or "").upper()


def classify(event: AwsEvent, pull_request_project_suffix: str) -> EventKind:
    """The kind of ``event``; UNRECOGNISED for anything this function has no dedicated card for."""
    source, detail_type = event.source, event.detail_type
    if source == "aws.codepipeline":
        state = _upper(event.text("state"))
        if detail_type == PIPELINE_EXECUTION:
            return _PIPELINE_STATES.get(state, EventKind.UNRECOGNISED)
        if detail_type == STAGE_EXECUTION and state == "FAILED":
            return EventKind.STAGE_FAILED
        if detail_type == ACTION_EXECUTION and scalar_text(event.nested("type", "category")) == "Approval":
            return _APPROVAL_STATES.get(state, EventKind.UNRECOGNISED)
    elif source == WATCHER_SOURCE and detail_type == EXECUTION_STUCK:
        return EventKind.PIPELINE_STUCK
    elif source == "aws.codebuild" and detail_type == BUILD_STATE:
        status = _upper(event.text("build-status"))
        project = event.text("project-name") or ""
        pull_request = bool(pull_request_project_suffix) and project.endswith(pull_request_project_suffix)
        if status == "SUCCEEDED":
            return EventKind.PULL_REQUEST_BUILD_SUCCEEDED if pull_request else EventKind.BUILD_SUCCEEDED
        if status in _BUILD_FAILED_STATES:
            return EventKind.PULL_REQUEST_BUILD_FAILED if pull_request else EventKind.BUILD_FAILED
    elif source == "aws.codedeploy" and detail_type == DEPLOYMENT_STATE:
        return _DEPLOYMENT_STATES.get(_upper(event.text("state")), EventKind.UNRECOGNISED)
    elif source == "aws.codecommit" and detail_type == PULL_REQUEST_STATE:
        action = event.text("event")
        merged = _upper(event.text("isMerged")) == "TRUE"
        if action == "pullRequestCreated":
            return EventKind.PULL_REQUEST_CREATED
        if action == "pullRequestSourceBranchUpdated":
            return EventKind.PULL_REQUEST_UPDATED
        if action in ("pullRequestStatusChanged", "pullRequestMergeStatusUpdated") and merged:
            return EventKind.PULL_REQUEST_MERGED
    return EventKind.UNRECOGNISED
