"""Adaptive Cards (version 1.5) for each event kind, wrapped for a Teams Workflows webhook.

Text taken from events is cleaned (control characters removed, whitespace collapsed), cut to a
bounded length and markdown-escaped, so a commit message or a pull request title cannot change
the card's layout or make it too large for Teams.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote, urlsplit

from notifier_events import ACCOUNT_ID, AwsEvent, EventKind, scalar_text

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

MAX_TITLE = 200
MAX_FACT = 200
MAX_COMMIT_MESSAGE = 300
MAX_SUMMARY = 500
MAX_GENERIC_FIELDS = 10
MAX_RESOURCES = 5
MAX_ACTIONS = 4

INFO_EMOJI = "\N{INFORMATION SOURCE}\ufe0f"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MARKDOWN = re.compile(r"([\\`*_\[\]])")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_HEX_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_NON_ISO_TIMES = ("%b %d, %Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")

_SERVICES = {
    "aws.codepipeline": "CodePipeline",
    "aws.codebuild": "CodeBuild",
    "aws.codedeploy": "CodeDeploy",
    "aws.codecommit": "CodeCommit",
}
# Fields a generic card shows first, when present, because they name the resource.
_GENERIC_FIRST = (
    "pipeline",
    "project-name",
    "application",
    "repositoryName",
    "repositoryNames",
    "deploymentGroup",
    "stage",
    "action",
    "state",
    "build-status",
    "event",
    "deploymentId",
    "instanceId",
    "referenceName",
)


class Tone(Enum):
    """Container style and title colour of a card's header."""

    GOOD = ("good", "Good")
    ATTENTION = ("attention", "Attention")
    WARNING = ("warning", "Warning")
    ACCENT = ("accent", "Accent")
    NEUTRAL = ("emphasis", "Default")

    @property
    def container_style(self) -> str:
        return self.value[0]

    @property
    def color(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class CommitInfo:
    """What CodePipeline's GetPipelineExecution says about an execution (all optional)."""

    commit_id: str | None = None
    message: str | None = None
    url: str | None = None
    status_summary: str | None = None


@dataclass(frozen=True)
class CardContext:
    platform_name: str
    environments: Mapping[str, str]


@dataclass
class CardSpec:
    title: str
    tone: Tone
    service: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str, str | None]] = field(default_factory=list)
    summary: str | None = None

    def fact(self, title: str, value: str | None, limit: int = MAX_FACT) -> None:
        if value:
            self.facts.append((title, text(value, limit)))

    def link(self, title: str, url: str | None, style: str | None = None) -> None:
        if url and safe_url(url) and all(existing != url for _, existing, _ in self.links):
            self.links.append((title, url, style))


# --------------------------------------------------------------------------------------
# Text and URL helpers
# --------------------------------------------------------------------------------------


def clean(value: str, limit: int, single_line: bool = True) -> str:
    """Remove control characters, collapse whitespace (unless multi-line), cut to ``limit``."""
    result = _CONTROL.sub(" ", value)
    if single_line:
        result = " ".join(result.split())
    else:
        result = "\n".join(" ".join(line.split()) for line in result.splitlines()).strip()
    if len(result) > limit:
        result = result[: limit - 1].rstrip() + "…"
    return result


def escape_markdown(value: str) -> str:
    return _MARKDOWN.sub(r"\\\1", value)


def text(value: str, limit: int = MAX_FACT, single_line: bool = True) -> str:
    """Event text made safe for a card: cleaned, cut, markdown-escaped."""
    return escape_markdown(clean(value, limit, single_line))


def safe_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and not _CONTROL.search(url) and " " not in url


def console_base(region: str) -> str | None:
    if not _REGION.match(region):
        return None
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def _q(value: str) -> str:
    return quote(value, safe="")


def pipeline_execution_url(region: str, pipeline: str | None, execution_id: str | None) -> str | None:
    base = console_base(region)
    if not (base and pipeline and execution_id):
        return None
    return (
        f"{base}/codesuite/codepipeline/pipelines/{_q(pipeline)}/executions/{_q(execution_id)}/timeline?region={region}"
    )


