"""Cross-account access: target-account roles, their trust, and the tooling-side policies naming them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import parse_config
from config.loader import DEFAULT_CONFIG
from config.policies import execution_policy
from tests.platform_synth import SynthesizedPlatform, resources_of_type, synth_platform

TOOLING = "111111111111"
TARGETS = {"dev": "222222222222", "prod": "333333333333"}


def semantic(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A policy document keyed by Sid, with Action/Resource as sorted lists (CDK collapses and reorders)."""

    def as_list(value: Any) -> list[Any]:
        return sorted(value) if isinstance(value, list) else [value]

    return {
        s["Sid"]: {k: as_list(v) if k in ("Action", "Resource") else v for k, v in s.items()}
        for s in document["Statement"]
    }


def role(raw: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [r for r in resources_of_type(raw, "AWS::IAM::Role").values() if r["Properties"].get("RoleName") == name]
    assert len(matches) == 1, name
    return matches[0]["Properties"]


def statements_of(raw: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Statements of the inline policies attached to one role."""
    found = []
    for policy in resources_of_type(raw, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"].get("Roles", []):
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def role_id(raw: dict[str, Any], name: str) -> str:
    return next(
        k for k, r in resources_of_type(raw, "AWS::IAM::Role").items() if r["Properties"].get("RoleName") == name
    )


@pytest.fixture(scope="module", params=sorted(TARGETS))
def env_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def raw(default_platform: SynthesizedPlatform, env_name: str) -> dict[str, Any]:
    return default_platform.template_json(f"acme-cross-account-{env_name}")


def test_one_cross_account_stack_per_environment_in_its_account(default_platform: SynthesizedPlatform) -> None:
    for name, account in TARGETS.items():
        artifact = default_platform.assembly.get_stack_by_name(f"acme-cross-account-{name}")
        assert artifact.environment.account == account
        assert artifact.environment.region == "eu-west-1"


def test_no_cdk_support_stacks(default_platform: SynthesizedPlatform) -> None:
    assert not [s for s in default_platform.stack_names if "-support-" in s]
    assert not list(default_platform.outdir.glob("*-support-*"))


def test_deployer_trusts_only_the_named_pipeline_roles_of_the_tooling_account(
    raw: dict[str, Any], env_name: str
) -> None:
    props = role(raw, f"acme-{env_name}-deployer")
    (statement,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{TOOLING}:root"}
    # Exact names, no pattern: the shared pipeline role and (both environments run the Lambda
    # service) the shared Lambda deploy worker; never a build or pull-request role.
    assert statement["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": [
                f"arn:aws:iam::{TOOLING}:role/acme-pipelines",
                f"arn:aws:iam::{TOOLING}:role/acme-lambda-deployer",
            ]
        }
    }
    assert props["MaxSessionDuration"] == 3600


def test_deployer_trusts_the_lambda_worker_only_where_lambda_services_run() -> None:
    from config.names import Names

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["services"] = [s for s in data["services"] if s["platform"] != "lambda"]
    names = Names(parse_config(data))
    for env in names.config.environments:
        assert names.deployer_principals(env) == [f"arn:aws:iam::{TOOLING}:role/acme-pipelines"]


def test_the_trusted_roles_are_the_shared_roles_of_the_tooling_stack(default_platform: SynthesizedPlatform) -> None:
    """The names the tooling stack gives its roles are the names the trust expects; pipeline stacks
    create no role a deployer trusts."""
    tooling = default_platform.template_json("acme-tooling")
    names = {r["Properties"].get("RoleName") for r in resources_of_type(tooling, "AWS::IAM::Role").values()}
    assert {"acme-pipelines", "acme-lambda-deployer"} <= names
    for stack in ("acme-pipeline-storefront", "acme-pipeline-orders", "acme-pipeline-pricing"):
        created = [
            r["Properties"].get("RoleName")
            for r in resources_of_type(default_platform.template_json(stack), "AWS::IAM::Role").values()
        ]
        assert created == [f"acme-{stack.removeprefix('acme-pipeline-')}-build"]


def test_the_shared_pipeline_role_reaches_only_platform_resources(default_platform: SynthesizedPlatform) -> None:
    tooling = default_platform.template_json("acme-tooling")
    statements = {s["Sid"]: s for s in statements_of(tooling, role_id(tooling, "acme-pipelines"))}
    assert statements["AssumeDeployerRoles"]["Resource"] == [
        f"arn:aws:iam::{account}:role/acme-{env}-deployer" for env, account in sorted(TARGETS.items())
    ]
    assert statements["RunPipelineBuilds"]["Resource"] == [
        f"arn:aws:codebuild:eu-west-1:{TOOLING}:project/acme-*-build",
        f"arn:aws:codebuild:eu-west-1:{TOOLING}:project/acme-*-test",
    ]
    assert statements["ReadPlatformRepositories"]["Resource"] == f"arn:aws:codecommit:eu-west-1:{TOOLING}:acme-*"
    assert statements["NotifyApprovers"]["Resource"] == f"arn:aws:sns:eu-west-1:{TOOLING}:acme-pipeline-*"
    worker = f"arn:aws:lambda:eu-west-1:{TOOLING}:function:acme-lambda-deployer"
    assert statements["InvokeLambdaDeployer"]["Resource"] == [worker, f"{worker}:*"]
    # No S3 or KMS in the role itself: each pipeline's bucket and key policies name it.
    actions = {
        a for s in statements.values() for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert not [a for a in actions if a.split(":")[0] in ("s3", "kms", "iam", "ecr")]


def test_deploy_actions_run_as_the_deployer_of_their_environment(default_platform: SynthesizedPlatform) -> None:
    for stack in ("acme-pipeline-storefront", "acme-pipeline-orders"):
        raw = default_platform.template_json(stack)
        (pipeline,) = resources_of_type(raw, "AWS::CodePipeline::Pipeline").values()
        for stage in pipeline["Properties"]["Stages"]:
            if stage["Name"].startswith("Deploy-"):
                env = stage["Name"].removeprefix("Deploy-")
                (action,) = stage["Actions"]
                assert action["RoleArn"] == f"arn:aws:iam::{TARGETS[env]}:role/acme-{env}-deployer"


def test_cfn_execution_role_is_scoped_and_passable_only_by_the_deployer(
    raw: dict[str, Any], env_name: str, default_platform: SynthesizedPlatform
) -> None:
    props = role(raw, f"acme-{env_name}-cfn-exec")
    assert props["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in props  # in particular, not AdministratorAccess
    env = default_platform.config.environment(env_name)
    (policy,) = props["Policies"]
    assert semantic(policy["PolicyDocument"]) == semantic(execution_policy(default_platform.config, env.account))
    for statement in semantic(policy["PolicyDocument"]).values():
        assert "*" not in statement["Action"]
        if any(a.startswith("iam:") for a in statement["Action"]):
            assert all(r.startswith(f"arn:aws:iam::{env.account}:") for r in statement["Resource"])
            assert f"arn:aws:iam::{env.account}:role/acme-*" in statement["Resource"]
    pass_statements = [
        s
        for s in statements_of(raw, role_id(raw, f"acme-{env_name}-deployer"))
        if s.get("Sid") == "PassCloudFormationRole"
    ]
    assert pass_statements == [
        {
            "Sid": "PassCloudFormationRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": [role_id(raw, f"acme-{env_name}-cfn-exec"), "Arn"]},
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        }
    ]


def test_deployer_permissions_stay_inside_its_environment(raw: dict[str, Any], env_name: str) -> None:
    account = TARGETS[env_name]
    by_sid = {s["Sid"]: s for s in statements_of(raw, role_id(raw, f"acme-{env_name}-deployer"))}
    assert set(by_sid) == {
        "RunDeployments",
        "ReadDeploymentConfigs",
        "RegisterTaskDefinitions",
        "PassTaskRoles",
        "PassCloudFormationRole",
        "PublishFunctionVersions",
        "ReadRollbackAlarms",
        "ReadPipelineArtifacts",
        "DecryptPipelineArtifacts",
    }
    assert by_sid["ReadRollbackAlarms"]["Resource"] == f"arn:aws:cloudwatch:eu-west-1:{account}:alarm:acme-{env_name}-*"
    assert by_sid["RunDeployments"]["Resource"] == [
        f"arn:aws:codedeploy:eu-west-1:{account}:application:acme-{env_name}-*",
        f"arn:aws:codedeploy:eu-west-1:{account}:deploymentgroup:acme-{env_name}-*/*",
    ]
    assert by_sid["PassTaskRoles"]["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert by_sid["DecryptPipelineArtifacts"]["Resource"] == f"arn:aws:kms:eu-west-1:{TOOLING}:key/*"
    assert by_sid["DecryptPipelineArtifacts"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
    assert by_sid["ReadPipelineArtifacts"]["Resource"] == [
        f"arn:aws:s3:::acme-*-artifacts-{TOOLING}",
        f"arn:aws:s3:::acme-*-artifacts-{TOOLING}/*",
    ]


def test_instance_and_task_execution_roles(raw: dict[str, Any], env_name: str) -> None:
    instance = role(raw, f"acme-{env_name}-ec2-instance")
    assert instance["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    (profile,) = resources_of_type(raw, "AWS::IAM::InstanceProfile").values()
    assert profile["Properties"]["InstanceProfileName"] == f"acme-{env_name}-ec2-instance"
    task = role(raw, f"acme-{env_name}-ecs-task-execution")
    assert task["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    pulls = [
        s
        for s in statements_of(raw, role_id(raw, f"acme-{env_name}-ecs-task-execution"))
        if s["Sid"] == "PullPlatformImages"
    ]
    assert pulls[0]["Resource"] == f"arn:aws:ecr:eu-west-1:{TOOLING}:repository/acme/*"


def test_deployment_events_are_forwarded_to_the_tooling_bus(raw: dict[str, Any], env_name: str) -> None:
    (rule,) = resources_of_type(raw, "AWS::Events::Rule").values()
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.codedeploy"],
        "detail-type": ["CodeDeploy Deployment State-change Notification"],
        "detail": {"application": [{"prefix": f"acme-{env_name}-"}]},
    }
    (target,) = props["Targets"]
    assert target["Arn"] == f"arn:aws:events:eu-west-1:{TOOLING}:event-bus/default"
    assert "Arn" in target["DeadLetterConfig"]
    assert "RoleArn" in target


def test_tooling_bus_accepts_deployment_events_only_from_target_accounts(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-notifications")
    (policy,) = [p["Properties"] for p in resources_of_type(raw, "AWS::Events::EventBusPolicy").values()]
    # one statement naming every target account: ~33 characters per account (bus policy limit 10,240)
    assert policy["Statement"]["Principal"]["AWS"] == [f"arn:aws:iam::{a}:root" for a in sorted(TARGETS.values())]
    assert policy["EventBusName"] == "default"
    assert policy["Statement"]["Action"] == "events:PutEvents"
    assert policy["Statement"]["Condition"] == {
        "StringEquals": {
            "events:source": "aws.codedeploy",
            "events:detail-type": "CodeDeploy Deployment State-change Notification",
        }
    }


# ----- no wildcard principal anywhere -----


def principal_statements(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "Principal" in node and "Effect" in node:
            yield path, node
        for key, value in node.items():
            yield from principal_statements(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from principal_statements(value, f"{path}[{index}]")


def is_wildcard(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


def test_no_unconditioned_wildcard_principal_in_any_template(default_platform: SynthesizedPlatform) -> None:
    offenders = []
    scanned = 0
    for stack in default_platform.stack_names:
        for path, statement in principal_statements(default_platform.template_json(stack)):
            scanned += 1
            if is_wildcard(statement["Principal"]) and not statement.get("Condition"):
                offenders.append(f"{stack}{path}")
            if is_wildcard(statement["Principal"]):
                assert statement["Effect"] == "Deny", f"{stack}{path}: Allow to every principal"
    assert scanned > 20
    assert offenders == []


def test_the_wildcard_scan_finds_an_open_statement() -> None:
    template = {
        "Resources": {
            "P": {
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}
                        ]
                    }
                }
            }
        }
    }
    found = [s for _, s in principal_statements(template) if is_wildcard(s["Principal"]) and not s.get("Condition")]
    assert len(found) == 1


# ----- tooling-side policies name exactly the target roles; a new environment adds only its own -----


def _principals(raw: dict[str, Any], resource_type: str, document_key: str) -> set[str]:
    found: set[str] = set()
    for resource in resources_of_type(raw, resource_type).values():
        for statement in resource["Properties"][document_key]["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            aws = statement.get("Principal", {}).get("AWS", []) if isinstance(statement.get("Principal"), dict) else []
            for arn in [aws] if isinstance(aws, str) else aws:
                if isinstance(arn, str) and not arn.startswith(f"arn:aws:iam::{TOOLING}:"):
                    found.add(arn)
    return found


def target_principals(platform: SynthesizedPlatform, stack: str) -> dict[str, set[str]]:
    raw = platform.template_json(stack)
    return {
        "key": _principals(raw, "AWS::KMS::Key", "KeyPolicy"),
        "bucket": _principals(raw, "AWS::S3::BucketPolicy", "PolicyDocument"),
    }


def test_artifact_key_and_bucket_policies_name_exactly_the_target_roles(default_platform: SynthesizedPlatform) -> None:
    expected_ec2 = {
        f"arn:aws:iam::{a}:role/acme-{e}-{r}" for e, a in TARGETS.items() for r in ("deployer", "ec2-instance")
    }
    expected = {f"arn:aws:iam::{a}:role/acme-{e}-deployer" for e, a in TARGETS.items()}
    assert target_principals(default_platform, "acme-pipeline-storefront") == {
        "key": expected_ec2,
        "bucket": expected_ec2,
    }
    for stack in ("acme-pipeline-orders", "acme-pipeline-pricing"):
        assert target_principals(default_platform, stack) == {"key": expected, "bucket": expected}


def _ec2_only_config(extra_environment: bool) -> Any:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    data["services"] = [data["services"][0]]
    if extra_environment:
        data["environments"].insert(1, {"name": "staging", "account": "444444444444", "approval": True})
    return parse_config(data)


def test_adding_an_environment_adds_its_roles_and_nothing_else(tmp_path: Path) -> None:
    before = synth_platform(_ec2_only_config(False), tmp_path / "before")
    after = synth_platform(_ec2_only_config(True), tmp_path / "after")
    staging_roles = {
        "arn:aws:iam::444444444444:role/acme-staging-deployer",
        "arn:aws:iam::444444444444:role/acme-staging-ec2-instance",
    }
    old = target_principals(before, "acme-pipeline-storefront")
    new = target_principals(after, "acme-pipeline-storefront")
    for kind in ("key", "bucket"):
        assert new[kind] - old[kind] == staging_roles
        assert old[kind] <= new[kind]
    assert set(after.stack_names) - set(before.stack_names) == {
        "acme-cross-account-staging",
        "acme-foundation-staging",
        "acme-service-storefront-staging",
    }
    (bus,) = resources_of_type(after.template_json("acme-notifications"), "AWS::Events::EventBusPolicy").values()
    assert bus["Properties"]["Statement"]["Principal"]["AWS"] == [
        f"arn:aws:iam::{a}:root" for a in ("222222222222", "333333333333", "444444444444")
    ]


def test_platform_stacks_lists_every_stack_of_the_app(default_platform: SynthesizedPlatform) -> None:
    # The tests that walk PlatformStacks.all() (e.g. tests/unit/test_nag.py) then see every stack.
    assert sorted(s.stack_name for s in default_platform.stacks.all()) == sorted(default_platform.stack_names)
