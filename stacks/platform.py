"""Compose the whole platform from a validated config: every stack, its account, its order."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Environment as CdkEnvironment
from aws_cdk import Stack, Tags
from constructs import Construct

from cdk_constructs.platform_pipeline import RolloutStack
from cdk_constructs.platform_waves import WAVE_METADATA, StackNode
from config.model import PlatformConfig
from config.names import Names
from stacks.codeartifact_stack import CodeArtifactStack
from stacks.cross_account_stack import CrossAccountRolesStack
from stacks.foundation_stack import FoundationStack
from stacks.notifications_stack import NotificationsStack
from stacks.pipeline_stack import PipelineStack
from stacks.platform_pipeline_stack import PlatformPipelineStack
from stacks.pull_request_stack import PullRequestStack
from stacks.service_stack import ServiceStack
from stacks.tooling_stack import ToolingStack


@dataclass
class PlatformStacks:
    """Every stack of the platform, by kind, for app.py, the tests and the tools."""

    cross_account: dict[str, CrossAccountRolesStack] = field(default_factory=dict)
    foundations: dict[str, FoundationStack] = field(default_factory=dict)
    services: dict[tuple[str, str], ServiceStack] = field(default_factory=dict)
    pipelines: dict[str, PipelineStack] = field(default_factory=dict)
    notifications: NotificationsStack | None = None
    codeartifact: CodeArtifactStack | None = None
    tooling: ToolingStack | None = None
    pull_requests: PullRequestStack | None = None
    platform_pipeline: PlatformPipelineStack | None = None

    def all(self) -> list[Stack]:
        tooling: list[Stack] = [
            s for s in (self.tooling, self.codeartifact, self.notifications, self.pull_requests) if s is not None
        ]
        return [
            *self.cross_account.values(),
            *self.foundations.values(),
            *self.services.values(),
            *self.pipelines.values(),
            *tooling,
            *([self.platform_pipeline] if self.platform_pipeline is not None else []),
        ]

    def _placed(self) -> list[tuple[str, str | None, Stack]]:
        """Every stack but the platform pipeline's, with its wave and its environment (None: shared)."""
        return [
            *(("cross-account", env, s) for env, s in self.cross_account.items()),
            *(("tooling", None, s) for s in (self.tooling, self.codeartifact, self.notifications) if s is not None),
            *((f"env-{env}", env, s) for env, s in self.foundations.items()),
            *((f"env-{env}", env, s) for (_, env), s in self.services.items()),
            *(("pipelines", None, s) for s in self.pipelines.values()),
            *(("pull-requests", None, s) for s in (self.pull_requests,) if s is not None),
        ]

    def rollout_nodes(self) -> list[StackNode]:
        """Every stack with its wave (cdk_constructs/platform_waves.py) and the stacks it depends on."""
        return [
            StackNode(stack.stack_name, wave, frozenset(d.stack_name for d in stack.dependencies))
            for wave, _, stack in self._placed()
        ]

    def mark_waves(self) -> None:
        """Record each stack's wave in the cloud assembly (WAVE_METADATA), for the pipeline's tools."""
        for wave, _, stack in self._placed():
            stack.node.add_metadata(WAVE_METADATA, wave)

    def rollout_stacks(self) -> list[RolloutStack]:
        """What the platform pipeline deploys: every stack but its own, placed and located."""
        nodes = {n.name: n for n in self.rollout_nodes()}
        return [
            RolloutStack(nodes[s.stack_name], s.account, s.region, env, s.template_file) for _, env, s in self._placed()
        ]