def pipeline_view_url(region: str, pipeline: str | None) -> str | None:
    base = console_base(region)
    if not (base and pipeline):
        return None
    return f"{base}/codesuite/codepipeline/pipelines/{_q(pipeline)}/view?region={region}"


def build_url(region: str, account: str, project: str | None, build_uuid: str | None) -> str | None:
    base = console_base(region)
    if not (base and project and build_uuid and ACCOUNT_ID.match(account)):
        return None
    return (
        f"{base}/codesuite/codebuild/{account}/projects/{_q(project)}"
        f"/build/{_q(project + ':' + build_uuid)}/?region={region}"
    )


def deployment_url(region: str, deployment_id: str | None) -> str | None:
    base = console_base(region)
    if not (base and deployment_id):
        return None
    return f"{base}/codesuite/codedeploy/deployments/{_q(deployment_id)}?region={region}"


def pull_request_url(region: str, repository: str | None, pull_request_id: str | None) -> str | None:
    base = console_base(region)
    if not (base and repository and pull_request_id):
        return None
    return (
        f"{base}/codesuite/codecommit/repositories/{_q(repository)}"
        f"/pull-requests/{_q(pull_request_id)}/details?region={region}"
    )


def format_time(value: str) -> str:
    """Event times as ``YYYY-MM-DD HH:MM:SS UTC``; unknown formats are shown as they are."""
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for pattern in _NON_ISO_TIMES:
            try:
                parsed = datetime.strptime(value, pattern)  # naive; AWS writes these in UTC
                break
            except ValueError:
                continue
    if parsed is None:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _last_segment(value: str | None, separator: str) -> str | None:
    if not value:
        return None
    return value.rsplit(separator, 1)[-1] or value


def _branch(reference: str | None) -> str | None:
    if reference and reference.startswith("refs/heads/"):
        return reference[len("refs/heads/") :]
    return reference


# --------------------------------------------------------------------------------------
# One spec per family of kinds
# --------------------------------------------------------------------------------------

_PIPELINE_TITLES = {
    EventKind.PIPELINE_STARTED: ("▶️", "started", Tone.ACCENT),
    EventKind.PIPELINE_SUCCEEDED: ("✅", "succeeded", Tone.GOOD),
    EventKind.PIPELINE_FAILED: ("❌", "failed", Tone.ATTENTION),
    EventKind.PIPELINE_CANCELED: ("⏹️", "was canceled", Tone.WARNING),
    EventKind.PIPELINE_SUPERSEDED: ("⏭️", "was superseded", Tone.ACCENT),
}
_APPROVAL_TITLES = {
    EventKind.APPROVAL_WAITING: ("⏳", "Approval needed", Tone.WARNING),
    EventKind.APPROVAL_APPROVED: ("👍", "Approved", Tone.GOOD),
    EventKind.APPROVAL_REJECTED: ("👎", "Rejected", Tone.ATTENTION),
}
_BUILD_STATUS_WORDS = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "FAULT": "failed (fault)",
    "TIMED_OUT": "timed out",
    "STOPPED": "was stopped",
}
_DEPLOYMENT_TITLES = {
    EventKind.DEPLOYMENT_STARTED: ("🚀", "Deployment started", Tone.ACCENT),
    EventKind.DEPLOYMENT_SUCCEEDED: ("✅", "Deployment succeeded", Tone.GOOD),
    EventKind.DEPLOYMENT_FAILED: ("❌", "Deployment failed", Tone.ATTENTION),
    EventKind.DEPLOYMENT_STOPPED: ("⏹️", "Deployment stopped", Tone.WARNING),
}
_PULL_REQUEST_TITLES = {
    EventKind.PULL_REQUEST_CREATED: ("🆕", "opened", Tone.ACCENT),
    EventKind.PULL_REQUEST_UPDATED: ("🔄", "updated", Tone.ACCENT),
    EventKind.PULL_REQUEST_MERGED: ("🔀", "merged", Tone.GOOD),
}
_FAILURE_KINDS = frozenset({EventKind.PIPELINE_FAILED, EventKind.STAGE_FAILED, EventKind.APPROVAL_REJECTED})


def _name(value: str | None, fallback: str) -> str:
    return text(value, 100) if value else fallback


