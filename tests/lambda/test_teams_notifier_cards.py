"""Cards within Teams' message size limit, and the burst summary card.

Every input here starts as a real sample event (tests/fixtures/aws-events, and the derived
notifier events), made oversized: 100 KB commit messages, thousands of fields, names of 100,000
characters mixing multi-byte characters and characters JSON escapes. The message is measured
exactly as the dispatcher posts it: json.dumps(workflows_message(card), ensure_ascii=False) in UTF-8.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from notifier_cards import (
    MAX_MESSAGE_BYTES,
    MAX_SUMMARY_ROWS,
    SHORTENED_NOTE,
    TOO_LARGE_NOTE,
    TRUNCATED,
    CardContext,
    CommitInfo,
    SummaryItem,
    build_card,
    build_summary_card,
    cut,
    fit_card,
    summary_item,
    workflows_message,
)
from notifier_events import EventKind, classify, parse_event
from notifier_helpers import (
    ALL_KINDS,
    TEAMS_MAX_PAYLOAD_BYTES,
    actions,
    card_texts,
    check_envelope,
    facts,
    header,
    load_event,
    schema_errors,
    walk,
)

CONTEXT = CardContext("acme", {"123456789012": "sandbox", "222222222222": "dev"})

# One sample event per kind (the same files test_teams_notifier_fixtures.py classifies).
KIND_SAMPLES = {
    "pipeline_started": "codepipeline-pipeline-execution-started.json",
    "pipeline_succeeded": "codepipeline-pipeline-execution-succeeded.json",
    "pipeline_failed": "codepipeline-pipeline-execution-failed.json",
    "pipeline_canceled": "notifier-codepipeline-pipeline-execution-canceled.json",
    "pipeline_superseded": "notifier-codepipeline-pipeline-execution-superseded.json",
    "pipeline_stuck": "notifier-pipeline-watcher-execution-stuck.json",
    "stage_failed": "notifier-codepipeline-stage-execution-failed.json",
    "approval_waiting": "notifier-codepipeline-approval-started.json",
    "approval_approved": "notifier-codepipeline-approval-succeeded.json",
    "approval_rejected": "notifier-codepipeline-approval-failed.json",
    "build_succeeded": "codebuild-build-state-succeeded.json",
    "build_failed": "notifier-codebuild-build-state-failed.json",
    "deployment_started": "notifier-codedeploy-deployment-start.json",
    "deployment_succeeded": "codedeploy-deployment-success.json",
    "deployment_failed": "notifier-codedeploy-deployment-failure.json",
    "deployment_stopped": "notifier-codedeploy-deployment-stop.json",
    "pull_request_created": "codecommit-pr-created.json",
    "pull_request_updated": "codecommit-pr-source-branch-updated.json",
    "pull_request_merged": "notifier-codecommit-pr-merge-status-updated.json",
    "pull_request_build_succeeded": "notifier-codebuild-pr-build-state-succeeded.json",
    "pull_request_build_failed": "notifier-codebuild-pr-build-state-failed.json",
}

# Multi-byte characters (2, 3 and 4 bytes in UTF-8), characters JSON escapes (quote, backslash,
# control characters, tab), markdown, a line separator and an emoji sequence.
NASTY = "é名前🚀\"\\\x01\x1f\t<>&'*_[]`\u2028👩‍💻"
LINK_MARKDOWN = re.compile(r"\]\(([^()\s]*)\)")
BARE_URL = re.compile(r"https?://[^\s)\]]+")


def huge(length: int = 100_000, seed: str = NASTY) -> str:
    return (seed * (length // len(seed) + 1))[:length]


def posted_bytes(message: dict[str, Any]) -> int:
    """What the dispatcher posts (notifier_dispatch.notify)."""
    return len(json.dumps(message, ensure_ascii=False).encode("utf-8"))


def raw_bytes(card: dict[str, Any]) -> int:
    """The message as it was before workflows_message bounded it."""
    envelope = {"type": "message", "attachments": [{"contentType": "x", "contentUrl": None, "content": card}]}
    return posted_bytes(envelope)


def urls(node: Any) -> set[str]:
    """Every URL in a card: action and selectAction URLs, markdown link targets, bare URLs in text."""
    found: set[str] = set()
    for element in walk(node):
        for key, value in element.items():
            if not isinstance(value, str):
                continue
            if key == "url":
                found.add(value)
            elif key != "$schema":
                found.update(LINK_MARKDOWN.findall(value))
                found.update(BARE_URL.findall(value))
    return found


def fits(message: dict[str, Any]) -> dict[str, Any]:
    """Assert the posted size, the envelope and the schema; returns the card."""
    size = posted_bytes(message)
    assert size <= MAX_MESSAGE_BYTES, size
    return check_envelope(message)


def event_for(kind: str, **detail: Any) -> Any:
    raw = load_event(KIND_SAMPLES[kind])
    raw["detail"].update(detail)
    return parse_event(raw)


def rows(card: dict[str, Any]) -> list[str]:
    return [t for t in card_texts(card) if t.startswith("• ")]


def more_count(card: dict[str, Any]) -> int:
    counts = [int(m.group(1)) for t in card_texts(card) if (m := re.fullmatch(r"… and (\d+) more", t))]
    assert len(counts) <= 1, counts
    return counts[0] if counts else 0


def test_samples_are_of_their_kind() -> None:
    assert set(KIND_SAMPLES) == set(ALL_KINDS)
    for kind, name in KIND_SAMPLES.items():
        assert classify(parse_event(load_event(name)), "-pr") == kind, name


def test_the_limit_is_teams_limit() -> None:
    assert MAX_MESSAGE_BYTES == 28 * 1024 == TEAMS_MAX_PAYLOAD_BYTES


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_sample_cards_that_fit_are_left_as_they_are(kind: str) -> None:
    card = build_card(event_for(kind), EventKind(kind), CONTEXT, CommitInfo("abc", "msg", "https://x.example/c", "s"))
    message = workflows_message(card)
    assert message["attachments"][0]["content"] == card
    assert SHORTENED_NOTE not in card_texts(message)


# ----------------------------------------------------------------------------------------
# Oversized inputs, every kind
# ----------------------------------------------------------------------------------------

# Detail fields the cards show or link to, made 100,000 characters long.
NAME_FIELDS = (
    "pipeline", "stage", "action", "execution-id", "project-name", "application", "deploymentGroup",
    "deploymentId", "title", "description", "author", "sourceReference", "destinationReference",
    "sourceCommit", "pullRequestId", "repositoryName", "instanceId",
)  # fmt: skip
BIG_COMMIT = CommitInfo(
    commit_id=huge(500),
    message=huge(100_000),
    url="https://github.com/acme/orders/commit/" + "a" * 50_000,
    status_summary=huge(100_000),
)


def oversized(kind: str) -> dict[str, Any]:
    raw = load_event(KIND_SAMPLES[kind])
    detail = raw["detail"]
    for key in NAME_FIELDS:
        if key in detail:
            detail[key] = huge(seed=key + NASTY)
    if kind.startswith("pull_request_build"):
        detail["project-name"] = huge(seed="project" + NASTY) + "-pr"
    if "repositoryNames" in detail:
        detail["repositoryNames"] = [huge(seed="repository" + NASTY)]
    if "build-id" in detail:
        detail["build-id"] = "arn:aws:codebuild:us-west-2:123456789012:build/p:" + huge(seed="uuid")
    info = detail.get("additional-information")
    if isinstance(info, dict):
        info["logs"]["deep-link"] = "https://console.aws.amazon.com/cloudwatch/home?region=us-west-2#" + "s" * 60_000
        info["initiator"] = huge()
        for phase in info.get("phases", []):
            phase["phase-context"] = [huge(20_000)]
    if isinstance(detail.get("execution-result"), dict):
        detail["execution-result"]["external-execution-summary"] = huge()
    raw["resources"] = [huge(1_000, seed=f"arn:{i}:") for i in range(2_000)]
    return raw


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_fits_with_oversized_inputs(kind: str) -> None:
    event = parse_event(oversized(kind))
    card = build_card(event, EventKind(kind), CONTEXT, BIG_COMMIT)
    assert raw_bytes(card) > MAX_MESSAGE_BYTES  # without the bound Teams would refuse it

    message = workflows_message(card)
    fitted = fits(message)
    assert SHORTENED_NOTE in card_texts(fitted)
    assert urls(fitted) <= urls(card)  # every URL left is whole, one the card had
    assert header(fitted)[1:] == header(card)[1:]  # same tone and colour
    assert header(fitted)[0] == header(card)[0]  # the title (already cut by build_card) is kept
    assert facts(fitted)["Environment"] == "sandbox"
    # The links of ordinary length are all kept.
    assert {url for url in urls(card) if len(url) <= 2048} <= urls(fitted)


def test_a_100_kb_commit_message_is_cut_and_both_links_kept() -> None:
    commit = CommitInfo("4409936EXAMPLE", huge(100_000), "https://github.com/acme/orders/commit/4409936", huge())
    card = build_card(event_for("pipeline_failed"), EventKind.PIPELINE_FAILED, CONTEXT, commit)
    fitted = fits(workflows_message(card))
    shown = facts(fitted)
    assert len(shown["Commit message"]) <= 300 and shown["Commit message"].endswith("…")
    assert len(shown["Reason"]) <= 300
    assert actions(fitted) == {
        "View execution": "https://us-west-2.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline"
        "/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region=us-west-2",
        "View commit": "https://github.com/acme/orders/commit/4409936",
    }


def test_a_long_commit_url_is_dropped_whole_not_cut() -> None:
    commit = CommitInfo("abc", "Fix", "https://github.com/acme/orders/commit/" + "b" * 40_000)
    card = build_card(event_for("pipeline_succeeded"), EventKind.PIPELINE_SUCCEEDED, CONTEXT, commit)
    assert raw_bytes(card) > MAX_MESSAGE_BYTES
    fitted = fits(workflows_message(card))
    assert list(actions(fitted)) == ["View execution"]
    assert actions(fitted)["View execution"] == actions(card)["View execution"]
    assert SHORTENED_NOTE in card_texts(fitted)


@pytest.mark.parametrize("field", ["pipeline", "stage", "execution-id"])
def test_very_long_pipeline_names(field: str) -> None:
    event = event_for("stage_failed", **{field: huge(seed=f'{field}-名"\\')})
    card = build_card(event, EventKind.STAGE_FAILED, CONTEXT)
    fitted = fits(workflows_message(card))
    assert urls(fitted) <= urls(card)
    assert header(fitted)[0].startswith("❌ Stage ")


def test_very_long_project_name_keeps_the_logs_link() -> None:
    project = huge(seed='project-🚀-\\"')
    raw = load_event("notifier-codebuild-build-state-failed.json")
    raw["detail"]["project-name"] = project
    card = build_card(parse_event(raw), EventKind.BUILD_FAILED, CONTEXT)
    assert raw_bytes(card) > MAX_MESSAGE_BYTES
    fitted = fits(workflows_message(card))
    # The console link (its URL holds the 100,000-character name) is dropped, the logs link kept whole.
    assert actions(fitted) == {"View build logs": raw["detail"]["additional-information"]["logs"]["deep-link"]}


def test_two_thousand_generic_detail_fields() -> None:
    raw = load_event("codebuild-build-phase-completed.json")
    for index in range(2_000):
        raw["detail"][f"field-{index}-{NASTY}"] = huge(2_000, seed=f"{index}{NASTY}")
    raw["resources"] = [huge(500, seed=f"arn:aws:codebuild:{i}:") for i in range(2_000)]
    card = build_card(parse_event(raw), EventKind.UNRECOGNISED, CONTEXT)
    fitted = fits(workflows_message(card))
    shown = facts(fitted)
    assert shown["project-name"] == "my-sample-project"
    assert shown["Resources"].endswith("… (+1995 more)")  # five resources shown, each cut


def test_lone_surrogates_and_control_characters_never_break_the_encoding() -> None:
    raw = json.loads(json.dumps(load_event("codepipeline-pipeline-execution-failed.json")))
    raw["detail"]["pipeline"] = "my\ud800Pipeline\x00\x07\u2028"
    raw["detail"]["execution-id"] = "\udfff" * 10
    card = build_card(parse_event(raw), EventKind.PIPELINE_FAILED, CONTEXT, CommitInfo("a", "\ud83d broken", None))
    message = workflows_message(card)
    fits(message)  # json.dumps(...).encode("utf-8") raises on a lone surrogate; here it does not
    assert "my\ufffdPipeline" in header(message["attachments"][0]["content"])[0]


# ----------------------------------------------------------------------------------------
# The bound on any card: long text, long lists, URLs
# ----------------------------------------------------------------------------------------


def sample_card(kind: str = "pipeline_failed") -> dict[str, Any]:
    return build_card(event_for(kind), EventKind(kind), CONTEXT)


def test_long_text_is_truncated_with_a_visible_marker() -> None:
    card = sample_card()
    card["body"].insert(1, {"type": "TextBlock", "text": huge(), "wrap": True})
    fitted = fits(workflows_message(card))
    [cut_text] = [t for t in card_texts(fitted) if t.startswith(NASTY[:3])]
    assert cut_text.endswith(TRUNCATED)
    assert SHORTENED_NOTE in card_texts(fitted)
    assert actions(fitted) == actions(card)


def test_long_fact_lists_end_with_and_n_more() -> None:
    card = sample_card()
    factset = card["body"][-1]
    total = len(factset["facts"]) + 2_000
    factset["facts"] += [{"title": f"fact {i} {NASTY}", "value": huge(300)} for i in range(2_000)]
    fitted = fits(workflows_message(card))
    [shown] = [e for e in fitted["body"] if e.get("type") == "FactSet"]
    *kept, marker = shown["facts"]
    assert marker["value"] == f"… and {total - len(kept)} more"
    assert kept[0] == {"title": "Pipeline", "value": "myPipeline"}


def test_long_body_lists_end_with_and_n_more() -> None:
    card = sample_card()
    card["body"] += [{"type": "TextBlock", "text": f"line {i} {huge(200)}"} for i in range(3_000)]
    fitted = fits(workflows_message(card))
    lines = [t for t in card_texts(fitted) if t.startswith("line ")]
    assert len(lines) > 0 and len(lines) + more_count(fitted) == 3_000
    assert fitted["body"][0] == card["body"][0]  # the header first


def test_text_full_of_links_is_never_cut_inside_a_url() -> None:
    links = " ".join(
        f"[label {i} {NASTY[:6]}](https://example.com/{i}/{'p' * (i % 50)}) https://bare.example/{i}"
        for i in range(3_000)
    )
    card = sample_card()
    card["body"].insert(1, {"type": "TextBlock", "text": links, "wrap": True})
    card["body"].append({"type": "ActionSet", "actions": [
        {"type": "Action.OpenUrl", "title": f"a{i}", "url": f"https://example.com/{'q' * 20_000}/{i}"} for i in range(3)
    ]})  # fmt: skip
    before = urls(card)
    fitted = fits(workflows_message(card))
    assert urls(fitted) <= before
    assert any(url == "https://example.com/0/" for url in urls(fitted))


def test_a_card_with_nothing_to_cut_becomes_a_minimal_card() -> None:
    card = sample_card()
    # Neither text nor a list nor a link: an image whose URL alone is too big.
    card["body"].append({"type": "Image", "url": "https://example.com/" + "i" * 40_000})
    fitted = fits(workflows_message(card))
    assert TOO_LARGE_NOTE in card_texts(fitted)
    assert header(fitted) == header(card)
    assert actions(fitted) == actions(card)
    assert urls(fitted) <= urls(card)


def test_fitting_is_idempotent_and_does_not_touch_its_input() -> None:
    card = sample_card()
    card["body"].insert(1, {"type": "TextBlock", "text": huge(), "wrap": True})
    original = copy.deepcopy(card)
    once = fit_card(card)
    assert card == original
    assert fit_card(once) == once


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("see https://example.com/a/very/long/path now", 30, "see…"),  # the URL is not cut
        ("a \\*b\\* c", 4, "a…"),  # an escape is not split
        ("ok 👩‍💻 done", 5, "ok…"),  # an emoji sequence is not split
        ("x" * 20, 10, "xxxxxxxxx…"),
    ],
)
def test_cut(value: str, limit: int, expected: str) -> None:
    assert cut(value, limit) == expected


def test_cut_keeps_a_link_whole_and_cuts_its_label() -> None:
    value = "• [a-long-pipeline-name](https://example.com/pipelines/a-long-pipeline-name) · sandbox · succeeded"
    assert cut(value, 30, TRUNCATED, label_cost=True) == (
        # 30 - 13 for the marker = 17 visible characters: "• " and the label's first 15.
        "• [a-long-pipeline](https://example.com/pipelines/a-long-pipeline-name)… (truncated)"
    )
    assert cut(value, 60, TRUNCATED, label_cost=True) == value  # 60 visible characters: unchanged


# ----------------------------------------------------------------------------------------
# Burst summary
# ----------------------------------------------------------------------------------------


def burst(kind: str, count: int, name_field: str, **detail: Any) -> tuple[list[Any], list[SummaryItem]]:
    events = []
    for index in range(count):
        raw = load_event(KIND_SAMPLES[kind])
        raw["id"] = f"{raw['id']}-{index}"
        raw["detail"].update(detail)
        if name_field == "repositoryNames":
            raw["detail"]["repositoryNames"] = [f"repo-{index}"]
        else:
            raw["detail"][name_field] = f"{name_field}-{index}" + ("-pr" if kind.startswith("pull_request_b") else "")
        events.append(parse_event(raw))
    return events, [summary_item(event, EventKind(kind), CONTEXT) for event in events]


SUMMARY_CASES = [
    ("pipeline_succeeded", "pipeline", "✅ 10 pipelines succeeded", "good"),
    ("pipeline_failed", "pipeline", "❌ 10 pipelines failed", "attention"),
    ("build_succeeded", "project-name", "✅ 10 builds succeeded", "good"),
    ("build_failed", "project-name", "❌ 10 builds failed", "attention"),
    ("deployment_succeeded", "application", "✅ 10 deployments succeeded", "good"),
    ("deployment_failed", "application", "❌ 10 deployments failed", "attention"),
    ("pull_request_created", "repositoryNames", "🆕 10 pull requests opened", "accent"),
    ("pull_request_merged", "repositoryNames", "🔀 10 pull requests merged", "good"),
    ("pull_request_build_failed", "project-name", "❌ 10 pull request builds failed", "attention"),
]


@pytest.mark.parametrize(("kind", "name_field", "title", "style"), SUMMARY_CASES)
def test_summary_of_ten(kind: str, name_field: str, title: str, style: str) -> None:
    events, items = burst(kind, 10, name_field)
    card = build_summary_card(EventKind(kind), items, CONTEXT)
    fitted = fits(workflows_message(card))
    assert fitted == card  # ten rows fit as they are
    individual = build_card(events[0], EventKind(kind), CONTEXT)
    assert header(card) == (title, style, header(individual)[2])  # same tone and colour as the card
    assert header(individual)[1] == style
    texts = card_texts(card)
    assert any("burst" in t and "replaces their individual cards" in t for t in texts)
    assert len(rows(card)) == 10
    for event, item, row in zip(events, items, card["body"][2]["items"], strict=True):
        primary = build_card(event, EventKind(kind), CONTEXT)["actions"][0]["url"]
        assert item.url == primary  # the individual card's primary link
        assert f"]({primary})" in row["text"]
        assert item.environment == "sandbox" and "sandbox" in row["text"]
    assert schema_errors(card) == []


def test_summary_items_say_what_the_card_would() -> None:
    _, [pipeline] = burst("pipeline_failed", 1, "pipeline")
    assert (pipeline.title, pipeline.status, pipeline.time) == ("pipeline-0", "failed", "2020-01-31 18:55:43 UTC")
    assert pipeline.event_id.endswith("-0")
    _, [build] = burst("build_failed", 1, "project-name", **{"build-status": "TIMED_OUT"})
    assert (build.title, build.status) == ("project-name-0", "timed out")
    _, [deployment] = burst("deployment_succeeded", 1, "application")
    assert (deployment.title, deployment.status) == ("application-0 → myDeploymentGroup", "succeeded")
    assert deployment.url == (
        "https://us-east-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-123456789?region=us-east-1"
    )
    _, [pull_request] = burst("pull_request_created", 1, "repositoryNames")
    assert (pull_request.title, pull_request.status) == ("repo-0 #1: My Example Pull Request", "opened")
    assert pull_request.url == (
        "https://us-east-2.console.aws.amazon.com/codesuite/codecommit/repositories/repo-0/pull-requests/1"
        "/details?region=us-east-2"
    )
    _, [approval] = burst("approval_waiting", 1, "pipeline")
    assert (approval.title, approval.status) == ("pipeline-0 → Prod", "waiting for approval")


def test_summary_title_in_the_singular_and_other_windows() -> None:
    _, items = burst("deployment_stopped", 1, "application")
    card = build_summary_card(EventKind.DEPLOYMENT_STOPPED, items, CONTEXT, window_seconds=120)
    assert header(card)[:2] == ("⏹️ 1 deployment was stopped", "warning")
    assert any("within 2 minutes" in t for t in card_texts(card))
    empty = build_summary_card(EventKind.BUILD_FAILED, [], CONTEXT)
    assert header(empty)[0] == "❌ 0 builds failed"
    fits(workflows_message(empty))


def test_summary_of_500() -> None:
    _, items = burst("pipeline_succeeded", 500, "pipeline")
    card = build_summary_card(EventKind.PIPELINE_SUCCEEDED, items, CONTEXT)
    fitted = fits(workflows_message(card))
    assert header(fitted)[0] == "✅ 500 pipelines succeeded"
    shown = rows(fitted)
    assert 0 < len(shown) <= MAX_SUMMARY_ROWS
    assert len(shown) + more_count(fitted) == 500
    assert urls(fitted) <= {item.url for item in items if item.url}
    assert all("](https://" in row for row in shown)  # each pipeline linked


def test_summary_of_oversized_items_still_fits_and_counts() -> None:
    items = [
        SummaryItem(
            event_id=f"e{i}",
            title=huge(seed=f'pipeline-{i}-名"\\*'),
            url=f"https://us-west-2.console.aws.amazon.com/{'x' * (3_000 * (i % 4))}/{i}",
            status=huge(),
            time=huge(),
            environment=huge(),
        )
        for i in range(10)
    ]
    card = build_summary_card(EventKind.BUILD_FAILED, items, CONTEXT)
    fitted = fits(workflows_message(card))
    shown = rows(fitted)
    assert len(shown) + more_count(fitted) == 10
    assert urls(fitted) <= {item.url for item in items}
    assert all("](https://" in row for row in shown)  # a row keeps its link or goes


def test_summary_of_500_oversized_pull_requests() -> None:
    _, items = burst("pull_request_created", 500, "repositoryNames", title=huge(5_000), description=huge(5_000))
    card = build_summary_card(EventKind.PULL_REQUEST_CREATED, items, CONTEXT)
    fitted = fits(workflows_message(card))
    assert len(rows(fitted)) + more_count(fitted) == 500
    assert urls(fitted) <= {item.url for item in items if item.url}


def test_summary_links_with_parentheses_stay_whole() -> None:
    item = SummaryItem("e", "p", "https://example.com/a_(b)", "failed", None)
    card = build_summary_card(EventKind.BUILD_FAILED, [item], CONTEXT)
    assert "](https://example.com/a_%28b%29)" in card["body"][2]["items"][0]["text"]
    unsafe = SummaryItem("e", "p [x](javascript:alert(1))", "javascript:alert(1)", "failed", None)
    row = build_summary_card(EventKind.BUILD_FAILED, [unsafe], CONTEXT)["body"][2]["items"][0]["text"]
    assert row == "• p \\[x\\](javascript:alert(1)) · failed"  # escaped: plain text, not a link
