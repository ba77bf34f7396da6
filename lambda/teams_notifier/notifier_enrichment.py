"""Best-effort commit details for pipeline events (they carry no commit id or message).

Calls ``codepipeline:GetPipelineExecution`` with short timeouts and no retries, and for a waiting
approval ``codepipeline:ListActionExecutions`` for the approval's resolved link and comments (the
platform pipeline's change report). Any failure is logged and gives None: the card is sent without
those facts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from notifier_cards import CommitInfo
from notifier_events import AwsEvent, EventKind
from notifier_logging import logger

ENRICHED_KINDS = frozenset(
    {
        EventKind.PIPELINE_STARTED,
        EventKind.PIPELINE_SUCCEEDED,
        EventKind.PIPELINE_FAILED,
        EventKind.PIPELINE_CANCELED,
        EventKind.PIPELINE_SUPERSEDED,
        EventKind.PIPELINE_STUCK,
        EventKind.STAGE_FAILED,
        EventKind.APPROVAL_WAITING,
        EventKind.APPROVAL_APPROVED,
        EventKind.APPROVAL_REJECTED,
    }
)

# region -> CodePipeline client
ClientFactory = Callable[[str], Any]


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def commit_message(revision_summary: str | None) -> str | None:
    """The commit message in a revisionSummary.

    CodeCommit gives the message itself; CodeStar connections (GitHub, Bitbucket, GitLab) give
    a JSON document such as ``{"ProviderType": "GitHub", "CommitMessage": "..."}``.
    """
    if not revision_summary:
        return None
    if revision_summary.lstrip().startswith("{"):
        try:
            document = json.loads(revision_summary)
        except json.JSONDecodeError:
            return revision_summary
        if isinstance(document, dict):
            return _text(document.get("CommitMessage"))
    return revision_summary


def commit_info_from_execution(response: Mapping[str, Any]) -> CommitInfo | None:
    execution = response.get("pipelineExecution")
    if not isinstance(execution, Mapping):
        return None
    revisions = execution.get("artifactRevisions")
    first = revisions[0] if isinstance(revisions, list) and revisions and isinstance(revisions[0], Mapping) else {}
    url = _text(first.get("revisionUrl"))
    info = CommitInfo(
        commit_id=_text(first.get("revisionId")),
        message=commit_message(_text(first.get("revisionSummary"))),
        url=url if url and url.startswith("https://") else None,
        status_summary=_text(execution.get("statusSummary")),
    )
    return info if any((info.commit_id, info.message, info.status_summary)) else None


def lookup_commit(
    event: AwsEvent, kind: EventKind, client_for_region: ClientFactory, own_account: str | None
) -> CommitInfo | None:
    """Commit details for a pipeline or approval event, or None (never raises)."""
    pipeline, execution_id = event.text("pipeline"), event.text("execution-id")
    if kind not in ENRICHED_KINDS or not pipeline or not execution_id:
        return None
    fields: dict[str, Any] = {"event_id": event.get_id, "kind": kind.value, "pipeline": pipeline}
    if own_account and event.account and event.account != own_account:
        logger.info("commit lookup skipped: pipeline is in another account", account=event.account, **fields)
        return None
    try:
        client = client_for_region(event.region or "")
        response = client.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
        info = commit_info_from_execution(response)
    except Exception as error:
        code = None
        error_response = getattr(error, "response", None)
        if isinstance(error_response, dict):
            code = error_response.get("Error", {}).get("Code")
        logger.warning(
            "commit lookup failed; sending the card without it",
            error_type=type(error).__name__,
            error_code=code,
            **fields,
        )
        return None
    if kind is EventKind.APPROVAL_WAITING:
        link, notes = approval_review(client, pipeline, execution_id, event.text("stage"), event.text("action"))
        if link or notes:
            info = replace(info or CommitInfo(), review_link=link, review_notes=notes)
    return info


def approval_review(
    client: Any, pipeline: str, execution_id: str, stage: str | None, action: str | None
) -> tuple[str | None, str | None]:
    """The waiting approval's resolved ExternalEntityLink (https only) and CustomData; (None, None) on failure."""
    try:
        response = client.list_action_executions(
            pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}, maxResults=100
        )
    except Exception as error:
        logger.warning("approval lookup failed; sending the card without it", error_type=type(error).__name__)
        return None, None
    for detail in response.get("actionExecutionDetails") or []:
        if not isinstance(detail, Mapping) or (detail.get("stageName"), detail.get("actionName")) != (stage, action):
            continue
        given = detail.get("input") or {}
        resolved = given.get("resolvedConfiguration") or given.get("configuration") or {}
        link = _text(resolved.get("ExternalEntityLink"))
        return (link if link and link.startswith("https://") else None), _text(resolved.get("CustomData"))
    return None, None
