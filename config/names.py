"""Deterministic physical names, built from the config.

Stacks in different accounts cannot share CloudFormation exports, so every name that
one account's stack uses to reach another account's resource is computed here, from
the config alone, and never from a token. The lengths fit AWS limits because the
config model bounds the platform (12), environment (10) and service (24) names.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from config.model import ROLLBACK_ALARM_SUFFIXES, Channel, Environment, Freeze, PlatformConfig, Service

# Pull-request build projects end in this; the validator's rule and the notifier match on it.
PULL_REQUEST_PROJECT_SUFFIX = "-pr"

# Custom event buses that hold the pipelines' push rules (docs/adr/0006): one default-bus rule can
# forward to at most 5 targets, and each bus holds at most 300 rules by default.
PIPELINE_TRIGGER_BUSES = 5

# The bootstrap qualifier: `cdk bootstrap`'s default, and what the stacks' synthesizer expects.
CDK_QUALIFIER = "hnb659fds"

# Each service pipeline's manual approval action (in its Approve-<env> stage).
APPROVAL_ACTION = "Approve"


# How a `during: wait` freeze's disabled transition reason begins (tools.ops status tells it from an ad-hoc one).
PLANNED_FREEZE_MARK = "planned freeze"
# What botocore's DisableStageTransition `reason` pattern does not allow ([a-zA-Z0-9!@ ().*?-]).
TRANSITION_REASON_DISALLOWED = re.compile(r"[^a-zA-Z0-9!@ ().*?-]+")


def transition_reason_text(value: str) -> str:
    """``value`` in the characters a disabled transition's reason allows: each run of others becomes one space."""
    return re.sub(r" +", " ", TRANSITION_REASON_DISALLOWED.sub(" ", value)).strip()


@dataclass(frozen=True)
class FreezeSchedule:
    """One schedule of a waiting freeze: at `cron` (in the freeze's zone) it disables ("start") or enables ("end")
    the inbound transition of `stage`."""

    name: str
    stage: str
    freeze: Freeze
    cron: str
    edge: str
    index: int


def deploy_stage(env: Environment) -> str:
    """The service pipeline stage that deploys to ``env``."""
    return f"Deploy-{env.name}"


def approval_stage(env: Environment) -> str:
    """The service pipeline stage that waits for a manual approval before ``env`` (``approval: true``)."""
    return f"Approve-{env.name}"


