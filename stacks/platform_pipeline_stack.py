"""PlatformPipelineStack: the platform's provisioning pipeline, in the tooling account (docs/adr/0009)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from cdk_constructs.build_project import CodeArtifactAccess
from cdk_constructs.log_retention import retention
from cdk_constructs.platform_pipeline import PlatformPipeline, RolloutStack
from cdk_constructs.platform_waves import StackNode
from config.model import PlatformConfig
from config.names import Names


class PlatformPipelineStack(Stack):
    """The platform repository and the pipeline that deploys every other stack of the platform from it.

    `stacks` are the other stacks (built before this one); this stack deploys itself first, in its
    SelfUpdate stage.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: PlatformConfig,
        stacks: Sequence[RolloutStack],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        settings = config.platform_pipeline
        self.platform_pipeline = PlatformPipeline(
            self,
            "PlatformPipeline",
            names=names,
            branch=settings.branch,
            config_file=settings.config_file,
            stacks=stacks,
            self_stack=RolloutStack(
                node=StackNode(self.stack_name, "self"),
                account=config.tooling.account,
                region=config.tooling.region,
                environment=None,
                template_file=self.template_file,
            ),
            environments=[e.name for e in config.environments],
            approval_environments=[e.name for e in config.environments if e.approval],
            codeartifact=CodeArtifactAccess(
                domain=config.codeartifact.domain,
                domain_owner=config.tooling.account,
                repository=config.codeartifact.default_repository,
                region=config.tooling.region,
            ),
            log_retention=retention(config.log_retention_days),
            concurrency=settings.concurrency,
            max_removals=settings.max_removals,
            build_timeout=Duration.minutes(settings.build_timeout_minutes),
        )