def _commit_facts(spec: CardSpec, commit: CommitInfo | None, kind: EventKind) -> None:
    if commit is None:
        return
    spec.fact("Commit id", commit.commit_id, 64)
    spec.fact("Commit message", commit.message, MAX_COMMIT_MESSAGE)
    if kind in _FAILURE_KINDS:
        spec.fact("Reason", commit.status_summary, MAX_COMMIT_MESSAGE)


def _pipeline_spec(event: AwsEvent, kind: EventKind, commit: CommitInfo | None) -> CardSpec:
    pipeline, execution_id = event.text("pipeline"), event.text("execution-id")
    name = _name(pipeline, "(unknown pipeline)")
    if kind is EventKind.STAGE_FAILED:
        spec = CardSpec(
            f"❌ Stage {_name(event.text('stage'), '(unknown)')} failed in pipeline {name}",
            Tone.ATTENTION,
            "CodePipeline",
        )
    else:
        emoji, verb, tone = _PIPELINE_TITLES[kind]
        spec = CardSpec(f"{emoji} Pipeline {name} {verb}", tone, "CodePipeline")
    spec.fact("Pipeline", pipeline)
    spec.fact("Stage", event.text("stage"))
    spec.fact("Execution id", execution_id)
    trigger_type = scalar_text(event.nested("execution-trigger", "trigger-type"))
    trigger_detail = scalar_text(event.nested("execution-trigger", "trigger-detail"))
    spec.fact("Trigger", " · ".join(part for part in (trigger_type, trigger_detail) if part))
    _commit_facts(spec, commit, kind)
    spec.link("View execution", pipeline_execution_url(event.region, pipeline, execution_id))
    if commit is not None:
        spec.link("View commit", commit.url)
    return spec


def _approval_spec(event: AwsEvent, kind: EventKind, commit: CommitInfo | None) -> CardSpec:
    pipeline, execution_id = event.text("pipeline"), event.text("execution-id")
    emoji, word, tone = _APPROVAL_TITLES[kind]
    stage = _name(event.text("stage"), "(unknown stage)")
    spec = CardSpec(f"{emoji} {word}: {_name(pipeline, '(unknown pipeline)')} → {stage}", tone, "CodePipeline")
    spec.fact("Pipeline", pipeline)
    spec.fact("Stage", event.text("stage"))
    spec.fact("Action", event.text("action"))
    spec.fact("Execution id", execution_id)
    _commit_facts(spec, commit, kind)
    spec.fact("Comment", scalar_text(event.nested("execution-result", "external-execution-summary")), MAX_SUMMARY)
    if kind is EventKind.APPROVAL_WAITING:
        spec.link("Review approval", pipeline_view_url(event.region, pipeline), "positive")
    spec.link("View execution", pipeline_execution_url(event.region, pipeline, execution_id))
    if commit is not None:
        spec.link("View commit", commit.url)
    return spec


def _failed_phase(event: AwsEvent) -> tuple[str | None, str | None]:
    phases = event.nested("additional-information", "phases")
    if not isinstance(phases, list):
        return None, None
    for phase in phases:
        if not isinstance(phase, Mapping):
            continue
        status = scalar_text(phase.get("phase-status"))
        if status and status != "SUCCEEDED":
            context = phase.get("phase-context")
            reasons = [r for r in (scalar_text(c) for c in context) if r] if isinstance(context, list) else []
            return scalar_text(phase.get("phase-type")), "; ".join(reasons) or status
    return None, None


