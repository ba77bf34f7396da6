"""tools.ops against botocore's Stubber (the real service models validate every request and response)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from config.model import ROLLBACK_ALARM_SUFFIXES
from tests.readme_samples import assert_readme_shows, command_line
from tools import ops
from tools.bootstrap import Account, AwsAccess

T0 = datetime(2026, 12, 2, 18, 40, tzinfo=UTC)
E1, E2, E3, NEW = (f"{n}1a2b3c4-5d6e-4f70-8192-a3b4c5d6e7f8" for n in "abcd")
TOKEN = "0f1e2d3c-4b5a-4968-8776-655443322110"
ACCOUNTS = {"tooling": "111111111111", "dev": "222222222222", "prod": "333333333333"}


class StubbedAws(AwsAccess):
    """One stubbed client per (account role, service); STS answers with `accounts` (the config's by default)."""

    def __init__(self, accounts: dict[str, str] | None = None) -> None:
        self.clients: dict[tuple[str, str], Any] = {}
        self.stubs: dict[tuple[str, str], Stubber] = {}
        for role, account in (ACCOUNTS if accounts is None else accounts).items():
            for _ in range(2 if role == "tooling" else 1):  # freeze asks STS again for the caller's ARN
                self.stub(role, "sts").add_response(
                    "get_caller_identity",
                    {"UserId": "AROA", "Account": account, "Arn": f"arn:aws:sts::{account}:assumed-role/Ops/alice"},
                )

    def stub(self, role: str, service: str) -> Stubber:
        if (role, service) not in self.stubs:
            client = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="eu-west-1").client(
                service
            )
            self.clients[(role, service)] = client
            self.stubs[(role, service)] = Stubber(client).__enter__()
        return self.stubs[(role, service)]

    def client(self, account: Account, service: str, region: str | None = None) -> Any:
        self.stub(account.role, service)
        return self.clients[(account.role, service)]


def run(aws: AwsAccess, *argv: str, **kwargs: Any) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = ops.main(list(argv), aws=aws, out=lines.append, sleep=lambda _: None, **kwargs)
    return code, lines


def readme_shows(argv: Sequence[str], lines: Sequence[str]) -> None:
    """The README's Day-2 samples are these tests' outputs."""
    assert_readme_shows(command_line("python", "-m", "tools.ops", *argv), lines)


def state(*stages: dict[str, Any]) -> dict[str, Any]:
    return {"pipelineName": "x", "pipelineVersion": 1, "stageStates": list(stages)}


def stage(
    name: str,
    status: str = "Succeeded",
    execution: str = E1,
    enabled: bool = True,
    reason: str = "ops freeze by Ops alice - holiday",
    **extra: Any,
) -> dict:
    transition: dict[str, Any] = {"enabled": enabled}
    if not enabled:
        transition |= {
            "disabledReason": reason,
            "lastChangedBy": "alice",
            "lastChangedAt": T0,
        }
    return {
        "stageName": name,
        "inboundTransitionState": transition,
        "latestExecution": {"pipelineExecutionId": execution, "status": status},
        **extra,
    }


def approval(name: str, pending: bool) -> dict:
    latest: dict[str, Any] = {"status": "InProgress", "token": TOKEN} if pending else {"status": "Succeeded"}
    return stage(
        name,
        "InProgress" if pending else "Succeeded",
        actionStates=[{"actionName": "Approve", "latestExecution": latest}],
    )


def summary(execution: str, status: str = "Succeeded", **extra: Any) -> dict:
    return {
        "pipelineExecutionId": execution,
        "status": status,
        "startTime": T0,
        "sourceRevisions": [{"actionName": "Source", "revisionId": "9f8e7d6c5b4a", "revisionSummary": "Fix totals"}],
        **extra,
    }


def executions(*items: dict) -> dict:
    return {"pipelineExecutionSummaries": list(items)}


FULL = [
    stage("Source"),
    stage("Build"),
    stage("Test"),
    stage("Deploy-dev"),
    approval("Approve-prod", False),
    stage("Deploy-prod"),
]


# ----- help and argument errors -----


