"""`PullRequestValidator`: pull-request builds started, and their results back on the pull request.

One rule for every platform repository (a resource prefix, not a wildcard filter) sends new and
updated pull requests to the validator, which starts the repository's pull-request project
(<repository><suffix>). When such a build ends, the validator comments on the pull request and
approves or revokes the built revision. Its role has a fixed name: the approval rule templates
name that role as the one approver that counts.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.dead_letter_queue import ASYNC_RETRY_ATTEMPTS, DeadLetterQueue, retried_delivery
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import allow
from cdk_constructs.notification_patterns import BUILD_FAILURES, BUILD_STATE
from config.names import PULL_REQUEST_PROJECT_SUFFIX


class PullRequestValidator(Construct):
    """The validator function (`function`), its named `role`, its rules and its `dead_letters`.

    `rule` calls it when a pull-request build ends; `pull_request_rule` when a pull request of a
    platform repository is opened or its source branch is updated.

    name_prefix: the platform's prefix; repositories are <prefix>-<service>, pull-request
    projects <prefix>-<service><project_suffix>.
    code: the function's code, for tests (default: lambda/pr_validator).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        platform_name: str,
        name_prefix: str,
        role_name: str,
        log_retention: logs.RetentionDays,
        project_suffix: str = PULL_REQUEST_PROJECT_SUFFIX,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if not project_suffix.startswith("-") or len(project_suffix) < 2:
            raise ValueError(
                f"PullRequestValidator: project_suffix {project_suffix!r}; allowed: '-' and at least one character"
            )
        stack = Stack.of(self)
        region, account = stack.region, stack.account
        # The platform's repositories, all named <prefix>-<service>.
        repository_prefix = f"arn:aws:codecommit:{region}:{account}:{name_prefix}-"
        self.repositories_arn = repositories_arn = f"{repository_prefix}*"

        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            purpose="the pull-request validator",
            alarm_name=f"{platform_name}-pull-request-validator-dead-letters",
        ).queue
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Comments on pull requests and approves them; the approval rule templates name this role",
        )
        self.function = PlatformFunction(
            self,
            "Validator",
            description=f"Posts {platform_name} pull-request build results on the pull request and approves or revokes",
            code_folder="pr_validator",
            code=code,
            handler="pr_validator.handler",
            timeout=Duration.seconds(60),
            role=self.role,
            log_retention=log_retention,
            environment={"PROJECT_SUFFIX": project_suffix},
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
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
        allow(
            self.role,
            "StartPullRequestBuilds",
            ["codebuild:StartBuild"],
            [f"arn:aws:codebuild:{region}:{account}:project/{name_prefix}-*{project_suffix}"],
            f"The platform's pull-request projects, all named <platform>-<service>{project_suffix}; a pull request "
            "starts its repository's one.",
        )
        self.rule = events.Rule(
            self,
            "OnPullRequestBuild",
            rule_name=f"{platform_name}-pull-request-builds",
            description=f"Finished {platform_name} pull-request builds -> comment and approval on the pull request",
            event_pattern=events.EventPattern(
                source=["aws.codebuild"],
                detail_type=[BUILD_STATE],
                detail={
                    "project-name": [{"wildcard": f"{name_prefix}-*{project_suffix}"}],
                    "build-status": ["SUCCEEDED", *BUILD_FAILURES],
                },
            ),
            targets=[
                event_targets.LambdaFunction(
                    self.function.function,
                    **retried_delivery(self.dead_letters),
                )
            ],
        )
        self.pull_request_rule = events.Rule(
            self,
            "OnPullRequest",
            rule_name=f"{platform_name}-pull-requests",
            description=f"New or updated pull requests of {name_prefix}-* repositories -> their pull-request build",
            event_pattern=events.EventPattern(
                source=["aws.codecommit"],
                detail_type=["CodeCommit Pull Request State Change"],
                # A prefix match, not a wildcard filter: it does not count against the bus's wildcard rules.
                resources=events.Match.prefix(repository_prefix),
                detail={
                    "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
                    "pullRequestStatus": ["Open"],
                },
            ),
            targets=[
                event_targets.LambdaFunction(
                    self.function.function,
                    # A pull request older than two hours is not worth building.
                    **retried_delivery(self.dead_letters, max_event_age=Duration.hours(2)),
                )
            ],
        )
