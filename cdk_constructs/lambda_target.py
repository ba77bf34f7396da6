"""Lambda deployment target: function + alias `live` + CodeDeploy Lambda deployment group + traffic hooks."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.ec2_target import AUTO_ROLLBACK
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import acknowledge, logical_id
from cdk_constructs.rollback_alarms import RollbackAlarms
from config.model import AlarmThresholds, LambdaSettings

ALIAS = "live"


class LambdaCanaryTarget(Construct):
    """The service function behind alias `live`; CodeDeploy shifts the alias between versions.

    Pre- and post-traffic hooks invoke the new version (then the alias) with the configured
    test payload and report to CodeDeploy; alarms on the alias's errors and throttles roll back.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        settings: LambdaSettings,
        thresholds: AlarmThresholds,
        function_name: str,
        pre_hook_name: str,
        post_hook_name: str,
        application_name: str,
        deployment_group_name: str,
        deployment_config: codedeploy.ILambdaDeploymentConfig,
        codedeploy_role: iam.IRole,
        log_retention: logs.RetentionDays,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, id_)
        self.service = PlatformFunction(
            self,
            "Service",
            function_name=function_name,
            description=f"{function_name}: the service (code deployed by its pipeline)",
            code_folder="service_bootstrap",
            handler="app.handler",
            timeout=Duration.seconds(settings.timeout_seconds),
            memory_size=settings.memory_mib,
            log_retention=log_retention,
            environment=environment,
            powertools=False,  # the service's own code brings its own dependencies
        )
        function = self.service.function
        acknowledge(
            function,
            "Serverless-LambdaDLQ",
            "The service is invoked synchronously by its callers, which receive its errors; an asynchronous "
            "dead-letter queue would never be used.",
        )
        self.alias = lambda_.Alias(self, "Live", alias_name=ALIAS, version=function.current_version)

        hook_timeout = Duration.seconds(min(settings.timeout_seconds + 60, 900))
        hook_environment = {
            "FUNCTION_NAME": function_name,
            "ALIAS": ALIAS,
            "TEST_PAYLOAD": json.dumps(settings.test_payload, sort_keys=True),
        }
        # One role for both hooks: they do the same thing at two points of the deployment.
        self.hook_role = iam.Role(
            self,
            "HookRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"CodeDeploy traffic hooks of {function_name}: invoke it, report to CodeDeploy",
        )
        pre = self._hook("PreTrafficHook", pre_hook_name, "pre", hook_timeout, hook_environment, log_retention)
        post = self._hook("PostTrafficHook", post_hook_name, "post", hook_timeout, hook_environment, log_retention)
        self.pre_hook, self.post_hook = pre.function, post.function
        function.grant_invoke(self.pre_hook)  # the new version, by qualified ARN
        function.grant_invoke(self.post_hook)  # the alias, once traffic has moved

        self.alarms = RollbackAlarms(self, "Alarms", thresholds=thresholds, name_prefix=deployment_group_name)
        period = self.alarms.period
        self.alarms.add(
            "alias-errors",
            self.alias.metric_errors(period=period, statistic="Sum"),
            thresholds.lambda_errors,
            f"{function_name}:{ALIAS} raises errors",
        )
        self.alarms.add(
            "alias-throttles",
            self.alias.metric_throttles(period=period, statistic="Sum"),
            thresholds.lambda_throttles,
            f"{function_name}:{ALIAS} is throttled",
        )

        self.application = codedeploy.LambdaApplication(self, "Application", application_name=application_name)
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            deployment_group_name=deployment_group_name,
            alias=self.alias,
            deployment_config=deployment_config,
            pre_hook=self.pre_hook,
            post_hook=self.post_hook,
            alarms=self.alarms.alarms,
            auto_rollback=AUTO_ROLLBACK,
            # The environment's CodeDeploy role for Lambda (foundation), allowed to invoke the hooks by name.
            role=codedeploy_role,
        )
        # The pre-traffic hook reads the deployment's AppSpec to find the version to test.
        self.pre_hook.add_to_role_policy(
            iam.PolicyStatement(
                actions=["codedeploy:GetDeployment"],
                resources=[self.deployment_group.deployment_group_arn],
            )
        )
        for grantee, target in ((self.hook_role, function),):
            acknowledge(
                grantee,
                f"AwsSolutions-IAM5[Resource::<{logical_id(target)}.Arn>:*]",
                "Invoke permission on the versions and aliases of one function (a qualified ARN), which is how "
                "hooks reach the version under test and CodeDeploy reaches the hooks.",
            )

    def _hook(
        self,
        id_: str,
        name: str,
        stage: str,
        timeout: Duration,
        environment: dict[str, str],
        log_retention: logs.RetentionDays,
    ) -> PlatformFunction:
        hook = PlatformFunction(
            self,
            id_,
            function_name=name,
            description=f"CodeDeploy {stage}-traffic hook: invokes the service and reports the result",
            code_folder="traffic_hook",
            handler="traffic_hook.handler",
            timeout=timeout,
            log_retention=log_retention,
            environment={**environment, "HOOK_STAGE": stage},
            role=self.hook_role,
        )
        acknowledge(
            hook.function,
            "Serverless-LambdaDLQ",
            "CodeDeploy waits for the hook's report and fails (and rolls back) the deployment when none "
            "comes; a dead-letter queue would add nothing to act on.",
        )
        return hook