@pytest.mark.parametrize(
    "command", ["status", "approve", "reject", "stop", "rollback", "override", "freeze", "unfreeze"]
)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        ops.main([command, "--help"])
    assert exit_.value.code == 0
    assert f"python -m tools.ops {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "--service", "nope"], "unknown service nope; allowed: storefront, orders, pricing"),
        (["status", "--environment", "qa"], "unknown environment qa; allowed: dev, prod"),
        (["approve", "orders", "qa", "--comment", "x"], "unknown environment qa; allowed: dev, prod"),
        (["approve", "orders", "dev", "--comment", "x"], "dev has no approval stage; environments with approval: prod"),
        (["stop", "nope", "--reason", "x"], "unknown service nope"),
        (["freeze", "--reason", "x", "--until", "2020-01-01T00:00Z"], "is in the past"),
    ],
)
def test_bad_names_are_refused_before_aws(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(StubbedAws({}), *argv, now=lambda: T0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_wrong_account_profile_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(StubbedAws({"tooling": "999999999999"}), "stop", "orders", "--reason", "x")
    assert code == 2
    err = capsys.readouterr().err
    assert "is account 999999999999" in err and "expects tooling account 111111111111" in err
    assert "Traceback" not in err


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    text = (ops.load_config.__globals__["DEFAULT_CONFIG"]).read_text()
    config = tmp_path / "p.yaml"
    config.write_text("\n".join(line for line in text.splitlines() if "profile:" not in line))
    code = ops.main(["-c", str(config), "stop", "orders", "--reason", "x"])
    assert code == 2
    assert "no AWS credentials for the tooling account 111111111111" in capsys.readouterr().err


def test_unknown_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    assert ops.main(["stop", "orders", "--reason", "x"]) == 2
    assert "profile 'acme-tooling' for the tooling account 111111111111" in capsys.readouterr().err


def test_pipeline_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    aws.stub("tooling", "codepipeline").add_client_error("get_pipeline_state", "PipelineNotFoundException")
    assert run(aws, "stop", "orders", "--reason", "x")[0] == 2
    assert "pipeline acme-orders not found in the tooling account 111111111111" in capsys.readouterr().err


def test_access_denied(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    aws.stub("tooling", "codepipeline").add_client_error(
        "get_pipeline_state", "AccessDeniedException", "not authorized to perform codepipeline:GetPipelineState"
    )
    assert run(aws, "stop", "orders", "--reason", "x")[0] == 2
    err = capsys.readouterr().err
    assert "access denied to stop: not authorized" in err and "Traceback" not in err


# ----- status -----


def _status_stubs(aws: StubbedAws, *, dev_alarm: str = "OK", prod_reason: str | None = None) -> None:
    cp = aws.stub("tooling", "codepipeline")
    held = stage("Deploy-prod", "Failed", E2, enabled=False, **({"reason": prod_reason} if prod_reason else {}))
    stages = [*FULL[:5], held]
    cp.add_response("get_pipeline_state", state(*stages), {"name": "acme-orders"})
    cp.add_response(
        "list_pipeline_executions", executions(summary(E2, "Failed")), {"pipelineName": "acme-orders", "maxResults": 1}
    )
    for env in ("dev", "prod"):
        cp.add_response(
            "list_pipeline_executions",
            executions(summary(E1)),
            {
                "pipelineName": "acme-orders",
                "maxResults": 1,
                "filter": {"succeededInStage": {"stageName": f"Deploy-{env}"}},
            },
        )
    names = [f"acme-dev-orders-{w}" for w in ROLLBACK_ALARM_SUFFIXES["ecs"]]
    aws.stub("dev", "cloudwatch").add_response(
        "describe_alarms",
        {"MetricAlarms": [{"AlarmName": n, "StateValue": dev_alarm if "blue-target" in n else "OK"} for n in names]},
        {"AlarmNames": names, "AlarmTypes": ["MetricAlarm"]},
    )


def test_status_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws, dev_alarm="ALARM")
    code, lines = run(aws, "status", "--service", "orders")
    assert code == 0
    table = lines[0]
    readme_shows(["status", "--service", "orders"], [table])
    assert "ALARM: blue-target-5xx" in table
    assert "FROZEN" in table and "holiday" in table
    assert "unknown (no access)" in table and "is account 999999999999" in table
    assert "9f8e7d6 Fix totals" in table and "Failed" in table

    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws)
    code, lines = run(aws, "status", "--service", "orders", "--json")
    rows = json.loads(lines[0])
    assert [r["environment"] for r in rows] == ["dev", "prod"]
    assert rows[0]["alarms"] == dict.fromkeys((f"acme-dev-orders-{w}" for w in ROLLBACK_ALARM_SUFFIXES["ecs"]), "OK")
    assert rows[1]["alarms"] is None and rows[1]["freeze"][0]["stage"] == "Deploy-prod"
    assert rows[1]["approval"] == "none" and rows[0]["approval"] is None
    assert rows[1]["deploy_status"] == "Failed" and rows[1]["live_execution"] == E1


def test_rollback_alarm_names_match_the_service_templates() -> None:

    snapshots = Path(__file__).parent.parent / "snapshot" / "__snapshots__" / "test_snapshots"
    for service, platform in (("storefront", "ec2"), ("orders", "ecs"), ("pricing", "lambda")):
        text = (snapshots / f"test_every_stack_matches_its_snapshot[acme-service-{service}-dev].json").read_text()
        found = sorted(set(__import__("re").findall(rf'"AlarmName": "acme-dev-{service}-([a-z0-9-]+)"', text)))
        assert found == sorted(ROLLBACK_ALARM_SUFFIXES[platform])


# ----- approve / reject -----


@pytest.mark.parametrize(("verb", "status"), [("approve", "Approved"), ("reject", "Rejected")])
def test_approve_and_reject(verb: str, status: str) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(approval("Approve-prod", True)), {"name": "acme-orders"})
    cp.add_response(
        "put_approval_result",
        {"approvedAt": T0},
        {
            "pipelineName": "acme-orders",
            "stageName": "Approve-prod",
            "actionName": "Approve",
            "result": {"summary": "dev looks good", "status": status},
            "token": TOKEN,
        },
    )
    code, lines = run(aws, verb, "orders", "prod", "--comment", "dev looks good")
    assert code == 0 and lines == [f"acme-orders Approve-prod: {status.lower()} (dev looks good)"]
    readme_shows([verb, "orders", "prod", "--comment", "dev looks good"], lines)
    cp.assert_no_pending_responses()


