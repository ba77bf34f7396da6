"""Tests for lambda/lambda_deployer/deployer.py: every AWS call goes through a botocore Stubber.

Events are the real CodePipeline job sample (tests/fixtures/aws-events/codepipeline-job-lambda.json)
or files derived from it (tests/fixtures/aws-events/derived/deployer-*.json, see SOURCES-deployer.md).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lambda" / "lambda_deployer"))
import deployer  # noqa: E402

EVENTS = ROOT / "tests" / "fixtures" / "aws-events"
JOB_ID = "11111111-abcd-1111-abcd-111111abcdef"
DEPLOYMENT_ID = "d-7EXAMPLE1"
ROLE_ARN = "arn:aws:iam::222222222222:role/acme-dev-deployer"
FUNCTION = "acme-dev-pricing"
ASSUMED = {
    "AccessKeyId": "ASIAEXAMPLEASSUMED01",
    "SecretAccessKey": "assumed-secret-key-must-not-be-logged",
    "SessionToken": "assumed-session-token-must-not-be-logged",
    "Expiration": datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
}
FAST = deployer.Settings(poll_interval_seconds=15.0, wait_budget_seconds=40.0, update_poll_interval_seconds=2.0)


def load_event(name: str) -> dict[str, Any]:
    path = EVENTS / name
    return json.loads(path.read_text())


def first_event() -> dict[str, Any]:
    return load_event("derived/deployer-job-first-invocation.json")


def continuation_event() -> dict[str, Any]:
    return load_event("derived/deployer-job-continuation.json")


def with_user_parameters(event: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(params)
    return event


def user_parameters(event: dict[str, Any]) -> dict[str, Any]:
    raw = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"]
    params: dict[str, Any] = json.loads(raw)
    return params


def make_zip(files: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (
            files or {"app.py": "def handler(event, context):\n    return {'statusCode': 200}\n"}
        ).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class JsonMatching:
    """Equal to a string holding JSON that decodes to `expected` (used inside Stubber expected_params)."""

    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and json.loads(other) == self.expected

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JsonMatching({self.expected!r})"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Harness:
    """Stubbed clients wired into a deployer.Aws, plus a fake clock."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name="eu-west-1")
        self.sts = boto3.client("sts", region_name="eu-west-1")
        self.codepipeline = boto3.client("codepipeline", region_name="eu-west-1")
        self.lambda_ = boto3.client("lambda", region_name="eu-west-1")
        self.codedeploy = boto3.client("codedeploy", region_name="eu-west-1")
        self.stubs = {
            name: Stubber(getattr(self, name)) for name in ("s3", "sts", "codepipeline", "lambda_", "codedeploy")
        }
        self.target_calls: list[tuple[deployer.Credentials, str]] = []
        self.artifact_calls: list[deployer.Credentials] = []
        self.clock = FakeClock()
        self.aws = deployer.Aws(
            sts=self.sts,
            codepipeline=self.codepipeline,
            artifact_s3=self._artifact_s3,
            target_clients=self._target_clients,
        )

    def _artifact_s3(self, credentials: deployer.Credentials) -> Any:
        self.artifact_calls.append(credentials)
        return self.s3

    def _target_clients(self, credentials: deployer.Credentials, region: str) -> deployer.TargetClients:
        self.target_calls.append((credentials, region))
        return deployer.TargetClients(lambda_=self.lambda_, codedeploy=self.codedeploy)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for stub in self.stubs.values():
                stack.enter_context(stub)
            yield
            for stub in self.stubs.values():
                stub.assert_no_pending_responses()

    def run(
        self,
        event: dict[str, Any],
        settings: deployer.Settings = FAST,
        remaining_seconds: float | None = 290.0,
    ) -> deployer.Outcome:
        with self.active():
            return deployer.process_event(
                event,
                aws=self.aws,
                clock=self.clock,
                settings_loader=lambda: settings,
                remaining_seconds=remaining_seconds,
            )

    # ----- expectations, in call order

    def expect_download(self, package: bytes) -> None:
        self.stubs["s3"].add_response(
            "get_object",
            {"Body": streaming(package), "ContentLength": len(package)},
            {"Bucket": "bucket_name", "Key": "filename"},
        )

    def expect_assume_role(self) -> None:
        self.stubs["sts"].add_response(
            "assume_role",
            {
                "Credentials": ASSUMED,
                "AssumedRoleUser": {
                    "AssumedRoleId": "AROAEXAMPLEROLEID:deployer-" + JOB_ID,
                    "Arn": f"arn:aws:sts::222222222222:assumed-role/acme-dev-deployer/deployer-{JOB_ID}",
                },
            },
            {"RoleArn": ROLE_ARN, "RoleSessionName": f"deployer-{JOB_ID}", "DurationSeconds": 900},
        )

    def expect_get_alias(self, version: str) -> None:
        self.stubs["lambda_"].add_response(
            "get_alias",
            {
                "AliasArn": f"arn:aws:lambda:eu-west-1:222222222222:function:{FUNCTION}:live",
                "Name": "live",
                "FunctionVersion": version,
            },
            {"FunctionName": FUNCTION, "Name": "live"},
        )

    def expect_update_code(self, package: bytes, new_version: str) -> None:
        self.stubs["lambda_"].add_response(
            "update_function_code",
            {
                "FunctionName": FUNCTION,
                "Version": new_version,
                "State": "Active",
                "LastUpdateStatus": "InProgress",
                "CodeSha256": "c2hhMjU2LW9mLXRoZS16aXA=",
            },
            {"FunctionName": FUNCTION, "ZipFile": package, "Publish": True},
        )

    def expect_function_configuration(self, version: str, state: str, update: str, **extra: str) -> None:
        self.stubs["lambda_"].add_response(
            "get_function_configuration",
            {"FunctionName": FUNCTION, "Version": version, "State": state, "LastUpdateStatus": update, **extra},
            {"FunctionName": FUNCTION, "Qualifier": version},
        )

    def expect_get_deployment(self, status: str, **info: Any) -> None:
        self.stubs["codedeploy"].add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": DEPLOYMENT_ID, "status": status, **info}},
            {"deploymentId": DEPLOYMENT_ID},
        )

    def expect_success(self, execution_details: dict[str, Any], continuation_token: Any = None) -> None:
        expected: dict[str, Any] = {"jobId": JOB_ID, "executionDetails": execution_details}
        if continuation_token is not None:
            expected["continuationToken"] = continuation_token
        self.stubs["codepipeline"].add_response("put_job_success_result", {}, expected)

    def expect_failure(self, failure_details: dict[str, Any]) -> None:
        self.stubs["codepipeline"].add_response(
            "put_job_failure_result", {}, {"jobId": JOB_ID, "failureDetails": failure_details}
        )


