"""The platform's fixed monthly cost, counted from synthesized templates and priced from tools/prices.json.

python -m tools.cost [-c platform.yaml] [-o docs/cost.md]    (what `make cost` runs)

Every stack of a config is synthesized and its template counted: NAT gateways, public IPv4
addresses (Elastic IPs, one per subnet of an internet-facing load balancer), Application Load
Balancer hours, interface VPC endpoints per AZ, KMS keys, Secrets Manager secrets, CloudWatch
alarm metrics and dashboards are what an idle platform pays every month. Pipelines are priced per run (V2 action
minutes and CodeBuild minutes, from each pipeline's actions and the durations assumed below);
storage, requests, logs and data are usage, listed and not priced. The stacks are grouped by
account: the tooling account (shared stacks, one pipeline per service) and each target account
(its foundation: every stack that is not a service stack; its service stacks by platform).

"Before" is the same config with every EC2 and ECS service on `isolation: network` (its own VPC,
NAT gateway and load balancer); in a tree whose config has no `isolation`, before is the tree as is.
200 services: tools/scale_config.py. Their "after" is synthesized whole (the foundation grows with
the services it routes); their "before" from one service of each platform, times the services of
that platform (an isolated service stack does not depend on the others).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRICES_FILE = Path(__file__).with_name("prices.json")
DEFAULT_OUTPUT = ROOT / "docs" / "cost.md"
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates
TARGET_USD = 5.0  # the fixed cost an EC2 or ECS service may add to an environment, a month
SCALE = 200

# ----- prices -----


class UnknownRegionError(ValueError):
    """A region tools/prices.json has no prices for."""


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    unit: str
    source: str
    kind: str  # aws | aws-copy | third-party
    read: str
    page_date: str | None
    confirmed: bool
    note: str = ""


PriceTable = dict[str, dict[str, Price]]


def load_prices(path: Path = PRICES_FILE) -> PriceTable:
    data = json.loads(path.read_text())
    return {
        region: {key: Price(key=key, **fields) for key, fields in prices.items()}
        for region, prices in data["regions"].items()
    }


def prices_for(region: str, table: PriceTable | None = None) -> dict[str, Price]:
    table = load_prices() if table is None else table
    if region not in table:
        raise UnknownRegionError(
            f"no prices for region {region}: tools/prices.json has prices for {', '.join(sorted(table))} only; "
            f"add {region}'s prices there, each with its source, before pricing a platform in it"
        )
    return table[region]


# ----- counting a template -----

# What an idle platform pays: count key -> (price key, units a month per counted thing).
FIXED: dict[str, tuple[str, float, str]] = {
    "nat_gateway": ("nat_gateway_hour", HOURS_PER_MONTH, "NAT gateways (hours; data processed is usage)"),
    "public_ipv4": ("public_ipv4_hour", HOURS_PER_MONTH, "public IPv4 addresses (Elastic IPs, ALB subnets)"),
    "alb": ("alb_hour", HOURS_PER_MONTH, "Application Load Balancers (hours; LCUs are usage)"),
    "interface_endpoint_az": ("interface_endpoint_hour", HOURS_PER_MONTH, "interface VPC endpoints, per AZ"),
    "kms_key": ("kms_key_month", 1, "KMS customer managed keys"),
    "secret": ("secret_month", 1, "Secrets Manager secrets"),
    "alarm_metric": ("alarm_metric_month", 1, "CloudWatch alarm metrics, standard resolution"),
    "alarm_metric_high_res": ("alarm_metric_high_res_month", 1, "CloudWatch alarm metrics, high resolution"),
    "composite_alarm": ("composite_alarm_month", 1, "CloudWatch composite alarms"),
    "dashboard": ("dashboard_month", 1, "CloudWatch dashboards"),
}

# Priced by use only: counted so the report can say what is there.
USAGE: dict[str, str] = {
    "AWS::S3::Bucket": "S3 buckets: storage, requests",
    "AWS::DynamoDB::Table": "DynamoDB tables: requests, storage",
    "AWS::DynamoDB::GlobalTable": "DynamoDB tables: requests, storage",
    "AWS::Logs::LogGroup": "CloudWatch log groups: ingestion, storage",
    "AWS::SQS::Queue": "SQS queues: requests",
    "AWS::SNS::Topic": "SNS topics: requests, deliveries",
    "AWS::Lambda::Function": "Lambda functions: requests, GB-seconds",
    "AWS::ECR::Repository": "ECR repositories: image storage",
    "AWS::CodeCommit::Repository": "CodeCommit repositories: active users",
    "AWS::CodeBuild::Project": "CodeBuild projects: build minutes (per run below)",
    "AWS::CodePipeline::Pipeline": "CodePipeline V2 pipelines: action minutes (per run below)",
    "AWS::Events::Rule": "EventBridge rules: custom events (AWS service events are free)",
    "AWS::Events::ApiDestination": "EventBridge API destinations: invocations",
    "AWS::EC2::FlowLog": "VPC flow logs: log ingestion",
    "AWS::CodeArtifact::Repository": "CodeArtifact repositories: storage, requests",
    "AWS::AutoScaling::AutoScalingGroup": "Auto Scaling groups: their instances are compute",
    "AWS::ECS::Service": "ECS services: their tasks are compute",
    "AWS::Events::EventBus": "EventBridge event buses: custom events put on them",
    "AWS::Scheduler::Schedule": "EventBridge Scheduler schedules: invocations (a waiting freeze's edges, one per "
    "frozen range, stage and edge, each firing once a range; 14 million free a month)",
}

# The resource types count_template prices when idle (FIXED).
COUNTED = frozenset(
    {
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::EC2::VPCEndpoint",
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::CloudWatch::Dashboard",
    }
)

# Resource types AWS does not charge for by themselves (what they lead to is priced where it is counted):
# every type a template holds is COUNTED, USAGE or here, so that a new one is classified before it ships.
NO_CHARGE: dict[str, str] = {
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration": "Amazon Q Developer in chat applications: no charge",
    "AWS::CodeArtifact::Domain": "a domain is free; its repositories' storage and requests are usage",
    "AWS::CodeBuild::ReportGroup": "report groups are free; the builds that fill them are priced per run",
    "AWS::CodeDeploy::Application": "CodeDeploy to EC2, Lambda and ECS has no additional charge",
    "AWS::CodeDeploy::DeploymentConfig": "CodeDeploy to EC2, Lambda and ECS has no additional charge",
    "AWS::CodeDeploy::DeploymentGroup": "CodeDeploy to EC2, Lambda and ECS has no additional charge",
    "AWS::EC2::InternetGateway": "free; data transfer is usage",
    "AWS::EC2::LaunchTemplate": "free; the instances it launches are the Auto Scaling group's compute",
    "AWS::EC2::Route": "free",
    "AWS::EC2::RouteTable": "free",
    "AWS::EC2::SecurityGroup": "free",
    "AWS::EC2::SecurityGroupEgress": "free",
    "AWS::EC2::SecurityGroupIngress": "free",
    "AWS::EC2::Subnet": "free",
    "AWS::EC2::SubnetRouteTableAssociation": "free",
    "AWS::EC2::VPC": "free (its NAT gateways, endpoints and public IPv4 addresses are counted)",
    "AWS::EC2::VPCGatewayAttachment": "free",
    "AWS::ECS::Cluster": "free; Container Insights on it is usage (listed in the report)",
    "AWS::ECS::TaskDefinition": "free; tasks are the ECS service's compute",
    "AWS::ElasticLoadBalancingV2::Listener": "part of its load balancer (hours counted, LCUs usage)",
    "AWS::ElasticLoadBalancingV2::ListenerRule": "part of its load balancer (rule evaluations count in LCUs)",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "part of its load balancer",
    "AWS::Events::EventBusPolicy": "free",
    "AWS::IAM::InstanceProfile": "IAM is free",
    "AWS::IAM::ManagedPolicy": "IAM is free",
    "AWS::IAM::Policy": "IAM is free",
    "AWS::IAM::Role": "IAM is free",
    "AWS::KMS::Alias": "free; its key is counted",
    "AWS::Lambda::Alias": "free; invocations are the function's usage",
    "AWS::Lambda::EventInvokeConfig": "free",
    "AWS::Lambda::EventSourceMapping": "free; its polling is SQS requests (usage)",
    "AWS::Lambda::LayerVersion": "free (counts against the code storage quota)",
    "AWS::Lambda::Permission": "free",
    "AWS::Lambda::Version": "free (counts against the code storage quota)",
    "AWS::S3::BucketPolicy": "free",
    "AWS::SNS::TopicPolicy": "free",
    "AWS::SQS::QueuePolicy": "free",
    "AWS::SSM::Association": "State Manager associations on EC2 instances have no additional charge",
    "Custom::*": "a custom resource runs its provider's Lambda function at deploy time (counted as a function)",
}


def classification(resource_type: str) -> str | None:
    """How the cost model treats a resource type: "counted", "usage", "no charge", or None (unclassified)."""
    if resource_type in COUNTED:
        return "counted"
    if resource_type in USAGE:
        return "usage"
    if resource_type in NO_CHARGE or (resource_type.startswith("Custom::") and "Custom::*" in NO_CHARGE):
        return "no charge"
    return None


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def alarm_metrics(properties: Mapping[str, Any]) -> tuple[int, bool]:
    """How many metrics an alarm is billed for, and whether at high resolution (a period under 60 s).

    A metric-math alarm is billed per metric it reads (each MetricStat), not per expression.
    """
    metrics = properties.get("Metrics")
    if isinstance(metrics, list):
        stats = [m["MetricStat"] for m in metrics if isinstance(m, dict) and "MetricStat" in m]
        return len(stats), any(int(s.get("Period", 60)) < 60 for s in stats)
    return 1, int(properties.get("Period", 60)) < 60


def _subnet_count(properties: Mapping[str, Any], default_azs: int) -> int:
    for key in ("SubnetMappings", "Subnets", "SubnetIds"):
        if _is_list(properties.get(key)):
            return len(properties[key])
    return default_azs  # a token (an import, a split): the config's AZ count


def _enabled_container_insights(properties: Mapping[str, Any]) -> bool:
    settings: list[dict[str, Any]] = properties.get("ClusterSettings") or []
    return any(s.get("Name") == "containerInsights" and s.get("Value") in ("enabled", "enhanced") for s in settings)


def count_template(template: Mapping[str, Any], default_azs: int = 2) -> Counter[str]:
    """What one template costs when idle (FIXED keys), and what it holds that costs by use (usage: keys)."""
    counts: Counter[str] = Counter()
    for resource in template.get("Resources", {}).values():
        kind, properties = resource.get("Type", ""), resource.get("Properties") or {}
        if kind == "AWS::EC2::NatGateway":
            counts["nat_gateway"] += 1  # its Elastic IP is an AWS::EC2::EIP of its own, counted below
        elif kind == "AWS::EC2::EIP":
            counts["public_ipv4"] += 1
        elif kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
            if properties.get("Type", "application") != "application":
                counts[f"unpriced:{properties['Type']} load balancer"] += 1
                continue
            counts["alb"] += 1
            public = properties.get("Scheme", "internet-facing") == "internet-facing"
            if public and properties.get("IpAddressType") != "dualstack-without-public-ipv4":
                counts["public_ipv4"] += _subnet_count(properties, default_azs)
        elif kind == "AWS::EC2::VPCEndpoint":
            if properties.get("VpcEndpointType", "Gateway") == "Interface":
                counts["interface_endpoint_az"] += _subnet_count(properties, default_azs)
        elif kind == "AWS::KMS::Key":
            counts["kms_key"] += 1
            if properties.get("EnableKeyRotation"):
                counts["kms_key_rotating"] += 1
        elif kind == "AWS::SecretsManager::Secret":
            counts["secret"] += 1
        elif kind == "AWS::CloudWatch::Alarm":
            metrics, high_res = alarm_metrics(properties)
            counts["alarm_metric_high_res" if high_res else "alarm_metric"] += metrics
        elif kind == "AWS::CloudWatch::CompositeAlarm":
            counts["composite_alarm"] += 1
        elif kind == "AWS::CloudWatch::Dashboard":
            counts["dashboard"] += 1
        elif kind == "AWS::ECS::Cluster":
            counts["ecs_cluster"] += 1
            if _enabled_container_insights(properties):
                counts["container_insights_cluster"] += 1
        if kind in USAGE:
            counts[f"usage:{kind}"] += 1
    return counts


@dataclass(frozen=True)
class Line:
    key: str
    quantity: float
    price: Price
    monthly: float


def fixed_lines(counts: Mapping[str, float], prices: Mapping[str, Price]) -> list[Line]:
    lines = []
    for key, (price_key, per_month, _) in FIXED.items():
        quantity = counts.get(key, 0)
        if quantity:
            price = prices[price_key]
            lines.append(Line(key, quantity, price, quantity * per_month * price.usd))
    return lines


def fixed_monthly(counts: Mapping[str, float], prices: Mapping[str, Price]) -> float:
    return sum(line.monthly for line in fixed_lines(counts, prices))


# ----- a pipeline's run -----

# Assumed durations (minutes) of one action, by category/provider: no run was measured. CodePipeline
# rounds each action up to a whole minute; manual approvals are not charged.
ACTION_MINUTES: dict[str, int] = {
    "Source/CodeCommit": 1,
    "Build/CodeBuild": 6,  # provisioning and the build
    "Test/CodeBuild": 6,
    "Deploy/CodeDeploy": 10,  # EC2 in place, one batch after another
    "Deploy/CodeDeployToECS": 10,  # blue/green: a canary step and the shift
    "Invoke/Lambda": 10,  # the Lambda deployer waits for the CodeDeploy canary or linear shift
    "Approval/Manual": 0,
}
DEFAULT_ACTION_MINUTES = 5
BUILD_MINUTES = 5  # billed CodeBuild minutes per build or test action
COMPUTE_PRICES = {
    ("ARM_CONTAINER", "BUILD_GENERAL1_SMALL"): "codebuild_arm1_small_minute",
    ("LINUX_CONTAINER", "BUILD_GENERAL1_SMALL"): "codebuild_general1_small_minute",
}


@dataclass(frozen=True)
class PipelineRun:
    name: str
    pipeline_type: str
    action_minutes: int
    build_minutes: dict[str, int]  # CodeBuild price key -> billed minutes
    actions: list[str]
    unpriced: list[str] = field(default_factory=list)

    def cost(self, prices: Mapping[str, Price]) -> float:
        if self.pipeline_type != "V2":
            return math.nan  # V1: $1 per active pipeline a month, not per run
        builds = sum(prices[key].usd * minutes for key, minutes in self.build_minutes.items())
        return self.action_minutes * prices["codepipeline_v2_action_minute"].usd + builds


def pipeline_runs(template: Mapping[str, Any]) -> list[PipelineRun]:
    """One typical run of each pipeline of a template, from its stages' actions."""
    resources = template.get("Resources", {})
    runs = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CodePipeline::Pipeline":
            continue
        properties = resource.get("Properties") or {}
        minutes, builds, names, unpriced = 0, Counter[str](), [], []
        for stage in properties.get("Stages", []):
            for action in stage.get("Actions", []):
                type_id = action["ActionTypeId"]
                kind = f"{type_id['Category']}/{type_id['Provider']}"
                minutes += ACTION_MINUTES.get(kind, DEFAULT_ACTION_MINUTES)
                names.append(f"{stage['Name']}: {kind}")
                if type_id["Provider"] == "CodeBuild":
                    project = resources.get(_ref(action.get("Configuration", {}).get("ProjectName")), {})
                    environment = (project.get("Properties") or {}).get("Environment", {})
                    price_key = COMPUTE_PRICES.get((environment.get("Type"), environment.get("ComputeType")))
                    if price_key is None:
                        unpriced.append(f"{stage['Name']}: {environment.get('Type')} {environment.get('ComputeType')}")
                    else:
                        builds[price_key] += BUILD_MINUTES
        name = properties.get("Name", logical_id)
        runs.append(
            PipelineRun(
                name=name if isinstance(name, str) else logical_id,
                pipeline_type=properties.get("PipelineType", "V1"),
                action_minutes=minutes,
                build_minutes=dict(builds),
                actions=names,
                unpriced=unpriced,
            )
        )
    return runs


