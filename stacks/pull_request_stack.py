"""PullRequestStack (tooling account): pull-request results back on the pull request.

Each pipeline stack builds its repository's pull requests (project <p>-<service>-pr).
This stack holds what all repositories share: the validator function that comments on
the pull request and approves or revokes the built revision, the rule that calls it when
a pull-request build ends, and the approval rule templates that require the validator's
approval on pull requests to each service's branch, associated with the repositories.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_constructs.dead_letter_queue import DeadLetterQueue
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge, allow
from cdk_constructs.notification_patterns import BUILD_FAILURES, BUILD_STATE
from cdk_constructs.secure_defaults import RETAINED
from config.model import PlatformConfig, Service, branch_slug
from config.names import Names

LAMBDA_DIR = Path(__file__).resolve().parent.parent / "lambda"
# Construct id of aws-cdk-lib's AwsCustomResource singleton provider function.
_SINGLETON_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"


class PullRequestStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        self.names = names
        services = [s for s in config.services if s.pull_request_validation]
        region, account = config.tooling.region, config.tooling.account
        repositories_arn = f"arn:aws:codecommit:{region}:{account}:{names.prefix}-*"

        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            purpose="the pull-request validator",
            alarm_name=f"{config.name}-pull-request-validator-dead-letters",
        ).queue

        self.role = iam.Role(
            self,
            "ValidatorRole",
            role_name=names.pull_request_validator_role,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Comments on pull requests and approves them; the approval rule templates name this role",
        )
        self.validator = PlatformFunction(
            self,
            "Validator",
            description=f"Posts {config.name} pull-request build results on the pull request and approves or revokes",
            code_dir=LAMBDA_DIR / "pr_validator",
            handler="pr_validator.handler",
            timeout=Duration.seconds(60),
            role=self.role,
            log_retention=retention(config.log_retention_days),
            environment={"PROJECT_SUFFIX": "-pr"},
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=2,
        )
        allow(
            self.role,
            "ValidatePlatformPullRequests",
            [
                "codecommit:GetCommentsForPullRequest",
                "codecommit:GetPullRequest",
                "codecommit:GetPullRequestApprovalStates",
                "codecommit:PostCommentForPullRequest",
                "codecommit:UpdatePullRequestApprovalState",
            ],
            [repositories_arn],
            "The platform's repositories, all named <platform>-<service>; the validator acts on their pull requests.",
        )
        allow(
            self.role,
            "UseRepositoryKeys",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [f"arn:aws:kms:{region}:{account}:key/*"],
            "Repositories are encrypted with their pipeline's key (generated ids); use is limited to CodeCommit "
            "by kms:ViaService.",
            conditions={"StringEquals": {"kms:ViaService": f"codecommit.{region}.amazonaws.com"}},
        )

        self.rule = events.Rule(
            self,
            "OnPullRequestBuild",
            rule_name=f"{config.name}-pull-request-builds",
            description=f"Finished {config.name} pull-request builds -> comment and approval on the pull request",
            event_pattern=events.EventPattern(
                source=["aws.codebuild"],
                detail_type=[BUILD_STATE],
                detail={
                    "project-name": [{"wildcard": f"{names.prefix}-*-pr"}],
                    "build-status": ["SUCCEEDED", *BUILD_FAILURES],
                },
            ),
            targets=[
                event_targets.LambdaFunction(
                    self.validator.function,
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
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
        self.associations_role = iam.Role(
            self,
            "ApprovalAssociationsRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Associates the approval rule templates with exactly the repositories that use them",
        )
        allow(
            self.associations_role,
            "AssociateWithPlatformRepositories",
            [
                "codecommit:BatchAssociateApprovalRuleTemplateWithRepositories",
                "codecommit:BatchDisassociateApprovalRuleTemplateFromRepositories",
            ],
            [repositories_arn],
            "The platform's repositories, all named <platform>-<service>, matched by that pattern.",
        )
        self.associations = PlatformFunction(
            self,
            "ApprovalAssociations",
            description=f"Associates {config.name} approval rule templates with exactly the listed repositories",
            code_dir=LAMBDA_DIR / "approval_associations",
            handler="approval_associations.handler",
            timeout=Duration.minutes(5),
            role=self.associations_role,
            log_retention=retention(config.log_retention_days),
        )

        self.templates: dict[str, str] = {}
        for branch in sorted({s.branch for s in services}):
            on_branch = [s for s in services if s.branch == branch]
            self.templates[branch] = self._approval_rule(config, branch, on_branch)
        acknowledge(
            self.associations.function,
            "Serverless-LambdaDLQ",
            "A CloudFormation custom-resource handler: it answers every request on CloudFormation's response "
            "URL, and CloudFormation fails the deployment on a failure; a dead-letter queue would hold "
            "requests nobody can answer any more.",
        )
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

    def _approval_rule(self, config: PlatformConfig, branch: str, services: list[Service]) -> str:
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
            service_token=self.associations.function.function_arn,
            resource_type="Custom::ApprovalRuleTemplateAssociation",
            properties={"TemplateName": name, "Repositories": sorted(self.names.repository(s) for s in services)},
            # The handler answers every request within its 5-minute timeout; should it never answer
            # (its two asynchronous retries exhausted), fail the deployment after 20 minutes, not 1 hour.
            service_timeout=Duration.minutes(20),
        )
        association.node.add_dependency(template)
        # The function must be able to associate before CloudFormation first calls it.
        association.node.add_dependency(self.associations_role)
        return name

    def _provider_settings(self) -> dict[str, Any]:
        return {"role": self.provider_role, "log_group": self.provider_logs, "memory_size": 256}
