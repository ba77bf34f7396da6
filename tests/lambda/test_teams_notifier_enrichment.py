"""Commit id / message from codepipeline:GetPipelineExecution (botocore Stubber), best effort."""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from notifier_helpers import (
    FakeContext,
    Reply,
    WebhookServer,
    actions,
    check_envelope,
    dependencies,
    facts,
    load_event,
    load_notifier,
    webhook_server,
)

EXECUTION_ID = "12345678-1234-5678-abcd-12345678abcd"
SAME_ACCOUNT_FUNCTION = "arn:aws:lambda:us-west-2:123456789012:function:acme-teams-notifier"


@functools.cache
def _pipeline_client() -> Any:
    return boto3.client("codepipeline", region_name="us-west-2")


class Pipelines:
    """A codepipeline client factory whose clients are botocore-stubbed; records the regions asked for."""

    def __init__(self) -> None:
        self.client = _pipeline_client()
        self.stubber = Stubber(self.client)
        self.regions: list[str] = []

    def __call__(self, region: str) -> Any:
        self.regions.append(region)
        return self.client

    def answer(self, revision: dict[str, Any] | None = None, status_summary: str | None = None) -> None:
        execution: dict[str, Any] = {
            "pipelineName": "myPipeline",
            "pipelineVersion": 4,
            "pipelineExecutionId": EXECUTION_ID,
            "status": "Failed",
            "artifactRevisions": [revision] if revision else [],
        }
        if status_summary:
            execution["statusSummary"] = status_summary
        self.stubber.add_response(
            "get_pipeline_execution",
            {"pipelineExecution": execution},
            {"pipelineName": "myPipeline", "pipelineExecutionId": EXECUTION_ID},
        )


def revision(summary: str, revision_id: str = "8cf40f2d9a1b7c3e5f60718293a4b5c6d7e8f901") -> dict[str, Any]:
    return {
        "name": "SourceArtifact",
        "revisionId": revision_id,
        "revisionSummary": summary,
        "revisionUrl": f"https://us-west-2.console.aws.amazon.com/codecommit/home#/repository/orders/commit/{revision_id}",
        "created": datetime(2020, 1, 31, 18, 50, tzinfo=UTC),
    }


def post_card(monkeypatch: pytest.MonkeyPatch, server: WebhookServer, pipelines: Any, event_file: str,
              function_arn: str = SAME_ACCOUNT_FUNCTION) -> dict[str, Any]:  # fmt: skip
    module = load_notifier(monkeypatch)
    deps = dependencies(module, codepipeline_client=pipelines)
    summary = module.handle(load_event(event_file), FakeContext(function_arn=function_arn), module.SETTINGS, deps)
    assert summary["posted"] == ["alerts"]
    [post] = server.posts()
    return check_envelope(post.json())


def test_commit_id_and_message_are_added(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    pipelines = Pipelines()
    pipelines.answer(revision("Fix order totals rounding"), status_summary="Action Deploy failed: JobFailed")
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "codepipeline-pipeline-execution-failed.json")
        pipelines.stubber.assert_no_pending_responses()
    assert pipelines.regions == ["us-west-2"]  # the event's region
    shown = facts(card)
    assert shown["Commit id"] == "8cf40f2d9a1b7c3e5f60718293a4b5c6d7e8f901"
    assert shown["Commit message"] == "Fix order totals rounding"
    assert shown["Reason"] == "Action Deploy failed: JobFailed"
    assert actions(card)["View commit"].endswith("/commit/8cf40f2d9a1b7c3e5f60718293a4b5c6d7e8f901")
    assert list(shown).index("Execution id") < list(shown).index("Commit id") < list(shown).index("Account")


def test_approval_cards_get_the_commit_too(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    pipelines = Pipelines()
    pipelines.answer(revision(json.dumps({"ProviderType": "GitHub", "CommitMessage": "Add refunds API"})))
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "notifier-codepipeline-approval-started.json",
                         function_arn="arn:aws:lambda:us-east-1:123456789012:function:n")  # fmt: skip
        pipelines.stubber.assert_no_pending_responses()
    assert pipelines.regions == ["us-east-1"]
    assert facts(card)["Commit message"] == "Add refunds API"  # from a CodeStar connection's JSON summary
    assert "Reason" not in facts(card)


REPORT = (
    "https://us-east-1.console.aws.amazon.com/s3/object/acme-platform-artifacts-123456789012?region=us-east-1"
    "&prefix=reports/12345678-1234-5678-abcd-12345678abcd/env-prod.md"
)


def approval_detail(stage: str, action: str, resolved: dict[str, str]) -> dict[str, Any]:
    return {
        "pipelineExecutionId": EXECUTION_ID,
        "actionExecutionId": "a1b2c3d4-0000-4000-8000-000000000001",
        "stageName": stage,
        "actionName": action,
        "status": "InProgress",
        "input": {
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
            "configuration": {"ExternalEntityLink": "#{Review_env_prod.REPORT_URL}"},
            "resolvedConfiguration": resolved,
        },
    }


