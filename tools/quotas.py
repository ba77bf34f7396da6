"""AWS default service quotas the platform consumes, counted per account and region.

Each quota names its default value, its Service Quotas code where AWS publishes one, and the
AWS page it comes from (docs/research/issue-17-shared-foundation.md has the sentences quoted).
`QuotaUsage` counts synthesized templates; at scale, tests count one stack per platform and
multiply (per-service stacks do not grow with the number of services).

What this cannot count from templates is listed in UNCOUNTED, never passed silently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Scope = Literal["account", "region"]


@dataclass(frozen=True)
class Quota:
    key: str
    description: str
    default: int
    scope: Scope  # IAM and S3 bucket quotas are per account; the rest per account and region
    source: str
    code: str | None = None  # Service Quotas code, where AWS publishes one
    resource_type: str | None = None  # counted resources; None: counted by `count` below
    where: Callable[[dict[str, Any]], bool] | None = None
    adjustable: bool = True


def _on_default_bus(properties: dict[str, Any]) -> bool:
    return properties.get("EventBusName", "default") == "default"


def _application_load_balancer(properties: dict[str, Any]) -> bool:
    return properties.get("Type", "application") == "application"


EVENTBRIDGE = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
ELB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html"
IAM = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
VPC = "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html"
CODEDEPLOY = "https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html"

QUOTAS: tuple[Quota, ...] = (
    Quota("rules_per_default_bus", "EventBridge rules on the default event bus", 300, "region", EVENTBRIDGE,
          "L-244521F2", "AWS::Events::Rule", _on_default_bus),
    Quota("application_load_balancers", "Application Load Balancers", 50, "region", ELB, "L-53DA6B97",
          "AWS::ElasticLoadBalancingV2::LoadBalancer", _application_load_balancer),
    Quota("target_groups", "target groups", 3_000, "region", ELB, "L-B22855CB",
          "AWS::ElasticLoadBalancingV2::TargetGroup"),
    Quota("iam_roles", "IAM roles", 1_000, "account", IAM, "L-FE177D64", "AWS::IAM::Role"),
    Quota("iam_managed_policies", "IAM customer managed policies", 1_500, "account", IAM, None,
          "AWS::IAM::ManagedPolicy"),
    Quota("instance_profiles", "IAM instance profiles", 1_000, "account", IAM, "L-6E65F664",
          "AWS::IAM::InstanceProfile"),
    Quota("pipelines", "CodePipeline pipelines", 1_000, "region",
          "https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html", None,
          "AWS::CodePipeline::Pipeline"),
    Quota("build_projects", "CodeBuild build projects", 5_000, "region",
          "https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html", None, "AWS::CodeBuild::Project"),
    Quota("codedeploy_applications", "CodeDeploy applications", 1_000, "region", CODEDEPLOY, None,
          "AWS::CodeDeploy::Application"),
    Quota("codedeploy_custom_configs", "CodeDeploy custom deployment configurations", 50, "region", CODEDEPLOY,
          None, "AWS::CodeDeploy::DeploymentConfig", adjustable=False),
    Quota("stacks", "CloudFormation stacks", 2_000, "region",
          "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html", "L-0485CB21"),
    Quota("vpcs", "VPCs", 5, "region", VPC, "L-F678F1CE", "AWS::EC2::VPC"),
    # Every NAT gateway the platform creates has its own Elastic IP, so this bounds NAT gateways
    # too (5 per AZ, L-FE5A380F) more tightly than their own quota does.
    Quota("elastic_ips", "Elastic IP addresses", 5, "region", VPC, "L-0263D0A3", "AWS::EC2::EIP"),
    Quota("security_groups", "VPC security groups", 2_500, "region", VPC, "L-E79EC296",
          "AWS::EC2::SecurityGroup"),
    Quota("s3_buckets", "S3 general purpose buckets", 10_000, "account",
          "https://docs.aws.amazon.com/AmazonS3/latest/userguide/BucketRestrictions.html", "L-DC2B2D3D",
          "AWS::S3::Bucket"),
)  # fmt: skip

BY_KEY = {quota.key: quota for quota in QUOTAS}

# Quotas the platform consumes that templates alone cannot count.
UNCOUNTED = (
    "target groups per load balancer (100, not adjustable), listeners (50) and rules (100) per load balancer: "
    "counted per load balancer once services share one (issue 17)",
    "NAT gateways per Availability Zone (5): bounded by elastic_ips, one Elastic IP per NAT gateway",
    "concurrent CodeBuild builds and CodeDeploy deployments: a runtime quota, not a count of resources",
)


@dataclass
class QuotaUsage:
    """Counts per (account, region or "global", quota key)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add_template(self, account: str, region: str, template: dict[str, Any], times: int = 1) -> None:
        """Count one stack's resources (`times` stacks like it, for representatives at scale)."""
        self.counts[(account, region, "stacks")] += times
        for resource in template.get("Resources", {}).values():
            kind, properties = resource.get("Type"), resource.get("Properties", {})
            for quota in QUOTAS:
                if quota.resource_type == kind and (quota.where is None or quota.where(properties)):
                    place = "global" if quota.scope == "account" else region
                    self.counts[(account, place, quota.key)] += times

    def used(self, account: str, key: str, region: str | None = None) -> int:
        place = "global" if BY_KEY[key].scope == "account" else region
        if place is None:
            raise ValueError(f"{key} is counted per region: name one")
        return self.counts[(account, place, key)]

    def rows(self) -> Iterable[tuple[str, str, Quota, int]]:
        """(account, region or "global", quota, count), largest share of its quota first."""
        rows = [(account, place, BY_KEY[key], value) for (account, place, key), value in self.counts.items()]
        return sorted(rows, key=lambda row: (-row[3] / row[2].default, row[0], row[1], row[2].key))

    def over(self, share: float = 1.0) -> list[str]:
        """Quotas above `share` of their default, as "<quota> in <account>/<region>: <used> of <default>"."""
        return [
            f"{quota.key} in {account}/{place}: {value} of {quota.default}"
            for account, place, quota, value in self.rows()
            if value > share * quota.default
        ]


def usage_of_assembly(outdir: Path) -> QuotaUsage:
    """Every stack of a synthesized cloud assembly (cdk.out), by its account and region."""
    usage = QuotaUsage()
    manifest = json.loads((outdir / "manifest.json").read_text())
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        _, account, region = artifact["environment"].rsplit("/", 2)
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        usage.add_template(account, region, template)
    return usage
