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

Scope = Literal["account", "region", "load_balancer", "event_bus"]
# Quotas counted per resource (each load balancer, each event bus) rather than per account or region.
PER_RESOURCE: tuple[Scope, ...] = ("load_balancer", "event_bus")


@dataclass(frozen=True)
class Quota:
    key: str
    description: str
    default: int
    scope: Scope  # IAM and S3 bucket quotas per account; per ALB and per bus ones per resource; the rest per region
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
CODEBUILD = "https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html"
CODECOMMIT = "https://docs.aws.amazon.com/codecommit/latest/userguide/limits.html"
CODEARTIFACT = "https://docs.aws.amazon.com/codeartifact/latest/ug/service-limits.html"
ECS = "https://docs.aws.amazon.com/general/latest/gr/ecs-service.html"

QUOTAS: tuple[Quota, ...] = (
    Quota("rules_per_default_bus", "EventBridge rules on the default event bus", 300, "region", EVENTBRIDGE,
          "L-244521F2", "AWS::Events::Rule", _on_default_bus),
    Quota("rules_per_custom_bus", "EventBridge rules on each custom event bus", 300, "event_bus", EVENTBRIDGE,
          "L-244521F2"),
    # The quotas page lists "Event buses: 100 per account per Region, adjustable"; its code was not confirmed.
    Quota("event_buses", "EventBridge custom event buses", 100, "region", EVENTBRIDGE, None, "AWS::Events::EventBus"),
    Quota("application_load_balancers", "Application Load Balancers", 50, "region", ELB, "L-53DA6B97",
          "AWS::ElasticLoadBalancingV2::LoadBalancer", _application_load_balancer),
    Quota("target_groups", "target groups", 3_000, "region", ELB, "L-B22855CB",
          "AWS::ElasticLoadBalancingV2::TargetGroup"),
    Quota("listeners_per_alb", "listeners per Application Load Balancer", 50, "load_balancer", ELB, "L-B6DF7632"),
    Quota("rules_per_alb", "listener rules per Application Load Balancer (without default rules)", 100,
          "load_balancer", ELB, "L-7EED9B64"),
    Quota("target_groups_per_alb", "target groups per Application Load Balancer", 100, "load_balancer", ELB,
          adjustable=False),
    Quota("iam_roles", "IAM roles", 1_000, "account", IAM, "L-FE177D64", "AWS::IAM::Role"),
    Quota("iam_managed_policies", "IAM customer managed policies", 1_500, "account", IAM, None,
          "AWS::IAM::ManagedPolicy"),
    Quota("instance_profiles", "IAM instance profiles", 1_000, "account", IAM, "L-6E65F664",
          "AWS::IAM::InstanceProfile"),
    Quota("pipelines", "CodePipeline pipelines", 1_000, "region",
          "https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html", None,
          "AWS::CodePipeline::Pipeline"),
    Quota("build_projects", "CodeBuild build projects", 5_000, "region",
          CODEBUILD, None, "AWS::CodeBuild::Project"),
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
    # `during: wait` freezes: one schedule per stage and edge. The page also gives 1,000 target invocations a
    # second (primary Regions): every pipeline's edges fire at the same minute (docs/adr/0008).
    Quota("schedules", "EventBridge Scheduler schedules", 10_000_000, "region",
          "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html", None,
          "AWS::Scheduler::Schedule"),
    Quota("s3_buckets", "S3 general purpose buckets", 10_000, "account",
          "https://docs.aws.amazon.com/AmazonS3/latest/userguide/BucketRestrictions.html", "L-DC2B2D3D",
          "AWS::S3::Bucket"),
    # One per EC2 service and environment: the lowest of the per-service counts (500 EC2 services in one account).
    Quota("autoscaling_groups", "EC2 Auto Scaling groups", 500, "region", "https://docs.aws.amazon.com/general/latest/gr/as.html",
          "L-CDE20ADC", "AWS::AutoScaling::AutoScalingGroup"),
    Quota("launch_templates", "EC2 launch templates", 5_000, "region",
          "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/launch-template-restrictions.html", None,
          "AWS::EC2::LaunchTemplate"),
    # "You can have at most 2,000 active associations" (the API's AssociationLimitExceeded); adjustability unstated.
    Quota("ssm_associations", "Systems Manager State Manager associations", 2_000, "region",
          "https://docs.aws.amazon.com/general/latest/gr/ssm.html", None, "AWS::SSM::Association", adjustable=False),
    Quota("codecommit_repositories", "CodeCommit repositories", 5_000, "region", CODECOMMIT, "L-81790602",
          "AWS::CodeCommit::Repository"),
    Quota("approval_rule_templates", "CodeCommit approval rule templates", 1_000, "region", CODECOMMIT, None,
          "Custom::ApprovalRuleTemplate", adjustable=False),
    # Per application (1,000); counted per Region, an upper bound of every application's count.
    Quota("codedeploy_deployment_groups", "CodeDeploy deployment groups (per application; counted per Region)", 1_000,
          "region", CODEDEPLOY, None, "AWS::CodeDeploy::DeploymentGroup"),
    Quota("codeartifact_domains", "CodeArtifact domains", 10, "region", CODEARTIFACT, "L-DD7208D3",
          "AWS::CodeArtifact::Domain"),
    Quota("codeartifact_repositories", "CodeArtifact repositories (per domain; counted per Region)", 1_000, "region",
          CODEARTIFACT, None, "AWS::CodeArtifact::Repository"),
    Quota("report_groups", "CodeBuild report groups", 5_000, "region", CODEBUILD, None,
          "AWS::CodeBuild::ReportGroup"),
    Quota("api_destinations", "EventBridge API destinations", 3_000, "region", EVENTBRIDGE, "L-FB1C3A6D",
          "AWS::Events::ApiDestination"),
    # The platform's tables are TableV2 (AWS::DynamoDB::GlobalTable with one replica): each is a table in its Region.
    Quota("dynamodb_tables", "DynamoDB tables", 2_500, "region", "https://docs.aws.amazon.com/general/latest/gr/ddb.html",
          "L-F98FE922", "AWS::DynamoDB::GlobalTable"),
    Quota("ecs_clusters", "ECS clusters", 10_000, "region", ECS,
          "L-21C621EB", "AWS::ECS::Cluster"),
    # Per cluster (5,000, not adjustable); counted per Region, an upper bound of every cluster's count.
    Quota("ecs_services", "ECS services (per cluster; counted per Region)", 5_000, "region",
          ECS, None, "AWS::ECS::Service",
          adjustable=False),
    Quota("ecr_repositories", "ECR repositories", 100_000, "region",
          "https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html", "L-CFEB8E8D",
          "AWS::ECR::Repository"),
    Quota("log_groups", "CloudWatch Logs log groups", 1_000_000, "region",
          "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html", "L-C7B9AAAB",
          "AWS::Logs::LogGroup"),
    Quota("kms_keys", "KMS customer managed keys", 100_000, "region",
          "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html", None, "AWS::KMS::Key"),
    Quota("secrets", "Secrets Manager secrets", 500_000, "region",
          "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html", None,
          "AWS::SecretsManager::Secret", adjustable=False),
    Quota("sns_topics", "SNS standard topics", 100_000, "region", "https://docs.aws.amazon.com/general/latest/gr/sns.html",
          None, "AWS::SNS::Topic"),
    # Per VPC (200 each); counted per Region, an upper bound of every VPC's count.
    Quota("subnets", "VPC subnets (per VPC; counted per Region)", 200, "region", VPC, "L-407747CB", "AWS::EC2::Subnet"),
    Quota("route_tables", "VPC route tables (per VPC; counted per Region)", 200, "region", VPC, "L-589F43AA",
          "AWS::EC2::RouteTable"),
    Quota("internet_gateways", "internet gateways", 5, "region", VPC, "L-A4707A72", "AWS::EC2::InternetGateway"),
)  # fmt: skip