class Contains:
    """Equal to a string containing every one of `parts`."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and all(part in other for part in self.parts)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Contains{self.parts!r}"


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("POLL_INTERVAL_SECONDS", raising=False)
    monkeypatch.delenv("WAIT_BUDGET_SECONDS", raising=False)
    deployer.get_settings.cache_clear()
    yield
    deployer.get_settings.cache_clear()


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every line the deployer logs, formatted (by Powertools' formatter) as it would reach CloudWatch."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    collector = Collect()
    collector.setFormatter(deployer.logger.registered_formatter)
    deployer.logger.addHandler(collector)
    yield lines
    deployer.logger.handlers.remove(collector)


EXPECTED_APPSPEC = {
    "version": 0.0,
    "Resources": [
        {
            FUNCTION: {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Name": FUNCTION, "Alias": "live", "CurrentVersion": "7", "TargetVersion": "8"},
            }
        }
    ],
    "Hooks": [
        {"BeforeAllowTraffic": "acme-dev-pricing-pre-traffic"},
        {"AfterAllowTraffic": "acme-dev-pricing-post-traffic"},
    ],
}


# ----------------------------------------------------------------------------- first invocation


def test_first_invocation_publishes_version_and_starts_deployment(harness: Harness, log_lines: list[str]) -> None:
    package = make_zip()
    harness.expect_download(package)
    harness.expect_assume_role()
    harness.expect_get_alias("7")
    harness.expect_update_code(package, "8")
    harness.expect_function_configuration("8", "Active", "InProgress")
    harness.expect_function_configuration("8", "Active", "Successful")
    harness.stubs["codedeploy"].add_response(
        "create_deployment",
        {"deploymentId": DEPLOYMENT_ID},
        {
            "applicationName": "acme-dev-pricing",
            "deploymentGroupName": "acme-dev-pricing",
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": JsonMatching(EXPECTED_APPSPEC)},
            },
            "description": Contains(JOB_ID, "7 -> 8"),
        },
    )
    harness.expect_success(
        {"summary": Contains(DEPLOYMENT_ID, "7 -> 8"), "percentComplete": 0, "externalExecutionId": DEPLOYMENT_ID},
        continuation_token=JsonMatching(
            {"deployment_id": DEPLOYMENT_ID, "target_version": "8", "current_version": "7"}
        ),
    )

    outcome = harness.run(first_event())

    assert isinstance(outcome, deployer.Success)
    # target clients are built in the target region with the assumed role's credentials
    assert len(harness.target_calls) == 1
    credentials, region = harness.target_calls[0]
    assert region == "eu-west-1"
    assert (credentials.access_key_id, credentials.secret_access_key, credentials.session_token) == (
        ASSUMED["AccessKeyId"],
        ASSUMED["SecretAccessKey"],
        ASSUMED["SessionToken"],
    )
    assert harness.clock.sleeps == [FAST.update_poll_interval_seconds]
    # the artifact is read with the credentials CodePipeline put in the job for it
    [artifact_credentials] = harness.artifact_calls
    assert (
        artifact_credentials.access_key_id,
        artifact_credentials.secret_access_key,
        artifact_credentials.session_token,
    ) == ("access_key_ID", "secret_key", "session_token")
    # logs are JSON, carry the job id, and leak neither the artifact nor the assumed credentials
    records = [json.loads(line) for line in log_lines]
    assert any(r.get("deployment_id") == DEPLOYMENT_ID and r.get("job_id") == JOB_ID for r in records)
    text = "\n".join(log_lines)
    for secret in ("secret_key", "session_token", ASSUMED["SecretAccessKey"], ASSUMED["SessionToken"]):
        assert secret not in text
    assert ASSUMED["SecretAccessKey"] not in repr(credentials)


def test_identical_code_reports_no_change_without_deployment(harness: Harness) -> None:
    package = make_zip()
    harness.expect_download(package)
    harness.expect_assume_role()
    harness.expect_get_alias("7")
    harness.expect_update_code(package, "7")
    harness.expect_function_configuration("7", "Active", "Successful")
    # no create_deployment is stubbed: calling it would fail the job and mismatch the report below
    harness.expect_success({"summary": Contains("No change", "version 7"), "percentComplete": 100})

    outcome = harness.run(first_event())

    assert isinstance(outcome, deployer.Success)
    assert outcome.continuation_token is None


def test_failed_function_update_fails_job_with_reason(harness: Harness) -> None:
    package = make_zip()
    harness.expect_download(package)
    harness.expect_assume_role()
    harness.expect_get_alias("7")
    harness.expect_update_code(package, "8")
    harness.expect_function_configuration(
        "8",
        "Failed",
        "Failed",
        StateReason="The function could not be created: subnet is full",
        StateReasonCode="SubnetOutOfIPAddresses",
    )
    harness.expect_failure(
        {"type": "JobFailed", "message": Contains("version 8", "SubnetOutOfIPAddresses", "subnet is full")}
    )

    outcome = harness.run(first_event())

    assert isinstance(outcome, deployer.Failure)


def test_function_update_that_never_finishes_fails_within_the_budget(harness: Harness) -> None:
    package = make_zip()
    settings = deployer.Settings(poll_interval_seconds=15.0, wait_budget_seconds=5.0, update_poll_interval_seconds=2.0)
    harness.expect_download(package)
    harness.expect_assume_role()
    harness.expect_get_alias("7")
    harness.expect_update_code(package, "8")
    for _ in range(3):  # at t = 0, 2, 4; the next poll would pass the 5 s budget
        harness.expect_function_configuration("8", "Pending", "InProgress")
    harness.expect_failure({"type": "JobFailed", "message": Contains("version 8", "not ready in time")})

    harness.run(first_event(), settings=settings)

    assert harness.clock.sleeps == [2.0, 2.0]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"function.zip": "nested package"}, "not a zip inside a zip"),
        (None, "is not a zip file"),
    ],
)
def test_artifact_that_is_not_a_deployment_package_fails_job(
    harness: Harness, files: dict[str, str] | None, expected: str
) -> None:
    package = make_zip(files) if files else b"this is not a zip archive"
    harness.expect_download(package)
    harness.expect_failure({"type": "JobFailed", "message": Contains("s3://bucket_name/filename", expected)})

    harness.run(first_event())

    assert harness.target_calls == []


def test_appspec_omits_hooks_that_are_not_given() -> None:
    params = user_parameters(first_event())
    del params["pre_traffic_hook"], params["post_traffic_hook"]
    no_hooks = json.loads(deployer.build_appspec(deployer.parse_user_parameters(json.dumps(params)), "3", "4"))
    assert "Hooks" not in no_hooks
    assert no_hooks["Resources"][0][FUNCTION]["Properties"] == {
        "Name": FUNCTION,
        "Alias": "live",
        "CurrentVersion": "3",
        "TargetVersion": "4",
    }
    params["post_traffic_hook"] = "acme-dev-pricing-post-traffic"
    post_only = json.loads(deployer.build_appspec(deployer.parse_user_parameters(json.dumps(params)), "3", "4"))
    assert post_only["Hooks"] == [{"AfterAllowTraffic": "acme-dev-pricing-post-traffic"}]


# ----------------------------------------------------------------------------- continuation


def test_continuation_succeeded_ends_job_without_token(harness: Harness) -> None:
    harness.expect_assume_role()
    harness.expect_get_deployment("Succeeded")
    harness.expect_success(
        {
            "summary": Contains(DEPLOYMENT_ID, "succeeded", "version 8"),
            "percentComplete": 100,
            "externalExecutionId": DEPLOYMENT_ID,
        }
    )

    outcome = harness.run(continuation_event())

    assert isinstance(outcome, deployer.Success)
    assert outcome.continuation_token is None
    assert harness.clock.sleeps == []


def test_continuation_failed_with_rollback_fails_job(harness: Harness) -> None:
    harness.expect_assume_role()
    harness.expect_get_deployment(
        "Failed",
        errorInformation={
            "code": "HOOK_EXECUTION_FAILURE",
            "message": "The deployment failed because a BeforeAllowTraffic hook returned Failed",
        },
        rollbackInfo={
            "rollbackDeploymentId": "d-8EXAMPLE2",
            "rollbackMessage": "Automatic rollback triggered by a failed deployment",
        },
    )
    harness.expect_failure(
        {
            "type": "JobFailed",
            "message": Contains(DEPLOYMENT_ID, "Failed", "BeforeAllowTraffic hook returned Failed", "rolled back"),
            "externalExecutionId": DEPLOYMENT_ID,
        }
    )

    outcome = harness.run(continuation_event())

    assert isinstance(outcome, deployer.Failure)


def test_continuation_stopped_without_rollback_does_not_claim_one(harness: Harness) -> None:
    harness.expect_assume_role()
    harness.expect_get_deployment(
        "Stopped", errorInformation={"code": "ALARM_ACTIVE", "message": "Alarm acme-dev-pricing-errors is ALARM"}
    )
    harness.expect_failure({"type": "JobFailed", "message": ANY, "externalExecutionId": DEPLOYMENT_ID})

    outcome = harness.run(continuation_event())

    assert isinstance(outcome, deployer.Failure)
    assert "Stopped" in outcome.message and "ALARM_ACTIVE" in outcome.message
    assert "rolled back" not in outcome.message


def test_continuation_still_running_hands_back_the_same_token(harness: Harness) -> None:
    event = continuation_event()
    token = event["CodePipeline.job"]["data"]["continuationToken"]
    harness.expect_assume_role()
    overview = {"Pending": 1, "InProgress": 0, "Succeeded": 3, "Failed": 0, "Skipped": 0, "Ready": 0}
    harness.expect_get_deployment("Created")
    harness.expect_get_deployment("InProgress")
    harness.expect_get_deployment("InProgress", deploymentOverview=overview)
    harness.expect_success(
        {"summary": Contains(DEPLOYMENT_ID, "InProgress"), "percentComplete": 75, "externalExecutionId": DEPLOYMENT_ID},
        continuation_token=token,
    )

    outcome = harness.run(event)  # budget 40 s, poll every 15 s: polls at 0, 15, 30

    assert isinstance(outcome, deployer.Success)
    assert outcome.continuation_token == token
    assert harness.clock.sleeps == [15.0, 15.0]


def test_continuation_stops_polling_before_the_lambda_timeout(harness: Harness) -> None:
    settings = deployer.Settings(poll_interval_seconds=15.0, wait_budget_seconds=240.0)
    harness.expect_assume_role()
    harness.expect_get_deployment("InProgress")
    harness.expect_get_deployment("InProgress")
    harness.expect_success({"summary": ANY, "externalExecutionId": DEPLOYMENT_ID}, continuation_token=ANY)

    # 50 s left, 20 s kept to report: 30 s of polling, at 0 and 15 s
    harness.run(continuation_event(), settings=settings, remaining_seconds=50.0)

    assert harness.clock.sleeps == [15.0]


def test_long_failure_message_is_truncated_to_codepipeline_limit(harness: Harness) -> None:
    harness.expect_assume_role()
    harness.expect_get_deployment("Failed", errorInformation={"code": "INTERNAL_ERROR", "message": "x" * 6000})
    harness.expect_failure({"type": "JobFailed", "message": ANY, "externalExecutionId": DEPLOYMENT_ID})
    sent: list[dict[str, Any]] = []
    harness.codepipeline.meta.events.register(
        "provide-client-params.codepipeline.PutJobFailureResult", lambda params, **_: sent.append(params)
    )

    harness.run(continuation_event())

    message = sent[0]["failureDetails"]["message"]
    assert len(message) == deployer.MAX_FAILURE_MESSAGE
    assert message.startswith(f"CodeDeploy deployment {DEPLOYMENT_ID} Failed")
    assert message.endswith("...")


def test_continuation_token_from_elsewhere_fails_job(harness: Harness) -> None:
    # The real sample's continuationToken ("token_ID") is not one this deployer issues.
    event = with_user_parameters(load_event("codepipeline-job-lambda.json"), user_parameters(first_event()))
    harness.expect_failure({"type": "ConfigurationError", "message": Contains("continuationToken")})

    harness.run(event)

    assert harness.target_calls == []


# ----------------------------------------------------------------------------- bad input, errors


@pytest.mark.parametrize(
    ("change", "field"),
    [
        *[
            ({name: None}, name)
            for name in (
                "environment",
                "function_name",
                "application",
                "deployment_group",
                "deployer_role_arn",
                "region",
            )
        ],
        ({"region": "Ireland"}, "region"),
        ({"function_name": "arn:aws:lambda:eu-west-1:222222222222:function:acme-dev-pricing"}, "function_name"),
        ({"deployment_group": ""}, "deployment_group"),
        ({"application": 42}, "application"),
        ({"alias": "7"}, "alias"),
        ({"pre_trafic_hook": "acme-dev-pricing-pre-traffic"}, "pre_trafic_hook"),
    ],
)
def test_bad_user_parameters_fail_job_naming_the_field(harness: Harness, change: dict[str, Any], field: str) -> None:
    params = user_parameters(first_event())
    for key, value in change.items():
        if value is None:
            del params[key]
        else:
            params[key] = value
    harness.expect_failure({"type": "ConfigurationError", "message": Contains(f"'{field}'")})

    outcome = harness.run(with_user_parameters(first_event(), params))

    assert isinstance(outcome, deployer.Failure)


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda job: job["data"].update(inputArtifacts=[]), "no input artifact"),
        (lambda job: job["data"]["inputArtifacts"][0]["location"].pop("s3Location"), "no input artifact"),
        (lambda job: job["data"].pop("artifactCredentials"), "artifactCredentials"),
        (lambda job: job["data"].pop("actionConfiguration"), "UserParameters is missing"),
    ],
    ids=["no-input-artifact", "no-s3-location", "no-artifact-credentials", "no-action-configuration"],
)
def test_malformed_job_is_reported_as_configuration_error(harness: Harness, corrupt: Any, expected: str) -> None:
    event = first_event()
    corrupt(event["CodePipeline.job"])
    harness.expect_failure({"type": "ConfigurationError", "message": Contains(expected)})

    outcome = harness.run(event)

    assert isinstance(outcome, deployer.Failure)
    assert harness.target_calls == []


def test_verbatim_sample_event_fails_on_its_user_parameters(harness: Harness) -> None:
    # The published sample has UserParameters "input_parameter": not our JSON.
    harness.expect_failure({"type": "ConfigurationError", "message": Contains("UserParameters", "not valid JSON")})

    harness.run(load_event("codepipeline-job-lambda.json"))


def test_access_denied_on_assume_role_fails_job_without_crashing(harness: Harness) -> None:
    harness.expect_download(make_zip())
    harness.stubs["sts"].add_client_error(
        "assume_role",
        service_error_code="AccessDenied",
        service_message=f"User: arn:aws:sts::111111111111:assumed-role/acme-pricing-pipeline-lambda/x "
        f"is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}",
        http_status_code=403,
    )
    harness.expect_failure({"type": "JobFailed", "message": Contains("AccessDenied", "AssumeRole", ROLE_ARN)})

    outcome = harness.run(first_event())

    assert isinstance(outcome, deployer.Failure)
    assert harness.target_calls == []


def test_failure_to_report_is_raised(harness: Harness) -> None:
    harness.stubs["codepipeline"].add_client_error(
        "put_job_failure_result", service_error_code="InvalidJobStateException", service_message="job is done"
    )
    with pytest.raises(ClientError, match="InvalidJobStateException"):
        harness.run(load_event("codepipeline-job-lambda.json"))


def test_event_without_job_id_raises() -> None:
    with pytest.raises(ValueError, match=r"CodePipeline\.job\.id"):
        deployer.job_id_of({"CodePipeline.job": {"data": {}}})


# ----------------------------------------------------------------------------- settings and handler


def test_settings_defaults_and_validation() -> None:
    assert deployer.load_settings({}) == deployer.Settings(poll_interval_seconds=15.0, wait_budget_seconds=240.0)
    assert (
        deployer.load_settings({"POLL_INTERVAL_SECONDS": "5", "WAIT_BUDGET_SECONDS": "100"}).wait_budget_seconds == 100
    )
    with pytest.raises(deployer.ConfigurationError, match="WAIT_BUDGET_SECONDS"):
        deployer.load_settings({"WAIT_BUDGET_SECONDS": "0"})
    with pytest.raises(deployer.ConfigurationError, match="POLL_INTERVAL_SECONDS"):
        deployer.load_settings({"POLL_INTERVAL_SECONDS": "soon"})


def test_role_session_name_is_valid_for_any_job_id() -> None:
    name = deployer.role_session_name("job id/with:odd*chars-" + "9" * 80)
    assert len(name) <= 64
    assert all(c.isalnum() or c in "_+=,.@-" for c in name)
    assert deployer.role_session_name(JOB_ID) == f"deployer-{JOB_ID}"


class FakeContext:
    """What the handler and Powertools' inject_lambda_context read from the Lambda context."""

    aws_request_id = "req-123"
    function_name = "acme-pricing-lambda-deployer"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111111111111:function:acme-pricing-lambda-deployer"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_handler_reports_invalid_environment_as_configuration_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "-1")
    monkeypatch.setattr(deployer, "get_aws", lambda: harness.aws)
    harness.expect_failure({"type": "ConfigurationError", "message": Contains("POLL_INTERVAL_SECONDS")})

    with harness.active():
        deployer.handler(continuation_event(), FakeContext(300_000))


