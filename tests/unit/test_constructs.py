"""The platform's constructs on their own, each in a bare Stack with inline code: settings and error branches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

import cdk_constructs.lambda_defaults as lambda_defaults
from cdk_constructs.build_project import CodeArtifactAccess
from cdk_constructs.custom_resource_provider import PlatformProvider
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.pull_request_validator import PullRequestValidator
from cdk_constructs.service_pipeline import ServicePipeline
from cdk_constructs.teams_notifier import NotifierChannel, TeamsNotifier
from config.model import PlatformConfig
from config.names import Names
from tests.platform_synth import cdk_json_context, resources_of_type

ACCOUNT, REGION = "111111111111", "eu-west-1"
INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
PIPELINES = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:acme-*"


def bare_stack(name: str = "acme-test") -> cdk.Stack:
    app = cdk.App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    return cdk.Stack(app, name, env=cdk.Environment(account=ACCOUNT, region=REGION))


def notifier_in(stack: cdk.Stack, **overrides: Any) -> TeamsNotifier:
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    secret = secretsmanager.Secret(stack, "Webhook", encryption_key=key)
    alerts = NotifierChannel("alerts", secret, "acme-notify-alerts.fifo", "acme-notify-alerts-dlq.fifo", 4.0)
    props: dict[str, Any] = {
        "platform_name": "acme",
        "routes": {"pipeline_failed": ["alerts"], "build_succeeded": []},
        "channels": [alerts],
        "environments": {ACCOUNT: "tooling"},
        "key": key,
        "log_retention": logs.RetentionDays.ONE_MONTH,
        "pipelines_arn": PIPELINES,
        "code": INLINE,
        **overrides,
    }
    return TeamsNotifier(stack, "Notifier", **props)


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources_of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_teams_notifier_keeps_its_table_and_grants_what_idempotency_needs() -> None:
    stack = bare_stack()
    notifier_in(stack)
    template = Template.from_stack(stack)
    template.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                }
            ),
            # Retained, except that a failed first create leaves nothing behind to block the retry.
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
        },
    )
    raw = template.to_json()
    (function,) = [
        f
        for f in resources_of_type(raw, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "notifier.handler"
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    # Kinds routed to no Lambda channel are left out; every channel with a secret is a fallback.
    assert variables["ROUTES"] == '{"pipeline_failed":["alerts"]}'
    assert variables["FALLBACK_CHANNELS"] == '["alerts"]'
    assert variables["POWERTOOLS_SERVICE_NAME"] == "teams_notifier"
    assert function["Properties"]["Architectures"] == ["arm64"]
    granted = {action for statement in statements(raw) for action in actions_of(statement)}
    # Powertools' idempotency reads the record before it writes, updates and deletes it.
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= granted
    assert {"secretsmanager:GetSecretValue", "codepipeline:GetPipelineExecution"} <= granted
    # The channel's queue: consumed by the function, refused cards parked in its dead-letter queue.
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage"} <= granted
    # Errors, and per channel: dead letters and backlog.
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"channels": [], "routes": {}}, "no channel to post to"),
        ({"routes": {"pipeline_failed": ["alerts", "nobody"]}}, "routes name ['nobody'], which are not channels"),
    ],
)
def test_teams_notifier_refuses_routes_it_cannot_deliver(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        notifier_in(bare_stack(), **overrides)


def validator_in(stack: cdk.Stack, **overrides: Any) -> PullRequestValidator:
    props: dict[str, Any] = {
        "platform_name": "acme",
        "name_prefix": "acme",
        "role_name": "acme-pr-validator",
        "log_retention": logs.RetentionDays.ONE_MONTH,
        "code": INLINE,
        **overrides,
    }
    return PullRequestValidator(stack, "Validator", **props)


def test_pull_request_validator_is_the_named_approver_of_platform_builds() -> None:
    stack = bare_stack()
    validator_in(stack)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Role", {"RoleName": "acme-pr-validator"})
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": "acme-pull-request-builds",
            "EventPattern": Match.object_like(
                {"detail": Match.object_like({"project-name": [{"wildcard": "acme-*-pr"}]})}
            ),
            "Targets": [
                Match.object_like({"RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600}})
            ],
        },
    )
    raw = template.to_json()
    codecommit = next(s for s in statements(raw) if s.get("Sid") == "ValidatePlatformPullRequests")
    assert codecommit["Resource"] == f"arn:aws:codecommit:{REGION}:{ACCOUNT}:acme-*"
    # Lambda retries twice, then the failure goes to the dead-letter queue.
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}}},
    )


@pytest.mark.parametrize("suffix", ["pr", "-", ""])
def test_pull_request_validator_refuses_a_suffix_it_cannot_match(suffix: str) -> None:
    with pytest.raises(ValueError, match="project_suffix"):
        validator_in(bare_stack(), project_suffix=suffix)


def test_platform_provider_puts_the_framework_in_front_of_a_named_handler() -> None:
    stack = bare_stack()
    provider = PlatformProvider(
        stack,
        "Things",
        function_name="acme-things",
        description="Keeps things",
        code_folder="approval_associations",
        handler="approval_associations.handler",
        timeout=cdk.Duration.minutes(1),
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    cdk.CustomResource(stack, "Thing", service_token=provider.service_token)
    raw = Template.from_stack(stack).to_json()
    functions = {
        f["Properties"].get("FunctionName"): f for f in resources_of_type(raw, "AWS::Lambda::Function").values()
    }
    assert {"acme-things", "acme-things-provider"} <= set(functions)
    assert functions["acme-things"]["Properties"]["Layers"], "the handler runs with the Powertools layer"


def inline_function(stack: cdk.Stack, name: str) -> PlatformFunction:
    return PlatformFunction(
        stack,
        name,
        description=name,
        code_folder="unused",
        code=INLINE,
        handler="index.handler",
        timeout=cdk.Duration.seconds(5),
        log_retention=logs.RetentionDays.ONE_MONTH,
    )


def test_one_powertools_layer_per_stack_named_inside_the_platform_prefix() -> None:
    stack = bare_stack("acme-layers")
    for name in ("One", "Two"):
        inline_function(stack, name)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {
            "LayerName": "acme-layers-powertools",
            "CompatibleArchitectures": ["arm64"],
            "CompatibleRuntimes": ["python3.14"],
        },
    )


def test_a_missing_powertools_layer_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_defaults, "POWERTOOLS_LAYER_ZIP", tmp_path / "build" / "powertools-layer.zip")
    monkeypatch.setattr(lambda_defaults, "REPO_ROOT", tmp_path)
    with pytest.raises(SystemExit, match=r"build/powertools-layer.zip is missing: run `make install`"):
        inline_function(bare_stack(), "Fn")


def test_service_pipeline_refuses_a_service_with_nowhere_to_deploy(default_config: PlatformConfig) -> None:
    service = default_config.services[0]
    with pytest.raises(ValueError, match=f"service {service.name!r} has no environment to deploy to"):
        ServicePipeline(
            bare_stack(),
            "Pipeline",
            names=Names(default_config),
            service=service,
            targets=[],
            codeartifact=CodeArtifactAccess(domain="acme", domain_owner=ACCOUNT, repository="acme", region=REGION),
            log_retention=logs.RetentionDays.ONE_MONTH,
        )