BY_KEY = {quota.key: quota for quota in QUOTAS}

# Quotas the platform consumes that templates alone cannot count.
UNCOUNTED = (
    "listener rules and target groups on a load balancer of another stack that is not in the same assembly "
    "(or not given to QuotaUsage as a producer): counted only for load balancers whose template is known",
    "NAT gateways per Availability Zone (5): bounded by elastic_ips, one Elastic IP per NAT gateway",
    "concurrent CodeBuild builds and CodeDeploy deployments: a runtime quota, not a count of resources",
    "Lambda function and layer storage (75 GB in the General Reference, 300 GB unzipped in the Lambda guide): "
    "grows with every version a deploy publishes, not with the templates",
    "ECS task definition revisions (1,000,000 per family): grow with deploys, not with the templates",
)

# Resource types with no published count quota, or whose quota is counted through another one: every type
# a template holds is counted by a Quota above, by QuotaUsage itself (listeners, rules, target groups per
# load balancer), or listed here with why, so that a new type is looked up before it ships.
NOT_COUNTED: dict[str, str] = {
    "AWS::SQS::Queue": 'no count quota ("as many queues ... as you like", the SQS developer guide)',
    "AWS::CloudWatch::Alarm": "no count quota for metric alarms (only Metrics Insights alarms: 200; none here)",
    "AWS::CloudWatch::Dashboard": "no count quota published",
    "AWS::Lambda::Function": "no count quota; its code counts in the storage quota (UNCOUNTED)",
    "AWS::Lambda::Version": "no count quota; its code counts in the storage quota (UNCOUNTED)",
    "AWS::Lambda::LayerVersion": "no count quota; storage as above; 5 layers per function (the platform uses 1)",
    "AWS::Lambda::Alias": "no count quota published",
    "AWS::Lambda::Permission": "a function's resource policy (20 KB) holds them; a few per function",
    "AWS::Lambda::EventInvokeConfig": "one per function",
    "AWS::Lambda::EventSourceMapping": "no general count quota (only Kafka on Managed Instances, not used)",
    "AWS::IAM::Policy": "inline: sized per role, measured by tools/template_limits.py",
    "AWS::KMS::Alias": "one per key the platform creates (kms_keys)",
    "AWS::S3::BucketPolicy": "one per bucket (s3_buckets); its size is measured by tools/template_limits.py",
    "AWS::SNS::TopicPolicy": "one per topic (sns_topics)",
    "AWS::SQS::QueuePolicy": "one per queue",
    "AWS::Events::EventBusPolicy": "one per bus (event_buses); its size is measured by tools/template_limits.py",
    "AWS::Events::Rule": "counted per bus by QuotaUsage (rules_per_default_bus, rules_per_custom_bus)",
    "AWS::EC2::Route": "the foundation's fixed routes, not per service",
    "AWS::EC2::SubnetRouteTableAssociation": "one per subnet (subnets)",
    "AWS::EC2::VPCGatewayAttachment": "one per internet gateway (internet_gateways)",
    "AWS::EC2::NatGateway": "one Elastic IP each (elastic_ips); per AZ in UNCOUNTED",
    "AWS::EC2::SecurityGroupIngress": "services join the shared targets group: rules per group stay fixed",
    "AWS::EC2::SecurityGroupEgress": "services join the shared targets group: rules per group stay fixed",
    "AWS::EC2::FlowLog": "one per VPC (vpcs)",
    "AWS::ElasticLoadBalancingV2::Listener": "counted per load balancer by QuotaUsage (listeners_per_alb)",
    "AWS::ElasticLoadBalancingV2::ListenerRule": "counted per load balancer by QuotaUsage (rules_per_alb)",
    "AWS::ECS::TaskDefinition": "revisions per family in UNCOUNTED",
    "AWS::Chatbot::MicrosoftTeamsChannelConfiguration": 'no quota published ("there are no adjustable quotas")',
    "Custom::ApprovalRuleTemplateAssociation": "at most 25 templates per repository (the API's limit); one here",
    "Custom::ListenerTraffic": "reads a listener; creates nothing",
    "Custom::TeamsApiDestination": "creates an API destination and its connection, one per channel (channels <= 20)",
    "Custom::VpcRestrictDefaultSG": "changes the VPC's default security group; creates nothing",
}


