"""Pull-request validation: the PR build project, the one PR rule, the validator, the approval rule template."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.platform_synth import SynthesizedPlatform, resources_of_type

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"
TOOLING = "111111111111"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def in_repository(event: dict[str, Any], repository: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["account"], event["region"] = TOOLING, "eu-west-1"
    event["resources"] = [f"arn:aws:codecommit:eu-west-1:{TOOLING}:{repository}"]
    event["detail"]["repositoryNames"] = [repository]
    return event


@pytest.fixture(scope="module")
def pipeline(default_platform: SynthesizedPlatform) -> dict[str, Any]:
    return default_platform.template_json("acme-pipeline-orders")


@pytest.fixture(scope="module")
def prs(default_platform: SynthesizedPlatform) -> dict[str, Any]:
    return default_platform.template_json("acme-pull-requests")


def rule_of(raw: dict[str, Any], detail_type: str) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for r in resources_of_type(raw, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("detail-type") == [detail_type]
    ]
    return rule


def pr_rule(raw: dict[str, Any]) -> dict[str, Any]:
    return rule_of(raw, "CodeCommit Pull Request State Change")


def test_no_pipeline_stack_has_a_pull_request_rule(default_platform: SynthesizedPlatform) -> None:
    for stack in ("acme-pipeline-storefront", "acme-pipeline-orders", "acme-pipeline-pricing"):
        rules = resources_of_type(default_platform.template_json(stack), "AWS::Events::Rule").values()
        assert not [r for r in rules if "Pull Request" in json.dumps(r["Properties"]["EventPattern"])]


def test_one_pull_request_rule_matches_new_and_updated_pull_requests_of_every_platform_repository(
    prs: dict[str, Any],
) -> None:
    rule = pr_rule(prs)
    assert "EventBusName" not in rule  # the default bus, where CodeCommit sends its events
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.codecommit"]
    # A prefix match, not a wildcard filter (which a bus allows only 30 of).
    assert pattern["resources"] == [{"prefix": f"arn:aws:codecommit:eu-west-1:{TOOLING}:acme-"}]
    assert pattern["detail"] == {
        "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
        "pullRequestStatus": ["Open"],
    }
    matcher = EventPattern.load(json.dumps(pattern))
    verdicts = [
        matcher.matches_event(in_repository(load(name), repository))
        for name, repository in (
            ("codecommit-pr-created.json", "acme-orders"),
            ("codecommit-pr-source-branch-updated.json", "acme-pricing"),
            ("codecommit-pr-status-changed.json", "acme-orders"),
            ("codecommit-pr-created.json", "other-orders"),
        )
    ]
    assert verdicts == [True, True, False, False]


def test_pull_requests_go_to_the_validator_which_starts_their_build(prs: dict[str, Any]) -> None:
    (target,) = pr_rule(prs)["Targets"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 8}
    assert "Arn" in target["DeadLetterConfig"]
    functions = resources_of_type(prs, "AWS::Lambda::Function")
    (validator_id,) = [i for i, r in functions.items() if r["Properties"]["Handler"] == "pr_validator.handler"]
    assert target["Arn"] == {"Fn::GetAtt": [validator_id, "Arn"]}
    roles = {r["Properties"].get("RoleName"): k for k, r in resources_of_type(prs, "AWS::IAM::Role").items()}
    statements = [
        s
        for p in resources_of_type(prs, "AWS::IAM::Policy").values()
        if {"Ref": roles["acme-pr-validator"]} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (start,) = [s for s in statements if s.get("Sid") == "StartPullRequestBuilds"]
    assert start["Action"] == "codebuild:StartBuild"
    assert start["Resource"] == f"arn:aws:codebuild:eu-west-1:{TOOLING}:project/acme-*-pr"


def test_pull_request_project_builds_from_the_repository_like_the_pipeline_build(pipeline: dict[str, Any]) -> None:
    projects = {
        p["Properties"]["Name"]: p["Properties"]
        for p in resources_of_type(pipeline, "AWS::CodeBuild::Project").values()
    }
    pr, build = projects["acme-orders-pr"], projects["acme-orders-build"]
    (repo_id,) = resources_of_type(pipeline, "AWS::CodeCommit::Repository")
    assert pr["Source"] == {
        "BuildSpec": "buildspec-pr.yml",
        "Location": {"Fn::GetAtt": [repo_id, "CloneUrlHttp"]},
        "Type": "CODECOMMIT",
    }
    assert pr["Cache"] == build["Cache"]
    assert pr["Environment"]["PrivilegedMode"] is True  # the ECS service's image is built, not pushed
    env = {v["Name"]: v["Value"] for v in pr["Environment"]["EnvironmentVariables"]}
    assert {k: env[k] for k in ("CODEARTIFACT_DOMAIN", "CODEARTIFACT_REPOSITORY")} == {
        "CODEARTIFACT_DOMAIN": "acme",
        "CODEARTIFACT_REPOSITORY": "shared",
    }
    # The one shared pull-request role, created by acme-tooling; no per-service pull-request role.
    assert pr["ServiceRole"] == f"arn:aws:iam::{TOOLING}:role/acme-shared-pr"
    roles = [r["Properties"].get("RoleName") for r in resources_of_type(pipeline, "AWS::IAM::Role").values()]
    assert "acme-orders-pr" not in roles
    groups = {
        g["Properties"]["Name"]: g["Properties"]
        for g in resources_of_type(pipeline, "AWS::CodeBuild::ReportGroup").values()
    }
    # Not exported: an export would need write access to the artifact bucket.
    assert groups["acme-orders-pr-junit"]["ExportConfig"] == {"ExportConfigType": "NO_EXPORT"}


def test_pull_request_cache_never_touches_the_artifact_bucket(default_platform: SynthesizedPlatform) -> None:
    for stack in ("acme-pipeline-storefront", "acme-pipeline-orders", "acme-pipeline-pricing"):
        projects = resources_of_type(default_platform.template_json(stack), "AWS::CodeBuild::Project").values()
        (pr,) = [p["Properties"] for p in projects if p["Properties"]["Name"].endswith("-pr")]
        assert pr["Cache"]["Type"] == "LOCAL"


@pytest.fixture(scope="module")
def tooling(default_platform: SynthesizedPlatform) -> dict[str, Any]:
    return default_platform.template_json("acme-tooling")


def shared_pr_statements(tooling: dict[str, Any]) -> list[dict[str, Any]]:
    (role_id,) = [
        k
        for k, r in resources_of_type(tooling, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == "acme-shared-pr"
    ]
    return [
        s
        for p in resources_of_type(tooling, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_shared_pull_request_role_reads_and_reports_only(tooling: dict[str, Any]) -> None:
    """Unreviewed code: no artifact, image, pipeline, deployer or CodeBuild-start access."""
    statements = shared_pr_statements(tooling)
    actions = sorted({a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])})
    assert actions == [
        "codeartifact:GetAuthorizationToken",
        "codeartifact:GetRepositoryEndpoint",
        "codeartifact:ReadFromRepository",
        "codebuild:BatchPutTestCases",
        "codebuild:CreateReport",
        "codebuild:UpdateReport",
        "codecommit:GitPull",
        "kms:Decrypt",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sts:GetServiceBearerToken",
    ]
    by_sid = {s["Sid"]: s for s in statements if "Sid" in s}
    assert by_sid["DecryptRepositories"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "codecommit.eu-west-1.amazonaws.com"}
    }
    assert by_sid["WritePullRequestReports"]["Resource"] == (
        f"arn:aws:codebuild:eu-west-1:{TOOLING}:report-group/acme-*-pr-junit"
    )
    assert by_sid["WritePullRequestLogs"]["Resource"] == [
        f"arn:aws:logs:eu-west-1:{TOOLING}:log-group:/aws/codebuild/acme-*-pr",
        f"arn:aws:logs:eu-west-1:{TOOLING}:log-group:/aws/codebuild/acme-*-pr:*",
    ]


def test_no_bucket_key_or_repository_policy_names_the_shared_pull_request_role(
    default_platform: SynthesizedPlatform,
) -> None:
    for name in default_platform.stack_names:
        raw = default_platform.template_json(name)
        for kind in ("AWS::S3::BucketPolicy", "AWS::KMS::Key", "AWS::ECR::Repository", "AWS::IAM::Role"):
            for resource in resources_of_type(raw, kind).values():
                properties = dict(resource["Properties"])
                properties.pop("RoleName", None)
                assert "acme-shared-pr" not in json.dumps(properties), (name, kind)


def test_validator_is_called_when_a_pull_request_build_ends(prs: dict[str, Any]) -> None:
    props = rule_of(prs, "CodeBuild Build State Change")
    (target,) = props["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8 and "Arn" in target["DeadLetterConfig"]
    matcher = EventPattern.load(json.dumps(props["EventPattern"]))
    derived = EVENTS / "derived"
    verdicts = {
        name: matcher.matches_event(json.loads((derived / name).read_text()))
        for name in (
            "prvalidator-codebuild-build-state-pr-succeeded.json",
            "prvalidator-codebuild-build-state-pr-failed.json",
            "prvalidator-codebuild-build-state-pr-in-progress.json",
            "notifier-codebuild-build-state-failed.json",  # a pipeline build, not a pull request
        )
    }
    assert verdicts == {
        "prvalidator-codebuild-build-state-pr-succeeded.json": True,
        "prvalidator-codebuild-build-state-pr-failed.json": True,
        "prvalidator-codebuild-build-state-pr-in-progress.json": False,
        "notifier-codebuild-build-state-failed.json": False,
    }


def test_validator_may_act_on_the_platform_repositories_only(prs: dict[str, Any]) -> None:
    roles = {r["Properties"].get("RoleName"): k for k, r in resources_of_type(prs, "AWS::IAM::Role").items()}
    role_id = roles["acme-pr-validator"]
    statements = {
        s["Sid"]: s
        for p in resources_of_type(prs, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "Sid" in s
    }
    assert statements["ValidatePlatformPullRequests"]["Resource"] == f"arn:aws:codecommit:eu-west-1:{TOOLING}:acme-*"
    assert sorted(statements["ValidatePlatformPullRequests"]["Action"]) == [
        "codecommit:GetCommentsForPullRequest",
        "codecommit:GetPullRequest",
        "codecommit:GetPullRequestApprovalStates",
        "codecommit:PostCommentForPullRequest",
        "codecommit:UpdatePullRequestApprovalState",
    ]
    assert statements["UseRepositoryKeys"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "codecommit.eu-west-1.amazonaws.com"}
    }
    every_action = [
        a
        for p in resources_of_type(prs, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not [a for a in every_action if a.startswith("codecommit:") and "*" in a]


def sdk_call(resource: dict[str, Any], phase: str) -> dict[str, Any]:
    value = resource["Properties"][phase]
    text = (
        value
        if isinstance(value, str)
        else "".join(p if isinstance(p, str) else "<token>" for p in value["Fn::Join"][1])
    )
    return dict(json.loads(text))


def test_approval_rule_template_requires_the_validator_on_the_main_branch(prs: dict[str, Any]) -> None:
    (template,) = resources_of_type(prs, "Custom::ApprovalRuleTemplate").values()
    create = sdk_call(template, "Create")
    assert create["action"] == "createApprovalRuleTemplate"
    params = create["parameters"]
    assert params["approvalRuleTemplateName"] == "acme-pr-validation-main"
    assert json.loads(params["approvalRuleTemplateContent"]) == {
        "Version": "2018-11-08",
        "DestinationReferences": ["refs/heads/main"],
        "Statements": [
            {
                "Type": "Approvers",
                "NumberOfApprovalsNeeded": 1,
                "ApprovalPoolMembers": [f"arn:aws:sts::{TOOLING}:assumed-role/acme-pr-validator/*"],
            }
        ],
    }
    assert sdk_call(template, "Delete")["action"] == "deleteApprovalRuleTemplate"


def test_template_is_associated_with_every_validated_repository(prs: dict[str, Any]) -> None:
    (association,) = resources_of_type(prs, "Custom::ApprovalRuleTemplateAssociation").values()
    properties = association["Properties"]
    assert properties["TemplateName"] == "acme-pr-validation-main"
    # The services' repositories and the platform's own (its pull requests need the validator too).
    assert properties["Repositories"] == ["acme-orders", "acme-platform", "acme-pricing", "acme-storefront"]
    # Our own handler (it disassociates repositories dropped from the list), not AwsCustomResource,
    # behind aws-cdk-lib's provider framework (which answers CloudFormation).
    functions = resources_of_type(prs, "AWS::Lambda::Function")
    (function_id,) = [i for i, r in functions.items() if r["Properties"]["Handler"] == "approval_associations.handler"]
    assert functions[function_id]["Properties"]["FunctionName"] == "acme-pull-requests-approval-associations"
    (framework_id,) = [
        i
        for i, r in functions.items()
        if r["Properties"].get("FunctionName") == "acme-pull-requests-approval-associations-provider"
    ]
    assert properties["ServiceToken"] == {"Fn::GetAtt": [framework_id, "Arn"]}
    framework_variables = functions[framework_id]["Properties"]["Environment"]["Variables"]
    assert framework_variables["USER_ON_EVENT_FUNCTION_ARN"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert properties["ServiceTimeout"] == "1200"  # fail after 20 minutes without an answer, not 1 hour
    (template_id,) = resources_of_type(prs, "Custom::ApprovalRuleTemplate")
    assert template_id in association["DependsOn"]
    # CloudFormation calls the function only once its role may associate.
    (policy_id,) = [
        i
        for i, r in resources_of_type(prs, "AWS::IAM::Policy").items()
        if i.startswith("ApprovalAssociationsFunctionRole")
    ]
    assert policy_id in association["DependsOn"]
    statements = prs["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    associate = next(s for s in statements if s.get("Sid") == "AssociateWithPlatformRepositories")
    assert associate["Action"] == [
        "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories",
        "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories",
    ]
    assert associate["Resource"] == f"arn:aws:codecommit:eu-west-1:{TOOLING}:acme-*"


def test_pull_request_stack_comes_after_the_repositories(default_platform: SynthesizedPlatform) -> None:
    artifact = default_platform.assembly.get_stack_by_name("acme-pull-requests")
    depends = set(artifact.manifest.dependencies or [])
    assert {"acme-pipeline-storefront", "acme-pipeline-orders", "acme-pipeline-pricing"} <= depends
