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


def scaled_config(services: int) -> dict[str, Any]:
    """The example platform (two environments) with `services` services, platforms in turn."""
    data: dict[str, Any] = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    data["services"] = [
        {
            "name": f"svc{index:03d}-{platform}",
            "platform": platform,
            "description": f"Generated service {index} on {platform}",
        }
        for index in range(services)
        for platform in (PLATFORMS[index % len(PLATFORMS)],)
    ]
    return data


def main(argv: list[str]) -> int:
    count = int(argv[1]) if len(argv) > 1 else 10
    yaml.safe_dump(scaled_config(count), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
