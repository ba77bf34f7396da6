"""CrossAccountRolesStack: one per environment, in that environment's account, deployed first.

It holds every role a tooling-account policy names by ARN (KMS key policies, bucket
policies and ECR repository policies reject principals that do not exist yet), with
deterministic names built from the config, and forwards this account's CodeDeploy
events to the tooling account's default event bus.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.custom_resource_provider import PlatformProvider
from cdk_constructs.dead_letter_queue import DeadLetterQueue
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge, acknowledge_document, allow
from config.model import Environment, PlatformConfig
from config.names import Names
from config.policies import STATEMENT_REASONS, execution_policy

CODEDEPLOY_DEPLOYMENT_EVENT = "CodeDeploy Deployment State-change Notification"


class CrossAccountRolesStack(Stack):
    """Deployer, CloudFormation execution, EC2 instance and ECS task execution roles of one environment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: PlatformConfig,
        environment: Environment,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        env = environment
        tooling = config.tooling.account
        region = config.region_of(env)
        env_prefix = names.resource_prefix(env)  # every service-stack name in this environment

        # ----- deployer: assumed by the tooling account's shared pipeline role (and Lambda deploy worker) -----
        # Exact role names (docs/adr/0006): no build or pull-request role can ever match.
        trust_conditions: dict[str, Any] = {"ArnEquals": {"aws:PrincipalArn": names.deployer_principals(env)}}
        if config.organization_id:
            trust_conditions["StringEquals"] = {"aws:PrincipalOrgID": config.organization_id}
        self.deployer_role = iam.Role(
            self,
            "DeployerRole",
            role_name=names.deployer_role(env),
            description=f"Deploys {config.name} services to {env.name}; only the tooling account's pipelines assume it",
            assumed_by=iam.AccountPrincipal(tooling).with_conditions(trust_conditions),
            max_session_duration=Duration.hours(1),
        )

        # ----- CloudFormation execution role: passable only by the deployer -----
        cfn_policy = execution_policy(config, env.account)
        self.cfn_execution_role = iam.Role(
            self,
            "CfnExecutionRole",
            role_name=names.cfn_execution_role(env),
            description=f"CloudFormation deploys {config.name} stacks in {env.name} as this role",
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            inline_policies={"ServiceStacks": iam.PolicyDocument.from_json(cfn_policy)},
        )
        acknowledge_document(self.cfn_execution_role, cfn_policy, STATEMENT_REASONS)

        # ----- EC2 instances of EC2 services: SSM (CodeDeploy agent) and revision download -----
        self.instance_role = iam.Role(
            self,
            "InstanceRole",
            role_name=names.instance_role(env),
            description=f"EC2 instances of {config.name} services in {env.name}",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        self.instance_profile = iam.InstanceProfile(
            self, "InstanceProfile", instance_profile_name=names.instance_role(env), role=self.instance_role
        )

        # ----- ECS task execution: pull images from the tooling account, write logs -----
        self.task_execution_role = iam.Role(
            self,
            "TaskExecutionRole",
            role_name=names.task_execution_role(env),
            description=f"ECS task execution role of {config.name} services in {env.name}",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        )
        allow(
            self.task_execution_role,
            "PullPlatformImages",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [names.ecr_repository_arn_pattern],
            "The platform's image repositories in the tooling account, <platform>/<service>; their repository "
            "policies name this role.",
        )
        allow(
            self.task_execution_role,
            "RegistryLogin",
            ["ecr:GetAuthorizationToken"],
            ["*"],
            "ecr:GetAuthorizationToken has no resource type; the token only lets the role pull what it may pull.",
        )
        allow(
            self.task_execution_role,
            "WriteServiceLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{region}:{env.account}:log-group:/{config.name}/{env.name}/*"],
            "Log groups of this environment's services, /<platform>/<environment>/<service>, and their streams.",
        )

        # ----- where ECS services' blue/green listeners send traffic now (their stacks ask on each deploy) -----
        self.listener_traffic: PlatformProvider | None = None
        if any(s.platform == "ecs" for s in config.services_in(env)):
            self.listener_traffic = PlatformProvider(
                self,
                "ListenerTraffic",
                function_name=names.listener_traffic_function(env),
                description=f"Tells {config.name}'s ECS service stacks in {env.name} which target group each "
                "blue/green listener forwards to now",
                code_folder="listener_traffic",
                handler="listener_traffic.handler",
                timeout=Duration.seconds(30),
                log_retention=retention(config.log_retention_days),
            )
            allow(
                self.listener_traffic.role,
                "ReadListenerRules",
                ["elasticloadbalancing:DescribeRules"],
                ["*"],
                "DescribeRules supports no resource-level permissions; it only reads listener rules.",
            )

        self._grant_deployer(config, names, env, region, env_prefix)
        self._grant_artifact_read(names, region, self.deployer_role, self.instance_role)

        # ----- forward this account's deployment events to the tooling account -----
        self.forwarding_rule: events.Rule | None = None
        if env.account != tooling:
            self.forwarding_rule = self._forward_deployment_events(config, env, region, env_prefix)

        self._acknowledge()

    def _grant_deployer(
        self, config: PlatformConfig, names: Names, env: Environment, region: str, env_prefix: str
    ) -> None:
        account = env.account
        role = self.deployer_role
        allow(
            role,
            "RunDeployments",
            [
                "codedeploy:CreateDeployment",
                "codedeploy:GetApplication",
                "codedeploy:GetApplicationRevision",
                "codedeploy:GetDeployment",
                "codedeploy:GetDeploymentGroup",
                "codedeploy:RegisterApplicationRevision",
                "codedeploy:StopDeployment",
            ],
            [
                f"arn:aws:codedeploy:{region}:{account}:application:{env_prefix}*",
                f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:{env_prefix}*/*",
            ],
            f"CodeDeploy applications and groups of this environment's services, all named {env_prefix}<service>.",
        )
        allow(
            role,
            "ReadDeploymentConfigs",
            ["codedeploy:GetDeploymentConfig"],
            [f"arn:aws:codedeploy:{region}:{account}:deploymentconfig:*"],
            "Deployments read their configuration by name, and AWS's predefined ones carry no prefix.",
        )
        allow(
            role,
            "RegisterTaskDefinitions",
            ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"],
            ["*"],
            "ECS task definition registration has no resource type; the family comes from the rendered file.",
        )
        allow(
            role,
            "PassTaskRoles",
            ["iam:PassRole"],
            [f"arn:aws:iam::{account}:role/{env_prefix}*"],
            "Task roles of this environment's services, passable to ecs-tasks.amazonaws.com only.",
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassCloudFormationRole",
                actions=["iam:PassRole"],
                resources=[self.cfn_execution_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
            )
        )
        allow(
            role,
            "PublishFunctionVersions",
            [
                "lambda:GetAlias",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:PublishVersion",
                "lambda:UpdateFunctionCode",
            ],
            [f"arn:aws:lambda:{region}:{account}:function:{env_prefix}*"],
            "Functions of this environment's services: the deploy worker publishes new versions of them.",
        )
        allow(
            role,
            "ReadRollbackAlarms",
            ["cloudwatch:DescribeAlarms"],
            [f"arn:aws:cloudwatch:{region}:{account}:alarm:{env_prefix}*"],
            "The service pipelines' promotion-gate and bake-time rules (CloudWatchAlarm) read this environment's "
            "rollback alarms, all named <platform>-<env>-<service>-<what>, as this role (docs/adr/0008).",
        )

    def _grant_artifact_read(self, names: Names, region: str, *roles: iam.Role) -> None:
        """Identity side of the artifact access; the tooling bucket and key policies name these roles."""
        bucket = names.artifact_bucket_pattern
        for role in roles:
            allow(
                role,
                "ReadPipelineArtifacts",
                ["s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketLocation", "s3:ListBucket"],
                [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "The tooling account's artifact buckets, one per pipeline, <platform>-<service>-artifacts-<account>; "
                "each bucket policy names this role too.",
            )
            allow(
                role,
                "DecryptPipelineArtifacts",
                ["kms:Decrypt", "kms:DescribeKey"],
                [f"arn:aws:kms:{region}:{names.tooling_account}:key/*"],
                "Artifact keys of the tooling account have generated ids; use is limited to S3 by kms:ViaService "
                "and each key policy names this role.",
                conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            )

    def _forward_deployment_events(
        self, config: PlatformConfig, env: Environment, region: str, env_prefix: str
    ) -> events.Rule:
        tooling_bus = events.EventBus.from_event_bus_arn(
            self, "ToolingBus", f"arn:aws:events:{region}:{config.tooling.account}:event-bus/default"
        )
        dead_letters = DeadLetterQueue(
            self,
            "ForwardingDeadLetters",
            purpose=f"the rule forwarding {env.name}'s deployment events to the tooling account",
            alarm_name=f"{config.name}-{env.name}-event-forwarding-dead-letters",
        ).queue
        return events.Rule(
            self,
            "ForwardDeployments",
            description=f"Forward {config.name} CodeDeploy deployment events of {env.name} to the tooling account",
            event_pattern=events.EventPattern(
                source=["aws.codedeploy"],
                detail_type=[CODEDEPLOY_DEPLOYMENT_EVENT],
                detail={"application": [{"prefix": env_prefix}]},
            ),
            targets=[
                event_targets.EventBus(
                    tooling_bus,
                    dead_letter_queue=dead_letters,
                )
            ],
        )

    def _acknowledge(self) -> None:
        acknowledge(
            self.instance_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "AWS's maintained minimum for the SSM agent, which installs and updates the CodeDeploy agent; "
            "a hand copy would drift from what the agent needs.",
        )
