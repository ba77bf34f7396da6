"""Where an ECS service's blue/green listeners forward now (lambda/listener_traffic), under botocore's Stubber."""

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
ALB = f"{PREFIX}:loadbalancer/app/acme-s-EcsLo-1ABC/0123456789abcdef"
BLUE = f"{PREFIX}:targetgroup/acme-s-EcsBl-AAAA/1111111111111111"
GREEN = f"{PREFIX}:targetgroup/acme-s-EcsGr-BBBB/2222222222222222"
PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:eu-west-1:222222222222:function:acme-dev-listener-traffic-provider",
    "LoadBalancerArn": ALB,
    "ProductionPort": "80",
    "TestPort": "9000",
    "BlueTargetGroupArn": BLUE,
    "GreenTargetGroupArn": GREEN,
    "ProductionListener": {"Port": "80", "Protocol": "HTTP", "CertificateArn": "", "SslPolicy": ""},
}


@pytest.fixture
def elbv2() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("elbv2", region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def listener(port: int, *weights: tuple[str, int]) -> dict[str, Any]:
    return {
        "ListenerArn": f"{PREFIX}:listener/app/acme-s-EcsLo-1ABC/0123456789abcdef/{port:016d}",
        "LoadBalancerArn": ALB,
        "Port": port,
        "Protocol": "HTTP",
        "DefaultActions": [
            {
                "Type": "forward",
                "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in weights]},
            }
        ],
    }


def expect(stubber: Stubber, *listeners: dict[str, Any]) -> None:
    stubber.add_response("describe_listeners", {"Listeners": list(listeners)}, {"LoadBalancerArn": ALB})


def data(event: dict[str, Any], client: Any) -> dict[str, str]:
    answer = lt.on_event(event, client)
    assert answer["PhysicalResourceId"]
    return dict(answer["Data"])


def test_a_new_load_balancer_forwards_production_to_blue_and_test_to_green(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    expect(stubber)  # the load balancer exists, its listeners not yet
    assert data({"RequestType": "Create", "ResourceProperties": PROPERTIES}, client) == {
        "ProductionTargetGroupArn": BLUE,
        "TestTargetGroupArn": GREEN,
    }


def test_after_codedeploy_moved_traffic_to_green_an_update_keeps_it_there(elbv2: tuple[Any, Stubber]) -> None:
    """The listener drift case: the template once said blue; CodeDeploy since sent 100 % to green."""
    client, stubber = elbv2
    expect(stubber, listener(80, (GREEN, 100), (BLUE, 0)), listener(9000, (GREEN, 1)))
    event = {"RequestType": "Update", "PhysicalResourceId": "listener-traffic:x", "ResourceProperties": PROPERTIES}
    answer = lt.on_event(event, client)
    assert answer == {
        "PhysicalResourceId": "listener-traffic:x",
        "Data": {"ProductionTargetGroupArn": GREEN, "TestTargetGroupArn": GREEN},
    }


def test_during_a_canary_the_target_group_with_most_traffic_wins(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    expect(stubber, listener(80, (BLUE, 90), (GREEN, 10)), listener(9000, (GREEN, 1)))
    assert data({"RequestType": "Update", "PhysicalResourceId": "p", "ResourceProperties": PROPERTIES}, client) == {
        "ProductionTargetGroupArn": BLUE,
        "TestTargetGroupArn": GREEN,
    }


def test_a_stack_created_before_this_resource_existed_reads_the_live_listeners(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    expect(stubber, {**listener(80), "DefaultActions": [{"Type": "forward", "TargetGroupArn": GREEN}]})
    assert (
        data({"RequestType": "Create", "ResourceProperties": PROPERTIES}, client)["ProductionTargetGroupArn"] == GREEN
    )


def test_a_listener_forwarding_to_neither_group_falls_back_to_the_template_defaults(elbv2: tuple[Any, Stubber]) -> None:
    client, stubber = elbv2
    other = f"{PREFIX}:targetgroup/someone-else/3333333333333333"
    expect(stubber, listener(80, (other, 1)), {**listener(9000), "DefaultActions": [{"Type": "fixed-response"}]})
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
    with pytest.raises(ValueError, match="BlueTargetGroupArn"):
        lt.on_event({"RequestType": "Create", "ResourceProperties": {"LoadBalancerArn": ALB}}, client)


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
