"""Release guardrails of a Deploy-<env> stage as CodePipeline V2 stage conditions (docs/adr/0008).

- BeforeEntry (result FAIL): the promotion gate, one CloudWatchAlarm rule per rollback alarm of the previous
  environment (in its account, read as its deployer role), and one DeploymentWindow rule per freeze, whose
  cron is the freeze's complement (the rule passes inside the window it describes).
- OnSuccess (result ROLLBACK): the bake time, one CloudWatchAlarm rule per rollback alarm of this environment
  with WaitTime = bake minutes.
- OnFailure: ROLLBACK to the stage's last successful execution.

A rule's RoleArn must be a role of the alarm's account; aws-cdk-lib's ``Rule`` takes only an ``iam.Role``
it owns, so the ARNs are set on the CfnPipeline by path (``apply_rule_roles``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import aws_codepipeline as codepipeline

from config.model import MAX_RULES_PER_CONDITION, Environment, Freeze, ReleaseGuardrails, Service
from config.names import Names

ALARM_RULE = "CloudWatchAlarm"
WINDOW_RULE = "DeploymentWindow"


@dataclass(frozen=True)
class DeployTarget:
    """One environment a service deploys to, with everything the pipeline needs to reach it."""

    environment: Environment
    region: str

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def account(self) -> str:
        return self.environment.account


@dataclass
class StageGuardrails:
    """The ``add_stage`` keyword arguments of one Deploy-<env> stage, and the RoleArn of each alarm rule."""

    before_entry: codepipeline.Conditions | None = None
    on_success: codepipeline.Conditions | None = None
    on_failure: codepipeline.FailureConditions | None = None
    # "BeforeEntry.Conditions.0.Rules.<i>" -> role ARN
    rule_roles: dict[str, str] = field(default_factory=dict)

    def stage_props(self) -> dict[str, object]:
        props: dict[str, object] = {}
        if self.before_entry is not None:
            props["before_entry"] = self.before_entry
        if self.on_success is not None:
            props["on_success"] = self.on_success
        if self.on_failure is not None:
            props["on_failure"] = self.on_failure
        return props


def _alarm_rules(
    names: Names, service: Service, gated: DeployTarget, prefix: str, wait_minutes: int | None
) -> list[codepipeline.Rule]:
    configuration_extra = {"WaitTime": str(wait_minutes)} if wait_minutes else {}
    return [
        codepipeline.Rule(
            name=f"{prefix}-{what}",
            provider=ALARM_RULE,
            version="1",
            configuration={"AlarmName": alarm, **configuration_extra},
            region=gated.region,
        )
        for what, alarm in names.rollback_alarms(service, gated.environment).items()
    ]


def _freeze_rule(freeze: Freeze) -> codepipeline.Rule:
    return codepipeline.Rule(
        name=freeze.name,
        provider=WINDOW_RULE,
        version="1",
        configuration={"Cron": freeze.allow_cron, "TimeZone": freeze.timezone},
    )


def _check_size(service: Service, stage: str, where: str, rules: list[codepipeline.Rule]) -> None:
    # The config refuses this (PlatformConfig._guardrail_rules); a construct used without it must not
    # synthesize a pipeline CodePipeline would refuse.
    if len(rules) > MAX_RULES_PER_CONDITION:
        raise ValueError(
            f"{service.name}: {stage} {where} would hold {len(rules)} rules; allowed: at most "
            f"{MAX_RULES_PER_CONDITION} per CodePipeline condition"
        )


def deploy_stage_guardrails(
    names: Names,
    service: Service,
    stage: str,
    this: DeployTarget,
    previous: DeployTarget | None,
    guardrails: ReleaseGuardrails,
    freezes: list[Freeze],
) -> StageGuardrails:
    """The conditions of ``service``'s Deploy-<env> stage (``stage``) for ``this`` environment."""
    result = StageGuardrails()
    entry: list[codepipeline.Rule] = []
    if guardrails.promotion_gate and previous is not None:
        entry += _alarm_rules(
            names, service, previous, f"Healthy-{previous.environment.name}", guardrails.gate_wait_minutes
        )
        for index in range(len(entry)):
            result.rule_roles[f"BeforeEntry.Conditions.0.Rules.{index}"] = names.deployer_role_arn(previous.environment)
    entry += [_freeze_rule(f) for f in freezes]
    if entry:
        _check_size(service, stage, "entry condition", entry)
        result.before_entry = codepipeline.Conditions(
            conditions=[codepipeline.Condition(result=codepipeline.Result.FAIL, rules=entry)]
        )
    if guardrails.bake_minutes:
        bake = _alarm_rules(names, service, this, "Baked", guardrails.bake_minutes)
        _check_size(service, stage, "success condition", bake)
        result.on_success = codepipeline.Conditions(
            conditions=[codepipeline.Condition(result=codepipeline.Result.ROLLBACK, rules=bake)]
        )
        for index in range(len(bake)):
            result.rule_roles[f"OnSuccess.Conditions.0.Rules.{index}"] = names.deployer_role_arn(this.environment)
    if guardrails.stage_rollback:
        result.on_failure = codepipeline.FailureConditions(result=codepipeline.Result.ROLLBACK)
    return result


def apply_rule_roles(pipeline: codepipeline.Pipeline, stage_index: int, guardrails: StageGuardrails) -> None:
    """Set each alarm rule's RoleArn: the deployer role of the account its alarms are in."""
    cfn = pipeline.node.default_child
    for path, arn in guardrails.rule_roles.items():
        cfn.add_property_override(f"Stages.{stage_index}.{path}.RoleArn", arn)  # type: ignore[union-attr]