def test_approve_with_nothing_pending(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    aws.stub("tooling", "codepipeline").add_response("get_pipeline_state", state(approval("Approve-prod", False)))
    assert run(aws, "approve", "orders", "prod", "--comment", "ok")[0] == 2
    assert "nothing is waiting for approval in acme-orders Approve-prod" in capsys.readouterr().err


def test_approve_already_completed(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(approval("Approve-prod", True)))
    cp.add_client_error("put_approval_result", "ApprovalAlreadyCompletedException")
    assert run(aws, "approve", "orders", "prod", "--comment", "ok")[0] == 2
    assert "completed or replaced meanwhile" in capsys.readouterr().err


# ----- stop -----


def test_stop_the_execution_in_progress() -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL))
    cp.add_response("list_pipeline_executions", executions(summary(E2, "InProgress"), summary(E1)))
    cp.add_response(
        "stop_pipeline_execution",
        {"pipelineExecutionId": E2},
        {"pipelineName": "acme-orders", "pipelineExecutionId": E2, "abandon": True, "reason": "bad build"},
    )
    code, lines = run(aws, "stop", "orders", "--reason", "bad build")
    assert code == 0 and lines == [f"acme-orders: stopping and abandoning execution {E2} (bad build)"]
    readme_shows(["stop", "orders", "--reason", "bad build"], lines)


@pytest.mark.parametrize(
    ("running", "argv", "message"),
    [
        ([], [], "acme-orders has no execution in progress"),
        ([E2, E3], [], "has 2 executions in progress; choose one: --execution-id"),
        ([E2], ["--execution-id", E3], f"execution {E3} of acme-orders is not in progress; in progress: {E2}"),
    ],
)
def test_stop_errors(running: list[str], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL))
    cp.add_response("list_pipeline_executions", executions(*(summary(e, "InProgress") for e in running), summary(E1)))
    assert run(aws, "stop", "orders", "--reason", "x", *argv)[0] == 2
    assert message in capsys.readouterr().err


def test_stop_not_stoppable(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL))
    cp.add_response("list_pipeline_executions", executions(summary(E2, "InProgress")))
    cp.add_client_error("stop_pipeline_execution", "PipelineExecutionNotStoppableException")
    assert run(aws, "stop", "orders", "--reason", "x")[0] == 2
    assert "cannot be stopped any more" in capsys.readouterr().err


# ----- rollback -----

GROUP = {
    "applicationName": "acme-prod-orders",
    "deploymentGroupName": "acme-prod-orders",
    "includeOnlyStatuses": ops.RUNNING_DEPLOYMENT,
}


def test_rollback_stops_a_running_deployment_and_waits() -> None:
    aws = StubbedAws()
    aws.stub("tooling", "codepipeline").add_response("get_pipeline_state", state(*FULL))
    cd = aws.stub("prod", "codedeploy")
    cd.add_response("list_deployments", {"deployments": ["d-ABC123"]}, GROUP)
    cd.add_response(
        "stop_deployment",
        {"status": "Pending", "statusMessage": "Stopping"},
        {"deploymentId": "d-ABC123", "autoRollbackEnabled": True},
    )
    cd.add_response("get_deployment", {"deploymentInfo": {"deploymentId": "d-ABC123", "status": "InProgress"}})
    cd.add_response(
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": "d-ABC123",
                "status": "Stopped",
                "rollbackInfo": {"rollbackDeploymentId": "d-XYZ789"},
            }
        },
    )
    code, lines = run(aws, "rollback", "orders", "prod", "--wait")
    assert code == 0
    assert lines[0] == "acme-prod-orders: stopping CodeDeploy deployment d-ABC123 with rollback (Pending: Stopping)"
    assert lines[1:] == ["  0s: d-ABC123 InProgress", "  15s: d-ABC123 Stopped, rollback deployment d-XYZ789"]
    readme_shows(["rollback", "orders", "prod", "--wait"], lines)


def test_rollback_stage_to_the_previous_success_and_waits() -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:5], stage("Deploy-prod", "Succeeded", E3)))
    aws.stub("prod", "codedeploy").add_response("list_deployments", {"deployments": []}, GROUP)
    cp.add_response(
        "list_pipeline_executions",
        executions(summary(E3), summary(E2), summary(E1)),
        {"pipelineName": "acme-orders", "filter": {"succeededInStage": {"stageName": "Deploy-prod"}}},
    )
    cp.add_response(
        "rollback_stage",
        {"pipelineExecutionId": NEW},
        {"pipelineName": "acme-orders", "stageName": "Deploy-prod", "targetPipelineExecutionId": E2},
    )
    cp.add_response(
        "get_pipeline_execution",
        {"pipelineExecution": {"pipelineExecutionId": NEW, "status": "Succeeded"}},
        {"pipelineName": "acme-orders", "pipelineExecutionId": NEW},
    )
    code, lines = run(aws, "rollback", "orders", "prod", "--wait")
    assert code == 0
    assert lines == [
        f"acme-orders Deploy-prod: rolling back to execution {E2} (revision 9f8e7d6 Fix totals) as execution {NEW}",
        f"  0s: {NEW} Succeeded",
    ]
    readme_shows(["rollback", "orders", "prod", "--wait"], lines)


def test_rollback_after_a_failed_deploy_goes_to_the_live_release() -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:5], stage("Deploy-prod", "Failed", E3)))
    aws.stub("prod", "codedeploy").add_response("list_deployments", {"deployments": []}, GROUP)
    cp.add_response("list_pipeline_executions", executions(summary(E2), summary(E1)))
    cp.add_response(
        "rollback_stage",
        {"pipelineExecutionId": NEW},
        {"pipelineName": "acme-orders", "stageName": "Deploy-prod", "targetPipelineExecutionId": E2},
    )
    assert run(aws, "rollback", "orders", "prod")[0] == 0


