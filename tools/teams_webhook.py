"""Store a Teams channel's Workflows webhook URL, and make it take effect.

    python -m tools.teams_webhook --channel releases                 # asks for the URL (not echoed)
    python -m tools.teams_webhook --channel releases < url.txt       # reads it from standard input
    python -m tools.teams_webhook --channel releases -c my-platform.yaml

It puts the URL into the channel's secret in the tooling account (with the tooling profile of
the config). Channels delivered by the notifier function read it from there within 5 minutes
(the notifier's secret cache); for `api_destination` channels it then runs the notifications stack's destinations
function, which moves the API destination onto the new URL at once. The URL is never printed.

A workflow whose trigger only accepts callers of the tenant ("Who can trigger the flow": "Any user
in my tenant" or "Specific users in my tenant") also needs the client credentials of an Entra ID app
registration; they are stored with the URL as {"url": ..., "entra": {...}} (notifier channels only):

    python -m tools.teams_webhook --channel releases --entra-tenant-id <tenant> --entra-client-id <app>

The client secret is asked for after the URL (not echoed), or read from the second line of
standard input (the URL on the first); it is never taken from the command line, and never printed.

A `delivery: amazon_q` channel has no webhook: Amazon Q Developer in chat applications posts through
its own Teams app. The tool refuses it (exit code 2) before it reads anything or calls AWS.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from config import ConfigError, load_config
from config.model import Channel, PlatformConfig
from config.names import Names

DEFAULT_ENTRA_AUTHORITY = "https://login.microsoftonline.com"
# The flow service's audience (public cloud, "Add OAuth authentication for HTTP request triggers")
# plus "/.default", the client credentials scope of a resource; the audience ends in a slash, hence "//".
DEFAULT_ENTRA_SCOPE = "https://service.flow.microsoft.com//.default"
# A directory (tenant) ID is a GUID or a domain name (it becomes a path segment of the token URL).
_TENANT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


class WebhookError(Exception):
    """A problem that stops the tool before it changes anything."""


def check_url(url: str) -> str:
    """The URL, stripped, if it is an absolute https URL; WebhookError says what is wrong.

    Any host: Microsoft moved Workflows URLs from *.logic.azure.com to Power Platform hosts in 2025,
    and the tool does not guess where they go next.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise WebhookError("that is not a URL") from None
    if parts.scheme != "https" or not host:
        raise WebhookError(
            "the webhook URL must be an absolute https:// URL; copy it from the workflow's "
            "'When a Teams webhook request is received' trigger"
        )
    return text


