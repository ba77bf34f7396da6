"""`TeamsNotifier`: the function that turns platform events into Teams Adaptive Cards, and its queues.

Each channel has its own SQS FIFO queue: the notification rules put events there, and the queue's
single message group (the channel) makes Lambda hand the function one batch at a time per channel,
so the function can post at the webhook's rate (docs/adr/0007). Beside them: the idempotency table
(an event posts once per channel, redeliveries and redrives included), a FIFO dead-letter queue per
channel (after `MAX_RECEIVES` receives, or at once for a card the webhook refuses), and alarms on
errors, dead letters and a channel falling behind. The function reads each channel's webhook URL
from the channel's secret when it posts; no URL is in the template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs.dead_letter_queue import DeadLetterQueue
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import acknowledge, acknowledge_all, acknowledge_grant_wildcards
from cdk_constructs.secure_defaults import RETAINED
from config.names import PULL_REQUEST_PROJECT_SUFFIX

# One invocation posts at most a batch of 10 (SQS FIFO's maximum for Lambda) at the channel's rate,
# and keeps retrying through a Teams outage of up to about this long before it gives the rest back.
FUNCTION_TIMEOUT = Duration.minutes(2)
# AWS: a queue's visibility timeout should be at least six times the function's timeout.
VISIBILITY_TIMEOUT = Duration.minutes(12)
# Receives before SQS moves a message to the channel's dead-letter queue: about an hour of outage
# (5 x 12 minutes) on top of each invocation's own retries.
MAX_RECEIVES = 5
BATCH_SIZE = 10
# Queued events are kept this long (SQS's maximum); a dead-letter queue keeps them 14 days too.
QUEUE_RETENTION = Duration.days(14)
# An idempotency record outlives a dead letter, so a redrive never posts twice.
IDEMPOTENCY_TTL_SECONDS = 15 * 86400
# A channel whose oldest queued event is older than this is falling behind.
BACKLOG_ALARM_SECONDS = 15 * 60


def compact_json(value: Any) -> str:
    """Environment values: sorted and without spaces (4 KB for all of a function's variables)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class NotifierChannel:
    """A lambda channel: its webhook secret, its queues' names and its posts per second."""

    name: str
    secret: secretsmanager.ISecret
    queue_name: str
    dead_letter_queue_name: str
    rate_limit_per_second: float


class TeamsNotifier(Construct):
    """The notifier function (`function`), its `table`, its `queues` and `dead_letters` by channel, and its `alarms`.

    routes: event kind -> the channels that receive it (each must be one of `channels`).
    environments: account -> the environment names shown on cards.
    pipelines_arn: the ARN pattern of the platform's pipelines (the notifier reads an execution's commit).
    burst_summary_after: cards of one kind per channel per minute before a burst is summarized (None: never).
    freezes: the config's change freezes (`Freeze.notice()`), so a failed Deploy-<env> card says why and until when.
    code: the function's code, for tests (default: lambda/teams_notifier).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        platform_name: str,
        channels: Sequence[NotifierChannel],
        routes: Mapping[str, list[str]],
        environments: Mapping[str, str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        pipelines_arn: str,
        burst_summary_after: int | None = 10,
        freezes: Sequence[Mapping[str, object]] = (),
        pull_request_project_suffix: str = PULL_REQUEST_PROJECT_SUFFIX,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if not channels:
            raise ValueError("TeamsNotifier: no channel to post to; allowed: at least one channel with a secret")
        names = [c.name for c in channels]
        unknown = sorted({c for routed in routes.values() for c in routed} - set(names))
        if unknown:
            raise ValueError(f"TeamsNotifier: routes name {unknown}, which are not channels; allowed: {sorted(names)}")

        self.table = dynamodb.TableV2(
            self,
            "Deliveries",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute="expires_at",
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RETAINED,
        )
        self.alarms: list[cloudwatch.Alarm] = []
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letters: dict[str, sqs.Queue] = {}
        for channel in channels:
            dead_letters = DeadLetterQueue(
                self,
                f"DeadLetters-{channel.name}",
                purpose=f"the {channel.name} channel's queue (cards not posted)",
                alarm_name=f"{platform_name}-notifications-{channel.name}-dead-letters",
                encryption_key=key,
                queue_name=channel.dead_letter_queue_name,
                fifo=True,
            )
            self.alarms.append(dead_letters.alarm)
            self.dead_letters[channel.name] = dead_letters.queue
            queue = sqs.Queue(
                self,
                f"Queue-{channel.name}",
                queue_name=channel.queue_name,
                fifo=True,
                # EventBridge sets no deduplication id: a FIFO target needs content-based deduplication.
                content_based_deduplication=True,
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=key,
                # Reused for 5 minutes: one GenerateDataKey per 5 minutes, not per message.
                data_key_reuse=Duration.minutes(5),
                enforce_ssl=True,
                retention_period=QUEUE_RETENTION,
                visibility_timeout=VISIBILITY_TIMEOUT,
                dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters.queue, max_receive_count=MAX_RECEIVES),
            )
            self.queues[channel.name] = queue
            self.alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"Backlog-{channel.name}",
                    alarm_name=f"{platform_name}-notifications-{channel.name}-backlog",
                    alarm_description=f"The {channel.name} channel's oldest queued event is more than "
                    f"{BACKLOG_ALARM_SECONDS // 60} minutes old (Teams down, throttling, or a refused webhook)",
                    metric=queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(5), statistic="Max"),
                    threshold=BACKLOG_ALARM_SECONDS,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )

        self.function = PlatformFunction(
            self,
            "Notifier",
            description=f"Posts {platform_name} pipeline, build, deployment and pull-request events to Teams",
            code_folder="teams_notifier",
            code=code,
            handler="notifier.handler",
            timeout=FUNCTION_TIMEOUT,
            log_retention=log_retention,
            environment={
                "PLATFORM_NAME": platform_name,
                "ROUTES": compact_json({kind: routed for kind, routed in routes.items() if routed}),
                "CHANNEL_SECRETS": compact_json({c.name: c.secret.secret_arn for c in channels}),
                "FALLBACK_CHANNELS": compact_json(sorted(names)),
                "CHANNEL_QUEUES": compact_json({c.queue_name: c.name for c in channels}),
                "DEAD_LETTER_QUEUES": compact_json({c.name: self.dead_letters[c.name].queue_url for c in channels}),
                "RATE_LIMITS": compact_json({c.name: c.rate_limit_per_second for c in channels}),
                "BURST_SUMMARY_AFTER": str(burst_summary_after or 0),
                **({"FREEZES": compact_json(list(freezes))} if freezes else {}),
                "IDEMPOTENCY_TABLE": self.table.table_name,
                "IDEMPOTENCY_TTL_SECONDS": str(IDEMPOTENCY_TTL_SECONDS),
                "ENVIRONMENTS": compact_json(dict(environments)),
                "HTTP_TIMEOUT_SECONDS": "5",
                "PULL_REQUEST_PROJECT_SUFFIX": pull_request_project_suffix,
            },
        )
        function = self.function.function
        for queue in self.queues.values():
            # Grants receive, delete and change-visibility on the queue, and decrypt with its key.
            function.add_event_source(
                event_sources.SqsEventSource(queue, batch_size=BATCH_SIZE, report_batch_item_failures=True)
            )
        role = self.function.role
        for channel in channels:
            channel.secret.grant_read(role)
            # A card the webhook refuses is parked at once, so it does not hold up the channel.
            self.dead_letters[channel.name].grant_send_messages(role)
        self.table.grant_read_write_data(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPlatformPipelineExecutions",
                actions=["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"],
                resources=[pipelines_arn],
            )
        )
        acknowledge(
            self.function,
            f"AwsSolutions-IAM5[Resource::{pipelines_arn}]",
            "The platform's pipelines, all named <platform>-<service>: the notifier reads an execution's commit "
            "and a waiting approval's link.",
        )
        acknowledge_all(
            self.function,
            {
                "Serverless-LambdaDLQ": "The function is invoked only by SQS event source mappings; what it cannot "
                "post stays in, or is moved to, each channel's FIFO dead-letter queue (redrive policy).",
                "Serverless-LambdaEventSourceMappingDestination": "An SQS event source mapping takes no on-failure "
                "destination (that is for streams and Kafka); each queue's redrive policy moves a message to the "
                "channel's FIFO dead-letter queue after 5 receives; the notifier parks refused cards there at once.",
            },
        )
        acknowledge_grant_wildcards(self.function)
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "Errors",
            alarm_name=f"{platform_name}-notifications-errors",
            alarm_description="The Teams notifier raised errors (its batch returns to the channel's queue)",
            metric=function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms.append(self.errors_alarm)