def test_rollback_wait_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL))
    aws.stub("prod", "codedeploy").add_response("list_deployments", {"deployments": []}, GROUP)
    cp.add_response("list_pipeline_executions", executions(summary(E1, executionType="STANDARD"), summary(E2)))
    cp.add_response("rollback_stage", {"pipelineExecutionId": NEW})
    for _ in range(3):
        cp.add_response(
            "get_pipeline_execution", {"pipelineExecution": {"pipelineExecutionId": NEW, "status": "InProgress"}}
        )
    code, lines = run(aws, "rollback", "orders", "prod", "--wait", "--timeout", "30")
    assert code == 2 and len(lines) == 4
    assert "still not finished after 30 s" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("deploy", "succeeded", "error", "message"),
    [
        ("InProgress", [], None, "is running but no CodeDeploy deployment is"),
        ("Succeeded", [], None, "no execution of acme-orders ever succeeded in Deploy-prod"),
        ("Succeeded", [E1], None, "no earlier execution of acme-orders succeeded in Deploy-prod"),
        ("Succeeded", [E1, E2], "UnableToRollbackStageException", "CodePipeline cannot roll acme-orders Deploy-prod"),
    ],
)
def test_rollback_errors(
    deploy: str, succeeded: list[str], error: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:5], stage("Deploy-prod", deploy, E1)))
    aws.stub("prod", "codedeploy").add_response("list_deployments", {"deployments": []})
    if deploy != "InProgress":
        cp.add_response("list_pipeline_executions", executions(*(summary(e) for e in succeeded)))
    if error:
        cp.add_client_error("rollback_stage", error)
    assert run(aws, "rollback", "orders", "prod")[0] == 2
    assert message in capsys.readouterr().err


def test_rollback_without_deployment_group(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    aws.stub("tooling", "codepipeline").add_response("get_pipeline_state", state(*FULL))
    aws.stub("prod", "codedeploy").add_client_error("list_deployments", "DeploymentGroupDoesNotExistException")
    assert run(aws, "rollback", "orders", "prod")[0] == 2
    assert "deploy acme-service-orders-prod first" in capsys.readouterr().err


# ----- freeze / unfreeze -----

REASON = (
    "ops freeze by arn aws sts 111111111111 assumed-role Ops alice at 2026-12-02 18.40 UTC until "
    "2026-12-27 08.00 UTC - holiday"
)


def _freeze_state(cp: Stubber, service: str, enabled: bool = True) -> None:
    cp.add_response(
        "get_pipeline_state",
        state(
            *FULL[:3],
            stage("Deploy-dev"),
            approval("Approve-prod", False) | {"inboundTransitionState": {"enabled": enabled}},
            stage("Deploy-prod"),
        ),
        {"name": f"acme-{service}"},
    )


def test_freeze_records_who_when_until_why() -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    _freeze_state(cp, "orders")
    expect_disable(cp, "Approve-prod", "Deploy-prod", reason=REASON)
    code, lines = run(
        aws,
        "freeze",
        "--service",
        "orders",
        "--environment",
        "prod",
        "--reason",
        "holiday",
        "--until",
        "2026-12-27T08:00Z",
        now=lambda: T0,
    )
    assert code == 0, lines
    assert lines == ["acme-orders Approve-prod: frozen", "acme-orders Deploy-prod: frozen", f"reason: {REASON}"]
    limit, pattern = ops.reason_limits(aws.clients[("tooling", "codepipeline")])
    assert limit == 300 and pattern.fullmatch(REASON)


def test_freeze_undoes_what_it_did_when_one_call_fails(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    _freeze_state(cp, "storefront")
    _freeze_state(cp, "orders")
    cp.add_response(
        "disable_stage_transition",
        {},
        {"pipelineName": "acme-storefront", "stageName": "Approve-prod", "transitionType": "Inbound", "reason": ANY},
    )
    cp.add_response(
        "disable_stage_transition",
        {},
        {"pipelineName": "acme-storefront", "stageName": "Deploy-prod", "transitionType": "Inbound", "reason": ANY},
    )
    cp.add_client_error("disable_stage_transition", "AccessDeniedException", "denied")
    for name in ("Deploy-prod", "Approve-prod"):
        cp.add_response(
            "enable_stage_transition",
            {},
            {"pipelineName": "acme-storefront", "stageName": name, "transitionType": "Inbound"},
        )
    code, _ = run(
        aws,
        "freeze",
        "--service",
        "storefront",
        "--service",
        "orders",
        "--environment",
        "prod",
        "--reason",
        "holiday",
        now=lambda: T0,
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "access denied to freezing acme-orders Approve-prod" in err
    assert "undone: acme-storefront Approve-prod, acme-storefront Deploy-prod (back as before)" in err
    cp.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("reason", "message"),
    [("CHG-1, see wiki", "--reason contains ','"), ("x" * 250, "shorten --reason to at most")],
)
def test_freeze_reason_is_refused_clearly(reason: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    code, _ = run(aws, "freeze", "--reason", reason, now=lambda: T0)
    assert code == 2 and message in capsys.readouterr().err


def test_unfreeze_and_its_undo(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    frozen = stage("Deploy-prod", enabled=False)
    cp.add_response("get_pipeline_state", state(*FULL[:5], frozen))
    cp.add_response(
        "enable_stage_transition",
        {},
        {"pipelineName": "acme-orders", "stageName": "Deploy-prod", "transitionType": "Inbound"},
    )
    code, lines = run(aws, "unfreeze", "--service", "orders", "--environment", "prod")
    assert code == 0
    assert lines == ["acme-orders Deploy-prod: unfrozen (was: ops freeze by Ops alice - holiday)"]

    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:3], stage("Deploy-dev", enabled=False), FULL[4], frozen))
    cp.add_response("enable_stage_transition", {})
    cp.add_client_error("enable_stage_transition", "ValidationException", "boom")
    expect_disable(cp, "Deploy-dev", reason="ops freeze by Ops alice - holiday")
    assert run(aws, "unfreeze", "--service", "orders")[0] == 2
    assert "undone: acme-orders Deploy-dev (back as before)" in capsys.readouterr().err


def test_unfreeze_with_nothing_frozen() -> None:
    aws = StubbedAws()
    aws.stub("tooling", "codepipeline").add_response("get_pipeline_state", state(*FULL))
    assert run(aws, "unfreeze", "--service", "orders") == (0, ["nothing was frozen"])


# ----- override -----

PIPELINE_ARN = f"arn:aws:codepipeline:eu-west-1:{ACCOUNTS['tooling']}:acme-orders"
RECORD = f"by arn:aws:sts::{ACCOUNTS['tooling']}:assumed-role/Ops/alice at 2026-12-02T18:40Z on {E2} - CHG-42 hotfix"


def waiting(condition_key: str = "beforeEntryConditionState", status: str = "InProgress") -> dict[str, Any]:
    """Deploy-prod with execution E2 held at a condition (GetPipelineState's StageConditionState)."""
    held = {
        "latestExecution": {"status": status, "summary": "Healthy-dev-alarm is in ALARM"},
        "conditionStates": [{"latestExecution": {"status": status, "summary": "waiting"}}],
    }
    return stage("Deploy-prod", "InProgress", execution=E2, **{condition_key: held})


def _override_calls(cp: Stubber, tags: list[dict[str, str]] | None = None) -> None:
    cp.add_response("list_tags_for_resource", {"tags": tags or []}, {"resourceArn": PIPELINE_ARN})
    cp.add_response(
        "tag_resource",
        {},
        {"resourceArn": PIPELINE_ARN, "tags": [{"key": "ops-override-Deploy-prod", "value": RECORD}]},
    )


@pytest.mark.parametrize(
    ("flag", "condition_key", "condition_type"),
    [
        ([], "beforeEntryConditionState", "BEFORE_ENTRY"),
        (["--condition", "bake"], "onSuccessConditionState", "ON_SUCCESS"),
    ],
)
def test_override_lets_the_waiting_execution_past_once_and_records_it(
    flag: list[str], condition_key: str, condition_type: str
) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:5], waiting(condition_key)), {"name": "acme-orders"})
    _override_calls(cp)
    cp.add_response(
        "override_stage_condition",
        {},
        {
            "pipelineName": "acme-orders",
            "stageName": "Deploy-prod",
            "pipelineExecutionId": E2,
            "conditionType": condition_type,
        },
    )
    code, lines = run(aws, "override", "orders", "prod", *flag, "--reason", "CHG-42 hotfix", now=lambda: T0)
    assert code == 0, lines
    what = "entry" if not flag else "bake"
    assert lines == [
        f"acme-orders Deploy-prod: {what} condition overridden for execution {E2}",
        f"recorded in tag ops-override-Deploy-prod: {RECORD}",
    ]
    if not flag:
        readme_shows(["override", "orders", "prod", "--reason", "CHG-42 hotfix"], lines)
    cp.assert_no_pending_responses()