def _build_spec(event: AwsEvent, kind: EventKind) -> CardSpec:
    project = event.text("project-name")
    status = (event.text("build-status") or "").upper()
    name = _name(project, "(unknown project)")
    succeeded = kind in (EventKind.BUILD_SUCCEEDED, EventKind.PULL_REQUEST_BUILD_SUCCEEDED)
    emoji = "✅" if succeeded else ("⏹️" if status == "STOPPED" else "❌")
    tone = Tone.GOOD if succeeded else (Tone.WARNING if status == "STOPPED" else Tone.ATTENTION)
    if kind in (EventKind.PULL_REQUEST_BUILD_SUCCEEDED, EventKind.PULL_REQUEST_BUILD_FAILED):
        title = f"{emoji} Pull request build {'passed' if succeeded else 'failed'}: {name}"
    else:
        title = f"{emoji} Build {name} {_BUILD_STATUS_WORDS.get(status, 'failed')}"
    spec = CardSpec(title, tone, "CodeBuild")
    build_arn = event.text("build-id")
    build_uuid = _last_segment(build_arn, ":") if build_arn else None
    spec.fact("Project", project)
    spec.fact("Build id", f"{project}:{build_uuid}" if project and build_uuid else build_arn)
    spec.fact("Status", status)
    info = event.detail.get("additional-information")
    info = info if isinstance(info, Mapping) else {}
    resolved = scalar_text(info.get("resolved-source-version"))
    source_version = scalar_text(info.get("source-version"))
    if resolved:
        spec.fact("Commit id", resolved, 64)
    elif source_version and _HEX_COMMIT.match(source_version):
        spec.fact("Commit id", source_version, 64)
    if source_version and source_version != resolved and not _HEX_COMMIT.match(source_version):
        spec.fact("Source version", source_version)
    phase, reason = _failed_phase(event)
    if not succeeded:
        spec.fact("Failed phase", phase)
        spec.fact("Reason", reason, MAX_COMMIT_MESSAGE)
    spec.fact("Initiator", scalar_text(info.get("initiator")))
    started = scalar_text(info.get("build-start-time"))
    spec.fact("Started", format_time(started) if started else None)
    console = build_url(event.region, event.account, project, build_uuid)
    deep_link = scalar_text(event.nested("additional-information", "logs", "deep-link"))
    spec.link("View build logs", deep_link if deep_link and safe_url(deep_link) else console)
    spec.link("Open build", console)
    return spec


def _deployment_spec(event: AwsEvent, kind: EventKind) -> tuple[CardSpec, str]:
    application, group = event.text("application"), event.text("deploymentGroup")
    deployment_id = event.text("deploymentId")
    emoji, word, tone = _DEPLOYMENT_TITLES[kind]
    target = _name(application, "(unknown application)") + (f" → {text(group, 100)}" if group else "")
    spec = CardSpec(f"{emoji} {word}: {target}", tone, "CodeDeploy")
    spec.fact("Application", application)
    spec.fact("Deployment group", group)
    spec.fact("Deployment id", deployment_id)
    region = event.text("region") or event.region
    spec.link("View deployment", deployment_url(region, deployment_id))
    return spec, region


def _pull_request_spec(event: AwsEvent, kind: EventKind) -> CardSpec:
    names = event.detail.get("repositoryNames")
    repository = scalar_text(names[0]) if isinstance(names, list) and names else event.text("repositoryName")
    if not repository and event.resources:
        repository = _last_segment(event.resources[0], ":")
    pull_request_id = event.text("pullRequestId")
    title = event.text("title")
    emoji, verb, tone = _PULL_REQUEST_TITLES[kind]
    number = f"#{text(pull_request_id, 20)}" if pull_request_id else "(unknown)"
    heading = f"{emoji} Pull request {number} {verb}" + (f": {text(title, 120)}" if title else "")
    spec = CardSpec(heading, tone, "CodeCommit")
    spec.fact("Repository", repository)
    if pull_request_id:
        spec.fact("Pull request", f"#{pull_request_id}" + (f" {title}" if title else ""))
    source, destination = _branch(event.text("sourceReference")), _branch(event.text("destinationReference"))
    if source or destination:
        spec.fact("Branches", f"{source or '?'} → {destination or '?'}")
    spec.fact("Author", _last_segment(event.text("author"), "/"))
    spec.fact("Commit id", event.text("sourceCommit"), 64)
    spec.fact("Status", event.text("pullRequestStatus"))
    description = event.text("description")
    if description:
        spec.summary = text(description, MAX_SUMMARY, single_line=False)
    spec.link("View pull request", pull_request_url(event.region, repository, pull_request_id))
    return spec


def _generic_value(value: Any) -> str | None:
    if isinstance(value, list):
        items = [item for item in (scalar_text(v) for v in value[:10]) if item]
        return ", ".join(items) if items and len(items) == len(value[:10]) else None
    return scalar_text(value)


