"""lambda/pipeline_watcher against botocore's Stubber: the real CodePipeline and EventBridge models check
every request and response. The event it puts is the derived fixture the notifier tests read."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lambda" / "pipeline_watcher"))
import watcher  # noqa: E402

FIXTURE = ROOT / "tests/fixtures/aws-events/derived/notifier-pipeline-watcher-execution-stuck.json"
SETTINGS = watcher.Settings("my", timedelta(minutes=120), timedelta(minutes=15))
SCHEDULED = "2026-12-03T10:07:31Z"  # rounded down to 10:00
REFERENCE = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
E1, E2, E3 = (f"{n}1a2b3c4-5d6e-4f70-8192-a3b4c5d6e7f8" for n in "abc")


def client(service: str) -> tuple[Any, Stubber]:
    made = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="eu-west-1").client(service)
    return made, Stubber(made)


def pipelines(*names: str, token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"pipelines": [{"name": n, "version": 1} for n in names]}
    if token:
        page["nextToken"] = token
    return page


def summary(execution: str, status: str, minutes_before: int) -> dict[str, Any]:
    return {
        "pipelineExecutionId": execution,
        "status": status,
        "startTime": REFERENCE - timedelta(minutes=minutes_before),
    }


def test_the_reference_time_is_the_schedule_rounded_to_the_interval() -> None:
    assert watcher.reference_time(SCHEDULED, timedelta(minutes=15)) == REFERENCE
    assert watcher.reference_time("2026-12-03T10:14:59Z", timedelta(minutes=15)) == REFERENCE
    assert watcher.reference_time("2026-12-03T10:15:00Z", timedelta(minutes=15)) == REFERENCE + timedelta(minutes=15)


def test_each_execution_is_reported_in_exactly_one_run() -> None:
    """Runs every 15 minutes over 6 hours: an execution started at 07:53 is reported once, at 10:00."""
    started = datetime(2026, 12, 3, 7, 53, tzinfo=UTC)
    reported = []
    for run in range(24):
        now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC) + timedelta(minutes=15 * run)
        age = now - started
        if SETTINGS.stuck_after <= age < SETTINGS.stuck_after + SETTINGS.interval:
            reported.append(now)
    assert reported == [REFERENCE]


def test_a_run_reports_only_the_platforms_executions_that_just_passed_the_threshold() -> None:
    codepipeline, cp = client("codepipeline")
    events, ev = client("events")
    cp.add_response("list_pipelines", pipelines("myPipeline", "other-team", token="t"), {})
    cp.add_response("list_pipelines", pipelines("myStorefront"), {"nextToken": "t"})
    cp.add_response(
        "list_pipeline_executions",
        {
            "pipelineExecutionSummaries": [
                summary(E1, "InProgress", 127),  # passed 120 minutes in the last 15: reported
                summary(E2, "InProgress", 140),  # reported by the run before
                summary(E3, "Succeeded", 125),
            ]
        },
        {"pipelineName": "myPipeline", "maxResults": 20},
    )
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [summary(E3, "InProgress", 30)]},
        {"pipelineName": "myStorefront", "maxResults": 20},
    )
    expected = json.loads(FIXTURE.read_text())
    ev.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}]},
        {
            "Entries": [
                {
                    "Source": expected["source"],
                    "DetailType": expected["detail-type"],
                    "Resources": expected["resources"],
                    "Detail": json.dumps(expected["detail"], sort_keys=True),
                }
            ]
        },
    )
    with cp, ev:
        assert watcher.run(codepipeline, events, SETTINGS, SCHEDULED, "eu-west-1", "123456789012") == 1
    cp.assert_no_pending_responses()
    ev.assert_no_pending_responses()


def test_only_failed_entries_are_put_again_and_a_lasting_failure_raises() -> None:
    events, ev = client("events")
    entries = [
        {"Source": watcher.SOURCE, "DetailType": watcher.DETAIL_TYPE, "Detail": json.dumps({"n": n})} for n in range(12)
    ]
    first = [{"EventId": str(n)} for n in range(9)] + [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}]
    ev.add_response("put_events", {"FailedEntryCount": 1, "Entries": first}, {"Entries": entries[:10]})
    ev.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "9"}]}, {"Entries": entries[9:10]})
    ev.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}]},
        {"Entries": entries[10:]},
    )
    with ev:
        watcher.put_all(events, entries)
    ev.assert_no_pending_responses()

    failing = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
    for _ in range(watcher.PUT_ATTEMPTS):
        ev.add_response("put_events", failing, {"Entries": entries[:1]})
    with ev, pytest.raises(RuntimeError, match="PutEvents failed for 1 stuck-execution events after 3 tries"):
        watcher.put_all(events, entries[:1])


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"STUCK_AFTER_MINUTES": "120", "INTERVAL_MINUTES": "15"}, "PIPELINE_PREFIX: is required"),
        ({"PIPELINE_PREFIX": "acme-", "STUCK_AFTER_MINUTES": "two hours", "INTERVAL_MINUTES": "15"}, "STUCK_AFTER"),
        ({"PIPELINE_PREFIX": "acme-", "STUCK_AFTER_MINUTES": "120", "INTERVAL_MINUTES": "0"}, "INTERVAL_MINUTES"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(watcher.SettingsError, match=message):
        watcher.load_settings(environ)


def test_the_notifier_and_the_patterns_name_the_same_event() -> None:
    sys.path.insert(0, str(ROOT / "lambda" / "teams_notifier"))
    try:
        import notifier_events
    finally:
        sys.path.pop(0)
    from cdk_constructs import notification_patterns

    assert watcher.SOURCE == notifier_events.WATCHER_SOURCE == notification_patterns.WATCHER_SOURCE
    assert watcher.DETAIL_TYPE == notifier_events.EXECUTION_STUCK == notification_patterns.EXECUTION_STUCK
