"""EventBridge patterns for each notification kind, scoped to the platform's own resources.

Plain data (no CDK types), so the stack renders them and the tests match real sample events
against them. Every pattern names the platform prefix: pipelines `<p>-*`, build projects
`<p>-*-build|test` (pipeline builds) and `<p>-*-pr` (pull-request builds), CodeDeploy
applications `<p>-*` (in any target account), repositories `<p>-*` of the tooling account.
"""

from __future__ import annotations

from typing import Any

from config.names import Names

PIPELINE_EXECUTION = "CodePipeline Pipeline Execution State Change"
STAGE_EXECUTION = "CodePipeline Stage Execution State Change"
ACTION_EXECUTION = "CodePipeline Action Execution State Change"
BUILD_STATE = "CodeBuild Build State Change"
DEPLOYMENT_STATE = "CodeDeploy Deployment State-change Notification"
PULL_REQUEST_STATE = "CodeCommit Pull Request State Change"
# What the platform's pipeline watcher puts on the tooling account's default bus (lambda/pipeline_watcher).
WATCHER_SOURCE = "platform.pipeline-watcher"
EXECUTION_STUCK = "CodePipeline Pipeline Execution Stuck"

BUILD_FAILURES = ["FAILED", "FAULT", "STOPPED", "TIMED_OUT"]


def event_patterns(names: Names) -> dict[str, dict[str, Any]]:
    """kind -> EventBridge event pattern, for every kind the config can route."""
    p = names.prefix
    pipelines = {"pipeline": [{"prefix": f"{p}-"}]}

    def pipeline(detail_type: str, **detail: Any) -> dict[str, Any]:
        return {"source": ["aws.codepipeline"], "detail-type": [detail_type], "detail": {**pipelines, **detail}}

    def build(projects: list[str], statuses: list[str]) -> dict[str, Any]:
        return {
            "source": ["aws.codebuild"],
            "detail-type": [BUILD_STATE],
            "detail": {
                "project-name": [{"wildcard": f"{p}-*-{kind}"} for kind in projects],
                "build-status": statuses,
            },
        }

    def deployment(state: str) -> dict[str, Any]:
        return {
            "source": ["aws.codedeploy"],
            "detail-type": [DEPLOYMENT_STATE],
            "detail": {"application": [{"prefix": f"{p}-"}], "state": [state]},
        }

    def pull_request(**detail: Any) -> dict[str, Any]:
        return {
            "source": ["aws.codecommit"],
            "detail-type": [PULL_REQUEST_STATE],
            "resources": [{"prefix": names.repository_arn_prefix}],
            "detail": detail,
        }

    approval = {"category": ["Approval"]}
    return {
        "pipeline_started": pipeline(PIPELINE_EXECUTION, state=["STARTED"]),
        "pipeline_succeeded": pipeline(PIPELINE_EXECUTION, state=["SUCCEEDED"]),
        "pipeline_failed": pipeline(PIPELINE_EXECUTION, state=["FAILED"]),
        "pipeline_canceled": pipeline(PIPELINE_EXECUTION, state=["CANCELED"]),
        "pipeline_superseded": pipeline(PIPELINE_EXECUTION, state=["SUPERSEDED"]),
        "pipeline_stuck": {
            "source": [WATCHER_SOURCE],
            "detail-type": [EXECUTION_STUCK],
            "detail": {**pipelines, "state": ["STUCK"]},
        },
        "stage_failed": pipeline(STAGE_EXECUTION, state=["FAILED"]),
        "approval_waiting": pipeline(ACTION_EXECUTION, type=approval, state=["STARTED"]),
        "approval_approved": pipeline(ACTION_EXECUTION, type=approval, state=["SUCCEEDED"]),
        "approval_rejected": pipeline(ACTION_EXECUTION, type=approval, state=["FAILED"]),
        "build_succeeded": build(["build", "test"], ["SUCCEEDED"]),
        "build_failed": build(["build", "test"], BUILD_FAILURES),
        "deployment_started": deployment("START"),
        "deployment_succeeded": deployment("SUCCESS"),
        "deployment_failed": deployment("FAILURE"),
        "deployment_stopped": deployment("STOP"),
        "pull_request_created": pull_request(event=["pullRequestCreated"]),
        "pull_request_updated": pull_request(event=["pullRequestSourceBranchUpdated"]),
        "pull_request_merged": pull_request(
            event=["pullRequestStatusChanged", "pullRequestMergeStatusUpdated"], isMerged=["True"]
        ),
        "pull_request_build_succeeded": build(["pr"], ["SUCCEEDED"]),
        "pull_request_build_failed": build(["pr"], BUILD_FAILURES),
    }


