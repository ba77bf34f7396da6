"""Adaptive Cards (version 1.5) for each event kind, wrapped for a Teams Workflows webhook.

Text taken from events is cleaned (control characters removed, whitespace collapsed), cut to a
bounded length and markdown-escaped, so a commit message or a pull request title cannot change
the card's layout. ``workflows_message`` then guarantees the size: the serialized message never
exceeds MAX_MESSAGE_BYTES (Teams refuses larger ones), shrinking the card progressively if it must
(text cut with "… (truncated)", lists with "… and N more", links kept whole or dropped).

A burst of events of one kind becomes one summary card: ``summary_item`` per event,
``build_summary_card`` for the lot.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from notifier_events import ACCOUNT_ID, AwsEvent, EventKind, scalar_text
from notifier_freezes import Freeze, active_freezes

if TYPE_CHECKING:
    from notifier_settings import Settings

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
# A service pipeline's deploy stages are Deploy-<environment> (config/names.py deploy_stage; a test holds them equal).
DEPLOY_STAGE_PREFIX = "Deploy-"
# Teams refuses a message above about 28 KB: the bound on json.dumps(workflows_message(card),
# ensure_ascii=False).encode("utf-8"), exactly what the dispatcher posts.
MAX_MESSAGE_BYTES = 28 * 1024
# Rows a summary card lists before "… and N more" (the size limit may cut it further).
MAX_SUMMARY_ROWS = 50

TRUNCATED = "… (truncated)"
SHORTENED_NOTE = "✂️ Parts of this card were truncated to fit the Teams message size limit."
TOO_LARGE_NOTE = "✂️ The details of this notification were too large for a Teams message and were truncated."

INFO_EMOJI = "\N{INFORMATION SOURCE}\ufe0f"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MARKDOWN = re.compile(r"([\\`*_\[\]])")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_HEX_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
_NON_ISO_TIMES = ("%b %d, %Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A markdown link (its label markdown-escaped: no bare brackets, so matching stays linear; its
# URL without parentheses or spaces) and a bare URL: text is never cut inside either.
_MARKDOWN_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\\\[\]])*)\]\(([^()\s]*)\)")
_ATOMIC = re.compile(_MARKDOWN_LINK.pattern + r"|https?://\S+")
_MORE = re.compile(r"^… and (\d+) more$")
_MIN_LABEL = 8

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
    # A waiting approval's own configuration, as resolved (ListActionExecutions): the link its pipeline
    # gives reviewers (the platform pipeline's change report) and its comments.
    review_link: str | None = None
    review_notes: str | None = None


@dataclass(frozen=True)
class CardContext:
    platform_name: str
    environments: Mapping[str, str]
    freezes: tuple[Freeze, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> CardContext:
        """What every card of this function is built with, from its settings."""
        return cls(settings.platform_name, settings.environments, settings.freezes)


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
    return cut(result, limit)


def _continues(value: str, index: int) -> bool:
    """True if cutting ``value`` before ``index`` would split a character sequence or an escape."""
    if index <= 0 or index >= len(value):
        return False
    char, before = value[index], value[index - 1]
    if unicodedata.combining(char) or char in "\u200d\ufe0e\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff":
        return True
    if before == "\u200d" or "\U000e0020" <= char <= "\U000e007f":  # zero-width joiner, emoji tag
        return True
    trailing = len(value[:index]) - len(value[:index].rstrip("\\"))
    return trailing % 2 == 1  # a markdown escape: keep the backslash with its character


def _prefix(value: str, length: int) -> str:
    index = max(0, min(length, len(value)))
    while _continues(value, index):
        index -= 1
    return value[:index]


def _visible(match: re.Match[str], label_cost: bool) -> int:
    if label_cost and match.group(2) is not None:
        return len(match.group(1))
    return len(match.group())


def cut(value: str, limit: int, marker: str = "…", label_cost: bool = False) -> str:
    """``value`` if it is at most ``limit`` characters long, else its start and ``marker``.

    Never cuts inside a URL, bare or in a markdown link: one that does not fit is left out with
    everything after it. Never splits a markdown escape or an emoji sequence. ``label_cost``:
    a markdown link counts as its label (what a reader sees), else as all of its characters; a
    link whose label does not fit keeps its start (at least _MIN_LABEL characters) and its URL.
    """
    if len(value) <= limit:
        return value
    tokens = list(_ATOMIC.finditer(value))
    if label_cost and len(value) - sum(len(m.group()) - _visible(m, True) for m in tokens) <= limit:
        return value
    budget = max(0, limit - len(marker))
    kept: list[str] = []
    used = position = 0
    for match in tokens:
        plain = value[position : match.start()]
        if used + len(plain) > budget:
            kept.append(_prefix(plain, budget - used))
            return "".join(kept).rstrip() + marker
        kept.append(plain)
        used += len(plain)
        cost = _visible(match, label_cost)
        if used + cost > budget:
            room, label = budget - used, match.group(1)
            if label_cost and label is not None and room >= min(len(label), _MIN_LABEL):
                label = _prefix(label, room).rstrip()  # the label is cut, its URL kept whole
                kept.append(f"[{label}]({match.group(2)})" if label else "")
            return "".join(kept).rstrip() + marker
        kept.append(match.group())
        used += cost
        position = match.end()
    kept.append(_prefix(value[position:], budget - used))
    return "".join(kept).rstrip() + marker


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
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and not _CONTROL.search(url)
        and not _SURROGATE.search(url)
        and not any(char.isspace() for char in url)
    )


def console_base(region: str) -> str | None:
    if not _REGION.match(region):
        return None
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def _q(value: str) -> str:
    # surrogatepass: a lone surrogate in an event (no AWS name has one) must not raise here.
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


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


def parse_time(value: str) -> datetime | None:
    """An event time as an aware datetime (naive times are UTC, as AWS writes them); None if unknown."""
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
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_time(value: str) -> str:
    """Event times as ``YYYY-MM-DD HH:MM:SS UTC``; unknown formats are shown as they are."""
    parsed = parse_time(value)
    return value if parsed is None else parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
    EventKind.PIPELINE_STUCK: ("🐢", "has been running too long", Tone.WARNING),
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
    if kind is EventKind.PIPELINE_STUCK:
        started = event.text("start-time")
        spec.fact("Started", format_time(started) if started else None)
        spec.fact("Running for", f"{event.text('running-minutes') or '?'} minutes")
        spec.fact("Reported after", f"{event.text('threshold-minutes') or '?'} minutes")
        spec.summary = (
            "The execution is still in progress: an approval or a guardrail may be waiting, or an action is "
            "stuck. python -m tools.ops status shows where; tools.ops stop SERVICE --reason TEXT ends it."
        )
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
    if kind is EventKind.APPROVAL_WAITING and commit is not None:
        spec.fact("To review", commit.review_notes, MAX_SUMMARY)
        if commit.review_link:
            spec.link("Open what to review", commit.review_link)
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


def _pull_request_repository(event: AwsEvent) -> str | None:
    names = event.detail.get("repositoryNames")
    repository = scalar_text(names[0]) if isinstance(names, list) and names else event.text("repositoryName")
    if not repository and event.resources:
        repository = _last_segment(event.resources[0], ":")
    return repository


def _pull_request_spec(event: AwsEvent, kind: EventKind) -> CardSpec:
    repository = _pull_request_repository(event)
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


def _generic_fields(event: AwsEvent) -> list[tuple[str, str]]:
    """The first MAX_GENERIC_FIELDS scalar detail fields, those naming the resource first."""
    first = [k for k in _GENERIC_FIRST if k in event.detail]
    named = set(first)
    ordered = first + [k for k in event.detail if k not in named]
    fields: list[tuple[str, str]] = []
    for key in ordered:
        value = _generic_value(event.detail[key])
        if value is not None and key != "version":
            fields.append((str(key), value))
        if len(fields) >= MAX_GENERIC_FIELDS:
            break
    return fields


def _generic_subject(fields: Iterable[tuple[str, str]]) -> str | None:
    return next((v for k, v in fields if k in _GENERIC_FIRST[:6]), None)


def _generic_spec(event: AwsEvent) -> CardSpec:
    fields = _generic_fields(event)
    subject = _generic_subject(fields)
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


def _facts(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"title": title, "value": value} for title, value in items]


def _header(title: str, subtitle: str, tone: Tone) -> dict[str, Any]:
    return {
        "type": "Container",
        "style": tone.container_style,
        "bleed": True,
        "items": [
            {
                "type": "TextBlock",
                "text": title,
                "size": "Medium",
                "weight": "Bolder",
                "color": tone.color,
                "wrap": True,
            },
            {"type": "TextBlock", "text": subtitle, "isSubtle": True, "size": "Small", "spacing": "None", "wrap": True},
        ],
    }


def _card(body: list[dict[str, Any]], title: str) -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": clean(title.replace("\\", ""), MAX_TITLE),
        "body": body,
    }


def _subtitle(*parts: str | None) -> str:
    return " · ".join(text(part, 60) for part in parts if part)


def _freeze_facts(spec: CardSpec, event: AwsEvent, freezes: tuple[Freeze, ...]) -> None:
    """On a failed Deploy-<env> stage: the freezes in force then, why, and until when.

    CodePipeline's stage event does not say which entry rule failed, so the card says the stage is frozen
    when a freeze of its environment was in force at the event's time, and names the override.
    """
    stage, when = event.text("stage") or "", parse_time(event.time) if event.time else None
    if not stage.startswith(DEPLOY_STAGE_PREFIX) or when is None:
        return
    environment = stage[len(DEPLOY_STAGE_PREFIX) :]
    active = active_freezes(freezes, environment, when)
    if not active:
        return
    _freeze_list(spec, active)
    pipeline = event.text("pipeline") or "(pipeline)"
    spec.summary = (
        f"{stage} did not start: {environment} is in a change freeze. The stage fails at its entry condition "
        f"until the freeze ends. For an emergency, python -m tools.ops override SERVICE {environment} --reason TEXT "
        f"lets {text(pipeline, 100)} in once; CloudTrail records who did it and when."
    )
    if any(freeze.waits for freeze, _ in active):
        spec.summary += (
            " This freeze holds executions before the stage instead (during: wait): that it failed here means "
            "its schedule did not disable the transition; the pipeline's dead-letter queue says why."
        )


def _freeze_list(spec: CardSpec, active: list[tuple[Freeze, datetime]], where: str = "") -> None:
    for freeze, until in active:
        name = f"{freeze.name}{where}"
        spec.fact("Freeze", f"{name}: {freeze.reason}" if freeze.reason else name)
        local, utc = until.strftime("%Y-%m-%d %H:%M"), until.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        spec.fact("Frozen until", f"{local} {freeze.timezone} ({utc} UTC)")


def _waiting_freeze_facts(spec: CardSpec, event: AwsEvent, context: CardContext) -> None:
    """On a stuck execution: the `during: wait` freezes in force, which hold executions before Approve-<env> and
    Deploy-<env> without any event of their own (the watcher's event does not say which stage it waits at)."""
    when = parse_time(event.time) if event.time else None
    if when is None:
        return
    held = [(f, f.ends_after(when)) for f in context.freezes if f.waits and f.frozen_at(when)]
    if not held:
        return
    for freeze, until in held:
        where = ", ".join(freeze.environments) if freeze.environments is not None else "every environment"
        _freeze_list(spec, [(freeze, until)], f" ({where})")
    spec.summary = (
        f"{spec.summary} A change freeze that holds executions before Approve-<env> and Deploy-<env> is in force "
        "(during: wait): an execution waiting there continues by itself when the freeze ends. For an emergency: "
        "python -m tools.ops unfreeze --planned-too, then tools.ops override."
    ).strip()


def build_card(
    event: AwsEvent, kind: EventKind, context: CardContext, commit: CommitInfo | None = None
) -> dict[str, Any]:
    """The Adaptive Card for ``event`` (``workflows_message`` bounds its size)."""
    spec, region = card_spec(event, kind, commit)
    account = event.account
    environment = context.environments.get(account) or account or "unknown"
    spec.fact("Account", account)
    spec.fact("Region", region)
    spec.fact("Environment", environment)
    spec.fact("Time", format_time(event.time) if event.time else None)
    if kind is EventKind.STAGE_FAILED:
        _freeze_facts(spec, event, context.freezes)
    elif kind is EventKind.PIPELINE_STUCK:
        _waiting_freeze_facts(spec, event, context)
    title = cut(spec.title, MAX_TITLE)
    body: list[dict[str, Any]] = [
        _header(title, _subtitle(context.platform_name, spec.service, environment), spec.tone)
    ]
    if spec.summary:
        body.append({"type": "TextBlock", "text": spec.summary, "wrap": True, "maxLines": 8, "spacing": "Medium"})
    if spec.facts:
        body.append({"type": "FactSet", "facts": _facts(spec.facts), "spacing": "Medium"})
    card = _card(body, title)
    actions = []
    for link_title, url, style in spec.links[:MAX_ACTIONS]:
        action = {"type": "Action.OpenUrl", "title": link_title, "url": url}
        if style:
            action["style"] = style
        actions.append(action)
    if actions:
        card["actions"] = actions
    return card


# --------------------------------------------------------------------------------------
# Burst summary
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryItem:
    """One event's line on a summary card. Plain text: the card escapes it."""

    event_id: str
    title: str  # the pipeline / project / application / repository (and stage, group, pull request)
    url: str | None  # the individual card's primary link
    status: str  # short: "succeeded", "failed (fault)", "merged"...
    time: str | None  # "YYYY-MM-DD HH:MM:SS UTC"
    environment: str | None = None


# kind -> (one, many): "1 pipeline failed", "3 pipelines failed"
_SUMMARY_TITLES: dict[EventKind, tuple[str, str]] = {
    EventKind.PIPELINE_STARTED: ("pipeline started", "pipelines started"),
    EventKind.PIPELINE_SUCCEEDED: ("pipeline succeeded", "pipelines succeeded"),
    EventKind.PIPELINE_FAILED: ("pipeline failed", "pipelines failed"),
    EventKind.PIPELINE_CANCELED: ("pipeline was canceled", "pipelines were canceled"),
    EventKind.PIPELINE_SUPERSEDED: ("pipeline was superseded", "pipelines were superseded"),
    EventKind.PIPELINE_STUCK: ("execution running too long", "executions running too long"),
    EventKind.STAGE_FAILED: ("stage failed", "stages failed"),
    EventKind.APPROVAL_WAITING: ("approval needed", "approvals needed"),
    EventKind.APPROVAL_APPROVED: ("approval given", "approvals given"),
    EventKind.APPROVAL_REJECTED: ("approval rejected", "approvals rejected"),
    EventKind.BUILD_SUCCEEDED: ("build succeeded", "builds succeeded"),
    EventKind.BUILD_FAILED: ("build failed", "builds failed"),
    EventKind.DEPLOYMENT_STARTED: ("deployment started", "deployments started"),
    EventKind.DEPLOYMENT_SUCCEEDED: ("deployment succeeded", "deployments succeeded"),
    EventKind.DEPLOYMENT_FAILED: ("deployment failed", "deployments failed"),
    EventKind.DEPLOYMENT_STOPPED: ("deployment was stopped", "deployments were stopped"),
    EventKind.PULL_REQUEST_CREATED: ("pull request opened", "pull requests opened"),
    EventKind.PULL_REQUEST_UPDATED: ("pull request updated", "pull requests updated"),
    EventKind.PULL_REQUEST_MERGED: ("pull request merged", "pull requests merged"),
    EventKind.PULL_REQUEST_BUILD_SUCCEEDED: ("pull request build passed", "pull request builds passed"),
    EventKind.PULL_REQUEST_BUILD_FAILED: ("pull request build failed", "pull request builds failed"),
    EventKind.UNRECOGNISED: ("other event", "other events"),
}
_BUILD_KINDS = frozenset(
    {
        EventKind.BUILD_SUCCEEDED,
        EventKind.BUILD_FAILED,
        EventKind.PULL_REQUEST_BUILD_SUCCEEDED,
        EventKind.PULL_REQUEST_BUILD_FAILED,
    }
)


def _kind_style(kind: EventKind) -> tuple[str, Tone, str]:
    """(emoji, tone, service) of the individual cards of ``kind``."""
    if kind in _PIPELINE_TITLES:
        emoji, _, tone = _PIPELINE_TITLES[kind]
        return emoji, tone, "CodePipeline"
    if kind is EventKind.STAGE_FAILED:
        return "❌", Tone.ATTENTION, "CodePipeline"
    if kind in _APPROVAL_TITLES:
        emoji, _, tone = _APPROVAL_TITLES[kind]
        return emoji, tone, "CodePipeline"
    if kind in _BUILD_KINDS:
        succeeded = kind in (EventKind.BUILD_SUCCEEDED, EventKind.PULL_REQUEST_BUILD_SUCCEEDED)
        return ("✅", Tone.GOOD, "CodeBuild") if succeeded else ("❌", Tone.ATTENTION, "CodeBuild")
    if kind in _DEPLOYMENT_TITLES:
        emoji, _, tone = _DEPLOYMENT_TITLES[kind]
        return emoji, tone, "CodeDeploy"
    if kind in _PULL_REQUEST_TITLES:
        emoji, _, tone = _PULL_REQUEST_TITLES[kind]
        return emoji, tone, "CodeCommit"
    return INFO_EMOJI, Tone.NEUTRAL, "AWS"


def _summary_subject(event: AwsEvent, kind: EventKind) -> str:
    """What the individual card's title names, as plain text."""
    pipeline = event.text("pipeline") or "(unknown pipeline)"
    if kind in _PIPELINE_TITLES:
        return pipeline
    if kind is EventKind.STAGE_FAILED or kind in _APPROVAL_TITLES:
        return f"{pipeline} → {event.text('stage') or '(unknown stage)'}"
    if kind in _BUILD_KINDS:
        return event.text("project-name") or "(unknown project)"
    if kind in _DEPLOYMENT_TITLES:
        group = event.text("deploymentGroup")
        return (event.text("application") or "(unknown application)") + (f" → {group}" if group else "")
    if kind in _PULL_REQUEST_TITLES:
        pull_request_id, title = event.text("pullRequestId"), event.text("title")
        subject = _pull_request_repository(event) or "(unknown repository)"
        subject += f" #{pull_request_id}" if pull_request_id else ""
        return subject + (f": {title}" if title else "")
    generic_subject = _generic_subject(_generic_fields(event))
    return event.detail_type + (f": {generic_subject}" if generic_subject else "")


def _summary_status(event: AwsEvent, kind: EventKind) -> str:
    if kind in _PIPELINE_TITLES:
        return _PIPELINE_TITLES[kind][1].removeprefix("was ")
    if kind is EventKind.STAGE_FAILED:
        return "failed"
    if kind in _APPROVAL_TITLES:
        return {EventKind.APPROVAL_WAITING: "waiting for approval", EventKind.APPROVAL_APPROVED: "approved"}.get(
            kind, "rejected"
        )
    if kind in _BUILD_KINDS:
        status = (event.text("build-status") or "").upper()
        if status == "SUCCEEDED":
            return "passed" if kind is EventKind.PULL_REQUEST_BUILD_SUCCEEDED else "succeeded"
        return _BUILD_STATUS_WORDS.get(status, "failed").removeprefix("was ")
    if kind in _DEPLOYMENT_TITLES:
        return _DEPLOYMENT_TITLES[kind][1].removeprefix("Deployment ")
    if kind in _PULL_REQUEST_TITLES:
        return _PULL_REQUEST_TITLES[kind][1]
    return event.text("state") or event.text("build-status") or event.text("event") or "received"


def summary_item(
    event: AwsEvent, kind: EventKind, context: CardContext, commit: CommitInfo | None = None
) -> SummaryItem:
    """``event``'s line on a summary card, from the same data as its individual card."""
    spec, _ = card_spec(event, kind, commit)
    account = event.account
    return SummaryItem(
        event_id=event.get_id,
        title=_summary_subject(event, kind),
        url=spec.links[0][1] if spec.links else None,
        status=_summary_status(event, kind),
        time=format_time(event.time) if event.time else None,
        environment=context.environments.get(account) or account or None,
    )


def _window(seconds: int) -> str:
    if seconds > 0 and seconds % 60 == 0:
        minutes = seconds // 60
        return "a minute" if minutes == 1 else f"{minutes} minutes"
    return "a second" if seconds == 1 else f"{max(seconds, 0)} seconds"


def _markdown_url(url: str | None) -> str | None:
    """``url`` as the target of a markdown link (parentheses and angle brackets percent-encoded)."""
    if not url or not safe_url(url):
        return None
    for char, encoded in (("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, encoded)
    return url


def _summary_row(item: SummaryItem) -> dict[str, Any]:
    label = text(item.title, 120) or "(unnamed)"
    url = _markdown_url(item.url)
    parts = [f"[{label}]({url})" if url else label]
    parts += [text(part, 60) for part in (item.environment, item.status, item.time) if part]
    return {"type": "TextBlock", "text": "• " + " · ".join(parts), "wrap": True, "spacing": "Small"}


def _more(count: int) -> str:
    return f"… and {count} more"


def _more_block(count: int) -> dict[str, Any]:
    return {"type": "TextBlock", "text": _more(count), "isSubtle": True, "wrap": True, "spacing": "Small"}


def build_summary_card(
    kind: EventKind, items: Sequence[SummaryItem], context: CardContext, window_seconds: int = 60
) -> dict[str, Any]:
    """One card for a burst of ``kind`` events (one row per item, each linked), in place of their own cards.

    Lists MAX_SUMMARY_ROWS rows and "… and N more"; ``workflows_message`` bounds its size.
    """
    emoji, tone, service = _kind_style(kind)
    one, many = _SUMMARY_TITLES.get(kind, _SUMMARY_TITLES[EventKind.UNRECOGNISED])
    count = len(items)
    title = f"{emoji} {count} {one if count == 1 else many}"
    environments = sorted({item.environment for item in items if item.environment})
    where = (
        environments[0] if len(environments) == 1 else (f"{len(environments)} environments" if environments else None)
    )
    notice = (
        f"A burst of {count} {'event' if count == 1 else 'events'} of this kind within {_window(window_seconds)}: "
        "this summary replaces their individual cards."
    )
    rows = [_summary_row(item) for item in items[:MAX_SUMMARY_ROWS]]
    if count > MAX_SUMMARY_ROWS:
        rows.append(_more_block(count - MAX_SUMMARY_ROWS))
    if not rows:
        rows.append({"type": "TextBlock", "text": "(no events)", "isSubtle": True, "wrap": True})
    body = [
        _header(title, _subtitle(context.platform_name, service, where), tone),
        {"type": "TextBlock", "text": notice, "isSubtle": True, "wrap": True, "spacing": "Small"},
        {"type": "Container", "items": rows, "spacing": "Medium"},
    ]
    return _card(body, title)


# --------------------------------------------------------------------------------------
# The Workflows message, within MAX_MESSAGE_BYTES
# --------------------------------------------------------------------------------------

# Strings a reader sees, cut when a card must shrink; URLs and other strings never are.
_TEXT_KEYS = frozenset({"text", "title", "value", "fallbackText", "altText"})
# Lists of elements: cut with an "… and N more" TextBlock.
_ELEMENT_LISTS = frozenset({"body", "items"})
_OPEN_URL = "Action.OpenUrl"


@dataclass(frozen=True)
class _Level:
    text: int  # visible characters per string
    items: int  # elements per list
    url: int  # characters per URL (longer links are dropped with their item)


# Applied in turn, each to the card as built, until the message fits.
_LEVELS = (
    _Level(1000, 400, 16384),
    _Level(500, 200, 8192),
    _Level(300, 100, 4096),
    _Level(200, 50, 2048),
    _Level(120, 25, 1024),
    _Level(80, 12, 1024),
    _Level(40, 6, 512),
)


def _envelope(card: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def message_bytes(message: Mapping[str, Any]) -> int:
    """The size of ``message`` as the dispatcher posts it."""
    return len(json.dumps(message, ensure_ascii=False).encode("utf-8"))


def _fits(card: Mapping[str, Any]) -> bool:
    return message_bytes(_envelope(card)) <= MAX_MESSAGE_BYTES


def _is_open_url(node: Any) -> bool:
    return isinstance(node, Mapping) and node.get("type") == _OPEN_URL


def _sanitized(node: Any) -> Any:
    """A deep copy in plain dicts and lists, lone surrogates (which UTF-8 cannot encode) replaced;
    an Action.OpenUrl whose URL has one is left out rather than pointed elsewhere."""
    if isinstance(node, str):
        return _SURROGATE.sub("\ufffd", node)
    if isinstance(node, Mapping):
        return {
            _sanitized(str(key)): _sanitized(value)
            for key, value in node.items()
            if not (key == "selectAction" and _is_open_url(value) and _SURROGATE.search(str(value.get("url"))))
        }
    if isinstance(node, list | tuple):
        return [
            _sanitized(item) for item in node if not (_is_open_url(item) and _SURROGATE.search(str(item.get("url"))))
        ]
    return node


def _long_link(value: str, level: _Level) -> bool:
    return any(len(match.group(2)) > level.url for match in _MARKDOWN_LINK.finditer(value))


def _shrunk_text(value: str, level: _Level) -> str:
    """Links with too long a URL become their label; then cut to ``level.text`` visible characters."""
    if _long_link(value, level):
        value = _MARKDOWN_LINK.sub(lambda m: m.group(1) if len(m.group(2)) > level.url else m.group(), value)
    return cut(value, level.text, TRUNCATED, label_cost=True)


def _loses_link(value: str, level: _Level) -> bool:
    """True if shrinking ``value`` would drop one of its markdown links."""
    links = len(_MARKDOWN_LINK.findall(value))
    return bool(links) and (_long_link(value, level) or len(_MARKDOWN_LINK.findall(_shrunk_text(value, level))) < links)


def _more_count(node: Any, key: str) -> int | None:
    """N if ``node`` is an "… and N more" marker of a list of ``key``."""
    field_name = "value" if key == "facts" else "text"
    if isinstance(node, Mapping) and isinstance(node.get(field_name), str):
        match = _MORE.match(node[field_name])
        if match and (key == "facts" or node.get("type") == "TextBlock"):
            return int(match.group(1))
    return None


def _shrink_list(key: str, items: list[Any], level: _Level) -> list[Any]:
    dropped = 0
    if items and (counted := _more_count(items[-1], key)) is not None:
        dropped, items = counted, items[:-1]
    kept: list[Any] = []
    for item in items:
        if _is_open_url(item) and len(str(item.get("url", ""))) > level.url:
            continue  # an action: left out whole
        if key in _ELEMENT_LISTS and isinstance(item, Mapping):
            element_text = item.get("text")
            if item.get("type") == "TextBlock" and isinstance(element_text, str) and _loses_link(element_text, level):
                dropped += 1  # a row whose link would not fit: left out with its link
                continue
            shrunk = _shrink(item, level)
            if shrunk.get("type") == "ActionSet" and not shrunk.get("actions"):
                dropped += 1
                continue
            kept.append(shrunk)
        else:
            kept.append(_shrink(item, level))
    if len(kept) > level.items:
        dropped += len(kept) - level.items
        kept = kept[: level.items]
    if dropped and key in _ELEMENT_LISTS:
        kept.append(_more_block(dropped))
    elif dropped and key == "facts":
        kept.append({"title": "More", "value": _more(dropped)})
    return kept


def _shrink(node: Any, level: _Level) -> Any:
    if isinstance(node, list):
        return [_shrink(item, level) for item in node]
    if not isinstance(node, Mapping):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, str) and key in _TEXT_KEYS:
            result[key] = _shrunk_text(value, level)
        elif isinstance(value, list) and key in (*_ELEMENT_LISTS, "facts", "actions"):
            result[key] = _shrink_list(key, value, level)
        elif key == "selectAction" and _is_open_url(value) and len(str(value.get("url", ""))) > level.url:
            continue
        else:
            result[key] = _shrink(value, level)
    if "actions" in result and not result["actions"] and node.get("type") == "AdaptiveCard":
        del result["actions"]
    return result


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


_PLAIN_BLOCK_KEYS = ("size", "weight", "color", "isSubtle", "spacing", "wrap")


def _plain_text(value: str, limit: int) -> str:
    return cut(_MARKDOWN_LINK.sub(lambda m: m.group(1), value), limit, TRUNCATED)


def _minimal(card: Mapping[str, Any]) -> dict[str, Any]:
    """The last resort, small whatever the input: the first two texts of the card (its title and
    subtitle), a note, and the actions whose URL fits."""
    body = card.get("body") if isinstance(card.get("body"), list) else []
    blocks = [node for node in _walk(body) if node.get("type") == "TextBlock" and isinstance(node.get("text"), str)][:2]
    items: list[dict[str, Any]] = []
    for block in blocks:
        item: dict[str, Any] = {"type": "TextBlock", "text": _plain_text(block["text"], MAX_TITLE)}
        for key in _PLAIN_BLOCK_KEYS:
            value = block.get(key)
            if isinstance(value, bool) or (isinstance(value, str) and len(value) <= 20):
                item[key] = value
        items.append(item)
    first = body[0] if body and isinstance(body[0], Mapping) else {}
    header: dict[str, Any] = {"type": "Container", "items": items or [{"type": "TextBlock", "text": "Notification"}]}
    if first.get("type") == "Container" and isinstance(first.get("style"), str) and len(first["style"]) <= 20:
        header["style"] = first["style"]
        header["bleed"] = first.get("bleed") is True
    version = card.get("version")
    minimal: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": version if isinstance(version, str) and len(version) <= 10 else CARD_VERSION,
        "body": [header, {"type": "TextBlock", "text": TOO_LARGE_NOTE, "isSubtle": True, "wrap": True}],
    }
    fallback = card.get("fallbackText")
    if isinstance(fallback, str):
        minimal["fallbackText"] = _plain_text(fallback, MAX_TITLE)
    actions: list[dict[str, Any]] = []
    for action in card.get("actions") or []:
        url = action.get("url") if _is_open_url(action) else None
        if not isinstance(url, str) or len(actions) >= MAX_ACTIONS:
            continue
        title = action.get("title")
        candidate = {
            "type": _OPEN_URL,
            "title": cut(title, 60) if isinstance(title, str) and title else "Open",
            "url": url,
        }
        if action.get("style") in ("default", "positive", "destructive"):
            candidate["style"] = action["style"]
        minimal["actions"] = [*actions, candidate]
        if _fits(minimal):
            actions.append(candidate)
    if actions:
        minimal["actions"] = actions
    else:
        minimal.pop("actions", None)
    return minimal


def fit_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """``card`` as it is if its Workflows message fits in MAX_MESSAGE_BYTES, else shrunk until it does.

    Shrinking starts again from ``card`` at each level, tighter each time: text cut to a number
    of visible characters with "… (truncated)", lists of elements and facts cut with "… and N
    more", actions and rows whose URL is too long left out (a URL is never cut), and a note
    saying the card was shortened. If no level fits, a minimal card: title, a note, the actions.
    """
    safe: dict[str, Any] = _sanitized(card)
    if _fits(safe):
        return safe
    for level in _LEVELS:
        shrunk = _shrink(safe, level)
        if isinstance(shrunk.get("body"), list):
            shrunk["body"].append({"type": "TextBlock", "text": SHORTENED_NOTE, "isSubtle": True, "wrap": True})
        if _fits(shrunk):
            return shrunk
    return _minimal(safe)


def workflows_message(card: Mapping[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook expects: a message with one Adaptive Card attachment,
    the card shrunk if it must be (``fit_card``) so the message never exceeds MAX_MESSAGE_BYTES."""
    return _envelope(fit_card(card))
