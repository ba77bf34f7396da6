"""Where an ECS service's blue/green listener rules send traffic right now, for the stack that owns them.

CodeDeploy's ECS blue/green deployments move a service's production and test traffic between its two
target groups by rewriting what forwards to them on the production and test listeners (the
service's own rules on a shared listener, or a listener's default action). CloudFormation knows
nothing of that: a rule whose template still says "forward to blue" would be set back to blue on the
next stack update that touches it, sending production traffic to a target group whose tasks
CodeDeploy has already terminated. So the service stack asks this function, through aws-cdk-lib's
provider framework (`Custom::ListenerTraffic`), which target group each listener sends this
service's traffic to now, and its rules use the answer:

- Properties: ProductionListenerArn, TestListenerArn, BlueTargetGroupArn, GreenTargetGroupArn, and
  the rules' other settings (so that any change to a rule re-reads the live state).
- Create and Update: for each listener, of the service's two target groups, the one that the
  listener's rules and default action forward the most traffic to; blue (production) and green
  (test) where nothing forwards to either yet (a new rule).
- Delete: nothing to do.

One function per environment account (in the cross-account stack) serves every ECS service there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotocoreConfig

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "listener_traffic")


def forwarded_weights(actions: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Target group ARN -> weight of a rule's (or listener's) forward actions (a plain forward counts 1)."""
    weights: dict[str, int] = {}
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        if groups:
            for group in groups:
                weights[group["TargetGroupArn"]] = weights.get(group["TargetGroupArn"], 0) + int(group.get("Weight", 1))
        elif action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = weights.get(action["TargetGroupArn"], 0) + 1
    return weights


def live_target_group(rules: Iterable[Mapping[str, Any]], candidates: tuple[str, str], default: str) -> str:
    """Of the service's two target groups, the one the listener's rules send most traffic to; else `default`.

    Only the rules that forward to one of the two count: on a shared listener, the other services'
    rules forward to their own target groups (a target group belongs to one service only).
    """
    weights: dict[str, int] = {}
    for rule in rules:
        for arn, weight in forwarded_weights(rule.get("Actions", [])).items():
            if arn in candidates:
                weights[arn] = weights.get(arn, 0) + weight
    ranked = sorted(candidates, key=lambda arn: weights.get(arn, 0), reverse=True)
    return ranked[0] if weights.get(ranked[0], 0) > 0 else default


def listener_rules(elbv2: Any, listener_arn: str) -> list[dict[str, Any]]:
    """Every rule of the listener, its default rule included; none when the listener does not exist."""
    try:
        return [
            rule
            for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
            for rule in page.get("Rules", [])
        ]
    except elbv2.exceptions.ListenerNotFoundException:
        return []


def on_event(raw: dict[str, Any], elbv2: Any) -> dict[str, Any]:
    event = CloudFormationCustomResourceEvent(raw)
    request = event.get("RequestType")
    if request == "Delete":
        return {"PhysicalResourceId": event.physical_resource_id}
    if request not in ("Create", "Update"):
        raise ValueError(f"unknown RequestType {request!r}")
    properties = event.resource_properties
    try:
        production_listener, test_listener = (
            str(properties["ProductionListenerArn"]),
            str(properties["TestListenerArn"]),
        )
        blue, green = str(properties["BlueTargetGroupArn"]), str(properties["GreenTargetGroupArn"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"Custom::ListenerTraffic properties are incomplete: {error!r}") from None
    # Read on Create too: a stack deployed before this resource existed has live rules already.
    production = live_target_group(listener_rules(elbv2, production_listener), (blue, green), blue)
    test = live_target_group(listener_rules(elbv2, test_listener), (blue, green), green)
    logger.info(
        "listener traffic",
        production_listener=production_listener,
        production=_color(production, blue),
        test=_color(test, blue),
        request=request,
    )
    return {
        "PhysicalResourceId": event.physical_resource_id or f"listener-traffic:{blue}",
        "Data": {"ProductionTargetGroupArn": production, "TestTargetGroupArn": test},
    }


def _color(arn: str, blue: str) -> str:
    return "blue" if arn == blue else "green"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    client = boto3.client("elbv2", config=BotocoreConfig(retries={"mode": "standard", "max_attempts": 5}))
    return on_event(event, client)
