"""`TeamsNotifier`: the function that turns platform events into Teams Adaptive Cards.

With it: the idempotency table (a duplicate event posts once), the queue that keeps what it
could not post after Lambda's retries, and an alarm on its errors. The function reads each
channel's webhook URL from the channel's secret when it posts; no URL is in the template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from cdk_constructs.dead_letter_queue import ASYNC_RETRY_ATTEMPTS, DeadLetterQueue
from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import acknowledge, acknowledge_grant_wildcards
from cdk_constructs.secure_defaults import RETAINED
from config.names import PULL_REQUEST_PROJECT_SUFFIX


def compact_json(value: Any) -> str:
    """Environment values: sorted and without spaces (4 KB for all of a function's variables)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class TeamsNotifier(Construct):
    """The notifier function (`function`), its `table`, its `failures` queue and its `alarms`.

    routes: event kind -> the channels that receive it (each must have a secret).
    secrets: channel -> the secret holding its webhook URL.
    environments: account -> the environment names shown on cards.
    pipelines_arn: the ARN pattern of the platform's pipelines (the notifier reads an execution's commit).
    code: the function's code, for tests (default: lambda/teams_notifier).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        platform_name: str,
        routes: Mapping[str, list[str]],
        secrets: Mapping[str, secretsmanager.ISecret],
        environments: Mapping[str, str],
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        pipelines_arn: str,
        pull_request_project_suffix: str = PULL_REQUEST_PROJECT_SUFFIX,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, id_)
        if not secrets:
            raise ValueError("TeamsNotifier: no channel to post to; allowed: at least one channel with a secret")
        unknown = sorted({c for channels in routes.values() for c in channels} - set(secrets))
        if unknown:
            raise ValueError(f"TeamsNotifier: routes name {unknown}, which have no secret; allowed: {sorted(secrets)}")

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
        self.failures = DeadLetterQueue(
            self,
            "FunctionFailures",
            purpose="the notifier function (failed posts)",
            alarm_name=f"{platform_name}-notifications-FunctionFailures",
            encryption_key=key,
        )
        self.function = PlatformFunction(
            self,
            "Notifier",
            description=f"Posts {platform_name} pipeline, build, deployment and pull-request events to Teams",
            code_folder="teams_notifier",
            code=code,
            handler="notifier.handler",
            timeout=Duration.seconds(60),
            log_retention=log_retention,
            environment={
                "PLATFORM_NAME": platform_name,
                "ROUTES": compact_json({kind: channels for kind, channels in routes.items() if channels}),
                "CHANNEL_SECRETS": compact_json({name: secret.secret_arn for name, secret in secrets.items()}),
                "FALLBACK_CHANNELS": compact_json(sorted(secrets)),
                "IDEMPOTENCY_TABLE": self.table.table_name,
                "ENVIRONMENTS": compact_json(dict(environments)),
                "HTTP_TIMEOUT_SECONDS": "5",
                "PULL_REQUEST_PROJECT_SUFFIX": pull_request_project_suffix,
            },
            on_failure=destinations.SqsDestination(self.failures.queue),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
        )
        role = self.function.role
        for secret in secrets.values():
            secret.grant_read(role)
        self.table.grant_read_write_data(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPlatformPipelineExecutions",
                actions=["codepipeline:GetPipelineExecution"],
                resources=[pipelines_arn],
            )
        )
        acknowledge(
            self.function,
            f"AwsSolutions-IAM5[Resource::{pipelines_arn}]",
            "The platform's pipelines, all named <platform>-<service>: the notifier reads an execution's commit.",
        )
        acknowledge_grant_wildcards(self.function)
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "Errors",
            alarm_name=f"{platform_name}-notifications-errors",
            alarm_description="The Teams notifier raised errors (failed posts are retried, then dead-lettered)",
            metric=self.function.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms = [self.failures.alarm, self.errors_alarm]