def build_platform(scope: Construct, config: PlatformConfig) -> PlatformStacks:
    names = Names(config)
    tooling = CdkEnvironment(account=config.tooling.account, region=config.tooling.region)
    stacks = PlatformStacks()

    for env in config.environments:
        target = CdkEnvironment(account=env.account, region=config.region_of(env))
        stacks.cross_account[env.name] = CrossAccountRolesStack(
            scope,
            names.cross_account_stack(env),
            config=config,
            environment=env,
            env=target,
            description=f"{config.name}: roles the tooling account uses in {env.name} (deploy this first)",
        )
        if not config.services_in(env):
            continue  # a stack without resources cannot be deployed
        stacks.foundations[env.name] = FoundationStack(
            scope,
            names.foundation_stack(env),
            config=config,
            environment=env,
            env=target,
            description=f"{config.name}: what the services of {env.name} share (network, load balancers, ECS "
            "cluster, CodeDeploy roles and configurations)",
        )
        # Deployed after the cross-account stack, like everything the tooling account deploys there.
        stacks.foundations[env.name].add_stack_dependency(stacks.cross_account[env.name])

    stacks.tooling = ToolingStack(
        scope,
        names.tooling_stack,
        config=config,
        env=tooling,
        description=f"{config.name}: what every pipeline shares (pipeline and pull-request roles, push trigger "
        "buses, Lambda deploy worker)",
    )
    stacks.codeartifact = CodeArtifactStack(
        scope,
        names.codeartifact_stack,
        config=config,
        env=tooling,
        description=f"{config.name}: CodeArtifact domain {config.codeartifact.domain} and its repositories",
    )

    for service in config.services:
        for env in config.environments_of(service):
            service_stack = ServiceStack(
                scope,
                names.service_stack(service, env),
                config=config,
                service=service,
                environment=env,
                foundation=stacks.foundations[env.name],
                env=CdkEnvironment(account=env.account, region=config.region_of(env)),
                description=f"{config.name}: {service.name} ({service.platform}) in {env.name}, "
                "with its CodeDeploy deployment group",
            )
            # It uses the instance profile and task execution role of its environment.
            service_stack.add_stack_dependency(stacks.cross_account[env.name])
            stacks.services[(service.name, env.name)] = service_stack

        stacks.pipelines[service.name] = PipelineStack(
            scope,
            names.pipeline_stack(service),
            config=config,
            service=service,
            env=tooling,
            description=f"{config.name}: repository, builds and pipeline of {service.name} ({service.platform})",
        )
        # Builds install through CodeArtifact from the first run; EventBridge starts it as the shared role.
        stacks.pipelines[service.name].add_stack_dependency(stacks.codeartifact)
        stacks.pipelines[service.name].add_stack_dependency(stacks.tooling)
        # Its bucket and key policies name target roles, which must exist first; its first run
        # deploys to the service stacks' deployment groups.
        for env in config.environments_of(service):
            stacks.pipelines[service.name].add_stack_dependency(stacks.cross_account[env.name])
            stacks.pipelines[service.name].add_stack_dependency(stacks.services[(service.name, env.name)])

    stacks.notifications = NotificationsStack(
        scope,
        names.notifications_stack,
        config=config,
        env=tooling,
        description=f"{config.name}: accepts target-account deployment events and posts events to Microsoft Teams",
    )

    if any(s.pull_request_validation for s in config.services) or config.platform_pipeline.enabled:
        stacks.pull_requests = PullRequestStack(
            scope,
            names.pull_request_stack,
            config=config,
            env=tooling,
            description=f"{config.name}: pull-request results on the pull request, approval rule templates",
        )
        # The approval rule templates are associated with repositories the pipeline stacks create.
        for service in config.services:
            if service.pull_request_validation:
                stacks.pull_requests.add_stack_dependency(stacks.pipelines[service.name])

    if config.platform_pipeline.enabled:
        stacks.mark_waves()
        # Last: it deploys every other stack of the platform (and itself first).
        stacks.platform_pipeline = PlatformPipelineStack(
            scope,
            names.platform_pipeline_stack,
            config=config,
            stacks=stacks.rollout_stacks(),
            env=tooling,
            description=f"{config.name}: the platform repository and the pipeline that rolls the platform out "
            "from it (deploy this first, by hand, once)",
        )

    # Once on the scope (every stack inherits them), not once per stack.
    tags = Tags.of(scope)
    tags.add("platform", config.name)
    for key, value in sorted(config.tags.items()):
        tags.add(key, value)
    return stacks
