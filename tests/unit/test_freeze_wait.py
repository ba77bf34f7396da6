"""`during: wait` freezes (docs/adr/0008): EventBridge Scheduler disables the inbound transitions of
Approve-<env> and Deploy-<env> when a freeze starts and enables them when it ends.

- The edges (config.model.freeze_edges) are replayed hour by hour over two years against the notifier's own
  freeze clock (lambda/teams_notifier/notifier_freezes.py, a separate implementation of "is it frozen now"):
  the transition must be disabled exactly while the freeze is in force.
- Freezes a waiting freeze cannot be are refused with the field, the value and what is allowed, among them
  those with an edge at a local time that daylight saving time skips (Scheduler skips that invocation; the
  replay shows the hold then goes wrong).
- The synthesized schedules are checked against AWS's published data: each target's Input against botocore's
  Disable/EnableStageTransition input shapes (and the reason's pattern), the universal target's action against
  botocore's operation names, the shared role's policy against IAM's stage ARN format for every stage a
  schedule names, the dead-letter queue and key policies for that role.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cdk_constructs.service_pipeline import FREEZE_RETRY_AGE
from config import ConfigError, parse_config
from config.model import Freeze, PlatformConfig, freeze_edges
from config.names import PLANNED_FREEZE_MARK, Names, approval_stage, deploy_stage
from tests.config_cases import example_config
from tests.platform_synth import SynthesizedPlatform, resources_of_type, synth_platform
from tools.ops import _freeze_clock
from tools.preflight.policy import Request, evaluate
from tools.preflight.published import iam_reference
from tools.preflight.shapes import check, service_model

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def fires(cron: str, local: datetime) -> bool:
    """Whether an EventBridge Scheduler cron of single values (what freeze_edges writes) fires at ``local``."""
    minute, hour, dom, month, dow, year = cron.split()
    assert year == "*" and "?" in (dom, dow), cron

    def value(field: str, names: tuple[str, ...]) -> int:
        return names.index(field) + 1 if field in names else int(field)

    return (
        local.minute == int(minute)
        and (hour == "*" or local.hour == int(hour))
        and (dom in ("*", "?") or local.day == int(dom))
        and (month == "*" or local.month == value(month, MONTHS))
        and (dow in ("*", "?") or local.isoweekday() % 7 + 1 == value(dow, DAYS))
    )


def replay(cron: str, timezone: str, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> tuple[int, list[str]]:
    """Scheduler's edges against the notifier's clock, every half hour for two years: (edges that changed the
    hold, local times at which the transition's state differs from "frozen now"). The local clock, like
    Scheduler, never shows a time daylight saving time skips."""
    clock = _freeze_clock()
    (reference,) = clock.parse_freezes([{**Freeze(name="f", cron=cron, timezone=timezone, reason="r").notice()}])
    zone = ZoneInfo(timezone)
    held = reference.frozen_at(start)
    changes, wrong = 0, []
    for step in range(2 * 366 * 48):
        moment = start + timedelta(minutes=30 * step)
        local = moment.astimezone(zone)
        for edge_cron, edge in freeze_edges(cron):
            if fires(edge_cron, local):
                changes += held != (edge == "start")
                held = edge == "start"
        if held != reference.frozen_at(moment + timedelta(minutes=1)):
            wrong.append(local.isoformat())
    return changes, wrong


@pytest.mark.parametrize(
    ("cron", "timezone"),
    [
        ("* * 0-5 ? * *", "America/New_York"),
        ("* * 22-23,0-5 ? * *", "Europe/Berlin"),  # wraps midnight: one range, 22:00 to 06:00
        ("* * 12 ? * *", "Asia/Kolkata"),  # one hour, in a zone half an hour off UTC
        ("* * 22-23,0-1 ? * *", "Europe/London"),  # ends at 02:00, just after London's skipped hour
        ("* * 1 ? * *", "Europe/London"),  # wholly inside the skipped hour: skipping its start loses nothing
        ("* * * ? * SAT,SUN", "Europe/Berlin"),
        ("* * * ? * SAT,SUN", "America/Santiago"),  # Santiago skips Sunday 00:00; the edges are SAT and MON
        ("* * * ? * FRI,SAT,SUN,MON", "UTC"),  # wraps the week
        ("* * * 1-3,24-31 * ?", "UTC"),  # wraps the month: from the 24th to the end of the 3rd
        ("* * * 10-12 * ?", "Australia/Sydney"),
        ("* * * ? FEB *", "Europe/Berlin"),
    ],
)
def test_the_edges_hold_the_transition_exactly_while_the_freeze_is_in_force(cron: str, timezone: str) -> None:
    assert Freeze(name="f", cron=cron, timezone=timezone, reason="r", during="wait").during == "wait"
    changes, wrong = replay(cron, timezone)
    assert changes > 0
    assert wrong == []


@pytest.mark.parametrize(
    ("cron", "timezone", "says"),
    [
        ("* * 2-4 ? * *", "Europe/Berlin", "would not start on 2???-03-?? at 02:00"),
        ("* * 22-23,0-1 ? * *", "America/New_York", "would not end on 2???-03-?? at 02:00"),
        ("* * 1-3 ? * *", "Europe/London", "would not start on 2???-03-?? at 01:00"),
        ("* * 0-5 ? * *", "America/Santiago", "would not start on 2???-09-?? at 00:00"),  # clocks skip midnight
        ("* * * ? * SUN", "America/Santiago", "would not start on 2???-09-?? at 00:00"),
    ],
)
def test_a_waiting_freeze_whose_edge_daylight_saving_skips_is_refused(cron: str, timezone: str, says: str) -> None:
    # What Scheduler would do (the skipped invocation, as the replay's local clock skips it): the hold is wrong.
    _, wrong = replay(cron, timezone, start=datetime(2027, 1, 1, tzinfo=UTC))
    assert wrong, "the replay finds no day on which the skipped edge matters"
    raw = example_config()
    raw["freezes"] = [{"name": "f", "cron": cron, "timezone": timezone, "reason": "r", "during": "wait"}]
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    (problem,) = caught.value.problems
    assert problem.startswith("freezes[0]") or problem.startswith("freezes.0"), problem
    assert repr(cron) in problem and timezone in problem and "daylight saving time skips" in problem, problem
    # The date is the next one after today on which the edge is skipped (? stands for any digit).
    assert re.search(re.escape(says).replace(r"\?", r"\d"), problem), problem
    assert "during: fail takes any freeze" in problem
    raw["freezes"][0]["during"] = "fail"
    assert parse_config(raw).freezes[0].during == "fail"


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("* * * ? DEC *", "up to 31 days is longer than the 30 days"),
        ("* * * ? JAN-FEB *", "up to 60 days"),
        ("* * * 25-29 * ?", "ends on day 30 would not end in months without that day"),
        ("* * * 30-31,1-3 * ?", "starts on day 30 would not start in months without that day"),
    ],
)
def test_a_freeze_that_cannot_wait_is_refused_naming_it(cron: str, message: str) -> None:
    raw = example_config()
    raw["freezes"] = [{"name": "f", "cron": cron, "timezone": "UTC", "reason": "r", "during": "wait"}]
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    (problem,) = caught.value.problems
    assert problem.startswith("freezes[0]") or problem.startswith("freezes.0"), problem
    assert message in problem and repr(cron) in problem and "during: fail takes any freeze" in problem
    # The same freeze fails deployments instead without complaint.
    raw["freezes"][0]["during"] = "fail"
    assert parse_config(raw).freezes[0].during == "fail"


def test_during_takes_only_fail_or_wait() -> None:
    raw = example_config()
    raw["freezes"] = [{"name": "f", "cron": "* * 0-5 ? * *", "timezone": "UTC", "reason": "r", "during": "queue"}]
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert any("during" in p and "'fail'" in p and "'wait'" in p for p in caught.value.problems), caught.value


# ----- synthesized: the varied platform (dev's nights wait) and one with a waiting prod freeze -----


def _wait_platform_config() -> PlatformConfig:
    raw = example_config()
    raw["freezes"] = [
        {
            "name": "prod-weekends",
            "cron": "* * * ? * SAT,SUN",
            "timezone": "Europe/Berlin",
            "reason": "No weekend releases: on-call is thin (see wiki/oncall_rota)",
            "environments": ["prod"],
            "during": "wait",
        }
    ]
    return parse_config(raw)


@pytest.fixture(scope="module")
def wait_platform(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedPlatform:
    return synth_platform(_wait_platform_config(), tmp_path_factory.mktemp("wait"))


def schedules(platform: SynthesizedPlatform, service: str) -> dict[str, dict[str, Any]]:
    raw = platform.template_json(f"{platform.config.name}-pipeline-{service}")
    return {k: v["Properties"] for k, v in resources_of_type(raw, "AWS::Scheduler::Schedule").items()}


def _action(target_arn: Any) -> str:
    joined = "".join(p if isinstance(p, str) else "aws" for p in target_arn["Fn::Join"][1])
    match = re.fullmatch(r"arn:aws:scheduler:::aws-sdk:codepipeline:(\w+)", joined)
    assert match, joined
    return match.group(1)


def check_schedules(platform: SynthesizedPlatform) -> int:
    config, names = platform.config, Names(platform.config)
    model = service_model("codepipeline")
    operations = {name[0].lower() + name[1:]: name for name in model.operation_names}
    checked = 0
    for service in config.services:
        found = schedules(platform, service.name)
        expected: set[tuple[str, str, str, str]] = set()
        for env in config.environments_of(service):
            stages = [approval_stage(env), deploy_stage(env)] if env.approval else [deploy_stage(env)]
            for freeze in config.freezes_of(env.name):
                if freeze.during == "wait":
                    expected |= {(s, c, e, freeze.timezone) for s in stages for c, e in freeze.edges}
        seen = set()
        for props in found.values():
            action = _action(props["Target"]["Arn"])
            operation = operations[action]  # a real CodePipeline operation, as the universal target spells it
            # Scheduler refuses read-only actions by prefix (managing-targets-universal.html, "Unsupported actions").
            assert not action.startswith(("get", "describe", "list", "poll", "validate", "batchGet")), action
            assert operation in ("DisableStageTransition", "EnableStageTransition")
            request = json.loads(props["Target"]["Input"])
            report = check(model.operation_model(operation).input_shape, request, operation)
            assert report.problems == [] and report.unjudged == [], report.problems
            assert request["pipelineName"] == names.pipeline(service) and request["transitionType"] == "Inbound"
            edge = "start" if operation == "DisableStageTransition" else "end"
            if edge == "start":
                assert request["reason"].startswith(PLANNED_FREEZE_MARK)
            cron = re.fullmatch(r"cron\((.+)\)", props["ScheduleExpression"])
            assert cron, props["ScheduleExpression"]
            seen.add((request["stageName"], cron.group(1), edge, props["ScheduleExpressionTimezone"]))
            assert props["FlexibleTimeWindow"] == {"Mode": "OFF"} and props["GroupName"] == "default"
            assert props["Target"]["RoleArn"] == names.tooling_role_arn(names.freeze_transitions_role)
            retry = props["Target"]["RetryPolicy"]
            assert retry["MaximumEventAgeInSeconds"] == FREEZE_RETRY_AGE.to_seconds() < 3600
            assert "DeadLetterConfig" in props["Target"]
            assert re.fullmatch(r"[0-9a-zA-Z_.-]{1,64}", props["Name"]) and props["Name"].startswith(config.name)
            checked += 1
        assert seen == expected, service.name
        assert len(found) == len(expected)  # one schedule per stage and edge, no duplicates
    return checked


def test_the_varied_platforms_waiting_freeze_has_its_schedules(varied_platform: SynthesizedPlatform) -> None:
    # dev's nights (00-06 New York) on every service that deploys to dev: Deploy-dev held and released.
    in_dev = [
        s
        for s in varied_platform.config.services
        if "dev" in [e.name for e in varied_platform.config.environments_of(s)]
    ]
    assert check_schedules(varied_platform) == 2 * len(in_dev)
    (start,) = [p for p in schedules(varied_platform, "svc000-ec2").values() if "disable" in json.dumps(p)]
    assert start["ScheduleExpression"] == "cron(0 0 * * ? *)"
    assert start["ScheduleExpressionTimezone"] == "America/New_York"
    assert json.loads(start["Target"]["Input"])["reason"] == "planned freeze dev-nights - Nightly data loads"


def test_an_approval_environment_is_held_before_its_approval_too(wait_platform: SynthesizedPlatform) -> None:
    assert check_schedules(wait_platform) == 4 * len(wait_platform.config.services)
    service = wait_platform.config.services[0].name
    starts = [
        json.loads(p["Target"]["Input"])
        for p in schedules(wait_platform, service).values()
        if "reason" in p["Target"]["Input"]
    ]
    assert sorted(s["stageName"] for s in starts) == ["Approve-prod", "Deploy-prod"]
    # The reason in the characters CodePipeline allows (":" "/" "_" become spaces).
    assert (
        starts[0]["reason"]
        == "planned freeze prod-weekends - No weekend releases on-call is thin (see wiki oncall rota)"
    )
    expressions = {p["ScheduleExpression"] for p in schedules(wait_platform, service).values()}
    assert expressions == {"cron(0 0 ? * SAT *)", "cron(0 0 ? * MON *)"}


def _tooling_role(platform: SynthesizedPlatform) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    raw = platform.template_json(f"{platform.config.name}-tooling")
    names = Names(platform.config)
    role_id, role = next(
        (k, r)
        for k, r in resources_of_type(raw, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == names.freeze_transitions_role
    )
    documents = [
        p["Properties"]["PolicyDocument"]
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    return role["Properties"], documents


def test_the_shared_role_may_change_exactly_the_scheduled_stages(wait_platform: SynthesizedPlatform) -> None:
    config, names = wait_platform.config, Names(wait_platform.config)
    role, documents = _tooling_role(wait_platform)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": config.tooling.account}}
    stage_type = iam_reference().resource_type("codepipeline", "stage")
    assert stage_type is not None
    for service in config.services:
        for props in schedules(wait_platform, service.name).values():
            request = json.loads(props["Target"]["Input"])
            action = "codepipeline:" + _action(props["Target"]["Arn"])[0].upper() + _action(props["Target"]["Arn"])[1:]
            arn = stage_type.fill(
                {
                    "Partition": "aws",
                    "Region": config.tooling.region,
                    "Account": config.tooling.account,
                    "PipelineName": request["pipelineName"],
                    "StageName": request["stageName"],
                }
            )
            assert evaluate(documents, Request(action, arn)).allowed, (action, arn)
    # Nothing else: not another stage, not another platform's pipeline, not another API.
    other = f"arn:aws:codepipeline:{config.tooling.region}:{config.tooling.account}"
    for action, arn in [
        ("codepipeline:DisableStageTransition", f"{other}:{names.pipeline(config.services[0])}/Build"),
        ("codepipeline:DisableStageTransition", f"{other}:other-orders/Deploy-prod"),
        ("codepipeline:StartPipelineExecution", f"{other}:{names.pipeline(config.services[0])}"),
    ]:
        assert not evaluate(documents, Request(action, arn)).allowed, (action, arn)


def test_the_dead_letter_queue_and_key_admit_the_shared_role(wait_platform: SynthesizedPlatform) -> None:
    config, names = wait_platform.config, Names(wait_platform.config)
    role_arn = names.tooling_role_arn(names.freeze_transitions_role)
    raw = wait_platform.template_json(f"{config.name}-pipeline-{config.services[0].name}")
    (queue_policy,) = [
        p["Properties"]["PolicyDocument"] for p in resources_of_type(raw, "AWS::SQS::QueuePolicy").values()
    ]
    queue_id = next(iter(resources_of_type(raw, "AWS::SQS::Queue")))
    queue = {"Fn::GetAtt": [queue_id, "Arn"]}
    for props in schedules(wait_platform, config.services[0].name).values():
        assert props["Target"]["DeadLetterConfig"]["Arn"] == queue
    # Exactly what Scheduler needs to send a dead letter to an encrypted queue, and nothing else.
    granted = [s for s in queue_policy["Statement"] if role_arn in json.dumps(s.get("Principal"))]
    assert granted == [
        {
            "Sid": "FreezeScheduleDeadLetters",
            "Effect": "Allow",
            "Principal": {"AWS": role_arn},
            "Action": "sqs:SendMessage",
            "Resource": queue,
        }
    ]
    (key,) = resources_of_type(raw, "AWS::KMS::Key").values()
    granted = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if role_arn in json.dumps(s.get("Principal"))]
    assert [(s["Principal"], sorted(s["Action"])) for s in granted] == [
        ({"AWS": role_arn}, ["kms:Decrypt", "kms:GenerateDataKey"])
    ]


def test_without_waiting_freezes_nothing_is_scheduled(default_platform: SynthesizedPlatform) -> None:
    for service in default_platform.config.services:
        assert schedules(default_platform, service.name) == {}
    raw = default_platform.template_json(f"{default_platform.config.name}-tooling")
    names = Names(default_platform.config)
    assert names.freeze_transitions_role not in json.dumps(raw)


def test_the_execution_policy_admits_the_schedules_only_when_freezes_wait(default_config: PlatformConfig) -> None:
    from config.policies import execution_policies

    def scheduler_resources(config: PlatformConfig) -> list[str]:
        text = json.dumps(execution_policies(config))
        return re.findall(r"arn:aws:scheduler:[^\"]+", text)

    assert scheduler_resources(default_config) == []
    assert scheduler_resources(_wait_platform_config()) == [
        f"arn:aws:scheduler:*:{default_config.tooling.account}:schedule/default/{default_config.name}-*"
    ]


def test_tests_read_the_real_module_paths() -> None:
    assert Path(_freeze_clock().__file__).name == "notifier_freezes.py"
