"""NotificationsStack (tooling account): platform events -> Microsoft Teams (Workflows webhooks).

One EventBridge rule per event kind the config routes, each scoped to the platform's own
pipelines, projects, deployments and repositories. Rules deliver to the notifier Lambda
(Adaptive Cards with facts and links, retries, idempotency) and/or straight to an API
destination (a simple card built by an input transformer), per channel. Webhook URLs live
in Secrets Manager, one secret per channel, stored there with `python -m tools.teams_webhook`;
no URL is ever in a template, an environment variable or a log. The API destinations are kept
on their secrets by TeamsApiDestinations (docs/adr/0002).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import SecretValue, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs.dead_letter_queue import DeadLetterQueue, retried_delivery
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge
from cdk_constructs.notification_patterns import event_patterns, simple_card_input
from cdk_constructs.secure_defaults import RETAINED, retained_key
from cdk_constructs.teams_api_destinations import TeamsApiDestinations, TeamsChannelDestination
from cdk_constructs.teams_notifier import TeamsNotifier
from config.model import Channel, PlatformConfig
from config.names import Names
from stacks.cross_account_stack import CODEDEPLOY_DEPLOYMENT_EVENT

# What a channel's secret holds until someone stores the webhook URL in it.
WEBHOOK_PLACEHOLDER = '{"url": ""}'
# Posts per second EventBridge sends to one Teams webhook (Teams throttles bursts with 429).
API_DESTINATION_RATE_PER_SECOND = 2


class NotificationsStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = config
        self.names = Names(config)
        self.bus_policies = self._accept_target_account_events(config)

        notifications = config.notifications
        lambda_channels = [c for c in notifications.channels if c.delivery == "lambda"]
        api_channels = [c for c in notifications.channels if c.delivery == "api_destination"]
        self.rules: dict[str, events.Rule] = {}
        self.secrets: dict[str, secretsmanager.ISecret] = {}
        if not notifications.channels:
            return

        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/{config.name}/notifications",
            description=f"Encrypts {config.name}'s webhook secrets, idempotency table and dead-letter queues",
        )
        self.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey", "kms:Decrypt")
        self.secrets = {c.name: self._webhook_secret(c) for c in notifications.channels}

        # Events EventBridge could not deliver after its retries (to the function or an API destination).
        self.alarms: list[cloudwatch.Alarm] = []
        self.undelivered = self._dead_letters("UndeliveredEvents", "the notification rules (EventBridge delivery)")

        self.notifier: TeamsNotifier | None = None
        if lambda_channels:
            self.notifier = self._notifier(lambda_channels)
        self.api_destinations: dict[str, events.IApiDestination] = {}
        if api_channels:
            self.api_destinations = TeamsApiDestinations(
                self,
                "TeamsApiDestinations",
                channels=[
                    TeamsChannelDestination(
                        channel=c.name,
                        name=self.names.teams_api_destination(c),
                        secret=self.secrets[c.name],
                        secret_id=c.secret_name or self.secrets[c.name].secret_arn,
                        secret_name=self.secret_name(c),
                        rate_limit_per_second=API_DESTINATION_RATE_PER_SECOND,
                    )
                    for c in api_channels
                ],
                function_name=self.names.teams_destinations_function,
                name_prefix=self.names.teams_api_destination_prefix,
                log_retention=retention(config.log_retention_days),
            ).destinations

        patterns = event_patterns(self.names)
        for kind in notifications.selected_kinds():
            channels = notifications.channels_for(kind)
            targets: list[events.IRuleTarget] = []
            if self.notifier is not None and any(c.name in channels for c in lambda_channels):
                targets.append(
                    event_targets.LambdaFunction(
                        self.notifier.function.function,
                        **retried_delivery(self.undelivered),
                    )
                )
            for channel in api_channels:
                if channel.name in channels:
                    paths, template = simple_card_input(patterns[kind]["detail-type"][0])
                    targets.append(
                        event_targets.ApiDestination(
                            self.api_destinations[channel.name],
                            **retried_delivery(self.undelivered),
                            event=events.RuleTargetInput.from_object(_with_event_fields(template, paths)),
                        )
                    )
            self.rules[kind] = events.Rule(
                self,
                f"Notify-{kind}",
                rule_name=f"{config.name}-notify-{kind}",
                description=f"{config.name}: {kind.replace('_', ' ')} -> {', '.join(channels)}",
                event_pattern=_pattern(patterns[kind]),
                targets=targets,
            )

    # ----- the tooling bus accepts deployment events from the target accounts -----

    def _accept_target_account_events(self, config: PlatformConfig) -> list[events.CfnEventBusPolicy]:
        """One statement naming every target account: the bus policy grows ~33 characters per account."""
        tooling = config.tooling.account
        accounts = sorted({e.account for e in config.environments if e.account != tooling})
        if not accounts:
            return []
        return [
            events.CfnEventBusPolicy(
                self,
                "AcceptDeploymentEvents",
                event_bus_name="default",
                statement_id=f"{config.name}-codedeploy-from-target-accounts",
                statement={
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam::{account}:root" for account in accounts]},
                    "Action": "events:PutEvents",
                    "Resource": f"arn:aws:events:{config.tooling.region}:{tooling}:event-bus/default",
                    "Condition": {
                        "StringEquals": {
                            "events:source": "aws.codedeploy",
                            "events:detail-type": CODEDEPLOY_DEPLOYMENT_EVENT,
                        }
                    },
                },
            )
        ]

    # ----- building blocks -----

    def _webhook_secret(self, channel: Channel) -> secretsmanager.ISecret:
        """The channel's webhook URL: an existing secret named in the config, or one created here."""
        if channel.secret_name:
            return secretsmanager.Secret.from_secret_name_v2(self, f"Webhook-{channel.name}", channel.secret_name)
        secret = secretsmanager.Secret(
            self,
            f"Webhook-{channel.name}",
            secret_name=self.secret_name(channel),
            description=f"Microsoft Teams Workflows webhook URL of the {channel.name} channel "
            "(store it with python -m tools.teams_webhook; until then the value holds no URL)",
            # A placeholder, not a secret: the notifier and the API destination treat it as "no URL yet".
            secret_string_value=SecretValue.unsafe_plain_text(WEBHOOK_PLACEHOLDER),
            encryption_key=self.key,
            removal_policy=RETAINED,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "A Teams Workflows webhook URL is issued by Teams and cannot be rotated by a Lambda; replace it "
            "in the secret when the workflow is recreated.",
        )
        return secret

    def secret_name(self, channel: Channel) -> str:
        return self.names.webhook_secret(channel)

    def _dead_letters(self, id_: str, purpose: str) -> sqs.Queue:
        dead_letters = DeadLetterQueue(
            self,
            id_,
            purpose=purpose,
            alarm_name=f"{self.config.name}-notifications-{id_}",
            encryption_key=self.key,
        )
        self.alarms.append(dead_letters.alarm)
        return dead_letters.queue

    def _notifier(self, channels: list[Channel]) -> TeamsNotifier:
        config, notifications = self.config, self.config.notifications
        names_of_lambda_channels = {c.name for c in channels}
        environments: dict[str, str] = {config.tooling.account: "tooling"}
        for env in config.environments:
            environments[env.account] = (
                f"{environments[env.account]}/{env.name}" if env.account in environments else env.name
            )
        notifier = TeamsNotifier(
            self,
            "TeamsNotifier",
            platform_name=config.name,
            routes={
                kind: [c for c in notifications.channels_for(kind) if c in names_of_lambda_channels]
                for kind in notifications.selected_kinds()
            },
            secrets={c.name: self.secrets[c.name] for c in channels},
            environments=environments,
            key=self.key,
            log_retention=retention(config.log_retention_days),
            pipelines_arn=f"arn:aws:codepipeline:{config.tooling.region}:{config.tooling.account}:{self.names.prefix}-*",
        )
        self.alarms.extend(notifier.alarms)
        return notifier


def _pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """The CDK form of a JSON pattern (CDK types `resources` as strings: matchers go through Match)."""
    resources = pattern.get("resources")
    if resources and isinstance(resources[0], dict):
        (matcher,) = resources
        resources = events.Match.prefix(matcher["prefix"])
    return events.EventPattern(
        source=pattern.get("source"),
        detail_type=pattern.get("detail-type"),
        resources=resources,
        detail=pattern.get("detail"),
    )


def _with_event_fields(node: Any, paths: dict[str, str], fields: dict[str, str] | None = None) -> Any:
    """`node` with every <placeholder> in its strings replaced by the EventBridge field it names."""
    fields = {} if fields is None else fields
    if isinstance(node, dict):
        return {key: _with_event_fields(value, paths, fields) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_event_fields(value, paths, fields) for value in node]
    if isinstance(node, str):
        for key, path in paths.items():
            if f"<{key}>" in node:
                if path not in fields:  # one jsii call per path, not per string
                    fields[path] = events.EventField.from_path(path)
                node = node.replace(f"<{key}>", fields[path])
    return node
