"""`PipelineWatcher`: one scheduled function per platform that reports executions running too long.

CodePipeline emits no event when an execution merely takes long, and publishes no duration metric to
alarm on, so the watcher polls: every INTERVAL it lists the platform's pipelines and their recent
executions (1 ListPipelines page per 1,000 pipelines, 1 ListPipelineExecutions per pipeline: for 500
services, about 0.6 calls a second on average, with standard retries on throttling) and puts one
`pipeline_stuck` event per execution that passed the threshold (lambda/pipeline_watcher). 2,880
invocations a month, whatever the number of services.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_constructs.lambda_defaults import PlatformFunction
from cdk_constructs.nag import acknowledge_grant_wildcards, allow

INTERVAL = Duration.minutes(15)


class PipelineWatcher(Construct):
    """`function` and its `schedule`: reports pipelines named ``prefix``-* running over ``stuck_after``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        function_name: str,
        prefix: str,
        stuck_after: Duration,
        log_retention: logs.RetentionDays,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.function = PlatformFunction(
            self,
            "Watcher",
            function_name=function_name,
            description=f"Reports {prefix}* pipeline executions in progress for over {stuck_after.to_minutes()} min",
            code_folder="pipeline_watcher",
            handler="watcher.handler",
            timeout=Duration.minutes(5),
            log_retention=log_retention,
            environment={
                "PIPELINE_PREFIX": prefix,
                "STUCK_AFTER_MINUTES": str(int(stuck_after.to_minutes())),
                "INTERVAL_MINUTES": str(int(INTERVAL.to_minutes())),
            },
            reserved_concurrency=1,  # one run at a time: runs never overlap
            on_failure=destinations.SqsDestination(dead_letters),
            retry_attempts=2,
        )
        role = self.function.role
        allow(
            role,
            "ListPipelines",
            ["codepipeline:ListPipelines"],
            ["*"],
            "ListPipelines has no resource type in IAM's service authorization reference; it returns names only.",
        )
        allow(
            role,
            "ReadPlatformExecutions",
            ["codepipeline:ListPipelineExecutions"],
            [f"arn:aws:codepipeline:{stack.region}:{stack.account}:{prefix}*"],
            "The platform's pipelines, all named <platform>-<service>: the watcher reads each one's recent executions.",
        )
        # The on-failure destination's grant (sqs send, and kms on the queue's key) uses grant wildcards.
        acknowledge_grant_wildcards(self.function)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutStuckEvents",
                actions=["events:PutEvents"],
                resources=[f"arn:aws:events:{stack.region}:{stack.account}:event-bus/default"],
            )
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            rule_name=function_name,
            description=f"Runs the {prefix}* pipeline watcher every {int(INTERVAL.to_minutes())} minutes",
            schedule=events.Schedule.rate(INTERVAL),
            targets=[
                event_targets.LambdaFunction(
                    self.function.function,
                    dead_letter_queue=dead_letters,
                    max_event_age=Duration.minutes(10),
                    retry_attempts=2,
                )
            ],
        )
