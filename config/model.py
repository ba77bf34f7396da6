"""The typed platform configuration: one model, the one place where defaults live.

`config/platform.yaml` is parsed into `PlatformConfig` and validated before any
construct is built. Every rule that can be checked without AWS is checked here, so
a bad file stops synth with a message naming the field, the value and what is
allowed (see `config.loader.ConfigError`).
"""

from __future__ import annotations

import datetime
import difflib
import functools
import ipaddress
import json
import math
import re
import zlib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from config import aws_facts

# --------------------------------------------------------------------------------------
# Scalar types
# --------------------------------------------------------------------------------------

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
ORG_ID_PATTERN = re.compile(r"^o-[a-z0-9]{10,32}$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
SECRET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
BRANCH_PATTERN = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}(?<!/)(?<!\.lock)$")
CERTIFICATE_ARN_PATTERN = r"^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _name_validator(kind: str, max_length: int, used_in: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) < 2 or len(value) > max_length or not NAME_PATTERN.match(value):
            raise ValueError(
                f"allowed: 2 to {max_length} characters, lowercase letters, digits and "
                f"single hyphens, starting with a letter and not ending with a hyphen "
                f"(a {kind} name becomes part of {used_in})"
            )
        return value

    return AfterValidator(check)


def _account_id(value: Any) -> str:
    # YAML reads an unquoted account id as an integer; accept it only if no digit was lost.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("allowed: a 12-digit AWS account id as a quoted string")
    text = str(value)
    if not re.fullmatch(r"\d{12}", text):
        hint = " (quote account ids in YAML: unquoted, leading zeros are lost)" if isinstance(value, int) else ""
        raise ValueError(f"allowed: exactly 12 digits{hint}")
    return text


def _pattern_validator(pattern: re.Pattern[str], allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"allowed: {allowed}")
        return value

    return AfterValidator(check)


def _region(value: str) -> str:
    known = aws_facts.regions()
    if value not in known:
        close = difflib.get_close_matches(value, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"allowed: a region of the aws partition{hint}: {', '.join(known)}")
    return value


def _tag_value(value: Any) -> Any:
    """YAML reads `cost-center: 1234` as a number: a tag value of digits means the digits."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _platform_name(value: str) -> str:
    # alias/aws/ is reserved for AWS managed KMS keys; S3 reserves bucket names starting with these.
    if value == "aws" or value.startswith(("sthree", "amzn-s3-demo")):
        raise ValueError(
            "allowed: any other name (KMS reserves the alias prefix alias/aws/, and S3 bucket names may not "
            "start with sthree- or amzn-s3-demo-)"
        )
    return value


def _branch(value: str) -> str:
    if value.startswith("refs/"):
        raise ValueError(
            f"allowed: the branch name alone, as git shows it ({value.removeprefix('refs/heads/')!r}, not the ref "
            f"{value!r}): CodeCommit's push events name the branch without refs/heads/"
        )
    parts = value.split("/")
    if any(p.startswith(".") for p in parts) or value.endswith(".") or "@{" in value:
        raise ValueError(
            "allowed: a git branch name (no part starting with '.', no trailing '.', no '@{'; git check-ref-format)"
        )
    return value


AccountId = Annotated[str, BeforeValidator(_account_id)]
Region = Annotated[
    str,
    AfterValidator(_region),
    WithJsonSchema({"type": "string", "enum": aws_facts.regions(), "description": "A region of the aws partition."}),
]
PlatformName = Annotated[
    str, _name_validator("platform", 12, "every physical resource name"), AfterValidator(_platform_name)
]
EnvironmentName = Annotated[str, _name_validator("environment", 10, "role, stack and deployment group names")]
ServiceName = Annotated[
    str,
    _name_validator("service", 24, "CodeCommit, CodeBuild, IAM, S3, ECR and Lambda names"),
]
RepositoryName = Annotated[str, _name_validator("repository", 100, "CodeArtifact repository ARNs")]
ChannelName = Annotated[str, _name_validator("channel", 32, "secret and API destination names")]
RoleArn = Annotated[str, _pattern_validator(ROLE_ARN_PATTERN, "an IAM role ARN: arn:aws:iam::<12 digits>:role/<name>")]
Branch = Annotated[
    str, _pattern_validator(BRANCH_PATTERN, "a git branch name such as main or release/1.x"), AfterValidator(_branch)
]


def require_unique(field: str, names: list[str]) -> None:
    """Raise the config error for names that a list uses more than once."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{field}: names {duplicates} used more than once; allowed: unique names")


def _forbid_extra() -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------------------
# Deployment configurations
# --------------------------------------------------------------------------------------

Platform = Literal["ec2", "ecs", "lambda"]

# The predefined CodeDeploy configurations each platform accepts, as AWS names them.
PREDEFINED_DEPLOYMENT_CONFIGS: dict[str, tuple[str, ...]] = {
    "ec2": ("OneAtATime", "HalfAtATime", "AllAtOnce"),
    "ecs": (
        "ECSCanary10Percent5Minutes",
        "ECSCanary10Percent15Minutes",
        "ECSLinear10PercentEvery1Minutes",
        "ECSLinear10PercentEvery3Minutes",
        "ECSAllAtOnce",
    ),
    "lambda": (
        "LambdaCanary10Percent5Minutes",
        "LambdaCanary10Percent10Minutes",
        "LambdaCanary10Percent15Minutes",
        "LambdaCanary10Percent30Minutes",
        "LambdaLinear10PercentEvery1Minute",
        "LambdaLinear10PercentEvery2Minutes",
        "LambdaLinear10PercentEvery3Minutes",
        "LambdaLinear10PercentEvery10Minutes",
        "LambdaAllAtOnce",
    ),
}

DEFAULT_DEPLOYMENT_CONFIG: dict[str, str] = {
    "ec2": "HalfAtATime",
    "ecs": "ECSCanary10Percent5Minutes",
    "lambda": "LambdaCanary10Percent5Minutes",
}


class TrafficShift(BaseModel):
    """A custom canary or linear traffic shift (ECS and Lambda only)."""

    model_config = _forbid_extra()

    type: Literal["canary", "linear"] = Field(
        description="canary: shift `percentage` once, then the rest after `interval_minutes`; "
        "linear: shift `percentage` every `interval_minutes`."
    )
    percentage: int = Field(ge=1, le=99, description="Percent of traffic shifted per step (1-99).")
    interval_minutes: int = Field(ge=1, le=2880, description="Minutes between steps (1-2880).")

    @property
    def label(self) -> str:
        return f"{self.type.capitalize()}{self.percentage}Percent{self.interval_minutes}Minutes"


class MinimumHealthyHosts(BaseModel):
    """A custom in-place configuration (EC2 only): keep this many hosts healthy."""

    model_config = _forbid_extra()

    type: Literal["minimum_healthy_hosts"]
    percent: int | None = Field(default=None, ge=0, le=99, description="Minimum healthy hosts, percent of the fleet.")
    count: int | None = Field(default=None, ge=0, description="Minimum healthy hosts, absolute count.")

    @model_validator(mode="after")
    def _exactly_one(self) -> MinimumHealthyHosts:
        if (self.percent is None) == (self.count is None):
            raise ValueError("allowed: exactly one of `percent` or `count`")
        return self

    @property
    def label(self) -> str:
        if self.percent is not None:
            return f"MinimumHealthy{self.percent}Percent"
        return f"MinimumHealthy{self.count}Hosts"


def _deployment_config_tag(value: Any) -> str:
    # Called on raw input when validating and on model instances when serializing.
    if isinstance(value, str):
        return "named"
    if isinstance(value, TrafficShift):
        return "shift"
    if isinstance(value, MinimumHealthyHosts):
        return "hosts"
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("canary", "linear"):
            return "shift"
        if kind == "minimum_healthy_hosts":
            return "hosts"
        return "unknown"
    return "named"


DeploymentConfigSpec = Annotated[
    Annotated[str, Tag("named")] | Annotated[TrafficShift, Tag("shift")] | Annotated[MinimumHealthyHosts, Tag("hosts")],
    Discriminator(
        _deployment_config_tag,
        custom_error_type="deployment_config",
        custom_error_message="allowed: a predefined CodeDeploy configuration name, or a mapping with "
        "type canary, linear or minimum_healthy_hosts",
    ),
]

# Union tags that pydantic inserts into error locations; they are not field names.
UNION_TAGS = frozenset({"named", "shift", "hosts", "existing_vpc", "new_vpc"})


# --------------------------------------------------------------------------------------
# Accounts and environments
# --------------------------------------------------------------------------------------


class ToolingAccount(BaseModel):
    """The CI/CD account: pipelines, CodeArtifact, notifications."""

    model_config = _forbid_extra()

    account: AccountId = Field(description="12-digit AWS account id of the tooling (CI/CD) account.")
    region: Region = Field(description="Region of the pipelines and every other tooling stack.")
    profile: str | None = Field(default=None, description="AWS CLI profile for this account (bootstrap tool).")


def _certificate_arn(value: str) -> str:
    if aws_facts.acm_certificate_parts(value) is None:
        raise ValueError("allowed: an ACM certificate ARN, arn:aws:acm:<region>:<12-digit account>:certificate/<id>")
    return value


def _ipv4_network(value: str, smallest: int, largest: int) -> str:
    """A CIDR block AWS accepts for a VPC: a valid network address, prefix in [largest, smallest]."""
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"allowed: an IPv4 network such as 10.0.0.0/16 ({error})") from None
    if not largest <= network.prefixlen <= smallest:
        raise ValueError(f"allowed: a prefix from /{largest} to /{smallest}")
    return str(network)


def _unique(field: str, values: list[str]) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{field}: {repeated} listed more than once; allowed: each once")


class ImportedNetwork(BaseModel):
    """An existing VPC, given by ids so that synth needs no lookup."""

    model_config = _forbid_extra()

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="Id of the existing VPC.")
    cidr: Annotated[str, AfterValidator(lambda v: _ipv4_network(v, 28, 16))] = Field(
        json_schema_extra={"pattern": r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"},
        description="The VPC's IPv4 CIDR (blue/green test listeners accept traffic from inside the VPC only).",
    )
    availability_zones: list[str] = Field(min_length=2, description="AZs of the subnets below, in the same order.")
    public_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Public subnets for load balancers, one per AZ."
    )
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        min_length=2, description="Private subnets with egress for instances and tasks, one per AZ."
    )

    @model_validator(mode="after")
    def _one_subnet_per_az(self) -> ImportedNetwork:
        azs = len(self.availability_zones)
        _unique("availability_zones", list(self.availability_zones))
        for field in ("public_subnet_ids", "private_subnet_ids"):
            if len(getattr(self, field)) != azs:
                raise ValueError(
                    f"{field} has {len(getattr(self, field))} ids; allowed: one per availability zone ({azs})"
                )
            _unique(field, list(getattr(self, field)))
        both = sorted(set(self.public_subnet_ids) & set(self.private_subnet_ids))
        if both:
            raise ValueError(
                f"private_subnet_ids: {both} are also public subnets; allowed: separate public and private subnets"
            )
        return self


