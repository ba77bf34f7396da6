"""PipelineStack, fine-grained: repository, builds, report group, pipeline, artifact store, approvals."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from moto.events.models import EventPattern

from config.names import Names
from tests.platform_synth import resources_of_type

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"

PIPELINES = ["acme-pipeline-storefront", "acme-pipeline-orders", "acme-pipeline-pricing"]


@pytest.fixture(scope="module", params=PIPELINES)
def stack_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def template(default_platform, stack_name: str):  # type: ignore[no-untyped-def]
    return default_platform.template(stack_name)


@pytest.fixture(scope="module")
def raw(default_platform, stack_name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return default_platform.template_json(stack_name)


def service_of(stack_name: str) -> str:
    return stack_name.removeprefix("acme-pipeline-")


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def pipeline_of(raw: dict[str, Any]) -> dict[str, Any]:
    return only(resources_of_type(raw, "AWS::CodePipeline::Pipeline"))[1]


def artifact_key_id(raw: dict[str, Any]) -> str:
    return only(resources_of_type(raw, "AWS::KMS::Key"))[0]


def test_all_pipelines_are_synthesized(default_platform) -> None:  # type: ignore[no-untyped-def]
    assert set(PIPELINES) <= set(default_platform.stack_names)
    assert not [n for n in default_platform.stack_names if "-support-" in n]


# ----- repository -----


def test_repository_is_seeded_from_the_platform_template_and_retained(raw: dict[str, Any], stack_name: str) -> None:
    _, repo = only(resources_of_type(raw, "AWS::CodeCommit::Repository"))
    assert repo["DeletionPolicy"] == "RetainExceptOnCreate"
    assert repo["UpdateReplacePolicy"] == "Retain"
    props = repo["Properties"]
    assert props["RepositoryName"] == f"acme-{service_of(stack_name)}"
    assert props["Code"]["BranchName"] == "main"
    assert set(props["Code"]["S3"]) == {"Bucket", "Key"}
    assert props["KmsKeyId"] == {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]}


def test_seed_assets_are_the_platform_templates(default_platform, stack_name: str) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((default_platform.outdir / f"{stack_name}.assets.json").read_text())
    platform = {"storefront": "ec2", "orders": "ecs", "pricing": "lambda"}[service_of(stack_name)]
    sources = [a["source"]["path"] for a in manifest["files"].values() if a["source"].get("packaging") == "zip"]
    seeded = [s for s in sources if (default_platform.outdir / s / "buildspec.yml").exists()]
    assert seeded, sources
    seed_dir = default_platform.outdir / seeded[0]
    assert (seed_dir / "buildspec-test.yml").exists()
    assert (seed_dir / ("appspec.yml" if platform == "ec2" else "README.md")).exists()


# ----- build and test projects -----


def project(raw: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [r for r in resources_of_type(raw, "AWS::CodeBuild::Project").values() if r["Properties"]["Name"] == name]
    assert len(matches) == 1, name
    return matches[0]["Properties"]


def test_build_project(raw: dict[str, Any], stack_name: str) -> None:
    service = service_of(stack_name)
    props = project(raw, f"acme-{service}-build")
    assert props["Source"] == {"BuildSpec": "buildspec.yml", "Type": "CODEPIPELINE"}
    assert props["EncryptionKey"] == {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]}
    assert props["Environment"]["Image"] == "aws/codebuild/amazonlinux-aarch64-standard:3.0"
    assert props["Environment"]["Type"] == "ARM_CONTAINER"
    variables = {v["Name"]: v["Value"] for v in props["Environment"]["EnvironmentVariables"]}
    assert all(v["Type"] == "PLAINTEXT" for v in props["Environment"]["EnvironmentVariables"])
    assert variables["SERVICE_NAME"] == service
    assert variables["CODEARTIFACT_DOMAIN"] == "acme"
    assert variables["CODEARTIFACT_REPOSITORY"] == "shared"
    assert variables["CODEARTIFACT_DOMAIN_OWNER"] == "111111111111"
    if service == "orders":
        assert props["Cache"] == {"Modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"], "Type": "LOCAL"}
        assert props["Environment"]["PrivilegedMode"] is True
        assert "ECR_REPOSITORY_URI" in variables
    else:
        assert props["Cache"]["Type"] == "S3"
        assert props["Cache"]["Location"]["Fn::Join"][1][-1] == "cache/build"
        assert props["Environment"]["PrivilegedMode"] is False
    assert props["TimeoutInMinutes"] == 30


def test_test_project_reports_junit_to_its_report_group(template, raw: dict[str, Any], stack_name: str) -> None:  # type: ignore[no-untyped-def]
    service = service_of(stack_name)
    props = project(raw, f"acme-{service}-test")
    assert props["Source"] == {"BuildSpec": "buildspec-test.yml", "Type": "CODEPIPELINE"}
    assert props["Cache"]["Type"] == "S3"
    template.has_resource(
        "AWS::CodeBuild::ReportGroup",
        {
            "Properties": {
                "Name": f"acme-{service}-test-junit",
                "Type": "TEST",
                "ExportConfig": Match.object_like({"ExportConfigType": "S3"}),
            },
            "DeletionPolicy": "RetainExceptOnCreate",
        },
    )
    report_group_id = only(
        {
            k: v
            for k, v in resources_of_type(raw, "AWS::CodeBuild::ReportGroup").items()
            if v["Properties"]["Name"] == f"acme-{service}-test-junit"
        }
    )[0]
    statements = [
        s
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Resource") == {"Fn::GetAtt": [report_group_id, "Arn"]}
    ]
    assert statements and set(statements[0]["Action"]) == {
        "codebuild:CreateReport",
        "codebuild:UpdateReport",
        "codebuild:BatchPutTestCases",
    }


def test_build_logs_are_encrypted_and_retained_for_a_bounded_time(
    template, raw: dict[str, Any], stack_name: str
) -> None:  # type: ignore[no-untyped-def]
    service = service_of(stack_name)
    for kind in ("build", "test"):
        template.has_resource(
            "AWS::Logs::LogGroup",
            {
                "Properties": {
                    "LogGroupName": f"/aws/codebuild/acme-{service}-{kind}",
                    "RetentionInDays": 90,
                    "KmsKeyId": {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]},
                },
                "DeletionPolicy": "RetainExceptOnCreate",
            },
        )
        assert project(raw, f"acme-{service}-{kind}")["LogsConfig"]["CloudWatchLogs"]["Status"] == "ENABLED"


# ----- artifact store -----


def test_artifact_key_rotates_and_is_retained(template) -> None:  # type: ignore[no-untyped-def]
    template.has_resource(
        "AWS::KMS::Key",
        {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "RetainExceptOnCreate"},
    )


def test_artifact_bucket_is_kms_encrypted_private_versioned_and_retained(raw: dict[str, Any], stack_name: str) -> None:
    buckets = resources_of_type(raw, "AWS::S3::Bucket")
    artifact = [b for b in buckets.values() if "BucketName" in b["Properties"]]
    assert len(artifact) == 1
    bucket = artifact[0]
    props = bucket["Properties"]
    assert props["BucketName"] == f"acme-{service_of(stack_name)}-artifacts-111111111111"
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]},
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "artifacts/"
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"
    for b in buckets.values():
        assert b["DeletionPolicy"] == "RetainExceptOnCreate"
        assert b["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def test_every_bucket_denies_requests_without_tls(raw: dict[str, Any]) -> None:
    buckets = set(resources_of_type(raw, "AWS::S3::Bucket"))
    denied = set()
    for policy in resources_of_type(raw, "AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                denied.add(policy["Properties"]["Bucket"]["Ref"])
    assert denied == buckets


# ----- pipeline -----


def test_pipeline_is_v2_with_stages_in_config_order(raw: dict[str, Any], stack_name: str) -> None:
    props = pipeline_of(raw)["Properties"]
    assert props["Name"] == f"acme-{service_of(stack_name)}"
    assert props["PipelineType"] == "V2"
    assert props["ExecutionMode"] == "QUEUED"
    assert [s["Name"] for s in props["Stages"]] == [
        "Source",
        "Build",
        "Test",
        "Deploy-dev",
        "Approve-prod",
        "Deploy-prod",
    ]
    store = props["ArtifactStore"]
    assert store["Type"] == "S3"
    assert store["EncryptionKey"] == {"Id": {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]}, "Type": "KMS"}


def push_rule(raw: dict[str, Any]) -> dict[str, Any]:
    rules = [
        r["Properties"]
        for r in resources_of_type(raw, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("detail-type") == ["CodeCommit Repository State Change"]
    ]
    assert len(rules) == 1
    return rules[0]


def test_source_is_event_driven_not_polling(raw: dict[str, Any], stack_name: str) -> None:
    source = pipeline_of(raw)["Properties"]["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["PollForSourceChanges"] is False
    assert source["Configuration"]["BranchName"] == "main"
    rule = push_rule(raw)
    assert rule["EventPattern"]["detail"] == {
        "event": ["referenceCreated", "referenceUpdated"],
        "referenceType": ["branch"],
        "referenceName": ["main"],
    }
    (target,) = rule["Targets"]
    assert target["Arn"]["Fn::Join"][1][-1] == f"acme-{service_of(stack_name)}" or "Ref" in json.dumps(target["Arn"])
    assert target["RoleArn"] == "arn:aws:iam::111111111111:role/acme-event-triggers"
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 8}
    assert "Arn" in target["DeadLetterConfig"]


def test_push_rule_is_on_its_services_trigger_bus_not_the_default_bus(
    default_platform, raw: dict[str, Any], stack_name: str
) -> None:  # type: ignore[no-untyped-def]
    names = Names(default_platform.config)
    service = next(s for s in default_platform.config.services if s.name == service_of(stack_name))
    assert push_rule(raw)["EventBusName"] == names.pipeline_trigger_bus(service)
    assert names.pipeline_trigger_bus(service).startswith("acme-pipeline-triggers-")
    # No rule of a pipeline stack is on the default bus.
    assert all("EventBusName" in r["Properties"] for r in resources_of_type(raw, "AWS::Events::Rule").values())


def test_push_rule_starts_the_pipeline_on_its_branch_only(raw: dict[str, Any], stack_name: str) -> None:
    repository = f"arn:aws:codecommit:eu-west-1:111111111111:acme-{service_of(stack_name)}"
    pattern = copy.deepcopy(push_rule(raw)["EventPattern"])
    pattern["resources"] = [repository]  # a GetAtt in the template
    matcher = EventPattern.load(json.dumps(pattern))
    push = json.loads((EVENTS / "codecommit-repo-reference-updated.json").read_text())
    push["resources"] = [repository]
    push["detail"]["referenceName"] = "main"

    def variant(**detail: str) -> dict[str, Any]:
        event = copy.deepcopy(push)
        event["detail"].update(detail)
        return event

    other_repository = copy.deepcopy(push)
    other_repository["resources"] = [repository + "x"]
    assert matcher.matches_event(push)
    assert matcher.matches_event(variant(event="referenceCreated"))
    assert not matcher.matches_event(variant(referenceName="feature"))
    assert not matcher.matches_event(variant(referenceType="tag"))
    assert not matcher.matches_event(variant(event="referenceDeleted"))
    assert not matcher.matches_event(other_repository)


def test_shards_are_stable_and_hold_under_240_push_rules_at_1000_services(default_platform) -> None:  # type: ignore[no-untyped-def]
    names = Names(default_platform.config)
    template = default_platform.config.services[0]
    # The generated names of tools/scale_config.py; a service's bus is a hash of its name alone, so
    # adding or removing services never moves another service's rule.
    services = [
        template.model_copy(update={"name": f"svc{i:03d}-{('ec2', 'ecs', 'lambda')[i % 3]}"}) for i in range(1000)
    ]
    per_bus = Counter(names.pipeline_trigger_bus(s) for s in services)
    assert set(per_bus) == {f"acme-pipeline-triggers-{n}" for n in range(5)}
    assert max(per_bus.values()) <= 0.8 * 300, per_bus


def test_manual_approval_only_before_prod_and_it_notifies_the_encrypted_topic(template, raw: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    stages = {s["Name"]: s for s in pipeline_of(raw)["Properties"]["Stages"]}
    approvals = [
        (name, a) for name, s in stages.items() for a in s["Actions"] if a["ActionTypeId"]["Category"] == "Approval"
    ]
    assert [name for name, _ in approvals] == ["Approve-prod"]
    topic_id = only(resources_of_type(raw, "AWS::SNS::Topic"))[0]
    config = approvals[0][1]["Configuration"]
    assert config["NotificationArn"] == {"Ref": topic_id}
    assert "prod" in config["CustomData"] and "333333333333" in config["CustomData"]
    assert "#{SourceVariables.CommitId}" in config["ExternalEntityLink"]
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]}}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_approvers_policy_allows_only_reading_and_approving_this_pipeline(raw: dict[str, Any], stack_name: str) -> None:
    service = service_of(stack_name)
    _, policy = only(resources_of_type(raw, "AWS::IAM::ManagedPolicy"))
    props = policy["Properties"]
    assert props["ManagedPolicyName"] == f"acme-{service}-approvers"
    statements = props["PolicyDocument"]["Statement"]
    assert {s["Sid"]: s["Action"] for s in statements} == {
        "ReadThisPipeline": ["codepipeline:GetPipeline*", "codepipeline:GetPipelineState"],
        "ApproveThisPipeline": "codepipeline:PutApprovalResult",
    }
    assert all(s["Effect"] == "Allow" for s in statements)
    read, approve = statements
    pipeline_id = only(resources_of_type(raw, "AWS::CodePipeline::Pipeline"))[0]
    assert read["Resource"] == {
        "Fn::Join": ["", ["arn:aws:codepipeline:eu-west-1:111111111111:", {"Ref": pipeline_id}]]
    }
    assert approve["Resource"]["Fn::Join"][1][-1].endswith("/Approve-prod/Approve")


SHARED_PIPELINE_ROLE = "arn:aws:iam::111111111111:role/acme-pipelines"


def test_pipeline_runs_as_the_shared_pipeline_role_and_creates_only_its_build_role(
    raw: dict[str, Any], stack_name: str
) -> None:
    assert pipeline_of(raw)["Properties"]["RoleArn"] == SHARED_PIPELINE_ROLE
    roles = [r["Properties"].get("RoleName") for r in resources_of_type(raw, "AWS::IAM::Role").values()]
    assert roles == [f"acme-{service_of(stack_name)}-build"]
    # Nothing in this stack adds a policy to a shared role.
    attached = {
        json.dumps(r) for p in resources_of_type(raw, "AWS::IAM::Policy").values() for r in p["Properties"]["Roles"]
    }
    assert all("Ref" in json.loads(r) for r in attached), attached


def test_artifact_bucket_and_key_policies_admit_the_shared_pipeline_role(raw: dict[str, Any]) -> None:
    def granted(statements: list[dict[str, Any]]) -> set[str]:
        return {
            a
            for s in statements
            if s["Effect"] == "Allow" and s.get("Principal") == {"AWS": SHARED_PIPELINE_ROLE}
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        }

    (key,) = resources_of_type(raw, "AWS::KMS::Key").values()
    assert {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"} <= granted(
        key["Properties"]["KeyPolicy"]["Statement"]
    )
    bucket_id = next(k for k, b in resources_of_type(raw, "AWS::S3::Bucket").items() if "BucketName" in b["Properties"])
    (policy,) = [
        p
        for p in resources_of_type(raw, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert {"s3:GetObject*", "s3:PutObject", "s3:List*"} <= granted(policy["Properties"]["PolicyDocument"]["Statement"])


def test_the_shared_pull_request_role_gets_nothing_from_a_pipeline_stack(raw: dict[str, Any]) -> None:
    text = json.dumps({k: r for k, r in raw["Resources"].items() if r["Type"] != "AWS::CodeBuild::Project"})
    assert "acme-shared-pr" not in text


def test_dead_letter_queue_is_encrypted_tls_only_and_alarmed(template, raw: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    queue_id, queue = only(resources_of_type(raw, "AWS::SQS::Queue"))
    assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [artifact_key_id(raw), "Arn"]}
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )


def test_every_rule_that_dead_letters_into_the_queue_is_admitted_by_its_policy(raw: dict[str, Any]) -> None:
    queue_id, _ = only(resources_of_type(raw, "AWS::SQS::Queue"))
    rules = [
        rule_id
        for rule_id, rule in resources_of_type(raw, "AWS::Events::Rule").items()
        for target in rule["Properties"]["Targets"]
        if target.get("DeadLetterConfig", {}).get("Arn") == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert len(rules) == 1  # pushes (pull requests: one rule for all, in acme-pull-requests)
    (policy,) = resources_of_type(raw, "AWS::SQS::QueuePolicy").values()
    admitted = [
        s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert sorted(admitted) == sorted(rules)
