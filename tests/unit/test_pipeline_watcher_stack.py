"""The pipeline watcher in the notifications stack: one per platform, scheduled, read-only on the platform's
pipelines, allowed to put events on the default bus only; absent when pipeline_stuck is not routed."""

from __future__ import annotations

import copy
import json
from typing import Any

import aws_cdk as cdk
import pytest

from config import parse_config
from stacks.notifications_stack import NotificationsStack
from tests.config_cases import example_config
from tests.platform_synth import SynthesizedPlatform, resources_of_type
from tools.preflight.policy import Request, evaluate


def watcher(raw: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (function,) = [
        f["Properties"]
        for f in resources_of_type(raw, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "watcher.handler"
    ]
    role = function["Role"]["Fn::GetAtt"][0]
    documents = [
        p["Properties"]["PolicyDocument"]
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    return function, documents


@pytest.mark.parametrize(("which", "minutes"), [("default_platform", 120), ("varied_platform", 240)])
def test_the_watcher_runs_every_15_minutes_with_the_configured_threshold(
    which: str, minutes: int, request: pytest.FixtureRequest
) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    name = platform.config.name
    raw = platform.template_json(f"{name}-notifications")
    function, _ = watcher(raw)
    assert function["FunctionName"] == f"{name}-pipeline-watcher"
    assert function["Runtime"] == "python3.14" and function["Architectures"] == ["arm64"]
    assert function["ReservedConcurrentExecutions"] == 1
    variables = function["Environment"]["Variables"]
    assert variables["PIPELINE_PREFIX"] == f"{name}-"
    assert variables["STUCK_AFTER_MINUTES"] == str(minutes) and variables["INTERVAL_MINUTES"] == "15"
    (schedule,) = [
        r["Properties"]
        for r in resources_of_type(raw, "AWS::Events::Rule").values()
        if r["Properties"].get("ScheduleExpression")
    ]
    assert schedule["ScheduleExpression"] == "rate(15 minutes)" and schedule["Name"] == f"{name}-pipeline-watcher"
    (target,) = schedule["Targets"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 2}
    assert "DeadLetterConfig" in target
    (invoke,) = [c["Properties"] for c in resources_of_type(raw, "AWS::Lambda::EventInvokeConfig").values()]
    assert invoke["MaximumRetryAttempts"] == 2 and "OnFailure" in invoke["DestinationConfig"]


def test_the_watcher_reads_only_the_platforms_pipelines_and_writes_only_the_default_bus(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-notifications")
    _, documents = watcher(raw)
    rendered = json.loads(
        json.dumps(documents)
        .replace('{"Ref": "AWS::Region"}', '"eu-west-1"')
        .replace('{"Ref": "AWS::AccountId"}', '"111111111111"')
    )
    pipeline = "arn:aws:codepipeline:eu-west-1:111111111111:{}"
    allowed = [
        Request("codepipeline:ListPipelines", "*"),
        Request("codepipeline:ListPipelineExecutions", pipeline.format("acme-orders")),
        Request("events:PutEvents", "arn:aws:events:eu-west-1:111111111111:event-bus/default"),
    ]
    denied = [
        Request("codepipeline:ListPipelineExecutions", pipeline.format("other-team")),
        Request("codepipeline:StopPipelineExecution", pipeline.format("acme-orders")),
        Request("events:PutEvents", "arn:aws:events:eu-west-1:111111111111:event-bus/acme-triggers"),
    ]
    for call in allowed:
        assert evaluate(rendered, call).decision.name == "ALLOW", call
    for call in denied:
        assert evaluate(rendered, call).decision.name != "ALLOW", call


def test_no_watcher_when_pipeline_stuck_is_not_routed() -> None:
    data = copy.deepcopy(example_config())
    for route in data["notifications"]["routes"]:
        route["events"] = [e for e in route["events"] if e != "pipeline_stuck"]
    config = parse_config(data)
    app = cdk.App()
    stack = NotificationsStack(
        app, "acme-notifications", config=config, env=cdk.Environment(account="111111111111", region="eu-west-1")
    )
    raw = app.synth().get_stack_by_name(stack.stack_name).template
    assert stack.watcher is None
    assert not [f for f in resources_of_type(raw, "AWS::Lambda::Function").values() if "watcher" in json.dumps(f)]
