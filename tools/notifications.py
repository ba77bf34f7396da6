"""See and redrive the Teams notifier's queues (tooling account, the config's tooling profile).

    python -m tools.notifications status                     # every channel: queued, in flight, dead letters
    python -m tools.notifications status --json
    python -m tools.notifications redrive                    # every channel's dead letters back to its queue
    python -m tools.notifications redrive --channel alerts --wait

Each `lambda` channel has a FIFO queue (<platform>-notify-<channel>.fifo) and a FIFO dead-letter
queue (<platform>-notify-<channel>-dlq.fifo). A card lands in the dead-letter queue when Teams
refused it, when the channel's secret held no usable URL, or after five deliveries that could not
get through (about an hour of Teams outage). Fix the cause first (store the URL with
`python -m tools.teams_webhook`), then redrive: SQS's own message move task (StartMessageMoveTask)
moves the dead letters back to the channel's queue, oldest first, and the notifier posts them in
order at the channel's rate. Nothing posts twice: every (event, channel) already posted is
recorded in the idempotency table for 15 days, longer than a dead letter is kept (14 days).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from config import ConfigError, load_config
from config.model import Channel, PlatformConfig
from config.names import Names

QUEUE_ATTRIBUTES = [
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
]
FINISHED_TASK_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


class NotificationsError(Exception):
    """A problem that stops the tool before it changes anything."""


@dataclass(frozen=True)
class ChannelQueues:
    channel: str
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    dead_letter_arn: str


@dataclass(frozen=True)
class ChannelStatus:
    channel: str
    queued: int
    in_flight: int
    dead_letters: int
    redrive: str | None  # the running or last move task: status and progress


def lambda_channels(config: PlatformConfig, wanted: Sequence[str] = ()) -> list[Channel]:
    channels = [c for c in config.notifications.channels if c.delivery == "lambda"]
    if not wanted:
        if not channels:
            raise NotificationsError("the config has no lambda channel (only lambda channels have queues)")
        return channels
    by_name = {c.name: c for c in channels}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        allowed = ", ".join(by_name) or "(none)"
        raise NotificationsError(f"channel {', '.join(unknown)} has no queue; allowed: the lambda channels {allowed}")
    return [by_name[name] for name in dict.fromkeys(wanted)]


def _attributes(sqs: Any, url: str) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=QUEUE_ATTRIBUTES)["Attributes"])


def channel_queues(sqs: Any, names: Names, channel: Channel) -> ChannelQueues:
    try:
        queue_url = sqs.get_queue_url(QueueName=names.notification_queue(channel))["QueueUrl"]
        dead_letter_url = sqs.get_queue_url(QueueName=names.notification_dead_letter_queue(channel))["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise NotificationsError(
            f"channel {channel.name}: its queues {names.notification_queue(channel)} and "
            f"{names.notification_dead_letter_queue(channel)} do not exist in this account and region; "
            "deploy the notifications stack first (or check the profile)"
        ) from None
    return ChannelQueues(
        channel.name,
        queue_url,
        _attributes(sqs, queue_url)["QueueArn"],
        dead_letter_url,
        _attributes(sqs, dead_letter_url)["QueueArn"],
    )


def _last_task(sqs: Any, dead_letter_arn: str) -> dict[str, Any] | None:
    tasks = sqs.list_message_move_tasks(SourceArn=dead_letter_arn, MaxResults=1).get("Results", [])
    return tasks[0] if tasks else None


def _describe_task(task: dict[str, Any] | None) -> str | None:
    if task is None:
        return None
    moved = task.get("ApproximateNumberOfMessagesMoved", 0)
    total = task.get("ApproximateNumberOfMessagesToMove")
    progress = f"{moved}/{total}" if total is not None else str(moved)
    failure = f" ({task['FailureReason']})" if task.get("FailureReason") else ""
    return f"{task.get('Status', '?')} {progress} moved{failure}"


def status(sqs: Any, names: Names, channels: Sequence[Channel]) -> list[ChannelStatus]:
    result = []
    for channel in channels:
        queues = channel_queues(sqs, names, channel)
        source = _attributes(sqs, queues.queue_url)
        dead = _attributes(sqs, queues.dead_letter_url)
        result.append(
            ChannelStatus(
                channel.name,
                int(source.get("ApproximateNumberOfMessages", 0)),
                int(source.get("ApproximateNumberOfMessagesNotVisible", 0)),
                int(dead.get("ApproximateNumberOfMessages", 0)),
                _describe_task(_last_task(sqs, queues.dead_letter_arn)),
            )
        )
    return result


def redrive(
    sqs: Any,
    names: Names,
    channels: Sequence[Channel],
    *,
    rate: int | None = None,
    wait: bool = False,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
) -> dict[str, str]:
    """Start one move task per channel with dead letters; returns channel -> what happened."""
    # Every channel's queues are found before any task starts: nothing half-done on a wrong profile.
    found = [channel_queues(sqs, names, channel) for channel in channels]
    outcome: dict[str, str] = {}
    started: dict[str, str] = {}
    for queues in found:
        last = _last_task(sqs, queues.dead_letter_arn)
        if last is not None and last.get("Status") == "RUNNING":
            outcome[queues.channel] = f"already redriving: {_describe_task(last)}"
            out(f"{queues.channel}: {outcome[queues.channel]}")
            continue
        waiting = int(_attributes(sqs, queues.dead_letter_url).get("ApproximateNumberOfMessages", 0))
        if waiting == 0:
            outcome[queues.channel] = "no dead letters"
            out(f"{queues.channel}: no dead letters")
            continue
        request: dict[str, Any] = {"SourceArn": queues.dead_letter_arn, "DestinationArn": queues.queue_arn}
        if rate is not None:
            request["MaxNumberOfMessagesPerSecond"] = rate
        handle = sqs.start_message_move_task(**request)["TaskHandle"]
        started[queues.channel] = queues.dead_letter_arn
        outcome[queues.channel] = f"redriving about {waiting} message(s)"
        destination = queues.queue_arn.rsplit(":", 1)[-1]
        out(f"{queues.channel}: moving about {waiting} dead letter(s) back to {destination}")
        out(f"  task {handle}")
    if wait:
        pending = dict(started)
        while pending:
            sleep(poll_seconds)
            for channel, arn in list(pending.items()):
                task = _last_task(sqs, arn)
                out(f"{channel}: {_describe_task(task)}")
                if task is None or task.get("Status") in FINISHED_TASK_STATES:
                    outcome[channel] = _describe_task(task) or "finished"
                    del pending[channel]
    return outcome


def _client(config: PlatformConfig) -> Any:
    import boto3

    return boto3.Session(profile_name=config.tooling.profile, region_name=config.tooling.region).client("sqs")


def main(argv: Sequence[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notifications", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", help="platform config file (default: config/platform.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("status", help="queued, in-flight and dead-lettered cards per channel")
    show.add_argument("--channel", action="append", default=[], help="only this channel (repeatable)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    move = commands.add_parser("redrive", help="move each channel's dead letters back to its queue")
    move.add_argument("--channel", action="append", default=[], help="only this channel (repeatable)")
    move.add_argument("--rate", type=int, help="messages moved per second (default: as fast as SQS moves them)")
    move.add_argument("--wait", action="store_true", help="wait for the move tasks to finish, with progress")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        names = Names(config)
        channels = lambda_channels(config, args.channel)
        if getattr(args, "rate", None) is not None and not 1 <= args.rate <= 500:
            raise NotificationsError(f"--rate {args.rate}: allowed: 1 to 500 messages per second (SQS's limit)")
        sqs = client or _client(config)
        if args.command == "status":
            rows = status(sqs, names, channels)
            if args.json:
                print(json.dumps([asdict(row) for row in rows], indent=2))
            else:
                print(f"{'channel':<20} {'queued':>7} {'in flight':>9} {'dead letters':>12}  redrive")
                for row in rows:
                    print(
                        f"{row.channel:<20} {row.queued:>7} {row.in_flight:>9} {row.dead_letters:>12}  "
                        f"{row.redrive or '-'}"
                    )
        else:
            redrive(sqs, names, channels, rate=args.rate, wait=args.wait)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except NotificationsError as error:
        print(f"notifications: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # botocore's errors (credentials, access denied): say which, change nothing more
        print(f"notifications: {type(error).__name__}: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
