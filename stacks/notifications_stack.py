"""NotificationsStack (tooling account): accepts target-account events; routes events to Teams."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_events as events
from constructs import Construct

from config.model import PlatformConfig
from stacks.cross_account_stack import CODEDEPLOY_DEPLOYMENT_EVENT


class NotificationsStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self.bus_policies = self._accept_target_account_events(config)

    def _accept_target_account_events(self, config: PlatformConfig) -> list[events.CfnEventBusPolicy]:
        """Let each configured target account put its CodeDeploy deployment events on the default bus."""
        tooling = config.tooling.account
        bus_arn = f"arn:aws:events:{config.tooling.region}:{tooling}:event-bus/default"
        accounts = sorted({e.account for e in config.environments if e.account != tooling})
        return [
            events.CfnEventBusPolicy(
                self,
                f"AcceptDeploymentEventsFrom{account}",
                event_bus_name="default",
                statement_id=f"{config.name}-codedeploy-from-{account}",
                statement={
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "events:PutEvents",
                    "Resource": bus_arn,
                    "Condition": {
                        "StringEquals": {
                            "events:source": "aws.codedeploy",
                            "events:detail-type": CODEDEPLOY_DEPLOYMENT_EVENT,
                        }
                    },
                },
            )
            for account in accounts
        ]
