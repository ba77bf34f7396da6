"""PullRequestStack (tooling account): pull-request results back on the pull request.

Each pipeline stack builds its repository's pull requests (project <p>-<service>-pr).
This stack holds what all repositories share: the validator function that comments on
the pull request and approves or revokes the built revision, the rule that calls it when
a pull-request build ends, and the approval rule templates that require the validator's
approval on pull requests to each service's branch, associated with the repositories.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_constructs.custom_resource_provider import PlatformProvider
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge, allow
from cdk_constructs.pull_request_validator import PullRequestValidator
from cdk_constructs.secure_defaults import RETAINED
from config.model import PlatformConfig, branch_slug
from config.names import PULL_REQUEST_PROJECT_SUFFIX, Names

# Construct id of aws-cdk-lib's AwsCustomResource singleton provider function.
_SINGLETON_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class PullRequestStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        self.names = names
        services = [s for s in config.services if s.pull_request_validation]

        self.validator = PullRequestValidator(
            self,
            "Validator",
            platform_name=config.name,
            name_prefix=names.prefix,
            role_name=names.pull_request_validator_role,
            log_retention=retention(config.log_retention_days),
            project_suffix=PULL_REQUEST_PROJECT_SUFFIX,
        )

        # The AWS SDK calls below run in aws-cdk-lib's singleton provider function: give it our own
        # role (no managed policy) and a log group with the platform's retention.
        self.provider_role = iam.Role(
            self,
            "ApprovalRuleProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Manages CodeCommit approval rule templates and their associations",
        )
        self.provider_logs = logs.LogGroup(
            self,
            "ApprovalRuleProviderLogs",
            retention=retention(config.log_retention_days),
            removal_policy=RETAINED,
        )
        self.provider_logs.grant_write(self.provider_role)
        # Granted once here, not per custom resource: each AwsCustomResource policy would add an inline
        # policy to this one role, and 200 services' association batches would exceed IAM's 10,240
        # characters per role.
        allow(
            self.provider_role,
            "ManageApprovalRuleTemplates",
            [
                "codecommit:CreateApprovalRuleTemplate",
                "codecommit:DeleteApprovalRuleTemplate",
                "codecommit:UpdateApprovalRuleTemplateContent",
            ],
            ["*"],
            "CodeCommit approval rule template actions support no resource-level permissions.",
        )

        # Associations are our own custom resource: it disassociates the repositories a template no
        # longer lists, which aws-cdk-lib's AwsCustomResource cannot (it never sees the old list).
        self.associations = PlatformProvider(
            self,
            "ApprovalAssociations",
            function_name=names.approval_associations_function,
            description=f"Associates {config.name} approval rule templates with exactly the listed repositories",
            code_folder="approval_associations",
            handler="approval_associations.handler",
            timeout=Duration.minutes(5),
            log_retention=retention(config.log_retention_days),
        )
        self.associations_role = self.associations.role
        allow(
            self.associations_role,
            "AssociateWithPlatformRepositories",
            [
                "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories",
                "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories",
            ],
            [self.validator.repositories_arn],
            "The platform's repositories, all named <platform>-<service>, matched by that pattern.",
        )

        # Validated repositories by destination branch: the services', and the platform's own.
        by_branch: dict[str, list[str]] = {}
        for service in services:
            by_branch.setdefault(service.branch, []).append(names.repository(service))
        if config.platform_pipeline.enabled:
            by_branch.setdefault(config.platform_pipeline.branch, []).append(names.platform_repository)
        self.templates: dict[str, str] = {}
        for branch in sorted(by_branch):
            self.templates[branch] = self._approval_rule(config, branch, by_branch[branch])
        provider = self.node.try_find_child(_SINGLETON_PROVIDER_ID)
        if provider is not None:
            acknowledge(
                provider,
                "Serverless-LambdaTracing",
                "aws-cdk-lib's custom-resource provider runs a few SDK calls at deploy time; it offers no "
                "tracing setting and a trace would show only those calls.",
            )
            acknowledge(
                provider,
                "Serverless-LambdaDLQ",
                "CloudFormation invokes the provider synchronously and fails the deployment on error; there is "
                "no asynchronous event to keep.",
            )

    @property
    def approval_pool_member(self) -> str:
        return f"arn:aws:sts::{self.names.tooling_account}:assumed-role/{self.names.pull_request_validator_role}/*"

    def rule_content(self, branch: str) -> str:
        return json.dumps(
            {
                "Version": "2018-11-08",
                "DestinationReferences": [f"refs/heads/{branch}"],
                "Statements": [
                    {
                        "Type": "Approvers",
                        "NumberOfApprovalsNeeded": 1,
                        "ApprovalPoolMembers": [self.approval_pool_member],
                    }
                ],
            },
            sort_keys=True,
        )

    def _approval_rule(self, config: PlatformConfig, branch: str, repositories: list[str]) -> str:
        """One template per destination branch, associated with the repositories that use it."""
        slug = branch_slug(branch)
        name = f"{config.name}-pr-validation-{slug}"[:100]
        content = self.rule_content(branch)
        template = cr.AwsCustomResource(
            self,
            f"ApprovalRule-{slug}",
            resource_type="Custom::ApprovalRuleTemplate",
            on_create=cr.AwsSdkCall(
                service="CodeCommit",
                action="createApprovalRuleTemplate",
                parameters={
                    "approvalRuleTemplateName": name,
                    "approvalRuleTemplateDescription": f"A passing {config.name} pull-request build is required",
                    "approvalRuleTemplateContent": content,
                },
                physical_resource_id=cr.PhysicalResourceId.of(name),
            ),
            on_update=cr.AwsSdkCall(
                service="CodeCommit",
                action="updateApprovalRuleTemplateContent",
                parameters={"approvalRuleTemplateName": name, "newRuleContent": content},
                physical_resource_id=cr.PhysicalResourceId.of(name),
            ),
            on_delete=cr.AwsSdkCall(
                service="CodeCommit",
                action="deleteApprovalRuleTemplate",
                parameters={"approvalRuleTemplateName": name},
            ),
            install_latest_aws_sdk=False,
            **self._provider_settings(),
        )
        association = CustomResource(
            self,
            f"Associations-{slug}",
            service_token=self.associations.service_token,
            resource_type="Custom::ApprovalRuleTemplateAssociation",
            properties={"TemplateName": name, "Repositories": sorted(repositories)},
            # The provider framework answers within its 15-minute timeout; should nothing answer, fail
            # the deployment after 20 minutes, not CloudFormation's hour.
            service_timeout=Duration.minutes(20),
        )
        association.node.add_dependency(template)
        # The function must be able to associate before CloudFormation first calls it.
        association.node.add_dependency(self.associations_role)
        return name

    def _provider_settings(self) -> dict[str, Any]:
        return {"role": self.provider_role, "log_group": self.provider_logs, "memory_size": 256}
