"""ToolingStack (tooling account): what every pipeline stack shares, deployed before them.

docs/adr/0006 says what is shared and why isolation does not suffer: per-service build roles
stay; the pipeline role, the pull-request build role, the Lambda deploy worker and the push
trigger path are one each, and their statements name the platform's resources by pattern, so
their size stays constant however many services there are.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from constructs import Construct

from cdk_constructs.build_project import CodeArtifactAccess
from cdk_constructs.dead_letter_queue import DeadLetterQueue
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge, allow
from config.model import PlatformConfig
from config.names import PIPELINE_TRIGGER_BUSES, PULL_REQUEST_PROJECT_SUFFIX, Names

CODECOMMIT_PUSH = "CodeCommit Repository State Change"


class ToolingStack(Stack):
    """Trigger buses and their forwarding rule, the EventBridge role, the shared pipeline and
    pull-request roles, and (with Lambda services) the Lambda deploy worker."""

    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        self.names = names
        region, account, prefix = config.tooling.region, config.tooling.account, names.prefix
        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            purpose=f"{config.name}'s push forwarding rule and Lambda deploy worker",
            alarm_name=f"{prefix}-tooling-dead-letters",
        ).queue

        self.trigger_role = iam.Role(
            self,
            "EventTriggers",
            role_name=names.event_trigger_role,
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"EventBridge forwards pushes to {config.name}'s trigger buses and starts its pipelines as "
            "this role",
        )
        allow(
            self.trigger_role,
            "StartPlatformPipelines",
            ["codepipeline:StartPipelineExecution"],
            [f"arn:aws:codepipeline:{region}:{account}:{prefix}-*"],
            "The platform's pipelines, all named <platform>-<service>; a push to a repository starts its pipeline.",
        )
        self.trigger_buses = [
            events.EventBus(self, f"PipelineTriggers{shard}", event_bus_name=names.pipeline_trigger_bus_name(shard))
            for shard in range(PIPELINE_TRIGGER_BUSES)
        ]
        self.push_forwarding = self._push_forwarding(region, account, prefix)

        self.pipelines_role = self._pipelines_role(config, region, account, prefix)
        self.pull_request_role = (
            self._pull_request_role(config, region, account, prefix)
            if any(s.pull_request_validation for s in config.services)
            else None
        )
        self.lambda_deployer = (
            self._lambda_deployer(config) if any(s.platform == "lambda" for s in config.services) else None
        )
        self.freeze_role = self._freeze_role(region, account, prefix) if config.has_waiting_freezes else None

    def _freeze_role(self, region: str, account: str, prefix: str) -> iam.Role:
        """What EventBridge Scheduler runs `during: wait` freezes as: Deploy-<env> inbound transitions only."""
        role = iam.Role(
            self,
            "FreezeTransitions",
            role_name=self.names.freeze_transitions_role,
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": account}}
            ),
            description=f"EventBridge Scheduler holds {prefix}'s Approve-<env> and Deploy-<env> stages in freezes",
        )
        allow(
            role,
            "HoldDeployStagesDuringFreezes",
            ["codepipeline:DisableStageTransition", "codepipeline:EnableStageTransition"],
            [
                f"arn:aws:codepipeline:{region}:{account}:{prefix}-*/Approve-*",
                f"arn:aws:codepipeline:{region}:{account}:{prefix}-*/Deploy-*",
            ],
            "The Approve-<env> and Deploy-<env> stages of the platform's pipelines (<platform>-<service>), the "
            "freezes' only targets.",
        )
        return role

    def _push_forwarding(self, region: str, account: str, prefix: str) -> events.Rule:
        """One default-bus rule for every repository's branch pushes, forwarded to all trigger buses.

        Each pipeline's own rule (on its service's bus) then matches its repository and branch; a
        bus-to-bus delivery cannot be routed on to a third bus, and nothing here does.
        """
        return events.Rule(
            self,
            "ForwardPushes",
            rule_name=f"{prefix}-forward-pushes",
            description=f"Branch pushes to {prefix}-* repositories -> the pipeline trigger buses",
            event_pattern=events.EventPattern(
                source=["aws.codecommit"],
                detail_type=[CODECOMMIT_PUSH],
                # A prefix match, not a wildcard filter: it does not count against the bus's wildcard rules.
                resources=events.Match.prefix(self.names.repository_arn_prefix),
                detail={"event": ["referenceCreated", "referenceUpdated"], "referenceType": ["branch"]},
            ),
            targets=[
                event_targets.EventBus(bus, role=self.trigger_role, dead_letter_queue=self.dead_letters)
                for bus in self.trigger_buses
            ],
        )

    def _pipelines_role(self, config: PlatformConfig, region: str, account: str, prefix: str) -> iam.Role:
        """The one service role of every pipeline; each pipeline's bucket and key policies name it."""
        names = self.names
        role = iam.Role(
            self,
            "PipelinesRole",
            role_name=names.pipelines_role,
            assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
            description=f"CodePipeline role of every {config.name} pipeline; target deployer roles trust it by name",
        )
        allow(
            role,
            "ReadPlatformRepositories",
            [
                "codecommit:CancelUploadArchive",
                "codecommit:GetBranch",
                "codecommit:GetCommit",
                "codecommit:GetUploadArchiveStatus",
                "codecommit:UploadArchive",
            ],
            [f"{names.repository_arn_prefix}*"],
            "The platform's repositories, all named <platform>-<service>: each pipeline's source action.",
        )
        allow(
            role,
            "RunPipelineBuilds",
            ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
            [
                f"arn:aws:codebuild:{region}:{account}:project/{prefix}-*-build",
                f"arn:aws:codebuild:{region}:{account}:project/{prefix}-*-test",
            ],
            "The pipelines' build and test projects, <platform>-<service>-build and -test; never pull-request "
            "projects.",
        )
        allow(
            role,
            "NotifyApprovers",
            ["sns:Publish"],
            [f"arn:aws:sns:{region}:{account}:{names.prefix}-pipeline-*"],
            "Approval topics are named by CloudFormation after their stack, <platform>-pipeline-<service>.",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeDeployerRoles",
                actions=["sts:AssumeRole"],
                resources=sorted({names.deployer_role_arn(e) for e in config.environments}),
            )
        )
        if any(s.platform == "lambda" for s in config.services):
            function_arn = f"arn:aws:lambda:{region}:{account}:function:{names.lambda_deployer_function}"
            allow(
                role,
                "InvokeLambdaDeployer",
                ["lambda:InvokeFunction"],
                [function_arn, f"{function_arn}:*"],
                "The platform's Lambda deploy worker and its versions; nothing else is invoked.",
            )
            allow(
                role,
                "ListFunctions",
                ["lambda:ListFunctions"],
                ["*"],
                "lambda:ListFunctions has no resource type; CodePipeline's Lambda invoke action lists functions.",
            )
        return role

    def _pull_request_role(self, config: PlatformConfig, region: str, account: str, prefix: str) -> iam.Role:
        """The role of every pull-request project: it runs unreviewed code, so it reads and reports only."""
        names = self.names
        role = iam.Role(
            self,
            "PullRequestBuildRole",
            role_name=names.pull_request_build_role,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Runs pull-request builds (unreviewed code): no artifact, image, pipeline or deployer access",
        )
        suffix = PULL_REQUEST_PROJECT_SUFFIX
        allow(
            role,
            "PullPlatformRepositories",
            ["codecommit:GitPull"],
            [f"{names.repository_arn_prefix}*"],
            "The platform's repositories, <platform>-<service>: a pull-request build clones its source commit.",
        )
        allow(
            role,
            "DecryptRepositories",
            ["kms:Decrypt"],
            [f"arn:aws:kms:{region}:{account}:key/*"],
            "Repositories are encrypted with their pipeline's key (generated ids); use is limited to CodeCommit "
            "by kms:ViaService, so no artifact can be read with it.",
            conditions={"StringEquals": {"kms:ViaService": f"codecommit.{region}.amazonaws.com"}},
        )
        log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/{prefix}-*{suffix}"
        allow(
            role,
            "WritePullRequestLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [log_group, f"{log_group}:*"],
            "Log groups of the pull-request projects, /aws/codebuild/<platform>-<service>-pr, and their streams.",
        )
        allow(
            role,
            "WritePullRequestReports",
            ["codebuild:BatchPutTestCases", "codebuild:CreateReport", "codebuild:UpdateReport"],
            [f"arn:aws:codebuild:{region}:{account}:report-group/{prefix}-*{suffix}-junit"],
            "JUnit report groups of the pull-request projects, <platform>-<service>-pr-junit (not exported).",
        )
        for repository in sorted({config.repository_of(s) for s in config.services if s.pull_request_validation}):
            CodeArtifactAccess(
                domain=config.codeartifact.domain,
                domain_owner=account,
                repository=repository,
                region=region,
            ).grant_read(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "sts:GetServiceBearerToken has no resource type; the statement is limited by the condition "
            "sts:AWSServiceName = codeartifact.amazonaws.com.",
        )
        return role

    def _lambda_deployer(self, config: PlatformConfig) -> PlatformFunction:
        """The job worker of every Lambda service's deploy actions (ADR 0001); it assumes deployer roles only."""
        names = self.names
        role = iam.Role(
            self,
            "LambdaDeployerRole",
            role_name=names.lambda_deployer_role,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Publishes {config.name} Lambda service versions and runs their CodeDeploy deployments",
        )
        worker = PlatformFunction(
            self,
            "LambdaDeployer",
            function_name=names.lambda_deployer_function,
            description=f"CodePipeline job worker: deploys {config.name} Lambda services through CodeDeploy",
            code_folder="lambda_deployer",
            handler="deployer.handler",
            timeout=Duration.minutes(5),
            role=role,
            log_retention=retention(config.log_retention_days),
            environment={"POLL_INTERVAL_SECONDS": "15", "WAIT_BUDGET_SECONDS": "240"},
            memory_size=512,  # holds the deployment package in memory
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=0,
        )
        lambda_services = [s for s in config.services if s.platform == "lambda"]
        deployers = {names.deployer_role_arn(e) for s in lambda_services for e in config.environments_of(s)}
        role.add_to_policy(
            iam.PolicyStatement(sid="AssumeDeployerRoles", actions=["sts:AssumeRole"], resources=sorted(deployers))
        )
        allow(
            role,
            "ReportJobResults",
            # Job-result actions have no resource type; CodePipeline checks the job belongs to the account.
            ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"],
            ["*"],
            "CodePipeline's job-result actions (PutJobSuccessResult, PutJobFailureResult) support no resource-level "
            "permissions; a worker can only report on jobs CodePipeline hands it.",
        )
        # No grant on any artifact bucket: the worker reads the build output with the job's own
        # artifact credentials, which CodePipeline scopes to that job's artifacts.
        return worker
