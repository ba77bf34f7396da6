"""ServiceStack: one per service and environment, in that environment's account."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.custom_resource_provider import service_token_arn
from cdk_constructs.deployment_configs import (
    ecs_deployment_config,
    lambda_deployment_config,
    server_deployment_config,
)
from cdk_constructs.ec2_target import Ec2InPlaceTarget
from cdk_constructs.ecs_target import EcsBlueGreenTarget
from cdk_constructs.lambda_target import LambdaCanaryTarget
from cdk_constructs.log_retention import retention
from cdk_constructs.public_load_balancer import LoadBalancerRefs, PublicLoadBalancer
from cdk_constructs.service_network import ServiceNetwork
from config.model import Environment, PlatformConfig, Service
from config.names import Names
from stacks.foundation_stack import ConfiguredZonesStack, FoundationStack, ecs_cluster


class ServiceStack(ConfiguredZonesStack):
    """Where a service runs in one environment, and the CodeDeploy deployment group its pipeline targets.

    EC2 and ECS services attach to the environment's foundation (its VPC, a shared load balancer,
    the ECS cluster) unless their isolation asks for a load balancer or a whole network of their own.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: PlatformConfig,
        service: Service,
        environment: Environment,
        foundation: FoundationStack,
        **kwargs: Any,
    ) -> None:
        region = config.region_of(environment)
        isolated = config.isolated_network(environment) if service.isolation == "network" else environment.network
        super().__init__(scope, id_, network=isolated, region=region, **kwargs)
        self.add_stack_dependency(foundation, "It attaches to the foundation's network, load balancer and roles")
        names = Names(config)
        env = environment
        log_retention = retention(config.log_retention_days)
        spec = service.deployment_config_for(env.name)
        config_name = "" if isinstance(spec, str) else names.deployment_config(env, service.platform, spec.label)
        codedeploy_role = iam.Role.from_role_arn(
            self,
            "CodeDeployRole",
            names.role_arn(env, names.codedeploy_role(env, service.platform)),
            mutable=False,
        )
        self.target: Ec2InPlaceTarget | EcsBlueGreenTarget | LambdaCanaryTarget

        if service.platform == "lambda":
            self.target = LambdaCanaryTarget(
                self,
                "Lambda",
                settings=service.lambda_settings,
                thresholds=service.alarms,
                function_name=names.function(service, env),
                pre_hook_name=names.hook_function(service, env, "pre-traffic"),
                post_hook_name=names.hook_function(service, env, "post-traffic"),
                application_name=names.deployment_application(service, env),
                deployment_group_name=names.deployment_group(service, env),
                deployment_config=lambda_deployment_config(self, spec, config_name),
                codedeploy_role=codedeploy_role,
                log_retention=log_retention,
                environment={"SERVICE_NAME": service.name, "ENVIRONMENT": env.name},
            )
            return

        balancer, cluster, private_subnets = self._attach(config, service, env, foundation, log_retention)
        route, priority = service.listener_route, config.listener_rule_priority(service, env)
        if service.platform == "ec2":
            settings = service.ec2_settings
            self.target = Ec2InPlaceTarget(
                self,
                "Ec2",
                load_balancer=balancer,
                private_subnets=private_subnets,
                route=route,
                priority=priority,
                codedeploy_role=codedeploy_role,
                settings=settings,
                thresholds=service.alarms,
                instance_profile_name=names.instance_role(env),
                application_name=names.deployment_application(service, env),
                deployment_group_name=names.deployment_group(service, env),
                deployment_config=server_deployment_config(self, spec, config_name),
                environment_file={
                    "PORT": str(settings.port),
                    "SERVICE_NAME": service.name,
                    "ENVIRONMENT": env.name,
                    "APP_HEALTH_PATH": settings.health_check_path,
                },
            )
            return

        assert cluster is not None
        self.target = EcsBlueGreenTarget(
            self,
            "Ecs",
            load_balancer=balancer,
            private_subnets=private_subnets,
            cluster=cluster,
            route=route,
            priority=priority,
            codedeploy_role=codedeploy_role,
            settings=service.ecs_settings,
            thresholds=service.alarms,
            service_name=names.ecs_service(service, env),
            family=names.task_family(service, env),
            container_name=names.container_name(service),
            execution_role_arn=names.task_execution_role_arn(env),
            task_role_name=names.task_role(service, env),
            log_group_name=names.log_group(service, env),
            log_retention=log_retention,
            application_name=names.deployment_application(service, env),
            deployment_group_name=names.deployment_group(service, env),
            deployment_config=ecs_deployment_config(self, spec, config_name),
            listener_traffic_token=service_token_arn(region, env.account, names.listener_traffic_function(env)),
        )

    def _attach(
        self,
        config: PlatformConfig,
        service: Service,
        env: Environment,
        foundation: FoundationStack,
        log_retention: Any,
    ) -> tuple[LoadBalancerRefs, ecs.ICluster | None, Any]:
        """The load balancer, cluster and subnets it runs with: the foundation's, or its own."""
        ecs_service = service.platform == "ecs"
        if service.isolation == "shared":
            assert foundation.network is not None
            return (
                foundation.load_balancers[service.load_balancer].imported_into(self),
                foundation.cluster,
                foundation.network.private_subnets,
            )
        if service.isolation == "load_balancer":
            assert foundation.network is not None
            network = foundation.network
            cluster = foundation.cluster
        else:
            network = ServiceNetwork(
                self,
                "Network",
                network=config.isolated_network(env),
                availability_zones=self._azs,
                log_retention=log_retention,
            )
            cluster = (
                ecs_cluster(self, network.vpc, f"{Names(config).ecs_cluster(env)}-{service.name}")
                if ecs_service
                else None
            )
        balancer = PublicLoadBalancer(
            self,
            "LoadBalancer",
            vpc=network.vpc,
            certificate_arn=env.certificate_arn,
            ports=[service.port],
            test_listener=ecs_service,
        )
        return LoadBalancerRefs.of(balancer), cluster, network.private_subnets
