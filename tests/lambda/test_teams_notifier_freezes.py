"""A failed Deploy-<env> stage inside a change freeze: the card says which freeze, why, until when, and the override.

Freezes reach the notifier as the config writes them (Freeze.notice() in the FREEZES variable); the events are
the real stage-failed sample with the stage and time a frozen deployment would have.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from notifier_cards import DEPLOY_STAGE_PREFIX, CardContext, build_card
from notifier_events import EventKind, parse_event
from notifier_freezes import parse_freezes
from notifier_helpers import card_texts, facts, load_event, notifier_env, schema_errors
from notifier_settings import FREEZES, SettingsError, load_settings

from config.model import Freeze
from config.names import deploy_stage
from tests.config_cases import varied_config

YEAR_END = Freeze(name="year-end", cron="* * * ? DEC * *", timezone="Europe/Berlin", reason="Year-end freeze")
NIGHTS = Freeze(
    name="dev-nights",
    cron="* * 0-5,22,23 * * ? *",
    timezone="America/New_York",
    reason="Nightly batch",
    environments=["dev"],
)
FREEZES_JSON = json.dumps([YEAR_END.notice(), NIGHTS.notice()])


def context() -> CardContext:
    return CardContext("acme", {"123456789012": "prod"}, parse_freezes(json.loads(FREEZES_JSON)))


def stage_failed(stage: str, time: str) -> object:
    raw = load_event("notifier-codepipeline-stage-execution-failed.json")
    raw["time"] = time
    raw["detail"].update(stage=stage, pipeline="acme-orders")
    return parse_event(raw)


def test_the_stage_prefix_is_the_pipelines() -> None:
    for environment in varied_config().environments:
        assert deploy_stage(environment) == DEPLOY_STAGE_PREFIX + environment.name


def test_a_december_failure_names_the_freeze_and_when_it_ends() -> None:
    card = build_card(stage_failed("Deploy-prod", "2026-12-20T10:00:00Z"), EventKind.STAGE_FAILED, context())
    shown = facts(card)
    assert shown["Freeze"] == "year-end: Year-end freeze"
    # The freeze ends when January begins in Berlin: 23:00 UTC on 31 December.
    assert shown["Frozen until"] == "2027-01-01 00:00 Europe/Berlin (2026-12-31 23:00 UTC)"
    texts = " ".join(card_texts(card))
    assert "python -m tools.ops override SERVICE prod --reason TEXT" in texts
    assert "change freeze" in texts
    assert schema_errors(card) == []


def test_the_freeze_is_judged_in_its_own_zone() -> None:
    # 23:30 UTC on 30 November is already December in Berlin, so the stage is frozen there.
    card = build_card(stage_failed("Deploy-prod", "2026-11-30T23:30:00Z"), EventKind.STAGE_FAILED, context())
    assert facts(card)["Freeze"].startswith("year-end")
    card = build_card(stage_failed("Deploy-prod", "2026-11-30T22:30:00Z"), EventKind.STAGE_FAILED, context())
    assert "Freeze" not in facts(card)


def test_an_hours_freeze_ends_at_the_next_open_hour_and_applies_only_to_its_environments() -> None:
    # 03:10 UTC on 5 March is 22:10 on 4 March in New York (EST): frozen until 06:00 local, 11:00 UTC.
    event = stage_failed("Deploy-dev", "2026-03-05T03:10:00Z")
    shown = build_card(event, EventKind.STAGE_FAILED, CardContext("acme", {}, context().freezes))
    assert facts(shown)["Freeze"] == "dev-nights: Nightly batch"
    assert facts(shown)["Frozen until"] == "2026-03-05 06:00 America/New_York (2026-03-05 11:00 UTC)"
    other = build_card(stage_failed("Deploy-prod", "2026-03-05T03:10:00Z"), EventKind.STAGE_FAILED, context())
    assert "Freeze" not in facts(other)


def test_both_freezes_are_named_when_both_are_in_force() -> None:
    event = stage_failed("Deploy-dev", "2026-12-05T04:00:00Z")
    card = build_card(event, EventKind.STAGE_FAILED, context())
    values = [f["value"] for element in card["body"] if element.get("type") == "FactSet" for f in element["facts"]]
    assert sum(v.startswith(("year-end", "dev-nights")) for v in values) == 2


@pytest.mark.parametrize(
    ("stage", "time"),
    [
        ("Deploy-prod", "2026-06-20T10:00:00Z"),  # outside every freeze
        ("Build", "2026-12-20T10:00:00Z"),  # not a deploy stage
        ("Deploy-prod", "not a time"),  # an unknown time: nothing is claimed
    ],
)
def test_no_freeze_facts_when_none_applies(stage: str, time: str) -> None:
    card = build_card(stage_failed(stage, time), EventKind.STAGE_FAILED, context())
    assert "Freeze" not in facts(card) and "Frozen until" not in facts(card)
    assert "change freeze" not in " ".join(card_texts(card))


def test_settings_read_the_freezes() -> None:
    settings = load_settings(notifier_env(FREEZES=FREEZES_JSON))
    assert [f.name for f in settings.freezes] == ["year-end", "dev-nights"]
    assert settings.freezes[1].environments == ("dev",)
    assert load_settings(notifier_env()).freezes == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{}", "must be a JSON list"),
        ('[{"name": "x", "field": "minutes", "values": [1], "timezone": "UTC", "reason": ""}]', "field 'minutes'"),
        ('[{"name": "x", "field": "month", "values": [13], "timezone": "UTC", "reason": ""}]', "1..12"),
        ('[{"name": "x", "field": "month", "values": [12], "timezone": "Mars/Base", "reason": ""}]', "Mars/Base"),
        ('[{"name": "x", "field": "month", "values": [12], "timezone": "UTC", "environments": "dev"}]', "environments"),
    ],
)
def test_bad_freezes_are_a_settings_error(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(notifier_env(FREEZES=value))
    assert FREEZES in str(raised.value) and message in str(raised.value)


def test_ends_after_is_the_first_open_moment() -> None:
    (freeze,) = parse_freezes([YEAR_END.notice()])
    assert freeze.ends_after(datetime(2026, 12, 31, 22, 59, tzinfo=UTC)) == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


# ----- during: wait: executions wait before the stage; the stuck card says which freeze holds them -----

WEEKENDS = Freeze(
    name="prod-weekends",
    cron="* * * ? * SAT,SUN",
    timezone="Europe/Berlin",
    reason="No weekend releases",
    environments=["prod"],
    during="wait",
)


def stuck(time: str) -> object:
    raw = load_event("notifier-pipeline-watcher-execution-stuck.json")
    raw["time"] = time
    return parse_event(raw)


def waiting_context() -> CardContext:
    notices = [YEAR_END.notice(), WEEKENDS.notice()]
    assert "during" not in notices[0] and notices[1]["during"] == "wait"  # fail, the default, costs no bytes
    return CardContext("acme", {"123456789012": "prod"}, parse_freezes(json.loads(json.dumps(notices))))


def test_a_stuck_execution_in_a_waiting_freeze_names_it_and_when_it_ends() -> None:
    # Saturday 5 December 2026, noon UTC: the weekend freeze holds prod until Monday 00:00 Berlin.
    card = build_card(stuck("2026-12-05T12:00:00Z"), EventKind.PIPELINE_STUCK, waiting_context())
    shown = facts(card)
    assert shown["Freeze"] == "prod-weekends (prod): No weekend releases"
    assert shown["Frozen until"] == "2026-12-07 00:00 Europe/Berlin (2026-12-06 23:00 UTC)"
    texts = " ".join(card_texts(card))
    assert "continues by itself when the freeze ends" in texts and "tools.ops unfreeze" in texts
    assert schema_errors(card) == []


def test_a_stuck_execution_outside_waiting_freezes_has_no_freeze_facts() -> None:
    # A Monday in December: the year-end freeze fails deployments, it does not hold them, so it is not named.
    card = build_card(stuck("2026-12-07T12:00:00Z"), EventKind.PIPELINE_STUCK, waiting_context())
    assert "Freeze" not in facts(card)
    assert "continues by itself" not in " ".join(card_texts(card))


def test_a_waiting_freezes_failed_stage_says_its_schedule_did_not_hold_it() -> None:
    card = build_card(stage_failed("Deploy-prod", "2026-12-05T12:00:00Z"), EventKind.STAGE_FAILED, waiting_context())
    assert facts(card)["Freeze"] == "prod-weekends: No weekend releases"
    assert "its schedule did not disable the transition" in " ".join(card_texts(card))