def test_handler_follows_deployment_with_real_clock(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAIT_BUDGET_SECONDS", "60")
    monkeypatch.setattr(deployer, "get_aws", lambda: harness.aws)
    harness.expect_assume_role()
    harness.expect_get_deployment("Succeeded")
    harness.expect_success({"summary": ANY, "percentComplete": 100, "externalExecutionId": DEPLOYMENT_ID})

    with harness.active():
        assert deployer.handler(continuation_event(), FakeContext(300_000)) is None


def test_handler_never_logs_the_event_with_its_credentials() -> None:
    """Powertools reads POWERTOOLS_LOGGER_LOG_EVENT when the handler is decorated: import it in a fresh process."""
    event = {"CodePipeline.job": {"data": continuation_event()["CodePipeline.job"]["data"]}}  # no id: fails at once
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import deployer\n"
        "class Context:\n"
        "    aws_request_id = function_name = invoked_function_arn = 'x'\n"
        "    memory_limit_in_mb = 512\n"
        "    get_remaining_time_in_millis = staticmethod(lambda: 300_000)\n"
        "try:\n"
        "    deployer.handler(json.loads(sys.argv[2]), Context())\n"
        "except ValueError as error:\n"
        "    print('raised', error)\n"
    )
    env = {**os.environ, "POWERTOOLS_LOGGER_LOG_EVENT": "true", "AWS_DEFAULT_REGION": "eu-west-1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "lambda" / "lambda_deployer"), json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "raised not a CodePipeline job event" in done.stdout
    assert "secret_key" not in done.stdout + done.stderr and "session_token" not in done.stdout + done.stderr