def _ref(value: Any) -> str:
    return value.get("Ref", "") if isinstance(value, dict) else ""


# ----- a whole platform -----


@dataclass(frozen=True)
class StackCost:
    """One synthesized stack, where it sits, and how many times it counts (representatives count more)."""

    name: str
    account: str
    region: str
    group: str  # tooling | pipeline | foundation | service
    counts: Counter[str]
    runs: list[PipelineRun] = field(default_factory=list)
    platform: str | None = None
    service: str | None = None
    environment: str | None = None
    times: int = 1


@dataclass
class Platform:
    label: str
    tooling_account: str
    accounts: dict[str, str]  # target account -> environment names
    stacks: list[StackCost]
    note: str = ""
    error: str = ""

    def monthly(self, prices: PriceTable, where: Iterable[StackCost] | None = None) -> float:
        chosen = self.stacks if where is None else where
        return sum(fixed_monthly(s.counts, prices_for(s.region, prices)) * s.times for s in chosen)

    def counts(self, where: Iterable[StackCost] | None = None) -> Counter[str]:
        total: Counter[str] = Counter()
        for stack in self.stacks if where is None else where:
            for key, value in stack.counts.items():
                total[key] += value * stack.times
        return total


def marginal_by_environment(base: Platform, plus: Platform, prices: PriceTable) -> dict[str, float]:
    """What adding one service changed in each environment's account: the difference of the two platforms."""
    result = {}
    for account, env_names in base.accounts.items():
        before = base.monthly(prices, [s for s in base.stacks if s.account == account])
        after = plus.monthly(prices, [s for s in plus.stacks if s.account == account])
        result[env_names] = after - before
    return result