# A new VPC's subnets, per availability zone: one public /24 and one private /22 (ServiceNetwork).
PUBLIC_SUBNET_PREFIX, PRIVATE_SUBNET_PREFIX = 24, 22
DEFAULT_AVAILABILITY_ZONES = 2


class NewNetwork(BaseModel):
    """A VPC that each service stack creates for itself."""

    model_config = _forbid_extra()

    cidr: Annotated[str, AfterValidator(lambda v: _ipv4_network(v, 24, 16))] = Field(
        default="10.0.0.0/16",
        json_schema_extra={"pattern": r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$"},
        description="IPv4 CIDR of the VPC (/16 to /24, large enough for a /24 and a /22 subnet per AZ).",
    )
    availability_zones: list[str] | None = Field(
        default=None,
        min_length=2,
        description="AZs to use; default: the region's first two, resolved by CloudFormation at deploy time.",
    )
    nat_gateways: int = Field(
        default=1,
        ge=1,
        le=3,
        description="NAT gateways (1 to 3, at most one per AZ): instances and tasks reach Systems Manager, "
        "CodeDeploy and ECR through them.",
    )

    @property
    def zone_count(self) -> int:
        return len(self.availability_zones or []) or DEFAULT_AVAILABILITY_ZONES

    @model_validator(mode="after")
    def _fits(self) -> NewNetwork:
        if self.availability_zones:
            _unique("availability_zones", list(self.availability_zones))
        zones = self.zone_count
        needed = zones * (2 ** (32 - PUBLIC_SUBNET_PREFIX) + 2 ** (32 - PRIVATE_SUBNET_PREFIX))
        size = ipaddress.IPv4Network(self.cidr).num_addresses
        if needed > size:
            largest = 32 - math.ceil(math.log2(needed))
            raise ValueError(
                f"cidr: {self.cidr} has {size} addresses, and {zones} AZs need {needed} (a public /24 and a private "
                f"/22 each); allowed: /{largest} or larger"
            )
        if self.nat_gateways > zones:
            raise ValueError(
                f"nat_gateways: {self.nat_gateways} for {zones} availability zones; allowed: at most one per AZ"
            )
        return self


def _network_kind(value: Any) -> str:
    """An existing VPC when the block names one (vpc_id), else a new one: one set of errors, not both."""
    if isinstance(value, ImportedNetwork):
        return "existing_vpc"
    if isinstance(value, NewNetwork):
        return "new_vpc"
    return "existing_vpc" if isinstance(value, dict) and "vpc_id" in value else "new_vpc"


Network = Annotated[
    Annotated[ImportedNetwork, Tag("existing_vpc")] | Annotated[NewNetwork, Tag("new_vpc")],
    Discriminator(_network_kind),
]


class Environment(BaseModel):
    """A deployment target: one AWS account and region, deployed in config order."""

    model_config = _forbid_extra()

    name: EnvironmentName = Field(description="Short name: dev, staging, prod, ...")
    account: AccountId = Field(description="12-digit AWS account id of this environment.")
    region: Region | None = Field(default=None, description="Region; default: the tooling region.")
    profile: str | None = Field(default=None, description="AWS CLI profile for this account (bootstrap tool).")
    approval: bool = Field(default=False, description="Require a manual approval before deploying here.")
    network: Network = Field(
        default_factory=NewNetwork,
        description="An existing VPC by ids (give vpc_id), or settings for a new one per service stack.",
    )
    certificate_arn: Annotated[str, AfterValidator(_certificate_arn)] | None = Field(
        default=None,
        json_schema_extra={"pattern": CERTIFICATE_ARN_PATTERN},
        description="ACM certificate of this environment's account and region for the load balancers of EC2 "
        "and ECS services: HTTPS on 443, port 80 redirects. Default: plain HTTP on port 80.",
    )
    release_guardrails: ReleaseGuardrails | None = Field(
        default=None,
        description="The guardrails of every Deploy-<env> stage of this environment (e.g. a bake time in prod only); "
        "replaces the platform's; a service's own guardrails replace these.",
    )


# --------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------


class AlarmThresholds(BaseModel):
    """CloudWatch alarms that stop a deployment and roll it back."""

    model_config = _forbid_extra()

    http_5xx: int = Field(default=5, ge=1, description="EC2/ECS: target 5xx responses per period.")
    unhealthy_hosts: int = Field(default=1, ge=1, description="EC2/ECS: unhealthy targets (maximum) per period.")
    lambda_errors: int = Field(default=1, ge=1, description="Lambda: alias errors per period.")
    lambda_throttles: int = Field(default=1, ge=1, description="Lambda: alias throttles per period.")
    period_seconds: Literal[60, 300] = Field(default=60, description="Alarm period in seconds.")
    evaluation_periods: int = Field(default=2, ge=1, le=10, description="Periods that must breach.")


def _instance_type(value: str) -> str:
    known = aws_facts.instance_types()
    if value not in known:
        close = difflib.get_close_matches(value, sorted(known), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"allowed: an EC2 instance type{hint}, e.g. t4g.small or m7g.large")
    if aws_facts.instance_architecture(value) is None:
        raise ValueError("allowed: an instance type Amazon Linux 2023 runs on (mac instances run macOS)")
    return value


# What the health check path may be: ElasticLoadBalancingV2 TargetGroup HealthCheckPath (1-1024).
HEALTH_CHECK_PATH = r"^/[A-Za-z0-9/_.~!$&'()*+,;=:@%-]{0,1023}$"


def _health_check_path(value: str) -> str:
    if not re.fullmatch(HEALTH_CHECK_PATH, value):
        raise ValueError(
            "allowed: a path starting with / of at most 1024 characters: letters, digits and / _ . ~ ! $ & ' ( ) "
            "* + , ; = : @ % - (what a load balancer health check takes; no query string)"
        )
    return value


class Ec2Settings(BaseModel):
    model_config = _forbid_extra()

    instance_type: Annotated[str, AfterValidator(_instance_type)] = Field(
        default="t4g.small",
        json_schema_extra={"enum": list[JsonValue](sorted(aws_facts.instance_types()))},
        description="EC2 instance type (Graviton by default). The AMI follows its architecture: Amazon Linux "
        "2023 for arm64 on Graviton types, for x86_64 on the others.",
    )
    min_capacity: int = Field(default=2, ge=1, le=100)
    max_capacity: int = Field(default=4, ge=1, le=100)
    port: int = Field(default=8080, ge=1024, le=65535, description="Port the application listens on.")
    health_check_path: Annotated[str, AfterValidator(_health_check_path)] = Field(
        default="/health", json_schema_extra={"pattern": HEALTH_CHECK_PATH}
    )

    @property
    def architecture(self) -> str:
        return aws_facts.instance_architecture(self.instance_type) or "arm64"

    @model_validator(mode="after")
    def _capacity(self) -> Ec2Settings:
        if self.min_capacity > self.max_capacity:
            raise ValueError(
                f"min_capacity: {self.min_capacity} is more than max_capacity {self.max_capacity}; "
                "allowed: min_capacity <= max_capacity"
            )
        return self


FARGATE_CPU = tuple(aws_facts.FARGATE_MEMORY)


class EcsSettings(BaseModel):
    model_config = _forbid_extra()

    cpu: Literal[256, 512, 1024, 2048, 4096, 8192, 16384] = Field(default=256, description="Fargate task CPU units.")
    memory_mib: int = Field(
        default=512,
        ge=512,
        le=122880,
        description="Fargate task memory (MiB); default: the smallest the cpu allows. One of the values AWS "
        "allows for the cpu: 256: 512, 1024, 2048; "
        "512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720 (steps of 1024); 8192: 16384-61440 "
        "(steps of 4096); 16384: 32768-122880 (steps of 8192).",
    )
    desired_count: int = Field(default=2, ge=1, le=100)
    container_port: int = Field(default=8080, ge=1024, le=65535)
    health_check_path: Annotated[str, AfterValidator(_health_check_path)] = Field(
        default="/health", json_schema_extra={"pattern": HEALTH_CHECK_PATH}
    )

    @model_validator(mode="before")
    @classmethod
    def _memory_for_cpu(cls, data: Any) -> Any:
        """Without memory_mib, the smallest memory Fargate allows for the cpu given."""
        if isinstance(data, dict) and "memory_mib" not in data and data.get("cpu") in aws_facts.FARGATE_MEMORY:
            return {**data, "memory_mib": aws_facts.FARGATE_MEMORY[data["cpu"]][0]}
        return data

    @model_validator(mode="after")
    def _fargate_size(self) -> EcsSettings:
        allowed = aws_facts.FARGATE_MEMORY[self.cpu]
        if self.memory_mib not in allowed:
            shown = (
                ", ".join(map(str, allowed))
                if len(allowed) <= 4
                else f"{allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}"
            )
            raise ValueError(
                f"memory_mib: {self.memory_mib} with cpu {self.cpu}; allowed for cpu {self.cpu}: {shown} "
                "(Fargate's task sizes)"
            )
        return self


# Lambda allows 4 KB of environment variables; the traffic hooks carry the payload in theirs.
TEST_PAYLOAD_MAX_CHARACTERS = 3800


class LambdaSettings(BaseModel):
    model_config = _forbid_extra()

    memory_mib: int = Field(default=256, ge=128, le=10240)
    timeout_seconds: int = Field(default=10, ge=1, le=900)
    test_payload: dict[str, Any] = Field(
        default_factory=lambda: {"path": "/health"},
        description="Event the traffic hooks send to the new version; it must answer without error "
        f"(at most {TEST_PAYLOAD_MAX_CHARACTERS} characters as JSON).",
    )

    @model_validator(mode="after")
    def _payload_fits(self) -> LambdaSettings:
        size = len(json.dumps(self.test_payload, sort_keys=True, default=str))
        if size > TEST_PAYLOAD_MAX_CHARACTERS:
            raise ValueError(
                f"test_payload: {size} characters as JSON; allowed: at most {TEST_PAYLOAD_MAX_CHARACTERS} (it travels "
                "in the traffic hooks' environment, which Lambda limits to 4 KB)"
            )
        return self


Isolation = Literal["shared", "load_balancer", "network"]
LoadBalancerName = Annotated[str, _name_validator("load balancer", 16, "the foundation's load balancer names")]
# Application Load Balancer rule conditions (elasticloadbalancingv2 RuleCondition): host names of
# letters, digits, '-', '.' and the wildcards '*' and '?'; paths of the characters AWS lists.
HOST_HEADER_PATTERN = re.compile(r"^[A-Za-z0-9*?.-]{1,128}$")
PATH_PATTERN_PATTERN = re.compile(r"^/[A-Za-z0-9_\-.$/~\"'@:+&*?]{0,127}$")
# AWS's hard quota of condition values per listener rule.
MAX_CONDITION_VALUES = 5
# Target groups per Application Load Balancer: 100, not adjustable (elasticloadbalancing quotas).
MAX_TARGET_GROUPS_PER_ALB = 100
# CodeDeploy custom deployment configurations per account and region: 50, not adjustable.
MAX_CUSTOM_DEPLOYMENT_CONFIGS = 50
# Listener rule priorities: 1 to 50,000 per listener.
MAX_RULE_PRIORITY = 50_000


class ListenerRoute(BaseModel):
    """Which requests of a shared load balancer's listeners reach the service: a listener rule."""

    model_config = _forbid_extra()

    hosts: list[Annotated[str, _pattern_validator(HOST_HEADER_PATTERN, "a host name, * and ? as wildcards")]] = Field(
        default_factory=list, description="Host-header values, e.g. orders.example.com or orders.*."
    )
    paths: list[Annotated[str, _pattern_validator(PATH_PATTERN_PATTERN, "a path starting with /, e.g. /orders/*")]] = (
        Field(default_factory=list, description="Path patterns, e.g. /orders/*.")
    )

    @model_validator(mode="after")
    def _values(self) -> ListenerRoute:
        values = len(self.hosts) + len(self.paths)
        if values == 0:
            raise ValueError("route: no hosts and no paths; allowed: at least one host or path")
        if values > MAX_CONDITION_VALUES:
            raise ValueError(
                f"route: {values} hosts and paths; allowed: at most {MAX_CONDITION_VALUES} (condition values per "
                "listener rule, an Application Load Balancer quota that cannot be raised)"
            )
        return self

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(sorted(h.lower() for h in self.hosts)), tuple(sorted(self.paths))


# ----- release guardrails (docs/adr/0008) -----

# DeploymentWindow cron fields (seconds, minutes, hours, day-of-month, month, day-of-week[, year]):
# the fields a freeze may restrict, with their domain and names.
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: dict[int, tuple[str, int, int, tuple[str, ...]]] = {
    2: ("hours", 0, 23, ()),
    3: ("day-of-month", 1, 31, ()),
    4: ("month", 1, 12, _MONTHS),
    5: ("day-of-week", 1, 7, _DAYS),
}
RULE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")
# botocore's CodePipeline model: ConditionList max 1 (one condition per BeforeEntry / OnSuccess / OnFailure),
# RuleDeclarationList max 5 (rules per condition).
MAX_RULES_PER_CONDITION = 5
# The notifier carries the freezes in FREEZES; its other variables (routes, secrets, queues, environments) need
# the rest of Lambda's 4 KB.
MAX_FREEZES_NOTICE_BYTES = 1536
# The rollback alarms each platform's deployment group watches, by name suffix (<p>-<env>-<service>-<suffix>):
# cdk_constructs/{ec2,ecs,lambda}_target.py create exactly these (a test compares them with the templates),
# and the promotion gate and bake time of the service pipeline name them.
ROLLBACK_ALARM_SUFFIXES: dict[str, tuple[str, ...]] = {
    "ec2": ("target-5xx", "unhealthy-hosts"),
    "ecs": ("blue-target-5xx", "blue-unhealthy-hosts", "green-target-5xx", "green-unhealthy-hosts"),
    "lambda": ("alias-errors", "alias-throttles"),
}


def _cron_values(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The values of one cron field made of values and ranges (a, a-b, a,b-c); ValueError otherwise."""

    def value(token: str) -> int:
        if token.upper() in names:
            return names.index(token.upper()) + low
        if not token.isdigit() or not low <= int(token) <= high:
            raise ValueError(token)
        return int(token)

    values: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        start, end = value(first), value(last or first)
        if start > end:
            raise ValueError(part)
        values |= set(range(start, end + 1))
    return values


def frozen_field(cron: str) -> tuple[str, list[int]]:
    """The one cron field a freeze restricts (hours, day-of-month, month or day-of-week) and its frozen values
    (months 1-12, days of week 1-7 from SUN, as in DeploymentWindow cron); ValueError naming what is wrong.

    A DeploymentWindow rule passes inside the window its cron describes and rules in one condition
    are ANDed, so a freeze is expressible only when its complement is one window: the freeze must
    restrict exactly one of hours, day-of-month, month or day-of-week, with plain values and ranges.
    """
    fields = cron.split()
    allowed = (
        "6 or 7 DeploymentWindow cron fields (seconds minutes hours day-of-month month day-of-week [year]) "
        "restricting exactly one of hours, day-of-month, month or day-of-week with values and ranges, "
        "e.g. '* * * ? DEC * *' (all of December)"
    )
    if len(fields) not in (6, 7):
        raise ValueError(f"{cron!r} has {len(fields)} fields; allowed: {allowed}")
    if len(fields) == 6:
        fields.append("*")
    if fields[0] != "*" or fields[1] != "*" or fields[6] != "*":
        raise ValueError(f"{cron!r} restricts seconds, minutes or year; allowed: {allowed}")
    if (fields[3] == "?") == (fields[5] == "?"):
        raise ValueError(f"{cron!r}: exactly one of day-of-month and day-of-week must be '?'; allowed: {allowed}")
    restricted = [i for i in _CRON_FIELDS if fields[i] not in ("*", "?")]
    if len(restricted) != 1:
        raise ValueError(
            f"{cron!r} restricts {len(restricted)} fields; its complement would be a union of windows, which one "
            f"DeploymentWindow rule cannot express; allowed: {allowed}"
        )
    label, low, high, names = _CRON_FIELDS[restricted[0]]
    try:
        frozen = _cron_values(fields[restricted[0]], low, high, names)
    except ValueError as error:
        raise ValueError(f"{cron!r}: {label} value {str(error)!r} is not allowed; allowed: {allowed}") from None
    if frozen == set(range(low, high + 1)):
        raise ValueError(f"{cron!r} freezes every {label}, so nothing could ever deploy; allowed: {allowed}")
    return label, sorted(frozen)


def freeze_allow_cron(cron: str) -> str:
    """The DeploymentWindow cron (an ALLOW window) that is the complement of a freeze's frozen time."""
    label, frozen = frozen_field(cron)
    index, (_, low, high, _) = next((i, f) for i, f in _CRON_FIELDS.items() if f[0] == label)
    fields = [*cron.split(), "*"][:7]  # frozen_field checked it has 6 or 7 fields
    fields[index] = ",".join(str(v) for v in range(low, high + 1) if v not in frozen)
    if index == 3:
        fields[5] = "?"
    elif index == 5:
        fields[3] = "?"
    return " ".join(fields)


def _ranges(values: list[int], low: int, high: int) -> list[tuple[int, int]]:
    """Contiguous ranges of sorted values, a range that wraps from high to low merged (22-23,0-5 is one)."""
    ranges: list[list[int]] = []
    for value in values:
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    if len(ranges) > 1 and ranges[0][0] == low and ranges[-1][1] == high:
        ranges[0][0] = ranges.pop()[0]
    return [(a, b) for a, b in ranges]


# CodePipeline: "Pipeline execution won't resume for a transition that has been disabled more than 30 days"
# (https://docs.aws.amazon.com/codepipeline/latest/userguide/transitions.html).
MAX_TRANSITION_DISABLED_DAYS = 30
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def freeze_edges(cron: str) -> list[tuple[str, str]]:
    """The EventBridge Scheduler crons (minutes hours day-of-month month day-of-week year) at which each of a
    freeze's frozen ranges starts ("start") and ends ("end"), for `during: wait`; ValueError naming what a
    waiting freeze cannot be: a freeze longer than CodePipeline's 30 days of a disabled transition (months but
    February), or a day-of-month range whose start or end day some months lack (the transition would not be
    disabled, or would stay disabled into the next month that has the day)."""
    label, frozen = frozen_field(cron)
    _, low, high, _ = next(f for f in _CRON_FIELDS.values() if f[0] == label)
    allowed = (
        "allowed with during: wait: hours, days of the week, days of the month that start by the 28th and end "
        "by the 27th or on the 31st, or February alone; during: fail takes any freeze"
    )
    edges: list[tuple[str, str]] = []
    for first, last in _ranges(frozen, low, high):
        after = low if last == high else last + 1
        if label == "hours":
            pairs = [(f"0 {first} * * ? *", "start"), (f"0 {after} * * ? *", "end")]
        elif label == "day-of-month":
            if after > 28 or (first > 28 and last < first):
                day = after if after > 28 else first
                raise ValueError(
                    f"{cron!r}: a waiting freeze that {'ends' if after > 28 else 'starts'} on day {day} would not "
                    f"{'end' if after > 28 else 'start'} in months without that day; {allowed}"
                )
            pairs = [(f"0 0 {first} * ? *", "start"), (f"0 0 {after} * ? *", "end")]
        elif label == "month":
            months = range(first, last + 1) if first <= last else [*range(first, high + 1), *range(low, last + 1)]
            days = sum(_MONTH_DAYS[m - 1] for m in months)
            if days > MAX_TRANSITION_DISABLED_DAYS:
                raise ValueError(
                    f"{cron!r}: a waiting freeze of up to {days} days is longer than the "
                    f"{MAX_TRANSITION_DISABLED_DAYS} days after which CodePipeline does not resume an execution held "
                    f"at a disabled transition; {allowed}"
                )
            pairs = [(f"0 0 1 {_MONTHS[first - 1]} ? *", "start"), (f"0 0 1 {_MONTHS[after - 1]} ? *", "end")]
        else:  # day-of-week, 1-7 from SUN in both cron dialects
            pairs = [(f"0 0 ? * {_DAYS[first - 1]} *", "start"), (f"0 0 ? * {_DAYS[after - 1]} *", "end")]
        edges += pairs
    return edges


# EventBridge Scheduler: "When the time shifts forward in Spring, your schedule invocation gets skipped if the
# cron expression falls on a non-existent date and time" (schedule-types.html, daylight saving time). A skipped
# start leaves the stage open (its DeploymentWindow rule still fails what enters); a skipped end holds every
# execution until the edge's next occurrence. 28 years is a whole cycle of weekdays over dates.
DST_CHECK_YEARS = 28


@functools.cache
def _forward_shift_days(timezone: str, first_year: int) -> tuple[datetime.date, ...]:
    """Local dates around which the zone's clocks go forward, from first_year for DST_CHECK_YEARS years."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    day = datetime.datetime(first_year, 1, 1, 12, tzinfo=datetime.UTC)
    offset = day.astimezone(zone).utcoffset()
    days: list[datetime.date] = []
    for _ in range(DST_CHECK_YEARS * 366):
        after = day + datetime.timedelta(days=1)
        next_offset = after.astimezone(zone).utcoffset()
        if offset is not None and next_offset is not None and next_offset > offset:
            # Noon UTC is local 00:00 (UTC-12) to 02:00 the next day (UTC+14): the gap is on one of these dates.
            days += [day.date() + datetime.timedelta(days=n) for n in (-1, 0, 1, 2)]
        day, offset = after, next_offset
    return tuple(days)


def _frozen_at(label: str, frozen: list[int], local: datetime.datetime) -> bool:
    """Whether a freeze (frozen_field's label and values) is in force at a local time."""
    value = {
        "hours": local.hour,
        "day-of-month": local.day,
        "month": local.month,
        "day-of-week": (local.weekday() + 1) % 7 + 1,
    }[label]
    return value in frozen


def skipped_edge(cron: str, timezone: str) -> tuple[str, datetime.datetime] | None:
    """The first ("start"/"end", local time) of a waiting freeze's edges that EventBridge Scheduler would skip,
    because daylight saving time skips that local time, in a way that matters: a start after which the freeze
    is in force, or an end before which it was (a freeze wholly inside the skipped hour loses nothing)."""
    from zoneinfo import ZoneInfo

    label, frozen = frozen_field(cron)
    zone = ZoneInfo(timezone)
    today = datetime.datetime.now(datetime.UTC).date()
    for day in _forward_shift_days(timezone, today.year):
        if day < today:
            continue
        for edge_cron, edge in freeze_edges(cron):
            minute, hour, dom, month, dow, _ = edge_cron.split()
            if (
                (dom not in ("*", "?") and int(dom) != day.day)
                or (month != "*" and _MONTHS.index(month) + 1 != day.month)
                or (dow not in ("*", "?") and _DAYS.index(dow) != (day.weekday() + 1) % 7)
            ):
                continue
            local = datetime.datetime(day.year, day.month, day.day, int(hour), int(minute), tzinfo=zone)
            instant = local.astimezone(datetime.UTC)  # a skipped time maps to the instant the clock jumps
            if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
                continue  # the time exists
            after = instant.astimezone(zone)
            before = (instant - datetime.timedelta(minutes=1)).astimezone(zone)
            if _frozen_at(label, frozen, after if edge == "start" else before):
                return edge, local
    return None


def _time_zone(value: str) -> str:
    import zoneinfo

    if value not in zoneinfo.available_timezones():
        raise ValueError(f"{value!r} is not an IANA time zone; allowed: a tz database name, e.g. Europe/Berlin")
    return value


class Freeze(BaseModel):
    """A change freeze: CodePipeline fails a gated Deploy-<env> stage entered during it (docs/adr/0008)."""

    model_config = _forbid_extra()

    name: Annotated[str, _pattern_validator(RULE_NAME_PATTERN, "1-100 of A-Z a-z 0-9 . @ _ -")] = Field(
        description="Freeze name, the name of its DeploymentWindow rule."
    )
    cron: str = Field(
        description="The frozen time, in DeploymentWindow cron fields, restricting exactly one of hours, "
        "day-of-month, month or day-of-week, e.g. '* * * ? DEC * *'. The rule gets its complement (the rule "
        "allows deploys inside its window)."
    )
    timezone: Annotated[str, AfterValidator(_time_zone)] = Field(default="UTC", description="IANA time zone.")
    reason: str = Field(min_length=1, max_length=200, description="Why; shown on the Teams card.")
    environments: list[EnvironmentName] | None = Field(
        default=None, description="Environments it freezes; default: every environment."
    )
    during: Literal["fail", "wait"] = Field(
        default="fail",
        description="What a deployment that reaches a frozen Deploy-<env> does: `fail` (its entry condition fails; "
        "the card says why and until when) or `wait` (EventBridge Scheduler disables the stage's inbound "
        "transition when the freeze starts and enables it when it ends, so executions wait there; the entry "
        "condition stays as a safety net).",
    )

    @field_validator("cron")
    @classmethod
    def _complement_exists(cls, value: str) -> str:
        freeze_allow_cron(value)
        return value

    @model_validator(mode="after")
    def _edges_exist(self) -> Freeze:
        if self.during == "wait":
            freeze_edges(self.cron)  # refuses what cannot wait, in any zone
            skipped = skipped_edge(self.cron, self.timezone)
            if skipped:
                edge, local = skipped
                raise ValueError(
                    f"{self.cron!r} in {self.timezone}: a waiting freeze would not {edge} on "
                    f"{local:%Y-%m-%d} at {local:%H:%M}, a local time that daylight saving time skips there "
                    f"(EventBridge Scheduler skips that invocation); allowed with during: wait: edges at local "
                    f"times that exist every day in the zone (move the freeze's hours, or use another timezone); "
                    f"during: fail takes any freeze"
                )
        return self

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(EventBridge Scheduler cron, "start" or "end") at which the freeze starts and ends."""
        return freeze_edges(self.cron)

    @property
    def allow_cron(self) -> str:
        return freeze_allow_cron(self.cron)

    def notice(self) -> dict[str, object]:
        """What the notifier needs to say on a failed stage's card why it is frozen and until when (FREEZES)."""
        label, values = frozen_field(self.cron)
        return {
            "name": self.name,
            "field": label,
            "values": values,
            "timezone": self.timezone,
            "reason": self.reason,
            "environments": self.environments,
            **({"during": "wait"} if self.during == "wait" else {}),  # fail, the default, costs no bytes
        }


class ReleaseGuardrails(BaseModel):
    """Stage conditions of the Deploy-<env> stages (docs/adr/0008); per service, it replaces the platform's."""

    model_config = _forbid_extra()

    promotion_gate: bool = Field(
        default=True,
        description="Fail Deploy-<env> while the previous environment's rollback alarms are in ALARM "
        "(every environment after the first in promotion order).",
    )
    gate_wait_minutes: int | None = Field(
        default=None, ge=1, le=1440, description="Minutes the gate waits for the alarms to recover before it fails."
    )
    bake_minutes: int | None = Field(
        default=None,
        ge=1,
        le=1440,
        description="Minutes the service must stay out of ALARM after a deploy before the next stage; an alarm "
        "rolls the stage back. Default: no bake time.",
    )
    stage_rollback: bool = Field(
        default=True, description="Roll a failed Deploy-<env> stage back to its last successful execution."
    )


# Environment (defined with the accounts above) names ReleaseGuardrails, which is defined here.
Environment.model_rebuild()


class EnvironmentOverride(BaseModel):
    model_config = _forbid_extra()

    deployment_config: DeploymentConfigSpec | None = Field(
        default=None, description="Deployment configuration for this environment only."
    )
    release_guardrails: ReleaseGuardrails | None = Field(
        default=None, description="The guardrails of this service's Deploy-<env> stage; replaces every other level."
    )


class Service(BaseModel):
    """One service: a repository, a pipeline, and a deployment target per environment."""

    model_config = _forbid_extra()

    name: ServiceName = Field(description="Service name; part of every physical name of its resources.")
    platform: Platform = Field(description="Where it runs: ec2, ecs or lambda.")
    branch: Branch = Field(default="main", description="Branch whose pushes run the pipeline.")
    description: str = Field(default="", max_length=200)
    environments: list[EnvironmentName] | None = Field(
        default=None, description="Environments to deploy to, a subset in config order; default: all."
    )
    deployment_config: DeploymentConfigSpec | None = Field(
        default=None,
        description="CodeDeploy configuration: a predefined name for the platform, or a custom "
        "canary/linear (ECS, Lambda) or minimum_healthy_hosts (EC2) mapping. "
        "Default: HalfAtATime (ec2), ECSCanary10Percent5Minutes (ecs), LambdaCanary10Percent5Minutes (lambda).",
    )
    environment_overrides: dict[EnvironmentName, EnvironmentOverride] = Field(
        default_factory=dict, description="Per-environment settings, e.g. AllAtOnce in dev."
    )
    alarms: AlarmThresholds = Field(default_factory=AlarmThresholds)
    codeartifact_repository: RepositoryName | None = Field(
        default=None,
        description="CodeArtifact repository its builds install from; default: codeartifact.default_repository.",
    )
    pull_request_validation: bool = Field(default=True, description="Build and test every pull request.")
    isolation: Isolation = Field(
        default="shared",
        description="EC2 and ECS: `shared` runs on the environment foundation's VPC and load balancer; "
        "`load_balancer` gets its own load balancer in the shared VPC; `network` its own VPC, NAT gateway and "
        "load balancer (what a service needs that must not share them; each costs more and counts against "
        "the per-region quotas).",
    )
    load_balancer: LoadBalancerName = Field(
        default="main",
        description="EC2 and ECS with isolation shared: which of the foundation's shared load balancers it is "
        "routed through (each holds at most 100 target groups: 2 per ECS service, 1 per EC2 service).",
    )
    route: ListenerRoute | None = Field(
        default=None,
        description="EC2 and ECS: the hosts and paths routed to it. Default: hosts [<name>.*] on a shared load "
        "balancer, every request on its own.",
    )
    release_guardrails: ReleaseGuardrails | None = Field(
        default=None, description="Stage conditions for this service; default: the platform's."
    )
    ec2: Ec2Settings | None = None
    ecs: EcsSettings | None = None
    lambda_: LambdaSettings | None = Field(default=None, alias="lambda")

    @model_validator(mode="after")
    def _platform_rules(self) -> Service:
        for other in ("ec2", "ecs", "lambda"):
            attr = "lambda_" if other == "lambda" else other
            if other != self.platform and getattr(self, attr) is not None:
                raise ValueError(
                    f"settings block `{other}` given for a service on {self.platform}; allowed: `{self.platform}` only"
                )
        check_deployment_config(self.platform, self.deployment_config, "deployment_config")
        for env_name, override in self.environment_overrides.items():
            check_deployment_config(
                self.platform, override.deployment_config, f"environment_overrides.{env_name}.deployment_config"
            )
        self._check_alarms()
        if self.platform == "lambda":
            # Only values other than the defaults (a dumped and reloaded config repeats the defaults).
            defaults = {"isolation": "shared", "load_balancer": "main", "route": None}
            given = sorted(f for f, default in defaults.items() if getattr(self, f) != default)
            if given:
                raise ValueError(
                    f"{', '.join(given)} set for a service on lambda, which has no load balancer; allowed: "
                    "on ec2 and ecs services only"
                )
        elif self.load_balancer != "main" and self.isolation != "shared":
            raise ValueError(
                f"load_balancer: {self.load_balancer!r} names a shared load balancer, but isolation is "
                f"{self.isolation!r}; allowed: load_balancer with isolation shared only"
            )
        if self.platform == "ec2":
            self._check_healthy_hosts()
        return self

    def _check_alarms(self) -> None:
        """Thresholds of another platform's alarms would be ignored (a value other than the default is a
        mistake); an unreachable one never fires."""
        defaults = AlarmThresholds()
        given = {f for f in self.alarms.model_fields_set if getattr(self.alarms, f) != getattr(defaults, f)}
        foreign = sorted(given & (LAMBDA_ALARMS if self.platform != "lambda" else LOAD_BALANCER_ALARMS))
        if foreign:
            own = sorted((LOAD_BALANCER_ALARMS if self.platform != "lambda" else LAMBDA_ALARMS) | COMMON_ALARMS)
            raise ValueError(
                f"alarms: {', '.join(foreign)} set for a service on {self.platform}, which has no such alarm; "
                f"allowed for {self.platform}: {', '.join(own)}"
            )
        if self.platform == "lambda":
            return
        fleet, what = (
            (self.ec2_settings.max_capacity, "ec2.max_capacity")
            if self.platform == "ec2"
            else (self.ecs_settings.desired_count, "ecs.desired_count")
        )
        if self.alarms.unhealthy_hosts > fleet:
            raise ValueError(
                f"alarms.unhealthy_hosts: {self.alarms.unhealthy_hosts} but {what} is {fleet}, so the alarm could "
                f"never fire; allowed: at most {fleet}"
            )

    def _check_healthy_hosts(self) -> None:
        """CodeDeploy refuses a deployment whose minimum healthy hosts leave none to deploy to."""
        hosts = self.ec2_settings.min_capacity
        specs = [("deployment_config", self.deployment_config)] + [
            (f"environment_overrides.{name}.deployment_config", o.deployment_config)
            for name, o in self.environment_overrides.items()
        ]
        for field, spec in specs:
            healthy = minimum_healthy_hosts(spec or DEFAULT_DEPLOYMENT_CONFIG["ec2"], hosts)
            if healthy is not None and healthy >= hosts:
                raise ValueError(
                    f"{field}: {spec if isinstance(spec, str) or spec is None else spec.label} keeps {healthy} of "
                    f"{hosts} instance(s) healthy (ec2.min_capacity), so CodeDeploy can deploy to none of them; "
                    f"allowed: fewer healthy hosts than min_capacity, or OneAtATime / AllAtOnce for a single instance"
                )

    # Resolved settings, so that stacks never repeat the defaults.
    @property
    def ec2_settings(self) -> Ec2Settings:
        return self.ec2 or Ec2Settings()

    @property
    def ecs_settings(self) -> EcsSettings:
        return self.ecs or EcsSettings()

    @property
    def lambda_settings(self) -> LambdaSettings:
        return self.lambda_ or LambdaSettings()

    @property
    def shares_load_balancer(self) -> bool:
        return self.platform != "lambda" and self.isolation == "shared"

    @property
    def listener_route(self) -> ListenerRoute:
        if self.route is not None:
            return self.route
        if self.shares_load_balancer:
            return ListenerRoute(hosts=[f"{self.name}.*"])
        return ListenerRoute(paths=["/*"])

    @property
    def port(self) -> int:
        """The port its load balancer forwards to (EC2 and ECS)."""
        return self.ec2_settings.port if self.platform == "ec2" else self.ecs_settings.container_port

    @property
    def target_groups(self) -> int:
        """Target groups (and listener rules) it has on its load balancer: blue and green for ECS."""
        return {"ec2": 1, "ecs": 2}.get(self.platform, 0)

    def deployment_config_for(self, environment: str) -> str | TrafficShift | MinimumHealthyHosts:
        override = self.environment_overrides.get(environment)
        if override is not None and override.deployment_config is not None:
            return override.deployment_config
        return self.deployment_config or DEFAULT_DEPLOYMENT_CONFIG[self.platform]


LAMBDA_ALARMS = frozenset({"lambda_errors", "lambda_throttles"})
LOAD_BALANCER_ALARMS = frozenset({"http_5xx", "unhealthy_hosts"})
COMMON_ALARMS = frozenset({"period_seconds", "evaluation_periods"})


def minimum_healthy_hosts(spec: object, hosts: int) -> int | None:
    """Instances CodeDeploy keeps healthy during an in-place deployment to `hosts` instances.

    Predefined: OneAtATime keeps all but one (and deploys to a single instance anyway), HalfAtATime
    keeps half rounded up, AllAtOnce none. A percent is of the fleet, rounded up, as CodeDeploy does.
    """
    if spec == "OneAtATime":
        return None if hosts == 1 else hosts - 1
    if spec == "HalfAtATime":
        return math.ceil(hosts / 2)
    if spec == "AllAtOnce":
        return 0
    if isinstance(spec, MinimumHealthyHosts):
        return spec.count if spec.count is not None else math.ceil(hosts * (spec.percent or 0) / 100)
    return None


def check_deployment_config(platform: str, spec: object, field: str) -> None:
    """Raise a ValueError with a user-facing sentence if `spec` does not fit `platform`."""
    if spec is None:
        return
    if isinstance(spec, str):
        allowed = PREDEFINED_DEPLOYMENT_CONFIGS[platform]
        if spec not in allowed:
            owner = next((p for p, names in PREDEFINED_DEPLOYMENT_CONFIGS.items() if spec in names), None)
            why = f" is an {owner.upper()} configuration" if owner else " is not a CodeDeploy configuration"
            raise ValueError(
                f"{field}: {spec!r}{why}; allowed for {platform}: {', '.join(allowed)}, or a custom "
                + ("minimum_healthy_hosts mapping" if platform == "ec2" else "canary/linear mapping")
            )
    elif isinstance(spec, TrafficShift) and platform == "ec2":
        raise ValueError(
            f"{field}: a {spec.type} traffic shift does not apply to in-place EC2 deployments; allowed for ec2: "
            "OneAtATime, HalfAtATime, AllAtOnce, or type minimum_healthy_hosts"
        )
    elif isinstance(spec, MinimumHealthyHosts) and platform != "ec2":
        raise ValueError(
            f"{field}: minimum_healthy_hosts applies to EC2 only; allowed for {platform}: "
            f"{', '.join(PREDEFINED_DEPLOYMENT_CONFIGS[platform])}, or type canary/linear"
        )


# --------------------------------------------------------------------------------------
# CodeArtifact
# --------------------------------------------------------------------------------------

# External connections CodeArtifact supports (aws codeartifact associate-external-connection).
EXTERNAL_CONNECTIONS = (
    "public:npmjs",
    "public:pypi",
    "public:maven-central",
    "public:maven-googleandroid",
    "public:maven-gradleplugins",
    "public:maven-commonsware",
    "public:maven-clojars",
    "public:nuget-org",
    "public:ruby-gems-org",
    "public:crates-io",
)
MAX_UPSTREAMS = 10
# CodePipeline's quota of stages per pipeline.
PIPELINE_MAX_STAGES = 50
# Tags the platform puts on every stack itself (stacks/platform.py).
PLATFORM_TAGS = ("platform",)
# Separates the problems one model-level check reports (config.loader splits them into lines).
MULTIPLE_PROBLEMS = "\n"


def branch_slug(branch: str) -> str:
    """How a branch appears in resource names (the pull-request approval rule template)."""
    return re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")


# A service stack on a new network creates a VPC and a NAT gateway's Elastic IP: AWS allows 5 of each
# per region by default.
MAX_NEW_VPCS = 5


class CodeArtifactRepository(BaseModel):
    model_config = _forbid_extra()

    name: RepositoryName = Field(description="Repository name within the domain.")
    description: str = Field(default="", max_length=1000)
    external_connections: list[str] = Field(
        default_factory=list,
        description="Public upstream, at most one per repository: " + ", ".join(EXTERNAL_CONNECTIONS) + ".",
    )
    upstreams: list[RepositoryName] = Field(
        default_factory=list, description="Repositories searched, in order, when a package is missing here (max 10)."
    )
    publishers: list[RoleArn] = Field(
        default_factory=list, description="IAM role ARNs allowed to publish packages to this repository."
    )

    @model_validator(mode="after")
    def _connections(self) -> CodeArtifactRepository:
        for name in self.external_connections:
            if name not in EXTERNAL_CONNECTIONS:
                raise ValueError(
                    f"external_connections: {name!r} is not a CodeArtifact external connection; allowed: "
                    + ", ".join(EXTERNAL_CONNECTIONS)
                )
        if len(self.external_connections) > 1:
            raise ValueError(
                f"external_connections: {self.external_connections} has {len(self.external_connections)} entries; "
                "allowed: at most one per repository (chain repositories as upstreams to combine them)"
            )
        if len(self.upstreams) > MAX_UPSTREAMS:
            raise ValueError(
                f"upstreams: {len(self.upstreams)} repositories; allowed: at most {MAX_UPSTREAMS} per repository"
            )
        if len(set(self.upstreams)) != len(self.upstreams):
            raise ValueError(f"upstreams: {self.upstreams} names a repository twice; allowed: each at most once")
        if self.name in self.upstreams:
            raise ValueError(f"upstreams: {self.name!r} names itself; allowed: other repositories of the domain")
        return self


def _domain_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,48}[a-z0-9]", value):
        raise ValueError("allowed: 2 to 50 characters, lowercase letters, digits and hyphens, starting with a letter")
    return value


class CodeArtifactConfig(BaseModel):
    model_config = _forbid_extra()

    domain: Annotated[str, AfterValidator(_domain_name)] = Field(description="CodeArtifact domain name.")
    default_repository: RepositoryName = Field(description="Repository builds use unless a service names another.")
    repositories: list[CodeArtifactRepository] = Field(min_length=1)

    @model_validator(mode="after")
    def _graph(self) -> CodeArtifactConfig:
        names = [r.name for r in self.repositories]
        require_unique("repositories", names)
        for index, repo in enumerate(self.repositories):
            for upstream in repo.upstreams:
                if upstream not in names:
                    raise ValueError(
                        f"repositories[{index}].upstreams: {upstream!r} is not a repository of this domain; "
                        f"allowed: {', '.join(n for n in names if n != repo.name)}"
                    )
        cycle = find_cycle({r.name: list(r.upstreams) for r in self.repositories})
        if cycle:
            raise ValueError(f"repositories: upstreams form a cycle {' -> '.join(cycle)}; allowed: an acyclic chain")
        if self.default_repository not in names:
            raise ValueError(
                f"default_repository: {self.default_repository!r} is not defined; allowed: {', '.join(names)}"
            )
        return self

    def creation_order(self) -> list[CodeArtifactRepository]:
        """Repositories ordered so that each comes after every upstream it names."""
        by_name = {r.name: r for r in self.repositories}
        ordered: list[CodeArtifactRepository] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for upstream in by_name[name].upstreams:
                visit(upstream)
            ordered.append(by_name[name])

        for repo in self.repositories:
            visit(repo.name)
        return ordered


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def _default_codeartifact() -> CodeArtifactConfig:
    return CodeArtifactConfig(
        domain="platform",
        default_repository="shared",
        repositories=[
            CodeArtifactRepository(name="pypi-store", external_connections=["public:pypi"]),
            CodeArtifactRepository(name="npm-store", external_connections=["public:npmjs"]),
            CodeArtifactRepository(name="shared", upstreams=["pypi-store", "npm-store"]),
        ],
    )


# --------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------

EVENT_KINDS = (
    "pipeline_started",
    "pipeline_succeeded",
    "pipeline_failed",
    "pipeline_canceled",
    "pipeline_superseded",
    "pipeline_stuck",
    "stage_failed",
    "approval_waiting",
    "approval_approved",
    "approval_rejected",
    "build_succeeded",
    "build_failed",
    "deployment_started",
    "deployment_succeeded",
    "deployment_failed",
    "deployment_stopped",
    "pull_request_created",
    "pull_request_updated",
    "pull_request_merged",
    "pull_request_build_succeeded",
    "pull_request_build_failed",
)

EventKind = Annotated[
    str,
    _pattern_validator(re.compile("^(" + "|".join(EVENT_KINDS) + ")$"), ", ".join(EVENT_KINDS)),
]


GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A Teams channel id as Teams shows it in "Get link to channel" (URL-decoded): 19:<id>@thread.tacv2 (or .skype).
TEAMS_CHANNEL_ID_PATTERN = re.compile(r"^19:[A-Za-z0-9_-]{1,200}@thread\.(tacv2|skype)$")
# Microsoft documents about 4 posts per second per Teams webhook (docs/adr/0007).
TEAMS_POSTS_PER_SECOND = 4.0


class AmazonQChannel(BaseModel):
    """Where Amazon Q Developer in chat applications posts: a Teams channel of a team in a tenant."""

    model_config = _forbid_extra()

    team_id: Annotated[
        str, _pattern_validator(GUID_PATTERN, "a Teams team id (a GUID, the groupId in the channel link)")
    ]
    channel_id: Annotated[
        str,
        _pattern_validator(
            TEAMS_CHANNEL_ID_PATTERN, "a Teams channel id such as 19:abc123@thread.tacv2 (from the channel link)"
        ),
    ]
    tenant_id: Annotated[
        str, _pattern_validator(GUID_PATTERN, "a Microsoft Entra tenant id (a GUID, the tenantId in the channel link)")
    ]


class Channel(BaseModel):
    """A Microsoft Teams channel: a Workflows webhook (lambda, api_destination) or Amazon Q Developer (amazon_q)."""

    model_config = _forbid_extra()

    name: ChannelName
    delivery: Literal["lambda", "api_destination", "amazon_q"] = Field(
        default="lambda",
        description="lambda: Adaptive Cards with facts, links, retries and idempotency, queued per channel and "
        "posted at the channel's rate; api_destination: EventBridge posts a short card itself, no code; "
        "amazon_q: Amazon Q Developer in chat applications posts AWS's own notifications (no webhook).",
    )
    secret_name: Annotated[str, _pattern_validator(SECRET_NAME_PATTERN, "a Secrets Manager secret name")] | None = (
        Field(
            default=None,
            description="Existing secret holding the webhook URL; default: the stack creates "
            "<platform>/teams/<channel>. Store the URL with python -m tools.teams_webhook.",
        )
    )
    rate_limit_per_second: float = Field(
        default=TEAMS_POSTS_PER_SECOND,
        description="Posts per second to the channel's webhook (Microsoft documents about 4 per second per "
        "webhook); api_destination channels take a whole number.",
    )
    amazon_q: AmazonQChannel | None = Field(
        default=None, description="The Teams channel Amazon Q Developer posts to (delivery: amazon_q only)."
    )

    @model_validator(mode="after")
    def _delivery_settings(self) -> Channel:
        rate = self.rate_limit_per_second
        if self.delivery == "amazon_q":
            if self.amazon_q is None:
                raise ValueError(
                    f"amazon_q: channel {self.name!r} has delivery amazon_q but no amazon_q settings; "
                    "allowed: amazon_q: {team_id, channel_id, tenant_id}"
                )
            if self.secret_name is not None:
                raise ValueError(
                    f"secret_name: {self.secret_name!r} is set on the amazon_q channel {self.name!r}; allowed: "
                    "no webhook secret (Amazon Q Developer posts through its own Teams app)"
                )
            if "rate_limit_per_second" in self.model_fields_set:
                raise ValueError(
                    f"rate_limit_per_second: {rate:g} is set on the amazon_q channel {self.name!r}; allowed: only on "
                    "lambda and api_destination channels"
                )
            return self
        if self.amazon_q is not None:
            raise ValueError(
                f"amazon_q: set on channel {self.name!r} whose delivery is {self.delivery}; allowed: only with "
                "delivery: amazon_q"
            )
        if self.delivery == "api_destination":
            # AWS::Events::ApiDestination InvocationRateLimitPerSecond: an integer from 1 to 300.
            if rate != int(rate) or not 1 <= rate <= 300:
                raise ValueError(
                    f"rate_limit_per_second: {rate:g} on the api_destination channel {self.name!r}; allowed: a whole "
                    "number from 1 to 300 (EventBridge's InvocationRateLimitPerSecond)"
                )
        elif not 0.1 <= rate <= 20:
            raise ValueError(
                f"rate_limit_per_second: {rate:g} on channel {self.name!r}; allowed: 0.1 to 20 posts per second"
            )
        return self

    @property
    def has_webhook(self) -> bool:
        return self.delivery != "amazon_q"

    def secret(self, platform: str) -> str:
        """The secret holding the channel's webhook URL: the one named here, or the one the stack creates."""
        return self.secret_name or f"{platform}/teams/{self.name}"


class Route(BaseModel):
    model_config = _forbid_extra()

    events: list[EventKind] = Field(min_length=1, description="Event kinds: " + ", ".join(EVENT_KINDS) + ".")
    channels: list[ChannelName] = Field(min_length=1)


class NotificationsConfig(BaseModel):
    model_config = _forbid_extra()

    channels: list[Channel] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    stuck_after_minutes: int = Field(
        default=120,
        ge=30,
        le=10080,
        description="pipeline_stuck: an execution still in progress after this many minutes is reported once (a "
        "watcher function runs every 15 minutes, only when pipeline_stuck is routed).",
    )
    burst_summary_after: int | None = Field(
        default=10,
        ge=1,
        le=1000,
        description="A channel gets at most this many cards of one event kind per minute; beyond it the notifier "
        "posts one summary card per batch, linking each pipeline (lambda channels; null: never summarize).",
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> NotificationsConfig:
        names = [c.name for c in self.channels]
        require_unique("channels", names)
        for index, route in enumerate(self.routes):
            for channel in route.channels:
                if channel not in names:
                    raise ValueError(
                        f"routes[{index}].channels: {channel!r} is not a channel; "
                        f"allowed: {', '.join(names) or '(none defined)'}"
                    )
        return self

    @model_validator(mode="after")
    def _targets_per_rule(self) -> NotificationsConfig:
        # One EventBridge rule per kind, one target per channel (its queue, API destination or Amazon Q topic).
        for kind in EVENT_KINDS:
            targets = len(self.channels_for(kind))
            if targets > 5:
                raise ValueError(
                    f"routes: {kind} goes to {targets} channels; allowed: at most 5 per event kind (an EventBridge "
                    "rule's limit of 5 targets; each channel is one target)"
                )
        return self

    def channels_for(self, kind: str) -> list[str]:
        found: list[str] = []
        for route in self.routes:
            if kind in route.events:
                found.extend(c for c in route.channels if c not in found)
        return found

    def selected_kinds(self) -> list[str]:
        return [k for k in EVENT_KINDS if self.channels_for(k)]


# --------------------------------------------------------------------------------------
# The platform
# --------------------------------------------------------------------------------------


def _repository_path(value: str) -> str:
    parts = value.split("/")
    if (
        not re.fullmatch(r"[A-Za-z0-9_./-]+\.ya?ml", value)
        or value.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(
            "allowed: a path inside the platform repository to a .yaml file, such as config/platform.yaml "
            "(relative, no '..', letters, digits, '_', '.', '-' and '/')"
        )
    return value


# A service of this name would take the platform pipeline's names (<p>-platform repository, pipeline,
# -build and -pr projects): the platform pipeline owns them.
RESERVED_SERVICE_NAMES = ("platform",)


class PlatformPipelineConfig(BaseModel):
    """The platform's own provisioning pipeline (stacks/platform_pipeline_stack.py, docs/adr/0009)."""

    model_config = _forbid_extra()

    enabled: bool = Field(
        default=True,
        description="Create the platform pipeline stack: the platform repository, its pipeline and its pull-request "
        "validation. Without it the platform is deployed by hand (tools.bootstrap --execute).",
    )
    branch: Branch = Field(default="main", description="Branch of the platform repository whose pushes roll out.")
    config_file: Annotated[str, AfterValidator(_repository_path)] = Field(
        default="config/platform.yaml",
        max_length=200,
        description="Path of this config inside the platform repository; the pipeline's build synthesizes it.",
    )
    concurrency: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Stacks a wave deploys at once (one run order of CloudFormation actions; CodePipeline allows "
        "50 actions per stage).",
    )
    max_removals: int = Field(
        default=10,
        ge=0,
        le=500,
        description="Most stacks one rollout may delete (stacks of the platform that the config no longer has); "
        "more stops the rollout before it deletes anything.",
    )
    build_timeout_minutes: int = Field(
        default=60, ge=10, le=480, description="Timeout of the build (clean install, make test, synth) in minutes."
    )


class PlatformConfig(BaseModel):
    """The whole platform: accounts, environments, services and shared services."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        title="Pipelines platform configuration",
        json_schema_extra={"$id": "https://example.invalid/pipelines-platform/platform.schema.json"},
    )

    name: PlatformName = Field(description="Platform name, the prefix of every physical name (max 12 characters).")
    organization_id: (
        Annotated[str, _pattern_validator(ORG_ID_PATTERN, "an AWS Organizations id such as o-a1b2c3d4e5")] | None
    ) = Field(
        default=None,
        description="If set, cross-account trust also requires aws:PrincipalOrgID to be this organization.",
    )
    tooling: ToolingAccount
    environments: list[Environment] = Field(min_length=1, description="Deployment targets, in promotion order.")
    services: list[Service] = Field(default_factory=list)
    codeartifact: CodeArtifactConfig = Field(default_factory=_default_codeartifact)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    release_guardrails: ReleaseGuardrails = Field(default_factory=ReleaseGuardrails)
    freezes: list[Freeze] = Field(default_factory=list, description="Change freezes (DeploymentWindow rules).")
    platform_pipeline: PlatformPipelineConfig = Field(default_factory=PlatformPipelineConfig)
    log_retention_days: int = Field(
        default=90,
        description="Retention of every log group the platform creates, in days (a CloudWatch Logs value).",
        json_schema_extra={"enum": list[JsonValue](LOG_RETENTION_DAYS)},
    )
    tags: dict[str, Annotated[str, BeforeValidator(_tag_value)]] = Field(
        default_factory=dict,
        description="Tags applied to every stack (AWS tag rules: keys 1-128 characters, not aws:..., values up to "
        "256; the platform adds the tag platform itself).",
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 128, "not": {"pattern": "^([aA][wW][sS]:|platform$)"}},
            "additionalProperties": {"type": "string", "maxLength": 256},
            "maxProperties": 49,
        },
    )

    @model_validator(mode="after")
    def _cross_checks(self) -> PlatformConfig:
        """Rules that need the whole config; every problem found is reported, one line each."""
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"log_retention_days: {self.log_retention_days} is not a CloudWatch Logs retention; "
                f"allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        require_unique("environments", [e.name for e in self.environments])
        require_unique("services", [s.name for s in self.services])
        problems: list[str] = []
        for check in (
            self._regions,
            self._networks,
            self._certificates,
            self._network_quotas,
            self._load_balancers,
            self._custom_deployment_configs,
            self._service_environments,
            self._freezes,
            self._guardrail_rules,
            self._pipeline_stages,
            self._pull_request_templates,
            self._channels_routed,
            self._webhook_secrets,
            self._name_collisions,
            self._tags,
        ):
            problems += check()
        if problems:
            raise ValueError(MULTIPLE_PROBLEMS.join(problems))
        return self

    def _regions(self) -> list[str]:
        problems = []
        missing = aws_facts.services_missing_in(self.tooling.region, tooling=True)
        if missing:
            offered = sorted(set.intersection(*(set(aws_facts.service_regions(s)) for s in missing)))
            problems.append(
                f"tooling.region: {self.tooling.region} has no endpoint for {', '.join(missing)} (botocore's endpoint "
                f"data); allowed: a region that offers every service the tooling account uses, e.g. "
                f"{', '.join(offered[:8])}"
            )
        for index, env in enumerate(self.environments):
            if (env.region or self.tooling.region) != self.tooling.region:
                problems.append(
                    f"environments[{index}].region: {env.region!r} differs from tooling.region "
                    f"{self.tooling.region!r}; allowed: {self.tooling.region!r} (cross-region pipelines need "
                    "per-region artifact stores, which this version does not create)"
                )
        # Every environment is in the tooling region (above), so its services are checked there once.
        gaps = aws_facts.services_missing_in(self.tooling.region, tooling=False)
        if gaps:
            problems.append(
                f"environments[0].region: {self.tooling.region} has no endpoint for {', '.join(gaps)}; "
                "allowed: a region that offers them"
            )
        return problems

    def _networks(self) -> list[str]:
        problems = []
        for index, env in enumerate(self.environments):
            region = self.region_of(env)
            zones = env.network.availability_zones or []
            wrong = [z for z in zones if not re.fullmatch(re.escape(region) + r"[a-z]", z)]
            if wrong:
                problems.append(
                    f"environments[{index}].network.availability_zones: {wrong} are not availability zones of "
                    f"{region}; allowed: names such as {region}a, {region}b (the region's code and a letter)"
                )
        return problems

    def _certificates(self) -> list[str]:
        problems = []
        for index, env in enumerate(self.environments):
            if not env.certificate_arn:
                continue
            parts = aws_facts.acm_certificate_parts(env.certificate_arn)
            if parts is None:
                problems.append(
                    f"environments[{index}].certificate_arn: {env.certificate_arn!r}; allowed: an ACM certificate ARN "
                    "arn:aws:acm:<region>:<account>:certificate/<id>"
                )
            elif parts != (self.region_of(env), env.account):
                problems.append(
                    f"environments[{index}].certificate_arn: a certificate of account {parts[1]} in {parts[0]}; "
                    f"allowed: one of {env.name}'s account {env.account} in {self.region_of(env)} (a load balancer "
                    "uses certificates of its own account and region only)"
                )
        return problems

    def _network_quotas(self) -> list[str]:
        """VPCs and Elastic IPs (one per NAT gateway) per account and region: AWS's default quota is 5 each.

        New VPCs: the foundation's, where the environment asks for a new one and has EC2/ECS services that
        share it, and one per service with isolation network."""
        vpcs: dict[tuple[str, str], list[str]] = {}
        addresses: dict[tuple[str, str], int] = {}
        for env in self.environments:
            key = (env.account, self.region_of(env))
            own = [s for s in self.services_in(env) if s.platform in ("ec2", "ecs")]
            created: list[tuple[str, int]] = []
            if isinstance(env.network, NewNetwork) and any(s.isolation != "network" for s in own):
                created.append((f"the foundation of {env.name}", env.network.nat_gateways))
            created += [
                (f"{s.name} in {env.name}", self.isolated_network(env).nat_gateways)
                for s in own
                if s.isolation == "network"
            ]
            vpcs.setdefault(key, []).extend(name for name, _ in created)
            addresses[key] = addresses.get(key, 0) + sum(nat for _, nat in created)
        problems = []
        for (account, region), stacks in vpcs.items():
            if len(stacks) > MAX_NEW_VPCS or addresses[(account, region)] > MAX_NEW_VPCS:
                problems.append(
                    f"environments: {len(stacks)} new VPCs ({', '.join(stacks)}), with "
                    f"{addresses[(account, region)]} NAT gateways' Elastic IPs, in account {account} ({region}); "
                    f"allowed: at most {MAX_NEW_VPCS} of each (AWS's default VPC and Elastic IP quotas per region): "
                    "fewer services with isolation network, or an existing VPC with network.vpc_id, "
                    "availability_zones, public_subnet_ids and private_subnet_ids"
                )
        return problems

    def _load_balancers(self) -> list[str]:
        """Each shared load balancer holds at most 100 target groups, and no two services take the same route."""
        problems = []
        for index, env in enumerate(self.environments):
            for balancer, services in self.load_balancer_groups(env).items():
                groups = sum(s.target_groups for s in services)
                if groups > MAX_TARGET_GROUPS_PER_ALB:
                    problems.append(
                        f"services: the shared load balancer {balancer!r} of {env.name} would hold {groups} target "
                        f"groups ({len(services)} services; 2 per ECS, 1 per EC2 service); allowed: at most "
                        f"{MAX_TARGET_GROUPS_PER_ALB} per Application Load Balancer (an AWS quota that cannot be "
                        "raised): set load_balancer: <another name> on some of them"
                    )
                by_route: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
                for service in services:
                    by_route.setdefault(service.listener_route.key, []).append(service.name)
                problems += [
                    f"services: {' and '.join(names)} take the same route (hosts {list(key[0])}, paths "
                    f"{list(key[1])}) on the shared load balancer {balancer!r} of environments[{index}] "
                    f"({env.name}); allowed: a route of their own each (route.hosts, route.paths)"
                    for key, names in by_route.items()
                    if len(names) > 1
                ]
        return problems

    def _custom_deployment_configs(self) -> list[str]:
        """Custom deployment configurations are shared by name per account and region: 50 at most."""
        per_account: dict[tuple[str, str], set[str]] = {}
        for env in self.environments:
            key = (env.account, self.region_of(env))
            per_account.setdefault(key, set()).update(
                f"{env.name}-{platform}-{spec.label}" for platform, spec in self.custom_deployment_configs(env)
            )
        return [
            f"services: {len(labels)} distinct custom deployment configurations in account {account} ({region}); "
            f"allowed: at most {MAX_CUSTOM_DEPLOYMENT_CONFIGS} (CodeDeploy's quota, not adjustable): reuse "
            "configurations, or the predefined ones"
            for (account, region), labels in sorted(per_account.items())
            if len(labels) > MAX_CUSTOM_DEPLOYMENT_CONFIGS
        ]

    def _freezes(self) -> list[str]:
        env_names = [e.name for e in self.environments]
        problems = []
        seen: set[str] = set()
        for index, freeze in enumerate(self.freezes):
            if freeze.name in seen:
                problems.append(f"freezes[{index}].name: {freeze.name!r} is given twice; allowed: unique names")
            seen.add(freeze.name)
            for env_name in freeze.environments or []:
                if env_name not in env_names:
                    problems.append(
                        f"freezes[{index}].environments: {env_name!r} is not an environment; "
                        f"allowed: {', '.join(env_names)}"
                    )
        for env_name in env_names:
            count = len(self.freezes_of(env_name))
            if count > MAX_RULES_PER_CONDITION:
                problems.append(
                    f"freezes: {count} freezes apply to {env_name!r}; allowed: at most {MAX_RULES_PER_CONDITION} "
                    "(rules per CodePipeline condition)"
                )
        size = len(json.dumps([f.notice() for f in self.freezes], separators=(",", ":")))
        if size > MAX_FREEZES_NOTICE_BYTES:
            problems.append(
                f"freezes: {len(self.freezes)} freezes take {size} bytes in the notifier's FREEZES variable; allowed: "
                f"at most {MAX_FREEZES_NOTICE_BYTES} (Lambda allows 4 KB for all of a function's environment "
                "variables), so fewer freezes or shorter reasons"
            )
        return problems

    def _guardrail_rules(self) -> list[str]:
        """Each Deploy-<env> stage's entry condition holds the promotion gate's alarm rules and the freezes, at most
        5 rules in its one condition; a gate wait without a gate would do nothing."""
        problems: list[str] = []
        for index, service in enumerate(self.services):
            for position, env in enumerate(self.environments_of(service)):
                where = self.guardrails_source(index, service, env)
                guardrails = self.guardrails_of(service, env)
                problem = (
                    f"{where}.gate_wait_minutes: {guardrails.gate_wait_minutes} ({service.name}) with promotion_gate "
                    "false would do nothing; allowed: promotion_gate true, or no gate_wait_minutes"
                )
                waits_for_nothing = guardrails.gate_wait_minutes is not None and not guardrails.promotion_gate
                if waits_for_nothing and problem not in problems:
                    problems.append(problem)
                gate = len(ROLLBACK_ALARM_SUFFIXES[service.platform]) if guardrails.promotion_gate and position else 0
                freezes = len(self.freezes_of(env.name))
                if gate + freezes > MAX_RULES_PER_CONDITION:
                    problems.append(
                        f"{where}.promotion_gate: {service.name}'s Deploy-{env.name} entry condition would hold {gate} "
                        f"alarm rules ({service.platform}) and {freezes} freezes; allowed: at most "
                        f"{MAX_RULES_PER_CONDITION} rules per CodePipeline condition, so fewer freezes for "
                        f"{env.name!r} or promotion_gate false for this service"
                    )
        return problems

    @property
    def has_waiting_freezes(self) -> bool:
        """Whether any freeze is `during: wait`: the tooling stack's freeze role and the execution policy's
        Scheduler statement exist only then."""
        return any(f.during == "wait" for f in self.freezes)

    def freezes_of(self, env_name: str) -> list[Freeze]:
        """The freezes that gate Deploy-<env_name>."""
        return [f for f in self.freezes if f.environments is None or env_name in f.environments]

    def _guardrail_level(self, service: Service, env: Environment | None) -> tuple[str, ReleaseGuardrails]:
        """(level, guardrails) of the most specific level that sets ``service``'s guardrails for Deploy-<env>:
        "override" (the service's environment_overrides), "service", "environment" or "platform"."""
        override = service.environment_overrides.get(env.name) if env is not None else None
        if override is not None and override.release_guardrails is not None:
            return "override", override.release_guardrails
        if service.release_guardrails is not None:
            return "service", service.release_guardrails
        if env is not None and env.release_guardrails is not None:
            return "environment", env.release_guardrails
        return "platform", self.release_guardrails

    def guardrails_of(self, service: Service, env: Environment | None = None) -> ReleaseGuardrails:
        """The guardrails of ``service``'s Deploy-<env>: the most specific level that sets them (the service's
        override for env, the service, the environment, the platform); each replaces the levels below."""
        return self._guardrail_level(service, env)[1]

    def guardrails_source(self, index: int, service: Service, env: Environment) -> str:
        """The config path the guardrails of service ``index``'s Deploy-<env> come from, for messages."""
        level = self._guardrail_level(service, env)[0]
        return {
            "override": f"services[{index}].environment_overrides.{env.name}.release_guardrails",
            "service": f"services[{index}].release_guardrails",
            "environment": f"environments[{self.environments.index(env)}].release_guardrails",
            "platform": "release_guardrails",
        }[level]

    def _service_environments(self) -> list[str]:
        env_names = [e.name for e in self.environments]
        repo_names = [r.name for r in self.codeartifact.repositories]
        problems = []
        for index, service in enumerate(self.services):
            for env_name in service.environments or []:
                if env_name not in env_names:
                    problems.append(
                        f"services[{index}].environments: {env_name!r} ({service.name}) is not an environment; "
                        f"allowed: {', '.join(env_names)}"
                    )
            if service.environments is not None and set(service.environments) <= set(env_names):
                order = [n for n in env_names if n in service.environments]
                if order != list(service.environments) or not order:
                    problems.append(
                        f"services[{index}].environments: {list(service.environments)}; allowed: a non-empty "
                        f"subset of {env_names} in that order"
                    )
            if service.environments is not None and not (
                set(service.environments) <= set(env_names) and service.environments
            ):
                continue  # its environments are wrong already: the overrides cannot be judged
            deployed = [e.name for e in self.environments_of(service)]
            for env_name in service.environment_overrides:
                if env_name not in deployed:
                    where = "is not an environment" if env_name not in env_names else "is not one it deploys to"
                    problems.append(
                        f"services[{index}].environment_overrides.{env_name}: {env_name!r} {where} of {service.name}, "
                        f"so the override would be ignored; allowed: {', '.join(deployed)}"
                    )
            if service.codeartifact_repository and service.codeartifact_repository not in repo_names:
                problems.append(
                    f"services[{index}].codeartifact_repository: {service.codeartifact_repository!r} is not a "
                    f"repository of codeartifact; allowed: {', '.join(repo_names)}"
                )
        return problems

    def _pipeline_stages(self) -> list[str]:
        """Source, Build, Test, then per environment an optional approval and the deploy: 50 stages at most."""
        problems = []
        for index, service in enumerate(self.services):
            stages = 3 + sum(1 + e.approval for e in self.environments_of(service))
            if stages > PIPELINE_MAX_STAGES:
                problems.append(
                    f"services[{index}].environments: {service.name}'s pipeline would have {stages} stages; allowed: "
                    f"at most {PIPELINE_MAX_STAGES} (CodePipeline's quota), so fewer environments or approvals"
                )
        return problems

    def _pull_request_templates(self) -> list[str]:
        """One approval rule template per branch, named after it: two branches must not share a name."""
        by_slug: dict[str, set[str]] = {}
        for service in self.services:
            if service.pull_request_validation:
                by_slug.setdefault(branch_slug(service.branch), set()).add(service.branch)
        return [
            f"services: branches {sorted(branches)} would share the approval rule template {self.name}-pr-validation-"
            f"{slug}; allowed: branch names that differ in more than their punctuation and case"
            for slug, branches in sorted(by_slug.items())
            if len(branches) > 1
        ]

    def _channels_routed(self) -> list[str]:
        routed = {c for route in self.notifications.routes for c in route.channels}
        return [
            f"notifications.channels[{index}]: {channel.name!r} receives no events (no route names it); allowed: a "
            "channel that a route sends events to, or remove it"
            for index, channel in enumerate(self.notifications.channels)
            if channel.name not in routed
        ]

    def _webhook_secrets(self) -> list[str]:
        by_secret: dict[str, list[str]] = {}
        for channel in self.notifications.channels:
            if channel.has_webhook:
                by_secret.setdefault(channel.secret(self.name), []).append(channel.name)
        return [
            f"notifications.channels: {channels} would share the secret {secret!r}; allowed: one secret per channel"
            for secret, channels in sorted(by_secret.items())
            if len(channels) > 1
        ]

    def _name_collisions(self) -> list[str]:
        """Names built by joining config names with '-' must not meet: stacks per account, and the
        per-service names of each environment (functions, roles, deployment groups) per account."""
        names: dict[tuple[str, str], list[str]] = {}

        def claim(account: str, name: str, owner: str) -> None:
            names.setdefault((account, name), []).append(owner)

        reserved = [
            f"services[{index}].name: {service.name!r} is reserved for the platform pipeline's repository, pipeline "
            f"and projects ({self.name}-{service.name}); allowed: any other service name"
            for index, service in enumerate(self.services)
            if service.name in RESERVED_SERVICE_NAMES and self.platform_pipeline.enabled
        ]
        for service in self.services:
            for env in self.environments_of(service):
                owner = f"{service.name} in {env.name}"
                claim(env.account, f"stack {self.name}-service-{service.name}-{env.name}", owner)
                claim(env.account, f"name {self.name}-{env.name}-{service.name}", owner)
        return reserved + [
            f"services: {' and '.join(owners)} would both be named {what.split(' ', 1)[1]} in account {account}; "
            "allowed: service and environment names that do not join into the same name"
            for (account, what), owners in sorted(names.items())
            if len(owners) > 1
        ]

    def _tags(self) -> list[str]:
        problems = []
        if len(self.tags) > aws_facts.TAGS_PER_RESOURCE - len(PLATFORM_TAGS):
            problems.append(
                f"tags: {len(self.tags)} tags; allowed: at most {aws_facts.TAGS_PER_RESOURCE - len(PLATFORM_TAGS)} "
                f"(AWS allows {aws_facts.TAGS_PER_RESOURCE} per resource and the platform adds {len(PLATFORM_TAGS)})"
            )
        for key, value in self.tags.items():
            if key in PLATFORM_TAGS:
                problems.append(f"tags[{json.dumps(key)}]: the platform sets this tag itself; allowed: any other key")
                continue
            why = aws_facts.tag_problem(key, str(value))
            if why:
                problems.append(f"tags[{json.dumps(key)}]: got {json.dumps(value)}; allowed: AWS tags only ({why})")
        return problems

    # ----- resolved views, used by app.py and the stacks -----

    def region_of(self, env: Environment) -> str:
        return env.region or self.tooling.region

    def environment(self, name: str) -> Environment:
        return next(e for e in self.environments if e.name == name)

    def environments_of(self, service: Service) -> list[Environment]:
        wanted = service.environments
        return [e for e in self.environments if wanted is None or e.name in wanted]

    def repository_of(self, service: Service) -> str:
        return service.codeartifact_repository or self.codeartifact.default_repository

    def services_in(self, env: Environment) -> list[Service]:
        return [s for s in self.services if env in self.environments_of(s)]

    def load_balancer_groups(self, env: Environment) -> dict[str, list[Service]]:
        """The foundation's shared load balancers in `env`, by name, with the services routed through each."""
        groups: dict[str, list[Service]] = {}
        for service in self.services_in(env):
            if service.shares_load_balancer:
                groups.setdefault(service.load_balancer, []).append(service)
        return groups

    def listener_rule_priority(self, service: Service, env: Environment) -> int:
        """The priority of `service`'s listener rules on its load balancer, stable while services come and go.

        A service's own hash of its name (1 to 50,000); on a collision, the service whose name sorts
        later takes the next free priority. Rules of different services never overlap in the requests
        they match (routes are unique), so the order only has to be unique, not meaningful.
        """
        if not service.shares_load_balancer:
            return 1
        taken: dict[str, int] = {}
        used: set[int] = set()
        for member in sorted(self.load_balancer_groups(env)[service.load_balancer], key=lambda s: s.name):
            priority = zlib.crc32(member.name.encode()) % MAX_RULE_PRIORITY + 1
            while priority in used:
                priority = priority % MAX_RULE_PRIORITY + 1
            used.add(priority)
            taken[member.name] = priority
        return taken[service.name]

    def isolated_network(self, env: Environment) -> NewNetwork:
        """The VPC a service with isolation network creates: the environment's new-VPC settings, or the defaults."""
        return env.network if isinstance(env.network, NewNetwork) else NewNetwork()

    def needs_vpc(self, env: Environment) -> bool:
        """Whether the environment's foundation has a network: some EC2 or ECS service runs on it."""
        return any(s.platform != "lambda" and s.isolation != "network" for s in self.services_in(env))

    def custom_deployment_configs(self, env: Environment) -> list[tuple[Platform, TrafficShift | MinimumHealthyHosts]]:
        """(platform, spec) of every custom deployment configuration the services of `env` use, once each."""
        found: dict[tuple[str, str], tuple[Platform, TrafficShift | MinimumHealthyHosts]] = {}
        for service in self.services_in(env):
            spec = service.deployment_config_for(env.name)
            if not isinstance(spec, str):
                found.setdefault((service.platform, spec.label), (service.platform, spec))
        return list(found.values())
