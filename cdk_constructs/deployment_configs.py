"""Translate the config's deployment configuration (a name or a custom mapping) into CodeDeploy's."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_codedeploy as codedeploy
from constructs import Construct

from config.model import MinimumHealthyHosts, TrafficShift

_SERVER = {
    "OneAtATime": codedeploy.ServerDeploymentConfig.ONE_AT_A_TIME,
    "HalfAtATime": codedeploy.ServerDeploymentConfig.HALF_AT_A_TIME,
    "AllAtOnce": codedeploy.ServerDeploymentConfig.ALL_AT_ONCE,
}
_ECS = {
    "ECSCanary10Percent5Minutes": codedeploy.EcsDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
    "ECSCanary10Percent15Minutes": codedeploy.EcsDeploymentConfig.CANARY_10_PERCENT_15_MINUTES,
    "ECSLinear10PercentEvery1Minutes": codedeploy.EcsDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTES,
    "ECSLinear10PercentEvery3Minutes": codedeploy.EcsDeploymentConfig.LINEAR_10_PERCENT_EVERY_3_MINUTES,
    "ECSAllAtOnce": codedeploy.EcsDeploymentConfig.ALL_AT_ONCE,
}
_LAMBDA = {
    "LambdaCanary10Percent5Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
    "LambdaCanary10Percent10Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_10_MINUTES,
    "LambdaCanary10Percent15Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_15_MINUTES,
    "LambdaCanary10Percent30Minutes": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_30_MINUTES,
    "LambdaLinear10PercentEvery1Minute": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE,
    "LambdaLinear10PercentEvery2Minutes": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_2_MINUTES,
    "LambdaLinear10PercentEvery3Minutes": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_3_MINUTES,
    "LambdaLinear10PercentEvery10Minutes": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_10_MINUTES,
    "LambdaAllAtOnce": codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
}

Spec = str | TrafficShift | MinimumHealthyHosts


def _routing(spec: TrafficShift) -> codedeploy.TrafficRouting:
    interval = Duration.minutes(spec.interval_minutes)
    if spec.type == "canary":
        return codedeploy.TrafficRouting.time_based_canary(interval=interval, percentage=spec.percentage)
    return codedeploy.TrafficRouting.time_based_linear(interval=interval, percentage=spec.percentage)


def custom_deployment_config(scope: Construct, id_: str, platform: str, spec: Spec, name: str) -> Construct:
    """A custom configuration named `name` (the environment foundation creates each once, for every service)."""
    if platform == "ec2" and isinstance(spec, MinimumHealthyHosts):
        healthy = (
            codedeploy.MinimumHealthyHosts.percentage(spec.percent)
            if spec.percent is not None
            else codedeploy.MinimumHealthyHosts.count(spec.count or 0)
        )
        return codedeploy.ServerDeploymentConfig(scope, id_, deployment_config_name=name, minimum_healthy_hosts=healthy)
    if platform == "ecs" and isinstance(spec, TrafficShift):
        return codedeploy.EcsDeploymentConfig(scope, id_, deployment_config_name=name, traffic_routing=_routing(spec))
    if platform == "lambda" and isinstance(spec, TrafficShift):
        return codedeploy.LambdaDeploymentConfig(
            scope, id_, deployment_config_name=name, traffic_routing=_routing(spec)
        )
    raise ValueError(f"{spec!r} is not a custom {platform} deployment configuration")


# A service stack names its configuration: a predefined one, or the foundation's custom one by name.


def server_deployment_config(scope: Construct, spec: Spec, name: str) -> codedeploy.IServerDeploymentConfig:
    if isinstance(spec, str):
        return _SERVER[spec]
    return codedeploy.ServerDeploymentConfig.from_server_deployment_config_name(scope, "DeploymentConfig", name)


def ecs_deployment_config(scope: Construct, spec: Spec, name: str) -> codedeploy.IEcsDeploymentConfig:
    if isinstance(spec, str):
        return _ECS[spec]
    return codedeploy.EcsDeploymentConfig.from_ecs_deployment_config_name(scope, "DeploymentConfig", name)


def lambda_deployment_config(scope: Construct, spec: Spec, name: str) -> codedeploy.ILambdaDeploymentConfig:
    if isinstance(spec, str):
        return _LAMBDA[spec]
    return codedeploy.LambdaDeploymentConfig.from_lambda_deployment_config_name(scope, "DeploymentConfig", name)
