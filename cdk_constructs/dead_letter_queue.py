"""`DeadLetterQueue`: where the platform parks what it could not deliver, and the alarm that says so."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs.nag import acknowledge_all

# Lambda's own retries of a failed asynchronous invocation, before its on-failure destination.
ASYNC_RETRY_ATTEMPTS = 2


def retried_delivery(dead_letters: sqs.IQueue, *, max_event_age: Duration | None = None) -> dict[str, Any]:
    """An EventBridge target's delivery: 8 retries within `max_event_age` (6 hours), then `dead_letters`."""
    return {
        "dead_letter_queue": dead_letters,
        "retry_attempts": 8,
        "max_event_age": max_event_age or Duration.hours(6),
    }


class DeadLetterQueue(Construct):
    """An SQS dead-letter queue (TLS only, 14 days) with an alarm as soon as anything lands in it.

    encryption_key: a customer key (EventBridge and Lambda need its key policy to allow them);
    default: SQS-managed encryption.
    queue_name: a fixed name (a FIFO queue's must end in .fifo); fifo: the dead-letter queue of a FIFO
    queue must itself be FIFO.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        purpose: str,
        alarm_name: str,
        encryption_key: kms.IKey | None = None,
        queue_name: str | None = None,
        fifo: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            fifo=fifo or None,
            encryption=sqs.QueueEncryption.KMS if encryption_key else sqs.QueueEncryption.SQS_MANAGED,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge_all(
            self.queue,
            {
                "AwsSolutions-SQS3": f"This queue is itself the dead-letter queue of {purpose}.",
                "Serverless-SQSRedrivePolicy": (
                    "A dead-letter queue has no further redrive target; its depth alarm is how it is watched."
                ),
            },
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Depth",
            alarm_name=alarm_name,
            alarm_description=f"Messages in the dead-letter queue of {purpose}",
            metric=self.queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5)),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def admit_rules(queue: sqs.IQueue, sid: str, rule_arn_pattern: str, *, account: str) -> None:
    """One statement letting EventBridge send to `queue` from every rule whose ARN matches the pattern.

    aws-cdk-lib's targets add one statement per rule, and an SQS policy holds at most 20 statements
    and 8,192 bytes (SQS policy quotas): a queue fed by twenty rules would fail to deploy.
    """
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnLike": {"aws:SourceArn": rule_arn_pattern}, "StringEquals": {"aws:SourceAccount": account}},
        )
    )


def admit_rule(queue: sqs.IQueue, rule: events.IRule) -> None:
    """Let EventBridge dead-letter `rule`'s undeliverable events into `queue`.

    Most aws-cdk-lib targets add this statement when given a dead-letter queue; the CodePipeline
    target does not (aws-events-targets' CodePipeline.bind never calls
    addToDeadLetterQueueResourcePolicy), and without it EventBridge drops what it cannot deliver.
    """
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"DeadLetters{rule.node.id}",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )
