"""tools.platform_rollout: the review, prune, stacks and pull-request steps of the platform pipeline, on the
default platform's real cloud assembly, with CloudFormation, S3 and CodeCommit stubbed by botocore's Stubber
(which checks every request and answer against the service models)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from config.names import CDK_QUALIFIER
from tests.platform_synth import SynthesizedPlatform
from tests.unit.test_change_report import resource
from tools import platform_rollout as rollout
from tools.change_report import create_only_properties, from_templates

PROD, TOOLING, REGION = "333333333333", "111111111111", "eu-west-1"
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
EXEC_ROLE = f"arn:aws:iam::{PROD}:role/cdk-hnb659fds-cfn-exec-role-{PROD}-{REGION}"
CHANGE_SET = "review-0f1e2d3c"


def client(service: str) -> Any:
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)
    return session.client(service)


def summary_of(name: str, *, status: str = "UPDATE_COMPLETE", description: str = "acme: x", role: str = EXEC_ROLE):
    return {
        "StackName": name,
        "StackId": f"arn:aws:cloudformation:{REGION}:{PROD}:stack/{name}/1",
        "CreationTime": T0,
        "StackStatus": status,
        "Description": description,
        "RoleARN": role,
    }


def missing(stubber: Stubber, name: str) -> None:
    stubber.add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {name} does not exist",
        expected_params={"StackName": name},
    )


def change_set_page(name: str, changes: list[dict[str, Any]], status: str, token: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ChangeSetName": CHANGE_SET,
        "StackName": name,
        "Status": status,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Changes": changes,
    }
    if token:
        answer["NextToken"] = token
    return answer


def expect_change_set(stubber: Stubber, name: str, pages: list[list[dict[str, Any]]]) -> None:
    stubber.add_response("describe_stacks", {"Stacks": [summary_of(name)]}, {"StackName": name})
    stubber.add_response(
        "create_change_set",
        {"Id": f"arn:aws:cloudformation:{REGION}:{PROD}:changeSet/{CHANGE_SET}/1"},
        {
            "StackName": name,
            "ChangeSetName": CHANGE_SET,
            "TemplateURL": ANY,
            "Capabilities": rollout.CAPABILITIES,
            "RoleARN": EXEC_ROLE,
            "ChangeSetType": "UPDATE",
            "Description": ANY,
        },
    )
    key = {"StackName": name, "ChangeSetName": CHANGE_SET}
    stubber.add_response("describe_change_set", change_set_page(name, [], "CREATE_PENDING"), key)
    stubber.add_response("describe_change_set", change_set_page(name, [], "CREATE_COMPLETE"), key)
    for index, changes in enumerate(pages):
        token = "next" if index < len(pages) - 1 else None
        params = {**key, **({"NextToken": "next"} if index else {})}
        stubber.add_response("describe_change_set", change_set_page(name, changes, "CREATE_COMPLETE", token), params)
    stubber.add_response("delete_change_set", {}, key)


LEGACY = "acme-service-legacy-prod"
LEGACY_TEMPLATE = {
    "Description": "acme: legacy (ec2) in prod",
    "Resources": {
        "Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "RetainExceptOnCreate", "Properties": {}},
        "Group": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {"MaxSize": "2"}},
    },
}


def expect_account_listing(stubber: Stubber, names: list[str]) -> None:
    stacks = [summary_of(n) for n in names]
    stacks += [
        summary_of(LEGACY),
        summary_of("acme-hand-made", description="made by hand"),  # not the platform's description
        summary_of("acme-other", role=f"arn:aws:iam::{PROD}:role/admin"),  # not deployed by the pipeline
        summary_of("CDKToolkit", description="This stack includes resources needed to deploy AWS CDK apps"),
        summary_of("acme-service-gone-prod", status="DELETE_COMPLETE"),
    ]
    stubber.add_response("describe_stacks", {"Stacks": stacks}, {})


@pytest.fixture(scope="module")
def assembly(default_platform: SynthesizedPlatform) -> Path:
    return default_platform.outdir


def test_the_tool_knows_the_bootstrap_qualifier_the_stacks_use() -> None:
    assert rollout.QUALIFIER == CDK_QUALIFIER


def test_stacks_of_an_account_and_of_a_wave(assembly: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stacks = rollout.read_assembly(assembly)
    assert rollout.stacks_of(stacks, account=None, wave="env-prod") == [
        "acme-foundation-prod",
        "acme-service-orders-prod",
        "acme-service-pricing-prod",
        "acme-service-storefront-prod",
    ]
    tooling = rollout.stacks_of(stacks, account=TOOLING, wave=None)
    assert "acme-platform-pipeline" not in tooling  # it has no wave: SelfUpdate deploys it
    assert "acme-pipeline-orders" in tooling and "acme-tooling" in tooling
    assert rollout.main(["stacks", "--assembly", str(assembly), "--account", PROD, "--wave", "cross-account"]) == 0
    assert capsys.readouterr().out.split() == ["acme-cross-account-prod"]
    url = stacks["acme-service-orders-prod"].https_template_url
    assert url.startswith(f"https://cdk-hnb659fds-assets-{PROD}-{REGION}.s3.{REGION}.amazonaws.com/")


def test_review_previews_existing_stacks_reports_new_ones_and_lists_removals(assembly: Path) -> None:
    cloudformation = client("cloudformation")
    stubber = Stubber(cloudformation)
    wave = rollout.stacks_of(rollout.read_assembly(assembly), account=None, wave="env-prod")
    foundation, orders, pricing, storefront = wave
    expect_change_set(stubber, foundation, [[]])  # unchanged
    expect_change_set(
        stubber,
        orders,
        [
            [resource("TaskRole", "AWS::IAM::Role", "Modify", props=["AssumeRolePolicyDocument"])],
            [resource("Logs", "AWS::Logs::LogGroup", "Modify", replacement="True", policy="ReplaceAndRetain")],
        ],
    )
    missing(stubber, pricing)  # new: reported from its template, no change set
    missing(stubber, storefront)
    expect_account_listing(stubber, wave)
    stubber.add_response(
        "get_template",
        {"TemplateBody": json.dumps(LEGACY_TEMPLATE)},
        {"StackName": LEGACY, "TemplateStage": "Original"},
    )
    lines: list[str] = []
    with stubber:
        report, text = rollout.review(
            assembly,
            "env-prod",
            [PROD],
            lambda account: cloudformation,
            platform="acme",
            region=REGION,
            change_set=CHANGE_SET,
            sleep=lambda _: None,
            out=lines.append,
            workers=1,  # the Stubber answers in order
        )
    stubber.assert_no_pending_responses()
    assert "# Change report: wave env-prod" in report
    assert "1 stacks no longer in the config are deleted at the end of the rollout" in report
    assert f"| {orders} | 0 | 1 | 1 | 0 | 1 | **1** |" in report  # the replaced log group is data at risk
    assert f"## {pricing}\n\nA new stack." in report
    legacy = report.split(f"## {LEGACY}")[1]
    assert "**The stack is deleted.**" in legacy
    assert "Retained (1)" in legacy and "`Logs` (AWS::Logs::LogGroup)" in legacy
    assert "acme-hand-made" not in report and "acme-other" not in report and "CDKToolkit" not in report
    assert text.startswith("4 of 5 stacks change")
    # The replaced log group, and the retained one of the removed stack (highlighted: it stays, unmanaged).
    assert "2 STATEFUL REPLACED OR REMOVED" in text and "IAM/security" in text
    assert any("no longer in the config" in line for line in lines)


def test_a_change_set_that_cannot_be_created_is_reported_not_passed(assembly: Path) -> None:
    cloudformation = client("cloudformation")
    stubber = Stubber(cloudformation)
    stack = rollout.read_assembly(assembly)["acme-service-orders-prod"]
    stubber.add_response("describe_stacks", {"Stacks": [summary_of(stack.name)]}, {"StackName": stack.name})
    stubber.add_response("create_change_set", {"Id": "arn:aws:cloudformation:eu-west-1:1:changeSet/x/1"}, None)
    key = {"StackName": stack.name, "ChangeSetName": CHANGE_SET}
    failed = change_set_page(stack.name, [], "FAILED")
    failed["StatusReason"] = "No export named acme-foundation-prod:ExportsOutputRefNew found"
    stubber.add_response("describe_change_set", failed, key)
    stubber.add_response("describe_change_set", failed, key)
    stubber.add_response("delete_change_set", {}, key)
    with stubber:
        changes = rollout.preview(cloudformation, stack, {}, CHANGE_SET, sleep=lambda _: None)
    from tools.change_report import render, summary

    assert "**Not previewed**: the change set failed (No export named" in render([changes])
    assert summary([changes]).endswith("1 not previewed")


def test_prune_deletes_dependents_first_and_stops_above_the_limit(assembly: Path) -> None:
    cloudformation = client("cloudformation")
    present = rollout.stacks_of(rollout.read_assembly(assembly), account=PROD, wave=None)
    gone = ["acme-cross-account-old", "acme-service-legacy-prod", "acme-pipeline-legacy"]
    # Over the limit: nothing is deleted.
    stubber = Stubber(cloudformation)
    stubber.add_response("describe_stacks", {"Stacks": [summary_of(n) for n in present + gone]}, {})
    with stubber, pytest.raises(rollout.RolloutError, match=r"3 stacks would be deleted .* at most 2 per rollout"):
        rollout.prune(
            assembly, [PROD], lambda a: cloudformation, platform="acme", region=REGION, max_removals=2, execute=True
        )
    stubber = Stubber(cloudformation)
    stubber.add_response("describe_stacks", {"Stacks": [summary_of(n) for n in present + gone]}, {})
    order = ["acme-pipeline-legacy", "acme-service-legacy-prod", "acme-cross-account-old"]
    for name in order:
        stubber.add_response("delete_stack", {}, {"StackName": name})
        stubber.add_response(
            "describe_stacks", {"Stacks": [summary_of(name, status="DELETE_IN_PROGRESS")]}, {"StackName": name}
        )
        missing(stubber, name)
    lines: list[str] = []
    with stubber:
        removed = rollout.prune(
            assembly,
            [PROD],
            lambda a: cloudformation,
            platform="acme",
            region=REGION,
            max_removals=10,
            execute=True,
            sleep=lambda _: None,
            out=lines.append,
        )
    stubber.assert_no_pending_responses()
    assert [r.name for r in removed] == order
    assert lines[-1].startswith("deleted acme-cross-account-old")


def test_a_failed_delete_stops_the_prune_naming_the_reason(assembly: Path) -> None:
    cloudformation = client("cloudformation")
    stubber = Stubber(cloudformation)
    stubber.add_response("describe_stacks", {"Stacks": [summary_of(LEGACY)]}, {})
    stubber.add_response("delete_stack", {}, {"StackName": LEGACY})
    failed = summary_of(LEGACY, status="DELETE_FAILED")
    stubber.add_response("describe_stacks", {"Stacks": [failed]}, {"StackName": LEGACY})
    stubber.add_response(
        "describe_stacks",
        {"Stacks": [{**failed, "StackStatusReason": "The bucket you tried to delete is not empty"}]},
        {"StackName": LEGACY},
    )
    with stubber, pytest.raises(rollout.RolloutError, match=r"DELETE_FAILED .*not empty.*were not deleted"):
        rollout.prune(
            assembly, [PROD], lambda a: cloudformation, platform="acme", region=REGION, max_removals=5, execute=True
        )


def test_review_command_uploads_the_report_and_writes_the_approval_variables(assembly: Path, tmp_path: Path) -> None:
    cloudformation, s3 = client("cloudformation"), client("s3")
    cfn_stub, s3_stub = Stubber(cloudformation), Stubber(s3)
    for name in ("acme-cross-account-dev", "acme-cross-account-prod"):
        missing(cfn_stub, name)
    for _account in ("222222222222", PROD):
        cfn_stub.add_response("describe_stacks", {"Stacks": []}, {})
    key = "reports/exec-1/cross-account.md"
    s3_stub.add_response(
        "put_object",
        {},
        {"Bucket": "acme-platform-artifacts-111111111111", "Key": key, "Body": ANY, "ContentType": ANY},
    )
    variables = tmp_path / "review.env"
    argv = ["review", "--assembly", str(assembly), "--wave", "cross-account", "--accounts", "222222222222,333333333333"]
    argv += ["--platform", "acme", "--region", REGION, "--bucket", "acme-platform-artifacts-111111111111"]
    argv += ["--key", key, "--execution-id", "exec-1", "--variables", str(variables), "--workers", "1"]
    with cfn_stub, s3_stub:
        assert rollout.main(argv, client_for=lambda a: cloudformation, s3=s3) == 0
    text = variables.read_text()
    assert "export REPORT_URL='https://eu-west-1.console.aws.amazon.com/s3/object/acme-platform-artifacts-" in text
    assert f"prefix={key}" in text
    assert "export SUMMARY='2 of 2 stacks change; " in text


def test_errors_are_one_line(assembly: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["prune", "--assembly", str(assembly / "missing"), "--accounts", PROD, "--platform", "acme"]
    assert rollout.main([*argv, "--region", REGION], client_for=lambda a: None) == 2
    err = capsys.readouterr().err
    assert err.startswith("platform_rollout: ") and "not a cloud assembly" in err
    cloudformation = client("cloudformation")
    stubber = Stubber(cloudformation)
    stubber.add_client_error("describe_stacks", service_error_code="AccessDenied", service_message="not allowed")
    argv = ["prune", "--assembly", str(assembly), "--accounts", PROD, "--platform", "acme", "--region", REGION]
    with stubber:
        assert rollout.main(argv, client_for=lambda a: cloudformation) == 2
    err = capsys.readouterr().err
    assert err.startswith("platform_rollout: AccessDenied") and err.count("\n") == 1


def test_template_diff_finds_replacements_from_the_registry_schemas() -> None:
    create_only = create_only_properties(REGION)
    assert "BucketName" in create_only("AWS::S3::Bucket")
    old = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "a"}}}}
    new = {
        "Resources": {
            "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "b"}, "UpdateReplacePolicy": "Retain"}
        }
    }
    (change,) = from_templates("s", old, new, create_only).changes
    assert (change.action, change.replacement, change.policy_action) == ("Modify", "True", "ReplaceAndRetain")
    dynamic = {
        "Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "${AWS::StackName}"}}}}
    }
    assert from_templates("s", old, dynamic, create_only).changes[0].replacement == "Conditional"
    tagged = {
        "Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "a", "Tags": [{"Key": "k"}]}}}
    }
    assert from_templates("s", old, tagged, create_only).changes[0].replacement == "False"
    assert from_templates("s", old, old, create_only).changes == []


def test_pull_request_comparison_of_two_assemblies(assembly: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(assembly, base)
    manifest = json.loads((base / "manifest.json").read_text())
    # The base had a service that the pull request removes, and lacked a bucket the pull request adds.
    manifest["artifacts"]["acme-service-legacy-prod"] = {
        "type": "aws:cloudformation:stack",
        "environment": f"aws://{PROD}/{REGION}",
        "properties": {"templateFile": "legacy.template.json"},
    }
    (base / "manifest.json").write_text(json.dumps(manifest))
    (base / "legacy.template.json").write_text(json.dumps(LEGACY_TEMPLATE))
    foundation = json.loads((base / "acme-foundation-prod.template.json").read_text())
    added = next(k for k, v in foundation["Resources"].items() if v["Type"] == "AWS::S3::Bucket")
    del foundation["Resources"][added]
    (base / "acme-foundation-prod.template.json").write_text(json.dumps(foundation))
    results = rollout.compare(base, assembly, create_only_properties(REGION))
    by_stack = {r.stack: r for r in results}
    assert set(by_stack) == {"acme-service-legacy-prod", "acme-foundation-prod"}  # unchanged stacks left out
    assert by_stack["acme-service-legacy-prod"].status == "DELETE"
    assert [c.logical_id for c in by_stack["acme-foundation-prod"].of("added")] == [added]
    everything_new = rollout.compare(None, assembly, create_only_properties(REGION))
    assert all(r.status == "CREATE" for r in everything_new)


def test_a_long_report_is_cut_to_codecommit_comment_limit() -> None:
    assert rollout.fit_comment("short") == "short"
    cut = rollout.fit_comment("x" * 20_000)
    assert len(cut) == rollout.MAX_COMMENT and cut.endswith("the build log has the whole report)\n")
    assert rollout.comment_token("7", "abc") == rollout.comment_token("7", "abc") != rollout.comment_token("7", "abd")


FAKE_CDK = """#!/bin/sh
# Stands in for the pinned CLI: `cdk synth ... -o DIR` writes a one-stack assembly of this checkout.
while [ "$#" -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done
mkdir -p "$out" && cp manifest.json stack.template.json "$out"/
"""


def assembly_files(directory: Path, resources: dict[str, Any]) -> None:
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            "acme-x": {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://{PROD}/{REGION}",
                "properties": {"templateFile": "stack.template.json"},
            }
        },
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "stack.template.json").write_text(json.dumps({"Resources": resources}))


def test_pr_report_synthesizes_the_destination_commit_in_a_worktree_and_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    (repo / "node_modules" / ".bin").mkdir(parents=True)
    cdk = repo / "node_modules" / ".bin" / "cdk"
    cdk.write_text(FAKE_CDK)
    cdk.chmod(0o755)
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "acme-old"}, "DeletionPolicy": "Retain"}
    assembly_files(repo, {"Data": bucket})

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("add", "manifest.json", "stack.template.json")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    base = git("rev-parse", "HEAD").strip()
    new = tmp_path / "new"
    new.mkdir()
    assembly_files(
        new, {"Data": {**bucket, "Properties": {"BucketName": "acme-new"}}, "Queue": {"Type": "AWS::SQS::Queue"}}
    )
    codecommit = client("codecommit")
    stubber = Stubber(codecommit)
    stubber.add_response(
        "post_comment_for_pull_request",
        {},
        {
            "pullRequestId": "7",
            "repositoryName": "acme-platform",
            "beforeCommitId": base,
            "afterCommitId": "f" * 40,
            "content": ANY,
            "clientRequestToken": rollout.comment_token("7", "f" * 40),
        },
    )
    monkeypatch.chdir(repo)
    argv = ["pr-report", "--config", "config/platform.yaml", "--new", str(new), "--destination-commit", base]
    argv += ["--source-commit", "f" * 40, "--pull-request", "7", "--repository", "acme-platform", "--post"]
    with stubber:
        assert rollout.main(argv, codecommit=codecommit) == 0
    stubber.assert_no_pending_responses()
    report = capsys.readouterr().out
    assert f"Compared with the destination commit `{base[:12]}`" in report
    assert "| acme-x | 1 | 0 | 1 | 0 | 0 | **1** |" in report  # BucketName is create-only: a replacement
    assert "replaced: `Data` (AWS::S3::Bucket): BucketName**: CloudFormation deletes the old one" in report
    assert len(git("worktree", "list").splitlines()) == 1  # the temporary worktree is gone


def test_pr_report_needs_the_pull_request_to_post(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new"
    new.mkdir()
    assembly_files(new, {})
    argv = ["pr-report", "--config", "c.yaml", "--new", str(new), "--destination-commit", "0" * 40, "--post"]
    assert rollout.main(argv) == 2
    assert "--post needs --pull-request, --repository and --source-commit" in capsys.readouterr().err
