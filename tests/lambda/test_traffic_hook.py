"""Tests for lambda/traffic_hook/traffic_hook.py: every AWS call goes through a botocore Stubber.

The event is the real CodeDeploy lifecycle hook sample (tests/fixtures/aws-events/codedeploy-lifecycle-hook.json);
the YAML/JSON AppSpecs are the AWS documentation's Lambda examples (derived/hook-appspec-*, see SOURCES-deployer.md).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lambda" / "traffic_hook"))
import traffic_hook  # noqa: E402

EVENTS = ROOT / "tests" / "fixtures" / "aws-events"
EVENT = json.loads((EVENTS / "codedeploy-lifecycle-hook.json").read_text())
DEPLOYMENT_ID = EVENT["DeploymentId"]
EXECUTION_ID = EVENT["LifecycleEventHookExecutionId"]
DOCS_APPSPEC_YAML = (EVENTS / "derived" / "hook-appspec-lambda-docs-example.yaml").read_text()
DOCS_APPSPEC_JSON = (EVENTS / "derived" / "hook-appspec-lambda-docs-example.json").read_text()
FUNCTION = "acme-dev-pricing"
TEST_PAYLOAD = {"path": "/health", "httpMethod": "GET"}


def our_appspec(function_name: str = FUNCTION, target: str = "8") -> str:
    """The AppSpec the deployer (lambda/lambda_deployer) sends to CodeDeploy."""
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    function_name: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": function_name,
                            "Alias": "live",
                            "CurrentVersion": "7",
                            "TargetVersion": target,
                        },
                    }
                }
            ],
            "Hooks": [{"BeforeAllowTraffic": f"{function_name}-pre-traffic"}],
        }
    )


def settings(stage: str, function_name: str = FUNCTION, **env: str) -> traffic_hook.HookSettings:
    return traffic_hook.load_settings(
        {"HOOK_STAGE": stage, "FUNCTION_NAME": function_name, "TEST_PAYLOAD": json.dumps(TEST_PAYLOAD), **env}
    )


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class Harness:
    def __init__(self) -> None:
        self.codedeploy = boto3.client("codedeploy", region_name="eu-west-1")
        self.lambda_ = boto3.client("lambda", region_name="eu-west-1")
        self.codedeploy_stub = Stubber(self.codedeploy)
        self.lambda_stub = Stubber(self.lambda_)
        self.clients = traffic_hook.HookClients(codedeploy=self.codedeploy, lambda_=self.lambda_)

    def run(self, hook_settings: traffic_hook.HookSettings | Exception, event: dict[str, Any] | None = None) -> str:
        def loader() -> traffic_hook.HookSettings:
            if isinstance(hook_settings, Exception):
                raise hook_settings
            return hook_settings

        with self.codedeploy_stub, self.lambda_stub:
            status = traffic_hook.process_event(event or EVENT, clients=self.clients, settings_loader=loader)
            self.codedeploy_stub.assert_no_pending_responses()
            self.lambda_stub.assert_no_pending_responses()
        return status

    def expect_deployment(self, revision: dict[str, Any]) -> None:
        self.codedeploy_stub.add_response(
            "get_deployment",
            {"deploymentInfo": {"deploymentId": DEPLOYMENT_ID, "status": "InProgress", "revision": revision}},
            {"deploymentId": DEPLOYMENT_ID},
        )

    def expect_invoke(
        self, qualified_name: str, payload: bytes, function_error: str | None = None, executed: str = "8"
    ) -> None:
        response: dict[str, Any] = {"StatusCode": 200, "Payload": streaming(payload), "ExecutedVersion": executed}
        if function_error:
            response["FunctionError"] = function_error
        self.lambda_stub.add_response(
            "invoke",
            response,
            {
                "FunctionName": qualified_name,
                "InvocationType": "RequestResponse",
                "Payload": json.dumps(TEST_PAYLOAD).encode(),
            },
        )

    def expect_report(self, status: str) -> None:
        self.codedeploy_stub.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": EXECUTION_ID},
            {"deploymentId": DEPLOYMENT_ID, "lifecycleEventHookExecutionId": EXECUTION_ID, "status": status},
        )


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in ("HOOK_STAGE", "FUNCTION_NAME", "ALIAS", "TEST_PAYLOAD", "EXPECT_STATUS_BELOW"):
        monkeypatch.delenv(name, raising=False)
    traffic_hook.get_settings.cache_clear()
    yield
    traffic_hook.get_settings.cache_clear()


@pytest.fixture
def harness() -> Harness:
    return Harness()


APPSPEC_CONTENT = {"revisionType": "AppSpecContent", "appSpecContent": {"content": our_appspec(), "sha256": "0" * 64}}


# ----------------------------------------------------------------------------- pre traffic


def test_pre_invokes_the_target_version_from_the_appspec(harness: Harness) -> None:
    harness.expect_deployment(APPSPEC_CONTENT)
    harness.expect_invoke(f"{FUNCTION}:8", b'{"statusCode": 200, "body": "ok"}')
    harness.expect_report("Succeeded")

    assert harness.run(settings("pre")) == "Succeeded"


def test_pre_fails_on_function_error(harness: Harness) -> None:
    harness.expect_deployment(APPSPEC_CONTENT)
    harness.expect_invoke(
        f"{FUNCTION}:8",
        b'{"errorMessage": "No module named \'app\'", "errorType": "Runtime.ImportModuleError"}',
        function_error="Unhandled",
    )
    harness.expect_report("Failed")

    assert harness.run(settings("pre")) == "Failed"


def test_pre_fails_on_status_code_500(harness: Harness) -> None:
    harness.expect_deployment(APPSPEC_CONTENT)
    harness.expect_invoke(f"{FUNCTION}:8", b'{"statusCode": 500, "body": "boom"}')
    harness.expect_report("Failed")

    assert harness.run(settings("pre")) == "Failed"


def test_pre_reads_target_version_from_yaml_appspec_string(harness: Harness) -> None:
    # The documentation's YAML AppSpec, as a String revision (the form CloudFormation-driven deployments use).
    harness.expect_deployment({"revisionType": "String", "string": {"content": DOCS_APPSPEC_YAML, "sha256": "0" * 64}})
    harness.expect_invoke("myLambdaFunction:2", b'{"statusCode": 204}', executed="2")
    harness.expect_report("Succeeded")

    assert harness.run(settings("pre", function_name="myLambdaFunction")) == "Succeeded"


def test_pre_without_appspec_content_reports_failed(harness: Harness) -> None:
    harness.expect_deployment({"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k", "bundleType": "YAML"}})
    harness.expect_report("Failed")

    assert harness.run(settings("pre")) == "Failed"


# ----------------------------------------------------------------------------- post traffic


def test_post_invokes_the_alias(harness: Harness) -> None:
    # no get_deployment is stubbed: the post hook does not need the AppSpec
    harness.expect_invoke(f"{FUNCTION}:live", b'{"statusCode": 200}')
    harness.expect_report("Succeeded")

    assert harness.run(settings("post")) == "Succeeded"


def test_post_uses_configured_alias_and_threshold(harness: Harness) -> None:
    harness.expect_invoke(f"{FUNCTION}:prod", b'{"statusCode": 404}')
    harness.expect_report("Succeeded")

    assert harness.run(settings("post", ALIAS="prod", EXPECT_STATUS_BELOW="500")) == "Succeeded"


# ----------------------------------------------------------------------------- errors


def test_exception_while_testing_reports_failed(harness: Harness) -> None:
    harness.codedeploy_stub.add_client_error(
        "get_deployment", service_error_code="AccessDeniedException", service_message="not authorized"
    )
    harness.expect_report("Failed")

    assert harness.run(settings("pre")) == "Failed"


def test_invoke_error_reports_failed(harness: Harness) -> None:
    harness.lambda_stub.add_client_error(
        "invoke", service_error_code="ResourceNotFoundException", service_message="Function not found"
    )
    harness.expect_report("Failed")

    assert harness.run(settings("post")) == "Failed"


def test_invalid_environment_reports_failed(harness: Harness) -> None:
    harness.expect_report("Failed")

    assert harness.run(traffic_hook.ConfigurationError("HOOK_STAGE")) == "Failed"


def test_failure_to_report_is_raised(harness: Harness) -> None:
    harness.expect_invoke(f"{FUNCTION}:live", b"null")
    harness.codedeploy_stub.add_client_error(
        "put_lifecycle_event_hook_execution_status",
        service_error_code="LifecycleEventAlreadyCompletedException",
        service_message="already completed",
    )
    with pytest.raises(ClientError, match="LifecycleEventAlreadyCompletedException"):
        harness.run(settings("post"))


def test_event_without_ids_raises(harness: Harness) -> None:
    with pytest.raises(ValueError, match="LifecycleEventHookExecutionId"):
        harness.run(settings("post"), event={"DeploymentId": DEPLOYMENT_ID})


class FakeContext:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    aws_request_id = "req-123"
    function_name = "acme-dev-pricing-post-traffic"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:222222222222:function:acme-dev-pricing-post-traffic"


def test_handler_reads_environment(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_STAGE", "post")
    monkeypatch.setenv("FUNCTION_NAME", FUNCTION)
    monkeypatch.setenv("TEST_PAYLOAD", json.dumps(TEST_PAYLOAD))
    monkeypatch.setattr(traffic_hook, "get_clients", lambda: harness.clients)
    harness.expect_invoke(f"{FUNCTION}:live", b'{"statusCode": 200}')
    harness.expect_report("Succeeded")

    with harness.codedeploy_stub, harness.lambda_stub:
        assert traffic_hook.handler(EVENT, FakeContext()) == {"status": "Succeeded"}
        harness.codedeploy_stub.assert_no_pending_responses()
        harness.lambda_stub.assert_no_pending_responses()


# ----------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("content", "function_name", "expected"),
    [
        (DOCS_APPSPEC_YAML, "myLambdaFunction", "2"),
        (DOCS_APPSPEC_JSON, "myLambdaFunction", "2"),
        (our_appspec(), FUNCTION, "8"),
        ("version: 0.0\nResources:\n  - f:\n      Properties:\n        TargetVersion: 12\n", "f", "12"),
        ("{'TargetVersion': '3'}", "f", "3"),  # not JSON: the regex reads it
    ],
)
def test_target_version_from_appspec(content: str, function_name: str, expected: str) -> None:
    assert traffic_hook.target_version_from_appspec(content, function_name) == expected


def test_target_version_picks_the_named_function_among_several() -> None:
    appspec = json.loads(our_appspec())
    appspec["Resources"].append(json.loads(our_appspec("acme-dev-other", "31"))["Resources"][0])
    assert traffic_hook.target_version_from_appspec(json.dumps(appspec), "acme-dev-other") == "31"
    assert traffic_hook.target_version_from_appspec(json.dumps(appspec), FUNCTION) == "8"
    with pytest.raises(traffic_hook.HookTestError):
        traffic_hook.target_version_from_appspec(json.dumps(appspec), "acme-dev-unknown")


def test_target_version_missing_or_ambiguous_in_yaml_is_an_error() -> None:
    with pytest.raises(traffic_hook.HookTestError):
        traffic_hook.target_version_from_appspec("version: 0.0\nResources: []\n", FUNCTION)
    with pytest.raises(traffic_hook.HookTestError):
        traffic_hook.target_version_from_appspec("TargetVersion: 1\n---\nTargetVersion: 2\n", FUNCTION)


@pytest.mark.parametrize(
    ("function_error", "payload", "passed"),
    [
        (None, b'{"statusCode": 399}', True),
        (None, b'{"statusCode": 400}', False),
        (None, b'{"statusCode": "200"}', True),
        (None, b'{"statusCode": "bad"}', False),
        (None, b'{"statusCode": true}', False),
        (None, b'"just a string"', True),
        (None, b"not json at all", True),
        (None, b"", True),
        ("Handled", b'{"statusCode": 200}', False),
    ],
)
def test_evaluate(function_error: str | None, payload: bytes, passed: bool) -> None:
    assert traffic_hook.evaluate(function_error, payload, 400).passed is passed


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HOOK_STAGE": "during", "FUNCTION_NAME": FUNCTION}, "HOOK_STAGE"),
        ({"HOOK_STAGE": "pre"}, "FUNCTION_NAME"),
        ({"HOOK_STAGE": "pre", "FUNCTION_NAME": FUNCTION, "TEST_PAYLOAD": "[1, 2]"}, "TEST_PAYLOAD"),
        ({"HOOK_STAGE": "pre", "FUNCTION_NAME": FUNCTION, "TEST_PAYLOAD": "{"}, "TEST_PAYLOAD"),
        ({"HOOK_STAGE": "pre", "FUNCTION_NAME": FUNCTION, "EXPECT_STATUS_BELOW": "4xx"}, "EXPECT_STATUS_BELOW"),
        ({"HOOK_STAGE": "post", "FUNCTION_NAME": FUNCTION, "ALIAS": "12"}, "ALIAS"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(traffic_hook.ConfigurationError, match=variable):
        traffic_hook.load_settings(env)


def test_settings_defaults() -> None:
    loaded = traffic_hook.load_settings({"HOOK_STAGE": "POST", "FUNCTION_NAME": FUNCTION})
    assert loaded == traffic_hook.HookSettings(
        stage="post", function_name=FUNCTION, alias="live", test_payload=b"{}", expect_status_below=400
    )
