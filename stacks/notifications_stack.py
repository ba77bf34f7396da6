"""NotificationsStack (tooling account): platform events -> Microsoft Teams (Workflows webhooks).

One EventBridge rule per event kind the config routes, each scoped to the platform's own
pipelines, projects, deployments and repositories, with one target per channel: a lambda
channel's FIFO queue (the notifier drains it at the webhook's rate into Adaptive Cards with
facts and links, retries, idempotency and burst summaries), an API destination (a simple card
built by an input transformer), or an Amazon Q Developer topic (AWS's own notifications in
Teams, through the Amazon Q app). Webhook URLs live
in Secrets Manager, one secret per channel, stored there with `python -m tools.teams_webhook`;
no URL is ever in a template, an environment variable or a log. The API destinations are kept
on their secrets by TeamsApiDestinations (docs/adr/0002).
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration, SecretValue, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from cdk_constructs.amazon_q_teams import AmazonQTeamsChannel
from cdk_constructs.dead_letter_queue import DeadLetterQueue, admit_rules
from cdk_constructs.delivery_dashboard import DeliveryDashboard
from cdk_constructs.log_retention import retention
from cdk_constructs.nag import acknowledge
from cdk_constructs.notification_patterns import amazon_q_input, event_patterns, simple_card_input
from cdk_constructs.pipeline_watcher import PipelineWatcher
from cdk_constructs.secure_defaults import RETAINED, retained_key
from cdk_constructs.teams_api_destinations import TeamsApiDestinations, TeamsChannelDestination
from cdk_constructs.teams_notifier import NotifierChannel, TeamsNotifier
from config.model import Channel, PlatformConfig
from config.names import Names
from stacks.cross_account_stack import CODEDEPLOY_DEPLOYMENT_EVENT

# What a channel's secret holds until someone stores the webhook URL in it.
WEBHOOK_PLACEHOLDER = '{"url": ""}'
# What EventBridge does with an event it cannot deliver to a target: 8 retries within 6 hours, then
# the UndeliveredEvents queue.
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE = Duration.hours(6)


# RuleTargetConfig's fields other than arn and the two this stack sets.
_TARGET_FIELDS = (
    "app_sync_parameters",
    "batch_parameters",
    "ecs_parameters",
    "http_parameters",
    "input",
    "kinesis_parameters",
    "redshift_data_parameters",
    "role",
    "run_command_parameters",
    "sqs_parameters",
    "target_resource",
)


@jsii.implements(events.IRuleTarget)
class DeliveredTarget:
    """`inner` with the rule's retry policy and dead-letter queue set here.

    aws-cdk-lib's targets add one SQS policy statement per rule to the queues they name (target and
    dead-letter queue); an SQS policy holds at most 20 statements, so the stack grants EventBridge
    once per queue for every notification rule (`admit_rules`) and the targets add nothing.
    """

    def __init__(self, inner: events.IRuleTarget, dead_letters: sqs.IQueue) -> None:
        self.inner = inner
        self.dead_letters = dead_letters

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        config = self.inner.bind(rule, id)
        kept = {name: getattr(config, name) for name in _TARGET_FIELDS if getattr(config, name) is not None}
        return events.RuleTargetConfig(
            arn=config.arn,
            **kept,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=TARGET_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(TARGET_MAX_EVENT_AGE.to_seconds()),
            ),
        )


@jsii.implements(events.IRuleTarget)
class FifoQueueTarget:
    """An SQS FIFO queue as a rule target, in one message group; the queue's policy is granted by the stack."""

    def __init__(self, queue: sqs.IQueue, message_group_id: str) -> None:
        self.queue = queue
        self.message_group_id = message_group_id

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self.queue.queue_arn,
            target_resource=self.queue,
            sqs_parameters=events.CfnRule.SqsParametersProperty(message_group_id=self.message_group_id),
        )


class NotificationsStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = config
        self.names = Names(config)
        self.bus_policies = self._accept_target_account_events(config)

        notifications = config.notifications
        lambda_channels = [c for c in notifications.channels if c.delivery == "lambda"]
        api_channels = [c for c in notifications.channels if c.delivery == "api_destination"]
        amazon_q_channels = [c for c in notifications.channels if c.delivery == "amazon_q"]
        self.rules: dict[str, events.Rule] = {}
        self.secrets: dict[str, secretsmanager.ISecret] = {}
        if not notifications.channels:
            return

        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/{config.name}/notifications",
            description=f"Encrypts {config.name}'s webhook secrets, queues, idempotency table and topics",
        )
        self.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey", "kms:Decrypt")
        self.secrets = {c.name: self._webhook_secret(c) for c in notifications.channels if c.has_webhook}
        rules_arn = f"arn:aws:events:{self.region}:{self.account}:rule/{self.names.notification_rule_prefix}*"

        # Events EventBridge could not deliver after its retries (to a queue, an API destination or a topic).
        self.alarms: list[cloudwatch.Alarm] = []
        self.undelivered = self._dead_letters("UndeliveredEvents", "the notification rules (EventBridge delivery)")
        admit_rules(self.undelivered, "NotificationRules", rules_arn, account=self.account)

        self.notifier: TeamsNotifier | None = None
        self.dashboard: DeliveryDashboard | None = None
        if lambda_channels:
            self.notifier = self._notifier(lambda_channels)
            self.dashboard = DeliveryDashboard(
                self,
                "DeliveryDashboard",
                dashboard_name=self.names.delivery_dashboard,
                platform=config.name,
                notifier_logs=self.notifier.function.log_group,
            )
            for queue in self.notifier.queues.values():
                admit_rules(queue, "NotificationRules", rules_arn, account=self.account)
        self.watcher: PipelineWatcher | None = None
        if "pipeline_stuck" in notifications.selected_kinds():
            self.watcher = PipelineWatcher(
                self,
                "PipelineWatcher",
                function_name=self.names.pipeline_watcher_function,
                prefix=f"{self.names.prefix}-",
                stuck_after=Duration.minutes(notifications.stuck_after_minutes),
                log_retention=retention(config.log_retention_days),
                dead_letters=self._dead_letters("WatcherFailures", "the pipeline watcher (schedule and failed runs)"),
            )
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
                        rate_limit_per_second=int(c.rate_limit_per_second),
                    )
                    for c in api_channels
                ],
                function_name=self.names.teams_destinations_function,
                name_prefix=self.names.teams_api_destination_prefix,
                log_retention=retention(config.log_retention_days),
            ).destinations
        self.amazon_q: dict[str, AmazonQTeamsChannel] = {
            c.name: self._amazon_q_channel(c) for c in amazon_q_channels if c.amazon_q is not None
        }

        patterns = event_patterns(self.names)
        for kind in notifications.selected_kinds():
            channels = notifications.channels_for(kind)
            targets: list[events.IRuleTarget] = []
            for channel in notifications.channels:
                if channel.name not in channels:
                    continue
                if self.notifier is not None and channel.name in self.notifier.queues:
                    target: events.IRuleTarget = FifoQueueTarget(self.notifier.queues[channel.name], channel.name)
                elif channel.name in self.api_destinations:
                    paths, template = simple_card_input(patterns[kind]["detail-type"][0])
                    target = event_targets.ApiDestination(
                        self.api_destinations[channel.name],
                        event=events.RuleTargetInput.from_object(_with_event_fields(template, paths)),
                    )
                else:
                    paths, document = amazon_q_input(patterns[kind]["detail-type"][0])
                    target = event_targets.SnsTopic(
                        self.amazon_q[channel.name].topic,
                        message=events.RuleTargetInput.from_object(_with_event_fields(document, paths)),
                    )
                targets.append(DeliveredTarget(target, self.undelivered))
            self.rules[kind] = events.Rule(
                self,
                f"Notify-{kind}",
                rule_name=f"{self.names.notification_rule_prefix}{kind}",
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
            channels=[
                NotifierChannel(
                    name=c.name,
                    secret=self.secrets[c.name],
                    queue_name=self.names.notification_queue(c),
                    dead_letter_queue_name=self.names.notification_dead_letter_queue(c),
                    rate_limit_per_second=c.rate_limit_per_second,
                )
                for c in channels
            ],
            routes={
                kind: [c for c in notifications.channels_for(kind) if c in names_of_lambda_channels]
                for kind in notifications.selected_kinds()
            },
            environments=environments,
            key=self.key,
            log_retention=retention(config.log_retention_days),
            pipelines_arn=f"arn:aws:codepipeline:{config.tooling.region}:{config.tooling.account}:{self.names.prefix}-*",
            burst_summary_after=notifications.burst_summary_after,
            freezes=[f.notice() for f in config.freezes],
        )
        self.alarms.extend(notifier.alarms)
        return notifier

    def _amazon_q_channel(self, channel: Channel) -> AmazonQTeamsChannel:
        settings = channel.amazon_q
        assert settings is not None  # the config requires it for delivery: amazon_q
        return AmazonQTeamsChannel(
            self,
            f"AmazonQ-{channel.name}",
            platform_name=self.config.name,
            channel=channel.name,
            team_id=settings.team_id,
            channel_id=settings.channel_id,
            tenant_id=settings.tenant_id,
            key=self.key,
        )


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
