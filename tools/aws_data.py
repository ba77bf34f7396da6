"""Write config/aws_data.json: the AWS facts the config is validated against, from botocore's data.

    python -m tools.aws_data          # (make aws-data) regenerate after upgrading botocore

- regions of the `aws` partition and the regions each service the platform uses has an endpoint in,
  from botocore's endpoints.json;
- every EC2 instance type, from the `InstanceType` enum of botocore's EC2 service model.

The file is data, not code: synth reads it without importing botocore, and
tests/unit/test_aws_data.py fails when it no longer matches the pinned botocore.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent.parent / "config" / "aws_data.json"

# endpoints.json service keys of what the platform creates, by the accounts it creates them in.
TOOLING_SERVICES = (
    "api.ecr",
    "codeartifact",
    "codebuild",
    "codecommit",
    "codepipeline",
    "dynamodb",
    "events",
    "kms",
    "lambda",
    "logs",
    "monitoring",
    "secretsmanager",
    "sns",
    "sqs",
    "xray",
)
TARGET_SERVICES = (
    "autoscaling",
    "codedeploy",
    "ec2",
    "ecs",
    "elasticloadbalancing",
    "events",
    "lambda",
    "logs",
    "monitoring",
    "sqs",
    "ssm",
    "xray",
)


def generate() -> dict[str, Any]:
    import botocore
    from botocore.loaders import Loader

    loader = Loader()
    endpoints = loader.load_data("endpoints")
    partition = next(p for p in endpoints["partitions"] if p["partition"] == "aws")
    regions = sorted(partition["regions"])
    services = {
        key: sorted(r for r in partition["services"].get(key, {}).get("endpoints", {}) if r in regions)
        for key in sorted(set(TOOLING_SERVICES) | set(TARGET_SERVICES))
    }
    ec2 = loader.load_service_model("ec2", "service-2")
    return {
        "source": f"botocore {botocore.__version__}: endpoints.json and the ec2 service model",
        "partition": "aws",
        "regions": regions,
        "tooling_services": list(TOOLING_SERVICES),
        "target_services": list(TARGET_SERVICES),
        "service_regions": services,
        "instance_types": sorted(ec2["shapes"]["InstanceType"]["enum"]),
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main() -> int:
    OUTPUT.write_text(render(generate()), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
