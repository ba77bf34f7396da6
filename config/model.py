"""The typed platform configuration: one model, the one place where defaults live.

`config/platform.yaml` is parsed into `PlatformConfig` and validated before any
construct is built. Every rule that can be checked without AWS is checked here, so
a bad file stops synth with a message naming the field, the value and what is
allowed (see `config.loader.ConfigError`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

# --------------------------------------------------------------------------------------
# Scalar types
# --------------------------------------------------------------------------------------

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
ORG_ID_PATTERN = re.compile(r"^o-[a-z0-9]{10,32}$")
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
SECRET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
BRANCH_PATTERN = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}(?<!/)(?<!\.lock)$")
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")

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


AccountId = Annotated[str, BeforeValidator(_account_id)]
Region = Annotated[str, _pattern_validator(REGION_PATTERN, "an AWS region code such as eu-west-1")]
PlatformName = Annotated[str, _name_validator("platform", 12, "every physical resource name")]
EnvironmentName = Annotated[str, _name_validator("environment", 10, "role, stack and deployment group names")]
ServiceName = Annotated[
    str,
    _name_validator("service", 24, "CodeCommit, CodeBuild, IAM, S3, ECR and Lambda names"),
]
RepositoryName = Annotated[str, _name_validator("repository", 100, "CodeArtifact repository ARNs")]
ChannelName = Annotated[str, _name_validator("channel", 32, "secret and API destination names")]
RoleArn = Annotated[str, _pattern_validator(ROLE_ARN_PATTERN, "an IAM role ARN: arn:aws:iam::<12 digits>:role/<name>")]
Branch = Annotated[str, _pattern_validator(BRANCH_PATTERN, "a git branch name such as main or release/1.x")]


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
UNION_TAGS = frozenset({"named", "shift", "hosts"})


# --------------------------------------------------------------------------------------
# Accounts and environments
# --------------------------------------------------------------------------------------


class ToolingAccount(BaseModel):
    """The CI/CD account: pipelines, CodeArtifact, notifications."""

    model_config = _forbid_extra()

    account: AccountId = Field(description="12-digit AWS account id of the tooling (CI/CD) account.")
    region: Region = Field(description="Region of the pipelines and every other tooling stack.")
    profile: str | None = Field(default=None, description="AWS CLI profile for this account (bootstrap tool).")


class ImportedNetwork(BaseModel):
    """An existing VPC, given by ids so that synth needs no lookup."""

    model_config = _forbid_extra()

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$", description="Id of the existing VPC.")
    cidr: str = Field(
        pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$",
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
        for field in ("public_subnet_ids", "private_subnet_ids"):
            if len(getattr(self, field)) != azs:
                raise ValueError(
                    f"{field} has {len(getattr(self, field))} ids; allowed: one per availability zone ({azs})"
                )
        return self


class NewNetwork(BaseModel):
    """A VPC that each service stack creates for itself."""

    model_config = _forbid_extra()

    cidr: str = Field(
        default="10.0.0.0/16",
        pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])$",
        description="IPv4 CIDR of the VPC (/16 to /24).",
    )
    availability_zones: list[str] | None = Field(
        default=None,
        min_length=2,
        description="AZs to use; default: the region's first two, resolved by CloudFormation at deploy time.",
    )
    nat_gateways: int = Field(default=1, ge=0, le=3, description="NAT gateways (0 only with VPC endpoints you add).")


class Environment(BaseModel):
    """A deployment target: one AWS account and region, deployed in config order."""

    model_config = _forbid_extra()

    name: EnvironmentName = Field(description="Short name: dev, staging, prod, ...")
    account: AccountId = Field(description="12-digit AWS account id of this environment.")
    region: Region | None = Field(default=None, description="Region; default: the tooling region.")
    profile: str | None = Field(default=None, description="AWS CLI profile for this account (bootstrap tool).")
    approval: bool = Field(default=False, description="Require a manual approval before deploying here.")
    network: ImportedNetwork | NewNetwork = Field(
        default_factory=NewNetwork, description="An existing VPC by ids, or settings for a new one per service."
    )
    certificate_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$",
        description="ACM certificate for the load balancers of EC2 and ECS services: HTTPS on 443, "
        "port 80 redirects. Default: plain HTTP on port 80.",
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


class Ec2Settings(BaseModel):
    model_config = _forbid_extra()

    instance_type: str = Field(
        default="t4g.small", pattern=INSTANCE_TYPE_PATTERN.pattern, description="Instance type (Graviton by default)."
    )
    min_capacity: int = Field(default=2, ge=1, le=100)
    max_capacity: int = Field(default=4, ge=1, le=100)
    port: int = Field(default=8080, ge=1024, le=65535, description="Port the application listens on.")
    health_check_path: str = Field(default="/health", pattern=r"^/\S*$")

    @model_validator(mode="after")
    def _capacity(self) -> Ec2Settings:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} > max_capacity {self.max_capacity}")
        return self


class EcsSettings(BaseModel):
    model_config = _forbid_extra()

    cpu: Literal[256, 512, 1024, 2048, 4096] = Field(default=256, description="Fargate task CPU units.")
    memory_mib: int = Field(default=512, ge=512, le=30720, description="Fargate task memory (MiB).")
    desired_count: int = Field(default=2, ge=1, le=100)
    container_port: int = Field(default=8080, ge=1024, le=65535)
    health_check_path: str = Field(default="/health", pattern=r"^/\S*$")


class LambdaSettings(BaseModel):
    model_config = _forbid_extra()

    memory_mib: int = Field(default=256, ge=128, le=10240)
    timeout_seconds: int = Field(default=10, ge=1, le=900)
    test_payload: dict[str, Any] = Field(
        default_factory=lambda: {"path": "/health"},
        description="Event the traffic hooks send to the new version; it must answer without error.",
    )


class EnvironmentOverride(BaseModel):
    model_config = _forbid_extra()

    deployment_config: DeploymentConfigSpec | None = Field(
        default=None, description="Deployment configuration for this environment only."
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
        return self

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

    def deployment_config_for(self, environment: str) -> str | TrafficShift | MinimumHealthyHosts:
        override = self.environment_overrides.get(environment)
        if override is not None and override.deployment_config is not None:
            return override.deployment_config
        return self.deployment_config or DEFAULT_DEPLOYMENT_CONFIG[self.platform]


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


class Channel(BaseModel):
    """A Microsoft Teams channel reached through a Workflows webhook."""

    model_config = _forbid_extra()

    name: ChannelName
    delivery: Literal["lambda", "api_destination"] = Field(
        default="lambda",
        description="lambda: Adaptive Cards with facts, links, retries and idempotency; "
        "api_destination: EventBridge posts a short card itself, no code.",
    )
    secret_name: Annotated[str, _pattern_validator(SECRET_NAME_PATTERN, "a Secrets Manager secret name")] | None = (
        Field(
            default=None,
            description="Existing secret holding the webhook URL; default: the stack creates "
            "<platform>/teams/<channel> and you put the URL in it.",
        )
    )


class Route(BaseModel):
    model_config = _forbid_extra()

    events: list[EventKind] = Field(min_length=1, description="Event kinds: " + ", ".join(EVENT_KINDS) + ".")
    channels: list[ChannelName] = Field(min_length=1)


class NotificationsConfig(BaseModel):
    model_config = _forbid_extra()

    channels: list[Channel] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)

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
        # One EventBridge rule per kind: the notifier function plus one API destination per channel.
        api = {c.name for c in self.channels if c.delivery == "api_destination"}
        for kind in EVENT_KINDS:
            routed = self.channels_for(kind)
            targets = len(api & set(routed)) + (1 if set(routed) - api else 0)
            if targets > 5:
                raise ValueError(
                    f"routes: {kind} goes to {targets} targets; allowed: at most 5 per event kind (an EventBridge "
                    "rule's limit; the notifier function counts once, each api_destination channel once)"
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
    log_retention_days: int = Field(default=90, description="Retention of every log group the platform creates.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags applied to every stack.")

    @model_validator(mode="after")
    def _cross_checks(self) -> PlatformConfig:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"log_retention_days: {self.log_retention_days} is not a CloudWatch Logs retention; "
                f"allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        env_names = [e.name for e in self.environments]
        require_unique("environments", env_names)
        for index, env in enumerate(self.environments):
            if (env.region or self.tooling.region) != self.tooling.region:
                raise ValueError(
                    f"environments[{index}].region: {env.region!r} differs from tooling.region "
                    f"{self.tooling.region!r}; allowed: {self.tooling.region!r} (cross-region pipelines need "
                    "per-region artifact stores, which this version does not create)"
                )
        service_names = [s.name for s in self.services]
        require_unique("services", service_names)
        for index, env in enumerate(self.environments):
            if isinstance(env.network, NewNetwork):
                own_vpcs = [s.name for s in self.services_in(env) if s.platform in ("ec2", "ecs")]
                if len(own_vpcs) > MAX_NEW_VPCS:
                    raise ValueError(
                        f"environments[{index}].network: {len(own_vpcs)} EC2/ECS services would each create a VPC "
                        f"(and a NAT gateway's Elastic IP) in {env.name}; allowed: at most {MAX_NEW_VPCS} (AWS's "
                        "default VPC and Elastic IP quotas per region), or give the environment an existing VPC "
                        "with network.vpc_id, availability_zones, public_subnet_ids and private_subnet_ids"
                    )
        repo_names = [r.name for r in self.codeartifact.repositories]
        for index, service in enumerate(self.services):
            for env_name in list(service.environments or []) + list(service.environment_overrides):
                if env_name not in env_names:
                    raise ValueError(
                        f"services[{index}].environments: {env_name!r} ({service.name}) is not an environment; "
                        f"allowed: {', '.join(env_names)}"
                    )
            if service.environments is not None:
                order = [n for n in env_names if n in service.environments]
                if order != list(service.environments) or not order:
                    raise ValueError(
                        f"services[{index}].environments: {list(service.environments)}; allowed: a non-empty "
                        f"subset of {env_names} in that order"
                    )
            if service.codeartifact_repository and service.codeartifact_repository not in repo_names:
                raise ValueError(
                    f"services[{index}].codeartifact_repository: {service.codeartifact_repository!r} is not a "
                    f"repository of codeartifact; allowed: {', '.join(repo_names)}"
                )
        return self

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
