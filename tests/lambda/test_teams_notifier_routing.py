"""Classification, routing, unknown and malformed events, event quirks, text safety and log format."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from notifier_helpers import (
    REPO,
    TEAMS_MAX_PAYLOAD_BYTES,
    FakeContext,
    WebhookServer,
    card_texts,
    check_envelope,
    dependencies,
    facts,
    header,
    json_lines,
    load_event,
    load_notifier,
    table_items,
    unescape,
)


def run(module: Any, event: Any) -> dict[str, Any]:
    result: dict[str, Any] = module.handle(event, FakeContext(), module.SETTINGS, dependencies(module))
    return result


def custom_event(**detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5e1b4f6a-custom",
        "detail-type": "Widget Inventory Changed",
        "source": "com.example.widgets",
        "account": "222222222222",
        "time": "2025-03-04T05:06:07Z",
        "region": "eu-central-1",
        "resources": [f"arn:aws:example:eu-central-1:222222222222:widget/w-{i}" for i in range(7)],
        "detail": detail,
    }


# ----------------------------------------------------------------------------------------
# Unknown events go to the fallback channels
# ----------------------------------------------------------------------------------------


def test_unknown_event_sends_a_generic_card_to_every_fallback_channel(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer
) -> None:
    module = load_notifier(monkeypatch, FALLBACK_CHANNELS=["alerts", "releases"], ROUTES={})
    detail: dict[str, Any] = {f"field{i:02d}": f"value {i}" for i in range(15)}
    detail |= {"nested": {"a": 1}, "flag": True, "count": 3}
    summary = run(module, custom_event(**detail))
    assert (summary["kind"], summary["posted"]) == ("unrecognised", ["alerts", "releases"])
    alerts, releases = server.posts()
    assert alerts.body == releases.body
    card = check_envelope(alerts.json())
    shown = facts(card)
    assert header(card)[0] == "\N{INFORMATION SOURCE}\ufe0f Widget Inventory Changed"
    assert shown["Source"] == "com.example.widgets"
    assert shown["Detail type"] == "Widget Inventory Changed"
    assert (shown["Account"], shown["Environment"], shown["Region"]) == ("222222222222", "dev", "eu-central-1")
    assert shown["Time"] == "2025-03-04 05:06:07 UTC"
    detail_facts = [title for title in shown if title.startswith("field")]
    assert detail_facts == [f"field{i:02d}" for i in range(10)]  # at most 10 detail fields, in order
    assert "nested" not in shown
    assert shown["Resources"].endswith("widget/w-4 (+2 more)")
    assert "actions" not in card


def test_unknown_event_without_fallback_channels_is_not_routed(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_notifier(monkeypatch, FALLBACK_CHANNELS=[])
    summary = run(module, custom_event(state="odd"))
    assert (summary["kind"], summary["routed"], summary["posted"]) == ("unrecognised", [], [])
    assert server.posts() == []
    assert [line["message"] for line in json_lines(capsys.readouterr().out)][-1] == "not routed"


def test_a_kind_without_a_route_is_not_posted(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_notifier(monkeypatch, ROUTES={"pipeline_failed": ["alerts"]})
    summary = run(module, load_event("codepipeline-pipeline-execution-succeeded.json"))
    assert (summary["kind"], summary["routed"], summary["posted"]) == ("pipeline_succeeded", [], [])
    assert server.posts() == []
    assert table_items() == {}
    [line] = [entry for entry in json_lines(capsys.readouterr().out) if entry["message"] == "not routed"]
    assert (line["kind"], line["event_id"]) == ("pipeline_succeeded", "01234567-EXAMPLE")


def test_routes_pick_channels_per_kind(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module = load_notifier(monkeypatch, ROUTES={"pipeline_failed": ["releases"], "build_failed": ["alerts"]})
    assert run(module, load_event("codepipeline-pipeline-execution-failed.json"))["posted"] == ["releases"]
    assert run(module, load_event("notifier-codebuild-build-state-failed.json"))["posted"] == ["alerts"]
    assert [r.path for r in server.posts()] == [server.path("releases"), server.path("alerts")]


# ----------------------------------------------------------------------------------------
# Malformed input fails the invocation (on-failure destination)
# ----------------------------------------------------------------------------------------

GOOD = load_event("codepipeline-pipeline-execution-failed.json")


@pytest.mark.parametrize(
    "event",
    [
        None,
        "a string",
        [GOOD],
        {key: value for key, value in GOOD.items() if key != "id"},
        {key: value for key, value in GOOD.items() if key != "source"},
        {key: value for key, value in GOOD.items() if key != "detail-type"},
        {key: value for key, value in GOOD.items() if key != "detail"},
        GOOD | {"detail": "not an object"},
        GOOD | {"detail": None},
        GOOD | {"detail-type": ""},
        GOOD | {"source": {"nested": True}},
    ],
    ids=lambda e: type(e).__name__ if not isinstance(e, dict) else ",".join(sorted(e))[:40],
)
def test_malformed_events_raise_and_log_an_error(
    event: Any, monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_notifier(monkeypatch)
    with pytest.raises(module.MalformedEventError):
        run(module, event)
    assert server.posts() == []
    [line] = json_lines(capsys.readouterr().out)
    assert (line["level"], line["message"]) == ("ERROR", "malformed event")
    assert line["event_type"] == type(event).__name__
    assert line["error"]


def test_event_quirks_are_survived(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    """Numeric account and version, no time, no resources, an odd region: still a valid card."""
    module = load_notifier(monkeypatch)
    event = load_event("codepipeline-pipeline-execution-failed.json")
    event |= {"account": 123456789012, "region": "not a region", "resources": None}
    event["detail"] |= {"version": 4.0}
    del event["time"]
    assert run(module, event)["posted"] == ["alerts"]
    card = check_envelope(server.posts()[0].json())
    assert facts(card)["Account"] == "123456789012"
    assert "Time" not in facts(card)
    assert "actions" not in card  # no console link for an unknown region


def test_hostile_text_is_cleaned_cut_and_escaped(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module = load_notifier(monkeypatch)
    event = load_event("codecommit-pr-created.json")
    event["detail"]["title"] = "**Ship it** [now](https://evil.example)\x07\n" + "x" * 5000
    event["detail"]["description"] = "line one\n\x1b[31mred\x1b[0m\n" + "y" * 20000
    event["detail"]["sourceReference"] = "refs/heads/feature/" + "z" * 3000
    assert run(module, event)["posted"] == ["alerts"]
    [post] = server.posts()
    assert len(post.body) < TEAMS_MAX_PAYLOAD_BYTES
    card = check_envelope(post.json())
    raw_title = card["body"][0]["items"][0]["text"]
    assert raw_title.startswith("🆕 Pull request #1 opened: \\*\\*Ship it\\*\\* \\[now\\](https://evil.example) xxx")
    assert len(raw_title) <= 200
    description = card["body"][1]["text"]
    assert description.startswith("line one\n\\[31mred \\[0m\n")  # ESC removed, "[" escaped
    assert len(unescape(description)) <= 500 and description.endswith("…")
    assert all(len(value) <= 200 for value in facts(card).values())
    assert not any(ch in text for text in card_texts(card) for ch in "\x07\x1b")


def test_every_log_line_is_one_json_object_with_context(
    monkeypatch: pytest.MonkeyPatch, server: WebhookServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_notifier(monkeypatch)
    run(module, load_event("codepipeline-pipeline-execution-failed.json"))
    lines = json_lines(capsys.readouterr().out)
    assert [line["message"] for line in lines] == [
        "event received",
        "commit lookup skipped: pipeline is in another account",  # event account != function account
        "card built",
        "webhook accepted the card",
        "posted",
        "event handled",
    ]
    for line in lines:
        # Powertools' names: "service" (was "logger"), "function_request_id" (was "request_id").
        assert {"timestamp", "level", "message", "service", "event_id", "function_request_id"} <= set(line)
        assert line["event_id"] == "01234567-EXAMPLE"
    posted = next(line for line in lines if line["message"] == "posted")
    assert (posted["channel"], posted["kind"], posted["status_code"], posted["attempts"]) == (
        "alerts", "pipeline_failed", 202, 1,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------
# Classification (pure functions)
# ----------------------------------------------------------------------------------------


def classify(event: dict[str, Any], suffix: str = "-pr") -> str:
    from notifier_events import classify as classify_event
    from notifier_events import parse_event

    return classify_event(parse_event(event), suffix).value


def with_detail(name: str, **changes: Any) -> dict[str, Any]:
    event = load_event(name)
    event["detail"] |= changes
    return event


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (with_detail("codepipeline-pipeline-execution-failed.json", state="STOPPED"), "unrecognised"),
        (with_detail("codepipeline-pipeline-execution-failed.json", state="STOPPING"), "unrecognised"),
        (with_detail("codepipeline-pipeline-execution-failed.json", state="RESUMED"), "unrecognised"),
        (with_detail("codepipeline-stage-execution-started.json", state="SUCCEEDED"), "unrecognised"),
        (with_detail("notifier-codepipeline-approval-started.json", state="CANCELED"), "unrecognised"),
        (with_detail("notifier-codepipeline-approval-started.json", state="ABANDONED"), "unrecognised"),
        (with_detail("codebuild-build-state-succeeded.json", **{"build-status": "FAULT"}), "build_failed"),
        (with_detail("codebuild-build-state-succeeded.json", **{"build-status": "TIMED_OUT"}), "build_failed"),
        (with_detail("codebuild-build-state-succeeded.json", **{"build-status": "STOPPED"}), "build_failed"),
        (with_detail("codebuild-build-state-succeeded.json", **{"build-status": "IN_PROGRESS"}), "unrecognised"),
        (with_detail("codebuild-build-state-succeeded.json", **{"project-name": "acme-orders-pr"}),
         "pull_request_build_succeeded"),
        (with_detail("codebuild-build-state-succeeded.json", **{"project-name": "acme-pr-orders"}), "build_succeeded"),
        (with_detail("codedeploy-deployment-success.json", state="READY"), "unrecognised"),
        (with_detail("codecommit-pr-status-changed.json", isMerged="False"), "unrecognised"),
        (with_detail("codecommit-pr-created.json", event="commentOnPullRequestCreated"), "unrecognised"),
        (load_event("codepipeline-pipeline-execution-failed.json") | {"source": "custom.codepipeline"}, "unrecognised"),
    ],
)  # fmt: skip
def test_classification_edges(event: dict[str, Any], kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    assert classify(event) == kind


def test_pull_request_suffix_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    load_notifier(monkeypatch)
    event = with_detail("codebuild-build-state-succeeded.json", **{"project-name": "orders-validate"})
    assert classify(event, "-validate") == "pull_request_build_succeeded"
    assert classify(event, "") == "build_succeeded"  # empty suffix: no pull request projects


def test_event_kinds_match_the_platform_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kinds a route may name are the same here and in config/model.py (the stack builds ROUTES from it)."""
    load_notifier(monkeypatch)
    monkeypatch.syspath_prepend(str(REPO))
    sys.modules.pop("config", None)
    model = pytest.importorskip("config.model")
    from notifier_events import EVENT_KINDS

    assert tuple(model.EVENT_KINDS) == EVENT_KINDS


