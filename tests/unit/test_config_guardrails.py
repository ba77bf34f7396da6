"""Release guardrails in the config (docs/adr/0008): defaults, freezes as DeploymentWindow complements, errors."""

from __future__ import annotations

from typing import Any

import pytest

from config import parse_config
from config.model import freeze_allow_cron
from tests.config_cases import example_config, only_problem, problems_of


def _freeze(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "year-end",
        "cron": "* * * ? DEC * *",
        "timezone": "Europe/Berlin",
        "reason": "Holidays",
    } | overrides


def test_defaults_gate_every_promotion_with_stage_rollback_and_no_bake() -> None:
    config = parse_config(example_config())
    guardrails = config.release_guardrails
    assert guardrails.promotion_gate and guardrails.stage_rollback
    assert guardrails.bake_minutes is None and guardrails.gate_wait_minutes is None
    assert config.freezes == []
    assert all(config.guardrails_of(s) is guardrails for s in config.services)


def test_a_service_override_replaces_the_platform_guardrails() -> None:
    raw = example_config()
    raw["release_guardrails"] = {"bake_minutes": 15}
    raw["services"][0]["release_guardrails"] = {"promotion_gate": False}
    config = parse_config(raw)
    assert config.guardrails_of(config.services[0]).promotion_gate is False
    assert config.guardrails_of(config.services[1]).bake_minutes == 15


@pytest.mark.parametrize(
    ("frozen", "allowed"),
    [
        ("* * * ? DEC * *", "* * * ? 1,2,3,4,5,6,7,8,9,10,11 * *"),
        ("* * * ? * SAT,SUN", "* * * ? * 2,3,4,5,6 *"),
        ("* * 18-23 ? * *", "* * " + ",".join(map(str, range(18))) + " ? * * *"),
        ("* * * 24-26 * ?", "* * * " + ",".join(str(d) for d in range(1, 32) if d not in (24, 25, 26)) + " * ? *"),
    ],
)
def test_a_freeze_becomes_the_complement_window(frozen: str, allowed: str) -> None:
    assert freeze_allow_cron(frozen) == allowed


def test_freezes_apply_platform_wide_or_to_their_environments() -> None:
    raw = example_config()
    raw["freezes"] = [_freeze(), _freeze(name="dev-nights", cron="* * 0-5 ? * *", environments=["dev"])]
    config = parse_config(raw)
    assert [f.name for f in config.freezes_of("dev")] == ["year-end", "dev-nights"]
    assert [f.name for f in config.freezes_of("prod")] == ["year-end"]


@pytest.mark.parametrize(
    ("freeze", "message"),
    [
        (_freeze(cron="* * * 20-31 DEC ? *"), "restricts 2 fields; its complement would be a union of windows"),
        (_freeze(cron="* * * ? JAN-DEC * *"), "freezes every month"),
        (_freeze(cron="* * * ? DEC"), "has 5 fields"),
        (_freeze(cron="0 * * ? DEC * *"), "restricts seconds, minutes or year"),
        (_freeze(cron="* * * ? XMAS * *"), "month value 'XMAS' is not allowed"),
        (_freeze(cron="* * * 1 DEC * *"), "exactly one of day-of-month and day-of-week must be '?'"),
        (_freeze(timezone="Mars/Olympus"), "'Mars/Olympus' is not an IANA time zone"),
        (_freeze(name="year end"), "year end"),
    ],
)
def test_a_bad_freeze_names_field_and_value(freeze: dict[str, Any], message: str) -> None:
    raw = example_config()
    raw["freezes"] = [freeze]
    problem = only_problem(raw)
    assert "freezes" in problem and message in problem and "allowed" in problem


def test_a_freeze_of_an_unknown_environment_is_refused() -> None:
    raw = example_config()
    raw["freezes"] = [_freeze(environments=["qa"])]
    assert only_problem(raw) == "freezes[0].environments: 'qa' is not an environment; allowed: dev, prod"


def test_more_freezes_than_rules_in_a_condition_are_refused() -> None:
    raw = example_config()
    raw["freezes"] = [_freeze(name=f"f{i}") for i in range(6)]
    assert any("6 freezes apply to 'dev'; allowed: at most 5" in p for p in problems_of(raw))