@pytest.mark.parametrize("status", ["Failed", "Succeeded", "Overridden", None])
def test_override_refuses_a_condition_that_is_not_being_evaluated(
    status: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    deploy = waiting(status=status) if status else stage("Deploy-prod")
    cp.add_response("get_pipeline_state", state(*FULL[:5], deploy), {"name": "acme-orders"})
    code, _ = run(aws, "override", "orders", "prod", "--reason", "CHG-42 hotfix", now=lambda: T0)
    assert code == 2
    err = capsys.readouterr().err
    assert f"nothing to override in acme-orders Deploy-prod: its entry condition is {status or 'not being'}" in err
    cp.assert_no_pending_responses()  # nothing was tagged, nothing overridden


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("ConditionNotOverridableException", "ConditionNotOverridableException"),
        ("NotLatestPipelineExecutionException", "NotLatestPipelineExecutionException"),
        ("AccessDeniedException", "access denied to overriding acme-orders Deploy-prod"),
    ],
)
@pytest.mark.parametrize("earlier", [None, "by bob at 2026-11-30T09:00Z on x - CHG-40"])
def test_a_failed_override_puts_the_audit_tag_back(
    error: str, message: str, earlier: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:5], waiting()), {"name": "acme-orders"})
    _override_calls(cp, [{"key": "ops-override-Deploy-prod", "value": earlier}] if earlier else None)
    cp.add_client_error("override_stage_condition", error, "no")
    if earlier:
        cp.add_response(
            "tag_resource",
            {},
            {"resourceArn": PIPELINE_ARN, "tags": [{"key": "ops-override-Deploy-prod", "value": earlier}]},
        )
    else:
        cp.add_response("untag_resource", {}, {"resourceArn": PIPELINE_ARN, "tagKeys": ["ops-override-Deploy-prod"]})
    code, _ = run(aws, "override", "orders", "prod", "--reason", "CHG-42 hotfix", now=lambda: T0)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "the audit tag was put back" in err
    cp.assert_no_pending_responses()


def test_override_reasons_are_refused_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    cp.add_response("get_pipeline_state", state(*FULL[:5], waiting()), {"name": "acme-orders"})
    code, _ = run(aws, "override", "orders", "prod", "--reason", "x" * 250, now=lambda: T0)
    assert code == 2 and "shorten --reason to at most 141 characters" in capsys.readouterr().err
    code, _ = run(StubbedAws(), "override", "orders", "prod", "--reason", "  ", now=lambda: T0)
    assert code == 2 and "--reason is empty" in capsys.readouterr().err
    code, _ = run(StubbedAws(), "override", "orders", "qa", "--reason", "x", now=lambda: T0)
    assert code == 2 and "qa" in capsys.readouterr().err