def classify(config: Any, manifest: Mapping[str, Any], outdir: Path, default_azs: int) -> list[StackCost]:
    from config.names import Names

    names = Names(config)
    services = {}
    for service in config.services:
        services[names.pipeline_stack(service)] = ("pipeline", service, None)
        for env in config.environments_of(service):
            services[names.service_stack(service, env)] = ("service", service, env)
    stacks = []
    for artifact_id, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        properties = artifact.get("properties", {})
        stack_name = properties.get("stackName", artifact_id)
        _, account, region = artifact["environment"].rsplit("/", 2)
        template = json.loads((outdir / properties["templateFile"]).read_text())
        group, service, env = services.get(stack_name, (None, None, None))
        if group is None:
            group = "tooling" if account == config.tooling.account else "foundation"
        stacks.append(
            StackCost(
                name=stack_name,
                account=account,
                region=region,
                group=group,
                counts=count_template(template, default_azs),
                runs=pipeline_runs(template),
                platform=service.platform if service else None,
                service=service.name if service else None,
                environment=env.name if env else None,
            )
        )
    return stacks


def _cdk_context() -> dict[str, Any]:
    return {
        **json.loads((ROOT / "cdk.json").read_text())["context"],
        "aws:cdk:bundling-stacks": [],
        "aws:cdk:version-reporting": False,
    }


