"""PipelineStack: one per service, in the tooling account."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from cdk_constructs.build_project import CodeArtifactAccess
from cdk_constructs.log_retention import retention
from cdk_constructs.service_pipeline import DeployTarget, ServicePipeline
from config.model import PlatformConfig, Service
from config.names import Names


class PipelineStack(Stack):
    """The repository, builds and pipeline of one service; nothing here depends on another stack's tokens."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: PlatformConfig,
        service: Service,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        self.service_pipeline = ServicePipeline(
            self,
            "Pipeline",
            names=names,
            service=service,
            targets=[DeployTarget(environment=e, region=config.region_of(e)) for e in config.environments_of(service)],
            codeartifact=CodeArtifactAccess(
                domain=config.codeartifact.domain,
                domain_owner=config.tooling.account,
                repository=config.repository_of(service),
                region=config.tooling.region,
            ),
            log_retention=retention(config.log_retention_days),
            guardrails={e.name: config.guardrails_of(service, e) for e in config.environments_of(service)},
            freezes={e.name: config.freezes_of(e.name) for e in config.environments_of(service)},
        )