@dataclass(frozen=True)
class EntraCredentials:
    """An app registration's client credentials, stored with the URL for a tenant-restricted trigger."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = DEFAULT_ENTRA_SCOPE
    authority: str = DEFAULT_ENTRA_AUTHORITY

    def document(self) -> dict[str, str]:
        entra = {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
        }
        if self.authority != DEFAULT_ENTRA_AUTHORITY:
            entra["authority"] = self.authority
        return entra


def check_entra(
    tenant_id: str,
    client_id: str,
    client_secret: str,
    scope: str = DEFAULT_ENTRA_SCOPE,
    authority: str = DEFAULT_ENTRA_AUTHORITY,
) -> EntraCredentials:
    """The credentials, stripped, if they look usable; WebhookError names what is wrong (never the secret)."""
    tenant_id, client_id, scope = tenant_id.strip(), client_id.strip(), scope.strip()
    if not _TENANT.match(tenant_id):
        raise WebhookError("--entra-tenant-id must be the directory (tenant) ID, a GUID, or its domain name")
    if not client_id or _CONTROL_OR_SPACE.search(client_id):
        raise WebhookError("--entra-client-id must be the application (client) ID of the app registration")
    if not scope:
        raise WebhookError("--entra-scope must not be empty")
    secret = client_secret.strip()
    if not secret:
        raise WebhookError("no client secret was given (it is read after the URL: prompt or second line of stdin)")
    if _CONTROL_OR_SPACE.search(secret):
        raise WebhookError("the client secret must be one line without spaces (the secret's value, not its ID)")
    text = authority.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise WebhookError("--entra-authority is not a URL") from None
    if parts.scheme != "https" or not host or parts.query or parts.fragment or parts.username:
        raise WebhookError(f"--entra-authority must be an https:// URL without query, e.g. {DEFAULT_ENTRA_AUTHORITY}")
    return EntraCredentials(tenant_id, client_id, secret, scope, text)


def secret_value(url: str, entra: EntraCredentials | None = None) -> str:
    """What goes into the secret: the URL itself, or {"url": ..., "entra": {...}} with credentials."""
    if entra is None:
        return url
    return json.dumps({"url": url, "entra": entra.document()})


def channel_of(config: PlatformConfig, name: str) -> Channel:
    for channel in config.notifications.channels:
        if channel.name == name:
            return channel
    known = ", ".join(c.name for c in config.notifications.channels) or "(none)"
    raise WebhookError(f"{name!r} is not a channel of notifications.channels; allowed: {known}")


def refuse_amazon_q(channel: Channel) -> None:
    """An amazon_q channel has no webhook and no secret: nothing to store, say what to do instead."""
    if channel.delivery == "amazon_q":
        raise WebhookError(
            f"{channel.name} is delivered by Amazon Q Developer in chat applications (delivery: amazon_q), which "
            "posts through its own Teams app: it has no webhook URL and no secret to store it in. Instead, have an "
            "administrator of its team authorize Microsoft Teams once in the Amazon Q Developer console of the "
            "tooling account (python -m tools.bootstrap lists the step), then deploy the notifications stack; to "
            "post through a Workflows webhook, give the channel `delivery: lambda` (or api_destination) and run "
            "this command again"
        )


def refuse_entra_for_api_destination(channel: Channel) -> None:
    if channel.delivery == "api_destination":
        raise WebhookError(
            f"{channel.name} is delivered by an EventBridge API destination, which sends no Entra token; "
            "deliver it with `delivery: lambda`, or set the workflow's trigger to 'Anyone'"
        )


def store(
    config: PlatformConfig,
    channel: Channel,
    url: str,
    client: Callable[[str], Any],
    out: Callable[[str], None] = print,
    entra: EntraCredentials | None = None,
) -> dict[str, Any]:
    """Put the URL (and any Entra credentials) into the channel's secret; refresh its API destination if it has one."""
    refuse_amazon_q(channel)
    if entra is not None:
        refuse_entra_for_api_destination(channel)
    names = Names(config)
    secret = names.webhook_secret(channel)
    version = client("secretsmanager").put_secret_value(SecretId=secret, SecretString=secret_value(url, entra))[
        "VersionId"
    ]
    what = "webhook URL" if entra is None else f"webhook URL and the Entra client credentials of {entra.client_id}"
    out(f"stored the {what} of {channel.name} in {secret} (version {version})")
    if channel.delivery != "api_destination":
        out("the notifier function reads it within 5 minutes (its secret cache)")
        out(
            f"cards parked in {names.notification_dead_letter_queue(channel)} while the channel had no usable URL "
            f"are not re-sent by themselves: python -m tools.notifications redrive --channel {channel.name}"
        )
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
    entra = parser.add_argument_group(
        "Entra ID client credentials",
        "for a trigger restricted to the tenant ('Any user in my tenant' or 'Specific users in my tenant'); "
        "the client secret is asked for after the URL, or read from the second line of standard input",
    )
    entra.add_argument("--entra-tenant-id", metavar="ID", help="directory (tenant) ID of the app registration")
    entra.add_argument("--entra-client-id", metavar="ID", help="application (client) ID of the app registration")
    entra.add_argument(
        "--entra-scope", metavar="SCOPE", default=DEFAULT_ENTRA_SCOPE, help="scope to request (default: %(default)s)"
    )
    entra.add_argument(
        "--entra-authority",
        metavar="URL",
        default=DEFAULT_ENTRA_AUTHORITY,
        help="token authority (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if (args.entra_tenant_id is None) != (args.entra_client_id is None):
        parser.error("--entra-tenant-id and --entra-client-id go together")
    try:
        config = load_config(args.config)
        channel = channel_of(config, args.channel)
        refuse_amazon_q(channel)  # before asking for anything
        with_entra = args.entra_client_id is not None
        if with_entra:
            refuse_entra_for_api_destination(channel)  # before asking for anything
        if sys.stdin.isatty():
            raw = getpass.getpass(f"Workflows webhook URL of {channel.name}: ")
            raw_secret = getpass.getpass(f"client secret of {args.entra_client_id}: ") if with_entra else ""
        elif with_entra:
            raw, _, raw_secret = sys.stdin.read().strip().partition("\n")
        else:
            raw, raw_secret = sys.stdin.read(), ""
        url = check_url(raw)
        credentials = (
            check_entra(args.entra_tenant_id, args.entra_client_id, raw_secret, args.entra_scope, args.entra_authority)
            if with_entra
            else None
        )
        store(config, channel, url, client or _client_factory(config), entra=credentials)
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
