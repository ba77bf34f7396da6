"""`PlatformProvider`: a custom-resource handler of ours behind aws-cdk-lib's provider framework.

The framework answers CloudFormation (the presigned response URL, timeouts, failures), so the
handler only returns {"PhysicalResourceId", "Data"} or raises. Both functions get deterministic
names, so stacks other than the one that holds them can use `service_token` by ARN.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import acknowledge, acknowledge_all, logical_id
from cdk_constructs.secure_defaults import RETAINED


def provider_function_name(function_name: str) -> str:
    return f"{function_name}-provider"


def service_token_arn(region: str, account: str, function_name: str) -> str:
    """The service token of the PlatformProvider whose handler is `function_name`, by ARN."""
    return f"arn:aws:lambda:{region}:{account}:function:{provider_function_name(function_name)}"


class PlatformProvider(Construct):
    """The handler (`function`, a PlatformFunction from lambda/<folder>) and the framework in front of it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        function_name: str,
        description: str,
        code_folder: str,
        handler: str,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        environment: dict[str, str] | None = None,
        invoked_directly: str = "",
    ) -> None:
        super().__init__(scope, id_)
        self.function = PlatformFunction(
            self,
            "Function",
            function_name=function_name,
            description=description,
            code_folder=code_folder,
            handler=handler,
            timeout=timeout,
            log_retention=log_retention,
            environment=environment,
        )
        self.role = self.function.role
        acknowledge(
            self.function.function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously only (by the provider framework"
            + (f", and {invoked_directly}" if invoked_directly else "")
            + "): each caller gets the error; there is no asynchronous event to keep.",
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function.function,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=log_retention, removal_policy=RETAINED),
            provider_function_name=provider_function_name(function_name),
        )
        self.service_token = self.provider.service_token
        acknowledge_all(
            self.provider,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": (
                    "aws-cdk-lib's provider framework function writes its own logs with AWS's basic execution "
                    "policy; it does nothing else but invoke the handler."
                ),
                f"AwsSolutions-IAM5[Resource::<{logical_id(self.function.function)}.Arn>:*]": (
                    "The provider invokes the handler's versions and aliases (a qualified ARN of one function)."
                ),
                "AwsSolutions-L1": (
                    "The provider framework's Node.js runtime is chosen and updated by aws-cdk-lib with each release."
                ),
                "Serverless-LambdaTracing": (
                    "aws-cdk-lib's provider framework offers no tracing setting; the handler it calls is traced."
                ),
                "Serverless-LambdaDLQ": (
                    "CloudFormation invokes the provider synchronously and fails the deployment on error; there "
                    "is no asynchronous event to keep."
                ),
                "Serverless-LambdaDefaultMemorySize": "aws-cdk-lib sizes its provider framework function.",
            },
        )
