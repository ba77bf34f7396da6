"""The platform's delivery dashboard: one CloudWatch dashboard whatever the number of services.

Every widget is a metric SEARCH or a Logs Insights query over the platform's name, not a metric per
service: the dashboard's size, and its price (one dashboard, $3 a month past the free three), do not
grow with the services, and a new service appears on it without a change. docs/adr/0008 lists the
sources:

- AWS/CodePipeline FailedPipelineExecutions per PipelineName (the metric aws-cdk-lib's canned
  CodePipeline metrics name; CodePipeline publishes no execution count or duration metric);
- AWS/CodeBuild SucceededBuilds, FailedBuilds and Duration per ProjectName (CodeBuild's documented
  metrics and dimension);
- the notifier's structured logs (kind, environment, pipeline, execution_id on every line about an
  event; notifier_events.log_fields): executions per pipeline by outcome, deployments per environment
  (deployment_failed and deployment_stopped are the ones CodeDeploy rolls back), lead time per
  pipeline, executions started and not finished. They count what reaches the notifier, i.e. the
  kinds routed to a channel the function serves.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

PERIOD = Duration.hours(1)
# A metric SEARCH returns at most 500 series (CloudWatch's limit), one per pipeline or project.

DEPLOYMENTS_QUERY = [
    "filter ispresent(kind) and kind like /^deployment_/",
    "| stats count_distinct(event_id) as events by environment, kind",
    "| sort environment, kind",
]
LEAD_TIME_QUERY = [
    'filter kind in ["pipeline_started", "pipeline_succeeded"]',
    "| stats (max(@timestamp) - min(@timestamp)) / 60000 as minutes, count_distinct(kind) as seen"
    " by pipeline, execution_id",
    "| filter seen = 2",
    "| stats avg(minutes) as lead_time_minutes, max(minutes) as slowest_minutes, count(*) as releases by pipeline",
    "| sort lead_time_minutes desc",
]
EXECUTIONS_QUERY = [
    "filter ispresent(execution_id) and kind like /^pipeline_(started|succeeded|failed|canceled|superseded)$/",
    "| stats count_distinct(execution_id) as executions by pipeline, kind",
    "| sort pipeline, kind",
]
UNFINISHED_QUERY = [
    "filter ispresent(execution_id) and kind like /^pipeline_/",
    "| stats latest(kind) as last_event, min(@timestamp) as started by pipeline, execution_id",
    '| filter last_event = "pipeline_started"',
    "| sort started asc",
    "| limit 50",
]


def search(namespace: str, dimension: str, metric: str, token: str, statistic: str, label: str) -> cloudwatch.IMetric:
    """Every series of ``metric`` whose ``dimension`` has the platform's name as a token (acme-orders: acme)."""
    expression = f"SEARCH('{{{namespace},{dimension}}} MetricName=\"{metric}\" {dimension}={token}', '{statistic}', "
    expression += f"{int(PERIOD.to_seconds())})"
    return cloudwatch.MathExpression(expression=expression, using_metrics={}, label=label, period=PERIOD)


def table(title: str, log_groups: list[str], query_lines: list[str]) -> cloudwatch.LogQueryWidget:
    """A half-width Logs Insights table over ``log_groups``."""
    return cloudwatch.LogQueryWidget(
        title=title,
        log_group_names=log_groups,
        query_lines=query_lines,
        view=cloudwatch.LogQueryVisualizationType.TABLE,
        width=12,
    )


class DeliveryDashboard(Construct):
    """`dashboard`: pipelines, builds, deployments and lead time of the platform named ``platform``."""

    def __init__(
        self, scope: Construct, id_: str, *, dashboard_name: str, platform: str, notifier_logs: logs.ILogGroup
    ) -> None:
        super().__init__(scope, id_)
        log_groups = [notifier_logs.log_group_name]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.days(7),
            widgets=[
                [
                    cloudwatch.GraphWidget(
                        title="Failed pipeline executions (per pipeline, hourly)",
                        left=[
                            search("AWS/CodePipeline", "PipelineName", "FailedPipelineExecutions", platform, "Sum", "")
                        ],
                        stacked=True,
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Builds (per project, hourly)",
                        left=[search("AWS/CodeBuild", "ProjectName", "FailedBuilds", platform, "Sum", "failed")],
                        right=[search("AWS/CodeBuild", "ProjectName", "SucceededBuilds", platform, "Sum", "ok")],
                        width=12,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Build duration, seconds (per project)",
                        left=[search("AWS/CodeBuild", "ProjectName", "Duration", platform, "Average", "")],
                        width=12,
                    ),
                    table(
                        "Deployments per environment (failed and stopped ones are rolled back)",
                        log_groups,
                        DEPLOYMENTS_QUERY,
                    ),
                ],
                [
                    table("Lead time per pipeline, minutes (start to success)", log_groups, LEAD_TIME_QUERY),
                    table("Executions per pipeline, by outcome", log_groups, EXECUTIONS_QUERY),
                ],
                [
                    table("Executions started and not finished (oldest first)", log_groups, UNFINISHED_QUERY),
                ],
            ],
        )
