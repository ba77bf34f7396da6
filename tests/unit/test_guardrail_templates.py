"""Release guardrails in the synthesized pipelines (docs/adr/0008), from the default config and from one with
freezes, bake times and a per-service override (tests/config_cases.varied_config).

Every Deploy-<env> stage is checked against CodePipeline's published model (botocore's StageDeclaration: one
condition per BeforeEntry/OnSuccess, at most 5 rules, rule names, results), every alarm a rule names against
the alarms the service stack of that environment creates, and every rule role against the IAM policy that
must let it read those alarms.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest

from config.model import PlatformConfig
from config.names import Names, deploy_stage
from tests.platform_synth import SynthesizedPlatform, resources_of_type
from tools.preflight.policy import Request, evaluate
from tools.preflight.shapes import check, pipeline_stage_report, service_model

WAIT_TIME_LIMIT_MINUTES = 1440


def pipeline_stages(platform: SynthesizedPlatform, service: str) -> dict[str, dict[str, Any]]:
    raw = platform.template_json(f"{platform.config.name}-pipeline-{service}")
    (pipeline,) = resources_of_type(raw, "AWS::CodePipeline::Pipeline").values()
    return {stage["Name"]: stage for stage in pipeline["Properties"]["Stages"]}


def alarm_names(platform: SynthesizedPlatform, service: str, env: str) -> set[str]:
    raw = platform.template_json(f"{platform.config.name}-service-{service}-{env}")
    return {a["Properties"]["AlarmName"] for a in resources_of_type(raw, "AWS::CloudWatch::Alarm").values()}


def deployer_documents(platform: SynthesizedPlatform, env: str) -> list[dict[str, Any]]:
    raw = platform.template_json(f"{platform.config.name}-cross-account-{env}")
    role_id = next(
        k
        for k, r in resources_of_type(raw, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == f"{platform.config.name}-{env}-deployer"
    )
    return [
        p["Properties"]["PolicyDocument"]
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]


def rules(stage: dict[str, Any], where: str) -> list[dict[str, Any]]:
    conditions = stage.get(where, {}).get("Conditions", [])
    return [rule for condition in conditions for rule in condition["Rules"]]


def check_alarm_rules(
    platform: SynthesizedPlatform, service_name: str, stage: dict[str, Any], where: str, env_name: str
) -> list[dict[str, Any]]:
    """The alarm rules of one condition read exactly env_name's rollback alarms of this service, in its
    account and region, as its deployer role, which may read them."""
    config = platform.config
    names = Names(config)
    service = next(s for s in config.services if s.name == service_name)
    env = config.environment(env_name)
    found = [r for r in rules(stage, where) if r["RuleTypeId"]["Provider"] == "CloudWatchAlarm"]
    assert {r["Configuration"]["AlarmName"] for r in found} == alarm_names(platform, service_name, env_name)
    assert len(found) == len(names.rollback_alarms(service, env))
    documents = deployer_documents(platform, env_name)
    for rule in found:
        assert rule["RuleTypeId"] == {"Category": "Rule", "Owner": "AWS", "Provider": "CloudWatchAlarm", "Version": "1"}
        assert rule["Region"] == config.region_of(env)
        assert rule["RoleArn"] == names.deployer_role_arn(env)
        alarm_arn = f"arn:aws:cloudwatch:{rule['Region']}:{env.account}:alarm:{rule['Configuration']['AlarmName']}"
        outcome = evaluate(documents, Request("cloudwatch:DescribeAlarms", alarm_arn))
        assert outcome.allowed, (rule["Name"], alarm_arn, outcome)
    return found


def every_pipeline(platform: SynthesizedPlatform) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    return [(s.name, pipeline_stages(platform, s.name)) for s in platform.config.services]


@pytest.mark.parametrize("platform_fixture", ["default_platform", "varied_platform"])
def test_every_stage_is_one_the_codepipeline_api_accepts(platform_fixture: str, request: pytest.FixtureRequest) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(platform_fixture)
    judged = 0
    for service, stages in every_pipeline(platform):
        report = pipeline_stage_report(list(stages.values()))
        assert report.problems == [], (service, report.problems)
        judged += len(stages)
        # Only tokens CloudFormation resolves (role and bucket ARNs) are left unjudged, never a condition.
        assert not [p for p in report.unjudged if "beforeEntry" in p or "onSuccess" in p], report.unjudged
    assert judged >= 3 * len(platform.config.services)


def test_the_model_check_finds_what_codepipeline_would_refuse() -> None:
    """The check can fail: 2 conditions, 6 rules, a bad rule name and an unknown result."""
    rule = {
        "name": "ok",
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "CloudWatchAlarm", "version": "1"},
    }
    stage = {
        "name": "Deploy-prod",
        "actions": [
            {"name": "Deploy", "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"}}
        ],
        "beforeEntry": {
            "conditions": [
                {"result": "FAIL", "rules": [rule] * 6},
                {"result": "WAIT", "rules": [rule | {"name": "year end"}]},
            ]
        },
    }
    problems = check(service_model("codepipeline").shape_for("StageDeclaration"), stage, "stage").problems
    assert any("beforeEntry.conditions: 2 items; allowed: at most 1" in p for p in problems), problems
    assert any("rules: 6 items; allowed: at most 5" in p for p in problems), problems
    assert any("'year end' does not match" in p for p in problems), problems
    assert any("'WAIT'; allowed: ROLLBACK, FAIL, RETRY, SKIP" in p for p in problems), problems


# ----- the default config: promotion gates and stage rollback, no bake, no freezes -----


def test_default_gates_promotion_on_the_previous_environment(default_platform: SynthesizedPlatform) -> None:
    config: PlatformConfig = default_platform.config
    for service in config.services:
        stages = pipeline_stages(default_platform, service.name)
        envs = config.environments_of(service)
        first = stages[deploy_stage(envs[0])]
        assert "BeforeEntry" not in first and "OnSuccess" not in first
        for previous, env in pairwise(envs):
            stage = stages[deploy_stage(env)]
            (condition,) = stage["BeforeEntry"]["Conditions"]
            assert condition["Result"] == "FAIL"
            found = check_alarm_rules(default_platform, service.name, stage, "BeforeEntry", previous.name)
            assert len(found) == len(condition["Rules"])  # no freezes in the default config
            assert all(r["Name"].startswith(f"Healthy-{previous.name}-") for r in found)
            assert all("WaitTime" not in r["Configuration"] for r in found)
            assert "OnSuccess" not in stage
        for env in envs:
            assert stages[deploy_stage(env)]["OnFailure"] == {"Result": "ROLLBACK"}


def test_approval_stages_carry_no_conditions(default_platform: SynthesizedPlatform) -> None:
    for _, stages in every_pipeline(default_platform):
        for name, stage in stages.items():
            if not name.startswith("Deploy-"):
                assert not {"BeforeEntry", "OnSuccess", "OnFailure"} & set(stage), name


# ----- freezes, bake times, a per-service override -----


def test_freezes_become_deployment_windows_on_every_deploy_stage(varied_platform: SynthesizedPlatform) -> None:
    config = varied_platform.config
    for service in config.services:
        stages = pipeline_stages(varied_platform, service.name)
        for env in config.environments_of(service):
            windows = [
                r
                for r in rules(stages[deploy_stage(env)], "BeforeEntry")
                if r["RuleTypeId"]["Provider"] == "DeploymentWindow"
            ]
            expected = [
                {
                    "Name": f.name,
                    "RuleTypeId": {"Category": "Rule", "Owner": "AWS", "Provider": "DeploymentWindow", "Version": "1"},
                    "Configuration": {"Cron": f.allow_cron, "TimeZone": f.timezone},
                }
                for f in config.freezes_of(env.name)
            ]
            assert windows == expected, (service.name, env.name)
    # The year-end freeze allows every month but December, in Berlin time; dev's nights only 06-23 New York.
    dev = rules(pipeline_stages(varied_platform, "svc000-ec2")["Deploy-dev"], "BeforeEntry")
    assert [r["Configuration"] for r in dev] == [
        {"Cron": "* * * ? 1,2,3,4,5,6,7,8,9,10,11 * *", "TimeZone": "Europe/Berlin"},
        {"Cron": "* * " + ",".join(map(str, range(6, 24))) + " ? * * *", "TimeZone": "America/New_York"},
    ]


def test_the_gate_follows_each_services_own_promotion_order(varied_platform: SynthesizedPlatform) -> None:
    config = varied_platform.config
    for service in config.services:
        stages = pipeline_stages(varied_platform, service.name)
        envs = config.environments_of(service)
        for previous, env in pairwise(envs):
            check_alarm_rules(varied_platform, service.name, stages[deploy_stage(env)], "BeforeEntry", previous.name)
        assert not [r for r in rules(stages[deploy_stage(envs[0])], "BeforeEntry") if "AlarmName" in r["Configuration"]]
    # svc004 deploys to staging and prod only: staging is its first stage, prod waits on staging's alarms.
    svc004 = pipeline_stages(varied_platform, "svc004-ecs")
    assert "Deploy-dev" not in svc004
    assert {r["Name"] for r in rules(svc004["Deploy-prod"], "BeforeEntry")} >= {"Healthy-staging-blue-target-5xx"}


def test_bake_time_rolls_back_on_this_environments_alarms(varied_platform: SynthesizedPlatform) -> None:
    """Platform bake 20, prod's own 45, svc002's prod override 5, svc000's service override none."""
    config = varied_platform.config
    seen: dict[tuple[str, str], int | None] = {}
    for service in config.services:
        stages = pipeline_stages(varied_platform, service.name)
        for env in config.environments_of(service):
            stage = stages[deploy_stage(env)]
            bake = config.guardrails_of(service, env).bake_minutes
            seen[(service.name, env.name)] = bake
            if bake is None:
                assert "OnSuccess" not in stage
                continue
            (condition,) = stage["OnSuccess"]["Conditions"]
            assert condition["Result"] == "ROLLBACK"
            found = check_alarm_rules(varied_platform, service.name, stage, "OnSuccess", env.name)
            assert {r["Configuration"]["WaitTime"] for r in found} == {str(bake)}
            assert int(found[0]["Configuration"]["WaitTime"]) <= WAIT_TIME_LIMIT_MINUTES
    assert seen[("svc000-ec2", "prod")] is None and seen[("svc002-lambda", "prod")] == 5
    assert seen[("svc001-ecs", "prod")] == 45 and seen[("svc001-ecs", "dev")] == 20
    assert set(seen.values()) == {None, 5, 20, 45}


