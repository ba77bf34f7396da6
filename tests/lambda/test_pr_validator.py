"""Tests of the pull-request validator Lambda (lambda/pr_validator).

moto 5.2 implements only CreateRepository/GetRepository/DeleteRepository for CodeCommit,
none of the pull-request APIs, so the CodeCommit client is a real botocore client under
botocore.stub.Stubber: every call must be queued with its exact parameters (validated
against the service model), and any call that was not queued fails the test.
"""

import copy
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber, UnStubbedResponseError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "pr_validator"))

import pr_validator

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"
DERIVED = EVENTS / "derived"

PR_ID = "1"
REVISION = "bdc0cb9bEXAMPLE"
SOURCE = "2774290EXAMPLE"
DESTINATION = "12241970EXAMPLE"
REPOSITORY = "MyDemoRepo"
BUILD_ARN = "arn:aws:codebuild:us-west-2:123456789012:build/acme-orders-pr:8745a7a9-c340-456a-9166-edf953571bEX"
LOGS_LINK = (
    "https://console.aws.amazon.com/cloudwatch/home?region=us-west-2"
    "#logEvent:group=/aws/codebuild/acme-orders-pr;stream=8745a7a9-c340-456a-9166-edf953571bEX"
)
REPORT_LINK = (
    "https://us-west-2.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/acme-orders-pr"
    "/build/acme-orders-pr%3A8745a7a9-c340-456a-9166-edf953571bEX/reports?region=us-west-2"
)
VALIDATOR_ARN = "arn:aws:sts::123456789012:assumed-role/acme-pr-validator/acme-pr-validator"
CONFIG = pr_validator.Config()


def load(name: str) -> dict[str, Any]:
    path = DERIVED / name if name.startswith("prvalidator-") else EVENTS / name
    return json.loads(path.read_text())


def succeeded_event() -> dict[str, Any]:
    return load("prvalidator-codebuild-build-state-pr-succeeded.json")


def failed_event() -> dict[str, Any]:
    return load("prvalidator-codebuild-build-state-pr-failed.json")


def in_progress_event() -> dict[str, Any]:
    return load("prvalidator-codebuild-build-state-pr-in-progress.json")


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "PROJECT_SUFFIX", "COMMENT_MARKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pr_validator, "_config", None)
    monkeypatch.setattr(pr_validator, "_client", None)


