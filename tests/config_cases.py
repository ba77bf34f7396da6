"""What config tests share: a fresh copy of the example config, and the problems a config gets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from config import ConfigError, parse_config
from config.loader import DEFAULT_CONFIG
from config.model import EVENT_KINDS, PlatformConfig
from tools.scale_config import scaled_config, shared_network

CERTIFICATE = "arn:aws:acm:eu-west-1:333333333333:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def example_config() -> dict[str, Any]:
    """A fresh, mutable copy of the default config file."""
    return copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def only_problem(data: dict[str, Any]) -> str:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


def varied_config() -> PlatformConfig:
    """Larger and different: 9 services, three environments (one in the tooling account), a new VPC and
    an existing one, HTTPS, an organization, custom deployment configs, a release branch, a service
    without pull-request validation, a channel whose secret exists already, an Amazon Q Developer
    channel, and a lambda channel that receives every kind (one queue fed by 21 rules), stuck executions
    reported after 4 hours, also through an API destination."""
    data: dict[str, Any] = copy.deepcopy(scaled_config(9))
    data["organization_id"] = "o-a1b2c3d4e5"
    dev, prod = data["environments"]
    dev.pop("network")  # a new VPC per service stack
    prod["certificate_arn"] = CERTIFICATE
    data["environments"] = [
        dev,
        {"name": "staging", "account": data["tooling"]["account"], "network": shared_network(7)},
        prod,
    ]
    services = data["services"]
    services[0]["deployment_config"] = {"type": "minimum_healthy_hosts", "percent": 50}
    services[1]["deployment_config"] = {"type": "linear", "percentage": 25, "interval_minutes": 3}
    services[2]["branch"] = "release/1.x"
    services[3]["pull_request_validation"] = False
    services[4]["environments"] = ["staging", "prod"]
    data["notifications"]["channels"].append(
        {"name": "oncall", "delivery": "api_destination", "secret_name": "shared/teams/oncall"}
    )
    data["notifications"]["routes"].append({"events": ["deployment_failed"], "channels": ["oncall"]})
    # The third delivery, and a lambda channel posting slower than Microsoft's 4 per second.
    data["notifications"]["channels"] += [
        {
            "name": "ops",
            "delivery": "amazon_q",
            "amazon_q": {
                "team_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "channel_id": "19:b6ef35dc342d56ba5654e6fc6d25a071@thread.tacv2",
                "tenant_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            },
        },
        {"name": "audit", "rate_limit_per_second": 2},
    ]
    data["notifications"]["routes"] += [
        {"events": ["pipeline_failed", "deployment_failed", "approval_waiting"], "channels": ["ops"]},
        {"events": list(EVENT_KINDS), "channels": ["audit"]},
        {"events": ["pipeline_stuck"], "channels": ["oncall"]},
    ]
    data["notifications"]["stuck_after_minutes"] = 240
    # Release guardrails (docs/adr/0008): a bake time everywhere, a year-end freeze everywhere, night freezes
    # on dev during which deployments wait, and one service with a gate wait and no stage rollback.
    data["release_guardrails"] = {"bake_minutes": 20}
    data["freezes"] = [
        {"name": "year-end", "cron": "* * * ? DEC * *", "timezone": "Europe/Berlin", "reason": "Year-end freeze"},
        {
            "name": "dev-nights",
            "cron": "* * 0-5 ? * *",
            "timezone": "America/New_York",
            "reason": "Nightly data loads",
            "environments": ["dev"],
            "during": "wait",
        },
    ]
    services[0]["release_guardrails"] = {"gate_wait_minutes": 30, "stage_rollback": False}
    # A longer bake in prod for everyone else, and one service's own prod bake.
    prod["release_guardrails"] = {"bake_minutes": 45}
    services[2].setdefault("environment_overrides", {}).setdefault("prod", {})["release_guardrails"] = {
        "bake_minutes": 5
    }
    return parse_config(data)
