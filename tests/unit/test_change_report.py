"""tools.change_report on change sets in botocore's DescribeChangeSet shapes (Stubber validates each answer)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tools import change_report

STACK = "acme-service-orders-prod"
CHANGE_SET = "platform-1234"
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def resource(
    logical: str, kind: str, action: str, *, replacement: str | None = None, policy: str | None = None, props=()
) -> dict[str, Any]:
    change: dict[str, Any] = {"Action": action, "LogicalResourceId": logical, "ResourceType": kind}
    if action == "Modify":
        change["Replacement"] = replacement or "False"
        change["Scope"] = ["Properties"]
        change["Details"] = [
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": name,
                    "RequiresRecreation": "Always" if replacement == "True" else "Never",
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
            for name in props
        ]
    if policy:
        change["PolicyAction"] = policy
    return {"Type": "Resource", "ResourceChange": change}


def page(changes: list[dict[str, Any]], token: str | None = None, status: str = "CREATE_COMPLETE") -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ChangeSetName": CHANGE_SET,
        "ChangeSetId": f"arn:aws:cloudformation:eu-west-1:333333333333:changeSet/{CHANGE_SET}/1",
        "StackId": f"arn:aws:cloudformation:eu-west-1:333333333333:stack/{STACK}/1",
        "StackName": STACK,
        "CreationTime": T0,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Status": status,
        "Changes": changes,
    }
    if token:
        answer["NextToken"] = token
    if status == "FAILED":
        answer["StatusReason"] = "The submitted information didn't contain changes."
    return answer


PAGE_1 = [
    resource(
        "Bucket83908E77",
        "AWS::S3::Bucket",
        "Modify",
        replacement="True",
        policy="ReplaceAndRetain",
        props=["BucketName"],
    ),
    resource("DeployerRoleDefaultPolicy", "AWS::IAM::Policy", "Modify", props=["PolicyDocument"]),
    resource("Alarm5xx", "AWS::CloudWatch::Alarm", "Add"),
]
PAGE_2 = [
    resource("OldLogs", "AWS::Logs::LogGroup", "Remove", policy="Retain"),
    resource("Service", "AWS::ECS::Service", "Modify", replacement="Conditional", props=["NetworkConfiguration"]),
    resource("Function", "AWS::Lambda::Function", "Modify", props=["MemorySize"]),
    resource("OldQueue", "AWS::SQS::Queue", "Remove", policy="Delete"),
]


def stubbed() -> tuple[Any, Stubber]:
    client = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="eu-west-1").client(
        "cloudformation"
    )
    return client, Stubber(client)


def test_every_page_is_read_and_each_change_is_sorted() -> None:
    client, stub = stubbed()
    stub.add_response(
        "describe_change_set", page(PAGE_1, token="t2"), {"StackName": STACK, "ChangeSetName": CHANGE_SET}
    )
    stub.add_response(
        "describe_change_set", page(PAGE_2), {"StackName": STACK, "ChangeSetName": CHANGE_SET, "NextToken": "t2"}
    )
    with stub:
        changes = change_report.describe(client, STACK, CHANGE_SET)
    stub.assert_no_pending_responses()
    ids = {what: [c.logical_id for c in changes.of(what)] for what in ("added", "changed", "replaced", "removed")}
    assert ids == {
        "added": ["Alarm5xx"],
        "changed": ["DeployerRoleDefaultPolicy", "Function"],
        "replaced": ["Bucket83908E77", "Service"],
        "removed": ["OldLogs", "OldQueue"],
    }
    assert [c.logical_id for c in changes.changes if c.security] == ["DeployerRoleDefaultPolicy"]
    assert [c.logical_id for c in changes.changes if c.stateful_loss] == ["Bucket83908E77", "OldLogs", "OldQueue"]


def test_the_report_highlights_data_at_risk_and_security() -> None:
    report = change_report.render([change_report.from_pages([page(PAGE_1, token="x"), page(PAGE_2)])])
    assert f"| {STACK} | 1 | 2 | 2 | 2 | 1 | **3** |" in report
    assert (
        "- **replaced: `Bucket83908E77` (AWS::S3::Bucket): BucketName**: CloudFormation keeps the old one "
        "(ReplaceAndRetain); it stays in the account, unmanaged" in report
    )
    assert "- **removed: `OldQueue` (AWS::SQS::Queue)**: CloudFormation deletes the old one (Delete)" in report
    assert "**IAM and security changes** (review who may do what):\n- modify: `DeployerRoleDefaultPolicy`" in report
    assert "`Service` (AWS::ECS::Service): NetworkConfiguration (replacement conditional)" in report


def test_a_change_set_without_changes() -> None:
    report = change_report.render([change_report.from_pages([page([], status="FAILED")])])
    assert f"| {STACK} | 0 | 0 | 0 | 0 | 0 | 0 |" in report
    assert "No changes (The submitted information didn't contain changes.)." in report


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "change-set.json"
    saved.write_text(json.dumps(page(PAGE_2), default=str))
    out = tmp_path / "report.md"
    assert change_report.main(["--from-json", str(saved), "-o", str(out)]) == 0
    assert "OldLogs" in out.read_text()

    client, stub = stubbed()
    stub.add_client_error("describe_change_set", "ChangeSetNotFound", "ChangeSet [x] does not exist")
    with stub:
        assert change_report.main(["--stack", STACK, "--change-set", "x"], cloudformation=client) == 2
    assert "change_report: ChangeSetNotFound" in capsys.readouterr().err
    assert change_report.main(["--stack", STACK]) == 2
    assert "give --stack ... --change-set NAME" in capsys.readouterr().err
    assert change_report.main(["--from-json", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        change_report.main(["--help"])
    assert exit_.value.code == 0