def test_bake_minutes_out_of_range_is_refused() -> None:
    raw = example_config()
    raw["release_guardrails"] = {"bake_minutes": 0}
    problem = only_problem(raw)
    assert "release_guardrails.bake_minutes" in problem


def test_gate_rules_and_freezes_share_one_entry_condition() -> None:
    """orders (ecs) gates prod on dev's 4 rollback alarms: with 2 freezes on prod its one entry condition would
    hold 6 rules, which CodePipeline refuses (botocore: ConditionList max 1, RuleDeclarationList max 5)."""
    raw = example_config()
    raw["freezes"] = [_freeze(), _freeze(name="prod-nights", cron="* * 0-5 ? * *", environments=["prod"])]
    assert only_problem(raw) == (
        "release_guardrails.promotion_gate: orders's Deploy-prod entry condition would hold 4 alarm rules (ecs) and "
        "2 freezes; allowed: at most 5 rules per CodePipeline condition, so fewer freezes for 'prod' or "
        "promotion_gate false for this service"
    )
    raw["services"][1]["release_guardrails"] = {"promotion_gate": False}
    parse_config(raw)  # without orders' gate the 2 freezes fit


def test_a_gate_wait_without_a_gate_is_refused() -> None:
    raw = example_config()
    raw["services"][0]["release_guardrails"] = {"promotion_gate": False, "gate_wait_minutes": 10}
    assert only_problem(raw) == (
        "services[0].release_guardrails.gate_wait_minutes: 10 (storefront) with promotion_gate false would do "
        "nothing; allowed: promotion_gate true, or no gate_wait_minutes"
    )


def test_freezes_must_fit_the_notifiers_environment() -> None:
    """The notifier carries every freeze in FREEZES; Lambda allows 4 KB for all of a function's variables."""
    raw = example_config()
    raw["release_guardrails"] = {"promotion_gate": False}
    raw["freezes"] = [
        _freeze(name=f"{env}-{i}", reason="r" * 200, environments=[env]) for env in ("dev", "prod") for i in range(4)
    ]
    problem = only_problem(raw)
    assert problem.startswith("freezes: 8 freezes take ") and "allowed: at most 1536" in problem
    raw["freezes"] = raw["freezes"][:2]
    parse_config(raw)


def test_guardrails_per_environment_and_per_service_environment() -> None:
    """The most specific level wins as a whole: service x environment, service, environment, platform."""
    raw = example_config()
    raw["release_guardrails"] = {"bake_minutes": 10}
    raw["environments"][1]["release_guardrails"] = {"bake_minutes": 60, "gate_wait_minutes": 15}
    raw["services"][0]["environment_overrides"] = {"prod": {"release_guardrails": {"stage_rollback": False}}}
    raw["services"][1]["release_guardrails"] = {"bake_minutes": 5}
    config = parse_config(raw)
    dev, prod = config.environments
    first, second, third = config.services[:3]
    assert config.guardrails_of(first, dev).bake_minutes == 10  # the platform's
    assert config.guardrails_of(first, prod) == config.services[0].environment_overrides["prod"].release_guardrails
    assert (
        config.guardrails_of(first, prod).bake_minutes is None and not config.guardrails_of(first, prod).stage_rollback
    )
    assert config.guardrails_of(second, prod).bake_minutes == 5  # the service's beats prod's
    assert (
        config.guardrails_of(third, prod).bake_minutes == 60
        and config.guardrails_of(third, prod).gate_wait_minutes == 15
    )
    assert config.guardrails_of(third, dev).bake_minutes == 10


def test_a_gate_wait_without_a_gate_names_the_level_it_comes_from() -> None:
    raw = example_config()
    raw["environments"][1]["release_guardrails"] = {"promotion_gate": False, "gate_wait_minutes": 15}
    problems = problems_of(raw)
    assert problems and all(p.startswith("environments[1].release_guardrails.gate_wait_minutes: 15") for p in problems)
    raw = example_config()
    raw["services"][0]["environment_overrides"] = {
        "prod": {"release_guardrails": {"promotion_gate": False, "gate_wait_minutes": 15}}
    }
    assert only_problem(raw).startswith("services[0].environment_overrides.prod.release_guardrails.gate_wait_minutes")