def test_status_shows_the_configs_freezes_in_force(tmp_path: Any) -> None:
    import yaml

    from tests.config_cases import example_config

    raw = example_config()
    raw["freezes"] = [
        {"name": "year-end", "cron": "* * * ? DEC * *", "timezone": "Europe/Berlin", "reason": "Year-end freeze"},
        {"name": "dev-nights", "cron": "* * 0-5 ? * *", "reason": "Batch", "environments": ["dev"]},
    ]
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(raw))
    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws)
    december_noon = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
    code, lines = run(aws, "-c", str(config), "status", "--service", "orders", "--json", now=lambda: december_noon)
    assert code == 0
    rows = json.loads(lines[0])
    assert rows[0]["planned_freeze"] == [
        {"name": "year-end", "reason": "Year-end freeze", "until": "2027-01-01 00:00 Europe/Berlin", "during": "fail"}
    ]
    assert [f["name"] for f in rows[1]["planned_freeze"]] == ["year-end"]  # dev's nights: not at noon, not prod

    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws)
    code, lines = run(aws, "-c", str(config), "status", "--service", "orders", now=lambda: december_noon)
    dev_row = next(line for line in lines[0].splitlines() if " dev " in f" {line} ")
    assert "PLANNED" in dev_row
    assert "orders/dev: in freeze year-end (Year-end freeze) until 2027-01-01 00:00 Europe/Berlin" in lines[0]

    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws)
    code, lines = run(
        aws, "-c", str(config), "status", "--service", "orders", "--json", now=lambda: T0.replace(month=6)
    )
    assert [r["planned_freeze"] for r in json.loads(lines[0])] == [[], []]


def test_status_tells_a_waiting_freezes_hold_from_an_ad_hoc_one(tmp_path: Any) -> None:
    """A `during: wait` freeze's schedule disabled Deploy-prod: PLANNED with how to get past it while the freeze
    is in force; FROZEN (a hold nobody released, e.g. its end schedule failed) once it is not."""
    import yaml

    from tests.config_cases import example_config

    raw = example_config()
    raw["freezes"] = [
        {
            "name": "prod-weekends",
            "cron": "* * * ? * SAT,SUN",
            "timezone": "Europe/Berlin",
            "reason": "Weekend",
            "environments": ["prod"],
            "during": "wait",
        }
    ]
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(raw))
    reason = "planned freeze prod-weekends - Weekend"
    saturday, monday = datetime(2026, 12, 5, 12, tzinfo=UTC), datetime(2026, 12, 7, 12, tzinfo=UTC)

    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws, prod_reason=reason)
    code, lines = run(aws, "-c", str(config), "status", "--service", "orders", now=lambda: saturday)
    assert code == 0
    prod_row = next(line for line in lines[0].splitlines() if " prod " in f" {line} ")
    assert "PLANNED" in prod_row and "FROZEN" not in prod_row
    assert (
        "orders/prod: in freeze prod-weekends (Weekend) until 2026-12-07 00:00 Europe/Berlin, executions wait "
        "before it; emergency: tools.ops unfreeze --service orders --environment prod --planned-too, then tools.ops "
        "override "
        "orders prod --reason TEXT"
    ) in lines[0]

    aws = StubbedAws({"tooling": ACCOUNTS["tooling"], "dev": ACCOUNTS["dev"], "prod": "999999999999"})
    _status_stubs(aws, prod_reason=reason)
    code, lines = run(aws, "-c", str(config), "status", "--service", "orders", "--json", now=lambda: monday)
    rows = json.loads(lines[0])
    assert rows[1]["planned_freeze"] == [] and [f["reason"] for f in rows[1]["freeze"]] == [reason]


# ----- ad-hoc freezes and the schedules of waiting freezes -----

NIGHTS = {
    "name": "prod-nights",
    "cron": "* * 0-5 ? * *",
    "timezone": "UTC",
    "reason": "Nightly loads",
    "environments": ["prod"],
    "during": "wait",
}
NIGHT, NOON = datetime(2026, 12, 3, 3, tzinfo=UTC), datetime(2026, 12, 3, 12, tzinfo=UTC)


def _waiting_config(tmp_path: Any) -> tuple[str, list[Any]]:
    """A config whose prod nights wait, and the four schedules of orders/prod (two edges x two stages)."""
    import yaml

    from config import parse_config
    from config.names import Names
    from tests.config_cases import example_config

    raw = example_config()
    raw["freezes"] = [NIGHTS]
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = parse_config(raw)
    orders = next(s for s in config.services if s.name == "orders")
    schedules = Names(config).freeze_schedules(orders, config.environment("prod"))
    assert [(s.stage, s.edge) for s in schedules] == [
        ("Approve-prod", "start"),
        ("Deploy-prod", "start"),
        ("Approve-prod", "end"),
        ("Deploy-prod", "end"),
    ]
    return str(path), schedules


def _waiting_setup(tmp_path: Any) -> tuple[str, list[Any], StubbedAws, Stubber, Stubber]:
    """The waiting config, its orders/prod schedules, and stubbed AWS with its CodePipeline and Scheduler."""
    config, schedules = _waiting_config(tmp_path)
    aws = StubbedAws()
    return config, schedules, aws, aws.stub("tooling", "codepipeline"), aws.stub("tooling", "scheduler")


