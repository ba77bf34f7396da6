"""Where an ECS service's blue/green listeners send traffic right now, for the stack that owns them.

CodeDeploy's ECS blue/green deployments move the production and test listeners of a load balancer
between the service's two target groups (rewriting their forward actions). CloudFormation knows
nothing of that: a listener whose template still says "forward to blue" would be set back to blue
on the next stack update that touches it, sending production traffic to a target group whose
tasks CodeDeploy has already terminated. So the service stack asks this function, through
aws-cdk-lib's provider framework (`Custom::ListenerTraffic`), which target group each listener
forwards to now, and its listeners' default actions use the answer:

- Properties: LoadBalancerArn, ProductionPort, TestPort, BlueTargetGroupArn, GreenTargetGroupArn,
  and the listeners' other settings (so that any change to a listener re-reads the live state).
- Create and Update: for each port, the target group of the two that its listener forwards the
  most traffic to; blue (production) and green (test) where the listener does not exist yet (or
  forwards to neither).
- Delete: nothing to do.

One function per environment account (in the cross-account stack) serves every ECS service there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotocoreConfig

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "listener_traffic")


def forwarded_weights(listener: Mapping[str, Any]) -> dict[str, int]:
    """Target group ARN -> weight of a listener's default forward action (a plain forward counts 1)."""
    weights: dict[str, int] = {}
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        if groups:
            for group in groups:
                weights[group["TargetGroupArn"]] = weights.get(group["TargetGroupArn"], 0) + int(group.get("Weight", 1))
        elif action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = weights.get(action["TargetGroupArn"], 0) + 1
    return weights


def live_target_group(listener: Mapping[str, Any] | None, candidates: tuple[str, str], default: str) -> str:
    """Of the service's two target groups, the one the listener sends most traffic to; else `default`."""
    if listener is None:
        return default
    weights = forwarded_weights(listener)
    ranked = sorted(candidates, key=lambda arn: weights.get(arn, 0), reverse=True)
    return ranked[0] if weights.get(ranked[0], 0) > 0 else default


def listeners_by_port(elbv2: Any, load_balancer_arn: str) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=load_balancer_arn):
        for listener in page.get("Listeners", []):
            found[int(listener["Port"])] = listener
    return found


def on_event(raw: dict[str, Any], elbv2: Any) -> dict[str, Any]:
    event = CloudFormationCustomResourceEvent(raw)
    request = event.get("RequestType")
    if request == "Delete":
        return {"PhysicalResourceId": event.physical_resource_id}
    if request not in ("Create", "Update"):
        raise ValueError(f"unknown RequestType {request!r}")
    properties = event.resource_properties
    try:
        load_balancer = str(properties["LoadBalancerArn"])
        blue, green = str(properties["BlueTargetGroupArn"]), str(properties["GreenTargetGroupArn"])
        production_port, test_port = int(properties["ProductionPort"]), int(properties["TestPort"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"Custom::ListenerTraffic properties are incomplete: {error!r}") from None
    # Read on Create too: a stack deployed before this resource existed has live listeners already.
    listeners = listeners_by_port(elbv2, load_balancer)
    production = live_target_group(listeners.get(production_port), (blue, green), blue)
    test = live_target_group(listeners.get(test_port), (blue, green), green)
    logger.info(
        "listener traffic",
        load_balancer=load_balancer,
        production=_color(production, blue),
        test=_color(test, blue),
        request=request,
    )
    return {
        "PhysicalResourceId": event.physical_resource_id or f"listener-traffic:{load_balancer}",
        "Data": {"ProductionTargetGroupArn": production, "TestTargetGroupArn": test},
    }


def _color(arn: str, blue: str) -> str:
    return "blue" if arn == blue else "green"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    client = boto3.client("elbv2", config=BotocoreConfig(retries={"mode": "standard", "max_attempts": 5}))
    return on_event(event, client)