@dataclass(frozen=True)
class Names:
    config: PlatformConfig

    @property
    def prefix(self) -> str:
        return self.config.name

    @property
    def tooling_account(self) -> str:
        return self.config.tooling.account

    @property
    def region(self) -> str:
        return self.config.tooling.region

    @property
    def repository_arn_prefix(self) -> str:
        """What every platform repository's ARN starts with (they are all named <platform>-<service>)."""
        return f"arn:aws:codecommit:{self.region}:{self.tooling_account}:{self.prefix}-"

    # ----- stacks -----

    def pipeline_stack(self, service: Service) -> str:
        return f"{self.prefix}-pipeline-{service.name}"

    def cross_account_stack(self, env: Environment) -> str:
        return f"{self.prefix}-cross-account-{env.name}"

    def service_stack(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-service-{service.name}-{env.name}"

    @property
    def pull_request_stack(self) -> str:
        return f"{self.prefix}-pull-requests"

    @property
    def pull_request_validator_role(self) -> str:
        """The role the approval rule templates name as approver."""
        return f"{self.prefix}-pr-validator"

    @property
    def tooling_stack(self) -> str:
        return f"{self.prefix}-tooling"

    @property
    def event_trigger_role(self) -> str:
        """The role EventBridge uses to forward pushes to the trigger buses and start the platform's pipelines."""
        return f"{self.prefix}-event-triggers"

    # ----- tooling account: shared by every pipeline (ToolingStack, docs/adr/0006) -----

    @property
    def pipelines_role(self) -> str:
        """The CodePipeline service role of every pipeline: the principal that assumes target deployer roles."""
        return f"{self.prefix}-pipelines"

    @property
    def pull_request_build_role(self) -> str:
        """The CodeBuild role of every pull-request project (ends in -pr: CodeArtifact admits <p>-*-pr)."""
        return f"{self.prefix}-shared-pr"

    @property
    def lambda_deployer_function(self) -> str:
        """The CodePipeline job worker that deploys every Lambda service (ADR 0001)."""
        return f"{self.prefix}-lambda-deployer"

    @property
    def lambda_deployer_role(self) -> str:
        """Role of the Lambda deploy worker, which also assumes deployer roles."""
        return f"{self.prefix}-lambda-deployer"

    def tooling_role_arn(self, role_name: str) -> str:
        return f"arn:aws:iam::{self.tooling_account}:role/{role_name}"

    def pipeline_trigger_bus_name(self, shard: int) -> str:
        return f"{self.prefix}-pipeline-triggers-{shard}"

    def pipeline_trigger_shard(self, service: Service) -> int:
        """The trigger bus of a service's push rule: a stable hash of its name, so adding or removing
        services never moves another service's rule."""
        digest = hashlib.sha256(service.name.encode()).digest()
        return int.from_bytes(digest[:4], "big") % PIPELINE_TRIGGER_BUSES

    def pipeline_trigger_bus(self, service: Service) -> str:
        return self.pipeline_trigger_bus_name(self.pipeline_trigger_shard(service))

    @property
    def codeartifact_stack(self) -> str:
        return f"{self.prefix}-codeartifact"

    @property
    def notifications_stack(self) -> str:
        return f"{self.prefix}-notifications"

    @property
    def teams_destinations_function(self) -> str:
        """The function that keeps api_destination channels on the URLs in their secrets."""
        return f"{self.prefix}-notifications-teams-destinations"

    @property
    def approval_associations_function(self) -> str:
        """The custom-resource handler that keeps approval rule templates on exactly their repositories."""
        return f"{self.prefix}-pull-requests-approval-associations"

    @property
    def teams_api_destination_prefix(self) -> str:
        return f"{self.prefix}-teams-"

    def teams_api_destination(self, channel: Channel) -> str:
        """Name of a channel's EventBridge connection and API destination (at most 12 + 6 + 32 characters)."""
        return f"{self.teams_api_destination_prefix}{channel.name}"

    @property
    def pipeline_watcher_function(self) -> str:
        """The scheduled function that reports executions running too long (pipeline_stuck)."""
        return f"{self.prefix}-pipeline-watcher"

    @property
    def delivery_dashboard(self) -> str:
        """The platform's one CloudWatch dashboard (cdk_constructs/delivery_dashboard.py)."""
        return f"{self.prefix}-delivery"

    @property
    def notification_rule_prefix(self) -> str:
        """Every notification rule is named <platform>-notify-<kind>."""
        return f"{self.prefix}-notify-"

    def notification_queue(self, channel: Channel) -> str:
        """A lambda channel's FIFO queue (at most 12 + 8 + 32 + 5 characters of SQS's 80)."""
        return f"{self.prefix}-notify-{channel.name}.fifo"

    def notification_dead_letter_queue(self, channel: Channel) -> str:
        return f"{self.prefix}-notify-{channel.name}-dlq.fifo"

    def amazon_q_configuration(self, channel: Channel) -> str:
        return f"{self.prefix}-{channel.name}"

    def webhook_secret(self, channel: Channel) -> str:
        """The secret holding a channel's webhook URL: the one the config names, or the one the stack creates."""
        return channel.secret(self.prefix)

    # ----- tooling account: per service -----

    def repository(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}"

    def pipeline(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}"

    def build_project(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}-build"

    def test_project(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}-test"

    def pull_request_project(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}{PULL_REQUEST_PROJECT_SUFFIX}"

    def build_role(self, service: Service, kind: str) -> str:
        """Role of CodeBuild projects; kind is build (pipeline build and test) or pr. CodeArtifact matches these."""
        return f"{self.prefix}-{service.name}-{kind}"

    # Retired by docs/adr/0006 (pipelines share `pipelines_role` and `lambda_deployer_role`); no stack
    # creates these any more. Kept only because tests/unit/test_config.py still checks their lengths.
    def pipeline_role(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}-pipeline"

    def lambda_deploy_role(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}-pipeline-lambda"

    def artifact_bucket(self, service: Service) -> str:
        return f"{self.prefix}-{service.name}-artifacts-{self.tooling_account}"

    def artifact_key_alias(self, service: Service) -> str:
        return f"alias/{self.prefix}/{service.name}/artifacts"

    def ecr_repository(self, service: Service) -> str:
        return f"{self.prefix}/{service.name}"

    def deployer_principals(self, env: Environment) -> list[str]:
        """The only tooling-account roles a target deployer role trusts: the shared pipeline role, and the
        Lambda deploy worker's where `env` runs Lambda services. Build roles are never among them."""
        principals = [self.tooling_role_arn(self.pipelines_role)]
        if any(s.platform == "lambda" for s in self.config.services_in(env)):
            principals.append(self.tooling_role_arn(self.lambda_deployer_role))
        return principals

    # Patterns that match the per-service names above for every service, so that
    # target-account policies stay the same size however many services there are.

    @property
    def build_role_patterns(self) -> list[str]:
        base = f"arn:aws:iam::{self.tooling_account}:role/{self.prefix}-"
        # The platform pipeline's projects (build, deploy, rollout, pr) install through CodeArtifact too.
        patterns = [base + "*-build", base + "*-pr"]
        if self.config.platform_pipeline.enabled:
            patterns.append(base + "platform-*")
        return patterns

    @property
    def artifact_bucket_pattern(self) -> str:
        return f"{self.prefix}-*-artifacts-{self.tooling_account}"

    @property
    def ecr_repository_arn_pattern(self) -> str:
        return f"arn:aws:ecr:{self.region}:{self.tooling_account}:repository/{self.prefix}/*"

    @property
    def freeze_transitions_role(self) -> str:
        """The role EventBridge Scheduler disables and enables Deploy-<env> transitions as (`during: wait` freezes)."""
        return f"{self.prefix}-freeze-transitions"

    def freeze_schedules(self, service: Service, env: Environment) -> list[FreezeSchedule]:
        """Every EventBridge Scheduler schedule of the `during: wait` freezes of Deploy-<env> in this service's
        pipeline: per freeze, edge and stage (Approve-<env> when the environment has approval, Deploy-<env>)."""
        stages = [approval_stage(env)] if env.approval else []
        stages.append(deploy_stage(env))
        return [
            FreezeSchedule(
                self.freeze_schedule(service, stage, freeze.name, edge, index), stage, freeze, cron, edge, index
            )
            for freeze in self.config.freezes_of(env.name)
            if freeze.during == "wait"
            for index, (cron, edge) in enumerate(freeze.edges)
            for stage in stages
        ]

    def freeze_schedule(self, service: Service, stage: str, freeze: str, edge: str, index: int) -> str:
        """A `during: wait` freeze's schedule of one stage: <p>-freeze-<digest>, at most 64 characters (Scheduler's
        limit), stable per service, stage, freeze and edge."""
        digest = hashlib.sha256(f"{service.name}/{stage}/{freeze}/{edge}/{index}".encode()).hexdigest()[:24]
        return f"{self.prefix}-freeze-{digest}"

    # ----- the platform pipeline (PlatformPipelineStack, docs/adr/0009) -----

    @property
    def platform_pipeline_stack(self) -> str:
        return f"{self.prefix}-platform-pipeline"

    @property
    def platform_repository(self) -> str:
        """The platform's own CodeCommit repository (the service name `platform` is reserved for it)."""
        return f"{self.prefix}-platform"

    @property
    def platform_pipeline(self) -> str:
        return f"{self.prefix}-platform"

    def platform_project(self, kind: str) -> str:
        """The platform pipeline's CodeBuild projects and their roles: build, assets, review, prune, pr."""
        return f"{self.prefix}-platform-{kind}"

    @property
    def platform_artifact_bucket(self) -> str:
        return f"{self.prefix}-platform-artifacts-{self.tooling_account}"

    @property
    def platform_artifact_key_alias(self) -> str:
        return f"alias/{self.prefix}/platform/artifacts"

    @staticmethod
    def bootstrap_role_arn(account: str, region: str, kind: str) -> str:
        """A role `cdk bootstrap` creates: deploy, cfn-exec, file-publishing, image-publishing or lookup."""
        return f"arn:aws:iam::{account}:role/cdk-{CDK_QUALIFIER}-{kind}-role-{account}-{region}"

    # ----- target accounts: per environment (CrossAccountRolesStack) -----

    def deployer_role(self, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-deployer"

    def cfn_execution_role(self, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-cfn-exec"

    def listener_traffic_function(self, env: Environment) -> str:
        """The function ECS service stacks ask where their blue/green listeners send traffic now."""
        return f"{self.prefix}-{env.name}-listener-traffic"

    def instance_role(self, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-ec2-instance"

    def task_execution_role(self, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-ecs-task-execution"

    def role_arn(self, env: Environment, role_name: str) -> str:
        return f"arn:aws:iam::{env.account}:role/{role_name}"

    def deployer_role_arn(self, env: Environment) -> str:
        return self.role_arn(env, self.deployer_role(env))

    def instance_role_arn(self, env: Environment) -> str:
        return self.role_arn(env, self.instance_role(env))

    def task_execution_role_arn(self, env: Environment) -> str:
        return self.role_arn(env, self.task_execution_role(env))

    # ----- target accounts: per environment (foundation stacks) -----

    def foundation_stack(self, env: Environment) -> str:
        return f"{self.prefix}-foundation-{env.name}"

    def codedeploy_role(self, env: Environment, platform: str) -> str:
        """CodeDeploy's service role for one compute platform, shared by the environment's deployment groups."""
        return f"{self.prefix}-{env.name}-codedeploy-{platform}"

    def deployment_config(self, env: Environment, platform: str, label: str) -> str:
        """A custom deployment configuration, shared by the environment's services that use it."""
        return f"{self.prefix}-{env.name}-{platform}-{label}"

    # ----- target accounts: per service and environment (service stacks) -----

    def resource_prefix(self, env: Environment) -> str:
        """Every name a service stack creates in `env` starts with this."""
        return f"{self.prefix}-{env.name}-"

    def deployment_application(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-{service.name}"

    def deployment_group(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-{service.name}"

    def function(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-{service.name}"

    def hook_function(self, service: Service, env: Environment, stage: str) -> str:
        return f"{self.prefix}-{env.name}-{service.name}-{stage}"

    def ecs_cluster(self, env: Environment) -> str:
        """The foundation's cluster: every ECS service of the environment runs in it."""
        return f"{self.prefix}-{env.name}"

    def ecs_service(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-{service.name}"

    def task_family(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-{service.name}"

    def task_role(self, service: Service, env: Environment) -> str:
        return f"{self.prefix}-{env.name}-{service.name}-task"

    def container_name(self, service: Service) -> str:
        return service.name

    def log_group(self, service: Service, env: Environment) -> str:
        return f"/{self.prefix}/{env.name}/{service.name}"

    def alarm(self, service: Service, env: Environment, what: str) -> str:
        return f"{self.prefix}-{env.name}-{service.name}-{what}"

    def rollback_alarms(self, service: Service, env: Environment) -> dict[str, str]:
        """The alarms CodeDeploy rolls ``service``'s deployments in ``env`` back on, by suffix: what the
        deployment group watches, the promotion gate of the next environment and the bake time check."""
        return {what: self.alarm(service, env, what) for what in ROLLBACK_ALARM_SUFFIXES[service.platform]}