@pytest.fixture(scope="module")
def client() -> Any:
    return boto3.client(
        "codecommit",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    stubber = Stubber(client)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Returns a function that parses the JSON log lines (Powertools' formatter) written so far in the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(pr_validator.logger.registered_formatter)
    pr_validator.logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        pr_validator.logger.handlers.remove(handler)


# --- stubbed CodeCommit responses ----------------------------------------------------------------------------------


def pull_request_response(*, revision: str = REVISION, status: str = "OPEN") -> dict[str, Any]:
    created = load("codecommit-pr-created.json")["detail"]
    return {
        "pullRequest": {
            "pullRequestId": created["pullRequestId"],
            "title": created["title"],
            "description": created["description"],
            "pullRequestStatus": status,
            "authorArn": created["author"],
            "revisionId": revision,
            "creationDate": datetime(2019, 2, 9, 17, 18, 42, tzinfo=UTC),
            "lastActivityDate": datetime(2019, 2, 9, 17, 18, 42, tzinfo=UTC),
            "pullRequestTargets": [
                {
                    "repositoryName": created["repositoryNames"][0],
                    "sourceReference": created["sourceReference"],
                    "destinationReference": created["destinationReference"],
                    "sourceCommit": created["sourceCommit"],
                    "destinationCommit": created["destinationCommit"],
                }
            ],
        }
    }


def comments_page(*contents: str, next_token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "commentsForPullRequestData": [
            {
                "pullRequestId": PR_ID,
                "repositoryName": REPOSITORY,
                "beforeCommitId": DESTINATION,
                "afterCommitId": SOURCE,
                "comments": [
                    {"commentId": f"c{index}", "content": content, "authorArn": VALIDATOR_ARN, "deleted": False}
                    for index, content in enumerate(contents)
                ],
            }
        ]
        if contents
        else []
    }
    if next_token:
        page["nextToken"] = next_token
    return page


def expected_comment(event: dict[str, Any]) -> str:
    build = pr_validator.parse_build_event(event)
    pull_request = pr_validator.pull_request_of(build)
    assert pull_request is not None
    return pr_validator.render_comment(build, pull_request, CONFIG.comment_marker)


def expected_token(event: dict[str, Any]) -> str:
    return pr_validator.client_request_token(pr_validator.parse_build_event(event))


def queue_get_pull_request(stub: Stubber, **kwargs: Any) -> None:
    stub.add_response("get_pull_request", pull_request_response(**kwargs), {"pullRequestId": PR_ID})


def queue_get_comments(stub: Stubber, *contents: str) -> None:
    stub.add_response("get_comments_for_pull_request", comments_page(*contents), {"pullRequestId": PR_ID})


def queue_post_comment(stub: Stubber, event: dict[str, Any]) -> None:
    content = expected_comment(event)
    stub.add_response(
        "post_comment_for_pull_request",
        {
            "repositoryName": REPOSITORY,
            "pullRequestId": PR_ID,
            "beforeCommitId": DESTINATION,
            "afterCommitId": SOURCE,
            "comment": {"commentId": "posted-1", "content": content, "authorArn": VALIDATOR_ARN},
        },
        {
            "pullRequestId": PR_ID,
            "repositoryName": REPOSITORY,
            "beforeCommitId": DESTINATION,
            "afterCommitId": SOURCE,
            "content": content,
            "clientRequestToken": expected_token(event),
        },
    )


def queue_approval_states(stub: Stubber, *states: str) -> None:
    stub.add_response(
        "get_pull_request_approval_states",
        {"approvals": [{"userArn": VALIDATOR_ARN, "approvalState": state} for state in states]},
        {"pullRequestId": PR_ID, "revisionId": REVISION},
    )


def queue_update_approval(stub: Stubber, state: str) -> None:
    stub.add_response(
        "update_pull_request_approval_state",
        {},
        {"pullRequestId": PR_ID, "revisionId": REVISION, "approvalState": state},
    )


def run(event: object, client: Any, config: Any = CONFIG) -> dict[str, str]:
    result: dict[str, str] = pr_validator.process_event(event, client=client, config=config).as_dict()
    return result


# --- fixtures are consistent with the real pull-request event ------------------------------------------------------


def test_derived_build_events_carry_the_pull_request_of_the_real_event() -> None:
    created = load("codecommit-pr-created.json")["detail"]
    for event in (succeeded_event(), failed_event(), in_progress_event()):
        variables = {
            variable["name"]: variable["value"]
            for variable in event["detail"]["additional-information"]["environment"]["environment-variables"]
        }
        assert variables == {
            "PULL_REQUEST_ID": created["pullRequestId"],
            "REVISION_ID": created["revisionId"],
            "SOURCE_COMMIT": created["sourceCommit"],
            "DESTINATION_COMMIT": created["destinationCommit"],
            "REPOSITORY_NAME": created["repositoryNames"][0],
        }
        assert event["detail"]["project-name"] == "acme-orders-pr"
        assert event["detail"]["build-id"] == BUILD_ARN


# --- main paths ----------------------------------------------------------------------------------------------------


def test_passed_build_comments_and_approves_the_built_revision(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    queue_update_approval(stub, "APPROVE")

    assert run(event, client) == {"outcome": "validated", "comment": "posted", "approval": "APPROVE"}


def test_failed_build_comments_and_revokes_the_approval(client: Any, stub: Stubber) -> None:
    event = failed_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    queue_approval_states(stub, "APPROVE")
    queue_update_approval(stub, "REVOKE")

    assert run(event, client) == {"outcome": "validated", "comment": "posted", "approval": "REVOKE"}


def test_failed_build_without_any_approval_does_not_call_revoke(client: Any, stub: Stubber) -> None:
    event = failed_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    queue_approval_states(stub)  # no approvals: nothing to revoke, no update call queued

    assert run(event, client) == {"outcome": "validated", "comment": "posted", "approval": "none-to-revoke"}


@pytest.mark.parametrize("status", ["FAULT", "STOPPED", "TIMED_OUT"])
def test_other_final_statuses_revoke(client: Any, stub: Stubber, status: str) -> None:
    event = failed_event()
    event["detail"]["build-status"] = status
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    queue_approval_states(stub, "APPROVE")
    queue_update_approval(stub, "REVOKE")

    assert run(event, client)["approval"] == "REVOKE"
    assert f"❌ PR build failed: {status}" in expected_comment(event)


@pytest.mark.parametrize(
    ("revision", "status"),
    [("newerrevisionEXAMPLE", "OPEN"), (REVISION, "CLOSED")],
    ids=["pr-updated-since-build", "pr-closed"],
)
def test_outdated_revision_neither_comments_nor_changes_approval(
    client: Any, stub: Stubber, logs: Callable[[], list[dict[str, Any]]], revision: str, status: str
) -> None:
    queue_get_pull_request(stub, revision=revision, status=status)  # the only call allowed

    assert run(succeeded_event(), client) == {"outcome": "outdated-revision"}
    [line] = [line for line in logs() if line["message"] == "outdated revision"]
    assert line["pull_request_id"] == PR_ID
    assert line["current_revision_id"] == revision


def test_revision_updated_between_read_and_approval_is_not_an_error(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    stub.add_client_error(
        "update_pull_request_approval_state",
        service_error_code="RevisionNotCurrentException",
        expected_params={"pullRequestId": PR_ID, "revisionId": REVISION, "approvalState": "APPROVE"},
    )

    assert run(event, client)["approval"] == "outdated-revision"


def test_unexpected_approval_error_raises(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    stub.add_client_error(
        "update_pull_request_approval_state",
        service_error_code="PullRequestCannotBeApprovedByAuthorException",
    )

    with pytest.raises(client.exceptions.PullRequestCannotBeApprovedByAuthorException):
        run(event, client)


# --- idempotency ---------------------------------------------------------------------------------------------------


def test_duplicated_event_posts_exactly_one_comment(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    duplicate = copy.deepcopy(event)
    # First delivery: no comment yet -> one post.
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    queue_update_approval(stub, "APPROVE")
    # Second delivery: the first comment is there -> no post (an unqueued post fails the test);
    # the approval is re-applied, so a delivery that died after commenting still approves.
    queue_get_pull_request(stub)
    queue_get_comments(stub, "a human comment", expected_comment(event))
    queue_update_approval(stub, "APPROVE")

    first = run(event, client)
    second = run(duplicate, client)

    assert first == {"outcome": "validated", "comment": "posted", "approval": "APPROVE"}
    assert second == {"outcome": "validated", "comment": "already-posted", "approval": "APPROVE"}


def test_posting_again_would_be_caught(client: Any, stub: Stubber) -> None:
    """Guard for the test above: without the marker check the second delivery would post."""
    event = succeeded_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub, "a human comment")  # no marker -> the function tries to post

    with pytest.raises(UnStubbedResponseError):
        run(event, client)


def test_marker_on_a_later_comments_page_is_found(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    queue_get_pull_request(stub)
    stub.add_response(
        "get_comments_for_pull_request", comments_page("first page", next_token="t2"), {"pullRequestId": PR_ID}
    )
    stub.add_response(
        "get_comments_for_pull_request",
        comments_page(expected_comment(event)),
        {"pullRequestId": PR_ID, "nextToken": "t2"},
    )
    queue_update_approval(stub, "APPROVE")

    assert run(event, client)["comment"] == "already-posted"


def test_deleted_comment_with_marker_does_not_count(client: Any) -> None:
    marker = "<!-- pr-validator:build=x -->"
    stub = Stubber(client)
    page = comments_page(f"old {marker}")
    page["commentsForPullRequestData"][0]["comments"][0]["deleted"] = True
    stub.add_response("get_comments_for_pull_request", page, {"pullRequestId": PR_ID})
    with stub:
        assert pr_validator.comment_already_posted(client, PR_ID, marker) is False


def test_redelivery_renders_identical_idempotent_request() -> None:
    """Concurrent duplicates both post: CodeCommit dedupes them only if token AND content match."""
    first, second = succeeded_event(), succeeded_event()
    second["id"] = "another-delivery-id"
    second["time"] = "2017-09-01T16:15:00Z"

    assert expected_token(first) == expected_token(second)
    assert expected_comment(first) == expected_comment(second)
    assert expected_token(first) != expected_token(failed_event())
    other_build = succeeded_event()
    other_build["detail"]["build-id"] = BUILD_ARN.replace("8745a7a9", "99999999")
    assert expected_token(first) != expected_token(other_build)


def test_token_reused_with_other_content_counts_as_posted(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    stub.add_client_error("post_comment_for_pull_request", service_error_code="IdempotencyParameterMismatchException")
    queue_update_approval(stub, "APPROVE")

    assert run(event, client) == {"outcome": "validated", "comment": "already-posted", "approval": "APPROVE"}


# --- events that are not ours --------------------------------------------------------------------------------------


def test_build_of_a_non_pr_project_is_ignored(client: Any, stub: Stubber) -> None:
    assert run(load("codebuild-build-state-succeeded.json"), client) == {"outcome": "ignored-project"}


def test_in_progress_build_is_ignored(client: Any, stub: Stubber) -> None:
    assert run(in_progress_event(), client) == {"outcome": "ignored-not-final"}


def test_pr_project_build_without_pull_request_override_is_ignored(client: Any, stub: Stubber) -> None:
    event = succeeded_event()
    event["detail"]["additional-information"]["environment"]["environment-variables"] = []
    assert run(event, client) == {"outcome": "ignored-no-pull-request"}


def test_project_suffix_is_configurable(client: Any, stub: Stubber) -> None:
    config = pr_validator.load_config({"PROJECT_SUFFIX": "-review"})
    assert run(succeeded_event(), client, config) == {"outcome": "ignored-project"}


# --- malformed events ----------------------------------------------------------------------------------------------


def _without_detail(event: dict[str, Any]) -> None:
    del event["detail"]


def _without_status(event: dict[str, Any]) -> None:
    del event["detail"]["build-status"]


def _bad_build_id(event: dict[str, Any]) -> None:
    event["detail"]["build-id"] = "not-an-arn"


def _build_of_other_project(event: dict[str, Any]) -> None:
    event["detail"]["project-name"] = "acme-billing-pr"


def _wrong_detail_type(event: dict[str, Any]) -> None:
    event["detail-type"] = "CodeBuild Build Phase Change"


def _variables_not_a_list(event: dict[str, Any]) -> None:
    event["detail"]["additional-information"]["environment"]["environment-variables"] = {"PULL_REQUEST_ID": "1"}


def _partial_overrides(event: dict[str, Any]) -> None:
    variables = event["detail"]["additional-information"]["environment"]["environment-variables"]
    variables[:] = [variable for variable in variables if variable["name"] != "REVISION_ID"]


@pytest.mark.parametrize(
    "corrupt",
    [
        _without_detail,
        _without_status,
        _bad_build_id,
        _build_of_other_project,
        _wrong_detail_type,
        _variables_not_a_list,
        _partial_overrides,
    ],
)
def test_malformed_event_raises(client: Any, stub: Stubber, corrupt: Any) -> None:
    event = succeeded_event()
    corrupt(event)
    with pytest.raises(pr_validator.MalformedEventError):
        run(event, client)


def test_handler_logs_and_raises_malformed_event(
    client: Any, stub: Stubber, monkeypatch: pytest.MonkeyPatch, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    monkeypatch.setattr(pr_validator, "_client", client)
    with pytest.raises(pr_validator.MalformedEventError):
        pr_validator.handler({"id": "evt-1", "detail-type": "CodeBuild Build State Change"}, FakeContext())
    [line] = logs()
    assert line["level"] == "ERROR"
    assert line["message"] == "malformed event"
    assert line["event_id"] == "evt-1"


# --- handler, config and logs --------------------------------------------------------------------------------------


class FakeContext:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    aws_request_id = "req-123"
    function_name = "acme-pr-validator"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-west-2:123456789012:function:acme-pr-validator"


def test_handler_validates_with_env_config_and_writes_json_logs(
    client: Any, stub: Stubber, monkeypatch: pytest.MonkeyPatch, logs: Callable[[], list[dict[str, Any]]]
) -> None:
    monkeypatch.setenv("COMMENT_MARKER", "acme-ci")
    monkeypatch.setattr(pr_validator, "_client", client)
    event = failed_event()
    build = pr_validator.parse_build_event(event)
    pull_request = pr_validator.pull_request_of(build)
    assert pull_request is not None
    content = pr_validator.render_comment(build, pull_request, "acme-ci")
    assert f"<!-- acme-ci:build={BUILD_ARN} -->" in content
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    stub.add_response(
        "post_comment_for_pull_request",
        {"comment": {"commentId": "posted-1", "content": content}},
        {
            "pullRequestId": PR_ID,
            "repositoryName": REPOSITORY,
            "beforeCommitId": DESTINATION,
            "afterCommitId": SOURCE,
            "content": content,
            "clientRequestToken": expected_token(event),
        },
    )
    queue_approval_states(stub)

    assert pr_validator.handler(event, FakeContext()) == {
        "outcome": "validated",
        "comment": "posted",
        "approval": "none-to-revoke",
    }
    lines = logs()
    assert [line["message"] for line in lines] == ["comment posted", "no approval to revoke", "pull request validated"]
    assert all(line["function_request_id"] == "req-123" for line in lines)
    assert lines[0]["comment_id"] == "posted-1"
    assert lines[-1]["build_id"] == BUILD_ARN
    assert lines[-1]["status"] == "FAILED"


def test_config_defaults_and_validation() -> None:
    assert pr_validator.load_config({}) == pr_validator.Config(project_suffix="-pr", comment_marker="pr-validator")
    assert pr_validator.load_config({"PROJECT_SUFFIX": "", "COMMENT_MARKER": ""}) == pr_validator.Config()
    for bad in ({"PROJECT_SUFFIX": "-pr*"}, {"COMMENT_MARKER": "a--b"}, {"COMMENT_MARKER": "x -->"}):
        with pytest.raises(pr_validator.ConfigError):
            pr_validator.load_config(bad)


def test_invalid_env_config_fails_the_invocation(monkeypatch: pytest.MonkeyPatch, client: Any, stub: Stubber) -> None:
    monkeypatch.setenv("PROJECT_SUFFIX", "not valid")
    monkeypatch.setattr(pr_validator, "_client", client)
    with pytest.raises(pr_validator.ConfigError):
        pr_validator.handler(succeeded_event(), FakeContext())


# --- comment content -----------------------------------------------------------------------------------------------


def test_passed_comment_content() -> None:
    content = expected_comment(succeeded_event())

    assert content.startswith("### ✅ PR build passed\n")
    assert "- **Result:** ✅ passed (SUCCEEDED)" in content
    assert "- **Build:** `acme-orders-pr:8745a7a9-c340-456a-9166-edf953571bEX`" in content
    # The sum of the phases' duration-in-seconds: 0 + 36 + 4 + 0 + 0 + 70 + 0 + 0 + 4 = 114 s
    # (wall-clock from build-start-time 4:12:29 PM to the last phase end 4:14:26 PM would be 117 s).
    assert "- **Duration:** 1m 54s" in content
    assert f"- **Source commit:** `{SOURCE}` (revision `{REVISION}`)" in content
    assert f"- **Logs:** [CloudWatch Logs]({LOGS_LINK})" in content
    assert f"- **Test report:** [CodeBuild reports]({REPORT_LINK})" in content
    assert content.endswith(f"<!-- pr-validator:build={BUILD_ARN} -->")
    assert len(content) < 10_240  # CodeCommit's comment size limit


def test_failed_comment_content_and_build_number() -> None:
    event = failed_event()
    event["detail"]["additional-information"]["build-number"] = 42
    content = expected_comment(event)

    assert content.startswith("### ❌ PR build failed: FAILED\n")
    assert "- **Result:** ❌ failed (FAILED)" in content
    assert "- **Build:** #42 `acme-orders-pr:8745a7a9-c340-456a-9166-edf953571bEX`" in content
    assert REPORT_LINK in content


@pytest.mark.parametrize(
    ("build_number", "label"),
    [
        (12.0, "#12 "),  # CodeBuild events may carry the build number as a JSON float
        (12, "#12 "),
        ("12", "#12 "),
        (12.5, ""),  # not a whole number: no build number shown
        ("twelve", ""),
        (True, ""),
        (None, ""),
        (float("inf"), ""),
        (float("nan"), ""),
    ],
)
def test_build_number_is_shown_as_an_integer(build_number: Any, label: str) -> None:
    event = succeeded_event()
    event["detail"]["additional-information"]["build-number"] = build_number
    content = expected_comment(event)
    assert f"- **Build:** {label}`acme-orders-pr:8745a7a9-c340-456a-9166-edf953571bEX`" in content
    assert ".0" not in content.split("- **Build:**", 1)[1].split("\n", 1)[0]


def test_float_build_number_through_the_handler(client: Any, stub: Stubber) -> None:
    """The float variant of the sample event is commented on with "#12", not dropped or crashed on."""
    event = succeeded_event()
    event["detail"]["additional-information"]["build-number"] = 12.0
    event = json.loads(json.dumps(event))  # as EventBridge delivers it: "build-number": 12.0
    assert isinstance(event["detail"]["additional-information"]["build-number"], float)
    queue_get_pull_request(stub)
    queue_get_comments(stub)
    queue_post_comment(stub, event)
    queue_update_approval(stub, "APPROVE")

    assert run(event, client) == {"outcome": "validated", "comment": "posted", "approval": "APPROVE"}
    assert "- **Build:** #12 `acme-orders-pr:" in expected_comment(event)


def test_comment_without_logs_link() -> None:
    event = succeeded_event()
    del event["detail"]["additional-information"]["logs"]
    assert "- **Logs:** not available" in expected_comment(event)


def _phases(event: dict[str, Any]) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = event["detail"]["additional-information"]["phases"]
    return phases


def _without_durations(event: dict[str, Any]) -> None:
    for phase in _phases(event):
        phase.pop("duration-in-seconds", None)


def _without_durations_or_end_times(event: dict[str, Any]) -> None:
    _without_durations(event)
    for phase in _phases(event):
        phase.pop("end-time", None)


def _without_durations_or_start_time(event: dict[str, Any]) -> None:
    _without_durations(event)
    event["detail"]["additional-information"]["build-start-time"] = "yesterday"


def _queued_years_before(event: dict[str, Any]) -> None:
    """A QUEUED phase (newer CodeBuild events have one) that started about two years before the
    build ran, with build-start-time when it was queued: wall-clock would say 17796h 29m 17s."""
    info = event["detail"]["additional-information"]
    info["build-start-time"] = "Aug 22, 2015 3:45:09 AM"
    queued = {"start-time": "Aug 22, 2015 3:45:09 AM", "end-time": "Sep 1, 2017 4:12:29 PM"}
    _phases(event).insert(1, {"phase-context": [], **queued, "duration-in-seconds": 3, "phase-type": "QUEUED"})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # The sum of duration-in-seconds: 0 + 36 + 4 + 0 + 0 + 70 + 0 + 0 + 4 = 114 s.
        (lambda event: None, "1m 54s"),
        # The same sum, whatever the times say.
        (lambda event: event["detail"]["additional-information"].update({"build-start-time": "yesterday"}), "1m 54s"),
        (lambda event: [phase.pop("end-time", None) for phase in _phases(event)], "1m 54s"),
        # 114 s + the QUEUED phase's 3 s = 117 s, not the ~2 years between build-start-time and the end.
        (_queued_years_before, "1m 57s"),
        # No phase has a duration: wall-clock, build-start-time 4:12:29 PM -> last phase end 4:14:26 PM.
        (_without_durations, "1m 57s"),
        # ... or, without end times, -> the COMPLETED phase's start 4:14:26 PM.
        (_without_durations_or_end_times, "1m 57s"),
        (_without_durations_or_start_time, "unknown"),
        (lambda event: event["detail"]["additional-information"].update({"phases": []}), "unknown"),
        (lambda event: event["detail"]["additional-information"].pop("phases"), "unknown"),
    ],
    ids=[
        "sum-of-phases",
        "sum-despite-unparsable-start",
        "sum-without-end-times",
        "queued-years-earlier",
        "wall-clock-without-durations",
        "wall-clock-completed-phase-start",
        "no-durations-unparsable-start",
        "no-phases",
        "phases-missing",
    ],
)
def test_duration_is_the_sum_of_the_phases_else_wall_clock(change: Any, expected: str) -> None:
    event = succeeded_event()
    change(event)
    build = pr_validator.parse_build_event(event)
    assert pr_validator.format_duration(pr_validator.build_duration_seconds(build)) == expected


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "unknown"), (0, "0s"), (59, "59s"), (60, "1m 0s"), (3700, "1h 1m 40s")]
)
def test_format_duration(seconds: int | None, text: str) -> None:
    assert pr_validator.format_duration(seconds) == text


def test_codebuild_time_format() -> None:
    assert pr_validator.parse_codebuild_time("Sep 1, 2017 4:12:29 PM") == datetime(2017, 9, 1, 16, 12, 29)
    assert pr_validator.parse_codebuild_time("Dec 31, 2024 12:00:00 AM") == datetime(2024, 12, 31, 0, 0, 0)
    assert pr_validator.parse_codebuild_time("2017-09-01T16:14:28Z") == datetime(2017, 9, 1, 16, 14, 28)
    assert pr_validator.parse_codebuild_time("garbage") is None
    assert pr_validator.parse_codebuild_time(None) is None


# --- pull request opened or updated: its build is started ----------------------------------------------------------


@pytest.fixture(scope="module")
def codebuild() -> Any:
    return boto3.client(
        "codebuild", region_name="us-west-2", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def codebuild_stub(codebuild: Any) -> Iterator[Stubber]:
    stubber = Stubber(codebuild)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def pull_request_event(name: str = "codecommit-pr-created.json", repository: str = "acme-orders") -> dict[str, Any]:
    event = load(name)
    event["resources"] = [f"arn:aws:codecommit:us-west-2:123456789012:{repository}"]
    event["detail"]["repositoryNames"] = [repository]
    return event


def expected_start_build(event: dict[str, Any], project: str = "acme-orders-pr") -> dict[str, Any]:
    detail = event["detail"]
    return {
        "projectName": project,
        "sourceVersion": detail["sourceCommit"],
        "environmentVariablesOverride": [
            {"name": "PULL_REQUEST_ID", "value": detail["pullRequestId"], "type": "PLAINTEXT"},
            {"name": "REVISION_ID", "value": detail["revisionId"], "type": "PLAINTEXT"},
            {"name": "SOURCE_COMMIT", "value": detail["sourceCommit"], "type": "PLAINTEXT"},
            {"name": "DESTINATION_COMMIT", "value": detail["destinationCommit"], "type": "PLAINTEXT"},
            {"name": "REPOSITORY_NAME", "value": detail["repositoryNames"][0], "type": "PLAINTEXT"},
        ],
        "idempotencyToken": pr_validator.build_idempotency_token(
            pr_validator.parse_pull_request_event(event).pull_request
        ),
    }


@pytest.mark.parametrize("name", ["codecommit-pr-created.json", "codecommit-pr-source-branch-updated.json"])
def test_new_or_updated_pull_request_starts_its_repositorys_pull_request_build(
    codebuild: Any, codebuild_stub: Stubber, name: str
) -> None:
    event = pull_request_event(name)
    codebuild_stub.add_response("start_build", {"build": {"id": "acme-orders-pr:1"}}, expected_start_build(event))
    assert pr_validator.start_pull_request_build(event, client=codebuild, config=CONFIG) == pr_validator.Result(
        "build-started"
    )


def test_the_started_build_carries_what_the_build_state_change_needs() -> None:
    """The overrides are exactly those `pull_request_of` reads back from the finished build."""
    event = pull_request_event()
    request = pr_validator.start_build_request(pr_validator.parse_pull_request_event(event).pull_request, CONFIG)
    environment = {v["name"]: v["value"] for v in request["environmentVariablesOverride"]}
    assert set(environment) == set(pr_validator.OVERRIDE_NAMES)
    assert request["projectName"] == "acme-orders-pr"  # the repository's project, <repository><suffix>


def test_redelivered_event_uses_the_same_idempotency_token_and_a_new_revision_another() -> None:
    first = pr_validator.parse_pull_request_event(pull_request_event()).pull_request
    again = pr_validator.parse_pull_request_event(pull_request_event()).pull_request
    updated = pull_request_event()
    updated["detail"]["revisionId"] = "another-revision"
    newer = pr_validator.parse_pull_request_event(updated).pull_request
    assert pr_validator.build_idempotency_token(first) == pr_validator.build_idempotency_token(again)
    assert pr_validator.build_idempotency_token(first) != pr_validator.build_idempotency_token(newer)


def test_closed_pull_request_starts_nothing(codebuild: Any, codebuild_stub: Stubber) -> None:
    event = pull_request_event("codecommit-pr-status-changed.json")
    assert pr_validator.start_pull_request_build(event, client=codebuild, config=CONFIG) == pr_validator.Result(
        "ignored-pull-request-event"
    )


def test_repository_without_a_pull_request_project_is_ignored(codebuild: Any, codebuild_stub: Stubber) -> None:
    event = pull_request_event()
    codebuild_stub.add_client_error(
        "start_build", "ResourceNotFoundException", expected_params=expected_start_build(event)
    )
    assert pr_validator.start_pull_request_build(event, client=codebuild, config=CONFIG) == pr_validator.Result(
        "ignored-no-project"
    )


def test_other_start_build_errors_raise_for_the_dead_letter_queue(codebuild: Any, codebuild_stub: Stubber) -> None:
    event = pull_request_event()
    codebuild_stub.add_client_error("start_build", "AccessDeniedException", expected_params=expected_start_build(event))
    with pytest.raises(pr_validator.ClientError):
        pr_validator.start_pull_request_build(event, client=codebuild, config=CONFIG)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda e: e["detail"].pop("sourceCommit"),
        lambda e: e["detail"].update(repositoryNames=[]),
        lambda e: e["detail"].update(repositoryNames="acme-orders"),
        lambda e: e.pop("detail"),
    ],
)
def test_malformed_pull_request_event_raises(codebuild: Any, codebuild_stub: Stubber, corrupt: Any) -> None:
    event = pull_request_event()
    corrupt(event)
    with pytest.raises(pr_validator.MalformedEventError):
        pr_validator.start_pull_request_build(event, client=codebuild, config=CONFIG)


def test_handler_routes_pull_request_events_to_the_build_start(
    codebuild: Any, codebuild_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pr_validator, "_codebuild", codebuild)
    monkeypatch.setenv("PROJECT_SUFFIX", "-pull")
    event = pull_request_event()
    codebuild_stub.add_response(
        "start_build", {"build": {"id": "acme-orders-pull:1"}}, expected_start_build(event, "acme-orders-pull")
    )
    assert pr_validator.handler(event, FakeContext()) == {"outcome": "build-started"}