def test_summary_is_json_serialisable(monkeypatch: pytest.MonkeyPatch, server: WebhookServer) -> None:
    module = load_notifier(monkeypatch)
    summary = run(module, load_event("codedeploy-deployment-success.json"))
    assert json.loads(json.dumps(summary)) == summary


def test_odd_field_types_never_break_a_card(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each detail field of each sample (and each field one level down) replaced by an odd value:
    classification and card building never raise, and every card stays schema-valid."""
    load_notifier(monkeypatch)
    from notifier_cards import CardContext, CommitInfo, build_card
    from notifier_events import classify as classify_event
    from notifier_events import parse_event
    from notifier_helpers import derived_event_files, real_event_files, schema_errors

    odd_values: list[Any] = [None, 7, 1.5, True, "", [], {}, [{"x": 1}], "x" * 3000]
    context = CardContext("acme", {"123456789012": "sandbox"})
    commit = CommitInfo("abc", "message", "https://example.com/c", "summary")
    lambda_payloads = ("codedeploy-lifecycle-hook.json", "codepipeline-job-lambda.json")
    files = [f for f in real_event_files() + derived_event_files() if f not in lambda_payloads]
    built = validated = 0
    for name in files:
        original = load_event(name)
        paths = [(key,) for key in original["detail"]]
        paths += [(key, sub) for key, value in original["detail"].items() if isinstance(value, dict) for sub in value]
        for path_index, path in enumerate(paths):
            for odd_index, odd in enumerate(odd_values):
                event = json.loads(json.dumps(original))
                target = event["detail"]
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = odd
                parsed = parse_event(event)
                kind = classify_event(parsed, "-pr")
                card = build_card(parsed, kind, context, commit)
                assert json.dumps(card)
                built += 1
                # Schema validation costs ~5 ms: validate one odd value per field, rotating through them.
                if (path_index + odd_index) % len(odd_values) == 0:
                    validated += 1
                    assert schema_errors(card) == [], (name, path, odd)
    assert built > 1000 and validated * len(odd_values) == built
