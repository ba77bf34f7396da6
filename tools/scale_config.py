"""Generate platform configs with many services, for the benchmark and the scale tests.

python -m tools.scale_config 200 > /tmp/platform-200.yaml
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from config.loader import DEFAULT_CONFIG

PLATFORMS = ("ec2", "ecs", "lambda")


def shared_network(index: int) -> dict[str, Any]:
    """An existing VPC by ids (made up): what a platform this size gives each environment."""
    return {
        "vpc_id": f"vpc-{index:017x}",
        "cidr": f"10.{index % 256}.0.0/16",
        "availability_zones": ["eu-west-1a", "eu-west-1b"],
        "public_subnet_ids": [f"subnet-{index:08x}{n:09x}" for n in (1, 2)],
        "private_subnet_ids": [f"subnet-{index:08x}{n:09x}" for n in (3, 4)],
    }


def scaled_config(services: int) -> dict[str, Any]:
    """The example platform (two environments, each on a shared VPC) with `services` services."""
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    for index, env in enumerate(data["environments"], start=1):
        env["network"] = shared_network(index)
    data["services"] = [
        {
            "name": f"svc{index:03d}-{platform}",
            "platform": platform,
            "description": f"Generated service {index} on {platform}",
            **({"load_balancer": load_balancer(index)} if platform != "lambda" else {}),
        }
        for index in range(services)
        for platform in (PLATFORMS[index % len(PLATFORMS)],)
    ]
    return data


# Services per shared load balancer: 26 EC2 (1 target group, 1 rule each) and 26 ECS (2 and 2) hold
# 78 target groups and 78 rules, under 80 % of an ALB's 100 target groups (a hard quota) and 100 rules.
SERVICES_PER_LOAD_BALANCER = 78


def load_balancer(index: int) -> str:
    """The shared load balancer of generated service `index`: lb0, lb1, ... in blocks of services."""
    return f"lb{index // SERVICES_PER_LOAD_BALANCER}"


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 10
    yaml.safe_dump(scaled_config(count), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