def schedule(planned: Any, state: str) -> dict[str, Any]:
    """GetSchedule's answer for one of the pipeline stack's schedules (the shape the construct creates)."""
    action = "disableStageTransition" if planned.edge == "start" else "enableStageTransition"
    request = {"pipelineName": "acme-orders", "stageName": planned.stage, "transitionType": "Inbound"}
    if planned.edge == "start":
        request["reason"] = "planned freeze prod-nights - Nightly loads"
    return {
        "Arn": f"arn:aws:scheduler:eu-west-1:{ACCOUNTS['tooling']}:schedule/default/{planned.name}",
        "Name": planned.name,
        "GroupName": "default",
        "Description": f"{'Hold' if planned.edge == 'start' else 'Release'} acme-orders {planned.stage}",
        "ScheduleExpression": f"cron({planned.cron})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": state,
        "Target": {
            "Arn": f"arn:aws:scheduler:::aws-sdk:codepipeline:{action}",
            "RoleArn": f"arn:aws:iam::{ACCOUNTS['tooling']}:role/acme-freeze-transitions",
            "Input": json.dumps(request),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3000, "MaximumRetryAttempts": 20},
            "DeadLetterConfig": {"Arn": f"arn:aws:sqs:eu-west-1:{ACCOUNTS['tooling']}:acme-orders-dead-letters"},
        },
        "CreationDate": T0,
        "LastModificationDate": T0,
    }


def set_state(sc: Stubber, planned: Any, was: str, to: str) -> None:
    """GetSchedule, then UpdateSchedule with everything it read (what UpdateSchedule takes) and the new state."""
    got = schedule(planned, was)
    sc.add_response("get_schedule", got, {"Name": planned.name, "GroupName": "default"})
    kept = {k: v for k, v in got.items() if k not in ("Arn", "CreationDate", "LastModificationDate", "State")}
    sc.add_response("update_schedule", {"ScheduleArn": got["Arn"]}, kept | {"State": to})


def freeze_orders_prod(
    aws: StubbedAws, config: str, moment: datetime, reason: str = "incident"
) -> tuple[int, list[str]]:
    argv = ["-c", config, "freeze", "--service", "orders", "--environment", "prod", "--reason", reason]
    return run(aws, *argv, now=lambda: moment)


def expect_disable(cp: Stubber, *stages: str, reason: Any = ANY) -> None:
    for name in stages:
        cp.add_response(
            "disable_stage_transition",
            {},
            {"pipelineName": "acme-orders", "stageName": name, "transitionType": "Inbound", "reason": reason},
        )


def test_freeze_pauses_the_waiting_freezes_schedules_before_it_holds_the_stages(tmp_path: Any) -> None:
    config, schedules, aws, cp, sc = _waiting_setup(tmp_path)
    _freeze_state(cp, "orders")
    for planned in schedules:
        set_state(sc, planned, "ENABLED", "DISABLED")
    expect_disable(cp, "Approve-prod", "Deploy-prod")
    # The evening before the night freeze: the stages are open, and the freeze holds them past its end.
    code, lines = freeze_orders_prod(aws, config, datetime(2026, 12, 2, 23, 10, tzinfo=UTC), "INC-7 database failover")
    assert code == 0, lines
    assert lines[0] == "paused 4 schedule(s) of waiting freezes: no planned edge changes these stages until unfreeze"
    assert lines[1:3] == ["acme-orders Approve-prod: frozen", "acme-orders Deploy-prod: frozen"]
    shown = ["freeze", "--service", "orders", "--environment", "prod", "--reason", "INC-7 database failover"]
    readme_shows(shown, lines)
    cp.assert_no_pending_responses()
    sc.assert_no_pending_responses()


def test_freeze_inside_a_waiting_freeze_keeps_its_hold_past_the_freezes_end(tmp_path: Any) -> None:
    # At night the schedules hold prod already; pausing them keeps the 06:00 edge from releasing it.
    config, schedules, aws, cp, sc = _waiting_setup(tmp_path)
    _freeze_state(cp, "orders", enabled=False)
    for planned in schedules:
        set_state(sc, planned, "ENABLED", "DISABLED")
    expect_disable(cp, "Deploy-prod")
    code, lines = freeze_orders_prod(aws, config, NIGHT)
    assert code == 0, lines
    assert lines[0].startswith("paused 4 schedule(s)")
    assert lines[1].startswith("acme-orders Approve-prod: already frozen (")
    sc.assert_no_pending_responses()


