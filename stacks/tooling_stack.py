"""ToolingStack (tooling account): what every pipeline stack shares, deployed before them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.nag import allow
from config.model import PlatformConfig
from config.names import Names


class ToolingStack(Stack):
    """The role EventBridge assumes to start pipelines (on push) and pull-request builds.

    One role for every service instead of one per rule keeps the tooling account far from
    IAM's default quota of 1,000 roles as services are added; its statements name the
    platform's pipelines and pull-request projects by pattern, so their size stays constant.
    """

    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        region, account, prefix = config.tooling.region, config.tooling.account, names.prefix
        self.trigger_role = iam.Role(
            self,
            "EventTriggers",
            role_name=names.event_trigger_role,
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"EventBridge starts {config.name}'s pipelines and pull-request builds as this role",
        )
        allow(
            self.trigger_role,
            "StartPlatformPipelines",
            ["codepipeline:StartPipelineExecution"],
            [f"arn:aws:codepipeline:{region}:{account}:{prefix}-*"],
            "The platform's pipelines, all named <platform>-<service>; a push to a repository starts its pipeline.",
        )
        allow(
            self.trigger_role,
            "StartPullRequestBuilds",
            ["codebuild:StartBuild"],
            [f"arn:aws:codebuild:{region}:{account}:project/{prefix}-*-pr"],
            "The platform's pull-request projects, all named <platform>-<service>-pr; a pull request starts one.",
        )
