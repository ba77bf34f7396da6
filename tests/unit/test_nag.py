"""cdk_constructs.nag: the acknowledgement helpers and the Python logical-id computation."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs.nag import (
    ACKNOWLEDGED_RULES,
    acknowledge,
    acknowledge_all,
    logical_id,
    make_unique_id,
    qualified_rule_id,
    wildcard_findings,
)
from tests.platform_synth import SynthesizedPlatform, new_app


@pytest.mark.parametrize(
    "path",
    [
        ["Bucket"],
        ["Pipeline", "Artifacts", "Bucket"],
        ["Pipeline", "Pipeline", "Bucket"],  # consecutive duplicates collapse in the readable part
        ["Lambda", "Service", "Function"],
        ["A-b_c", "Default", "X"],  # Default is hidden, non-alphanumerics dropped
        ["x" * 150, "y" * 150],  # the readable part is cut at 240 characters
    ],
)
def test_logical_id_in_python_equals_cdks(tmp_path: Path, path: list[str]) -> None:
    app = new_app(tmp_path)
    stack = cdk.Stack(app, "Probe")
    scope: Construct = stack
    for part in path[:-1]:
        scope = Construct(scope, part)
    bucket = s3.Bucket(scope, path[-1])
    cdk_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
    assert logical_id(bucket) == cdk_id


def test_logical_ids_match_the_platforms_buckets_projects_and_functions(
    default_platform: SynthesizedPlatform,
) -> None:
    """The kinds of construct logical_id() is used for, across the whole app, against CDK's own ids.

    (CDK overrides a few ids itself, e.g. a function's CurrentVersion: logical_id() is not for those.)
    """
    checked = 0
    for stack in default_platform.stacks.all():
        for node in stack.node.find_all():
            if isinstance(node, (s3.Bucket, codebuild.Project, lambda_.Function)):
                child = node.node.default_child
                assert isinstance(child, cdk.CfnResource)
                assert logical_id(node) == stack.resolve(stack.get_logical_id(child)), node.node.path
                checked += 1
    assert checked >= 25  # 29 in the example platform


def test_unique_id_of_a_single_component_is_the_component() -> None:
    assert make_unique_id(["My-Bucket"]) == "MyBucket"


def test_wildcard_findings_name_actions_and_resources() -> None:
    assert wildcard_findings(["s3:Get*", "s3:PutObject"], ["arn:aws:s3:::b/*", "arn:aws:s3:::b"]) == [
        "Action::s3:Get*",
        "Resource::arn:aws:s3:::b/*",
    ]


def test_an_acknowledgement_needs_a_reason(tmp_path: Path) -> None:
    stack = cdk.Stack(new_app(tmp_path), "Probe")
    with pytest.raises(ValueError, match="needs a real reason"):
        acknowledge(sqs.Queue(stack, "Q"), "AwsSolutions-SQS3", "because")


ACKNOWLEDGED = {
    "AwsSolutions-S1": "Access logs of this bucket would log into themselves, so none are kept.",
    "AwsSolutions-IAM5[Action::s3:GetObject*]": "Emitted by an aws-cdk-lib grant method for one named bucket.",
    "AwsSolutions-IAM5[Resource::arn:aws:logs:*:*:log-group:/x:*]": "Log streams of this one log group only.",
    "Serverless-LambdaDLQ odd id": "A rule id with a space, recorded with a hyphen as aws-cdk-lib does.",
}


def acknowledged(construct: Construct) -> list[dict[str, str]]:
    return [dict(entry.data) for entry in construct.node.metadata if entry.type == ACKNOWLEDGED_RULES]


def test_acknowledgements_are_recorded_as_the_validations_api_records_them(tmp_path: Path) -> None:
    stack = cdk.Stack(new_app(tmp_path), "Probe")
    ours, official = s3.Bucket(stack, "Ours"), s3.Bucket(stack, "Official")
    acknowledge_all(ours, ACKNOWLEDGED)
    cdk.Validations.of(official).acknowledge(
        *(cdk.Acknowledgment(id=rule, reason=reason) for rule, reason in ACKNOWLEDGED.items())
    )
    merged: dict[str, str] = {}
    for entry in acknowledged(official):  # one entry per rule there, one entry per call here
        merged.update(entry)
    assert acknowledged(ours) == [merged]


def test_a_rule_id_with_a_plugin_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="no plugin namespace"):
        qualified_rule_id("cdk-nag::AwsSolutions-S1")
    assert qualified_rule_id("AwsSolutions-IAM5[Resource::*]") == "Annotation::AwsSolutions-IAM5[Resource::*]"