def test_a_schedule_that_cannot_be_paused_undoes_the_others_and_holds_nothing(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config, schedules, aws, cp, sc = _waiting_setup(tmp_path)
    _freeze_state(cp, "orders")
    set_state(sc, schedules[0], "ENABLED", "DISABLED")
    # Paused already: read, left as it is, and not resumed by the undo.
    sc.add_response(
        "get_schedule", schedule(schedules[1], "DISABLED"), {"Name": schedules[1].name, "GroupName": "default"}
    )
    sc.add_response(
        "get_schedule", schedule(schedules[2], "ENABLED"), {"Name": schedules[2].name, "GroupName": "default"}
    )
    sc.add_client_error("update_schedule", "AccessDeniedException", "not authorized to perform: iam:PassRole")
    set_state(sc, schedules[0], "DISABLED", "ENABLED")
    code, _ = freeze_orders_prod(aws, config, NOON)
    assert code == 2
    err = capsys.readouterr().err
    assert f"pausing schedule {schedules[2].name}" in err and "iam:PassRole" in err
    assert "schedules put back: 1 of 1; no transition had been changed" in err
    cp.assert_no_pending_responses()  # no DisableStageTransition was called
    sc.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("moment", "planned_too", "enabled"),
    [(NOON, False, True), (NIGHT, False, False), (NIGHT, True, True)],
    ids=["outside-the-freeze", "inside-it-stays-held", "inside-it-planned-too"],
)
def test_unfreeze_resumes_the_schedules_and_leaves_a_waiting_freezes_hold(
    tmp_path: Any, moment: datetime, planned_too: bool, enabled: bool
) -> None:
    config, schedules, aws, cp, sc = _waiting_setup(tmp_path)
    # What `freeze` left: both stages held by the operator.
    held = [stage(name, enabled=False) for name in ("Approve-prod", "Deploy-prod")]
    cp.add_response("get_pipeline_state", state(*FULL[:4], *held))
    stages = ("Approve-prod", "Deploy-prod")
    if enabled:
        for name in stages:
            cp.add_response(
                "enable_stage_transition",
                {},
                {"pipelineName": "acme-orders", "stageName": name, "transitionType": "Inbound"},
            )
    for planned in schedules:
        set_state(sc, planned, "DISABLED", "ENABLED")
    argv = ["-c", config, "unfreeze", "--service", "orders", "--environment", "prod"]
    code, lines = run(aws, *argv, *(["--planned-too"] if planned_too else []), now=lambda: moment)
    assert code == 0, lines
    if enabled:
        was = "ops freeze by Ops alice - holiday"
        assert lines[:2] == [f"acme-orders {name}: unfrozen (was: {was})" for name in stages]
    else:
        assert lines[:2] == [
            f"acme-orders {name}: left held: freeze prod-nights waits until 2026-12-03 06:00 UTC and its end "
            "enables it (--planned-too lifts it now)"
            for name in stages
        ]
        readme_shows(["unfreeze", "--service", "orders", "--environment", "prod"], lines)
    assert lines[2:] == ["resumed 4 paused schedule(s) of waiting freezes"]
    cp.assert_no_pending_responses()
    sc.assert_no_pending_responses()


def test_unfreeze_holds_again_what_it_enabled_when_a_schedule_cannot_be_resumed(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config, schedules, aws, cp, sc = _waiting_setup(tmp_path)
    cp.add_response("get_pipeline_state", state(*FULL[:5], stage("Deploy-prod", enabled=False)))
    cp.add_response("enable_stage_transition", {})
    sc.add_client_error("get_schedule", "ResourceNotFoundException", "Schedule not found")
    expect_disable(cp, "Deploy-prod", reason="ops freeze by Ops alice - holiday")
    code, _ = run(aws, "-c", config, "unfreeze", "--service", "orders", "--environment", "prod", now=lambda: NOON)
    assert code == 2
    err = capsys.readouterr().err
    assert f"resuming schedule {schedules[0].name}" in err
    assert "undone: acme-orders Deploy-prod (back as before)" in err
    cp.assert_no_pending_responses()


def test_a_status_of_many_pipelines_says_how_far_it_got(tmp_path: Any) -> None:
    import yaml

    from config import parse_config
    from config.names import Names
    from tools.scale_config import scaled_config

    raw = scaled_config(30)
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = parse_config(raw)
    names = Names(config)
    dev = config.environment("dev")
    aws = StubbedAws()
    cp = aws.stub("tooling", "codepipeline")
    wanted: list[str] = []
    for service in config.services:
        pipeline = names.pipeline(service)
        cp.add_response("get_pipeline_state", state(*FULL), {"name": pipeline})
        cp.add_response(
            "list_pipeline_executions", executions(summary(E1)), {"pipelineName": pipeline, "maxResults": 1}
        )
        cp.add_response(
            "list_pipeline_executions",
            executions(summary(E1)),
            {"pipelineName": pipeline, "maxResults": 1, "filter": {"succeededInStage": {"stageName": "Deploy-dev"}}},
        )
        wanted += list(names.rollback_alarms(service, dev).values())
    for start in range(0, len(wanted), 100):
        chunk = wanted[start : start + 100]
        aws.stub("dev", "cloudwatch").add_response(
            "describe_alarms",
            {"MetricAlarms": [{"AlarmName": n, "StateValue": "OK"} for n in chunk]},
            {"AlarmNames": chunk, "AlarmTypes": ["MetricAlarm"]},
        )
    progress: list[str] = []
    code, lines = run(aws, "-c", str(path), "status", "--environment", "dev", progress=progress.append)
    assert code == 0
    assert progress == [
        "status: 0/30 pipelines read (90 CodePipeline calls in all)",
        "status: 25/30 pipelines read (90 CodePipeline calls in all)",
        "status: 30/30 pipelines read; reading alarms in 1 environment account(s)",
    ]
    assert len([line for line in lines[0].splitlines() if line.startswith("svc")]) == 30
    cp.assert_no_pending_responses()


def test_pausing_many_schedules_says_how_far_it_got() -> None:
    from types import SimpleNamespace

    from config import load_config

    aws = StubbedAws()
    sc = aws.stub("tooling", "scheduler")
    planned = [
        SimpleNamespace(name=f"acme-freeze-{i:024x}", edge="start", stage="Deploy-prod", cron="0 0 * * ? *")
        for i in range(250)
    ]
    for p in planned:
        set_state(sc, p, "ENABLED", "DISABLED")
    lines: list[str] = []
    changed = ops._set_schedules(
        ops.Ops(load_config(None), aws), [p.name for p in planned], "DISABLED", lambda: "", lines.append
    )
    assert len(changed) == 250
    assert lines == ["pausing schedules: 0/250", "pausing schedules: 100/250", "pausing schedules: 200/250"]
    sc.assert_no_pending_responses()
