"""`python -m tools.notifications`: status and redrive of the channels' queues, against botocore's Stubber
(the real SQS API shapes: StartMessageMoveTask and ListMessageMoveTasks are validated by botocore)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from config import load_config
from config.names import Names
from tests.readme_samples import assert_readme_shows
from tools import notifications

ACCOUNT = "111111111111"
REGION = "eu-west-1"
CHANNELS = ("releases", "alerts")  # the default config's lambda channels, in config order


HANDLE = "eyJ0YXNrSWQiOiJkYTFk"  # an opaque task handle, as SQS returns one


def readme_shows(command: str, lines: list[str]) -> None:
    """The README's samples are these tests' outputs."""
    assert_readme_shows(f".venv/bin/python -m tools.notifications {command}", lines)


def url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


@pytest.fixture
def sqs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_queues(stubber: Stubber, channel: str, queued: int = 0, dead: int = 0) -> None:
    source, dead_letters = f"acme-notify-{channel}.fifo", f"acme-notify-{channel}-dlq.fifo"
    stubber.add_response("get_queue_url", {"QueueUrl": url(source)}, {"QueueName": source})
    stubber.add_response("get_queue_url", {"QueueUrl": url(dead_letters)}, {"QueueName": dead_letters})
    for name, depth in ((source, queued), (dead_letters, dead)):
        stubber.add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "QueueArn": arn(name),
                    "ApproximateNumberOfMessages": str(depth),
                    "ApproximateNumberOfMessagesNotVisible": "0",
                }
            },
            {"QueueUrl": url(name), "AttributeNames": notifications.QUEUE_ATTRIBUTES},
        )


def expect_depth(stubber: Stubber, name: str, depth: int) -> None:
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": arn(name), "ApproximateNumberOfMessages": str(depth)}},
        {"QueueUrl": url(name), "AttributeNames": notifications.QUEUE_ATTRIBUTES},
    )


def expect_tasks(stubber: Stubber, channel: str, *tasks: dict[str, Any]) -> None:
    stubber.add_response(
        "list_message_move_tasks",
        {"Results": list(tasks)},
        {"SourceArn": arn(f"acme-notify-{channel}-dlq.fifo"), "MaxResults": 1},
    )


def test_redrive_moves_each_channels_dead_letters_back_to_its_own_queue(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sqs
    for channel in CHANNELS:
        expect_queues(stubber, channel)
    # releases: 3 dead letters -> a task; alerts: none -> nothing started.
    expect_tasks(stubber, "releases")
    expect_depth(stubber, "acme-notify-releases-dlq.fifo", 3)
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "eyJ0YXNrSWQiOiJkYTFk"},
        {
            "SourceArn": arn("acme-notify-releases-dlq.fifo"),
            "DestinationArn": arn("acme-notify-releases.fifo"),
        },
    )
    expect_tasks(stubber, "alerts")
    expect_depth(stubber, "acme-notify-alerts-dlq.fifo", 0)
    assert notifications.main(["redrive"], client=client) == 0
    out = capsys.readouterr().out
    assert "releases: moving about 3 dead letter(s) back to acme-notify-releases.fifo" in out
    assert "alerts: no dead letters" in out


def test_redrive_waits_with_progress_and_does_not_start_a_second_task(sqs: tuple[Any, Stubber]) -> None:
    client, stubber = sqs
    config = load_config(None)
    [releases] = notifications.lambda_channels(config, ["releases"])
    expect_queues(stubber, "releases")
    expect_tasks(stubber, "releases")
    expect_depth(stubber, "acme-notify-releases-dlq.fifo", 2)
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": HANDLE},
        {
            "SourceArn": arn("acme-notify-releases-dlq.fifo"),
            "DestinationArn": arn("acme-notify-releases.fifo"),
            "MaxNumberOfMessagesPerSecond": 10,
        },
    )
    running = {"TaskHandle": HANDLE, "Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 1}
    done = {"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 2, "ApproximateNumberOfMessagesToMove": 2}
    expect_tasks(stubber, "releases", running)
    expect_tasks(stubber, "releases", done)
    lines: list[str] = []
    outcome = notifications.redrive(
        client, Names(config), [releases], rate=10, wait=True, out=lines.append, sleep=lambda s: None
    )
    assert outcome == {"releases": "COMPLETED 2/2 moved"}
    readme_shows("redrive --channel releases --rate 10 --wait", lines)
    assert lines[-2:] == ["releases: RUNNING 1 moved", "releases: COMPLETED 2/2 moved"]
    # A task already running: reported, nothing started.
    expect_queues(stubber, "releases")
    expect_tasks(stubber, "releases", running)
    assert notifications.redrive(client, Names(config), [releases], out=lines.append) == {
        "releases": "already redriving: RUNNING 1 moved"
    }


def test_status_lists_every_channel_as_a_table_or_json(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sqs
    for round_ in range(2):
        for channel, queued, dead in (("releases", 4, 1), ("alerts", 0, 0)):
            expect_queues(stubber, channel, queued, dead)
            expect_depth(stubber, f"acme-notify-{channel}.fifo", queued)
            expect_depth(stubber, f"acme-notify-{channel}-dlq.fifo", dead)
            expect_tasks(stubber, channel)
        assert notifications.main(["status", *(["--json"] if round_ else [])], client=client) == 0
    captured = capsys.readouterr().out
    readme_shows("status", captured.split("\n[", 1)[0].splitlines())
    table, document = captured.split("channel ", 1)[1].split("\n[", 1)
    assert "releases" in table and "alerts" in table
    rows = json.loads("[" + document)
    assert rows == [
        {"channel": "releases", "queued": 4, "in_flight": 0, "dead_letters": 1, "redrive": None},
        {"channel": "alerts", "queued": 0, "in_flight": 0, "dead_letters": 0, "redrive": None},
    ]


def test_unknown_channels_missing_queues_and_bad_rates_say_what_is_allowed(
    sqs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = sqs
    assert notifications.main(["redrive", "--channel", "announcements"], client=client) == 2
    assert "channel announcements has no queue; allowed: the lambda channels releases, alerts" in (
        capsys.readouterr().err
    )
    assert notifications.main(["redrive", "--rate", "0"], client=client) == 2
    assert "--rate 0: allowed: 1 to 500" in capsys.readouterr().err
    stubber.add_client_error(
        "get_queue_url", "AWS.SimpleQueueService.NonExistentQueue", http_status_code=400, modeled_fields={}
    )
    assert notifications.main(["redrive", "--channel", "alerts"], client=client) in (2, 3)
    err = capsys.readouterr().err
    assert "acme-notify-alerts.fifo" in err or "NonExistentQueue" in err


def test_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["status", "--help"], ["redrive", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            notifications.main(argv)
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "redrive" in out and "--wait" in out and "--json" in out