def test_a_waiting_approval_links_to_what_its_pipeline_gives_reviewers(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    """The platform pipeline's review: the card carries the approval's resolved link (the change report) and
    its comments (the report's summary), read with ListActionExecutions."""
    pipelines = Pipelines()
    pipelines.answer(revision("Add the payments service"))
    notes = "Roll out wave env-prod (5 stacks, prod): 2 of 5 stacks change; 3 added; 1 IAM/security"
    pipelines.stubber.add_response(
        "list_action_executions",
        {
            "actionExecutionDetails": [
                approval_detail("Build", "Build", {"ProjectName": "x"}),
                approval_detail("Prod", "myAction", {"ExternalEntityLink": REPORT, "CustomData": notes}),
            ]
        },
        {"pipelineName": "myPipeline", "filter": {"pipelineExecutionId": EXECUTION_ID}, "maxResults": 100},
    )
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "notifier-codepipeline-approval-started.json",
                         function_arn="arn:aws:lambda:us-east-1:123456789012:function:n")  # fmt: skip
        pipelines.stubber.assert_no_pending_responses()
    assert facts(card)["To review"] == notes
    assert actions(card)["Open what to review"] == REPORT
    assert "Review approval" in actions(card) and facts(card)["Commit message"] == "Add the payments service"


def test_an_approval_link_that_is_not_https_is_left_out(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    pipelines = Pipelines()
    pipelines.answer(revision("x"))
    pipelines.stubber.add_response(
        "list_action_executions",
        {"actionExecutionDetails": [approval_detail("Prod", "myAction", {"ExternalEntityLink": "javascript:x"})]},
        None,
    )
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "notifier-codepipeline-approval-started.json",
                         function_arn="arn:aws:lambda:us-east-1:123456789012:function:n")  # fmt: skip
    assert "Open what to review" not in actions(card) and "To review" not in facts(card)


def test_a_long_commit_message_is_cut_to_300_characters(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    pipelines = Pipelines()
    pipelines.answer(revision("Refactor\n\n" + "word " * 400))
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "codepipeline-pipeline-execution-succeeded.json",
                         function_arn="arn:aws:lambda:us-east-1:123456789012:function:n")  # fmt: skip
    message = facts(card)["Commit message"]
    assert len(message) <= 300 and message.startswith("Refactor word word") and message.endswith("…")


@pytest.mark.parametrize("code", ["PipelineExecutionNotFoundException", "AccessDeniedException", "ThrottlingException"])
def test_a_failed_lookup_still_sends_the_card(
    code: str, monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pipelines = Pipelines()
    pipelines.stubber.add_client_error("get_pipeline_execution", service_error_code=code, http_status_code=400)
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "codepipeline-pipeline-execution-failed.json")
        pipelines.stubber.assert_no_pending_responses()
    assert "Commit id" not in facts(card)
    assert facts(card)["Pipeline"] == "myPipeline"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [warning] = [line for line in lines if line["message"] == "commit lookup failed; sending the card without it"]
    assert (warning["level"], warning["error_code"]) == ("WARNING", code)


def test_a_hung_codepipeline_endpoint_times_out_quickly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real botocore client against a local server that answers too late: no exception escapes."""
    module = load_notifier(monkeypatch)
    from notifier_enrichment import lookup_commit
    from notifier_events import EventKind, parse_event

    # The function's own client settings (one attempt), with a shorter read timeout for the test.
    config = module.LOOKUP_CLIENT_CONFIG.merge(Config(read_timeout=0.3))
    with webhook_server() as slow:
        slow.script_path("/", Reply(200, delay=5))
        client = boto3.client(
            "codepipeline",
            region_name="us-west-2",
            endpoint_url=f"http://127.0.0.1:{slow.port}",
            config=config,
        )
        event = parse_event(load_event("codepipeline-pipeline-execution-failed.json"))
        started = time.monotonic()
        assert lookup_commit(event, EventKind.PIPELINE_FAILED, lambda region: client, "123456789012") is None
        elapsed = time.monotonic() - started
        [request] = slow.posts()  # a single attempt, no retry
    assert request.path == "/"
    assert request.headers["X-Amz-Target"] == "CodePipeline_20150709.GetPipelineExecution"
    assert 0.25 <= elapsed < 2.0
    [warning] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (warning["message"], warning["error_type"]) == (
        "commit lookup failed; sending the card without it",
        "ReadTimeoutError",
    )


def test_no_lookup_for_pipelines_in_another_account(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    pipelines = Pipelines()  # no stubbed response: any call would be an error
    with pipelines.stubber:
        card = post_card(monkeypatch, server, pipelines, "codepipeline-pipeline-execution-failed.json",
                         function_arn="arn:aws:lambda:us-west-2:111111111111:function:n")  # fmt: skip
    assert pipelines.regions == []
    assert "Commit id" not in facts(card)


@pytest.mark.parametrize(
    "event_file",
    ["codebuild-build-state-succeeded.json", "codedeploy-deployment-success.json", "codecommit-pr-created.json",
     "codepipeline-stage-execution-started.json"],
)  # fmt: skip
def test_no_lookup_for_other_kinds(event_file: str, monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    pipelines = Pipelines()
    with pipelines.stubber:
        post_card(monkeypatch, server, pipelines, event_file)
    assert pipelines.regions == []


def test_revision_summary_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    from notifier_enrichment import commit_info_from_execution, commit_message

    assert commit_message("Plain CodeCommit message") == "Plain CodeCommit message"
    assert commit_message('{"ProviderType":"Bitbucket","CommitMessage":"Bump deps"}') == "Bump deps"
    assert commit_message('{"ProviderType":"GitHub"}') is None
    assert commit_message("{not json") == "{not json"
    assert commit_message(None) is None
    assert commit_info_from_execution({"pipelineExecution": {"artifactRevisions": []}}) is None
    info = commit_info_from_execution(
        {"pipelineExecution": {"artifactRevisions": [{"revisionId": "abc", "revisionUrl": "javascript:alert(1)"}]}}
    )
    assert info is not None and (info.commit_id, info.url) == ("abc", None)
