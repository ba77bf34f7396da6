"""Stateful resources outlive their stack, but never outlive a failed first deploy."""

from __future__ import annotations

from tests.platform_synth import SynthesizedPlatform

STATEFUL = {
    "AWS::CodeArtifact::Domain",
    "AWS::CodeArtifact::Repository",
    "AWS::CodeBuild::ReportGroup",
    "AWS::CodeCommit::Repository",
    "AWS::DynamoDB::GlobalTable",
    "AWS::ECR::Repository",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
}


def test_every_stateful_resource_is_retained_except_when_its_first_deploy_rolls_back(
    default_platform: SynthesizedPlatform,
) -> None:
    seen: set[str] = set()
    for name in default_platform.stack_names:
        for logical_id, resource in default_platform.template_json(name)["Resources"].items():
            if resource["Type"] not in STATEFUL:
                continue
            seen.add(resource["Type"])
            where = f"{name}/{logical_id}"
            assert resource.get("DeletionPolicy") == "RetainExceptOnCreate", where
            assert resource.get("UpdateReplacePolicy") == "Retain", where
    assert seen == STATEFUL
