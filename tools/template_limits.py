"""Measure synthesized templates against the AWS limits that grow with services and accounts.

Shared by the benchmark (tools/bench.py) and the scale test (tests/unit/test_scale_limits.py).
Sizes of policy documents are measured as AWS counts them (JSON without whitespace), with
every intrinsic function (Ref, Fn::GetAtt, Fn::Join, ...) counted as a 100-character string,
more than any ARN it stands for: the figures are upper bounds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Hard or default limits (AWS documentation, November 2026).
LIMITS = {
    "resources_per_stack": 500,  # CloudFormation
    "template_bytes": 1_000_000,  # CloudFormation, template body uploaded to S3
    "role_inline_policy_chars": 10_240,  # IAM, aggregate inline policies of one role
    "managed_policy_chars": 6_144,  # IAM, one customer managed policy
    "trust_policy_chars": 2_048,  # IAM, role trust policy (default; 4,096 at most)
    "kms_key_policy_bytes": 32_768,  # KMS
    "s3_bucket_policy_bytes": 20_480,  # S3
    "event_pattern_chars": 2_048,  # EventBridge rule pattern (a conservative bound)
    "event_bus_policy_chars": 10_240,  # EventBridge, default bus resource policy
    "lambda_environment_bytes": 4_096,  # Lambda, all environment variables of a function
    "wildcard_rules_per_bus": 30,  # EventBridge, rules with wildcard filters (not adjustable)
    "iam_roles_per_account": 1_000,  # IAM default quota (adjustable)
    "stacks_per_account_region": 2_000,  # CloudFormation default quota (adjustable)
}

TOKEN_SIZE = 100


def _resolved(node: Any) -> Any:
    """`node` with every intrinsic function replaced by a 100-character stand-in."""
    if isinstance(node, dict):
        if len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
            return "x" * TOKEN_SIZE
        return {k: _resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v) for v in node]
    return node


def size(document: Any) -> int:
    """Characters of a policy document as IAM counts them (no whitespace), tokens as upper bounds."""
    return len(json.dumps(_resolved(document), separators=(",", ":")))


@dataclass
class Largest:
    """The largest value seen for one measure, and where."""

    value: int = 0
    where: str = ""

    def see(self, value: int, where: str) -> None:
        if value > self.value:
            self.value, self.where = value, where


@dataclass
class Measures:
    """The largest of each measure over a set of templates, with the account-level counts."""

    largest: dict[str, Largest] = field(default_factory=lambda: {k: Largest() for k in LIMITS})
    roles_per_account: Counter[str] = field(default_factory=Counter)
    stacks_per_account: Counter[str] = field(default_factory=Counter)
    wildcard_rules_per_account: Counter[str] = field(default_factory=Counter)
    bus_policy_per_account: Counter[str] = field(default_factory=Counter)

    def add_template(self, stack: str, account: str, template: dict[str, Any], template_bytes: int) -> None:
        resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.stacks_per_account[account] += 1
        self.largest["resources_per_stack"].see(len(resources), stack)
        self.largest["template_bytes"].see(template_bytes, stack)
        inline: Counter[str] = Counter()
        for logical_id, resource in resources.items():
            kind, props = resource.get("Type", ""), resource.get("Properties", {})
            where = f"{stack}/{logical_id}"
            if kind == "AWS::IAM::Role":
                self.roles_per_account[account] += 1
                self.largest["trust_policy_chars"].see(size(props.get("AssumeRolePolicyDocument", {})), where)
                for policy in props.get("Policies", []):
                    inline[logical_id] += size(policy["PolicyDocument"])
            elif kind == "AWS::IAM::Policy":
                for role in props.get("Roles", []):
                    if isinstance(role, dict) and "Ref" in role:
                        inline[role["Ref"]] += size(props["PolicyDocument"])
            elif kind == "AWS::IAM::ManagedPolicy":
                self.largest["managed_policy_chars"].see(size(props["PolicyDocument"]), where)
            elif kind == "AWS::KMS::Key":
                self.largest["kms_key_policy_bytes"].see(size(props.get("KeyPolicy", {})), where)
            elif kind == "AWS::S3::BucketPolicy":
                self.largest["s3_bucket_policy_bytes"].see(size(props["PolicyDocument"]), where)
            elif kind == "AWS::Events::Rule" and "EventPattern" in props:
                self.largest["event_pattern_chars"].see(size(props["EventPattern"]), where)
                if (
                    '"wildcard"' in json.dumps(props["EventPattern"])
                    and props.get("EventBusName", "default") == "default"
                ):
                    self.wildcard_rules_per_account[account] += 1
            elif kind == "AWS::Events::EventBusPolicy":
                self.bus_policy_per_account[account] += size(props.get("Statement", {})) + 40
            elif kind == "AWS::Lambda::Function":
                variables = props.get("Environment", {}).get("Variables", {})
                self.largest["lambda_environment_bytes"].see(
                    sum(len(k) + len(json.dumps(_resolved(v))) for k, v in variables.items()), where
                )
        for role, chars in inline.items():
            self.largest["role_inline_policy_chars"].see(chars, f"{stack}/{role}")
        for name, counter in (
            ("iam_roles_per_account", self.roles_per_account),
            ("stacks_per_account_region", self.stacks_per_account),
            ("wildcard_rules_per_bus", self.wildcard_rules_per_account),
            ("event_bus_policy_chars", self.bus_policy_per_account),
        ):
            for acct, value in counter.items():
                self.largest[name].see(value, f"account {acct}")

    def over(self, headroom: float) -> list[str]:
        """Measures above `headroom` (0.8 = 80 %) of their limit, as readable lines."""
        return [
            f"{name}: {seen.value} at {seen.where} > {headroom:.0%} of {LIMITS[name]}"
            for name, seen in self.largest.items()
            if seen.value > headroom * LIMITS[name]
        ]

    def rows(self) -> Iterable[tuple[str, int, int, str]]:
        for name, seen in self.largest.items():
            yield name, seen.value, LIMITS[name], seen.where
