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

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_constructs.custom_resource_provider import PlatformProvider
from cdk_constructs.nag import allow


@dataclass(frozen=True)
class TeamsChannelDestination:
    channel: str
    name: str  # of its EventBridge connection and API destination
    secret: secretsmanager.ISecret
    secret_id: str  # what GetSecretValue is called with: the secret's ARN, or the name of one the config names
    secret_name: str
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
                "Description": f"Teams {c.channel} channel (its webhook URL is in the secret {c.secret_name})",
                "RateLimitPerSecond": c.rate_limit_per_second,
            }
            for c in channels
        }
        self.provider = PlatformProvider(
            self,
            "Provider",
            function_name=function_name,
            description="Keeps the Teams API destinations on the webhook URLs in their secrets",
            code_folder="teams_destinations",
            handler="teams_destinations.handler",
            timeout=Duration.minutes(2),
            log_retention=log_retention,
            environment={"CHANNELS": json.dumps(properties, sort_keys=True, separators=(",", ":"))},
            invoked_directly="by tools.teams_webhook",
        )
        self.function = self.provider.function
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

        self.destinations: dict[str, events.IApiDestination] = {}
        for channel in channels:
            resource = CustomResource(
                self,
                f"Destination-{channel.channel}",
                service_token=self.provider.service_token,
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