def test_a_service_override_sets_the_gate_wait_and_drops_stage_rollback(varied_platform: SynthesizedPlatform) -> None:
    stages = pipeline_stages(varied_platform, "svc000-ec2")
    gate = [r for r in rules(stages["Deploy-staging"], "BeforeEntry") if "AlarmName" in r["Configuration"]]
    assert {r["Configuration"]["WaitTime"] for r in gate} == {"30"}
    assert all("OnFailure" not in s for n, s in stages.items() if n.startswith("Deploy-"))
    # Its override replaces the platform's guardrails as a whole: no bake time for svc000.
    assert all("OnSuccess" not in s for s in stages.values())
    other = pipeline_stages(varied_platform, "svc001-ecs")
    assert all(
        other[deploy_stage(e)]["OnFailure"] == {"Result": "ROLLBACK"} for e in varied_platform.config.environments
    )


# ----- the notifier knows the freezes -----

# An intrinsic's value once deployed: an ARN or queue URL, at most this long for these names.
RESOLVED_TOKEN_BYTES = 160
LAMBDA_ENVIRONMENT_BYTES = 4096


def resolved_size(value: Any) -> int:
    """A variable's bytes once CloudFormation resolves it, each intrinsic counted as a long ARN."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return len(separator.encode()) * max(len(parts) - 1, 0) + sum(resolved_size(p) for p in parts)
    return RESOLVED_TOKEN_BYTES


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_the_notifier_carries_the_freezes_within_lambdas_4_kb(which: str, request: pytest.FixtureRequest) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    raw = platform.template_json(f"{platform.config.name}-notifications")
    (function,) = [
        f
        for f in resources_of_type(raw, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "notifier.handler"
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    notices = [f.notice() for f in platform.config.freezes]
    assert json.loads(variables.get("FREEZES", "[]")) == json.loads(json.dumps(notices))
    size = sum(len(k.encode()) + resolved_size(v) for k, v in variables.items())
    assert size <= LAMBDA_ENVIRONMENT_BYTES, size