def counted_by(resource_type: str) -> str | None:
    """The quota key or reason that accounts for a resource type; None when the quota model does not know it."""
    quota = next((q.key for q in QUOTAS if q.resource_type == resource_type), None)
    return quota or NOT_COUNTED.get(resource_type)


@dataclass
class Producers:
    """What other stacks' references resolve to: each stack's outputs and which load balancer each listener is on."""

    outputs: dict[tuple[str, str], str] = field(default_factory=dict)  # (stack, output) -> logical id
    exports: dict[str, tuple[str, str]] = field(default_factory=dict)  # export name -> (stack, logical id)
    listeners: dict[tuple[str, str], str] = field(default_factory=dict)  # (stack, listener) -> load balancer

    def add(self, stack: str, template: dict[str, Any]) -> None:
        for name, output in (template.get("Outputs") or {}).items():
            logical = _ref(output.get("Value"))
            if logical is None:
                continue
            self.outputs[(stack, name)] = logical
            export = (output.get("Export") or {}).get("Name")
            if isinstance(export, str):
                self.exports[export] = (stack, logical)
        for name, resource in (template.get("Resources") or {}).items():
            if resource.get("Type") == "AWS::ElasticLoadBalancingV2::Listener":
                balancer = _ref(resource.get("Properties", {}).get("LoadBalancerArn"))
                if balancer:
                    self.listeners[(stack, name)] = balancer

    def listener(self, node: Any) -> tuple[str, str] | None:
        """(stack, load balancer) of a listener another stack references (Fn::GetStackOutput or Fn::ImportValue)."""
        if not isinstance(node, dict) or len(node) != 1:
            return None
        source: tuple[str, str] | None = None
        if isinstance(node.get("Fn::GetStackOutput"), dict):
            ref = node["Fn::GetStackOutput"]
            logical = self.outputs.get((str(ref.get("StackName")), str(ref.get("OutputName"))))
            source = (str(ref.get("StackName")), logical) if logical else None
        elif isinstance(node.get("Fn::ImportValue"), str):
            source = self.exports.get(node["Fn::ImportValue"])
        if source is None or source not in self.listeners:
            return None
        return source[0], self.listeners[source]


