"""FoundationStack: one per environment, in its account: what every service there would otherwise duplicate."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.deployment_configs import custom_deployment_config
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge_all
from cdk_constructs.public_load_balancer import LoadBalancerRefs, PublicLoadBalancer, access_log_bucket
from cdk_constructs.service_network import ServiceNetwork
from config.model import Environment, ImportedNetwork, NewNetwork, PlatformConfig
from config.names import Names

# CodeDeploy's managed service-role policy per compute platform (AWS maintains them).
CODEDEPLOY_POLICIES = {
    "ec2": "service-role/AWSCodeDeployRole",
    "ecs": "AWSCodeDeployRoleForECS",
    "lambda": "service-role/AWSCodeDeployRoleForLambdaLimited",
}


class ConfiguredZonesStack(Stack):
    """A stack whose availability zones come from the config: without this override CDK would look
    them up in the account (synth would call AWS)."""

    def __init__(
        self, scope: Construct, id_: str, *, network: ImportedNetwork | NewNetwork, region: str, **kwargs: Any
    ) -> None:
        self._azs = availability_zones(network, region)
        super().__init__(scope, id_, **kwargs)

    @property
    def availability_zones(self) -> list[str]:
        return self._azs


def ecs_cluster(scope: Construct, vpc: ec2.IVpc, name: str) -> ecs.Cluster:
    """A Fargate cluster with Container Insights (enhanced)."""
    insights = ecs.ContainerInsights.ENHANCED
    return ecs.Cluster(scope, "Cluster", vpc=vpc, cluster_name=name, container_insights_v2=insights)


class FoundationStack(ConfiguredZonesStack):
    """The environment's network, shared load balancers, ECS cluster, log bucket, CodeDeploy roles and configs.

    Service stacks of the same account and region attach to it through CDK's weak cross-stack
    references (Fn::GetStackOutput, docs/adr/0005-environment-foundation.md), which do not stop the
    foundation from being deleted: its termination protection does. CDK deploys it first.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: PlatformConfig,
        environment: Environment,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            id_,
            network=environment.network,
            region=config.region_of(environment),
            termination_protection=True,
            **kwargs,
        )
        names = Names(config)
        env = environment
        services = config.services_in(env)
        platforms = {s.platform for s in services}
        log_retention = retention(config.log_retention_days)

        self.network: ServiceNetwork | None = None
        self.load_balancers: dict[str, LoadBalancerRefs] = {}
        self.cluster: ecs.ICluster | None = None
        self.access_logs: s3.IBucket | None = None
        if config.needs_vpc(env):
            self.network = ServiceNetwork(
                self, "Network", network=env.network, availability_zones=self._azs, log_retention=log_retention
            )
            self.access_logs = access_log_bucket(self, "AccessLogs")
            for name, members in config.load_balancer_groups(env).items():
                balancer = PublicLoadBalancer(
                    self,
                    f"LoadBalancer-{name}",
                    vpc=self.network.vpc,
                    certificate_arn=env.certificate_arn,
                    ports=[s.port for s in members],
                    test_listener=any(s.platform == "ecs" for s in members),
                    access_logs=self.access_logs,
                    access_log_prefix=name,
                )
                self.load_balancers[name] = LoadBalancerRefs.of(balancer)
            if any(s.platform == "ecs" and s.isolation != "network" for s in services):
                self.cluster = ecs_cluster(self, self.network.vpc, names.ecs_cluster(env))

        # CodeDeploy's service role, one per compute platform, for every deployment group here.
        self.codedeploy_roles: dict[str, iam.Role] = {}
        for platform in sorted(platforms):
            role = iam.Role(
                self,
                f"CodeDeployRole-{platform}",
                role_name=names.codedeploy_role(env, platform),
                assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
                managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CODEDEPLOY_POLICIES[platform])],
                description=f"CodeDeploy's service role for the {platform} deployment groups of {env.name}",
            )
            policy = f"arn:<AWS::Partition>:iam::aws:policy/{CODEDEPLOY_POLICIES[platform]}"
            acknowledge_all(
                role,
                {
                    f"AwsSolutions-IAM4[Policy::{policy}]": (
                        "AWS maintains this service-role policy for CodeDeploy's compute platform and updates it when "
                        "CodeDeploy needs new permissions; it is attached to CodeDeploy's own role only."
                    )
                },
            )
            self.codedeploy_roles[platform] = role
        if "lambda" in platforms:
            # The managed policy invokes hooks named CodeDeployHook_*; the platform names them after the service.
            hooks = [
                self.format_arn(
                    service="lambda",
                    resource="function",
                    resource_name=f"{names.resource_prefix(env)}*-{stage}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                for stage in ("pre-traffic", "post-traffic")
            ]
            self.codedeploy_roles["lambda"].add_to_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=hooks)
            )
            acknowledge_all(
                self.codedeploy_roles["lambda"],
                {
                    f"AwsSolutions-IAM5[Resource::{hook}]": "Invoke the traffic hooks of this environment's services "
                    f"only, by their names ({names.resource_prefix(env)}<service>-pre-traffic and -post-traffic)."
                    for hook in hooks
                },
            )

        # Custom deployment configurations, once per environment for all services that use them.
        for platform, spec in config.custom_deployment_configs(env):
            name = names.deployment_config(env, platform, spec.label)
            custom_deployment_config(self, f"DeploymentConfig-{platform}-{spec.label}", platform, spec, name)


def availability_zones(network: ImportedNetwork | NewNetwork, region: str) -> list[str]:
    """AZs named in the config, else the region's first two, resolved by CloudFormation (Fn::GetAZs)."""
    if network.availability_zones:
        return list(network.availability_zones)
    return [Fn.select(index, Fn.get_azs(region)) for index in range(2)]
