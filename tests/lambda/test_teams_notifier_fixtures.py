"""Every AWS sample event (real and derived) through the real handler: the right kind, one POST of a
schema-valid Workflows payload, and a card that names the pipeline / project / application /
repository of the event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from notifier_helpers import (
    TEAMS_MAX_PAYLOAD_BYTES,
    FakeContext,
    WebhookServer,
    actions,
    card_texts,
    check_envelope,
    clear_table,
    derived_event_files,
    facts,
    header,
    json_lines,
    load_event,
    load_notifier,
    mocked_aws,
    real_event_files,
    webhook_server,
)

# file -> (kind, the name the card must show)
EXPECTED: dict[str, tuple[str, str]] = {
    # real samples
    "codebuild-build-phase-completed.json": ("unrecognised", "my-sample-project"),
    "codebuild-build-state-succeeded.json": ("build_succeeded", "my-sample-project"),
    "codecommit-pr-created.json": ("pull_request_created", "MyDemoRepo"),
    "codecommit-pr-source-branch-updated.json": ("pull_request_updated", "MyDemoRepo"),
    "codecommit-pr-status-changed.json": ("unrecognised", "MyDemoRepo"),  # closed without merge
    "codecommit-repo-reference-updated.json": ("unrecognised", "MyDemoRepo"),
    "codedeploy-deployment-success.json": ("deployment_succeeded", "myApplication"),
    "codedeploy-instance-success.json": ("unrecognised", "myApplication"),
    "codepipeline-action-execution-failed.json": ("unrecognised", "myPipeline"),  # a Deploy action
    "codepipeline-action-execution-started.json": ("unrecognised", "myPipeline"),
    "codepipeline-action-execution-succeeded.json": ("unrecognised", "myPipeline"),  # a Source action
    "codepipeline-pipeline-execution-failed.json": ("pipeline_failed", "myPipeline"),
    "codepipeline-pipeline-execution-started.json": ("pipeline_started", "myPipeline"),
    "codepipeline-pipeline-execution-succeeded.json": ("pipeline_succeeded", "myPipeline"),
    "codepipeline-stage-execution-started.json": ("unrecognised", "myPipeline"),
    # derived (tests/fixtures/aws-events/derived/SOURCES-notifier.md)
    "notifier-codebuild-build-state-failed.json": ("build_failed", "my-sample-project"),
    "notifier-codebuild-build-state-in-progress.json": ("unrecognised", "my-sample-project"),
    "notifier-codebuild-pr-build-state-failed.json": ("pull_request_build_failed", "my-sample-project-pr"),
    "notifier-codebuild-pr-build-state-succeeded.json": ("pull_request_build_succeeded", "my-sample-project-pr"),
    "notifier-codecommit-pr-merge-status-updated.json": ("pull_request_merged", "MyDemoRepo"),
    "notifier-codecommit-pr-status-changed-merged.json": ("pull_request_merged", "MyDemoRepo"),
    "notifier-codedeploy-deployment-failure.json": ("deployment_failed", "myApplication"),
    "notifier-codedeploy-deployment-start.json": ("deployment_started", "myApplication"),
    "notifier-codedeploy-deployment-stop.json": ("deployment_stopped", "myApplication"),
    "notifier-codepipeline-approval-failed.json": ("approval_rejected", "myPipeline"),
    "notifier-codepipeline-approval-started.json": ("approval_waiting", "myPipeline"),
    "notifier-codepipeline-approval-succeeded.json": ("approval_approved", "myPipeline"),
    "notifier-codepipeline-pipeline-execution-canceled.json": ("pipeline_canceled", "myPipeline"),
    "notifier-codepipeline-pipeline-execution-superseded.json": ("pipeline_superseded", "myPipeline"),
    "notifier-codepipeline-stage-execution-failed.json": ("stage_failed", "myPipeline"),
    "notifier-pipeline-watcher-execution-stuck.json": ("pipeline_stuck", "myPipeline"),
}
INFO = "\N{INFORMATION SOURCE}\ufe0f"
# Lambda payloads, not EventBridge events.
NOT_EVENTBRIDGE = ("codedeploy-lifecycle-hook.json", "codepipeline-job-lambda.json")


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Any, WebhookServer]]:
    """One cold start for the module: settings, moto and the webhook server are shared."""
    with webhook_server() as server, pytest.MonkeyPatch.context() as monkeypatch:
        module = load_notifier(monkeypatch)
        with mocked_aws(server):
            yield module, server


@pytest.fixture
def server(running: tuple[Any, WebhookServer]) -> WebhookServer:
    running[1].reset()
    clear_table()  # several samples share an event id
    return running[1]


@pytest.fixture
def notifier(running: tuple[Any, WebhookServer], server: WebhookServer) -> Any:
    return running[0]


def post_one(notifier: Any, server: WebhookServer, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    summary = notifier.handler(event, FakeContext())
    posts = server.posts()
    assert len(posts) == 1, [p.path for p in posts]
    assert posts[0].headers["Content-Type"] == "application/json"
    assert len(posts[0].body) < TEAMS_MAX_PAYLOAD_BYTES
    return summary, check_envelope(posts[0].json())


def test_every_fixture_is_classified_here() -> None:
    files = set(real_event_files()) | set(derived_event_files())
    assert files == set(EXPECTED) | set(NOT_EVENTBRIDGE)
    # Every kind the function knows is covered by at least one real or derived event.
    from notifier_events import EVENT_KINDS

    assert set(EVENT_KINDS) <= {kind for kind, _ in EXPECTED.values()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_event_gives_a_valid_card_naming_its_resource(name: str, notifier: Any, server: WebhookServer) -> None:
    kind, resource = EXPECTED[name]
    summary, card = post_one(notifier, server, load_event(name))
    assert summary["kind"] == kind
    assert summary["posted"] == ["alerts"]
    assert any(resource in text for text in card_texts(card)), card_texts(card)
    # The facts always say where the event comes from.
    shown = facts(card)
    assert shown["Account"] == "123456789012"
    assert shown["Environment"] == "sandbox"


@pytest.mark.parametrize("name", NOT_EVENTBRIDGE)
def test_lambda_payloads_are_malformed(
    name: str, notifier: Any, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(notifier.MalformedEventError):
        notifier.handler(load_event(name), FakeContext())
    assert server.posts() == []
    errors = [line for line in json_lines(capsys.readouterr().out) if line["level"] == "ERROR"]
    assert [line["message"] for line in errors] == ["malformed event"]
    # The CodePipeline job carries artifact credentials: only key names may be logged.
    assert "secret_key" not in json.dumps(errors)


# ----------------------------------------------------------------------------------------
# What the cards say, kind by kind
# ----------------------------------------------------------------------------------------

EXECUTION_URL = (
    "https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline"
    "/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region={region}"
)


def test_pipeline_failed_card(notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event("codepipeline-pipeline-execution-failed.json"))
    assert header(card) == ("❌ Pipeline myPipeline failed", "attention", "Attention")
    shown = facts(card)
    assert shown["Pipeline"] == "myPipeline"
    assert shown["Execution id"] == "12345678-1234-5678-abcd-12345678abcd"
    assert shown["Region"] == "us-west-2"
    assert shown["Time"] == "2020-01-31 18:55:43 UTC"
    assert actions(card) == {"View execution": EXECUTION_URL.format(region="us-west-2")}
    assert card["body"][0]["items"][1]["text"] == "acme · CodePipeline · sandbox"


@pytest.mark.parametrize(
    ("name", "title", "style"),
    [
        ("codepipeline-pipeline-execution-started.json", "▶️ Pipeline myPipeline started", "accent"),
        ("codepipeline-pipeline-execution-succeeded.json", "✅ Pipeline myPipeline succeeded", "good"),
        ("notifier-codepipeline-pipeline-execution-canceled.json", "⏹️ Pipeline myPipeline was canceled", "warning"),
        ("notifier-codepipeline-pipeline-execution-superseded.json", "⏭️ Pipeline myPipeline was superseded", "accent"),
        (
            "notifier-pipeline-watcher-execution-stuck.json",
            "🐢 Pipeline myPipeline has been running too long",
            "warning",
        ),
        (
            "notifier-codepipeline-stage-execution-failed.json",
            "❌ Stage Prod failed in pipeline myPipeline",
            "attention",
        ),
    ],
)
def test_pipeline_titles(name: str, title: str, style: str, notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event(name))
    assert header(card)[:2] == (title, style)


def test_pipeline_started_shows_trigger(notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event("codepipeline-pipeline-execution-started.json"))
    assert facts(card)["Trigger"] == "StartPipelineExecution · arn:aws:sts::123456789012:assumed-role/Admin/my-user"


def test_stage_event_with_numeric_account(notifier: Any, server: WebhookServer) -> None:
    event = load_event("notifier-codepipeline-stage-execution-failed.json")
    assert event["account"] == 123456789012  # the published quirk is kept
    _, card = post_one(notifier, server, event)
    assert facts(card)["Stage"] == "Prod"
    assert facts(card)["Account"] == "123456789012"


def test_approval_waiting_card_links_to_the_review_page(notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event("notifier-codepipeline-approval-started.json"))
    assert header(card) == ("⏳ Approval needed: myPipeline → Prod", "warning", "Warning")
    assert actions(card) == {
        "Review approval": "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline"
        "/view?region=us-east-1",
        "View execution": EXECUTION_URL.format(region="us-east-1"),
    }
    assert card["actions"][0]["style"] == "positive"
    assert facts(card)["Action"] == "myAction"


@pytest.mark.parametrize(
    ("name", "title", "style", "comment"),
    [
        ("notifier-codepipeline-approval-succeeded.json", "👍 Approved: myPipeline → Prod", "good",
         "Release notes checked, go ahead"),
        ("notifier-codepipeline-approval-failed.json", "👎 Rejected: myPipeline → Prod", "attention",
         "Rejected: change window closed"),
    ],
)  # fmt: skip
def test_approval_outcome_cards(
    name: str, title: str, style: str, comment: str, notifier: Any, server: WebhookServer
) -> None:
    _, card = post_one(notifier, server, load_event(name))
    assert header(card)[:2] == (title, style)
    assert facts(card)["Comment"] == comment
    assert "Review approval" not in actions(card)
    assert actions(card)["View execution"] == EXECUTION_URL.format(region="us-west-2")


BUILD_URL = (
    "https://us-west-2.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/{project}"
    "/build/{project}%3A8745a7a9-c340-456a-9166-edf953571bEX/?region=us-west-2"
)


def test_build_failed_card(notifier: Any, server: WebhookServer) -> None:
    event = load_event("notifier-codebuild-build-state-failed.json")
    _, card = post_one(notifier, server, event)
    assert header(card) == ("❌ Build my-sample-project failed", "attention", "Attention")
    shown = facts(card)
    assert shown["Project"] == "my-sample-project"
    assert shown["Build id"] == "my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX"
    assert shown["Failed phase"] == "BUILD"
    assert shown["Reason"].startswith("COMMAND_EXECUTION_ERROR: Error while executing command: make test")
    assert shown["Started"] == "2017-09-01 16:12:29 UTC"  # from "Sep 1, 2017 4:12:29 PM"
    assert actions(card) == {
        "View build logs": event["detail"]["additional-information"]["logs"]["deep-link"],
        "Open build": BUILD_URL.format(project="my-sample-project"),
    }


@pytest.mark.parametrize("deep_link", [None, "javascript:alert(1)", "http://console.aws.amazon.com/x", 42])
def test_build_without_a_usable_deep_link_links_to_the_console(
    deep_link: Any, notifier: Any, server: WebhookServer
) -> None:
    event = load_event("notifier-codebuild-build-state-failed.json")
    logs = event["detail"]["additional-information"]["logs"]
    if deep_link is None:
        del logs["deep-link"]
    else:
        logs["deep-link"] = deep_link
    _, card = post_one(notifier, server, event)
    assert actions(card) == {"View build logs": BUILD_URL.format(project="my-sample-project")}


@pytest.mark.parametrize(
    ("status", "kind", "title"),
    [
        ("FAULT", "build_failed", "❌ Build my-sample-project failed (fault)"),
        ("TIMED_OUT", "build_failed", "❌ Build my-sample-project timed out"),
        ("STOPPED", "build_failed", "⏹️ Build my-sample-project was stopped"),
    ],
)
def test_other_failed_build_states(status: str, kind: str, title: str, notifier: Any, server: WebhookServer) -> None:
    event = load_event("notifier-codebuild-build-state-failed.json")
    event["detail"]["build-status"] = status
    summary, card = post_one(notifier, server, event)
    assert summary["kind"] == kind
    assert header(card)[0] == title


def test_pull_request_build_cards(notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event("notifier-codebuild-pr-build-state-failed.json"))
    assert header(card)[:2] == ("❌ Pull request build failed: my-sample-project-pr", "attention")
    assert actions(card)["Open build"] == BUILD_URL.format(project="my-sample-project-pr")


@pytest.mark.parametrize(
    ("name", "title", "style"),
    [
        ("notifier-codedeploy-deployment-start.json", "🚀 Deployment started", "accent"),
        ("codedeploy-deployment-success.json", "✅ Deployment succeeded", "good"),
        ("notifier-codedeploy-deployment-failure.json", "❌ Deployment failed", "attention"),
        ("notifier-codedeploy-deployment-stop.json", "⏹️ Deployment stopped", "warning"),
    ],
)
def test_deployment_cards(name: str, title: str, style: str, notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event(name))
    assert header(card)[:2] == (f"{title}: myApplication → myDeploymentGroup", style)
    shown = facts(card)
    assert (shown["Application"], shown["Deployment group"], shown["Deployment id"]) == (
        "myApplication",
        "myDeploymentGroup",
        "d-123456789",
    )
    assert actions(card) == {
        "View deployment": "https://us-east-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-123456789"
        "?region=us-east-1"
    }


def test_deployment_in_a_target_account_shows_its_environment(notifier: Any, server: WebhookServer) -> None:
    event = load_event("notifier-codedeploy-deployment-failure.json")
    event["account"] = "222222222222"
    _, card = post_one(notifier, server, event)
    assert (facts(card)["Account"], facts(card)["Environment"]) == ("222222222222", "dev")
    event["id"] = "another-event"
    event["account"] = "333333333333"  # not in ENVIRONMENTS
    server.requests.clear()
    _, card = post_one(notifier, server, event)
    assert facts(card)["Environment"] == "333333333333"


def test_pull_request_created_card(notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event("codecommit-pr-created.json"))
    assert header(card) == ("🆕 Pull request #1 opened: My Example Pull Request", "accent", "Accent")
    shown = facts(card)
    assert shown["Repository"] == "MyDemoRepo"
    assert shown["Pull request"] == "#1 My Example Pull Request"
    assert shown["Branches"] == "test-branch → main"
    assert shown["Author"] == "Mary_Major"
    assert shown["Commit id"] == "2774290EXAMPLE"
    assert card["body"][1]["text"] == "An example description."
    assert actions(card) == {
        "View pull request": "https://us-east-2.console.aws.amazon.com/codesuite/codecommit/repositories/MyDemoRepo"
        "/pull-requests/1/details?region=us-east-2"
    }


def test_pull_request_merged_card(notifier: Any, server: WebhookServer) -> None:
    _, card = post_one(notifier, server, load_event("notifier-codecommit-pr-merge-status-updated.json"))
    assert header(card)[:2] == ("🔀 Pull request #1 merged: My Example Pull Request", "good")
    assert facts(card)["Commit id"] == "4409936EXAMPLE"


def test_generic_card_lists_the_envelope_and_detail_fields(notifier: Any, server: WebhookServer) -> None:
    summary, card = post_one(notifier, server, load_event("codebuild-build-phase-completed.json"))
    assert summary["kind"] == "unrecognised"
    title, style, _ = header(card)
    assert title == f"{INFO} CodeBuild Build Phase Change: my-sample-project"
    assert style == "emphasis"
    shown = facts(card)
    assert shown["Source"] == "aws.codebuild"
    assert shown["Detail type"] == "CodeBuild Build Phase Change"
    assert shown["project-name"] == "my-sample-project"
    assert shown["completed-phase-status"] == "SUCCEEDED"
    assert shown["Resources"].startswith("arn:aws:codebuild:us-west-2:123456789012:build/my-sample-project:")
    assert shown["Region"] == "us-west-2"
    assert shown["Time"] == "2017-09-01 16:14:21 UTC"
    # additional-information is an object: not a scalar, not shown.
    assert "additional-information" not in shown