# What a card sent straight by EventBridge (API destination, no Lambda) shows, per event family:
# (title template, {placeholder: JSON path}, console link template or None). Paths use dot
# notation only (the InputTransformer API reference rules out brackets), so no array element.
_PIPELINE_LINK = (
    "https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>/executions/"
    "<execution>/timeline?region=<region>"
)
SIMPLE_CARDS: dict[str, tuple[str, dict[str, str], str | None]] = {
    PIPELINE_EXECUTION: (
        "Pipeline <pipeline>: <state>",
        {"pipeline": "$.detail.pipeline", "state": "$.detail.state", "execution": "$.detail.execution-id"},
        _PIPELINE_LINK,
    ),
    EXECUTION_STUCK: (
        "Pipeline <pipeline>: running for <minutes> minutes",
        {"pipeline": "$.detail.pipeline", "minutes": "$.detail.running-minutes", "execution": "$.detail.execution-id"},
        _PIPELINE_LINK,
    ),
    STAGE_EXECUTION: (
        "Pipeline <pipeline>, stage <stage>: <state>",
        {
            "pipeline": "$.detail.pipeline",
            "stage": "$.detail.stage",
            "state": "$.detail.state",
            "execution": "$.detail.execution-id",
        },
        _PIPELINE_LINK,
    ),
    ACTION_EXECUTION: (
        "Pipeline <pipeline>, approval <action> in <stage>: <state>",
        {
            "pipeline": "$.detail.pipeline",
            "stage": "$.detail.stage",
            "action": "$.detail.action",
            "state": "$.detail.state",
            "execution": "$.detail.execution-id",
        },
        "https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>/view?region=<region>",
    ),
    BUILD_STATE: (
        "Build <project>: <status>",
        {
            "project": "$.detail.project-name",
            "status": "$.detail.build-status",
            "link": "$.detail.additional-information.logs.deep-link",
        },
        "<link>",
    ),
    DEPLOYMENT_STATE: (
        "Deployment <deployment> of <application> (<group>): <state>",
        {
            "deployment": "$.detail.deploymentId",
            "application": "$.detail.application",
            "group": "$.detail.deploymentGroup",
            "state": "$.detail.state",
        },
        "https://<region>.console.aws.amazon.com/codesuite/codedeploy/deployments/<deployment>?region=<region>",
    ),
    PULL_REQUEST_STATE: (
        "Pull request <pr> (<status>): <title>",
        {"pr": "$.detail.pullRequestId", "status": "$.detail.pullRequestStatus", "title": "$.detail.title"},
        None,
    ),
}


def simple_card_input(detail_type: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(input paths, input template) of an EventBridge input transformer that posts a Workflows card."""
    title, paths, link = SIMPLE_CARDS[detail_type]
    paths = {**paths, "account": "$.account", "region": "$.region", "time": "$.time"}
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Account", "value": "<account>"},
                    {"title": "Region", "value": "<region>"},
                    {"title": "Time", "value": "<time>"},
                ],
            },
        ],
    }
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the AWS console", "url": link}]
    envelope = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
    return paths, envelope


def amazon_q_input(detail_type: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(input paths, input template) of an Amazon Q Developer custom notification for the event.

    Amazon Q Developer in chat applications does not render CodePipeline, CodeBuild, CodeDeploy or
    CodeCommit events that reach it through EventBridge rules; it renders custom notifications
    (version "1.0", source "custom"), which an input transformer can make from them (docs/adr/0007).
    """
    title, paths, link = SIMPLE_CARDS[detail_type]
    paths = {**paths, "account": "$.account", "region": "$.region", "time": "$.time", "id": "$.id"}
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": title,
        "description": f"{detail_type} in account <account>, <region>, at <time>",
    }
    if link:
        content["nextSteps"] = [f"Open in the AWS console: {link}"]
    document = {
        "version": "1.0",
        "source": "custom",
        "id": "<id>",
        "content": content,
        "metadata": {"eventType": detail_type, "summary": title},
    }
    return paths, document