def _generic_spec(event: AwsEvent) -> CardSpec:
    ordered = [k for k in _GENERIC_FIRST if k in event.detail]
    ordered += [k for k in event.detail if k not in ordered]
    fields: list[tuple[str, str]] = []
    for key in ordered:
        value = _generic_value(event.detail[key])
        if value is not None and key != "version":
            fields.append((str(key), value))
        if len(fields) >= MAX_GENERIC_FIELDS:
            break
    subject = next((v for k, v in fields if k in _GENERIC_FIRST[:6]), None)
    title = f"{INFO_EMOJI} {text(event.detail_type, 120)}" + (f": {text(subject, 100)}" if subject else "")
    spec = CardSpec(title, Tone.NEUTRAL, _SERVICES.get(event.source, event.source))
    spec.fact("Source", event.source)
    spec.fact("Detail type", event.detail_type)
    for key, value in fields:
        spec.facts.append((text(key, 60), text(value)))
    if event.resources:
        shown = [clean(r, 200) for r in event.resources[:MAX_RESOURCES]]
        more = len(event.resources) - len(shown)
        spec.fact("Resources", ", ".join(shown) + (f" (+{more} more)" if more > 0 else ""), 1200)
    return spec


def card_spec(event: AwsEvent, kind: EventKind, commit: CommitInfo | None = None) -> tuple[CardSpec, str]:
    """The card's content for ``event``, and the region its facts and links refer to."""
    if kind in _PIPELINE_TITLES or kind is EventKind.STAGE_FAILED:
        return _pipeline_spec(event, kind, commit), event.region
    if kind in _APPROVAL_TITLES:
        return _approval_spec(event, kind, commit), event.region
    if kind in (
        EventKind.BUILD_SUCCEEDED,
        EventKind.BUILD_FAILED,
        EventKind.PULL_REQUEST_BUILD_SUCCEEDED,
        EventKind.PULL_REQUEST_BUILD_FAILED,
    ):
        return _build_spec(event, kind), event.region
    if kind in _DEPLOYMENT_TITLES:
        return _deployment_spec(event, kind)
    if kind in _PULL_REQUEST_TITLES:
        return _pull_request_spec(event, kind), event.region
    return _generic_spec(event), event.region


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _cut_escaped(value: str, limit: int) -> str:
    """Cut markdown-escaped text without leaving a dangling backslash."""
    cut = value[: limit - 1]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _facts(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"title": title, "value": value} for title, value in items]


def build_card(
    event: AwsEvent, kind: EventKind, context: CardContext, commit: CommitInfo | None = None
) -> dict[str, Any]:
    """The Adaptive Card for ``event``."""
    spec, region = card_spec(event, kind, commit)
    account = event.account
    environment = context.environments.get(account) or account or "unknown"
    spec.fact("Account", account)
    spec.fact("Region", region)
    spec.fact("Environment", environment)
    spec.fact("Time", format_time(event.time) if event.time else None)
    title = spec.title if len(spec.title) <= MAX_TITLE else _cut_escaped(spec.title, MAX_TITLE)
    subtitle = " · ".join(text(part, 60) for part in (context.platform_name, spec.service, environment) if part)
    header: dict[str, Any] = {
        "type": "Container",
        "style": spec.tone.container_style,
        "bleed": True,
        "items": [
            {
                "type": "TextBlock",
                "text": title,
                "size": "Medium",
                "weight": "Bolder",
                "color": spec.tone.color,
                "wrap": True,
            },
            {"type": "TextBlock", "text": subtitle, "isSubtle": True, "size": "Small", "spacing": "None", "wrap": True},
        ],
    }
    body: list[dict[str, Any]] = [header]
    if spec.summary:
        body.append({"type": "TextBlock", "text": spec.summary, "wrap": True, "maxLines": 8, "spacing": "Medium"})
    if spec.facts:
        body.append({"type": "FactSet", "facts": _facts(spec.facts), "spacing": "Medium"})
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": clean(title.replace("\\", ""), MAX_TITLE),
        "body": body,
    }
    actions = []
    for link_title, url, style in spec.links[:MAX_ACTIONS]:
        action = {"type": "Action.OpenUrl", "title": link_title, "url": url}
        if style:
            action["style"] = style
        actions.append(action)
    if actions:
        card["actions"] = actions
    return card


def workflows_message(card: Mapping[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook expects: a message with one Adaptive Card attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": dict(card)}],
    }