@dataclass
class QuotaUsage:
    """Counts per (account, region or "global", quota key)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    producers: Producers = field(default_factory=Producers)

    def add_template(
        self, account: str, region: str, template: dict[str, Any], times: int = 1, stack: str = ""
    ) -> None:
        """Count one stack's resources (`times` stacks like it, for representatives at scale).

        Load balancers of other stacks (a foundation's) must be added first, or given in `producers`,
        for this stack's rules and target groups on them to count."""
        resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.counts[(account, region, "stacks")] += times
        for resource in resources.values():
            kind, properties = resource.get("Type"), resource.get("Properties", {})
            for quota in QUOTAS:
                if quota.resource_type == kind and (quota.where is None or quota.where(properties)):
                    place = "global" if quota.scope == "account" else region
                    self.counts[(account, place, quota.key)] += times
            bus = properties.get("EventBusName", "default") if kind == "AWS::Events::Rule" else "default"
            if bus != "default":
                name = bus if isinstance(bus, str) else (_ref(bus) or json.dumps(bus, sort_keys=True))
                self.counts[(account, f"{region}/{name}", "rules_per_custom_bus")] += times
        self.producers.add(stack, template)
        # Per load balancer: each of `times` stacks has its own, so these are not multiplied; rules and
        # target groups on another stack's load balancer are, `times` stacks' worth of them.
        own, attached = _per_load_balancer(resources, self.producers)
        for balancer, counts in own.items():
            for key, value in counts.items():
                place = f"{region}/{stack}/{balancer}" if stack else f"{region}/{balancer}"
                self.counts[(account, place, key)] = max(self.counts[(account, place, key)], value)
        for (producer, balancer), counts in attached.items():
            for key, value in counts.items():
                self.counts[(account, f"{region}/{producer}/{balancer}", key)] += value * times

    def used(self, account: str, key: str, region: str | None = None) -> int:
        if BY_KEY[key].scope in PER_RESOURCE:
            raise ValueError(f"{key} is counted per {BY_KEY[key].scope.replace('_', ' ')}: see rows()")
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
    stacks = []
    for name, artifact in manifest["artifacts"].items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        _, account, region = artifact["environment"].rsplit("/", 2)
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        usage.producers.add(name, template)
        stacks.append((account, region, template, name))
    for account, region, template, name in stacks:
        usage.add_template(account, region, template, stack=name)
    return usage


def _ref(node: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt names, if `node` is one."""
    if isinstance(node, dict) and len(node) == 1:
        if "Ref" in node and isinstance(node["Ref"], str):
            return node["Ref"]
        attribute = node.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute and isinstance(attribute[0], str):
            return attribute[0]
    return None


def _forwarded(actions: Any) -> set[str]:
    """Logical ids of the target groups a listener's or rule's actions forward to."""
    found: set[str] = set()
    for action in actions if isinstance(actions, list) else []:
        found.add(_ref(action.get("TargetGroupArn")) or "")
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups", []):
            found.add(_ref(group.get("TargetGroupArn")) or "")
    return found - {""}


def _per_load_balancer(
    resources: dict[str, dict[str, Any]], producers: Producers
) -> tuple[dict[str, Counter[str]], dict[tuple[str, str], Counter[str]]]:
    """listeners, rules and target groups of each Application Load Balancer defined in `resources`, and the
    rules and target groups `resources` put on load balancers of other stacks, by (stack, load balancer)."""
    balancers = {
        name
        for name, r in resources.items()
        if r.get("Type") == "AWS::ElasticLoadBalancingV2::LoadBalancer"
        and _application_load_balancer(r.get("Properties", {}))
    }
    listeners: dict[str, str] = {}
    groups: dict[str, set[str]] = {b: set() for b in balancers}
    counts: dict[str, Counter[str]] = {b: Counter() for b in balancers}
    elsewhere: dict[tuple[str, str], Counter[str]] = {}
    elsewhere_groups: dict[tuple[str, str], set[str]] = {}
    target_groups = {n for n, r in resources.items() if r.get("Type") == "AWS::ElasticLoadBalancingV2::TargetGroup"}

    def on(listener: Any) -> tuple[str, tuple[str, str] | None]:
        """The local load balancer a listener reference is on, or the other stack's."""
        local = listeners.get(_ref(listener) or "")
        return (local, None) if local is not None else ("", producers.listener(listener))

    def member(listener: Any, members: set[str], rule: bool) -> None:
        local, remote = on(listener)
        if local:
            counts[local]["rules_per_alb"] += rule
            groups[local] |= members & target_groups
        elif remote is not None:
            elsewhere.setdefault(remote, Counter())["rules_per_alb"] += rule
            elsewhere_groups.setdefault(remote, set()).update(members & target_groups)

    for name, r in resources.items():
        properties = r.get("Properties", {})
        if r.get("Type") == "AWS::ElasticLoadBalancingV2::Listener":
            balancer = _ref(properties.get("LoadBalancerArn"))
            if balancer in balancers:
                listeners[name] = balancer
                counts[balancer]["listeners_per_alb"] += 1
                groups[balancer] |= _forwarded(properties.get("DefaultActions")) & target_groups
    for r in resources.values():
        properties = r.get("Properties", {})
        if r.get("Type") == "AWS::ElasticLoadBalancingV2::ListenerRule":
            member(properties.get("ListenerArn"), _forwarded(properties.get("Actions")), rule=True)
        elif r.get("Type") == "AWS::CodeDeploy::DeploymentGroup":
            # Blue/green pairs: CodeDeploy forwards the production route to either group.
            for pair in (properties.get("LoadBalancerInfo") or {}).get("TargetGroupPairInfoList", []):
                named = {_ref(group.get("Name")) or "" for group in pair.get("TargetGroups", [])}
                for arn in (pair.get("ProdTrafficRoute") or {}).get("ListenerArns", []):
                    member(arn, named, rule=False)
    for balancer, members in groups.items():
        counts[balancer]["target_groups_per_alb"] = len(members)
    for remote, members in elsewhere_groups.items():
        elsewhere[remote]["target_groups_per_alb"] = len(members)
    return counts, elsewhere
