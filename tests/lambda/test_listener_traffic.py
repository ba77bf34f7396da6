"""Where an ECS service's blue/green listener rules forward now (lambda/listener_traffic), under botocore's Stubber."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda" / "listener_traffic"))

import listener_traffic as lt

PREFIX = "arn:aws:elasticloadbalancing:eu-west-1:222222222222"
ALB = "app/acme-f-LoadB-1ABC/0123456789abcdef"
PRODUCTION = f"{PREFIX}:listener/{ALB}/0000000000000080"
TEST = f"{PREFIX}:listener/{ALB}/0000000000009000"
BLUE = f"{PREFIX}:targetgroup/acme-s-EcsBl-AAAA/1111111111111111"
GREEN = f"{PREFIX}:targetgroup/acme-s-EcsGr-BBBB/2222222222222222"
OTHER = f"{PREFIX}:targetgroup/acme-s-Other-CCCC/3333333333333333"  # another service on the shared listener
PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:eu-west-1:222222222222:function:acme-dev-listener-traffic-provider",
    "ProductionListenerArn": PRODUCTION,
    "TestListenerArn": TEST,
    "BlueTargetGroupArn": BLUE,
    "GreenTargetGroupArn": GREEN,
    "Rule": {"Priority": "17412", "Hosts": ["orders.*"], "Paths": []},
}


@pytest.fixture
def elbv2() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("elbv2", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def rule(listener: str, priority: str, *weights: tuple[str, int]) -> dict[str, Any]:
    """A rule as DescribeRules returns it; the default rule (404) when no weights are given."""
    action: dict[str, Any] = (
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in weights]}}
        if weights
        else {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
    )
    return {
        "RuleArn": f"{listener.replace(':listener/', ':listener-rule/')}/{abs(hash(priority)):016x}",
        "Priority": priority,
        "Conditions": [] if priority == "default" else [{"Field": "host-header", "Values": ["x.*"]}],
        "Actions": [action],
        "IsDefault": priority == "default",
    }


def expect(stubber: Stubber, production: list[dict[str, Any]], test: list[dict[str, Any]]) -> None:
    stubber.add_response("describe_rules", {"Rules": production}, {"ListenerArn": PRODUCTION})
    stubber.add_response("describe_rules", {"Rules": test}, {"ListenerArn": TEST})


SHARED_PRODUCTION = [rule(PRODUCTION, "default"), rule(PRODUCTION, "5", (OTHER, 1))]
SHARED_TEST = [rule(TEST, "default"), rule(TEST, "5", (OTHER, 1))]


def data(event: dict[str, Any], client: Any) -> dict[str, str]:
    answer = lt.on_event(event, client)
    assert answer["PhysicalResourceId"]
    return dict(answer["Data"])


def test_a_new_rule_on_a_shared_listener_forwards_production_to_blue_and_test_to_green(
    elbv2: tuple[Any, Stubber],
) -> None:
    client, stubber = elbv2
    expect(stubber, SHARED_PRODUCTION, SHARED_TEST)  # other services' rules only, and the 404 default
    assert data({"RequestType": "Create", "ResourceProperties": PROPERTIES}, client) == {
        "ProductionTargetGroupArn": BLUE,
        "TestTargetGroupArn": GREEN,
    }


def test_after_codedeploy_moved_traffic_to_green_an_update_keeps_it_there(elbv2: tuple[Any, Stubber]) -> None:
    """The rule drift case: the template once said blue; CodeDeploy since sent 100 % to green."""
    client, stubber = elbv2
    expect(
        stubber,
        [*SHARED_PRODUCTION, rule(PRODUCTION, "17412", (GREEN, 100), (BLUE, 0))],
        [*SHARED_TEST, rule(TEST, "17412", (GREEN, 1))],
    )
    event = {"RequestType": "Update", "PhysicalResourceId": "listener-traffic:x", "ResourceProperties": PROPERTIES}
    answer = lt.on_event(event, client)
    assert answer == {
        "PhysicalResourceId": "listener-traffic:x",
        "Data": {"ProductionTargetGroupArn": GREEN, "TestTargetGroupArn": GREEN},
    }


def test_during_a_canary_the_target_group_with_most_traffic_wins(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    expect(
        stubber,
        [rule(PRODUCTION, "17412", (BLUE, 90), (GREEN, 10)), rule(PRODUCTION, "5", (OTHER, 1))],
        [rule(TEST, "17412", (GREEN, 1))],
    )
    assert data({"RequestType": "Update", "PhysicalResourceId": "p", "ResourceProperties": PROPERTIES}, client) == {
        "ProductionTargetGroupArn": BLUE,
        "TestTargetGroupArn": GREEN,
    }


def test_other_services_weights_on_the_shared_listener_do_not_count(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    expect(
        stubber,
        [rule(PRODUCTION, "5", (OTHER, 100)), rule(PRODUCTION, "17412", (GREEN, 1))],
        [rule(TEST, "5", (OTHER, 100))],
    )
    assert data({"RequestType": "Update", "PhysicalResourceId": "p", "ResourceProperties": PROPERTIES}, client) == {
        "ProductionTargetGroupArn": GREEN,
        "TestTargetGroupArn": GREEN,
    }


def test_a_listener_default_action_counts_for_a_load_balancer_of_its_own(elbv2: tuple[Any, Stubber]) -> None:
    """A layout where CodeDeploy found the target group in the listener's default action."""
    client, stubber = elbv2
    default = {**rule(PRODUCTION, "default"), "Actions": [{"Type": "forward", "TargetGroupArn": GREEN}]}
    expect(stubber, [default], [])
    assert (
        data({"RequestType": "Create", "ResourceProperties": PROPERTIES}, client)["ProductionTargetGroupArn"] == GREEN
    )


def test_a_listener_that_does_not_exist_yet_falls_back_to_the_template_defaults(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    stubber.add_client_error("describe_rules", "ListenerNotFound", http_status_code=400)
    stubber.add_response("describe_rules", {"Rules": []}, {"ListenerArn": TEST})
    assert data({"RequestType": "Update", "PhysicalResourceId": "p", "ResourceProperties": PROPERTIES}, client) == {
        "ProductionTargetGroupArn": BLUE,
        "TestTargetGroupArn": GREEN,
    }


def test_delete_changes_nothing(elbv2: tuple[Any, Stubber]) -> None:
    client, _ = elbv2
    assert lt.on_event(
        {"RequestType": "Delete", "PhysicalResourceId": "p", "ResourceProperties": PROPERTIES}, client
    ) == {"PhysicalResourceId": "p"}


def test_incomplete_properties_are_refused_by_name(elbv2: tuple[Any, Stubber]) -> None:
    client, _ = elbv2
    with pytest.raises(ValueError, match="TestListenerArn"):
        lt.on_event({"RequestType": "Create", "ResourceProperties": {"ProductionListenerArn": PRODUCTION}}, client)


class FakeContext:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    aws_request_id = "req-123"
    function_name = "acme-dev-listener-traffic"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:222222222222:function:acme-dev-listener-traffic"


def test_the_handler_answers_the_provider_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    event = {"RequestType": "Delete", "PhysicalResourceId": "p", "ResourceProperties": PROPERTIES}
    assert lt.handler(event, FakeContext()) == {"PhysicalResourceId": "p"}
