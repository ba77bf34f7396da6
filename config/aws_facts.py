"""What AWS accepts, for the config's validation: published data, shipped offline.

- Regions, and the regions each service the platform uses is offered in: botocore's endpoint data
  (config/aws_data.json, written by `python -m tools.aws_data` from the pinned botocore).
- EC2 instance types: the InstanceType enum of botocore's EC2 service model (same file). Their
  architecture follows AWS's instance naming: Graviton (arm64) families carry a `g` after the
  generation digit (t4g, m7g, c7gn, im4gn, is4gen) and `a1` is the first Graviton; mac types run
  macOS, which the platform's Amazon Linux instances cannot.
- Fargate task sizes: the CPU and memory combinations of the Amazon ECS Developer Guide
  ("Task CPU and memory", Linux), a table AWS publishes as documentation only.
- Tags: the Tagging AWS Resources guide's rules (keys 1-128 characters, values up to 256, letters,
  digits, spaces and `_ . : / = + - @`, no `aws:` prefix, 50 tags per resource).
- Availability zone names: the region's code followed by one letter (eu-west-1a).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().with_name("aws_data.json")

# Fargate (Linux): CPU units -> the memory values (MiB) allowed with it.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

TAG_KEY_MAX, TAG_VALUE_MAX, TAGS_PER_RESOURCE = 128, 256, 50
_TAG_EXTRA_CHARACTERS = set("_.:/=+-@")


@cache
def _data() -> dict[str, Any]:
    return dict(json.loads(DATA_FILE.read_text(encoding="utf-8")))


def regions() -> list[str]:
    return list(_data()["regions"])


def instance_types() -> frozenset[str]:
    return frozenset(_data()["instance_types"])


def services_missing_in(region: str, *, tooling: bool) -> list[str]:
    """The services the platform needs in that role that have no endpoint in `region`."""
    data = _data()
    needed = data["tooling_services"] if tooling else data["target_services"]
    return [s for s in needed if region not in data["service_regions"].get(s, [])]


def service_regions(service: str) -> list[str]:
    return list(_data()["service_regions"].get(service, []))


def instance_architecture(instance_type: str) -> str | None:
    """arm64 or x86_64 for an instance type Amazon Linux runs on; None for mac (macOS) types."""
    family = instance_type.split(".", 1)[0]
    if family.startswith("mac"):
        return None
    # The generation digit, then the processor and feature letters: a `g` among them is Graviton;
    # a `-gb` variant (p6e-gb200) runs on NVIDIA Grace, arm64 too.
    match = re.match(r"^([a-z]+?)(\d+)([a-z0-9]*)(-.*)?$", family)
    if family == "a1" or (match and ("g" in match.group(3) or (match.group(4) or "").startswith("-gb"))):
        return "arm64"
    return "x86_64"


def tag_problem(key: str, value: str) -> str | None:
    """Why AWS would refuse this tag, or None."""

    def bad_characters(text: str) -> list[str]:
        return sorted({c for c in text if not (c.isalnum() or c.isspace() or c in _TAG_EXTRA_CHARACTERS)})

    if not 1 <= len(key) <= TAG_KEY_MAX:
        return f"a tag key has 1 to {TAG_KEY_MAX} characters"
    if key.lower().startswith("aws:"):
        return "tag keys starting with aws: are reserved for AWS"
    if len(value) > TAG_VALUE_MAX:
        return f"a tag value has at most {TAG_VALUE_MAX} characters (this one has {len(value)})"
    for what, text in (("key", key), ("value", value)):
        bad = bad_characters(text)
        if bad:
            return f"the tag {what} contains {''.join(bad)!r}; allowed: letters, digits, spaces and _ . : / = + - @"
    return None


def acm_certificate_parts(arn: str) -> tuple[str, str] | None:
    """(region, account) of an ACM certificate ARN, or None if it is not one."""
    match = re.fullmatch(r"arn:aws:acm:([a-z0-9-]+):(\d{12}):certificate/[0-9a-f-]{36}", arn)
    return (match.group(1), match.group(2)) if match else None
