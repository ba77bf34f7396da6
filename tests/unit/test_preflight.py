"""The deploy simulation's parts: IAM evaluation, CloudFormation names and intrinsics, the checks.

Each check is driven by a small hand-written cloud assembly (manifest.json + templates), shaped
exactly as CDK writes them, so every rule is shown to fail on the defect it exists for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.preflight.policy import Decision, Request, UnsupportedConditionError, document_size, evaluate
from tools.preflight.published import iam_reference
from tools.preflight.simulate import ALLOWED, NOT_CALLED, simulate
from tools.preflight.template import Assembly, generated_name

ACCOUNT = "222222222222"
REGION = "eu-west-1"
ASSETS = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# ----- IAM evaluation -----


def test_explicit_deny_wins_over_allow() -> None:
    policy = doc(allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::b/*"})
    assert evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::b/k")).decision is Decision.ALLOW
    assert evaluate([policy], Request("s3:DeleteObject", "arn:aws:s3:::b/k")).decision is Decision.EXPLICIT_DENY
    assert evaluate([policy], Request("sqs:SendMessage", "*")).decision is Decision.IMPLICIT_DENY


def test_actions_match_case_insensitively_and_resources_case_sensitively() -> None:
    policy = doc(allow("LAMBDA:Get?unction", "arn:aws:lambda:*:1:function:acme-*"))
    assert evaluate([policy], Request("lambda:GetFunction", "arn:aws:lambda:eu-west-1:1:function:acme-x")).allowed
    assert not evaluate([policy], Request("lambda:GetFunction", "arn:aws:lambda:eu-west-1:1:function:Acme-x")).allowed
    assert not evaluate([policy], Request("lambda:GetFunctions", "arn:aws:lambda:eu-west-1:1:function:acme-x")).allowed


def test_not_action_and_not_resource() -> None:
    policy = doc({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::open/k")).allowed
    assert not evaluate([policy], Request("s3:GetObject", "arn:aws:s3:::secret/k")).allowed
    assert not evaluate([policy], Request("iam:CreateRole", "*")).allowed


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        (
            {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            {"iam:PassedToService": "lambda.amazonaws.com"},
            True,
        ),
        ({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}, {}, False),
        ({"StringEqualsIfExists": {"iam:PassedToService": "lambda.amazonaws.com"}}, {}, True),
        ({"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}}, {}, True),
        (
            {"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}},
            {"aws:PrincipalAccount": "999999999999"},
            False,
        ),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:1:rule/acme-*"}},
            {"aws:SourceArn": "arn:aws:events:eu-west-1:1:rule/acme-x"},
            True,
        ),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, True),
        ({"Null": {"aws:SourceArn": "true"}}, {}, True),
        ({"Null": {"aws:SourceArn": "false"}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a", "c"]}, False),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, Any], allowed: bool) -> None:
    policy = doc(allow("iam:PassRole", "*", Condition=condition))
    assert evaluate([policy], Request("iam:PassRole", "*", context=context)).allowed is allowed


def test_a_missing_condition_key_is_reported_as_read_absent() -> None:
    policy = doc(allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))
    outcome = evaluate([policy], Request("iam:PassRole", "*"))
    assert not outcome.allowed and outcome.assumed_absent == ("iam:PassedToService",)


def test_an_unknown_condition_operator_is_refused_not_guessed() -> None:
    policy = doc(allow("s3:GetObject", "*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    with pytest.raises(UnsupportedConditionError):
        evaluate([policy], Request("s3:GetObject", "*", context={"aws:SourceIp": "10.1.2.3"}))


def test_resource_policies_match_principals() -> None:
    policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sqs:ReceiveMessage",
            "Resource": "*",
        },
    )
    events = Request("sqs:SendMessage", "q", principal="events.amazonaws.com")
    assert evaluate([policy], events, resource_policy=True).allowed
    assert not evaluate(
        [policy], Request("sqs:SendMessage", "q", principal="sns.amazonaws.com"), resource_policy=True
    ).allowed
    same_account = Request(
        "sqs:ReceiveMessage", "q", principal=f"arn:aws:iam::{ACCOUNT}:role/x", principal_account=ACCOUNT
    )
    assert evaluate([policy], same_account, resource_policy=True).allowed


def test_policy_size_counts_characters_without_whitespace() -> None:
    assert document_size({"a": [1, 2]}) == len('{"a":[1,2]}')


# ----- the published data -----


def test_arn_formats_parse_and_fill() -> None:
    role = iam_reference().resource_type("iam", "role")
    assert role is not None
    assert role.pattern.match("arn:aws:iam::123456789012:role/path/acme-x")
    function = iam_reference().resource_type("lambda", "function")
    assert function is not None
    assert function.pattern.match("arn:aws:lambda:eu-west-1:1:function:acme-x")
    assert not function.pattern.match("arn:aws:lambda:eu-west-1:1:function:acme-x:live")  # that is an alias
    assert function.fill({"Partition": "aws", "Region": "r", "Account": "1", "FunctionName": "f"}) == (
        "arn:aws:lambda:r:1:function:f"
    )


def test_wildcard_permissions_expand_to_the_actions_they_name() -> None:
    names = {a.key for a in iam_reference().expand("dynamodb:Describe*")}
    assert "dynamodb:DescribeTable" in names and all(n.startswith("dynamodb:Describe") for n in names)


# ----- names CloudFormation generates -----


def test_generated_names_split_the_room_fairly_and_keep_the_stack_prefix() -> None:
    name = generated_name("acme-service-storefront-dev", "NetworkVpcRejectedFlowsIAMRole9A2D9B80", 64)
    assert len(name) == 64
    logical_part = name.rsplit("-", 2)[1]
    assert name.startswith("acme-service-storefront-d-NetworkVpcRejectedFlowsIA-")
    assert len(logical_part) == 25
    short = generated_name("acme-tooling", "EventTriggers2B987FFB", 64)
    assert short.startswith("acme-tooling-EventTriggers2B987FFB-")


# ----- a hand-written assembly -----


def write_assembly(
    tmp_path: Path,
    stacks: dict[str, dict[str, Any]],
    dependencies: dict[str, list[str]] | None = None,
    account: str = ACCOUNT,
) -> Assembly:
    artifacts: dict[str, Any] = {}
    for name, template in stacks.items():
        (tmp_path / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{account}/{REGION}",
            "dependencies": (dependencies or {}).get(name, []),
            "properties": {
                "templateFile": f"{name}.template.json",
                "stackName": name,
                "cloudFormationExecutionRoleArn": (
                    f"arn:${{AWS::Partition}}:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{REGION}"
                ),
            },
        }
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return Assembly(tmp_path)


def asset_code(key: str = "0" * 64 + ".zip") -> dict[str, Any]:
    return {"S3Bucket": {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}, "S3Key": key}


LAMBDA_ONLY = doc(
    allow("lambda:*", [f"arn:aws:lambda:*:{ACCOUNT}:function:acme-*", f"arn:aws:lambda:*:{ACCOUNT}:layer:acme-*"]),
    allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/acme-*"),
    allow("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/acme-*"),
)
WITH_ASSETS = doc(*LAMBDA_ONLY["Statement"], allow(["s3:GetObject", "s3:GetObjectVersion"], f"arn:aws:s3:::{ASSETS}/*"))


def function_stack(**function_properties: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "acme-dev-f",
                    "Code": asset_code(),
                    "Handler": "app.handler",
                    "Runtime": "python3.14",
                    "Role": f"arn:aws:iam::{ACCOUNT}:role/acme-dev-f",
                    **function_properties,
                },
            }
        }
    }


def failures_about(report: Any, text: str) -> list[str]:
    return [f for f in report.failures if text in f]


def test_code_in_the_bootstrap_bucket_needs_the_execution_policy_to_read_it(tmp_path: Path) -> None:
    assembly = write_assembly(tmp_path, {"acme-service-f-dev": function_stack()})
    report = simulate(assembly, {ACCOUNT: [LAMBDA_ONLY]})
    missing = failures_about(report, f"s3:GetObject on arn:aws:s3:::{ASSETS}/{'0' * 64}.zip")
    assert missing, report.render()
    assert simulate(assembly, {ACCOUNT: [WITH_ASSETS]}).failures == []


def test_an_unnamed_layer_is_named_after_its_logical_id_outside_the_prefix(tmp_path: Path) -> None:
    layer = {
        "Type": "AWS::Lambda::LayerVersion",
        "Properties": {"Content": asset_code(), "CompatibleRuntimes": ["python3.14"]},
    }
    stack = function_stack(Layers=[{"Ref": "LoggingLayer1234"}])
    stack["Resources"]["LoggingLayer1234"] = layer
    (tmp_path / "unnamed").mkdir()
    report = simulate(write_assembly(tmp_path / "unnamed", {"acme-service-f-dev": stack}), {ACCOUNT: [WITH_ASSETS]})
    assert failures_about(
        report, f"lambda:PublishLayerVersion on arn:aws:lambda:{REGION}:{ACCOUNT}:layer:LoggingLayer1234:"
    )
    assert failures_about(report, "lambda:GetLayerVersion on arn:aws:lambda")  # the function reads the layer too

    layer["Properties"]["LayerName"] = "acme-service-f-dev-logging"
    (tmp_path / "named").mkdir()
    assert (
        simulate(write_assembly(tmp_path / "named", {"acme-service-f-dev": stack}), {ACCOUNT: [WITH_ASSETS]}).failures
        == []
    )


def test_an_unnamed_secret_gets_a_logical_id_name_outside_the_prefix(tmp_path: Path) -> None:
    stack = {
        "Resources": {"ConnectionKey99": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "x"}}}
    }
    policy = doc(allow("secretsmanager:*", f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:acme/*"))
    report = simulate(write_assembly(tmp_path, {"acme-notifications": stack}), {ACCOUNT: [policy]})
    assert failures_about(
        report, f"secretsmanager:CreateSecret on arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ConnectionKey99-"
    )


def test_passing_a_role_is_checked_against_the_role_given(tmp_path: Path) -> None:
    stack = function_stack(Role=f"arn:aws:iam::{ACCOUNT}:role/other-team-role")
    report = simulate(write_assembly(tmp_path, {"acme-service-f-dev": stack}), {ACCOUNT: [WITH_ASSETS]})
    assert failures_about(report, f"iam:PassRole on arn:aws:iam::{ACCOUNT}:role/other-team-role")


def test_custom_resources_invoke_their_provider_as_the_execution_role(tmp_path: Path) -> None:
    stack = {
        "Resources": {
            "Thing": {
                "Type": "Custom::Thing",
                "Properties": {"ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:someone-elses"},
            }
        }
    }
    report = simulate(write_assembly(tmp_path, {"acme-x": stack}), {ACCOUNT: [LAMBDA_ONLY]})
    assert failures_about(
        report, "lambda:InvokeFunction on arn:aws:lambda:eu-west-1:222222222222:function:someone-elses"
    )


def secret_and_destination(endpoint: Any, secret_properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {
            "Webhook": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Name": "acme/teams/x", **secret_properties},
            },
            "Destination": {
                "Type": "AWS::Events::ApiDestination",
                "Properties": {
                    "ConnectionArn": "arn:aws:events:eu-west-1:222222222222:connection/c/1",
                    "HttpMethod": "POST",
                    "InvocationEndpoint": endpoint,
                },
            },
        }
    }


SECRETS_AND_EVENTS = doc(
    allow("secretsmanager:*", f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:acme/*"),
    allow(["secretsmanager:GetRandomPassword", "events:*"], "*"),
)


def test_a_dynamic_reference_to_a_secret_the_same_stack_creates_and_fills_at_random_fails(tmp_path: Path) -> None:
    stack = secret_and_destination("{{resolve:secretsmanager:acme/teams/x}}", {"GenerateSecretString": {}})
    report = simulate(write_assembly(tmp_path, {"acme-notifications": stack}), {ACCOUNT: [SECRETS_AND_EVENTS]})
    problems = [p for p in report.problems if p.kind == "dynamic reference"]
    assert any("without a dependency" in p.message for p in problems), report.render()
    assert any("writes a random string" in p.message for p in problems), report.render()


def test_a_dynamic_reference_to_a_secret_of_a_stack_deployed_earlier_passes(tmp_path: Path) -> None:
    secret = {
        "Resources": {
            "Webhook": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Name": "acme/teams/x", "SecretString": "{}"},
            }
        }
    }
    destination = secret_and_destination("{{resolve:secretsmanager:acme/teams/x}}", {})
    del destination["Resources"]["Webhook"]
    stacks = {"acme-secrets": secret, "acme-notifications": destination}
    (tmp_path / "ordered").mkdir()
    ordered = write_assembly(tmp_path / "ordered", stacks, {"acme-notifications": ["acme-secrets"]})
    report = simulate(ordered, {ACCOUNT: [SECRETS_AND_EVENTS]})
    assert [p for p in report.problems if p.kind == "dynamic reference"] == []
    (tmp_path / "unordered").mkdir()
    report = simulate(write_assembly(tmp_path / "unordered", stacks), {ACCOUNT: [SECRETS_AND_EVENTS]})
    assert any("not deployed before it" in p.message for p in report.problems)


def rule_with_dead_letters(queue_policy_source: str) -> dict[str, Any]:
    return {
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "DlqPolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Dlq"}],
                    "PolicyDocument": doc(
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": ["Dlq", "Arn"]},
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [queue_policy_source, "Arn"]}}},
                        }
                    ),
                },
            },
            "OnPush": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["aws.codecommit"]},
                    "Targets": [
                        {
                            "Id": "Target0",
                            "Arn": "arn:aws:codepipeline:eu-west-1:222222222222:acme-x",
                            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                        }
                    ],
                },
            },
            "OnPullRequest": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["aws.codecommit"]},
                    "Targets": [
                        {
                            "Id": "Target0",
                            "Arn": "arn:aws:codebuild:eu-west-1:222222222222:project/acme-x-pr",
                            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                        }
                    ],
                },
            },
        }
    }


def test_a_dead_letter_queue_must_admit_every_rule_that_uses_it(tmp_path: Path) -> None:
    everything = doc(allow("*", "*"))
    report = simulate(
        write_assembly(tmp_path, {"acme-pipeline-x": rule_with_dead_letters("OnPullRequest")}), {ACCOUNT: [everything]}
    )
    problems = [p for p in report.problems if p.kind == "dead-letter queue"]
    assert [p.logical_id for p in problems] == ["OnPush"], report.render()


def test_a_retained_resource_with_a_fixed_name_blocks_the_retry_of_a_failed_first_deploy(tmp_path: Path) -> None:
    log_group = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": "/acme/dev/x"},
        "DeletionPolicy": "Retain",
    }
    report = simulate(
        write_assembly(tmp_path, {"acme-x": {"Resources": {"Logs": log_group}}}), {ACCOUNT: [doc(allow("*", "*"))]}
    )
    assert [p.kind for p in report.problems] == ["retained name"]
    log_group["DeletionPolicy"] = "RetainExceptOnCreate"
    (tmp_path / "fixed").mkdir()
    report = simulate(
        write_assembly(tmp_path / "fixed", {"acme-x": {"Resources": {"Logs": log_group}}}),
        {ACCOUNT: [doc(allow("*", "*"))]},
    )
    assert report.problems == []


def test_what_the_simulation_cannot_judge_is_listed_not_passed(tmp_path: Path) -> None:
    report = simulate(write_assembly(tmp_path, {"acme-service-f-dev": function_stack()}), {ACCOUNT: [WITH_ASSETS]})
    verdicts = {c.verdict for c in report.checks}
    assert {ALLOWED, NOT_CALLED} <= verdicts
    not_called = {c.action for c in report.listed(NOT_CALLED)}
    assert "kms:CreateGrant" in not_called  # the function names no key
    assert "Judged not called" in report.render()
    assert report.failures == []  # listed, not failed: the function sets no KmsKeyArn


def test_the_policy_size_limit_is_checked(tmp_path: Path) -> None:
    huge = doc(*[allow(f"s3:GetObject{i}", f"arn:aws:s3:::bucket-{i:06d}/*") for i in range(200)])
    report = simulate(write_assembly(tmp_path, {"acme-x": {"Resources": {}}}), {ACCOUNT: [huge]})
    assert [p.kind for p in report.problems] == ["policy size"]
