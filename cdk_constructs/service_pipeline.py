"""One service's delivery pipeline in the tooling account.

CodeCommit (seeded) -> EventBridge (its trigger bus) -> CodePipeline V2:
Source -> Build -> Test -> [Approve-<env>] -> Deploy-<env> for each environment.
Deploy actions reach target accounts through their deployer roles, referenced by
deterministic ARN, so no cross-account token and no CDK support stack is needed.
The pipeline role, the pull-request role and the Lambda deploy worker are shared by every
pipeline (ToolingStack, docs/adr/0006): this construct names them, and grants them its own
bucket and key through those resources' policies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack, TimeZone
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk_constructs.artifact_store import EncryptedArtifactStore
from cdk_constructs.build_project import CodeArtifactAccess, ServiceBuildProject, allow_log_groups, build_role
from cdk_constructs.dead_letter_queue import DeadLetterQueue, admit_rule, retried_delivery
from cdk_constructs.lambda_defaults import ASSET_EXCLUDES
from cdk_constructs.nag import (
    acknowledge,
    acknowledge_grant_wildcards,
    acknowledge_object_wildcard,
    logical_id,
)
from cdk_constructs.secure_defaults import RETAINED
from cdk_constructs.stage_conditions import DeployTarget, apply_rule_roles, deploy_stage_guardrails
from config.model import Freeze, ReleaseGuardrails, Service
from config.names import (
    APPROVAL_ACTION,
    PLANNED_FREEZE_MARK,
    FreezeSchedule,
    Names,
    approval_stage,
    deploy_stage,
    transition_reason_text,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# A freeze's ranges and gaps are at least an hour (hours are its finest field), so a retried edge can never
# land on the next edge: 50 minutes of retries, then the dead-letter queue and its alarm.
FREEZE_RETRY_AGE = Duration.minutes(50)
FREEZE_RETRY_ATTEMPTS = 20
# botocore's DisableStageTransition `reason`: 1-300 characters (its pattern: config.names.transition_reason_text).
TRANSITION_REASON_MAX = 300


def freeze_transition_reason(freeze: Freeze) -> str:
    """The disabled transition's reason (shown in the console and by tools.ops status), in the characters
    CodePipeline allows: "planned freeze <name> - <reason>"."""
    return transition_reason_text(f"{PLANNED_FREEZE_MARK} {freeze.name} - {freeze.reason}")[:TRANSITION_REASON_MAX]


def logical_part(name: str) -> str:
    """A freeze name in the characters a construct id keeps readable in a logical ID."""
    return "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", name))


TEMPLATES_DIR = REPO_ROOT / "service_templates"


class ServicePipeline(Construct):
    """Repository, build and test projects, and the pipeline of one service."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        names: Names,
        service: Service,
        targets: list[DeployTarget],
        codeartifact: CodeArtifactAccess,
        log_retention: logs.RetentionDays,
        guardrails: dict[str, ReleaseGuardrails] | None = None,
        freezes: dict[str, list[Freeze]] | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if not targets:
            raise ValueError(f"service {service.name!r} has no environment to deploy to")
        self.names = names
        self.service = service
        self.targets = targets
        self.guardrails = guardrails or {}  # by environment; default ReleaseGuardrails()
        self.freezes = freezes or {}

        self.store = EncryptedArtifactStore(
            self,
            "Artifacts",
            bucket_name=names.artifact_bucket(service),
            key_alias=names.artifact_key_alias(service),
            description=f"the {service.name} pipeline",
        )
        # Where the push trigger parks what it could not deliver.
        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            purpose=f"the {service.name} pipeline's push trigger"
            + (" and freeze schedules" if any(f.during == "wait" for fs in self.freezes.values() for f in fs) else ""),
            alarm_name=f"{names.pipeline(service)}-dead-letters",
            encryption_key=self.store.key,
        ).queue
        self.store.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey", "kms:Decrypt")
        self.repository = self._repository()
        self.image_repository = self._image_repository() if service.platform == "ecs" else None
        # EventBridge starts pipelines as one shared role (ToolingStack).
        self.trigger_role = iam.Role.from_role_name(self, "TriggerRole", names.event_trigger_role, mutable=False)
        # Shared roles are imported immutable (their statements are in ToolingStack, by pattern, so that
        # 500 pipelines add nothing to them); this pipeline's bucket and key policies name them by ARN.
        self.pipelines_principal = iam.ArnPrincipal(names.tooling_role_arn(names.pipelines_role))

        # The platform's one Lambda deploy worker (ToolingStack), by name.
        self.lambda_deployer = (
            lambda_.Function.from_function_arn(
                self,
                "LambdaDeployer",
                Stack.of(self).format_arn(
                    service="lambda",
                    resource="function",
                    resource_name=names.lambda_deployer_function,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
            if service.platform == "lambda"
            else None
        )
        self._build_and_test(codeartifact, log_retention)
        self.pull_request_build = (
            self._pull_request_build(codeartifact, log_retention) if service.pull_request_validation else None
        )
        self.approval_topic = sns.Topic(
            self,
            "ApprovalTopic",
            display_name=f"{names.pipeline(service)} approvals",
            master_key=self.store.key,
            enforce_ssl=True,
        )
        # SNS needs the key to deliver encrypted messages to its subscribers.
        self.store.key.grant_encrypt_decrypt(iam.ServicePrincipal("sns.amazonaws.com"))
        self._pipeline()
        self._grant_pipelines_role()
        self._grant_target_reads()
        self.approvers_policy = self._approvers_policy()
        acknowledge_grant_wildcards(self)
        acknowledge_object_wildcard(self, logical_id(self.store.bucket))

    # ----- repositories -----

    def _repository(self) -> codecommit.Repository:
        """The service's CodeCommit repository, seeded with its platform's template on creation."""
        service = self.service
        repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=self.names.repository(service),
            description=service.description or f"{service.name} ({service.platform})",
            code=codecommit.Code.from_asset(
                s3_assets.Asset(self, "Seed", path=str(TEMPLATES_DIR / service.platform), exclude=ASSET_EXCLUDES),
                service.branch,
            ),
            kms_key=self.store.key,
        )
        repository.apply_removal_policy(RETAINED)
        return repository

    def _image_repository(self) -> ecr.Repository:
        return ecr.Repository(
            self,
            "Images",
            repository_name=self.names.ecr_repository(self.service),
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=self.store.key,
            removal_policy=RETAINED,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Drop untagged layers after a week",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                    rule_priority=1,
                ),
                ecr.LifecycleRule(
                    description="Keep the newest 100 release images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=100,
                    rule_priority=2,
                ),
            ],
        )

    # ----- build and test -----

    def _cache(self, prefix: str) -> codebuild.Cache:
        """Docker layers and source stay on the build host for image builds; the rest caches in the bucket."""
        if self.service.platform == "ecs":
            return codebuild.Cache.local(codebuild.LocalCacheMode.DOCKER_LAYER, codebuild.LocalCacheMode.SOURCE)
        return codebuild.Cache.bucket(self.store.bucket, prefix=f"cache/{prefix}")

    def _build_and_test(self, codeartifact: CodeArtifactAccess, log_retention: logs.RetentionDays) -> None:
        """The pipeline's build and test projects; both run the merged branch's own code, as one role."""
        names, service = self.names, self.service
        self.build_role = build_role(
            self,
            "BuildRole",
            role_name=names.build_role(service, "build"),
            runs=f"the pipeline build and test of {service.name}",
        )
        codeartifact.grant_read(self.build_role)
        allow_log_groups(self.store.key, f"/aws/codebuild/{names.prefix}-{service.name}-*")
        variables = {"PLATFORM_NAME": names.prefix, "SERVICE_NAME": service.name}
        build_variables = dict(variables)
        if self.image_repository is not None:
            build_variables["ECR_REPOSITORY_URI"] = self.image_repository.repository_uri
            build_variables["DEPLOY_ENVIRONMENTS"] = json.dumps(self._ecs_deploy_environments(), sort_keys=True)
        self.build = ServiceBuildProject(
            self,
            "Build",
            project_name=names.build_project(service),
            role=self.build_role,
            description=f"Builds {service.name} with buildspec.yml from its repository",
            build_spec=codebuild.BuildSpec.from_source_filename("buildspec.yml"),
            encryption_key=self.store.key,
            cache=self._cache("build"),
            log_retention=log_retention,
            codeartifact=codeartifact,
            environment_variables=build_variables,
            privileged=self.image_repository is not None,
        )
        if self.image_repository is not None:
            self.image_repository.grant_pull_push(self.build.project)
            acknowledge(
                self.build.project,
                "AwsSolutions-CB3",
                "Privileged mode runs the Docker daemon that builds the service image; the build runs only "
                "the service's own buildspec from its repository.",
            )
        self.test = ServiceBuildProject(
            self,
            "Test",
            project_name=names.test_project(service),
            role=self.build_role,
            description=f"Runs the tests of {service.name} with buildspec-test.yml; JUnit results in a report group",
            build_spec=codebuild.BuildSpec.from_source_filename("buildspec-test.yml"),
            encryption_key=self.store.key,
            cache=codebuild.Cache.bucket(self.store.bucket, prefix="cache/test"),
            log_retention=log_retention,
            codeartifact=codeartifact,
            environment_variables=variables,
            junit_reports=True,
            report_exports=self.store.bucket,
        )

    # ----- the pipeline -----

    def _pipeline(self) -> None:
        """Source -> Build -> Test -> [Approve-<env>] -> Deploy-<env>, started by our own push rule."""
        names, service = self.names, self.service
        self.role = iam.Role.from_role_name(self, "PipelineRole", names.pipelines_role, mutable=False)
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=names.pipeline(service),
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.QUEUED,
            artifact_bucket=self.store.bucket,
            role=self.role,
            # Same-account actions run as the pipeline role instead of a role each (IAM role quota).
            use_pipeline_role_for_actions=True,
            restart_execution_on_update=False,
        )
        source_output = codepipeline.Artifact("Source")
        build_output = codepipeline.Artifact("Build")
        self.pipeline.add_stage(
            stage_name="Source",
            actions=[
                actions.CodeCommitSourceAction(
                    action_name="Source",
                    repository=self.repository,
                    branch=service.branch,
                    output=source_output,
                    # The push rule is ours (below), to give it a retry policy and a dead-letter queue.
                    trigger=actions.CodeCommitTrigger.NONE,
                    variables_namespace="SourceVariables",
                    code_build_clone_output=False,
                )
            ],
        )
        # On this service's trigger bus, which ToolingStack's one default-bus rule feeds (docs/adr/0006).
        self.push_rule = events.Rule(
            self,
            "PushTrigger",
            event_bus=events.EventBus.from_event_bus_name(self, "TriggerBus", names.pipeline_trigger_bus(service)),
            description=f"Start {names.pipeline(service)} on every push to {service.branch}",
            event_pattern=events.EventPattern(
                source=["aws.codecommit"],
                detail_type=["CodeCommit Repository State Change"],
                resources=[self.repository.repository_arn],
                detail={
                    "event": ["referenceCreated", "referenceUpdated"],
                    "referenceType": ["branch"],
                    "referenceName": [service.branch],
                },
            ),
            targets=[event_targets.CodePipeline(self.pipeline, event_role=self.trigger_role, **self._delivery())],
        )
        admit_rule(self.dead_letters, self.push_rule)
        self.pipeline.add_stage(
            stage_name="Build",
            actions=[
                actions.CodeBuildAction(
                    action_name="Build", project=self.build.project, input=source_output, outputs=[build_output]
                )
            ],
        )
        self.pipeline.add_stage(
            stage_name="Test",
            actions=[
                actions.CodeBuildAction(
                    action_name="Test",
                    project=self.test.project,
                    input=source_output,
                    type=actions.CodeBuildActionType.TEST,
                )
            ],
        )
        self.approval_actions: list[tuple[str, actions.ManualApprovalAction]] = []
        previous: DeployTarget | None = None
        for target in self.targets:
            if target.environment.approval:
                stage_name = approval_stage(target.environment)
                approval = self._approval_action(target)
                self.pipeline.add_stage(stage_name=stage_name, actions=[approval])
                self.approval_actions.append((stage_name, approval))
            deploy_name = deploy_stage(target.environment)
            guardrails = deploy_stage_guardrails(
                names,
                service,
                deploy_name,
                target,
                previous,
                self.guardrails.get(target.name) or ReleaseGuardrails(),
                self.freezes.get(target.name, []),
            )
            self.pipeline.add_stage(
                stage_name=deploy_name,
                actions=[self._deploy_action(target, build_output)],
                **guardrails.stage_props(),  # type: ignore[arg-type]
            )
            apply_rule_roles(self.pipeline, int(self.pipeline.stage_count) - 1, guardrails)
            previous = target
        self.freeze_schedules = self._freeze_schedules()

    def _freeze_schedules(self) -> list[scheduler.Schedule]:
        """`during: wait` freezes: at each frozen range's start EventBridge Scheduler disables the inbound
        transition of Approve-<env> (if any) and Deploy-<env>, so executions wait before them instead of failing
        at the entry condition; at its end it enables them again (docs/adr/0008). The DeploymentWindow rule
        stays on Deploy-<env> as the safety net should a schedule not run. Universal targets (the CodePipeline
        API itself) as the one shared role, an hour of retries that never reaches the next edge, and this
        pipeline's dead-letter queue for what still fails."""
        names = self.names
        role = iam.Role.from_role_arn(
            self, "FreezeRole", names.tooling_role_arn(names.freeze_transitions_role), mutable=False
        )
        schedules: list[scheduler.Schedule] = []
        for target in self.targets:
            for planned in names.freeze_schedules(self.service, target.environment):
                schedules.append(self._freeze_schedule(role, planned))
        if schedules:
            # Scheduler sends what it could not deliver as the freeze role, to this pipeline's queue and key.
            # Own statements (a Sid keeps CDK from merging them into the events and SNS grants of the same key).
            freeze_role = iam.ArnPrincipal(names.tooling_role_arn(names.freeze_transitions_role))
            self.dead_letters.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="FreezeScheduleDeadLetters",
                    principals=[freeze_role],
                    actions=["sqs:SendMessage"],
                    resources=[self.dead_letters.queue_arn],
                )
            )
            self.store.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="FreezeScheduleDeadLetters",
                    principals=[freeze_role],
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=["*"],  # in a key policy, "*" is this key
                )
            )
        return schedules

    def _default_schedule_group(self) -> scheduler.IScheduleGroup:
        found = self.node.try_find_child("DefaultScheduleGroup")
        if found is None:
            return scheduler.ScheduleGroup.from_schedule_group_name(self, "DefaultScheduleGroup", "default")
        return found  # type: ignore[return-value]

    def _freeze_schedule(self, role: iam.IRole, planned: FreezeSchedule) -> scheduler.Schedule:
        stage, freeze, cron, edge, index = planned.stage, planned.freeze, planned.cron, planned.edge, planned.index
        pipeline = self.names.pipeline(self.service)
        request: dict[str, str] = {"pipelineName": pipeline, "stageName": stage, "transitionType": "Inbound"}
        if edge == "start":
            request["reason"] = freeze_transition_reason(freeze)
        return scheduler.Schedule(
            self,
            f"Freeze{logical_part(freeze.name)}{stage.replace('-', '')}{edge.title()}{index}",
            schedule_name=planned.name,
            # Named, so that the execution policy's schedule/default/<p>-* covers it.
            schedule_group=self._default_schedule_group(),
            description=f"{'Hold' if edge == 'start' else 'Release'} {pipeline} {stage}: freeze {freeze.name}",
            schedule=scheduler.ScheduleExpression.expression(f"cron({cron})", TimeZone.of(freeze.timezone)),
            # Off: the edge is the freeze's boundary; a flexible window would open or close it late.
            time_window=scheduler.TimeWindow.off(),
            target=scheduler_targets.Universal(
                service="codepipeline",
                action="disableStageTransition" if edge == "start" else "enableStageTransition",
                input=scheduler.ScheduleTargetInput.from_object(request),
                role=role,
                # The shared role is immutable here (ToolingStack holds its statement, by pattern); this is what
                # the call needs, stated so that nothing defaults to "*".
                policy_statements=[
                    iam.PolicyStatement(
                        actions=[f"codepipeline:{'Disable' if edge == 'start' else 'Enable'}StageTransition"],
                        resources=[f"{self.pipeline.pipeline_arn}/{stage}"],
                    )
                ],
                dead_letter_queue=self.dead_letters,
                max_event_age=FREEZE_RETRY_AGE,
                retry_attempts=FREEZE_RETRY_ATTEMPTS,
            ),
        )

    def _delivery(self) -> dict[str, Any]:
        """The push rule's delivery: a push older than two hours is not worth building."""
        return retried_delivery(self.dead_letters, max_event_age=Duration.hours(2))

    def _approval_action(self, target: DeployTarget) -> actions.ManualApprovalAction:
        names, service, region = self.names, self.service, Stack.of(self).region
        return actions.ManualApprovalAction(
            action_name=APPROVAL_ACTION,
            notification_topic=self.approval_topic,
            additional_information=(
                f"Approve the deployment of {service.name} to {target.name} "
                f"(account {target.account}, {target.region})."
            ),
            external_entity_link=(
                f"https://{region}.console.aws.amazon.com/codesuite/codecommit/repositories/"
                f"{names.repository(service)}/commit/#{{SourceVariables.CommitId}}?region={region}"
            ),
            timeout=Duration.days(3),
        )

    def _grant_pipelines_role(self) -> None:
        """The shared pipeline role reads and writes this pipeline's artifacts and uses its key (repository,
        approval topic), through this bucket's and key's own policies: nothing is added to the role."""
        self.store.bucket.grant_read_write(self.pipelines_principal)
        self.store.key.grant(self.pipelines_principal, "kms:DescribeKey")

    def _grant_target_reads(self) -> None:
        """Target roles that read this pipeline's artifacts: named by ARN in the bucket and key policy."""
        names = self.names
        for target in self.targets:
            env = target.environment
            readers = [names.deployer_role_arn(env)]
            if self.service.platform == "ec2":
                readers.append(names.instance_role_arn(env))
            for arn in readers:
                self.store.grant_read_to(self._imported_role(arn))
            if self.image_repository is not None:
                self.image_repository.grant_pull(self._imported_role(names.task_execution_role_arn(env)))

    # ----- pull-request validation -----

    def _pull_request_build(
        self, codeartifact: CodeArtifactAccess, log_retention: logs.RetentionDays
    ) -> ServiceBuildProject:
        """Builds and tests each pull request's source commit with the service's buildspec-pr.yml."""
        names, service = self.names, self.service
        # Shared by every pull-request project (ToolingStack): read-only, so no grant from here.
        pr_role = iam.Role.from_role_name(self, "PullRequestRole", names.pull_request_build_role, mutable=False)
        project = ServiceBuildProject(
            self,
            "PullRequest",
            project_name=names.pull_request_project(service),
            role=pr_role,
            description=f"Builds and tests pull requests of {service.name} with buildspec-pr.yml",
            build_spec=codebuild.BuildSpec.from_source_filename("buildspec-pr.yml"),
            encryption_key=self.store.key,
            # On the build host: a bucket cache or report export would need write access to the artifact bucket.
            cache=codebuild.Cache.local(
                codebuild.LocalCacheMode.DOCKER_LAYER if service.platform == "ecs" else codebuild.LocalCacheMode.CUSTOM,
                codebuild.LocalCacheMode.SOURCE,
            ),
            log_retention=log_retention,
            codeartifact=codeartifact,
            environment_variables={"PLATFORM_NAME": names.prefix, "SERVICE_NAME": service.name},
            source=codebuild.Source.code_commit(repository=self.repository),
            privileged=service.platform == "ecs",
            junit_reports=True,
        )
        if service.platform == "ecs":
            acknowledge(
                project.project,
                "AwsSolutions-CB3",
                "Privileged mode runs the Docker daemon that builds (and does not push) the pull request's image.",
            )

        return project

    # ----- deploy actions -----

    def _imported_role(self, arn: str) -> iam.IRole:
        existing = self.node.try_find_child(f"Role{arn}")
        if existing is not None:
            return existing  # type: ignore[return-value]
        return iam.Role.from_role_arn(self, f"Role{arn}", arn, mutable=False)

    def _deploy_action(self, target: DeployTarget, build_output: codepipeline.Artifact) -> codepipeline.IAction:
        names, service, env = self.names, self.service, target.environment
        deployer = self._imported_role(names.deployer_role_arn(env))
        application_arn = (
            f"arn:aws:codedeploy:{target.region}:{target.account}:application:"
            f"{names.deployment_application(service, env)}"
        )
        if service.platform == "ec2":
            group = codedeploy.ServerDeploymentGroup.from_server_deployment_group_attributes(
                self,
                f"Group-{target.name}",
                application=codedeploy.ServerApplication.from_server_application_arn(
                    self, f"App-{target.name}", application_arn
                ),
                deployment_group_name=names.deployment_group(service, env),
            )
            return actions.CodeDeployServerDeployAction(
                action_name="Deploy", input=build_output, deployment_group=group, role=deployer
            )
        if service.platform == "ecs":
            ecs_group = codedeploy.EcsDeploymentGroup.from_ecs_deployment_group_attributes(
                self,
                f"Group-{target.name}",
                application=codedeploy.EcsApplication.from_ecs_application_arn(
                    self, f"App-{target.name}", application_arn
                ),
                deployment_group_name=names.deployment_group(service, env),
            )
            return actions.CodeDeployEcsDeployAction(
                action_name="Deploy",
                deployment_group=ecs_group,
                app_spec_template_file=build_output.at_path("appspec.yaml"),
                task_definition_template_file=build_output.at_path(f"taskdef-{target.name}.json"),
                container_image_inputs=[
                    actions.CodeDeployEcsContainerImageInput(
                        input=build_output, task_definition_placeholder="IMAGE1_NAME"
                    )
                ],
                role=deployer,
            )
        # Lambda: CodePipeline has no CodeDeploy action for functions, so a job worker publishes
        # the version and runs the CodeDeploy deployment as the deployer role (see README, ADR 0001).
        if self.lambda_deployer is None:
            raise ValueError(f"service {service.name!r} has platform {service.platform!r}, not lambda")
        return actions.LambdaInvokeAction(
            action_name="Deploy",
            lambda_=self.lambda_deployer,
            inputs=[build_output],
            user_parameters={
                "environment": env.name,
                "region": target.region,
                "function_name": names.function(service, env),
                "alias": "live",
                "application": names.deployment_application(service, env),
                "deployment_group": names.deployment_group(service, env),
                "deployer_role_arn": names.deployer_role_arn(env),
                "pre_traffic_hook": names.hook_function(service, env, "pre-traffic"),
                "post_traffic_hook": names.hook_function(service, env, "post-traffic"),
            },
        )

    def _approvers_policy(self) -> iam.ManagedPolicy:
        """Managed policy for people who approve: read this pipeline, approve its approval actions."""
        stack = Stack.of(self)
        statements = [
            iam.PolicyStatement(
                sid="ReadThisPipeline",
                actions=["codepipeline:GetPipeline*", "codepipeline:GetPipelineState"],
                resources=[self.pipeline.pipeline_arn],
            )
        ]
        if self.approval_actions:
            statements.append(
                iam.PolicyStatement(
                    sid="ApproveThisPipeline",
                    actions=["codepipeline:PutApprovalResult"],
                    resources=[
                        stack.format_arn(
                            service="codepipeline",
                            resource=self.pipeline.pipeline_name,
                            resource_name=f"{stage}/{APPROVAL_ACTION}",
                        )
                        for stage, _ in self.approval_actions
                    ],
                )
            )
        policy = iam.ManagedPolicy(
            self,
            "ApproversPolicy",
            managed_policy_name=f"{self.names.pipeline(self.service)}-approvers",
            description=f"Review and approve manual approvals of the {self.names.pipeline(self.service)} pipeline",
            statements=statements,
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Action::codepipeline:GetPipeline*]",
            "GetPipeline* is the read set the console's review page needs (GetPipeline, GetPipelineExecution, "
            "GetPipelineState), on this one pipeline only.",
        )
        return policy

    def _ecs_deploy_environments(self) -> list[dict[str, object]]:
        """Per-environment values the ECS build writes into taskdef-<env>.json."""
        names, service = self.names, self.service
        settings = service.ecs_settings
        return [
            {
                "name": t.name,
                "account": t.account,
                "region": t.region,
                "family": names.task_family(service, t.environment),
                "execution_role_arn": names.task_execution_role_arn(t.environment),
                "task_role_arn": names.role_arn(t.environment, names.task_role(service, t.environment)),
                "log_group": names.log_group(service, t.environment),
                "container_name": names.container_name(service),
                "container_port": settings.container_port,
                "cpu": settings.cpu,
                "memory": settings.memory_mib,
            }
            for t in self.targets
        ]
