"""CloudWatch alarms that CodeDeploy watches during a deployment and rolls back on.

Missing data is NOT_BREACHING on purpose: the load balancer and Lambda publish error
datapoints only when errors happen, so "no data" means "no errors" (a quiet service
must still be deployable). A deployment that never becomes healthy fails on
CodeDeploy's own health checks and hooks, not on these alarms.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from config.model import AlarmThresholds


class RollbackAlarms(Construct):
    """A named set of alarms; `alarms` is what the deployment group attaches."""

    def __init__(self, scope: Construct, id_: str, *, thresholds: AlarmThresholds, name_prefix: str) -> None:
        super().__init__(scope, id_)
        self.thresholds = thresholds
        self.name_prefix = name_prefix
        self.alarms: list[cloudwatch.Alarm] = []

    @property
    def period(self) -> Duration:
        return Duration.seconds(self.thresholds.period_seconds)

    def add(self, suffix: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> cloudwatch.Alarm:
        """Alarm when `metric` reaches `threshold` in `evaluation_periods` periods."""
        alarm = cloudwatch.Alarm(
            self,
            suffix,
            alarm_name=f"{self.name_prefix}-{suffix}",
            alarm_description=f"{description} (rolls back the deployment)",
            metric=metric,
            threshold=threshold,
            evaluation_periods=self.thresholds.evaluation_periods,
            datapoints_to_alarm=self.thresholds.evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms.append(alarm)
        return alarm