def synthesize(label: str, data: Mapping[str, Any], workdir: Path) -> Platform:
    """Synthesize `data` the way `cdk synth` does (in this process) and count every stack."""
    from app import platform_app
    from config import parse_config
    from stacks.platform import build_platform

    config = parse_config(copy.deepcopy(dict(data)), source=label)
    outdir = Path(tempfile.mkdtemp(dir=workdir))
    app = platform_app(context=_cdk_context(), outdir=str(outdir))
    build_platform(app, config)
    app.synth()
    manifest = json.loads((outdir / "manifest.json").read_text())
    azs = max((len(getattr(e.network, "availability_zones", None) or []) for e in config.environments), default=0)
    accounts: dict[str, list[str]] = {}
    for env in config.environments:
        accounts.setdefault(env.account, []).append(env.name)
    return Platform(
        label=label,
        tooling_account=config.tooling.account,
        accounts={account: "/".join(envs) for account, envs in accounts.items()},
        stacks=classify(config, manifest, outdir, azs or 2),
    )


def has_isolation() -> bool:
    from config.model import Service

    return "isolation" in Service.model_fields


def isolated(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with every EC2 and ECS service on its own network: the layout before the shared foundation."""
    result = copy.deepcopy(dict(data))
    if has_isolation():
        for service in result["services"]:
            if service.get("platform") in ("ec2", "ecs"):
                service["isolation"] = "network"
                service.pop("load_balancer", None)
    return result


def representatives(data: Mapping[str, Any]) -> tuple[dict[str, Any], Counter[str]]:
    """The first service of each platform, and how many services each platform has."""
    result = copy.deepcopy(dict(data))
    counts = Counter(s.get("platform") for s in result["services"])
    picked: dict[str, dict[str, Any]] = {}
    for service in result["services"]:
        picked.setdefault(service.get("platform"), service)
    result["services"] = list(picked.values())
    return result, counts


def multiplied(platform: Platform, counts: Counter[str]) -> Platform:
    """Each representative's pipeline and service stacks counted once per service of its platform."""
    stacks = [StackCost(**{**s.__dict__, "times": counts[s.platform]}) if s.platform else s for s in platform.stacks]
    return Platform(platform.label, platform.tooling_account, platform.accounts, stacks, platform.note)


def scaled(data: Mapping[str, Any], services: int) -> dict[str, Any]:
    """`data` with tools/scale_config.py's generated services and existing VPCs (what the scale tests use)."""
    from tools.scale_config import scaled_config, shared_network

    generated = scaled_config(services)
    result = copy.deepcopy(dict(data))
    result["services"] = generated["services"]
    for index, env in enumerate(result["environments"], start=1):
        env["network"] = shared_network(index)
    return result


def with_extra_service(data: Mapping[str, Any], platform: str) -> dict[str, Any]:
    result = copy.deepcopy(dict(data))
    model = next(s for s in result["services"] if s.get("platform") == platform)
    extra = copy.deepcopy(model)
    extra["name"] = f"extra-{platform}"
    extra.pop("route", None)
    result["services"].append(extra)
    return result


def _attempt(label: str, data: Mapping[str, Any], workdir: Path) -> Platform:
    from config import ConfigError

    try:
        return synthesize(label, data, workdir)
    except ConfigError as error:
        return Platform(label, "", {}, [], error=error.render())


# ----- the report -----


def usd(value: float) -> str:
    return "n/a" if math.isnan(value) else f"${value:,.2f}"


def unit_price(value: float) -> str:
    """A list price with the digits AWS gives it, at least cents: $0.40, $0.0252, $1.00."""
    text = f"{value:.6f}".rstrip("0")
    return f"${text}{'0' * max(0, 2 - len(text.split('.')[1]))}"


def _price_row(price: Price) -> str:
    status = "" if price.confirmed else " **not confirmed for this region from AWS**"
    dated = f"read {price.read}" + (f"; source dated {price.page_date}" if price.page_date else "")
    kind = {"aws": "AWS", "aws-copy": "AWS data, via a copy", "third-party": "third party"}[price.kind]
    return (
        f"| `{price.key}` | {unit_price(price.usd)} | {price.unit} | [{kind}]({price.source}), {dated}{status} "
        f"| {price.note} |"
    )


def _parts(platform: Platform) -> list[tuple[str, str, list[StackCost]]]:
    """(account, part, stacks) rows: tooling shared, pipelines; per target account foundation and platforms."""
    rows = []
    tooling = [s for s in platform.stacks if s.account == platform.tooling_account]
    rows.append((f"tooling {platform.tooling_account}", "shared stacks", [s for s in tooling if s.group == "tooling"]))
    pipelines = [s for s in tooling if s.group == "pipeline"]
    rows.append((f"tooling {platform.tooling_account}", f"pipelines ({_units(pipelines)})", pipelines))
    for account, envs in platform.accounts.items():
        mine = [s for s in platform.stacks if s.account == account]
        rows.append((f"{envs} {account}", "foundation", [s for s in mine if s.group == "foundation"]))
        for kind in ("ec2", "ecs", "lambda"):
            chosen = [s for s in mine if s.group == "service" and s.platform == kind]
            rows.append((f"{envs} {account}", f"{kind} services ({_units(chosen)} service-environments)", chosen))
    return rows


def _units(stacks: list[StackCost]) -> int:
    return sum(s.times for s in stacks)


def comparison(before: Platform, after: Platform, prices: PriceTable) -> list[str]:
    if before.error or after.error:
        return [f"Not synthesized: {(before.error or after.error).strip()}", ""]
    lines = ["| Account | Part | Before | After |", "|---|---|---:|---:|"]
    totals: dict[str, list[float]] = {}
    for (account, part, was_stacks), (_, _, now_stacks) in zip(_parts(before), _parts(after), strict=True):
        was, now = before.monthly(prices, was_stacks), after.monthly(prices, now_stacks)
        totals.setdefault(account, [0.0, 0.0])
        totals[account][0] += was
        totals[account][1] += now
        lines.append(f"| {account} | {part} | {usd(was)} | {usd(now)} |")
    for account, (was, now) in totals.items():
        lines.append(f"| **{account}** | **total** | **{usd(was)}** | **{usd(now)}** |")
    lines.append(
        f"| **all accounts** | **total** | **{usd(before.monthly(prices))}** | **{usd(after.monthly(prices))}** |"
    )
    lines.append("")
    lines += ["What is counted (all accounts):", "", "| Item | Before | After |", "|---|---:|---:|"]
    had, has = before.counts(), after.counts()
    for key, (_, _, description) in FIXED.items():
        if had.get(key) or has.get(key):
            lines.append(f"| {description} | {had.get(key, 0):g} | {has.get(key, 0):g} |")
    for key, description in (
        ("kms_key_rotating", "KMS keys with yearly rotation (each adds $1 a month from its 2nd year, $2 from its 3rd)"),
        ("ecs_cluster", "ECS clusters (no charge of their own)"),
        ("container_insights_cluster", "ECS clusters with Container Insights (usage, excluded: see below)"),
    ):
        if had.get(key) or has.get(key):
            lines.append(f"| {description} | {had.get(key, 0):g} | {has.get(key, 0):g} |")
    unpriced = sorted(k for k in {*had, *has} if k.startswith("unpriced:"))
    for key in unpriced:
        lines.append(
            f"| {key.split(':', 1)[1]} (**no price recorded: not in the totals**) | {had[key]:g} | {has[key]:g} |"
        )
    lines.append("")
    return lines


def marginal_section(
    base: Platform, extras: dict[str, Platform], prices: PriceTable
) -> tuple[list[str], dict[str, dict[str, float]]]:
    lines = [
        "| Platform | "
        + " | ".join(f"{envs}: added per month" for envs in base.accounts.values())
        + " | Pipeline (tooling) | Target | Verdict |",
        "|---|" + "---:|" * len(base.accounts) + "---:|---|---|",
    ]
    found: dict[str, dict[str, float]] = {}
    for kind, plus in extras.items():
        if plus.error:
            lines.append(f"| {kind} | not synthesized: {plus.error.strip()} |")
            continue
        per_env = marginal_by_environment(base, plus, prices)
        found[kind] = per_env
        tooling = plus.monthly(prices, [s for s in plus.stacks if s.account == plus.tooling_account]) - base.monthly(
            prices, [s for s in base.stacks if s.account == base.tooling_account]
        )
        if kind == "lambda":
            target, verdict = "none set", "-"
        else:
            target = f"< {usd(TARGET_USD)} per environment"
            verdict = "PASS" if all(v < TARGET_USD for v in per_env.values()) else "FAIL"
        cells = " | ".join(usd(v) for v in per_env.values())
        lines.append(f"| {kind} | {cells} | {usd(tooling)} | {target} | **{verdict}** |")
    lines.append("")
    return lines, found


def pipeline_section(platform: Platform, prices: PriceTable) -> list[str]:
    lines = [
        "| Pipeline | Platform | Fixed a month | Actions of a run | Action minutes | CodeBuild minutes | Per run |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for stack in sorted((s for s in platform.stacks if s.group == "pipeline"), key=lambda s: s.name):
        stack_prices = prices_for(stack.region, prices)
        for run in stack.runs:
            builds = sum(run.build_minutes.values())
            lines.append(
                f"| {stack.name} | {stack.platform} | {usd(fixed_monthly(stack.counts, stack_prices))} "
                f"| {'; '.join(run.actions)} | {run.action_minutes} | {builds} | {usd(run.cost(stack_prices))} |"
            )
    lines.append("")
    return lines


def usage_section(platform: Platform) -> list[str]:
    counts = platform.counts()
    lines = ["| Resource | Count (default config, after) | Charged for |", "|---|---:|---|"]
    for kind, description in USAGE.items():
        if counts.get(f"usage:{kind}"):
            lines.append(f"| `{kind}` | {counts[f'usage:{kind}']:g} | {description.split(': ', 1)[1]} |")
    lines.append("")
    return lines


def render(
    *,
    today: str,
    source: str,
    region: str,
    prices: PriceTable,
    default: tuple[Platform, Platform],
    at_scale: tuple[Platform, Platform],
    base: Platform,
    extras: dict[str, Platform],
    notes: list[str],
    tree: str = "",
) -> str:
    region_prices = prices_for(region, prices)
    out = [
        "# Cost model",
        "",
        f"Generated by `make cost` (`python -m tools.cost`) on {today} from {source}{tree}; do not edit by hand.",
        "",
        "The fixed monthly cost is what the platform pays while idle: it is counted from the synthesized "
        "templates (so it follows whatever the stacks contain) and priced with the list prices below, "
        f"{HOURS_PER_MONTH} hours a month, in USD before tax, without free tiers (they are per account and "
        "listed below). Compute (instances, tasks, function time), traffic (LCUs, data processed and "
        "transferred) and storage are not in it.",
        "",
        *notes,
        "",
        f"## Prices ({region})",
        "",
        "| Key | Price | Unit | Source | Note |",
        "|---|---:|---|---|---|",
        *(_price_row(p) for p in region_prices.values()),
        "",
        f"Prices are recorded for: {', '.join(sorted(prices))} (tools/prices.json). A config in any other region "
        "stops `make cost` with an error naming the region.",
        "",
        "## Target: the fixed cost one service adds to an environment",
        "",
        "Measured as the difference between the default config and the default config with one more "
        "service of that platform (a copy of the example service), per environment account, after this change; "
        "the pipeline it adds in the tooling account is shown apart.",
        "",
    ]
    lines, _ = marginal_section(base, extras, prices)
    out += lines
    out += ["## Default config: fixed monthly cost by account", "", *comparison(*default, prices)]
    out += [
        f"## {SCALE} services: fixed monthly cost by account",
        "",
        f"tools/scale_config.py's {SCALE} services (a third each of ec2, ecs and lambda), in both environments, each "
        "environment given an existing VPC by ids: that VPC's own NAT gateways are outside the platform and not "
        "counted (those of VPCs the stacks create are). Before: one service of each platform synthesized and "
        "counted once per service "
        "of its platform. After: the whole platform synthesized.",
        "",
        *comparison(*at_scale, prices),
    ]
    after_default = default[1]
    if not after_default.error:
        out += [
            "## Pipelines: fixed and per run (default config)",
            "",
            "Each pipeline's fixed cost is its stack's idle items, counted like any other stack's; "
            "a run is priced from the pipeline's own actions with these assumed durations (no run was measured): "
            + ", ".join(f"{kind} {minutes} min" for kind, minutes in ACTION_MINUTES.items())
            + f", and {BUILD_MINUTES} billed CodeBuild minutes per build or test action. The pull-request build "
            f"runs outside the pipeline: about {BUILD_MINUTES} CodeBuild minutes per pull-request update.",
            "",
            *pipeline_section(after_default, prices),
            "Free each month, per account (not subtracted above): 100 V2 action minutes, 100 arm1.small/general1.small "
            "build minutes, 10 standard alarm metrics.",
            "",
        ]
        out += [
            "## Excluded: priced by use",
            "",
            *usage_section(after_default),
            f"Every other resource type of the templates ({len(NO_CHARGE) - 1} types, and custom resources) costs "
            "nothing by itself: IAM, VPC routing and security groups, listeners and target groups, CodeDeploy, "
            "Lambda versions and permissions, resource policies (`NO_CHARGE` in tools/cost.py; a test fails on a "
            "type the model has not classified).",
            "",
            "Also excluded:",
            "",
            "- **Container Insights** (enhanced observability on the ECS clusters): billed on the metrics and "
            "performance log events that running tasks produce, so it grows with tasks, not with the platform; AWS "
            'says its metrics "reflect only the resources with running tasks" '
            "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cloudwatch-container-insights.html). No "
            "eu-west-1 rate was confirmed (a third party quotes $0.07 per metric a month for enhanced observability).",
            "- **EC2 instances, Fargate tasks, Lambda duration**: compute, outside the target by definition.",
            "- **Load balancer LCUs, NAT data processing, data transfer**: traffic.",
            "- **KMS rotation**: rotating keys add $1 a month after their first rotation and $2 after their second "
            "(not in the totals; the count of rotating keys is in the tables).",
            "- **CodeCommit**: per active user, not per repository; price not confirmed.",
            "- **EventBridge API destinations' connection secrets**: AWS includes their cost in the API destination "
            "(https://docs.aws.amazon.com/secretsmanager/latest/userguide/integrating_how-services-use-secrets_events.html).",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def tree_state() -> str:
    """Which code the templates came from: the commit, and whether the stacks' code had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app.py", "stacks", "cdk_constructs", "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" at commit {commit}" + (" with uncommitted changes to the stacks' code" if dirty else "")


def build_report(data: Mapping[str, Any], source: str, workdir: Path, today: str | None = None) -> str:
    from config import parse_config

    config = parse_config(copy.deepcopy(dict(data)), source=source)
    prices = load_prices()
    for env in config.environments:
        prices_for(config.region_of(env), prices)
    prices_for(config.tooling.region, prices)

    notes = []
    if has_isolation():
        notes.append(
            "Before: every EC2 and ECS service with `isolation: network` (its own VPC, NAT gateway and load "
            "balancer). After: the config as given (default `isolation: shared`: the environment foundation's "
            "VPC, load balancers and cluster)."
        )
    else:
        notes.append(
            "**This tree has no `isolation` setting yet (no shared environment foundation): before and after are "
            "the same layout, each EC2 and ECS service with its own VPC, NAT gateway and load balancer.** "
            "Run `make cost` again once the foundation stack is in."
        )
    after = _attempt("default config, after", data, workdir)
    before = _attempt("default config, before", isolated(data), workdir)
    extras = {
        kind: _attempt(f"one more {kind} service", with_extra_service(data, kind), workdir)
        for kind in ("ec2", "ecs", "lambda")
    }

    big = scaled(data, SCALE)
    picked, counts = representatives(isolated(big))
    scale_before = _attempt(f"{SCALE} services, before", picked, workdir)
    if not scale_before.error:
        scale_before = multiplied(scale_before, counts)
    scale_after = _attempt(f"{SCALE} services, after", big, workdir)
    return render(
        today=today or date.today().isoformat(),
        source=source,
        region=config.tooling.region,
        prices=prices,
        default=(before, after),
        at_scale=(scale_before, scale_after),
        base=after,
        extras=extras,
        notes=notes,
        tree=tree_state(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", help="platform config file (default: config/platform.yaml)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    from config.loader import DEFAULT_CONFIG

    path = Path(args.config) if args.config else DEFAULT_CONFIG
    data = yaml.safe_load(path.read_text())
    try:
        with tempfile.TemporaryDirectory() as workdir:
            report = build_report(
                data, str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), Path(workdir)
            )
    except UnknownRegionError as error:
        print(f"make cost: {error}", file=sys.stderr)
        return 1
    args.output.write_text(report)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
