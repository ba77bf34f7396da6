"""Store a Teams channel's Workflows webhook URL, and make it take effect.

    python -m tools.teams_webhook --channel releases                 # asks for the URL (not echoed)
    python -m tools.teams_webhook --channel releases < url.txt       # reads it from standard input
    python -m tools.teams_webhook --channel releases -c my-platform.yaml

It puts the URL into the channel's secret in the tooling account (with the tooling profile of
the config). Channels delivered by the notifier function read it from there within 5 minutes
(the notifier's secret cache); for `api_destination` channels it then runs the notifications stack's destinations
function, which moves the API destination onto the new URL at once. The URL is never printed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from config import ConfigError, load_config
from config.model import Channel, PlatformConfig
from config.names import Names

# Hosts Microsoft issues Workflows (Power Automate) webhook URLs on.
TEAMS_HOST_SUFFIXES = (".logic.azure.com", ".powerplatform.com", ".powerautomate.com")


class WebhookError(Exception):
    """A problem that stops the tool before it changes anything."""


def check_url(url: str) -> str:
    """The URL, stripped, if it is an https Workflows webhook URL; WebhookError says what is wrong."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise WebhookError("that is not a URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise WebhookError("the webhook URL must be an absolute https:// URL")
    if not parts.hostname.endswith(TEAMS_HOST_SUFFIXES):
        raise WebhookError(
            f"{parts.hostname} is not a Teams Workflows host (expected a host ending in "
            f"{', '.join(TEAMS_HOST_SUFFIXES)}); copy the URL from the workflow's 'When a Teams webhook request is "
            "received' trigger"
        )
    return text


def channel_of(config: PlatformConfig, name: str) -> Channel:
    for channel in config.notifications.channels:
        if channel.name == name:
            return channel
    known = ", ".join(c.name for c in config.notifications.channels) or "(none)"
    raise WebhookError(f"{name!r} is not a channel of notifications.channels; allowed: {known}")


def store(
    config: PlatformConfig, channel: Channel, url: str, client: Callable[[str], Any], out: Callable[[str], None] = print
) -> dict[str, Any]:
    """Put the URL into the channel's secret; refresh its API destination if it has one."""
    names = Names(config)
    secret = names.webhook_secret(channel)
    version = client("secretsmanager").put_secret_value(SecretId=secret, SecretString=url)["VersionId"]
    out(f"stored the webhook URL of {channel.name} in {secret} (version {version})")
    if channel.delivery != "api_destination":
        out("the notifier function reads it within 5 minutes (its secret cache); nothing else to do")
        return {"secret": secret, "version": version}
    response = client("lambda").invoke(
        FunctionName=names.teams_destinations_function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"sync": [channel.name]}).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise WebhookError(
            f"{names.teams_destinations_function} could not update the API destination: "
            f"{payload.get('errorMessage', payload)}"
        )
    status = payload.get("channels", {}).get(channel.name, "unknown")
    out(f"API destination {names.teams_api_destination(channel)}: {status}")
    return {"secret": secret, "version": version, "destination": status}


def _client_factory(config: PlatformConfig) -> Callable[[str], Any]:
    import boto3

    session = boto3.Session(profile_name=config.tooling.profile, region_name=config.tooling.region)
    return session.client


def main(argv: Sequence[str] | None = None, client: Callable[[str], Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.teams_webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--channel", required=True, help="a channel of notifications.channels")
    parser.add_argument("-c", "--config", help="platform config file (default: config/platform.yaml)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        channel = channel_of(config, args.channel)
        raw = getpass.getpass(f"Workflows webhook URL of {channel.name}: ") if sys.stdin.isatty() else sys.stdin.read()
        url = check_url(raw)
        store(config, channel, url, client or _client_factory(config))
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except WebhookError as error:
        print(f"teams_webhook: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # botocore's errors: say which call failed, never the URL
        print(f"teams_webhook: {type(error).__name__}: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
