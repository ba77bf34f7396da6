"""ServiceStack: one per service and environment, in that environment's account."""

from __future__ import annotations

from typing import Any

from aws_cdk import Fn, Stack
from constructs import Construct

from cdk_constructs.custom_resource_provider import service_token_arn
from cdk_constructs.deployment_configs import (
    custom_config_name,
    ecs_deployment_config,
    lambda_deployment_config,
    server_deployment_config,
)
from cdk_constructs.ec2_target import Ec2InPlaceTarget
from cdk_constructs.ecs_target import EcsBlueGreenTarget
from cdk_constructs.lambda_target import LambdaCanaryTarget
from cdk_constructs.log_retention import retention
from cdk_constructs.service_network import ServiceNetwork
from config.model import Environment, ImportedNetwork, NewNetwork, PlatformConfig, Service
from config.names import Names


class ServiceStack(Stack):
    """Where a service runs in one environment, and the CodeDeploy deployment group its pipeline targets."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: PlatformConfig,
        service: Service,
        environment: Environment,
        **kwargs: Any,
    ) -> None:
        region = config.region_of(environment)
        self._azs = availability_zones(environment.network, region)
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        env = environment
        log_retention = retention(config.log_retention_days)
        spec = service.deployment_config_for(env.name)
        config_name = custom_config_name(names.deployment_group(service, env), spec)
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
                log_retention=log_retention,
                environment={"SERVICE_NAME": service.name, "ENVIRONMENT": env.name},
            )
            return

        self.network = ServiceNetwork(
            self, "Network", network=env.network, availability_zones=self._azs, log_retention=log_retention
        )
        if service.platform == "ec2":
            settings = service.ec2_settings
            self.target = Ec2InPlaceTarget(
                self,
                "Ec2",
                vpc=self.network.vpc,
                private_subnets=self.network.private_subnets,
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
                certificate_arn=env.certificate_arn,
            )
            return

        self.target = EcsBlueGreenTarget(
            self,
            "Ecs",
            vpc=self.network.vpc,
            private_subnets=self.network.private_subnets,
            settings=service.ecs_settings,
            thresholds=service.alarms,
            cluster_name=names.ecs_cluster(service, env),
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
            certificate_arn=env.certificate_arn,
            listener_traffic_token=service_token_arn(region, env.account, names.listener_traffic_function(env)),
        )

    @property
    def availability_zones(self) -> list[str]:
        """The configured AZs: without this override CDK would look them up in the account (synth calls AWS)."""
        return self._azs


def availability_zones(network: ImportedNetwork | NewNetwork, region: str) -> list[str]:
    """AZs named in the config, else the region's first two, resolved by CloudFormation (Fn::GetAZs)."""
    if network.availability_zones:
        return list(network.availability_zones)
    return [Fn.select(index, Fn.get_azs(region)) for index in range(2)]
