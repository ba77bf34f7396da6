"""`TeamsApiDestinations`: EventBridge API destinations for Teams channels, kept on the URL in each secret.

A CloudFormation-native AWS::Events::ApiDestination would need the webhook URL in its template:
as a literal it would leak, and as a dynamic reference CloudFormation resolves it once, when the
secret holds no URL yet, and never again for an unchanged template. So a small function
(lambda/teams_destinations) owns each channel's connection and destination: CloudFormation calls
it through aws-cdk-lib's custom-resource provider framework on every deploy, and
`python -m tools.teams_webhook` calls it after storing a new URL (docs/adr/0002).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import acknowledge, acknowledge_all, allow, logical_id
from cdk_constructs.secure_defaults import RETAINED

LAMBDA_DIR = Path(__file__).resolve().parent.parent / "lambda"


@dataclass(frozen=True)
class TeamsChannelDestination:
    channel: str
    name: str  # of its EventBridge connection and API destination
    secret: secretsmanager.ISecret
    secret_id: str  # what GetSecretValue is called with: the secret's ARN, or the name of one the config names
    rate_limit_per_second: int


class TeamsApiDestinations(Construct):
    """One function and provider for all api_destination channels; `destinations` by channel name."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        channels: list[TeamsChannelDestination],
        function_name: str,
        name_prefix: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        properties = {
            c.channel: {
                "Channel": c.channel,
                "Name": c.name,
                "SecretId": c.secret_id,
                "Description": f"Teams {c.channel} channel (endpoint and signature from {c.secret_id.split(':')[-1]})",
                "RateLimitPerSecond": c.rate_limit_per_second,
            }
            for c in channels
        }
        self.function = PlatformFunction(
            self,
            "Function",
            function_name=function_name,
            description="Keeps the Teams API destinations on the webhook URLs in their secrets",
            code_dir=LAMBDA_DIR / "teams_destinations",
            handler="teams_destinations.handler",
            timeout=Duration.minutes(2),
            log_retention=log_retention,
            environment={"CHANNELS": json.dumps(properties, sort_keys=True, separators=(",", ":"))},
        )
        acknowledge(
            self.function.function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously only (by the provider framework, and by tools.teams_webhook): each caller gets "
            "the error; there is no asynchronous event to keep.",
        )
        role = self.function.role
        for channel in channels:
            channel.secret.grant_read(role)
        region, account = stack.region, stack.account
        allow(
            role,
            "ManageTeamsDestinations",
            [
                "events:CreateApiDestination",
                "events:CreateConnection",
                "events:DeleteApiDestination",
                "events:DeleteConnection",
                "events:DescribeApiDestination",
                "events:DescribeConnection",
                "events:UpdateApiDestination",
                "events:UpdateConnection",
            ],
            [
                f"arn:aws:events:{region}:{account}:connection/{name_prefix}*",
                f"arn:aws:events:{region}:{account}:api-destination/{name_prefix}*",
            ],
            f"The platform's Teams connections and API destinations, all named {name_prefix}<channel>.",
        )
        allow(
            role,
            "KeepConnectionSecrets",
            [
                "secretsmanager:CreateSecret",
                "secretsmanager:DeleteSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecret",
            ],
            [f"arn:aws:secretsmanager:{region}:{account}:secret:events!connection/{name_prefix}*"],
            "EventBridge stores a connection's authorization in a secret named events!connection/<name>/<id>, "
            "created with the caller's credentials.",
        )
        allow(
            role,
            "EventBridgeServiceLinkedRole",
            ["iam:CreateServiceLinkedRole"],
            [
                f"arn:aws:iam::{account}:role/aws-service-role/apidestinations.events.amazonaws.com/"
                "AWSServiceRoleForAmazonEventBridgeApiDestinations"
            ],
            "EventBridge creates its API-destinations service-linked role on first use in the account.",
            conditions={"StringEquals": {"iam:AWSServiceName": "apidestinations.events.amazonaws.com"}},
        )

        provider_logs = logs.LogGroup(self, "ProviderLogs", retention=log_retention, removal_policy=RETAINED)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function.function,
            log_group=provider_logs,
            provider_function_name=f"{function_name}-provider",
        )
        self._acknowledge_provider(provider)

        self.destinations: dict[str, events.IApiDestination] = {}
        for channel in channels:
            resource = CustomResource(
                self,
                f"Destination-{channel.channel}",
                service_token=provider.service_token,
                resource_type="Custom::TeamsApiDestination",
                properties=properties[channel.channel],
            )
            # The function must be able to read the secret and manage the pair before CloudFormation calls it.
            resource.node.add_dependency(role)
            connection = events.Connection.from_connection_attributes(
                self,
                f"Connection-{channel.channel}",
                connection_arn=resource.get_att_string("ConnectionArn"),
                connection_name=channel.name,
                connection_secret_arn=resource.get_att_string("ConnectionSecretArn"),
            )
            self.destinations[channel.channel] = events.ApiDestination.from_api_destination_attributes(
                self,
                f"ApiDestination-{channel.channel}",
                api_destination_arn=resource.get_att_string("Arn"),
                connection=connection,
                # IAM addresses an API destination by name; the ARN CloudFormation returns ends in an id.
                api_destination_arn_for_policy=f"arn:aws:events:{region}:{account}:api-destination/{channel.name}",
            )

    def _acknowledge_provider(self, provider: cr.Provider) -> None:
        acknowledge_all(
            provider,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": (
                    "aws-cdk-lib's provider framework function writes its own logs with AWS's basic execution "
                    "policy; it does nothing else but invoke the handler."
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
        acknowledge(
            provider,
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.function.function)}.Arn>:*]",
            "The provider invokes the handler's versions and aliases (a qualified ARN of one function).",
        )
